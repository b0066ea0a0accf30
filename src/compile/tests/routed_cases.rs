//! Compile tests of `driver: routed`: no bridge, /32 routes to host ends, the routed fabric
//! (every routed host routes every routed network's remote blocks), IPv6-only over an IPv6
//! underlay, and a container on a routed and a bridge network.

use super::test_support::state;
use crate::state::{LinkKind, Ns, Object, State};
use crate::topology::naming::host_veth_name;
use crate::topology::tests::test_support::parse;

fn lines(s: &State, ns: &Ns, kind: &str) -> Vec<String> {
    s.iter()
        .filter(|o| o.key().ns() == *ns && o.key().kind() == kind)
        .map(Object::describe)
        .collect()
}

const FABRIC: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
  node-3: { underlay: 10.0.0.3/24 }
  node-4: { underlay: 10.0.0.4/24 }
networks:
  pods: { driver: routed, subnet: 10.48.0.0/16 }
  infra: { driver: routed, subnet: 10.49.0.0/16, block_prefix: 24 }
  local: { driver: bridge, subnet: 192.168.200.0/24 }
containers:
  a: { host: node-1, network: pods }
  b: { host: node-2, network: infra }
  m: { host: node-2, networks: { local: {}, pods: {} } }
  z: { host: node-4, network: local }
";

#[test]
fn no_bridge_and_a_host_route_per_container() {
    let topo = parse(FABRIC);
    let s = state(&topo, "node-1");
    let links: Vec<_> = s
        .iter()
        .filter_map(|o| match o {
            Object::Link(l) => Some(l),
            _ => None,
        })
        .collect();
    assert!(links.iter().all(|l| !matches!(l.kind, LinkKind::Bridge)));
    assert!(links.iter().all(|l| l.master.is_none()));
    let veth = host_veth_name("a", "pods");
    assert_eq!(
        lines(&s, &Ns::Host, "address"),
        [format!("address host/{veth} 169.254.1.1/32")]
    );
    assert!(lines(&s, &Ns::Host, "route").contains(&format!("route host/10.48.0.1/32 dev={veth}")));
    assert_eq!(
        lines(&s, &Ns::Container("a".into()), "route"),
        ["route a/0.0.0.0/0 via=169.254.1.1 dev=eth0 onlink=true"]
    );
}

#[test]
fn every_routed_host_routes_every_routed_networks_remote_blocks() {
    let topo = parse(FABRIC);
    // node-1 has no infra container: it routes infra's blocks all the same.
    let s1 = state(&topo, "node-1");
    let routes = lines(&s1, &Ns::Host, "route");
    for want in [
        "route host/10.48.0.64/26 via=10.0.0.2 dev=eth0",
        "route host/10.49.1.0/24 via=10.0.0.2 dev=eth0",
    ] {
        assert!(routes.contains(&want.to_string()), "{routes:#?}");
    }
    // node-3 and node-4 have no routed container: not in the fabric, no routes to them.
    assert!(
        !routes
            .iter()
            .any(|r| r.contains("10.0.0.3") || r.contains("10.0.0.4"))
    );
    assert!(lines(&state(&topo, "node-3"), &Ns::Host, "route").is_empty());
    assert!(
        !state(&topo, "node-4")
            .iter()
            .any(|o| matches!(o, Object::Route(r) if r.ns == Ns::Host))
    );
}

#[test]
fn a_second_network_that_is_routed_gets_its_subnet_via_the_link_local_gateway() {
    let topo = parse(FABRIC);
    let s = state(&topo, "node-2");
    assert_eq!(
        lines(&s, &Ns::Container("m".into()), "route"),
        [
            "route m/0.0.0.0/0 via=192.168.200.1 dev=eth0",
            "route m/10.48.0.0/16 via=169.254.1.1 dev=eth1 onlink=true",
        ]
    );
}

#[test]
fn ipv6_only_over_an_ipv6_underlay() {
    let topo = parse(
        "version: 1
hosts:
  node-1: { underlay: \"fd00:1::1/64\" }
  node-2: { underlay: \"fd00:1::2/64\" }
networks:
  pods: { driver: routed, subnet: \"fd00:48::/64\" }
containers:
  a: { host: node-1, network: pods }
  b: { host: node-2, network: pods }
",
    );
    let s = state(&topo, "node-1");
    let veth = host_veth_name("a", "pods");
    assert_eq!(
        lines(&s, &Ns::Host, "route"),
        [
            format!("route host/fd00:48::1/128 dev={veth}"),
            "route host/fd00:48::40/122 via=fd00:1::2 dev=eth0".to_string(),
        ]
    );
    assert_eq!(
        lines(&s, &Ns::Host, "address"),
        [format!("address host/{veth} fe80::1/64")]
    );
    assert_eq!(
        lines(&s, &Ns::Host, "sysctl"),
        ["sysctl host/net.ipv6.conf.all.forwarding value=1"]
    );
    assert_eq!(
        lines(&s, &Ns::Container("a".into()), "route"),
        ["route a/::/0 via=fe80::1 dev=eth0"]
    );
}
