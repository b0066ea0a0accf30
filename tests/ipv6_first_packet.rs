//! The first IPv6 packet routed into a freshly applied network is not held back or dropped.
//!
//! The kernel solicits a neighbour for a *forwarded* IPv6 packet only from a non-tentative
//! link-local address of the egress bridge; a new bridge's link-local address used to be
//! tentative for the ~2 s of duplicate address detection, so the first pings across a routed
//! IPv6 path waited or timed out. netplan-rs now creates its bridges with
//! `net.ipv6.conf.<bridge>.accept_dad = 0` (docs/topology.md "dual stack"). Checked two ways: the property
//! itself, read back with `sysctl` and `ip -j -6 addr` (independent readers), and traffic: ONE
//! ping with a 1 s timeout per cross-host IPv6 path, as soon as the kernel has processed the new
//! links (a functional check that the first packet gets through, not a speed measurement).
//!
//! "As soon as" matters on a loaded machine: after `lab up` returns, the kernel still activates
//! links that got carrier, makes the bridges' link-local addresses and clears their "tentative"
//! flag in work items that wait for the RTNL lock (`common::wait_settled`). A ping sent before
//! that raced the kernel, not netplan-rs: the test waits for those, with a deadline, then sends
//! its one packet. A bridge with DAD on would still fail: its link-local stays tentative for
//! 1-2 s *after* it appears, which the sysctl and tentative checks below catch.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Names of the bridges netplan-rs owns in `ns` (`ip -j -d link`: alias + info_kind; in a lab
/// the alias names the lab and host).
fn owned_bridges(ns: &str) -> Vec<String> {
    ip_json(ns, &["link", "show", "type", "bridge"])
        .iter()
        .filter(|l| {
            l["ifalias"]
                .as_str()
                .is_some_and(|a| a.starts_with("netplan-rs lab="))
                && l["linkinfo"]["info_kind"] == "bridge"
        })
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

fn accept_dad(ns: &str, dev: &str) -> String {
    let key = format!("net/ipv6/conf/{dev}/accept_dad");
    run("ip", &["netns", "exec", ns, "sysctl", "-n", &key])
        .trim()
        .to_string()
}

/// The link-local (`fe80::/64`) address entries of `dev`, waiting up to 3 s for the kernel to
/// make one (it does so when the bridge gets carrier, asynchronously).
fn link_local(ns: &str, dev: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let found: Vec<Value> = ip_json(ns, &["-6", "addr", "show", "dev", dev, "scope", "link"])
            .into_iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn first_ipv6_packet_across_hosts_right_after_apply() {
    let lab = Lab::new("dad", &repo_file("topologies/dual-stack.yaml"));
    lab.up();
    // Every link processed by the kernel (carrier, bridge link-local addresses made); the
    // accept_dad checks below make sure this is not DAD finishing.
    let bridges_at_up: Vec<(String, String)> = ["node-1", "node-2"]
        .iter()
        .flat_map(|h| {
            let ns = lab.host_ns(h);
            owned_bridges(&ns).into_iter().map(move |b| (ns.clone(), b))
        })
        .collect();
    for (ns, dev) in &bridges_at_up {
        assert_eq!(accept_dad(ns, dev), "0", "accept_dad of {dev} in {ns}");
    }
    lab.wait_settled();

    // Traffic first, before anything else gives the kernel time. node-2 is applied last, so its
    // bridges are the youngest: web1 -> web2 is routed node-1 -> vx-flannel -> node-2 ->
    // br-flannel, and node-2's bridge must solicit web2 for a forwarded packet.
    let ns = lab.container_ns("node-1", "web1");
    assert!(
        ping_once(&ns, "fd00:244:0:1::2"),
        "the first IPv6 ping web1 -> web2 (routed, across hosts) was lost"
    );
    // The other cross-host IPv6 paths (bridged VXLAN, IPv6-only) and the bridge gateway.
    for (host, container, addr) in [
        ("node-2", "docker2", "fd00:18::10:2"),
        ("node-1", "six1", "fd00:300::3"),
        ("node-1", "local1", "fd00:200::1"),
    ] {
        let ns = lab.container_ns(host, container);
        assert!(
            ping_once(&ns, addr),
            "the first IPv6 ping {container} -> {addr} was lost"
        );
    }

    // The property, read back independently: every bridge netplan-rs created has DAD off, and
    // its link-local address is never tentative (with DAD it would be for >= 1 s after it
    // appears).
    for (host, count) in [("node-1", 4), ("node-2", 3)] {
        let ns = lab.host_ns(host);
        let bridges = owned_bridges(&ns);
        assert_eq!(bridges.len(), count, "bridges on {host}: {bridges:?}");
        for dev in &bridges {
            assert_eq!(accept_dad(&ns, dev), "0", "accept_dad of {dev} on {host}");
            let ll = link_local(&ns, dev);
            assert!(!ll.is_empty(), "{dev} on {host} has no link-local address");
            assert!(
                ll.iter().all(|a| a.get("tentative").is_none()),
                "{dev} on {host}: tentative link-local {ll:?}"
            );
        }
    }

    // A creation-time setting, not state: the plan right after apply is empty on every host.
    for host in ["node-1", "node-2"] {
        lab.assert_no_changes(host);
    }
}
