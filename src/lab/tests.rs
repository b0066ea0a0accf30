//! Unit tests of `lab verify`'s expectations (the routing model in `reach`) on the example
//! topologies and on hand-written ones, and of the matrix built from probe outcomes. No root.

use super::reach::{Fabric, Place, Reach, underlays};
use super::verify::{Expect, Matrix, Probe, Verdict, expectations};
use crate::state::{Address, Ns, Route, State, Sysctl};
use crate::topology::{Topology, load, load_str};
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;

fn parse(text: &str) -> Topology {
    match load_str(text, "t.yaml") {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn example(stem: &str) -> Topology {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(format!("{stem}.yaml"));
    match load(&path) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// The expectation of every probe as `from -> address: expectation`.
fn table(topo: &Topology) -> Vec<String> {
    let names: Vec<&String> = topo.containers.keys().collect();
    let (probes, _) = expectations(topo, "lab");
    probes
        .iter()
        .map(|p| {
            let expect = match &p.expect {
                Expect::Reachable => "reachable".to_string(),
                Expect::Routed(via) => format!("routed via {}", via.join(",")),
                Expect::Isolated(_) => "isolated".to_string(),
            };
            format!(
                "{} -> {} {}: {expect}",
                names[p.from], names[p.to], p.address
            )
        })
        .collect()
}

#[test]
fn examples_reach_every_pair_on_their_network() {
    for stem in [
        "bridge",
        "vxlan-bridged",
        "vxlan-routed",
        "host-gw",
        "vxlan-ipv6-underlay",
        "macvlan",
        "macvlan-vlan",
        "bridge-nat",
        "routed",
    ] {
        let topo = example(stem);
        let rows = table(&topo);
        let names: Vec<&String> = topo.containers.keys().collect();
        for a in &names {
            for b in names.iter().filter(|b| *b != a) {
                let pair = format!("{a} -> {b} ");
                assert!(rows.iter().any(|r| r.starts_with(&pair)), "{stem}: {pair}");
            }
        }
        // Containers sharing a network reach each other on it; single-network examples have
        // nothing else.
        let (probes, notes) = expectations(&topo, "lab");
        assert!(notes.is_empty(), "{stem}: {notes:?}");
        let all = crate::topology::attachments(&topo);
        for p in &probes {
            let shared = all
                .iter()
                .any(|a| &a.container == names[p.from] && a.network == p.network);
            if shared || topo.networks.len() == 1 {
                assert_eq!(p.expect, Expect::Reachable, "{stem}: {p:?}");
            }
        }
    }
}

#[test]
fn dual_stack_example_probes_both_families() {
    let topo = example("dual-stack");
    let rows = table(&topo);
    // 7 containers, 13 addresses: every address of every other container.
    assert_eq!(rows.len(), 72);
    let reachable: Vec<&String> = rows.iter().filter(|r| !r.ends_with("isolated")).collect();
    assert_eq!(
        reachable,
        [
            "docker1 -> docker2 172.18.20.2: reachable",
            "docker1 -> docker2 fd00:18::20:2: reachable",
            "docker2 -> docker1 172.18.10.2: reachable",
            "docker2 -> docker1 fd00:18::10:2: reachable",
            "web1 -> web2 10.244.1.2: reachable",
            "web1 -> web2 fd00:244:0:1::2: reachable",
            // node-1 forwards both families (flannel sets both sysctls).
            "web1 -> local1 192.168.200.2: routed via node-1",
            "web1 -> local1 fd00:200::2: routed via node-1",
            "web2 -> web1 10.244.0.2: reachable",
            "web2 -> web1 fd00:244::2: reachable",
            "six1 -> six2 fd00:300::3: reachable",
            "six2 -> six1 fd00:300::2: reachable",
            "local1 -> web1 10.244.0.2: routed via node-1",
            "local1 -> web1 fd00:244::2: routed via node-1",
        ]
    );
}

#[test]
fn example_paths_are_direct_or_through_both_hosts() {
    // Bridged VXLAN is one L2 segment across hosts: nobody forwards.
    let topo = example("vxlan-bridged");
    let fabric = Fabric::new(&topo);
    let reach = fabric.reach(&Place::container("node-1", "docker1"), ip("172.18.20.2"));
    assert_eq!(
        reach,
        Reach::Delivered {
            to: Place::container("node-2", "docker2"),
            forwarded_by: vec![]
        }
    );
    // Routed VXLAN (flannel): both hosts forward, over their VTEPs; host-gw: the same over
    // the underlay, next hop the peer's underlay address.
    for (stem, dst) in [("vxlan-routed", "172.18.20.2"), ("host-gw", "172.17.0.2")] {
        let topo = example(stem);
        let fabric = Fabric::new(&topo);
        let reach = fabric.reach(&Place::container("node-1", "docker1"), ip(dst));
        assert_eq!(
            reach,
            Reach::Delivered {
                to: Place::container("node-2", "docker2"),
                forwarded_by: vec![Place::host("node-1"), Place::host("node-2")]
            },
            "{stem}"
        );
    }
}

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

#[test]
fn two_bridges_on_one_host_without_forwarding_are_isolated() {
    let topo = parse(TWO_BRIDGES);
    assert_eq!(
        table(&topo),
        [
            "web -> api 192.168.1.3: reachable",
            "web -> db 192.168.2.2: isolated",
            "api -> web 192.168.1.2: reachable",
            "api -> db 192.168.2.2: isolated",
            "db -> web 192.168.1.2: isolated",
            "db -> api 192.168.1.3: isolated",
        ]
    );
    let web = Place::container("node-1", "web");
    assert_eq!(
        dropped(&Fabric::new(&topo), &web, "192.168.2.2"),
        "the file does not turn on forwarding in host node-1"
    );
}

/// The states of every host of `topo`, after `edit` changed them.
fn fabric_with(topo: &Topology, edit: impl Fn(&str, &mut State)) -> Fabric {
    let states: Vec<(String, State)> = topo
        .hosts
        .keys()
        .map(|h| {
            let mut state = crate::compile::compile(topo, h).expect("compile");
            edit(h, &mut state);
            (h.clone(), state)
        })
        .collect();
    Fabric::from_states(&underlays(topo), &states)
}

/// Why the model drops a packet from `from` to `dst` (request or reply); panics when it
/// arrives.
fn dropped(fabric: &Fabric, from: &Place, dst: &str) -> String {
    match fabric.reach(from, ip(dst)) {
        Reach::Dropped { why } => why,
        other => panic!("{from} -> {dst}: expected a drop, got {other:?}"),
    }
}

/// A host route to `dst` via `via` out of the underlay interface (eth0 in these topologies).
fn host_route(dst: &str, via: &str) -> Route {
    Route {
        ns: Ns::Host,
        dst: dst.parse::<IpNet>().expect("net"),
        gateway: Some(ip(via)),
        dev: "eth0".to_string(),
        onlink: false,
        owned: true,
    }
}

/// An owned address `cidr` on eth0 of namespace `ns`.
fn address(ns: Ns, cidr: &str) -> Address {
    Address {
        ns,
        link: "eth0".to_string(),
        cidr: cidr.parse::<IpNet>().expect("net"),
        owned: true,
    }
}

fn forwarding(state: &mut State) {
    state.insert(Sysctl {
        ns: Ns::Host,
        key: "net.ipv4.ip_forward".to_string(),
        value: "1".to_string(),
    });
}

#[test]
fn forwarding_on_leaves_the_two_bridges_isolated_by_their_drop_rules() {
    // The host's isolation rules (compile/isolation.rs) drop forwarding between its bridges,
    // so forcing ip_forward on by hand still leaves them apart.
    let topo = parse(TWO_BRIDGES);
    let fabric = fabric_with(&topo, |_, s| forwarding(s));
    assert_eq!(
        fabric.reach(&Place::container("node-1", "web"), ip("192.168.2.2")),
        Reach::Dropped {
            why: "the file has host node-1 drop forwarding from br-front to br-back".to_string()
        }
    );
}

#[test]
fn forwarding_on_without_the_drop_rules_routes_between_the_two_bridges() {
    // The forced LEAK of the integration test: the isolation rules deleted by hand and
    // forwarding on; the containers default-route via their gateways, so the host routes.
    let topo = parse(TWO_BRIDGES);
    let fabric = fabric_with(&topo, |_, s| {
        forwarding(s);
        s.objects
            .retain(|_, o| !matches!(o, crate::state::Object::NftRule(_)));
    });
    assert_eq!(
        fabric.reach(&Place::container("node-1", "web"), ip("192.168.2.2")),
        Reach::Delivered {
            to: Place::container("node-1", "db"),
            forwarded_by: vec![Place::host("node-1")]
        }
    );
}

#[test]
fn a_drop_rule_for_one_direction_blocks_the_reply() {
    // Only `isolate br-back -> br-front` left: the request web -> db passes, its reply is
    // dropped; a ping needs both.
    let topo = parse(TWO_BRIDGES);
    let fabric = fabric_with(&topo, |_, s| {
        forwarding(s);
        s.objects.retain(|_, o| {
            !matches!(o, crate::state::Object::NftRule(r) if r.id == "isolate br-front -> br-back")
        });
    });
    assert_eq!(
        fabric.reach(&Place::container("node-1", "web"), ip("192.168.2.2")),
        Reach::Dropped {
            why: "for the reply, the file has host node-1 drop forwarding from br-back to br-front"
                .to_string()
        }
    );
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
fn bridge_and_routed_vxlan_on_one_host_are_routed() {
    let topo = parse(BRIDGE_AND_FLANNEL);
    assert_eq!(
        table(&topo),
        [
            "web -> pod1 10.244.0.2: routed via node-1",
            // node-2 has no route back to node-1's bridge subnet.
            "web -> pod2 10.244.1.2: isolated",
            "pod1 -> web 192.168.200.2: routed via node-1",
            "pod1 -> pod2 10.244.1.2: reachable",
            "pod2 -> web 192.168.200.2: isolated",
            "pod2 -> pod1 10.244.0.2: reachable",
        ]
    );
}

const BRIDGE_ON_TWO_HOSTS: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  local: { driver: bridge, subnet: 192.168.1.0/24 }
containers:
  a: { host: node-1, network: local }
  b: { host: node-2, network: local }
  c: { host: node-2, network: local }
";

#[test]
fn bridge_on_two_hosts_with_one_subnet_is_isolated_across_hosts() {
    // One bridge network, so one subnet, on two hosts: each host has its own bridge with the
    // gateway (docs/architecture.md, Kernel objects per scheme: hosts' bridges are not joined), so only same-host pairs reach.
    let topo = parse(BRIDGE_ON_TWO_HOSTS);
    assert_eq!(
        table(&topo),
        [
            "a -> b 192.168.1.3: isolated",
            "a -> c 192.168.1.4: isolated",
            "b -> a 192.168.1.2: isolated",
            "b -> c 192.168.1.4: reachable",
            "c -> a 192.168.1.2: isolated",
            "c -> b 192.168.1.3: reachable",
        ]
    );
    let a = Place::container("node-1", "a");
    assert_eq!(
        dropped(&Fabric::new(&topo), &a, "192.168.1.3"),
        "the file puts no 192.168.1.3 next to a (on node-1) on eth0"
    );
}

#[test]
fn an_address_the_sender_also_holds_is_local() {
    let topo = parse(BRIDGE_ON_TWO_HOSTS);
    let fabric = fabric_with(&topo, |host, s| {
        if host == "node-1" {
            s.insert(address(Ns::Container("a".to_string()), "192.168.1.3/24"));
        }
    });
    let a = Place::container("node-1", "a");
    assert_eq!(fabric.reach(&a, ip("192.168.1.3")), Reach::Local);
}

#[test]
fn host_gw_routes_fit_the_model() {
    // host-gw as another driver will emit it: each host's slice on its bridge, a route to the
    // peer's slice via the peer's underlay address, and ip_forward. Built by hand here from two
    // bridge networks: no driver knowledge in the model.
    let topo = parse(
        "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  s1: { driver: bridge, subnet: 10.1.1.0/24 }
  s2: { driver: bridge, subnet: 10.1.2.0/24 }
containers:
  a: { host: node-1, network: s1 }
  b: { host: node-2, network: s2 }
",
    );
    let isolated = Fabric::new(&topo);
    let a = Place::container("node-1", "a");
    assert!(matches!(
        isolated.reach(&a, ip("10.1.2.2")),
        Reach::Dropped { .. }
    ));
    let routed = fabric_with(&topo, |host, s| {
        forwarding(s);
        let (dst, via) = if host == "node-1" {
            ("10.1.2.0/24", "10.0.0.2")
        } else {
            ("10.1.1.0/24", "10.0.0.1")
        };
        s.insert(host_route(dst, via));
    });
    assert_eq!(
        routed.reach(&a, ip("10.1.2.2")),
        Reach::Delivered {
            to: Place::container("node-2", "b"),
            forwarded_by: vec![Place::host("node-1"), Place::host("node-2")]
        }
    );
    // Only one way: the reply has no route back.
    let one_way = fabric_with(&topo, |host, s| {
        forwarding(s);
        if host == "node-1" {
            s.insert(host_route("10.1.2.0/24", "10.0.0.2"));
        }
    });
    assert_eq!(
        dropped(&one_way, &a, "10.1.2.2"),
        "for the reply, the file gives host node-2 no route to 10.1.1.2"
    );
}

#[test]
fn a_routing_loop_ends() {
    // Each host sends 10.9.0.0/16 to the other: the packet ping-pongs until the hop limit.
    let topo = parse(BRIDGE_ON_TWO_HOSTS);
    let fabric = fabric_with(&topo, |host, s| {
        forwarding(s);
        let via = if host == "node-1" {
            "10.0.0.2"
        } else {
            "10.0.0.1"
        };
        s.insert(host_route("10.9.0.0/16", via));
    });
    let reach = fabric.reach(&Place::container("node-1", "a"), ip("10.9.9.9"));
    assert_eq!(
        reach,
        Reach::Dropped {
            why: "the file's routes take more than 16 hops to 10.9.9.9".to_string()
        }
    );
}

fn probe(from: usize, to: usize, address: &str, expect: Expect) -> Probe {
    Probe {
        from,
        to,
        netns: PathBuf::from("/run/netns/x"),
        target_netns: PathBuf::from("/run/netns/y"),
        network: "net".to_string(),
        address: ip(address),
        service: crate::lab::policy::Service::Icmp,
        expect,
    }
}

fn names() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

#[test]
fn matrix_all_as_expected() {
    let iso = || Expect::Isolated("dropped".to_string());
    let probes = vec![
        probe(0, 1, "10.0.0.2", Expect::Reachable),
        probe(1, 0, "10.0.0.1", Expect::Reachable),
        probe(0, 2, "10.0.1.3", Expect::Routed(vec!["node-1".into()])),
        probe(2, 0, "10.0.0.1", Expect::Routed(vec!["node-1".into()])),
        probe(1, 2, "10.0.1.3", iso()),
        probe(2, 1, "10.0.0.2", iso()),
    ];
    let outcomes = vec![Ok(true), Ok(true), Ok(true), Ok(true), Ok(false), Ok(false)];
    let m = Matrix::new(names(), probes, outcomes, vec![]);
    assert!(m.passed());
    assert_eq!(m.cells[0][1], Some(Verdict::Ok));
    assert_eq!(m.cells[0][2], Some(Verdict::Routed));
    assert_eq!(m.cells[1][2], Some(Verdict::Isolated));
    assert_eq!(m.cells[1][1], None);
    assert_eq!(
        m.summary(),
        "All 6 pairs as expected: 4 reachable (2 routed), 2 isolated."
    );
    assert_eq!(
        m.report(),
        "\
from \\ to  a          b          c
a          -          ok         ok*
b          ok         -          x
c          ok*        x          -

ok   reachable, as expected (same network)     ok*  reachable, as expected (routed between networks)
x    isolated, as expected                     FAIL expected reachable, no reply
LEAK expected isolated, got a reply            ?    not probed (see notes)

All 6 pairs as expected: 4 reachable (2 routed), 2 isolated.
"
    );
}

#[test]
fn matrix_reports_fail_and_leak() {
    let probes = vec![
        probe(0, 1, "10.0.0.2", Expect::Reachable),
        // Two addresses of c from a: one fine, one leaking; the cell is a LEAK.
        probe(0, 2, "10.0.1.3", Expect::Reachable),
        probe(
            0,
            2,
            "10.0.2.3",
            Expect::Isolated("the file does not turn on forwarding in host n1".into()),
        ),
        probe(1, 0, "10.0.0.1", Expect::Reachable),
    ];
    let outcomes = vec![
        Ok(false),
        Ok(true),
        Ok(true),
        Err("/run/netns/x: No such file".to_string()),
    ];
    let m = Matrix::new(names(), probes, outcomes, vec![(2, 0, "note".to_string())]);
    assert!(!m.passed());
    assert_eq!(m.cells[0][1], Some(Verdict::Fail));
    assert_eq!(m.cells[0][2], Some(Verdict::Leak));
    assert_eq!(m.cells[1][0], Some(Verdict::Fail));
    assert_eq!(m.cells[2][0], Some(Verdict::Untested));
    assert_eq!(m.summary(), "3 of 3 pairs not as expected: 2 FAIL, 1 LEAK.");
    assert_eq!(
        m.problems,
        [
            "FAIL a -> b 10.0.0.2 (net): no reply",
            "LEAK a -> c 10.0.2.3 (net): got a reply, expected none: the file does not turn on forwarding in host n1",
            "FAIL b -> a 10.0.0.1 (net): probe failed: /run/netns/x: No such file",
        ]
    );
    assert_eq!(m.notes, ["c -> a: not probed, note"]);
}

#[test]
fn every_address_of_a_multi_network_target_is_probed() {
    let topo = parse(
        "version: 1
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
",
    );
    assert_eq!(
        table(&topo),
        [
            "multi -> web 192.168.200.3: reachable",
            "multi -> far 10.244.1.2: reachable",
            "web -> multi 192.168.200.2: reachable",
            // node-1 forwards (host-gw), and multi answers straight back on the bridge.
            "web -> multi 10.244.0.2: routed via node-1",
            // node-2 has no route back to node-1's bridge subnet.
            "web -> far 10.244.1.2: isolated",
            "far -> multi 192.168.200.2: isolated",
            "far -> multi 10.244.0.2: reachable",
            "far -> web 192.168.200.3: isolated",
        ]
    );
}

const MACVLAN: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  mv: { driver: macvlan, subnet: 10.77.0.0/24, host_interface: true }
containers:
  a: { host: node-1, network: mv }
  b: { host: node-1, network: mv }
  c: { host: node-2, network: mv }
";

/// Set the mode of the macvlan links of the containers named in `containers` to `mode`.
fn macvlan_mode(state: &mut State, containers: &[&str], mode: &str) {
    for object in state.objects.values_mut() {
        if let crate::state::Object::Link(link) = object
            && let crate::state::LinkKind::Macvlan(mv) = &mut link.kind
            && matches!(&link.ns, Ns::Container(c) if containers.contains(&c.as_str()))
        {
            mv.mode = mode.to_string();
        }
    }
}

#[test]
fn macvlan_children_share_the_parent_segment_across_hosts() {
    let topo = parse(MACVLAN);
    let rows = table(&topo);
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert!(row.ends_with(": reachable"), "{row}");
    }
    let fabric = Fabric::new(&topo);
    // The host's own child (host_interface) is a sibling in bridge mode: the host reaches a.
    let host = Place::host("node-1");
    assert!(matches!(
        fabric.reach(&host, ip("10.77.0.2")),
        Reach::Delivered { .. }
    ));
}

#[test]
fn macvlan_private_children_do_not_talk_to_siblings() {
    let topo = parse(MACVLAN);
    let fabric = fabric_with(&topo, |_, s| macvlan_mode(s, &["a", "b"], "private"));
    let a = Place::container("node-1", "a");
    // b: same parent, private: nothing. c: another host's parent, through the switch: fine.
    assert_eq!(
        dropped(&fabric, &a, "10.77.0.3"),
        "the file puts no 10.77.0.3 next to a (on node-1) on eth0"
    );
    assert!(matches!(
        fabric.reach(&a, ip("10.77.0.4")),
        Reach::Delivered { .. }
    ));
}

#[test]
fn macvlan_child_never_talks_to_its_parent() {
    // Without host_interface, an address in the subnet on the parent itself does not help: the
    // documented macvlan limitation.
    let topo = parse(&MACVLAN.replace(", host_interface: true", ""));
    let fabric = fabric_with(&topo, |host, s| {
        if host == "node-1" {
            s.insert(address(Ns::Host, "10.77.0.200/24"));
        }
    });
    let host = Place::host("node-1");
    assert!(matches!(
        fabric.reach(&host, ip("10.77.0.2")),
        Reach::Dropped { .. }
    ));
    // The other host's container, over the switch, answers the same address.
    assert!(matches!(
        fabric.reach(&host, ip("10.77.0.4")),
        Reach::Delivered { .. }
    ));
}

#[test]
fn a_nat_bridge_forwards_but_the_bridges_of_its_host_stay_isolated() {
    // `nat: true` needs ip_forward; the isolation rules (as Docker's) keep front and back apart
    // on node-1 all the same. Across hosts nothing routes the bridge subnets.
    let topo = parse(
        "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  front: { driver: bridge, subnet: 192.168.1.0/24, nat: true }
  back: { driver: bridge, subnet: 192.168.2.0/24 }
containers:
  web: { host: node-1, network: front }
  db: { host: node-1, network: back }
  far: { host: node-2, network: front }
",
    );
    assert_eq!(
        table(&topo),
        [
            "web -> db 192.168.2.2: isolated",
            "web -> far 192.168.1.3: isolated",
            "db -> web 192.168.1.2: isolated",
            "db -> far 192.168.1.3: isolated",
            "far -> web 192.168.1.2: isolated",
            "far -> db 192.168.2.2: isolated",
        ]
    );
}

#[test]
fn routed_networks_reach_each_other_within_and_across_hosts() {
    // Pure layer 3 (Calico): the same network and the other one, on one host and across hosts,
    // every path through the hosts, none isolated.
    let topo = example("routed");
    let rows = table(&topo);
    assert_eq!(rows.len(), 12, "{rows:#?}");
    for row in &rows {
        assert!(!row.ends_with("isolated"), "{row}");
    }
    for row in [
        "web1 -> db1 10.50.0.1: routed via node-1",
        "web1 -> mon3 10.50.3.1: routed via node-1,node-3",
        "web2 -> db1 10.50.0.1: routed via node-1,node-2",
    ] {
        assert!(rows.contains(&row.to_string()), "{rows:#?}");
    }
}

/// The fixture's policies: per protocol, what the file allows is expected reachable and the
/// rest isolated, with the policy named; TCP and UDP probes go to the ports the policies of
/// either side name.
#[test]
fn policies_decide_per_protocol() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy.yaml");
    let topo = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&String> = topo.containers.keys().collect();
    let (probes, _) = expectations(&topo, "lab");
    let rows: Vec<String> = probes
        .iter()
        .map(|p| {
            let expect = match &p.expect {
                Expect::Reachable => "reachable",
                Expect::Routed(_) => "routed",
                Expect::Isolated(_) => "isolated",
            };
            format!(
                "{} -> {} {} {}: {expect}",
                names[p.from], names[p.to], p.address, p.service
            )
        })
        .collect();
    for want in [
        "client -> web1 10.50.0.1 icmp: reachable",
        "client -> web1 10.50.0.1 tcp/80: reachable",
        "client -> api1 10.50.0.2 icmp: isolated",
        "client -> api1 10.50.0.2 tcp/8080: isolated",
        "web1 -> api1 10.50.0.2 tcp/8080: reachable",
        "web2 -> api1 fd00:50::2 tcp/8080: reachable",
        "api1 -> db1 10.50.0.66 tcp/5432: reachable",
        "web1 -> db1 10.50.0.66 tcp/5432: isolated",
        "api1 -> client 10.50.0.3 udp/5353: reachable",
        // The udp rule's block is IPv4 only.
        "api1 -> client fd00:50::3 udp/5353: isolated",
        "db1 -> client 10.50.0.3 icmp: isolated",
        // lb (bridge network, labelled web) is one of api's peers, routed through node-1.
        "lb -> api1 10.50.0.2 tcp/8080: routed",
        // client is selected by nothing: open, and only pinged (no policy names a port).
        "web1 -> client 10.50.0.3 icmp: reachable",
    ] {
        assert!(rows.iter().any(|r| r == want), "{want} not in {rows:#?}");
    }
    assert!(
        !rows
            .iter()
            .any(|r| r.starts_with("web1 -> client") && !r.contains("icmp")),
        "{rows:#?}"
    );
    let denied = probes
        .iter()
        .find(|p| names[p.from] == "client" && names[p.to] == "api1")
        .expect("client -> api1");
    assert_eq!(
        denied.expect,
        Expect::Isolated(
            "policy denies it: the target's ingress is isolated by policy api, and no rule \
             allows icmp from 10.50.0.3"
                .into()
        )
    );
}
