//! `lab verify` on the real kernel: isolation is checked, not assumed. Two bridge networks on
//! one host are isolated (`x`), still so with forwarding switched on by hand (their isolation
//! rules drop it), and a LEAK with exit 1 once those rules are deleted by hand with `nft`; a bridge and a routed VXLAN network on one host reach each other through
//! the host (`ok*`), and a route deleted by hand is a FAIL; the dual-stack example is verified over
//! both families; macvlan children in private mode are isolated on one host but not across
//! hosts; the ICMPv6 probe works in a namespace pair. Every verdict is cross-checked
//! with the system `ping`.

mod common;

use common::*;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TWO_BRIDGES: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
networks:
  front: { driver: bridge, subnet: 192.168.1.0/24 }
  back: { driver: bridge, subnet: 192.168.2.0/24 }
containers:
  web: { host: node-1, network: front }
  api: { host: node-1, network: front }
  db: { host: node-1, network: back }
";

/// The matrix row of `name` with its cells, whitespace-normalised.
fn row(text: &str, name: &str) -> String {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn two_bridges_isolated_even_when_forwarding_is_forced_then_leak_without_their_rules() {
    let file = temp_topology("vi", TWO_BRIDGES);
    let lab = Lab::new("vi", &file);
    lab.up();

    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(row(&text, "web"), "web - ok x");
    assert_eq!(row(&text, "api"), "api ok - x");
    assert_eq!(row(&text, "db"), "db x x -");
    assert!(
        text.contains("All 6 pairs as expected: 2 reachable, 4 isolated."),
        "{text}"
    );
    // Independent check of the isolation verify claims.
    let db = lab.container_ns("node-1", "db");
    assert!(!ping(&lab.container_ns("node-1", "web"), "192.168.2.2"));
    assert!(!ping(&db, "192.168.1.2"));

    // Forwarding by hand: the containers default-route via their gateways, so the host would
    // route between the two bridges, but its isolation rules drop that: still isolated.
    let host = lab.host_ns("node-1");
    run(
        "ip",
        &[
            "netns",
            "exec",
            &host,
            "sysctl",
            "-w",
            "net.ipv4.ip_forward=1",
        ],
    );
    assert!(!ping(&db, "192.168.1.2"), "forwarding opened the bridges");
    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(row(&text, "db"), "db x x -");

    // The isolation rules deleted by hand (both: a ping needs the reply too): a leak.
    let listing = nft(
        &host,
        &["-a", "list", "chain", "inet", "netplan-rs", "forward"],
    );
    let handles: Vec<String> = listing
        .lines()
        .filter(|l| l.contains("comment \"isolate "))
        .filter_map(|l| l.split("# handle ").nth(1))
        .map(|h| h.trim().to_string())
        .collect();
    assert_eq!(handles.len(), 2, "{listing}");
    for handle in &handles {
        nft(
            &host,
            &[
                "delete",
                "rule",
                "inet",
                "netplan-rs",
                "forward",
                "handle",
                handle,
            ],
        );
    }
    assert!(
        ping(&db, "192.168.1.2"),
        "forwarding without the rules did not connect the bridges"
    );
    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(row(&text, "web"), "web - ok LEAK");
    assert_eq!(row(&text, "db"), "db LEAK LEAK -");
    assert!(
        text.contains("LEAK db -> web 192.168.1.2 (front): got a reply, expected none: the file does not turn on forwarding in host node-1"),
        "{text}"
    );
    assert!(
        text.contains("4 of 6 pairs not as expected: 0 FAIL, 4 LEAK."),
        "{text}"
    );
    drop(lab);
    let _ = std::fs::remove_file(&file);
}

const BRIDGE_AND_FLANNEL: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  local: { driver: bridge, subnet: 192.168.200.0/24 }
  flannel: { driver: vxlan, mode: routed, vni: 200, subnet: 10.244.0.0/16 }
containers:
  web: { host: node-1, network: local }
  pod1: { host: node-1, network: flannel }
  pod2: { host: node-2, network: flannel }
";

#[test]
fn bridge_and_routed_vxlan_reach_each_other_through_the_host() {
    let file = temp_topology("vr", BRIDGE_AND_FLANNEL);
    let lab = Lab::new("vr", &file);
    lab.up();

    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // web <-> pod1: routed by node-1 (ip_forward is on for flannel). web <-> pod2: node-2 has
    // no route back to node-1's bridge subnet, so isolated.
    assert_eq!(row(&text, "web"), "web - ok* x");
    assert_eq!(row(&text, "pod1"), "pod1 ok* - ok");
    assert_eq!(row(&text, "pod2"), "pod2 x ok -");
    assert!(
        text.contains("All 6 pairs as expected: 4 reachable (2 routed), 2 isolated."),
        "{text}"
    );
    assert!(text.contains("ok*  reachable, as expected (routed between networks)"));
    // Independent checks with the system ping.
    let web = lab.container_ns("node-1", "web");
    let pod1 = lab.container_ns("node-1", "pod1");
    assert!(ping(&web, "10.244.0.2"));
    assert!(ping(&pod1, "192.168.200.2"));
    assert!(!ping(&web, "10.244.1.2"));

    // Break it by hand: pod2 loses its default route, so neither pod can reach the other.
    let pod2 = lab.container_ns("node-2", "pod2");
    run("ip", &["-n", &pod2, "route", "del", "default"]);
    assert!(!ping(&pod1, "10.244.1.2"));
    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(row(&text, "pod1"), "pod1 ok* - FAIL");
    assert_eq!(row(&text, "pod2"), "pod2 x FAIL -");
    assert!(
        text.contains("FAIL pod2 -> pod1 10.244.0.2 (flannel): no reply"),
        "{text}"
    );
    assert!(
        text.contains("2 of 6 pairs not as expected: 2 FAIL, 0 LEAK."),
        "{text}"
    );
    drop(lab);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn dual_stack_example_is_verified_over_both_families() {
    let lab = Lab::new("vd", &repo_file("topologies/dual-stack.yaml"));
    lab.up();
    // The kernel's carrier and link-local work done, so the probes find a settled path.
    lab.wait_settled();
    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // six1 and six2 have IPv6 addresses only: their `ok` comes from the ICMPv6 probe.
    assert_eq!(row(&text, "six1"), "six1 x x x x - ok x");
    assert_eq!(row(&text, "local1"), "local1 x x ok* x x x -");
    assert!(
        text.contains("All 42 pairs as expected: 8 reachable (2 routed), 34 isolated."),
        "{text}"
    );
    // The same with the system ping, and isolation of IPv6 across unrelated networks.
    let six1 = lab.container_ns("node-1", "six1");
    assert!(ping(&six1, "fd00:300::3"));
    assert!(!ping(&six1, "fd00:18::20:2"));
}

const MACVLAN_PRIVATE: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  mv: { driver: macvlan, subnet: 10.77.0.0/24, mode: private }
containers:
  a: { host: node-1, network: mv }
  b: { host: node-1, network: mv }
  c: { host: node-2, network: mv }
";

#[test]
fn macvlan_private_mode_isolates_siblings_on_one_host() {
    let file = temp_topology("vm", MACVLAN_PRIVATE);
    let lab = Lab::new("vm", &file);
    lab.up();
    let out = lab.cmd(&["lab", "verify"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // One network, yet a and b (children of one parent in private mode) must not talk; across
    // hosts the frames go through the switch.
    assert_eq!(row(&text, "a"), "a - x ok");
    assert_eq!(row(&text, "b"), "b x - ok");
    assert_eq!(row(&text, "c"), "c ok ok -");
    assert!(
        text.contains("All 6 pairs as expected: 4 reachable, 2 isolated."),
        "{text}"
    );
    let a = lab.container_ns("node-1", "a");
    assert!(!ping(&a, "10.77.0.3"));
    assert!(ping(&a, "10.77.0.4"));
    drop(lab);
    let _ = std::fs::remove_file(&file);
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Two namespaces joined by a veth pair; deleted on drop.
struct Pair {
    a: String,
    b: String,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        must_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("v6{}{tag}{n}", std::process::id() % 100_000);
        let pair = Pair {
            a: format!("{base}a"),
            b: format!("{base}b"),
        };
        run("ip", &["netns", "add", &pair.a]);
        run("ip", &["netns", "add", &pair.b]);
        run(
            "ip",
            &[
                "-n", &pair.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                "netns", &pair.b,
            ],
        );
        for (ns, addr) in [(&pair.a, "fd00:6::1/64"), (&pair.b, "fd00:6::2/64")] {
            run(
                "ip",
                &["-n", ns, "addr", "add", addr, "dev", "eth0", "nodad"],
            );
            run("ip", &["-n", ns, "link", "set", "eth0", "up"]);
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).output();
        }
    }
}

#[test]
fn icmpv6_ping_in_a_namespace_pair() {
    let pair = Pair::new("p");
    let path = format!("/run/netns/{}", pair.a);
    let probe = |addr: &str| {
        let ip: IpAddr = addr.parse().expect("address");
        netplan_rs::lab::ping(Path::new(&path), ip, 3, Duration::from_secs(1)).expect("ping runs")
    };
    // Both ends activated by the kernel (carrier processed), then an independent check that the
    // pair is wired, then our probe.
    wait_settled(&[pair.a.clone(), pair.b.clone()]);
    assert!(ping(&pair.a, "fd00:6::2"), "system ping -6 fails");
    assert!(probe("fd00:6::2"), "no ICMPv6 echo reply from fd00:6::2");
    // An address nobody holds: neighbour discovery fails, no reply.
    assert!(!probe("fd00:6::3"));
    // No route at all: reported as no reply, not as an error.
    assert!(!probe("fd00:7::1"));
    // The IPv4 path still works through the same entry point.
    run(
        "ip",
        &["-n", &pair.a, "addr", "add", "10.6.0.1/24", "dev", "eth0"],
    );
    run(
        "ip",
        &["-n", &pair.b, "addr", "add", "10.6.0.2/24", "dev", "eth0"],
    );
    assert!(probe("10.6.0.2"));
}
