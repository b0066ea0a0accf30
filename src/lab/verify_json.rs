//! `lab verify --json`: the matrix and every probe as one JSON document, in a documented,
//! versioned format (docs/cli.md, "lab verify --json").

use super::verify::{Expect, Matrix, Verdict};
use serde_json::{Value, json};

/// The version of the document. Fields may be added within a version; none are removed or
/// renamed.
pub const FORMAT_VERSION: &str = "1";

/// A verdict's name in JSON: `reachable`, `routed`, `isolated`, `fail`, `leak`, `untested`.
fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "reachable",
        Verdict::Routed => "routed",
        Verdict::Isolated => "isolated",
        Verdict::Fail => "fail",
        Verdict::Leak => "leak",
        Verdict::Untested => "untested",
    }
}

/// The whole report of `lab verify` for lab `lab`.
pub fn render(matrix: &Matrix, lab: &str) -> Value {
    let cells: Vec<Value> = matrix
        .cells
        .iter()
        .enumerate()
        .flat_map(|(i, row)| {
            row.iter().enumerate().filter_map(move |(j, cell)| {
                cell.map(|v| {
                    json!({
                        "from": matrix.containers[i],
                        "to": matrix.containers[j],
                        "verdict": verdict(v),
                        "symbol": v.symbol(),
                    })
                })
            })
        })
        .collect();
    let probes: Vec<Value> = matrix
        .probes
        .iter()
        .map(|p| {
            let (expected, via) = match &p.expect {
                Expect::Reachable => ("reachable", Vec::new()),
                Expect::Routed(via) => ("routed", via.clone()),
                Expect::Isolated(_) => ("isolated", Vec::new()),
            };
            json!({
                "from": p.from,
                "to": p.to,
                "address": p.address.to_string(),
                "protocol": p.service.protocol(),
                "port": p.service.port(),
                "network": p.network,
                "expected": expected,
                "via": via,
                "result": verdict(p.verdict),
                "as_expected": !matches!(p.verdict, Verdict::Fail | Verdict::Leak),
                "reason": p.reason,
                "isolated_because": match &p.expect {
                    Expect::Isolated(why) => Some(why.as_str()),
                    _ => None,
                },
            })
        })
        .collect();
    json!({
        "format_version": FORMAT_VERSION,
        "lab": lab,
        "passed": matrix.passed(),
        "summary": matrix.summary(),
        "containers": matrix.containers,
        "matrix": cells,
        "probes": probes,
        "notes": matrix.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Probe;

    #[test]
    fn every_probe_is_listed_with_its_expectation_and_result() {
        let names = vec!["a".to_string(), "b".to_string()];
        let probe = |from, to, expect| Probe {
            from,
            to,
            netns: "/nonexistent".into(),
            target_netns: "/nonexistent".into(),
            network: "net".into(),
            address: "10.0.0.9".parse().unwrap(),
            service: crate::lab::policy::Service::Icmp,
            expect,
        };
        let probes = vec![
            probe(0, 1, Expect::Reachable),
            probe(1, 0, Expect::Isolated("the file says no".into())),
        ];
        let m = Matrix::new(names, probes, vec![Ok(true), Ok(true)], vec![]);
        let doc = render(&m, "lab1");
        assert_eq!(doc["format_version"], "1");
        assert_eq!(doc["passed"], false);
        assert_eq!(doc["matrix"].as_array().unwrap().len(), 2);
        let p = &doc["probes"][1];
        assert_eq!(p["from"], "b");
        assert_eq!(p["expected"], "isolated");
        assert_eq!(p["result"], "leak");
        assert_eq!(p["as_expected"], false);
        assert_eq!(p["reason"], "got a reply, expected none: the file says no");
        assert_eq!(doc["probes"][0]["result"], "reachable");
        assert_eq!(doc["probes"][0]["reason"], Value::Null);
        assert_eq!(doc["probes"][0]["protocol"], "icmp");
        assert_eq!(doc["probes"][0]["port"], Value::Null);
    }

    #[test]
    fn a_transport_probe_carries_its_protocol_and_port() {
        let names = vec!["a".to_string(), "b".to_string()];
        let probe = Probe {
            from: 0,
            to: 1,
            netns: "/nonexistent".into(),
            target_netns: "/nonexistent".into(),
            network: "net".into(),
            address: "10.0.0.9".parse().unwrap(),
            service: crate::lab::policy::Service::Tcp(8080),
            expect: Expect::Reachable,
        };
        let m = Matrix::new(names, vec![probe], vec![Ok(false)], vec![]);
        assert_eq!(
            m.problems,
            ["FAIL a -> b 10.0.0.9 tcp/8080 (net): no reply"]
        );
        let p = &render(&m, "lab1")["probes"][0];
        assert_eq!((&p["protocol"], &p["port"]), (&"tcp".into(), &8080.into()));
        assert_eq!(p["result"], "fail");
    }
}
