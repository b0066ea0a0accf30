//! Dual stack: loading, validation and IPv6 allocation. Each rule has a test that fails if the
//! rule is dropped.

use super::test_support::{assert_problem, parse, problems, v6};
use crate::topology::*;
use std::net::Ipv4Addr;

/// A topology with two IPv4-underlay hosts, `networks` and `containers` spliced in.
fn topo(networks: &str, containers: &str) -> String {
    format!(
        "version: 1\nhosts:\n  node-1: {{ underlay: 10.0.0.1/24 }}\n  node-2: {{ underlay: 10.0.0.2/24 }}\n\
         networks:\n{networks}\ncontainers:\n{containers}\n"
    )
}

const DUAL: &str =
    "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 172.18.0.0/16, subnet6: 'fd00:18::/64' }
  f: { driver: vxlan, mode: routed, vni: 2, subnet: 10.244.0.0/16, subnet6: 'fd00:244::/56' }
  l: { driver: bridge, subnet: 192.168.1.0/24, subnet6: 'fd00:1::/64' }
  s: { driver: vxlan, mode: bridged, vni: 3, subnet: 'fd00:3::/64' }";

#[test]
fn ipv6_addresses_are_allocated_in_declaration_order_like_ipv4() {
    let t = parse(&topo(
        DUAL,
        "  a: { host: node-1, network: o }
  b: { host: node-2, network: o, address6: 'fd00:18::99' }
  c: { host: node-2, network: o }
  d: { host: node-1, network: f }
  e: { host: node-2, network: f }
  g: { host: node-1, network: l }
  h: { host: node-1, network: s }
  i: { host: node-2, network: s }",
    ));
    let all = attachments(&t);
    let get = |c: &str| all.iter().find(|a| a.container == c).unwrap();
    assert_eq!(get("a").ipv6(), Some(v6("fd00:18::2")));
    assert_eq!(get("b").ipv6(), Some(v6("fd00:18::99")));
    assert_eq!(get("c").ipv6(), Some(v6("fd00:18::3")));
    // Routed: per-host /64 slices of the /56 in host order; ::1 is the gateway.
    let d = get("d").v6.unwrap();
    assert_eq!(
        (d.address, d.prefix_len, d.gateway),
        (v6("fd00:244::2"), 64, Some(v6("fd00:244::1")))
    );
    assert_eq!(get("e").ipv6(), Some(v6("fd00:244:0:1::2")));
    assert!(get("d").default_route && get("d").default_route6);
    // Bridge: ::1 gateway, containers from ::2; IPv4 unchanged.
    let g = get("g");
    assert_eq!(
        g.v6.map(|a| (a.address, a.gateway)),
        Some((v6("fd00:1::2"), Some(v6("fd00:1::1"))))
    );
    assert_eq!(g.ipv4(), Some(Ipv4Addr::new(192, 168, 1, 2)));
    // IPv6-only: no IPv4 side, no default route (bridged), hashed MAC.
    let h = get("h");
    assert_eq!((h.ipv4(), h.ipv6()), (None, Some(v6("fd00:3::2"))));
    assert!(!h.default_route && !h.default_route6);
    assert_ne!(&h.mac.0[..2], &[0x02, 0x42]);
    assert_eq!(h.mac.0[0] & 0x03, 0x02, "locally administered unicast");
    assert_ne!(h.mac, get("i").mac);
    // Dual stack keeps Docker's MAC from the IPv4 address.
    assert_eq!(
        get("a").mac,
        crate::state::Mac::docker(Ipv4Addr::new(172, 18, 0, 2))
    );
}

#[test]
fn appending_a_container_never_moves_ipv6_addresses() {
    let base = "  a: { host: node-1, network: s }\n  b: { host: node-2, network: s }";
    let before = attachments(&parse(&topo(DUAL, base)));
    let after = attachments(&parse(&topo(
        DUAL,
        &format!("{base}\n  z: {{ host: node-1, network: s }}"),
    )));
    assert_eq!(before[..], after[..2]);
    assert_eq!(after[2].ipv6(), Some(v6("fd00:3::4")));
}

