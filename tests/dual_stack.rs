//! Dual stack on the real kernel, in lab namespaces: IPv6 beside IPv4 for vxlan bridged, vxlan
//! routed and bridge networks, an IPv6-only network, and VXLAN over an IPv6 underlay. Traffic is
//! checked with `ip netns exec NS ping` (`-6` for IPv6), kernel objects with `ip -j` / `bridge -j`,
//! drift of IPv6 neighbours, routes and FDB entries is made by hand, detected (exit 2) and
//! repaired, and destroy leaves nothing owned.

mod common;

use common::*;
use serde_json::Value;

/// (from host, from container, to address): each must reply. Up to 5 pings, only to ride out a
/// loaded machine: the very first IPv6 packet is checked by tests/ipv6_first_packet.rs.
fn assert_reach(lab: &Lab, pairs: &[(&str, &str, &str)]) {
    for (host, container, addr) in pairs {
        let ns = lab.container_ns(host, container);
        assert!(
            ping_tries(&ns, addr, 5),
            "{container} on {host} cannot reach {addr}"
        );
    }
}

fn assert_no_changes(lab: &Lab, hosts: &[&str]) {
    for host in hosts {
        lab.assert_no_changes(host);
    }
}

/// Run hand-made commands (`{ns}` = the host namespace), then the plan on `host` must exit 2 and
/// name exactly `expect` (one step each).
fn drift(lab: &Lab, host: &str, commands: &[(&str, Vec<&str>)], expect: &[&str]) {
    let ns = lab.host_ns(host);
    for (tool, args) in commands {
        let args: Vec<String> = args.iter().map(|a| a.replace("{ns}", &ns)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(tool, &args);
    }
    let out = lab.on_host("plan", host, &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    for key in expect {
        assert!(text.contains(key), "plan does not name {key}:\n{text}");
    }
    let steps = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("# ") && l.contains(" will be "))
        .count();
    assert_eq!(steps, expect.len(), "plan has other steps:\n{text}");
    let out = lab.on_host("apply", host, &["--auto-approve"]);
    assert!(out.status.success(), "apply on {host} failed");
}

fn destroy_all(lab: &Lab, hosts: &[&str]) {
    for host in hosts {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
    }
    for host in hosts {
        lab.assert_host_clean(host);
        let ns = lab.host_ns(host);
        let v6_routes = ip_json(&ns, &["-6", "route", "show", "proto", "78"]);
        assert_eq!(v6_routes, Vec::<Value>::new(), "IPv6 routes left on {host}");
        let neighbours = ip_json(&ns, &["-6", "neigh", "show", "nud", "permanent"]);
        assert_eq!(
            neighbours,
            Vec::<Value>::new(),
            "IPv6 neighbours left on {host}"
        );
    }
}

/// The IPv6 addresses (`local/prefixlen`) on `dev` in `ns`, with their flags.
fn addrs6(ns: &str, dev: &str) -> Vec<Value> {
    ip_json(ns, &["-6", "addr", "show", "dev", dev])
        .into_iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn has_addr(infos: &[Value], local: &str, prefix: u64) -> bool {
    infos
        .iter()
        .any(|i| i["local"] == local && i["prefixlen"] == prefix)
}

#[test]
fn dual_stack_bridge_vxlan_bridged_routed_and_ipv6_only() {
    let lab = Lab::new("ds", &repo_file("topologies/dual-stack.yaml"));
    lab.up();
    // The kernel's carrier and link-local work done: the first pings find a settled path.
    lab.wait_settled();
    let hosts = ["node-1", "node-2"];
    let n1 = lab.host_ns("node-1");
    let n2 = lab.host_ns("node-2");

    // Kernel objects, read back independently.
    let docker1 = addrs6(&lab.container_ns("node-1", "docker1"), "eth0");
    assert!(has_addr(&docker1, "fd00:18::10:2", 64), "{docker1:?}");
    // Added without duplicate address detection: never tentative.
    assert!(
        docker1
            .iter()
            .filter(|i| i["local"] == "fd00:18::10:2")
            .all(|i| i.get("tentative").is_none() && i.get("nodad") == Some(&Value::Bool(true))),
        "{docker1:?}"
    );
    let neigh = ip_json(&n1, &["-6", "neigh", "show", "dev", "vx-overlay"]);
    assert!(
        neigh.iter().any(|n| n["dst"] == "fd00:18::20:2"
            && n["lladdr"] == "02:42:ac:12:14:02"
            && n["state"]
                .as_array()
                .is_some_and(|s| s.contains(&"PERMANENT".into()))),
        "{neigh:?}"
    );
    let routes = ip_json(&n1, &["-6", "route", "show", "proto", "78"]);
    assert!(
        routes.iter().any(|r| r["dst"] == "fd00:244:0:1::/64"
            && r["gateway"] == "fd00:244:0:1::"
            && r["dev"] == "vx-flannel"
            && r["flags"]
                .as_array()
                .is_some_and(|f| f.contains(&"onlink".into()))),
        "{routes:?}"
    );
    assert!(has_addr(&addrs6(&n1, "vx-flannel"), "fd00:244::", 128));
    assert!(has_addr(&addrs6(&n2, "br-flannel"), "fd00:244:0:1::1", 64));
    assert!(has_addr(&addrs6(&n1, "br-local"), "fd00:200::1", 64));
    let default6 = ip_json(
        &lab.container_ns("node-1", "local1"),
        &["-6", "route", "show", "default"],
    );
    assert_eq!(
        default6.first().map(|r| r["gateway"].clone()),
        Some("fd00:200::1".into())
    );
    assert_eq!(sysctl(&n1, "net.ipv6.conf.all.forwarding"), "1");
    // IPv6-only container: MAC hashed from the names (no IPv4 for 02:42:<IPv4>), programmed on
    // the peer host as a neighbour + FDB entry.
    let six2 = link(&lab.container_ns("node-2", "six2"), "eth0").expect("six2 eth0");
    let six2_mac = six2["address"].as_str().unwrap_or_default().to_string();
    assert!(!six2_mac.starts_with("02:42"), "{six2_mac}");
    let fdb = fdb_json(&n1, "vx-v6only");
    assert!(
        fdb.iter()
            .any(|f| f["mac"] == six2_mac.as_str() && f["dst"] == "192.168.31.192"),
        "{fdb:?}"
    );

    // Traffic: IPv6 and IPv4 across the two simulated hosts.
    assert_reach(
        &lab,
        &[
            ("node-1", "docker1", "fd00:18::20:2"),
            ("node-2", "docker2", "fd00:18::10:2"),
            ("node-1", "docker1", "172.18.20.2"),
            ("node-1", "web1", "fd00:244:0:1::2"),
            ("node-2", "web2", "fd00:244::2"),
            ("node-2", "web2", "10.244.0.2"),
            ("node-1", "six1", "fd00:300::3"),
            ("node-2", "six2", "fd00:300::2"),
            ("node-1", "local1", "fd00:200::1"),
            ("node-1", "local1", "192.168.200.1"),
        ],
    );
    // Kernel-made IPv6 objects (link-local addresses, fe80::/64 and multicast routes, local
    // table) are not drift.
    assert_no_changes(&lab, &hosts);

    // Drift: an IPv6 neighbour, an IPv6 route and the FDB entry of an IPv6-only container.
    drift(
        &lab,
        "node-1",
        &[(
            "ip",
            vec![
                "-n",
                "{ns}",
                "-6",
                "neigh",
                "del",
                "fd00:18::20:2",
                "dev",
                "vx-overlay",
            ],
        )],
        &["neighbour host/vx-overlay fd00:18::20:2"],
    );
    drift(
        &lab,
        "node-2",
        &[(
            "ip",
            vec!["-n", "{ns}", "-6", "route", "del", "fd00:244::/64"],
        )],
        &["route host/fd00:244::/64"],
    );
    drift(
        &lab,
        "node-1",
        &[(
            "bridge",
            vec![
                "-n",
                "{ns}",
                "fdb",
                "del",
                &six2_mac,
                "dev",
                "vx-v6only",
                "dst",
                "192.168.31.192",
                "self",
            ],
        )],
        &[&format!("fdb host/vx-v6only {six2_mac}")],
    );
    assert_no_changes(&lab, &hosts);
    assert_reach(
        &lab,
        &[
            ("node-1", "docker1", "fd00:18::20:2"),
            ("node-1", "web1", "fd00:244:0:1::2"),
            ("node-1", "six1", "fd00:300::3"),
        ],
    );

    destroy_all(&lab, &hosts);
}

#[test]
fn vxlan_over_an_ipv6_underlay() {
    let lab = Lab::new("d6u", &repo_file("topologies/vxlan-ipv6-underlay.yaml"));
    lab.up();
    // The kernel's carrier and link-local work done: the first pings find a settled path.
    lab.wait_settled();
    let hosts = ["node-1", "node-2"];
    let n1 = lab.host_ns("node-1");

    // The simulated host's underlay is IPv6 only.
    let underlay = addrs6(&n1, "eth0");
    assert!(has_addr(&underlay, "fd00:31::183", 64), "{underlay:?}");
    let v4 = ip_json(&n1, &["-4", "addr", "show", "dev", "eth0"]);
    assert!(
        v4.iter()
            .all(|l| l["addr_info"].as_array().is_none_or(|a| a.is_empty())),
        "{v4:?}"
    );
    // VTEP sourced from the IPv6 underlay (local6), MTU 1500 - 70.
    let vx = link(&n1, "vx-overlay").expect("vx-overlay");
    assert_eq!(
        vx["linkinfo"]["info_data"]["local6"], "fd00:31::183",
        "{vx}"
    );
    assert_eq!(vx["mtu"], 1430);
    let fdb = fdb_json(&n1, "vx-overlay");
    assert!(
        fdb.iter()
            .any(|f| f["mac"] == "02:42:ac:12:14:02" && f["dst"] == "fd00:31::192"),
        "{fdb:?}"
    );

    assert_reach(
        &lab,
        &[
            ("node-1", "docker1", "172.18.20.2"),
            ("node-2", "docker2", "172.18.10.2"),
            ("node-1", "docker1", "fd00:18::3"),
            ("node-1", "web1", "fd00:244:0:1::2"),
            ("node-2", "web2", "fd00:244::2"),
        ],
    );
    assert_no_changes(&lab, &hosts);

    // Drift: the FDB entry towards the IPv6 VTEP of the routed network.
    let flannel_fdb = fdb_json(&n1, "vx-flannel");
    let mac = flannel_fdb
        .iter()
        .find(|f| f["dst"] == "fd00:31::192")
        .and_then(|f| f["mac"].as_str())
        .expect("fdb entry towards node-2")
        .to_string();
    drift(
        &lab,
        "node-1",
        &[(
            "bridge",
            vec![
                "-n",
                "{ns}",
                "fdb",
                "del",
                &mac,
                "dev",
                "vx-flannel",
                "dst",
                "fd00:31::192",
                "self",
            ],
        )],
        &[&format!("fdb host/vx-flannel {mac}")],
    );
    assert_no_changes(&lab, &hosts);
    assert_reach(&lab, &[("node-1", "web1", "fd00:244:0:1::2")]);

    destroy_all(&lab, &hosts);
}
