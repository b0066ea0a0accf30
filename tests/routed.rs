//! `driver: routed` (Calico's pure layer 3) on the real kernel, in a lab: no bridge, a /32 route
//! per container to its host end, per-host blocks routed between hosts without encapsulation
//! (`topologies/routed.yaml`) and over VXLAN, dual stack (`tests/fixtures/routed-vxlan.yaml`);
//! traffic within a host, across hosts and between the two routed networks; a container route
//! deleted by hand is drift that `plan` names and `apply` repairs; a container removed from the
//! file is removed everywhere. Checked with `ip -j`, `bridge -j` and `ping`, never with
//! netplan-rs's own reader.

mod common;

use common::*;
use serde_json::Value;

const FILE: &str = "topologies/routed.yaml";
const VXLAN: &str = "tests/fixtures/routed-vxlan.yaml";

/// (host, container, address) of `topologies/routed.yaml`.
const MEMBERS: [(&str, &str, &str); 4] = [
    ("node-1", "web1", "10.48.0.1"),
    ("node-2", "web2", "10.48.0.70"),
    ("node-1", "db1", "10.50.0.1"),
    ("node-3", "mon3", "10.50.3.1"),
];

fn veth_of(container: &str, network: &str) -> String {
    netplan_rs::topology::naming::host_veth_name(container, network)
}

fn route(ns: &str, dst: &str) -> Option<Value> {
    let family = if dst.contains(':') { "-6" } else { "-4" };
    ip_json(ns, &[family, "route", "show", "exact", dst])
        .into_iter()
        .next()
}

/// `(dst, via)` routes out of `dev` on `ns`, owned (protocol 78), and `onlink` if asked.
fn assert_routes(ns: &str, dev: &str, onlink: bool, routes: &[(&str, &str)]) {
    for (dst, via) in routes {
        let r = route(ns, dst).unwrap_or_else(|| panic!("no route to {dst}"));
        assert_eq!(r["gateway"], *via, "{r}");
        assert_eq!(r["dev"], dev, "{r}");
        assert_eq!(r["protocol"], "78", "{r}");
        assert_eq!(has_onlink(&r), onlink, "{r}");
    }
}