#[test]
fn pinned_ipv6_slices_and_host_prefix6() {
    let net = "  f: { driver: vxlan, mode: routed, vni: 2, subnet: 'fd00:244::/48', host_prefix6: 80, slices6: { node-2: 'fd00:244::/80' } }";
    let t = parse(&topo(
        net,
        "  a: { host: node-1, network: f }\n  b: { host: node-2, network: f }",
    ));
    let s = ipam6::slices6(&t, "f");
    assert_eq!(s["node-2"].to_string(), "fd00:244::/80");
    assert_eq!(
        s["node-1"].to_string(),
        "fd00:244:0:0:1::/80",
        "skips the pinned slice"
    );
}

#[test]
fn wrong_family_and_misplaced_keys_are_errors() {
    // subnet6 beside an IPv6 subnet.
    assert_problem(
        &topo(
            "  s: { driver: bridge, subnet: 'fd00:1::/64', subnet6: 'fd00:2::/64' }",
            "",
        ),
        "networks.s.subnet6",
        "already IPv6",
    );
    // IPv4 gateway on an IPv6-only bridge; gateway6 without IPv6.
    assert_problem(
        &topo(
            "  s: { driver: bridge, subnet: 'fd00:1::/64', gateway: 10.0.0.1 }",
            "",
        ),
        "networks.s.gateway",
        "no IPv4 subnet",
    );
    assert_problem(
        &topo(
            "  s: { driver: bridge, subnet: 10.1.0.0/24, gateway6: 'fd00:1::1' }",
            "",
        ),
        "networks.s.gateway6",
        "no IPv6 subnet",
    );
    assert_problem(
        &topo(
            "  s: { driver: bridge, subnet: 10.1.0.0/24, subnet6: 'fd00:1::/64', gateway6: 'fd00:2::1' }",
            "",
        ),
        "networks.s.gateway6",
        "outside fd00:1::/64",
    );
    // address6 on an IPv4-only network; address on an IPv6-only network.
    assert_problem(
        &topo(
            "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16 }",
            "  a: { host: node-1, network: o, address6: 'fd00::5' }",
        ),
        "containers.a.address6",
        "no IPv6 subnet",
    );
    assert_problem(
        &topo(
            "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 'fd00::/64' }",
            "  a: { host: node-1, networks: { o: { address: 10.0.0.5 } } }",
        ),
        "containers.a.networks.o.address",
        "no IPv4 subnet",
    );
    // host_prefix6 / slices6 only for routed; host_prefix on an IPv6-only routed network.
    assert_problem(
        &topo(
            "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16, subnet6: 'fd00::/64', host_prefix6: 64 }",
            "",
        ),
        "networks.o.host_prefix6",
        "only applies to mode routed",
    );
    assert_problem(
        &topo(
            "  f: { driver: vxlan, mode: routed, vni: 1, subnet: 'fd00::/48', host_prefix: 24 }",
            "",
        ),
        "networks.f.host_prefix",
        "IPv6-only",
    );
    assert_problem(
        &topo(
            "  f: { driver: vxlan, mode: routed, vni: 1, subnet: 'fd00::/64', host_prefix6: 56 }",
            "",
        ),
        "networks.f.host_prefix6",
        "do not fit",
    );
}

#[test]
fn ipv6_address_rules() {
    let t = |addr: &str| {
        topo(
            DUAL,
            &format!(
                "  a: {{ host: node-1, network: l, address6: '{addr}' }}\n  b: {{ host: node-1, network: l }}\n  c: {{ host: node-2, network: f, address6: 'fd00:244::5' }}"
            ),
        )
    };
    assert_problem(
        &t("fd00:9::2"),
        "containers.a.address6",
        "outside fd00:1::/64",
    );
    assert_problem(&t("fd00:1::1"), "containers.a.address6", "gateway");
    assert_problem(&t("fd00:1::"), "containers.a.address6", "subnet-router");
    // c sits on node-2, whose slice is fd00:244:0:1::/64.
    assert_problem(
        &t("fd00:1::7"),
        "containers.c.address6",
        "the IPv6 slice of host node-2",
    );
    let dup = topo(
        DUAL,
        "  a: { host: node-1, network: s }\n  b: { host: node-2, network: s, address6: 'fd00:3::2' }",
    );
    assert_problem(&dup, "containers.b.address6", "already used by container a");
}

