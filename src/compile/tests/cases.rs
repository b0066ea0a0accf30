//! Behavioural tests of compile beyond the golden files: which hosts get what, and invariants.

use super::test_support::state;
use crate::compile::{CompileError, compile};
use crate::state::{Object, ObjectKey, State};
use crate::topology::tests::test_support::parse;

fn count(state: &State, kind: &str) -> usize {
    state.iter().filter(|o| o.key().kind() == kind).count()
}

const THREE: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
  node-3: { underlay: 10.0.0.3/24 }
networks:
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
  flannel: { driver: vxlan, mode: routed, vni: 200, subnet: 10.244.0.0/16 }
  local: { driver: bridge, subnet: 192.168.200.0/24 }
containers:
  a: { host: node-1, networks: { overlay: {}, local: {}, flannel: {} } }
  b: { host: node-2, network: overlay }
  c: { host: node-2, network: overlay }
  d: { host: node-2, network: local }
  e: { host: node-2, network: flannel }
";

#[test]
fn unknown_host_is_an_error() {
    let topo = parse(THREE);
    let err = compile(&topo, "node-9").unwrap_err();
    assert!(matches!(err, CompileError::UnknownHost { ref host, .. } if host == "node-9"));
    assert!(err.to_string().contains("node-1, node-2, node-3"), "{err}");
}

#[test]
fn host_without_containers_gets_nothing() {
    let topo = parse(THREE);
    assert!(state(&topo, "node-3").is_empty());
}

#[test]
fn bridged_peers_get_every_remote_container() {
    let topo = parse(THREE);
    let s = state(&topo, "node-1");
    let on_vx = |kind: &str| {
        s.iter()
            .filter(|o| {
                o.key().kind() == kind && o.key().link().is_some_and(|l| l == link("vx-overlay"))
            })
            .count()
    };
    assert_eq!(on_vx("neighbour"), 2, "b and c on node-2");
    assert_eq!(on_vx("fdb"), 2);
}

fn link(name: &str) -> ObjectKey {
    ObjectKey::Link {
        ns: crate::state::Ns::Host,
        name: name.to_string(),
    }
}

#[test]
fn routed_peers_are_hosts_with_containers_on_the_network() {
    let topo = parse(THREE);
    let s = state(&topo, "node-1");
    let routes: Vec<String> = s
        .iter()
        .filter(|o| matches!(o, Object::Route(r) if r.ns == crate::state::Ns::Host))
        .map(|o| o.describe())
        .collect();
    // node-2 (slice 10.244.1.0/24) is a peer; node-3 has no container on flannel: no route.
    assert_eq!(
        routes,
        ["route host/10.244.1.0/24 via=10.244.1.0 dev=vx-flannel onlink=true"]
    );
}

#[test]
fn bridge_networks_are_not_joined_across_hosts() {
    let topo = parse(THREE);
    for host in ["node-1", "node-2"] {
        let s = state(&topo, host);
        assert!(
            s.link(&crate::state::Ns::Host, "br-local").is_some(),
            "{host}"
        );
        assert!(
            !s.iter()
                .any(|o| o.key().link().is_some_and(|l| l == link("br-local"))
                    && matches!(o, Object::Neighbour(_) | Object::Fdb(_)))
        );
    }
}

#[test]
fn several_networks_one_default_route() {
    let topo = parse(THREE);
    let s = state(&topo, "node-1");
    let a_routes: Vec<String> = s
        .iter()
        .filter(|o| {
            o.key().ns() == crate::state::Ns::Container("a".into()) && o.key().kind() == "route"
        })
        .map(|o| o.describe())
        .collect();
    // overlay (eth0) has no gateway; local (eth1) is the first with one. flannel (eth2) is
    // sliced: the other hosts' slices are reached through its gateway.
    assert_eq!(
        a_routes,
        [
            "route a/0.0.0.0/0 via=192.168.200.1 dev=eth1",
            "route a/10.244.0.0/16 via=10.244.0.1 dev=eth2"
        ]
    );
    for iface in ["eth0", "eth1", "eth2"] {
        assert!(
            s.link(&crate::state::Ns::Container("a".into()), iface)
                .is_some(),
            "{iface}"
        );
    }
    assert_eq!(count(&s, "namespace"), 1);
}

