//! A host with many containers, on the real kernel, in a lab: `apply` runs independent steps
//! concurrently (waves, see `src/apply/waves.rs`), so this checks at scale that nothing is lost
//! or misordered by it: 100 containers on one bridge network are created, the progress lines
//! come in plan order, one per step, the kernel holds every container (read back with `ip -j`),
//! traffic flows between containers far apart in the plan, a second plan is empty, and destroy
//! removes everything.

mod common;

use common::*;
use serde_json::Value;

const CONTAINERS: usize = 100;

fn topology(containers: usize) -> String {
    let mut yaml = String::from(
        "version: 1
hosts:
  node-1: { underlay: 192.168.87.1/24 }
networks:
  many: { driver: bridge, subnet: 10.89.0.0/16 }
containers:
",
    );
    if containers == 0 {
        yaml.push_str("  {}\n");
    }
    for i in 0..containers {
        yaml.push_str(&format!("  c{i}: {{ host: node-1, network: many }}\n"));
    }
    yaml
}

/// The IPv4 address (without prefix) of `eth0` in `ns`.
fn eth0_address(ns: &str) -> String {
    let links = ip_json(ns, &["addr", "show", "dev", "eth0"]);
    links
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .find(|a| a["family"] == "inet")
        .and_then(|a| a["local"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no IPv4 address on eth0 in {ns}"))
}

#[test]
fn a_hundred_containers_apply_concurrently_verify_and_destroy() {
    let full = temp_topology("many", &topology(CONTAINERS));
    let empty = temp_topology("many0", &topology(0));
    let lab = Lab::new("mc", &full);
    // The simulated host only (the same host, no containers), then the real apply.
    let up = np(&[
        "lab",
        "up",
        &empty.display().to_string(),
        "--lab",
        &lab.name,
    ]);
    assert!(up.status.success(), "lab up: {}", stdout(&up));

    let plan = lab.on_host("plan", "node-1", &["--json"]);
    let plan: Value = serde_json::from_str(&stdout(&plan)).expect("plan --json");
    let planned: Vec<String> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["address"].as_str().expect("address").to_string())
        .collect();
    assert!(planned.len() >= 4 * CONTAINERS, "{} steps", planned.len());

    let apply = lab.on_host("apply", "node-1", &["--auto-approve"]);
    let out = stdout(&apply);
    assert_eq!(apply.status.code(), Some(0), "{out}");
    // One progress line per step, in plan order.
    let progress: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .filter_map(|l| l.strip_suffix(": created"))
        .map(str::to_string)
        .collect();
    assert_eq!(progress, planned);
    assert!(
        out.contains(&format!("{} added, 0 changed, 0 destroyed", planned.len())),
        "{out}"
    );

    // Read back: every container namespace, every host end enslaved to the bridge.
    let host_ns = lab.host_ns("node-1");
    assert_eq!(lab.container_namespaces("node-1").len(), CONTAINERS);
    let links = ip_json(&host_ns, &["link", "show"]);
    let bridge = links
        .iter()
        .find(|l| l["linkinfo"]["info_kind"] == "bridge" || l["ifname"] == "br-many")
        .and_then(|l| l["ifname"].as_str())
        .expect("the network's bridge")
        .to_string();
    let ports = links
        .iter()
        .filter(|l| l["master"].as_str() == Some(bridge.as_str()))
        .count();
    assert_eq!(ports, CONTAINERS, "ports of {bridge}");
    let addresses: Vec<String> = (0..CONTAINERS)
        .map(|i| eth0_address(&lab.container_ns("node-1", &format!("c{i}"))))
        .collect();
    let mut unique = addresses.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), CONTAINERS, "addresses not unique");
    // Traffic between containers at both ends and the middle of the plan.
    for (from, to) in [
        (0, CONTAINERS - 1),
        (CONTAINERS - 1, 0),
        (CONTAINERS / 2, 1),
    ] {
        let ns = lab.container_ns("node-1", &format!("c{from}"));
        assert!(ping(&ns, &addresses[to]), "c{from} cannot reach c{to}");
    }

    let again = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    let destroy = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert_eq!(destroy.status.code(), Some(0), "{}", stdout(&destroy));
    let destroyed = stdout(&destroy)
        .lines()
        .filter(|l| l.starts_with("- ") && l.ends_with(": destroyed"))
        .count();
    assert!(destroyed > CONTAINERS, "{destroyed} destroyed");
    assert!(lab.container_namespaces("node-1").is_empty());
    assert!(
        owned_links(&host_ns).is_empty(),
        "{:?}",
        owned_links(&host_ns)
    );
    let _ = std::fs::remove_file(full);
    let _ = std::fs::remove_file(empty);
}
