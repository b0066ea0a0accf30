//! A container on two networks at once, on the real kernel in a lab: `eth0` on a bridge
//! network, `eth1` on a host-gw network, exactly one default route through the network that
//! `default_route` names; changing `default_route` moves it. Checked with `ip -j` and `ping`.

mod common;

use common::*;
use serde_json::Value;

const TOPOLOGY: &str = "version: 1
hosts:
  node-1: { underlay: 192.168.77.1/24 }
  node-2: { underlay: 192.168.77.2/24 }
networks:
  local: { driver: bridge, subnet: 192.168.200.0/24 }
  gw: { driver: host-gw, subnet: 10.244.0.0/16 }
containers:
  multi: { host: node-1, networks: { local: {}, gw: {} }, default_route: gw }
  web: { host: node-1, network: local }
  far: { host: node-2, network: gw }
";

/// `(address, prefixlen)` of IPv4 addresses on `dev` in `ns`.
fn addresses(ns: &str, dev: &str) -> Vec<(String, u64)> {
    ip_json(ns, &["-4", "addr", "show", "dev", dev])
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .map(|i| {
            (
                i["local"].as_str().unwrap_or_default().to_string(),
                i["prefixlen"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn defaults(ns: &str) -> Vec<Value> {
    ip_json(ns, &["route", "show", "default"])
}

fn assert_reachability(lab: &Lab) {
    let multi = lab.container_ns("node-1", "multi");
    let far = lab.container_ns("node-2", "far");
    assert!(ping(&multi, "192.168.200.3"), "multi -> web (eth0, bridge)");
    assert!(
        ping(&multi, "10.244.1.2"),
        "multi -> far (eth1, across hosts)"
    );
    assert!(ping(&far, "10.244.0.2"), "far -> multi");
}

#[test]
fn container_on_two_networks_has_one_default_route() {
    let file = temp_topology("mn", TOPOLOGY);
    let lab = Lab::new("mn", &file);
    lab.up();
    let multi = lab.container_ns("node-1", "multi");

    assert_eq!(
        addresses(&multi, "eth0"),
        [("192.168.200.2".to_string(), 24)]
    );
    assert_eq!(addresses(&multi, "eth1"), [("10.244.0.2".to_string(), 24)]);
    let d = defaults(&multi);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["gateway"], "10.244.0.1");
    assert_eq!(d[0]["dev"], "eth1");
    assert_reachability(&lab);

    // Without `default_route` the first network with a gateway (local, eth0) carries it, and
    // the host-gw network is reached through its own gateway on eth1.
    let moved = temp_topology("mn", &TOPOLOGY.replace(", default_route: gw", ""));
    let moved_lab = Lab {
        name: lab.name.clone(),
        file: moved.clone(),
    };
    let out = moved_lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("route multi/0.0.0.0/0"), "{text}");
    assert!(text.contains("route multi/10.244.0.0/16"), "{text}");
    let out = moved_lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed");
    let d = defaults(&multi);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["gateway"], "192.168.200.1");
    assert_eq!(d[0]["dev"], "eth0");
    let sub = ip_json(&multi, &["route", "show", "10.244.0.0/16"]);
    assert_eq!(sub.len(), 1, "{sub:?}");
    assert_eq!(sub[0]["gateway"], "10.244.0.1");
    assert_eq!(sub[0]["dev"], "eth1");
    assert_reachability(&lab);
    std::mem::forget(moved_lab); // `lab` tears the lab down
    drop(lab);
    let _ = std::fs::remove_file(&moved);
    let _ = std::fs::remove_file(&file);
}
