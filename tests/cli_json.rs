//! Output for machines, on a lab host of its own: `-v` phase timings and `--log-format json`
//! (tracing spans), `apply --json` event lines (a success, a second run with nothing to do, and
//! a failing apply that rolls back), `lab verify --json`. Every stdout line of `apply --json`
//! must parse as JSON: no prose there.
//!
//! The failure is the MTU trick of tests/rollback.rs: the file claims a 9000-byte underlay, the
//! lab's `eth0` has 1500, so the kernel refuses the vxlan device's MTU update.

mod common;

use common::*;
use serde_json::Value;

const BASE: &str = "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24, interface: eth0 }
networks:
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
  local: { driver: bridge, subnet: 192.168.200.0/24 }
containers:
  docker1: { host: node-1, network: overlay, address: 172.18.10.2 }
  web: { host: node-1, network: local }
  db: { host: node-1, network: local }
";

/// The base file with one container more (so there is something to apply).
fn grown() -> String {
    format!("{BASE}  cache: {{ host: node-1, network: local }}\n")
}

/// Applying this on top of `grown()` fails half-way: the vxlan's MTU update is refused.
fn failing() -> String {
    grown()
        .replace("interface: eth0 }", "interface: eth0, mtu: 9000 }")
        .replace(
            "  web:",
            "  docker3: { host: node-1, network: overlay, address: 172.18.10.3 }\n  web:",
        )
}

