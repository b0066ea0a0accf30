//! Compile tests of `default_route: false`: no `0.0.0.0/0` nor `::/0` route in the container,
//! while sliced networks (routed VXLAN, host-gw) keep their whole-subnet route via the slice
//! gateway so the other hosts' slices stay reachable.

use super::test_support::state;
use crate::state::{Ns, Object, State};
use crate::topology::tests::test_support::parse;

fn routes_in(s: &State, container: &str) -> Vec<String> {
    let ns = Ns::Container(container.into());
    s.iter()
        .filter(|o| matches!(o, Object::Route(r) if r.ns == ns))
        .map(|o| o.describe())
        .collect()
}

const TOPO: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24, interface: eth0 }
  node-2: { underlay: 10.0.0.2/24, interface: eth0 }
networks:
  l: { driver: bridge, subnet: 192.168.1.0/24, subnet6: 'fd00:1::/64' }
  f: { driver: vxlan, mode: routed, vni: 2, subnet: 10.244.0.0/16, subnet6: 'fd00:244::/56' }
  g: { driver: host-gw, subnet: 10.245.0.0/16 }
  m: { driver: macvlan, subnet: 172.100.1.0/24, gateway: 172.100.1.1 }
containers:
  routed: { host: node-1, network: f, default_route: false }
  hostgw: { host: node-1, network: g, default_route: false }
  bridged: { host: node-1, network: l, default_route: false }
  mac: { host: node-1, network: m, default_route: false }
  multi: { host: node-1, networks: { l: {}, f: {}, g: {} }, default_route: false }
  usual: { host: node-1, networks: { l: {}, f: {}, g: {} } }
  peer-f: { host: node-2, network: f }
  peer-g: { host: node-2, network: g }
";

#[test]
fn no_default_route_of_either_family_but_the_sliced_subnets_stay_routed() {
    let topo = parse(TOPO);
    let s = state(&topo, "node-1");
    assert_eq!(
        routes_in(&s, "routed"),
        [
            "route routed/10.244.0.0/16 via=10.244.0.1 dev=eth0",
            "route routed/fd00:244::/56 via=fd00:244::1 dev=eth0",
        ]
    );
    assert_eq!(
        routes_in(&s, "hostgw"),
        ["route hostgw/10.245.0.0/16 via=10.245.0.1 dev=eth0"]
    );
    // A bridge's and a macvlan's subnets are on-link: nothing to route at all.
    assert!(routes_in(&s, "bridged").is_empty());
    assert!(routes_in(&s, "mac").is_empty());
    assert_eq!(
        routes_in(&s, "multi"),
        [
            "route multi/10.244.0.0/16 via=10.244.0.1 dev=eth1",
            "route multi/10.245.0.0/16 via=10.245.0.1 dev=eth2",
            "route multi/fd00:244::/56 via=fd00:244::1 dev=eth1",
        ]
    );
    // The same container without `default_route: false` has both default routes (the
    // baseline this test would silently pass against if the flag did nothing).
    assert_eq!(
        routes_in(&s, "usual"),
        [
            "route usual/0.0.0.0/0 via=192.168.1.1 dev=eth0",
            "route usual/10.244.0.0/16 via=10.244.0.1 dev=eth1",
            "route usual/10.245.0.0/16 via=10.245.0.1 dev=eth2",
            "route usual/::/0 via=fd00:1::1 dev=eth0",
            "route usual/fd00:244::/56 via=fd00:244::1 dev=eth1",
        ]
    );
    let defaults = s
        .iter()
        .filter(|o| matches!(o, Object::Route(r) if r.dst.prefix_len() == 0 && r.ns != Ns::Container("usual".into()) && r.ns != Ns::Host))
        .count();
    assert_eq!(defaults, 0);
}

#[test]
fn the_host_side_is_unchanged_by_the_flag() {
    // Peers' routes, neighbours and FDB entries do not depend on the container's default route.
    let off = parse(TOPO);
    let on = parse(&TOPO.replace(", default_route: false", ""));
    assert_ne!(off, on);
    assert_eq!(state(&off, "node-2"), state(&on, "node-2"));
    let host_side = |s: State| -> Vec<String> {
        s.iter()
            .filter(|o| o.key().ns() == Ns::Host)
            .map(|o| o.describe())
            .collect()
    };
    let local = host_side(state(&off, "node-1"));
    assert!(local.len() > 10, "{local:?}");
    assert_eq!(local, host_side(state(&on, "node-1")));
}