#[test]
fn everything_desired_is_owned_except_sysctls() {
    let topo = parse(THREE);
    for host in ["node-1", "node-2"] {
        for o in state(&topo, host).iter() {
            assert_eq!(
                o.owned(),
                !matches!(o, Object::Sysctl(_)),
                "{}",
                o.describe()
            );
        }
    }
}

#[test]
fn vtep_macs_agree_between_hosts() {
    // node-2's FDB entry for node-1 must carry the MAC node-1 gives its own VTEP.
    let topo = parse(THREE);
    let n1 = state(&topo, "node-1");
    let n2 = state(&topo, "node-2");
    let own = n1
        .link(&crate::state::Ns::Host, "vx-flannel")
        .and_then(|l| l.mac);
    let seen: Vec<_> = n2
        .iter()
        .filter_map(|o| match o {
            Object::Fdb(f) if f.link == "vx-flannel" => Some(f.mac),
            _ => None,
        })
        .collect();
    assert_eq!(seen, own.into_iter().collect::<Vec<_>>());
}

#[test]
fn veth_ends_point_at_each_other_and_masters_exist() {
    use crate::state::{LinkKind, VethPeer};
    let topo = parse(THREE);
    for host in ["node-1", "node-2"] {
        let s = state(&topo, host);
        for o in s.iter() {
            let Object::Link(l) = o else { continue };
            if let Some(master) = &l.master {
                assert!(
                    s.link(&l.ns, master).is_some(),
                    "{}: no master",
                    o.describe()
                );
            }
            if let LinkKind::Veth { peer } = &l.kind {
                let Some(VethPeer { ns, name }) = peer else {
                    panic!("{}: desired veth without peer", o.describe())
                };
                let back = s.link(ns, name).map(|p| p.kind.clone());
                let want = LinkKind::Veth {
                    peer: Some(VethPeer {
                        ns: l.ns.clone(),
                        name: l.name.clone(),
                    }),
                };
                assert_eq!(back, Some(want), "{}", o.describe());
            }
        }
    }
}

#[test]
fn container_interfaces_have_ipv6_only_where_their_network_does_or_they_ask() {
    let topo = parse(
        "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
networks:
  four: { driver: bridge, subnet: 10.31.0.0/24 }
  dual: { driver: bridge, subnet: 10.32.0.0/24, subnet6: 'fd00:32::/64' }
  mv: { driver: macvlan, parent: eth0, subnet: 10.0.0.0/24 }
containers:
  a: { host: node-1, network: four }
  b: { host: node-1, network: dual }
  c: { host: node-1, network: four, ipv6_link_local: true }
  d: { host: node-1, networks: { four: {}, dual: {} } }
  m: { host: node-1, network: mv }
",
    );
    let s = state(&topo, "node-1");
    let ipv6 = |ns: &str, dev: &str| {
        s.link(&crate::state::Ns::Container(ns.into()), dev)
            .unwrap_or_else(|| panic!("no link {ns}/{dev}"))
            .ipv6
    };
    assert_eq!(ipv6("a", "eth0"), Some(false));
    assert_eq!(ipv6("b", "eth0"), Some(true));
    assert_eq!(ipv6("c", "eth0"), Some(true));
    assert_eq!(ipv6("d", "eth0"), Some(false));
    assert_eq!(ipv6("d", "eth1"), Some(true));
    assert_eq!(ipv6("m", "eth0"), Some(false));
    // The host ends are left to the kernel.
    assert!(s.iter().all(
        |o| !matches!(o, Object::Link(l) if l.ns == crate::state::Ns::Host && l.ipv6.is_some())
    ));
    // A namespace is created with IPv6 off for its interfaces only when all of them want it off.
    let default = |name: &str| match s.get(&ObjectKey::Namespace { name: name.into() }) {
        Some(Object::Namespace(n)) => n.ipv6_default,
        other => panic!("no namespace {name}: {other:?}"),
    };
    assert_eq!(default("a"), Some(false));
    assert_eq!(default("m"), Some(false));
    assert_eq!(default("b"), None);
    assert_eq!(default("c"), None);
    assert_eq!(default("d"), None);
}