/// Every stdout line as JSON (panics, naming the line, on anything else).
fn events(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

fn apply(lab: &Lab, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let file = file.to_str().unwrap();
    let mut args = vec!["apply", file, "--lab", &lab.name, "--host", "node-1"];
    args.extend_from_slice(extra);
    np(&args)
}

#[test]
fn logs_apply_json_and_verify_json_on_a_lab_host() {
    let base = temp_topology("npv-base", BASE);
    let lab = Lab::new("npv", &base);
    let up = lab.cmd(&["lab", "up"], &[]);
    assert!(up.status.success(), "lab up: {}", stderr(&up));
    // The count agrees with its noun.
    assert!(
        stdout(&up).contains(&format!("Lab {}: 1 simulated host on switch", lab.name)),
        "{}",
        stdout(&up)
    );

    // -v: the phases, each closed with its duration, on stderr; stdout is the plan as ever.
    let plan = lab.on_host("plan", "node-1", &["-v"]);
    assert_eq!(plan.status.code(), Some(0));
    let log = stderr(&plan);
    for phase in ["load{", "compile{", "observe{", "dump{", "diff:"] {
        let line = log
            .lines()
            .find(|l| l.contains(phase) && l.contains("close"))
            .unwrap_or_else(|| panic!("no {phase} span closed in:\n{log}"));
        assert!(line.contains("time.busy="), "{line}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "no colours when stderr is not a terminal"
    );
    assert!(stdout(&plan).contains("No changes."));

    // --log-format json: every stderr line is JSON, and the phases are there by span name.
    let plan = lab.on_host("plan", "node-1", &["-v", "--log-format", "json"]);
    assert_eq!(plan.status.code(), Some(0));
    let spans: Vec<String> = stderr(&plan)
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("log line not JSON ({e}): {l}"));
            assert!(v["fields"]["time.busy"].is_string(), "{l}");
            v["span"]["name"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    for phase in ["load", "compile", "observe", "dump", "diff"] {
        assert!(spans.iter().any(|s| s == phase), "{phase} not in {spans:?}");
    }
    let dumps = spans.iter().filter(|s| *s == "dump").count();
    assert_eq!(
        dumps, 4,
        "one dump per namespace (host + 3 containers): {spans:?}"
    );

    // apply --json needs --auto-approve (no prompt can share stdout with the events).
    let grown_file = temp_topology("npv-grown", &grown());
    let refused = apply(&lab, &grown_file, &["--json"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("--auto-approve"),
        "{}",
        stderr(&refused)
    );
    assert!(stdout(&refused).is_empty());

    // A successful apply: plan, one step_applied per step in order, summary; -v shows the
    // waves with their step counts and the verification on stderr.
    let ok = apply(&lab, &grown_file, &["--auto-approve", "--json", "-v"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let evs = events(&ok);
    assert_eq!(names(&evs)[0], "plan");
    assert_eq!(*names(&evs).last().unwrap(), "summary");
    for e in &evs {
        assert_eq!(e["format_version"], "1");
    }
    let plan_doc = &evs[0]["plan"];
    let total = plan_doc["steps"].as_array().unwrap().len();
    assert!(total > 0);
    let applied: Vec<&Value> = evs
        .iter()
        .filter(|e| e["event"] == "step_applied")
        .collect();
    assert_eq!(applied.len(), total);
    for (i, e) in applied.iter().enumerate() {
        assert_eq!(e["index"], i + 1);
        assert_eq!(e["total"], total);
        assert_eq!(e["address"], plan_doc["steps"][i]["address"]);
    }
    let summary = evs.last().unwrap();
    assert_eq!(summary["result"], "applied");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["added"], plan_doc["summary"]["add"]);
    let log = stderr(&ok);
    let waves: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wave{") && l.contains("close"))
        .collect();
    assert!(!waves.is_empty(), "{log}");
    let steps_in_waves: usize = waves
        .iter()
        .map(|l| {
            let at = l.find("steps=").expect("steps field") + "steps=".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        steps_in_waves, total,
        "the waves' step counts add up to the plan: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("verify") && l.contains("close")),
        "{log}"
    );
    // The kernel agrees: the new container exists.
    assert!(netns_exists(&lab.container_ns("node-1", "cache")));

    // Nothing left to do: plan, then summary no_changes.
    let again = apply(&lab, &grown_file, &["--auto-approve", "--json"]);
    assert_eq!(again.status.code(), Some(0));
    let evs = events(&again);
    assert_eq!(names(&evs), vec!["plan", "summary"]);
    assert_eq!(evs[1]["result"], "no_changes");

    // A failing apply: step_failed names the vxlan, the rollback puts the host back, exit 1.
    let links_before = link_names(&lab.host_ns("node-1"));
    let fail_file = temp_topology("npv-fail", &failing());
    let failed = apply(&lab, &fail_file, &["--auto-approve", "--json", "-v"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    let evs = events(&failed);
    let n = names(&evs);
    assert_eq!(n[0], "plan");
    assert_eq!(&n[n.len() - 3..], ["step_failed", "rollback", "summary"]);
    let step_failed = &evs[n.len() - 3];
    assert_eq!(step_failed["address"], "link host/vx-overlay");
    assert_eq!(step_failed["action"], "update");
    let index = step_failed["index"].as_u64().unwrap() as usize;
    assert_eq!(
        evs[0]["plan"]["steps"][index - 1]["address"],
        "link host/vx-overlay"
    );
    assert!(
        step_failed["error"]
            .as_str()
            .unwrap()
            .contains("Invalid argument"),
        "{step_failed}"
    );
    // Every applied step was reported before the failure, and only those.
    let reported: Vec<u64> = evs
        .iter()
        .filter(|e| e["event"] == "step_applied")
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    let applied: Vec<u64> = step_failed["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(reported, applied);
    assert!(!applied.is_empty(), "steps were applied before the failure");
    let rollback = &evs[n.len() - 2];
    assert_eq!(rollback["done"], true);
    assert_eq!(rollback["as_it_was"], true);
    assert!(rollback["steps"].as_u64().unwrap() > 0);
    assert_eq!(evs[n.len() - 1]["result"], "failed");
    assert_eq!(evs[n.len() - 1]["exit_code"], 1);
    // The prose is on stderr, as without --json; the rollback span closed in the log.
    let log = stderr(&failed);
    assert!(log.contains("Error: apply failed at step"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("rollback") && l.contains("close")),
        "{log}"
    );
    // Checked independently: the host's links are as before, docker3 does not exist.
    assert_eq!(link_names(&lab.host_ns("node-1")), links_before);
    assert!(!netns_exists(&lab.container_ns("node-1", "docker3")));

    // A saved plan applied with --json: the same events, and its check line is not on stdout.
    let planfile = std::env::temp_dir().join(format!("npv-{}.plan", std::process::id()));
    let fewer = temp_topology("npv-fewer", BASE);
    let saved = np(&[
        "plan",
        fewer.to_str().unwrap(),
        "--lab",
        &lab.name,
        "--host",
        "node-1",
        "--out",
        planfile.to_str().unwrap(),
    ]);
    assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
    let from_saved = apply(&lab, &planfile, &["--auto-approve", "--json"]);
    let _ = std::fs::remove_file(&planfile);
    assert_eq!(from_saved.status.code(), Some(0), "{}", stderr(&from_saved));
    let evs = events(&from_saved);
    assert_eq!(names(&evs)[0], "plan");
    assert_eq!(evs.last().unwrap()["result"], "applied");
    let destroyed = &evs.last().unwrap()["destroyed"];
    assert_eq!(*destroyed, evs[0]["plan"]["summary"]["destroy"]);
    assert!(destroyed.as_u64().unwrap() >= 1, "cache's namespace goes");
    assert!(stderr(&from_saved).contains("Saved plan"));
    assert!(!netns_exists(&lab.container_ns("node-1", "cache")));
    let back = apply(&lab, &grown_file, &["--auto-approve", "--json"]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));

    // lab verify --json: the matrix and every probe. web, db and cache share `local`;
    // docker1 is alone on `overlay`.
    let verify = np(&[
        "lab",
        "verify",
        grown_file.to_str().unwrap(),
        "--lab",
        &lab.name,
        "--json",
    ]);
    assert_eq!(verify.status.code(), Some(0), "{}", stderr(&verify));
    let doc: Value = serde_json::from_str(&stdout(&verify)).expect("lab verify --json is JSON");
    assert_eq!(doc["format_version"], "1");
    assert_eq!(doc["lab"], lab.name.as_str());
    assert_eq!(doc["passed"], true);
    assert_eq!(doc["containers"].as_array().unwrap().len(), 4);
    assert_eq!(doc["matrix"].as_array().unwrap().len(), 12);
    let probes = doc["probes"].as_array().unwrap();
    assert!(probes.len() >= 12, "{probes:?}");
    for p in probes {
        for key in ["from", "to", "address", "network", "expected", "result"] {
            assert!(p[key].is_string(), "{key} in {p}");
        }
        assert!(p.get("reason").is_some(), "{p}");
        assert_eq!(p["as_expected"], true, "{p}");
        let same_network = p["from"] != "docker1" && p["to"] != "docker1";
        let (expected, result) = if same_network {
            ("reachable", "reachable")
        } else {
            ("isolated", "isolated")
        };
        assert_eq!(
            (p["expected"].as_str(), p["result"].as_str()),
            (Some(expected), Some(result)),
            "{p}"
        );
    }
    let web_to_db = probes
        .iter()
        .find(|p| p["from"] == "web" && p["to"] == "db")
        .expect("web -> db probed");
    assert!(
        web_to_db["address"]
            .as_str()
            .unwrap()
            .starts_with("192.168.200.")
    );
    // Independent check of one reachable pair with real traffic.
    let db = web_to_db["address"].as_str().unwrap();
    assert!(ping(&lab.container_ns("node-1", "web"), db));
    assert_eq!(
        doc["summary"],
        "All 12 pairs as expected: 6 reachable, 6 isolated."
    );

    for f in [base, grown_file, fail_file, fewer] {
        let _ = std::fs::remove_file(f);
    }
}
