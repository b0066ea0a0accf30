//! Tests of `driver: host-gw` (loading, slices, IPAM, validation) and of `default_route`.

use super::test_support::{addr, assert_problem, parse, problems};
use crate::topology::*;
use std::net::Ipv4Addr;

/// Three hosts; node-3 is on another underlay subnet.
fn topo(network: &str, containers: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 192.168.99.101/24 }}
  node-2: {{ underlay: 192.168.99.102/24, mtu: 1400 }}
  node-3: {{ underlay: 10.0.0.3/24 }}
networks:
  gw: {network}
  local: {{ driver: bridge, subnet: 192.168.200.0/24 }}
  overlay: {{ driver: vxlan, mode: bridged, vni: 100, subnet: 10.30.0.0/16 }}
containers:
{containers}
"
    )
}

const GW: &str = "{ driver: host-gw, subnet: 10.244.0.0/16 }";
const TWO: &str = "  a: { host: node-1, network: gw }\n  b: { host: node-2, network: gw }";

#[test]
fn host_gw_loads_with_kebab_driver_name_only() {
    let t = parse(&topo(GW, TWO));
    assert!(matches!(t.networks.get("gw"), Some(Network::HostGw(_))));
    let snake = topo("{ driver: host_gw, subnet: 10.244.0.0/16 }", TWO);
    let err = load_str(&snake, "t.yaml").unwrap_err().to_string();
    assert!(err.contains("host-gw"), "{err}");
    // Unknown keys are errors here too (vxlan's `vni` does not belong to host-gw).
    let vni = topo("{ driver: host-gw, subnet: 10.244.0.0/16, vni: 1 }", TWO);
    let err = load_str(&vni, "t.yaml").unwrap_err().to_string();
    assert!(err.contains("vni"), "{err}");
}

