//! `driver: host-gw` on the real kernel, in a lab: containers on two simulated hosts reach
//! each other through plain routes via the peer's underlay address (no tunnel), a route deleted
//! by hand is drift that `plan` names and `apply` repairs, destroy and `lab down` leave nothing.
//! Checked with `ip -j` and `ping`, never with netplan-rs's own reader.

mod common;

use common::*;
use serde_json::Value;

const FILE: &str = "topologies/host-gw.yaml";

fn route_to(ns: &str, dst: &str) -> Vec<Value> {
    ip_json(ns, &["route", "show", dst])
}

fn assert_cross_host_traffic(lab: &Lab) {
    let d1 = lab.container_ns("node-1", "docker1");
    let d2 = lab.container_ns("node-2", "docker2");
    assert!(ping(&d1, "172.17.0.2"), "docker1 cannot reach docker2");
    assert!(ping(&d2, "172.18.0.2"), "docker2 cannot reach docker1");
}

fn ip_forward(ns: &str) -> String {
    run(
        "ip",
        &["netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward"],
    )
    .trim()
    .to_string()
}

#[test]
fn host_gw_lifecycle() {
    let lab = Lab::new("hg", &repo_file(FILE));
    lab.up();
    let n1 = lab.host_ns("node-1");
    let n2 = lab.host_ns("node-2");

    // The seed's two static routes, owned (proto 78), via the peer's underlay address.
    for (ns, dst, via) in [
        (&n1, "172.17.0.0/16", "192.168.99.102"),
        (&n2, "172.18.0.0/16", "192.168.99.101"),
    ] {
        let routes = route_to(ns, dst);
        assert_eq!(routes.len(), 1, "{ns}: no route to {dst}: {routes:?}");
        assert_eq!(routes[0]["gateway"], via, "{routes:?}");
        assert_eq!(routes[0]["dev"], "eth0", "{routes:?}");
        assert_eq!(routes[0]["protocol"], "78", "{routes:?}");
        assert_eq!(ip_forward(ns), "1");
    }
    // The bridge holds the slice's gateway; no tunnel device exists.
    let addrs = ip_json(&n1, &["addr", "show", "dev", "br-hostgw"]);
    assert!(
        addrs[0]["addr_info"].as_array().is_some_and(|a| a
            .iter()
            .any(|i| i["local"] == "172.18.0.1" && i["prefixlen"] == 16)),
        "{addrs:?}"
    );
    assert!(
        ip_json(&n1, &["link", "show", "type", "vxlan"]).is_empty(),
        "host-gw must not create a tunnel"
    );
    let d1 = lab.container_ns("node-1", "docker1");
    let default = ip_json(&d1, &["route", "show", "default"]);
    assert_eq!(default.len(), 1, "{default:?}");
    assert_eq!(default[0]["gateway"], "172.18.0.1");

    assert_cross_host_traffic(&lab);
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "lab verify failed");
    assert!(
        stdout(&verify).contains("All 2 pairs as expected: 2 reachable, 0 isolated."),
        "{}",
        stdout(&verify)
    );
    for host in ["node-1", "node-2"] {
        lab.assert_no_changes(host);
    }

    // Drift: the static route deleted by hand. Traffic breaks, plan names exactly that route.
    run("ip", &["-n", &n1, "route", "del", "172.17.0.0/16"]);
    assert!(
        !ping(&d1, "172.17.0.2"),
        "docker1 still reaches docker2 without the route"
    );
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    assert!(
        text.contains("# route host/172.17.0.0/16 will be created"),
        "{text}"
    );
    assert!(text.contains("192.168.99.102"), "{text}");
    assert!(
        text.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed");
    let routes = route_to(&n1, "172.17.0.0/16");
    assert_eq!(routes.len(), 1, "route not repaired");
    assert_eq!(routes[0]["gateway"], "192.168.99.102");
    assert_cross_host_traffic(&lab);
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "plan not empty after repair");

    // Destroy removes everything owned and nothing else (the lab's underlay stays).
    for (host, ns) in [("node-1", &n1), ("node-2", &n2)] {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
        assert_eq!(owned_links(ns), Vec::<String>::new(), "{host}");
        assert_eq!(owned_routes(ns), Vec::<Value>::new(), "{host}");
        assert!(link(ns, "br-hostgw").is_none(), "{host}");
        assert!(link(ns, "eth0").is_some(), "{host}: underlay removed");
        let left = lab.container_namespaces(host);
        assert!(
            left.is_empty(),
            "{host}: container namespaces left: {left:?}"
        );
    }

    let out = lab.cmd(&["lab", "down"], &[]);
    assert!(out.status.success(), "lab down failed");
    let prefix = format!("{}-", lab.name);
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix) || *n == format!("{}.switch", lab.name))
        .collect();
    assert!(left.is_empty(), "lab down left {left:?}");
}

/// A host-gw network whose hosts sit on different underlay subnets is refused before anything
/// is touched: one error naming the hosts and their subnets, exit 1.
#[test]
fn hosts_on_different_underlay_subnets_are_rejected() {
    let text = std::fs::read_to_string(repo_file(FILE))
        .expect("host-gw.yaml")
        .replace("192.168.99.102/24", "192.168.98.102/24");
    let file = temp_topology("hgsub", &text);
    let out = np(&["validate", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned() + &stdout(&out);
    assert!(
        err.contains("networks.hostgw")
            && err.contains("node-1 on 192.168.99.0/24")
            && err.contains("node-2 on 192.168.98.0/24"),
        "{err}"
    );
    let _ = std::fs::remove_file(&file);
}
