//! A link the topology relies on but netplan-rs does not create (here a macvlan network's
//! explicit `parent: eth9`, which no simulated host has) is a plan error: `plan` exits 1 naming
//! the object and the missing link, `plan --json` lists it under `conflicts`, and `apply` and
//! `lab up` refuse before the first step. The same file also wants a bridge network and the
//! host's own macvlan child, whose steps would otherwise have run first: checked with `ip -j`
//! that no owned link and no container namespace appeared (no half-applied host).

mod common;

use common::*;
use serde_json::Value;

const TOPOLOGY: &str = "version: 1
hosts:
  macvlan-01: { underlay: 192.168.1.198/24, interface: eth0 }
  macvlan-02: { underlay: 192.168.1.199/24, interface: eth0 }
networks:
  local: { driver: bridge, subnet: 192.168.200.0/24 }
  mvnet:
    driver: macvlan
    subnet: 172.100.1.0/24
    gateway: 172.100.1.1
    parent: eth9
    host_interface: true
containers:
  web: { host: macvlan-01, network: local }
  c1: { host: macvlan-01, network: mvnet, address: 172.100.1.10 }
";

const MESSAGE: &str = "link c1/eth0: parent link host/eth9 does not exist on this host";

fn assert_nothing_applied(lab: &Lab, host: &str) {
    lab.assert_host_clean(host);
    let ns = lab.host_ns(host);
    // The host itself is there (built by the lab) with its underlay, just not eth9.
    let names = link_names(&ns);
    assert!(names.iter().any(|n| n == "eth0"), "{names:?}");
    assert!(!names.iter().any(|n| n == "eth9"), "{names:?}");
}

#[test]
fn missing_macvlan_parent_is_a_plan_error_and_nothing_is_applied() {
    let file = temp_topology("missing-parent", TOPOLOGY);
    let lab = Lab::new("ml", &file);

    // With the simulated hosts built, `lab up` refuses the plan of macvlan-01, naming the host
    // and every conflict (like `plan`), not just the first; the lab was up before, so it stays.
    lab.up_hosts_only();
    let up = lab.cmd(&["lab", "up"], &[]);
    assert_eq!(up.status.code(), Some(1), "lab up must fail");
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(
        stderr.contains("simulated host macvlan-01: the plan has 2 conflicts"),
        "lab up names the host and counts the conflicts:\n{stderr}"
    );
    for conflict in [
        MESSAGE,
        "link host/mv-mvnet: parent link host/eth9 does not exist on this host",
    ] {
        assert!(
            stderr.contains(&format!("\n  {conflict}")),
            "lab up does not name {conflict:?}:\n{stderr}"
        );
    }
    assert_nothing_applied(&lab, "macvlan-01");

    let plan = lab.on_host("plan", "macvlan-01", &["--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(1));
    assert!(
        stdout(&plan).contains(&format!("Error: {MESSAGE}")),
        "plan names the object and the missing link"
    );
    // The host's child mv-mvnet hangs off eth9 too: its own conflict.
    assert!(
        stdout(&plan).contains(
            "Error: link host/mv-mvnet: parent link host/eth9 does not exist on this host"
        )
    );

    let json = lab.on_host("plan", "macvlan-01", &["--json"]);
    assert_eq!(json.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&json)).expect("plan --json is JSON");
    let conflicts = doc["conflicts"].as_array().expect("conflicts array");
    assert!(
        conflicts
            .iter()
            .any(|c| c["address"] == "link c1/eth0" && c["message"] == MESSAGE),
        "{conflicts:?}"
    );
    // The steps are still listed (what would be done), but cannot be applied.
    assert!(doc["summary"]["add"].as_u64().is_some_and(|n| n > 0));

    let apply = lab.on_host("apply", "macvlan-01", &["--auto-approve"]);
    assert_eq!(apply.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&apply.stderr).contains("nothing was changed"));
    assert_nothing_applied(&lab, "macvlan-01");

    // Once the host has an eth9 the same file plans cleanly: the check is about that link.
    let host_ns = lab.host_ns("macvlan-01");
    run(
        "ip",
        &[
            "-n", &host_ns, "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p",
        ],
    );
    let plan = lab.on_host("plan", "macvlan-01", &["--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "plan with eth9 present");
    assert!(!stdout(&plan).contains("does not exist"));
    let _ = std::fs::remove_file(&file);
}