#[test]
fn overlapping_ipv6_subnets_are_errors() {
    assert_problem(
        &topo(
            "  a: { driver: bridge, subnet: 10.1.0.0/24, subnet6: 'fd00::/48' }\n  b: { driver: bridge, subnet: 10.2.0.0/24, subnet6: 'fd00:0:0:1::/64' }",
            "",
        ),
        "networks.b.subnet6",
        "overlaps the IPv6 subnet of network a",
    );
    assert_problem(
        &topo(
            "  a: { driver: bridge, subnet: 'fd00::/48' }\n  b: { driver: bridge, subnet: 'fd00:0:0:1::/64' }",
            "",
        ),
        "networks.b.subnet",
        "overlaps",
    );
}

#[test]
fn a_vxlan_network_needs_one_underlay_family() {
    let text = "version: 1
hosts:
  a: { underlay: 10.0.0.1/24 }
  b: { underlay: 'fd00::2/64' }
  c: { underlay: 'fd00::3/64' }
networks:
  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16 }
containers:
  x: { host: a, network: o }
  y: { host: b, network: o }
  z: { host: c, network: o }
";
    assert_problem(
        text,
        "networks.o",
        "host a has an IPv4 underlay but b, c have IPv6",
    );
}

#[test]
fn ipv6_underlay_mtu_overhead_is_70() {
    let text = "version: 1
hosts:
  a: { underlay: 'fd00::1/64' }
  b: { underlay: 'fd00::2/64' }
networks:
  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16 }
containers:
  x: { host: a, network: o }
  y: { host: b, network: o }
";
    assert_eq!(membership::network_mtu(&parse(text), "o"), Some(1430));
    assert_problem(
        &text.replace("vni: 1,", "vni: 1, mtu: 1450,"),
        "networks.o.mtu",
        "1450 + 70 bytes",
    );
}

#[test]
fn ipv6_networks_need_an_mtu_of_1280() {
    assert_problem(
        &topo(
            "  l: { driver: bridge, subnet: 10.1.0.0/24, subnet6: 'fd00::/64', mtu: 1200 }",
            "",
        ),
        "networks.l.mtu",
        "IPv6 minimum",
    );
}

#[test]
fn ipv4_only_files_load_as_before() {
    // Version-1 files without IPv6 keys: no IPv6 side anywhere.
    let t = parse(&topo(
        "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 172.18.0.0/16 }",
        "  a: { host: node-1, network: o }",
    ));
    let all = attachments(&t);
    assert_eq!(all[0].v6, None);
    assert_eq!(all[0].ipv4(), Some(Ipv4Addr::new(172, 18, 0, 2)));
}

#[test]
fn default_route_names_the_network_for_both_families() {
    // `default_route: l` picks l for IPv4 and IPv6; `default_route: p` (IPv4-only) leaves the
    // IPv6 default to the first network with an IPv6 gateway.
    let nets = format!("{DUAL}\n  p: {{ driver: bridge, subnet: 192.168.9.0/24 }}");
    let t = parse(&topo(
        &nets,
        "  a: { host: node-1, networks: { f: {}, l: {} }, default_route: l }
  b: { host: node-1, networks: { f: {}, p: {} }, default_route: p }",
    ));
    let all = attachments(&t);
    let flags = |c: &str, n: &str| {
        let a = all
            .iter()
            .find(|a| a.container == c && a.network == n)
            .unwrap();
        (a.default_route, a.default_route6)
    };
    assert_eq!(flags("a", "f"), (false, false));
    assert_eq!(flags("a", "l"), (true, true));
    assert_eq!(flags("b", "f"), (false, true));
    assert_eq!(flags("b", "p"), (true, false));
}

#[test]
fn host_gw_needs_ipv4_underlays() {
    let text = "version: 1
hosts:
  a: { underlay: 'fd00::1/64' }
  b: { underlay: 'fd00::2/64' }
networks:
  g: { driver: host-gw, subnet: 10.244.0.0/16 }
containers:
  x: { host: a, network: g }
  y: { host: b, network: g }
";
    assert_problem(text, "networks.g", "IPv6 underlay on: a, b");
}

