//! Isolation between two bridge networks of one host, on the real kernel, in a lab: with
//! `nat: true` on both (so the host forwards, IPv4 and IPv6), containers of one network reach
//! each other and not the other network's; the forward chain and its rules are read back with
//! `nft -j`; deleting the rules by hand opens the path (so the test proves the rules are what
//! isolates), which `plan` reports as drift and `apply` repairs; a rule edited by hand is
//! replaced; destroy removes the table. Every reachability claim is checked with the system
//! `ping` in the container namespaces.

mod common;

use common::*;
use serde_json::Value;

const TOPOLOGY: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
networks:
  front: { driver: bridge, subnet: 192.168.1.0/24, subnet6: \"fd00:1::/64\", nat: true }
  back: { driver: bridge, subnet: 192.168.2.0/24, subnet6: \"fd00:2::/64\", nat: true }
containers:
  web: { host: node-1, network: front }
  api: { host: node-1, network: front }
  db: { host: node-1, network: back }
  cache: { host: node-1, network: back }
";

const FRONT_TO_BACK: &str = "isolate br-front -> br-back";
const BACK_TO_FRONT: &str = "isolate br-back -> br-front";

/// The rules of chain `forward` as (comment, expressions).
fn forward_rules(listing: &[Value]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = listing
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["chain"] == "forward")
        .map(|r| {
            (
                r["comment"].as_str().unwrap_or_default().to_string(),
                r["expr"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The nft JSON of `iifname "<iif>" oifname "<oif>" drop`.
fn drop_expr(iif: &str, oif: &str) -> Value {
    serde_json::json!([
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": iif}},
        {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": oif}},
        {"drop": null}
    ])
}

#[test]
fn two_nat_bridges_on_one_host_are_isolated_and_the_rules_are_reconciled() {
    let file = temp_topology("iso", TOPOLOGY);
    let lab = Lab::new("iso", &file);
    lab.up();
    let host = lab.host_ns("node-1");
    let web = lab.container_ns("node-1", "web");
    let db = lab.container_ns("node-1", "db");
    let sysctl = |key: &str| {
        run(
            "ip",
            &["netns", "exec", &host, "cat", &format!("/proc/sys/{key}")],
        )
    };
    // The host forwards both families (nat: true), so only the rules keep the networks apart.
    assert_eq!(sysctl("net/ipv4/ip_forward").trim(), "1");
    assert_eq!(sysctl("net/ipv6/conf/all/forwarding").trim(), "1");

    // Within a network: reachable, both families. Across: not.
    assert!(ping(&web, "192.168.1.3"), "web -> api");
    assert!(ping(&db, "192.168.2.3"), "db -> cache");
    assert!(ping_within(&web, "fd00:1::3", 10), "web -> api over IPv6");
    assert!(ping_within(&db, "fd00:2::3", 10), "db -> cache over IPv6");
    assert!(!ping(&web, "192.168.2.2"), "web reaches db");
    assert!(!ping(&db, "192.168.1.2"), "db reaches web");
    assert!(!ping(&web, "fd00:2::2"), "web reaches db over IPv6");
    assert!(!ping(&db, "fd00:1::2"), "db reaches web over IPv6");

    // Independent reader: the filter forward chain and one drop rule per direction.
    let listing = nft_table(&host).expect("table after lab up");
    let chain = listing
        .iter()
        .filter_map(|o| o.get("chain"))
        .find(|c| c["name"] == "forward")
        .expect("forward chain");
    assert_eq!(chain["type"], "filter");
    assert_eq!(chain["hook"], "forward");
    assert_eq!(chain["prio"], 0);
    assert_eq!(
        forward_rules(&listing),
        vec![
            (BACK_TO_FRONT.to_string(), drop_expr("br-back", "br-front")),
            (FRONT_TO_BACK.to_string(), drop_expr("br-front", "br-back")),
        ]
    );
    // What we wrote decodes as ours: nothing to do.
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Drift: both rules deleted by hand. The networks reach each other now (proving that the
    // rules are what isolates them); plan names the two rules, apply restores them.
    for comment in [FRONT_TO_BACK, BACK_TO_FRONT] {
        let handle = nft_rule_handle(&listing, "forward", comment);
        nft(
            &host,
            &[
                "delete",
                "rule",
                "inet",
                "netplan-rs",
                "forward",
                "handle",
                &handle,
            ],
        );
    }
    assert!(ping(&web, "192.168.2.2"), "no path without the rules");
    assert!(
        ping_within(&web, "fd00:2::2", 10),
        "no IPv6 path without the rules"
    );
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    for comment in [FRONT_TO_BACK, BACK_TO_FRONT] {
        assert!(
            text.contains(&format!(
                "nft_rule host/netplan-rs/forward \"{comment}\" will be created"
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(!ping(&web, "192.168.2.2"), "repair did not isolate");
    assert!(!ping(&web, "fd00:2::2"), "repair did not isolate IPv6");

    // Drift: a rule edited by hand (same comment, verdict accept) is replaced.
    let listing = nft_table(&host).expect("table");
    let handle = nft_rule_handle(&listing, "forward", FRONT_TO_BACK);
    nft(
        &host,
        &[
            "replace",
            "rule",
            "inet",
            "netplan-rs",
            "forward",
            "handle",
            &handle,
            "iifname",
            "br-front",
            "oifname",
            "br-back",
            "accept",
            "comment",
            &format!("\"{FRONT_TO_BACK}\""),
        ],
    );
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "nft_rule host/netplan-rs/forward \"{FRONT_TO_BACK}\" must be replaced"
        )),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        forward_rules(&nft_table(&host).expect("table"))[1],
        (FRONT_TO_BACK.to_string(), drop_expr("br-front", "br-back"))
    );

    // Destroy removes the table with the chain and rules.
    let out = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(nft_table(&host).is_none(), "table survived destroy");
    drop(lab);
    let _ = std::fs::remove_file(&file);
}
