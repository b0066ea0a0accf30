//! Compile tests of `driver: host-gw` and of containers on several networks (one default route).

use super::test_support::state;
use crate::state::{Ns, Object, State};
use crate::topology::load;
use crate::topology::tests::test_support::parse;

fn routes_in(s: &State, ns: &Ns) -> Vec<String> {
    s.iter()
        .filter(|o| matches!(o, Object::Route(r) if r.ns == *ns))
        .map(|o| o.describe())
        .collect()
}

const THREE: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24, interface: ens3 }
  node-2: { underlay: 10.0.0.2/24, interface: ens4 }
  node-3: { underlay: 10.0.0.3/24 }
  node-4: { underlay: 10.0.0.4/24 }
networks:
  gw: { driver: host-gw, subnet: 10.244.0.0/16, slices: { node-3: 10.244.9.0/24 } }
  local: { driver: bridge, subnet: 192.168.200.0/24 }
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
containers:
  a: { host: node-1, network: gw }
  b: { host: node-2, network: gw }
  c: { host: node-3, network: gw }
  d: { host: node-4, network: local }
";

#[test]
fn one_route_per_peer_via_its_underlay_on_the_local_underlay_interface() {
    let topo = parse(THREE);
    let s = state(&topo, "node-1");
    // node-4 has no container on gw: no route to its slice (10.244.2.0/24).
    assert_eq!(
        routes_in(&s, &Ns::Host),
        [
            "route host/10.244.1.0/24 via=10.0.0.2 dev=ens3",
            "route host/10.244.9.0/24 via=10.0.0.3 dev=ens3",
        ]
    );
    let s2 = state(&topo, "node-2");
    assert_eq!(
        routes_in(&s2, &Ns::Host),
        [
            "route host/10.244.0.0/24 via=10.0.0.1 dev=ens4",
            "route host/10.244.9.0/24 via=10.0.0.3 dev=ens4",
        ]
    );
    // node-3 names no interface: the default underlay interface.
    let s3 = state(&topo, "node-3");
    assert!(
        routes_in(&s3, &Ns::Host)
            .iter()
            .all(|r| r.ends_with("dev=eth0"))
    );
}

#[test]
fn bridge_gateway_forwarding_and_nothing_vxlan() {
    let topo = parse(THREE);
    let s = state(&topo, "node-1");
    let br = s.link(&Ns::Host, "br-gw").expect("br-gw");
    assert_eq!(br.mtu, Some(1500));
    assert!(
        s.iter()
            .any(|o| o.describe() == "address host/br-gw 10.244.0.1/24")
    );
    assert!(
        s.iter()
            .any(|o| o.describe() == "sysctl host/net.ipv4.ip_forward value=1")
    );
    assert!(
        !s.iter()
            .any(|o| matches!(o, Object::Neighbour(_) | Object::Fdb(_)))
    );
    assert!(s.link(&Ns::Host, "vx-gw").is_none());
    assert_eq!(
        routes_in(&s, &Ns::Container("a".into())),
        ["route a/0.0.0.0/0 via=10.244.0.1 dev=eth0"]
    );
    // A host with no container on gw gets none of it.
    assert!(state(&topo, "node-4").link(&Ns::Host, "br-gw").is_none());
}

const MULTI: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  local: { driver: bridge, subnet: 192.168.200.0/24 }
  gw: { driver: host-gw, subnet: 10.244.0.0/16 }
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
containers:
  m: { host: node-1, networks: { overlay: {}, local: {}, gw: {} }, default_route: gw }
  n: { host: node-1, networks: { overlay: {}, local: {}, gw: {} } }
  o: { host: node-1, networks: { overlay: {} } }
  p: { host: node-2, network: gw }
";

#[test]
fn default_route_names_the_attachment_that_carries_it() {
    let topo = parse(MULTI);
    let s = state(&topo, "node-1");
    assert_eq!(
        routes_in(&s, &Ns::Container("m".into())),
        ["route m/0.0.0.0/0 via=10.244.0.1 dev=eth2"]
    );
    // Without `default_route`: the first network with a gateway (local, eth1); gw is sliced, so
    // its other hosts' slices are routed through its gateway on eth2.
    assert_eq!(
        routes_in(&s, &Ns::Container("n".into())),
        [
            "route n/0.0.0.0/0 via=192.168.200.1 dev=eth1",
            "route n/10.244.0.0/16 via=10.244.0.1 dev=eth2",
        ]
    );
    // Only a gateway-less network: no default route at all.
    assert!(routes_in(&s, &Ns::Container("o".into())).is_empty());
}

/// Every container of every example topology (and of the multi-network ones here) gets exactly
/// one default route if any of its networks has a gateway, none otherwise.
#[test]
fn exactly_one_default_route_per_container() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut topos = vec![parse(MULTI), parse(THREE)];
    for entry in std::fs::read_dir(&root).expect("topologies/") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            topos.push(load(&path).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let mut checked = 0;
    for topo in &topos {
        let atts = crate::topology::attachments(topo);
        for host in topo.hosts.keys() {
            let s = state(topo, host);
            for (name, c) in &topo.containers {
                if c.host != *host {
                    continue;
                }
                // Per family (dual stack): one default route if any attachment has a gateway of
                // that family, none otherwise.
                for v6 in [false, true] {
                    let defaults = s
                        .iter()
                        .filter(|o| matches!(o, Object::Route(r) if r.ns == Ns::Container(name.clone()) && r.dst.prefix_len() == 0 && r.dst.addr().is_ipv6() == v6))
                        .count();
                    let any_gateway = atts.iter().any(|a| {
                        a.container == *name
                            && if v6 {
                                a.v6.is_some_and(|x| x.gateway.is_some())
                            } else {
                                a.v4.is_some_and(|x| x.gateway.is_some())
                            }
                    });
                    assert_eq!(
                        defaults,
                        usize::from(any_gateway),
                        "container {name} (IPv6: {v6})"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} containers checked");
}