#[test]
fn a_routed_network_without_the_default_route_is_routed_per_family() {
    // a's default routes go via l; its routed network f still reaches the other hosts' slices
    // through f's gateways: the whole IPv4 subnet and the whole IPv6 prefix.
    let t = parse(&topo(
        DUAL,
        "  a: { host: node-1, networks: { f: {}, l: {} }, default_route: l }",
    ));
    let state = match crate::compile::compile(&t, "node-1") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let routes: Vec<String> = state
        .iter()
        .filter(|o| {
            o.key().kind() == "route" && o.key().ns() == crate::state::Ns::Container("a".into())
        })
        .map(|o| o.describe())
        .collect();
    assert_eq!(
        routes,
        [
            "route a/0.0.0.0/0 via=192.168.1.1 dev=eth1",
            "route a/10.244.0.0/16 via=10.244.0.1 dev=eth0",
            "route a/::/0 via=fd00:1::1 dev=eth1",
            "route a/fd00:244::/56 via=fd00:244::1 dev=eth0",
        ]
    );
}

/// Every problem of pinned and allocated IPv6 slices, word for word, at its YAML path.
#[test]
fn ipv6_slice_problems_name_their_paths() {
    let routed = |extra: &str| {
        topo(
            &format!(
                "  f: {{ driver: vxlan, mode: routed, vni: 1, subnet: 'fd00:244::/48'{extra} }}"
            ),
            "",
        )
    };
    for (extra, expected) in [
        (
            ", slices6: { node-9: 'fd00:244::/64' }",
            "networks.f.slices6.node-9: unknown host \"node-9\"",
        ),
        (
            ", slices6: { node-1: 'fd00:244::1/64' }",
            "networks.f.slices6.node-1: fd00:244::1/64 has host bits set (did you mean fd00:244::/64?)",
        ),
        (
            ", slices6: { node-1: 'fd00:245::/64' }",
            "networks.f.slices6.node-1: fd00:245::/64 is outside subnet fd00:244::/48",
        ),
        (
            ", slices6: { node-1: 'fd00:244::/127' }",
            "networks.f.slices6.node-1: fd00:244::/127 is too small (at most /126)",
        ),
        (
            ", slices6: { node-1: 'fd00:244::/64', node-2: 'fd00:244::/56' }",
            "networks.f.slices6.node-2: fd00:244::/56 overlaps fd00:244::/64, the slice of node-1",
        ),
        (
            ", host_prefix6: 127",
            "networks.f.host_prefix6: /127 slices do not fit subnet fd00:244::/48 (host_prefix6 must be between 48 and 126)",
        ),
        (
            ", host_prefix6: 48",
            "networks.f: subnet fd00:244::/48 has no free /48 IPv6 slice left for host node-2",
        ),
    ] {
        let found = problems(&routed(extra));
        assert!(
            found.iter().any(|p| p == expected),
            "expected `{expected}` in {found:#?}"
        );
    }
    // slices6 on a routed network without IPv6.
    let found = problems(&topo(
        "  f: { driver: vxlan, mode: routed, vni: 1, subnet: 10.244.0.0/16, slices6: { node-1: 'fd00::/64' } }",
        "",
    ));
    assert!(
        found
            .iter()
            .any(|p| p == "networks.f.slices6: the network has no IPv6 subnet (set subnet6)"),
        "{found:#?}"
    );
}

#[test]
fn ipv6_range_exhaustion_names_the_container() {
    let found = problems(&topo(
        "  l: { driver: bridge, subnet: 'fd00:9::/126' }",
        "  a: { host: node-1, network: l }\n  b: { host: node-1, network: l }\n  c: { host: node-1, network: l }",
    ));
    assert_eq!(
        found,
        ["containers.c: no free IPv6 address left in fd00:9::/126 on network l"]
    );
}

/// The IPv6 slices follow the IPv4 rule: a host appended to `hosts` never moves an existing
/// slice, pinned or allocated, and takes the next free one.
#[test]
fn appending_a_host_never_moves_an_ipv6_slice() {
    let net = "  f: { driver: vxlan, mode: routed, vni: 2, subnet: 'fd00:244::/48', slices6: { node-2: 'fd00:244::/64' } }";
    let before = parse(&topo(net, ""));
    let after = parse(&topo(net, "").replace(
        "networks:",
        "  node-3: { underlay: 10.0.0.3/24 }\nnetworks:",
    ));
    let (old, new) = (ipam6::slices6(&before, "f"), ipam6::slices6(&after, "f"));
    assert_eq!(old.len(), 2);
    for host in ["node-1", "node-2"] {
        assert_eq!(old[host], new[host], "{host}'s slice moved");
    }
    assert_eq!(new["node-1"].to_string(), "fd00:244:0:1::/64");
    assert_eq!(new["node-3"].to_string(), "fd00:244:0:2::/64");
}
