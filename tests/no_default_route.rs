//! `default_route: false` on the real kernel, in a lab: an existing namespace (a process from
//! `unshare --net`, like a Docker container not started with `--net=none`) already has its own
//! `eth0` and its own IPv4 and IPv6 default routes, which netplan-rs does not own.
//!
//! Without `default_route: false` the plan is a conflict naming the routes (exit 1, nothing
//! applied). With it: no conflict, apply succeeds, the namespace's own default routes are
//! untouched (`ip -j route`), only whole-subnet routes of the sliced networks are added, and
//! traffic flows across hosts on a host-gw network and a dual-stack routed VXLAN network
//! (IPv4 and IPv6 `ping`). Destroy leaves the namespace's own routes in place.

mod common;

use common::*;
use serde_json::Value;

/// host-gw `g` and dual-stack routed VXLAN `f` over two hosts; `proc` is the existing
/// namespace (its `eth0` is its own, so ours are eth1 and eth2), `far` a managed peer.
fn topology(pid: u32, default_route: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 192.168.86.1/24 }}
  node-2: {{ underlay: 192.168.86.2/24 }}
networks:
  g: {{ driver: host-gw, subnet: 10.86.0.0/16 }}
  f: {{ driver: vxlan, mode: routed, vni: 86, subnet: 10.87.0.0/16, subnet6: 'fd00:87::/56' }}
containers:
  proc:
    host: node-1
    networks:
      g: {{ interface: eth1, address: 10.86.0.5 }}
      f: {{ interface: eth2, address: 10.87.0.5, address6: 'fd00:87::5' }}
    netns: {{ pid: {pid} }}{default_route}
  far: {{ host: node-2, networks: {{ g: {{ address: 10.86.1.5 }}, f: {{ address: 10.87.1.5, address6: 'fd00:87:0:1::5' }} }} }}
"
    )
}

/// The process's own `eth0` (a veth pair kept inside its namespace) with its own default
/// routes, as Docker leaves a container it started on its bridge.
fn own_default_routes(proc: &NetnsProcess) {
    proc.run(
        "ip",
        &[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ],
    );
    proc.run("ip", &["addr", "add", "10.123.0.2/24", "dev", "eth0"]);
    proc.run(
        "ip",
        &["addr", "add", "fd00:123::2/64", "dev", "eth0", "nodad"],
    );
    proc.run("ip", &["link", "set", "eth0p", "up"]);
    proc.run("ip", &["link", "set", "eth0", "up"]);
    proc.run("ip", &["route", "add", "default", "via", "10.123.0.1"]);
    proc.run(
        "ip",
        &[
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd00:123::1",
            "dev",
            "eth0",
        ],
    );
}

/// The default route of one family: exactly one, the process's own (via eth0, not ours).
fn assert_own_default(proc: &NetnsProcess, family: &str, gateway: &str) {
    let routes = proc.ip_json(&[family, "route", "show", "default"]);
    assert_eq!(routes.len(), 1, "{family}: {routes:?}");
    assert_eq!(routes[0]["gateway"], gateway, "{routes:?}");
    assert_eq!(routes[0]["dev"], "eth0", "{routes:?}");
    assert_ne!(routes[0]["protocol"], "78", "{routes:?}");
}

#[test]
fn false_leaves_an_existing_default_route_alone_and_traffic_flows() {
    must_root();
    let proc = NetnsProcess::start();
    own_default_routes(&proc);
    let lab = Lab::new("nodef", &temp_topology("nodef", &topology(proc.pid(), "")));

    // Without `default_route: false`: g's gateway would carry the default route (and f's the
    // IPv6 one), whose keys are taken by the process's own routes: a conflict, nothing applied
    // (the hosts are built first, so the failed `lab up` leaves them to look at).
    lab.up_hosts_only();
    let up = lab.cmd(&["lab", "up"], &[]);
    assert!(!up.status.success(), "lab up applied over a foreign route");
    let plan = lab.on_host("plan", "node-1", &[]);
    assert_eq!(plan.status.code(), Some(1), "plan did not fail");
    let said = format!("{}{}", stdout(&plan), String::from_utf8_lossy(&plan.stderr));
    assert!(said.contains("route proc/0.0.0.0/0"), "{said}");
    assert!(said.contains("route proc/::/0"), "{said}");
    assert_eq!(
        proc.ip_json(&["route", "show", "proto", "78"]),
        Vec::<Value>::new()
    );

    // With it: applies on both hosts.
    std::fs::write(
        &lab.file,
        topology(proc.pid(), "\n    default_route: false"),
    )
    .expect("writing topology");
    let plan = lab.on_host("plan", "node-1", &[]);
    assert_eq!(plan.status.code(), Some(0), "plan still fails");
    assert!(!stdout(&plan).contains("0.0.0.0/0"), "{}", stdout(&plan));
    lab.up();

    // The process's own default routes are untouched; ours are the sliced subnets only.
    assert_own_default(&proc, "-4", "10.123.0.1");
    assert_own_default(&proc, "-6", "fd00:123::1");
    let ours: Vec<(String, String, String)> = ["-4", "-6"]
        .iter()
        .flat_map(|f| proc.ip_json(&[f, "route", "show", "proto", "78"]))
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("dst"), s("gateway"), s("dev"))
        })
        .collect();
    let want = |d: &str, g: &str, dev: &str| (d.to_string(), g.to_string(), dev.to_string());
    assert_eq!(
        ours,
        [
            want("10.86.0.0/16", "10.86.0.1", "eth1"),
            want("10.87.0.0/16", "10.87.0.1", "eth2"),
            want("fd00:87::/56", "fd00:87::1", "eth2"),
        ]
    );

    // Traffic across hosts on both networks, both ways, IPv4 and IPv6.
    let far = lab.container_ns("node-2", "far");
    for addr in ["10.86.1.5", "10.87.1.5", "fd00:87:0:1::5"] {
        assert!(proc.ping(addr), "proc cannot reach far at {addr}");
    }
    for addr in ["10.86.0.5", "10.87.0.5", "fd00:87::5"] {
        assert!(ping_tries(&far, addr, 5), "far cannot reach proc at {addr}");
    }
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "lab verify failed");
    assert!(stdout(&verify).contains("All 2 pairs as expected: 2 reachable, 0 isolated."));

    // Nothing left to do; destroy removes ours and leaves the process's own routes.
    let plan = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "plan after apply is not empty");
    let destroy = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert!(destroy.status.success(), "destroy failed");
    assert_own_default(&proc, "-4", "10.123.0.1");
    assert_own_default(&proc, "-6", "fd00:123::1");
    assert!(proc.ip_json(&["route", "show", "proto", "78"]).is_empty());
}