#[test]
fn slices_gateway_and_addresses_like_routed() {
    let t = parse(&topo(
        "{ driver: host-gw, subnet: 10.244.0.0/16, slices: { node-2: 10.244.0.0/24 } }",
        &format!(
            "{TWO}\n  c: {{ host: node-2, network: gw, address: 10.244.0.9 }}\n  d: {{ host: node-2, network: gw }}"
        ),
    ));
    // node-1 gets the first slice node-2 did not pin; every declared host gets one.
    assert_eq!(
        slice(&t, "gw", "node-1"),
        Some("10.244.1.0/24".parse().unwrap())
    );
    assert_eq!(
        slice(&t, "gw", "node-2"),
        Some("10.244.0.0/24".parse().unwrap())
    );
    assert_eq!(
        slice(&t, "gw", "node-3"),
        Some("10.244.2.0/24".parse().unwrap())
    );
    let got: Vec<(String, Ipv4Addr, u8, Option<Ipv4Addr>, bool)> = attachments(&t)
        .into_iter()
        .map(|a| {
            (
                a.container,
                a.v4.unwrap().address,
                a.v4.unwrap().prefix_len,
                a.v4.unwrap().gateway,
                a.default_route,
            )
        })
        .collect();
    let want = [
        ("a", "10.244.1.2", "10.244.1.1"),
        ("b", "10.244.0.2", "10.244.0.1"),
        ("c", "10.244.0.9", "10.244.0.1"),
        ("d", "10.244.0.3", "10.244.0.1"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(c, a, g)| (c.to_string(), addr(a), 24, Some(addr(g)), true))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn host_prefix_is_honoured() {
    let t = parse(&topo(
        "{ driver: host-gw, subnet: 172.16.0.0/12, host_prefix: 16 }",
        TWO,
    ));
    assert_eq!(
        slice(&t, "gw", "node-2"),
        Some("172.17.0.0/16".parse().unwrap())
    );
}

#[test]
fn hosts_must_share_one_underlay_subnet() {
    let text = topo(
        GW,
        "  a: { host: node-1, network: gw }\n  c: { host: node-3, network: gw }",
    );
    let found = problems(&text);
    let ours: Vec<&String> = found
        .iter()
        .filter(|p| p.starts_with("networks.gw: "))
        .collect();
    assert_eq!(ours.len(), 1, "{found:#?}");
    assert!(
        ours[0].contains("node-1 on 192.168.99.0/24") && ours[0].contains("node-3 on 10.0.0.0/24"),
        "{}",
        ours[0]
    );
    // node-3 is declared but carries no container on gw: not a member, no problem.
    assert!(problems(&topo(GW, TWO)).is_empty());
    // Same network address, different prefix: not one subnet either.
    let text = topo(GW, TWO).replace("192.168.99.102/24", "192.168.99.102/16");
    assert_problem(&text, "networks.gw", "node-2 on 192.168.0.0/16");
}

#[test]
fn pinned_slices_are_checked() {
    let net = |slices: &str| {
        topo(
            &format!("{{ driver: host-gw, subnet: 10.244.0.0/16, slices: {{ {slices} }} }}"),
            TWO,
        )
    };
    assert_problem(
        &net("node-1: 10.0.0.0/24"),
        "networks.gw.slices.node-1",
        "outside subnet",
    );
    assert_problem(
        &net("node-1: 10.244.0.0/24, node-2: 10.244.0.128/25"),
        "networks.gw.slices.node-2",
        "overlaps 10.244.0.0/24, the slice of node-1",
    );
    assert_problem(
        &net("nope: 10.244.0.0/24"),
        "networks.gw.slices.nope",
        "unknown host",
    );
    assert_problem(
        &net("node-1: 10.244.0.1/24"),
        "networks.gw.slices.node-1",
        "host bits",
    );
    assert_problem(
        &topo(
            "{ driver: host-gw, subnet: 10.244.0.0/16, host_prefix: 8 }",
            TWO,
        ),
        "networks.gw.host_prefix",
        "do not fit",
    );
}

#[test]
fn addresses_must_be_in_the_hosts_slice_and_not_its_gateway() {
    let pinned = "{ driver: host-gw, subnet: 10.244.0.0/16, slices: { node-1: 10.244.5.0/24 } }";
    let with = |address: &str| {
        topo(
            pinned,
            &format!("  a: {{ host: node-1, network: gw, address: {address} }}"),
        )
    };
    assert_problem(
        &with("10.244.6.2"),
        "containers.a.address",
        "the slice of host node-1",
    );
    assert_problem(
        &with("10.244.5.1"),
        "containers.a.address",
        "is the gateway",
    );
    assert_problem(
        &with("10.244.5.0"),
        "containers.a.address",
        "network address",
    );
    assert!(problems(&with("10.244.5.7")).is_empty());
}

#[test]
fn mtu_defaults_to_the_smallest_underlay_and_must_fit_it() {
    let t = parse(&topo(GW, TWO));
    // node-2's underlay MTU is 1400; no encapsulation overhead is subtracted.
    assert_eq!(membership::network_mtu(&t, "gw"), Some(1400));
    let only_node1 = parse(&topo(GW, "  a: { host: node-1, network: gw }"));
    assert_eq!(membership::network_mtu(&only_node1, "gw"), Some(1500));
    let big = topo("{ driver: host-gw, subnet: 10.244.0.0/16, mtu: 1450 }", TWO);
    assert_problem(
        &big,
        "networks.gw.mtu",
        "larger than the underlay MTU 1400 of host node-2",
    );
    let fits = topo("{ driver: host-gw, subnet: 10.244.0.0/16, mtu: 1400 }", TWO);
    assert!(problems(&fits).is_empty());
}

#[test]
fn host_gw_network_name_must_fit_the_bridge_name() {
    let text = topo(GW, TWO)
        .replace("gw:", "thirteenchars:")
        .replace("network: gw", "network: thirteenchars");
    assert_problem(&text, "networks.thirteenchars", "at most 12 characters");
}

fn defaults(t: &Topology, container: &str) -> Vec<(String, String, bool)> {
    attachments(t)
        .into_iter()
        .filter(|a| a.container == container)
        .map(|a| (a.network, a.interface, a.default_route))
        .collect()
}

fn s(net: &str, iface: &str, default: bool) -> (String, String, bool) {
    (net.to_string(), iface.to_string(), default)
}

#[test]
fn default_route_chooses_the_attachment() {
    let two = "  m: { host: node-1, networks: { local: {}, gw: {} }";
    let t = parse(&topo(GW, &format!("{two} }}")));
    assert_eq!(
        defaults(&t, "m"),
        [s("local", "eth0", true), s("gw", "eth1", false)]
    );
    let t = parse(&topo(GW, &format!("{two}, default_route: gw }}")));
    assert_eq!(
        defaults(&t, "m"),
        [s("local", "eth0", false), s("gw", "eth1", true)]
    );
    // The short form may name its own network.
    let t = parse(&topo(
        GW,
        "  m: { host: node-1, network: gw, default_route: gw }",
    ));
    assert_eq!(defaults(&t, "m"), [s("gw", "eth0", true)]);
}

#[test]
fn default_route_must_name_a_network_of_the_container_with_a_gateway() {
    let text = topo(
        GW,
        "  m: { host: node-1, networks: { local: {}, gw: {} }, default_route: overlay }",
    );
    assert_problem(
        &text,
        "containers.m.default_route",
        "\"overlay\" is not one of this container's networks (local, gw)",
    );
    let text = topo(
        GW,
        "  m: { host: node-1, networks: { overlay: {}, local: {} }, default_route: overlay }",
    );
    assert_problem(
        &text,
        "containers.m.default_route",
        "network overlay has no gateway",
    );
    let text = topo(
        GW,
        "  m: { host: node-1, network: gw, default_route: nope }",
    );
    assert_problem(
        &text,
        "containers.m.default_route",
        "\"nope\" is not one of",
    );
    // Exactly one problem for the path, nothing else reported about it.
    assert_eq!(
        problems(&text)
            .iter()
            .filter(|p| p.contains("default_route"))
            .count(),
        1
    );
}