fn has_onlink(route: &Value) -> bool {
    route["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "onlink"))
}

/// The addresses on `dev` (`-4` or `-6`), as `address/prefix`.
fn addresses(ns: &str, family: &str, dev: &str) -> Vec<String> {
    ip_json(ns, &[family, "addr", "show", "dev", dev])
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .map(|i| format!("{}/{}", i["local"].as_str().unwrap_or(""), i["prefixlen"]))
        .collect()
}

fn assert_all_pairs_reach(lab: &Lab, members: &[(&str, &str, &str)]) {
    for (host, name, _) in members {
        let ns = lab.container_ns(host, name);
        for (_, other, addr) in members.iter().filter(|m| m.1 != *name) {
            assert!(ping(&ns, addr), "{name} cannot reach {other} ({addr})");
        }
    }
}

/// No bridge anywhere; each host end is a plain (unenslaved) veth holding the gateway, with an
/// owned scope-link /32 route to its container; each remote block is routed via its host's
/// underlay address; the container routes everything via 169.254.1.1 onlink.
fn assert_objects(lab: &Lab) {
    for host in ["node-1", "node-2", "node-3"] {
        let ns = lab.host_ns(host);
        let links = ip_json(&ns, &["link", "show"]);
        assert!(
            !links
                .iter()
                .any(|l| l["linkinfo"]["info_kind"] == "bridge" || l.get("master").is_some()),
            "{host}: a bridge or a port: {links:#?}"
        );
    }
    let n1 = lab.host_ns("node-1");
    let veth = veth_of("web1", "pods");
    let l = link(&n1, &veth).expect("web1's host end");
    assert_eq!(l["linkinfo"]["info_kind"], "veth");
    assert_eq!(addresses(&n1, "-4", &veth), ["169.254.1.1/32"]);
    let r = route(&n1, "10.48.0.1/32").expect("web1's /32 route");
    assert_eq!(r["dev"], veth.as_str());
    assert_eq!(r["scope"], "link");
    assert_eq!(r["protocol"], "78");
    assert!(r.get("gateway").is_none(), "{r}");
    // Blocks: node-2's of pods (allocated in host order), node-3's pinned one of infra.
    assert_routes(
        &n1,
        "eth0",
        false,
        &[
            ("10.48.0.64/26", "192.168.40.12"),
            ("10.50.3.0/26", "192.168.40.13"),
        ],
    );
    let web1 = lab.container_ns("node-1", "web1");
    assert_eq!(addresses(&web1, "-4", "eth0"), ["10.48.0.1/32"]);
    let default = route(&web1, "default").expect("web1's default route");
    assert_eq!(default["gateway"], "169.254.1.1");
    assert_eq!(default["dev"], "eth0");
    assert!(has_onlink(&default), "{default}");
}

#[test]
fn routed_without_encapsulation_lifecycle() {
    let lab = Lab::new("rtn", &repo_file(FILE));
    lab.up();
    lab.wait_settled();
    assert_objects(&lab);
    // Same network across hosts, the other network on one host and across hosts.
    assert_all_pairs_reach(&lab, &MEMBERS);
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("All 12 pairs as expected: 12 reachable (8 routed), 0 isolated."),
        "{}",
        stdout(&verify)
    );
    for host in ["node-1", "node-2", "node-3"] {
        lab.assert_no_changes(host);
    }

    // Drift: web1's /32 route deleted by hand. Nothing reaches web1; plan names exactly that
    // route; apply puts it back.
    let n1 = lab.host_ns("node-1");
    let web2 = lab.container_ns("node-2", "web2");
    let db1 = lab.container_ns("node-1", "db1");
    run("ip", &["-n", &n1, "route", "del", "10.48.0.1/32"]);
    assert!(route(&n1, "10.48.0.1/32").is_none());
    assert!(
        !ping_once(&web2, "10.48.0.1"),
        "web2 reaches web1 without its route"
    );
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    assert!(
        text.contains("# route host/10.48.0.1/32 will be created"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed: {}", stderr(&out));
    assert!(route(&n1, "10.48.0.1/32").is_some(), "route not repaired");
    assert!(ping(&web2, "10.48.0.1"), "web2 does not reach web1 again");
    assert!(ping(&db1, "10.48.0.1"), "db1 does not reach web1 again");
    lab.assert_no_changes("node-1");

    // web1 removed from the file, applied on every host: its veth, /32 route and namespace are
    // gone from node-1; the others keep working, and node-2/node-3 still route node-1's pods
    // block (db1 keeps node-1 in the routed fabric).
    let reduced = temp_topology("rtn", &without_container(&lab.file, "web1"));
    let reduced_lab = Lab {
        name: lab.name.clone(),
        file: reduced.clone(),
    };
    for host in ["node-1", "node-2", "node-3"] {
        let out = reduced_lab.on_host("apply", host, &["--auto-approve"]);
        assert!(out.status.success(), "apply on {host} failed");
    }
    let veth = veth_of("web1", "pods");
    assert!(link(&n1, &veth).is_none(), "web1's host end is left");
    assert!(route(&n1, "10.48.0.1/32").is_none(), "web1's route is left");
    assert!(!netns_exists(&lab.container_ns("node-1", "web1")));
    assert!(route(&lab.host_ns("node-2"), "10.48.0.0/26").is_some());
    let rest: Vec<_> = MEMBERS.iter().copied().filter(|m| m.1 != "web1").collect();
    assert_all_pairs_reach(&lab, &rest);
    for host in ["node-1", "node-2", "node-3"] {
        reduced_lab.assert_no_changes(host);
    }
    std::mem::forget(reduced_lab); // `lab` tears the lab down
    let _ = std::fs::remove_file(&reduced);

    for host in ["node-1", "node-2", "node-3"] {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
        lab.assert_host_clean(host);
    }
}

#[test]
fn routed_over_vxlan_dual_stack() {
    let lab = Lab::new("rtv", &repo_file(VXLAN));
    lab.up();
    lab.wait_settled();
    let (n1, n2) = (lab.host_ns("node-1"), lab.host_ns("node-2"));
    // One VTEP per host, not a bridge port, holding the block's first addresses.
    let vx = link(&n1, "vx-pods").expect("vx-pods");
    assert_eq!(vx["linkinfo"]["info_data"]["id"], 4096);
    assert_eq!(vx["linkinfo"]["info_data"]["learning"], false);
    assert!(vx.get("master").is_none(), "{vx}");
    assert_eq!(vx["mtu"], 1450);
    assert_eq!(addresses(&n1, "-4", "vx-pods"), ["10.48.0.0/32"]);
    assert!(addresses(&n1, "-6", "vx-pods").contains(&"fd00:48::/128".to_string()));
    // node-2's blocks via its VTEP addresses, onlink; its VTEP MAC in a neighbour entry (both
    // families) and one FDB entry towards its underlay address.
    assert_routes(
        &n1,
        "vx-pods",
        true,
        &[
            ("10.48.0.64/26", "10.48.0.64"),
            ("fd00:48::40/122", "fd00:48::40"),
        ],
    );
    let remote_mac = link(&n2, "vx-pods").expect("node-2's vx-pods")["address"].clone();
    let neigh = ip_json(&n1, &["neigh", "show", "dev", "vx-pods"]);
    for ip in ["10.48.0.64", "fd00:48::40"] {
        assert!(
            neigh
                .iter()
                .any(|n| n["dst"] == ip && n["lladdr"] == remote_mac),
            "{neigh:#?}"
        );
    }
    let fdb = fdb_json(&n1, "vx-pods");
    assert!(
        fdb.iter()
            .any(|e| e["mac"] == remote_mac && e["dst"] == "192.168.41.12"),
        "{fdb:#?}"
    );
    // The host end holds both gateways; the container routes IPv6 via fe80::1.
    let veth = veth_of("web1", "pods");
    let mut held = addresses(&n1, "-4", &veth);
    held.extend(addresses(&n1, "-6", &veth));
    assert!(held.contains(&"169.254.1.1/32".to_string()), "{held:?}");
    assert!(held.contains(&"fe80::1/64".to_string()), "{held:?}");
    let web1 = lab.container_ns("node-1", "web1");
    let default6 = ip_json(&web1, &["-6", "route", "show", "default"]);
    assert_eq!(default6[0]["gateway"], "fe80::1", "{default6:#?}");

    let members = [
        ("node-1", "web1", "10.48.0.1"),
        ("node-1", "web1", "fd00:48::1"),
        ("node-2", "web2", "10.48.0.65"),
        ("node-2", "web2", "fd00:48::41"),
        ("node-1", "api1", "10.48.0.2"),
        ("node-1", "api1", "fd00:48::2"),
    ];
    for (host, name, _) in &members {
        let ns = lab.container_ns(host, name);
        for (_, other, addr) in members.iter().filter(|m| m.1 != *name) {
            assert!(
                ping_within(&ns, addr, 10),
                "{name} cannot reach {other} ({addr})"
            );
        }
    }
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    // fe80::1 is read back (a link-local address with our mark): nothing to do.
    lab.assert_no_changes("node-1");
    lab.assert_no_changes("node-2");

    // Drift: the IPv6 gateway removed from web1's host end by hand.
    run(
        "ip",
        &["-n", &n1, "addr", "del", "fe80::1/64", "dev", &veth],
    );
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    assert!(
        text.contains(&format!("# address host/{veth} fe80::1/64 will be created")),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed: {}", stderr(&out));
    lab.assert_no_changes("node-1");
    assert!(ping_within(
        &lab.container_ns("node-2", "web2"),
        "fd00:48::1",
        10
    ));
}

#[test]
fn routed_example_runs_as_a_lab_demo() {
    let lab = Lab::new("rtd", &repo_file(FILE));
    let out = lab.cmd(&["lab", "demo"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("=== plan for simulated host node-3 ==="),
        "{text}"
    );
    assert!(
        text.contains("All 12 pairs as expected: 12 reachable (8 routed), 0 isolated."),
        "{text}"
    );
    assert!(
        lab.namespaces().is_empty(),
        "demo left {:?}",
        lab.namespaces()
    );
}
