//! Tests of `driver: routed` (loading, blocks, IPAM, validation): each rule has a test that
//! fails if the rule is dropped.

use super::test_support::{addr, assert_problem, parse, problems, v6};
use crate::topology::*;

/// Three hosts on one underlay subnet, one on another, one with an IPv6 underlay.
fn topo(networks: &str, containers: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 10.0.0.1/24 }}
  node-2: {{ underlay: 10.0.0.2/24, mtu: 1400 }}
  node-3: {{ underlay: 10.0.0.3/24 }}
  far: {{ underlay: 10.9.0.4/24 }}
  six: {{ underlay: \"fd00:1::6/64\" }}
networks:
{networks}
containers:
{containers}
"
    )
}

const PODS: &str = "  pods: { driver: routed, subnet: 10.48.0.0/16 }";
const TWO: &str = "  a: { host: node-1, network: pods }\n  b: { host: node-2, network: pods }";

#[test]
fn blocks_default_to_26_in_host_order_and_containers_start_at_one() {
    let t = parse(&topo(
        "  pods: { driver: routed, subnet: 10.48.0.0/16, blocks: { node-2: 10.48.1.0/26 } }",
        &format!("{TWO}\n  c: {{ host: node-1, network: pods }}"),
    ));
    assert!(matches!(t.networks.get("pods"), Some(Network::Routed(_))));
    let blocks = ipam::slices(&t, "pods");
    assert_eq!(blocks["node-1"], "10.48.0.0/26".parse().unwrap());
    assert_eq!(blocks["node-2"], "10.48.1.0/26".parse().unwrap());
    assert_eq!(blocks["node-3"], "10.48.0.64/26".parse().unwrap());
    let atts = attachments(&t);
    let a = atts[0].v4.unwrap();
    // A /32 via the link-local gateway, from the host's own block.
    assert_eq!(a.address, addr("10.48.0.1"));
    assert_eq!(a.prefix_len, 32);
    assert_eq!(a.gateway, Some(routed::GATEWAY));
    assert_eq!(atts[1].ipv4(), Some(addr("10.48.1.1")));
    assert_eq!(atts[2].ipv4(), Some(addr("10.48.0.2")));
    assert!(atts.iter().all(|a| a.default_route && a.v6.is_none()));
}

#[test]
fn ipv6_blocks_default_to_122_and_give_128s_via_fe80_1() {
    let t = parse(&topo(
        "  pods: { driver: routed, subnet: 10.48.0.0/16, subnet6: \"fd00:48::/64\", encapsulation: vxlan, vni: 4096 }",
        TWO,
    ));
    let blocks6 = ipam6::slices6(&t, "pods");
    assert_eq!(blocks6["node-1"], "fd00:48::/122".parse().unwrap());
    assert_eq!(blocks6["node-2"], "fd00:48::40/122".parse().unwrap());
    let b = attachments(&t)[1].v6.unwrap();
    // `::` of the block is the VTEP address: containers start at `::1`.
    assert_eq!(b.address, v6("fd00:48::41"));
    assert_eq!(b.prefix_len, 128);
    assert_eq!(b.gateway, Some(routed::GATEWAY6));
}

#[test]
fn explicit_address_must_be_in_the_hosts_block() {
    let text = topo(
        PODS,
        "  a: { host: node-1, network: pods, address: 10.48.0.70 }",
    );
    assert_problem(
        &text,
        "containers.a.address",
        "10.48.0.70 is outside 10.48.0.0/26 (the block of host node-1)",
    );
    // With VXLAN the block's first address is the VTEP's.
    let text = topo(
        "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 7 }",
        "  a: { host: node-1, network: pods, address: 10.48.0.0 }",
    );
    assert_problem(&text, "containers.a.address", "10.48.0.0");
}

#[test]
fn block_prefix_must_fit_the_subnet_and_the_hosts() {
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, block_prefix: 12 }",
            TWO,
        ),
        "networks.pods.block_prefix",
        "/12 blocks do not fit subnet 10.48.0.0/16 (block_prefix must be between 16 and 30)",
    );
    // Five hosts, four /26 blocks in a /24.
    assert_problem(
        &topo("  pods: { driver: routed, subnet: 10.48.0.0/24 }", TWO),
        "networks.pods",
        "has no free /26 block left for host six",
    );
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, blocks: { node-1: 10.50.0.0/26 } }",
            TWO,
        ),
        "networks.pods.blocks.node-1",
        "10.50.0.0/26 is outside subnet 10.48.0.0/16",
    );
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, blocks6: { node-1: \"fd00::/122\" } }",
            TWO,
        ),
        "networks.pods.blocks6",
        "no IPv6 subnet",
    );
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: \"fd00:48::/64\", block_prefix: 26 }",
            "  a: { host: six, network: pods }",
        ),
        "networks.pods.block_prefix",
        "IPv6-only",
    );
}

#[test]
fn without_encapsulation_the_routed_hosts_share_one_underlay_subnet() {
    // `far` has a container on another routed network: it routes pods' blocks too.
    let text = topo(
        &format!("{PODS}\n  infra: {{ driver: routed, subnet: 10.49.0.0/16 }}"),
        &format!("{TWO}\n  x: {{ host: far, network: infra }}"),
    );
    assert_problem(
        &text,
        "networks.pods",
        "node-1 on 10.0.0.0/24, node-2 on 10.0.0.0/24, far on 10.9.0.0/24",
    );
    // VXLAN needs no shared subnet.
    let text = topo(
        "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 1 }",
        &format!("{TWO}\n  x: {{ host: far, network: pods }}"),
    );
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn families_must_match_the_underlay_without_encapsulation() {
    // Dual stack without VXLAN: the IPv6 blocks would need IPv6 next hops.
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, subnet6: \"fd00:48::/64\" }",
            TWO,
        ),
        "networks.pods",
        "routes IPv4 and IPv6 via the peers' underlay addresses",
    );
    assert_problem(
        &topo(PODS, "  a: { host: six, network: pods }"),
        "networks.pods",
        "six (fd00:1::6/64)",
    );
    // VXLAN: one underlay family for every VTEP.
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 1 }",
            "  a: { host: node-1, network: pods }\n  b: { host: six, network: pods }",
        ),
        "networks.pods",
        "need one underlay family",
    );
}

#[test]
fn vni_and_port_belong_to_vxlan_encapsulation() {
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, vni: 5 }",
            TWO,
        ),
        "networks.pods.vni",
        "only applies to encapsulation: vxlan",
    );
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan }",
            TWO,
        ),
        "networks.pods.vni",
        "needs a vni",
    );
    // VNI + port unique across drivers.
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 9 }\n  ov: { driver: vxlan, mode: bridged, vni: 9, subnet: 172.18.0.0/16 }",
            TWO,
        ),
        "networks.ov.vni",
        "already used by network pods",
    );
    let err = load_str(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: gre }",
            TWO,
        ),
        "t.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("encapsulation"), "{err}");
}

#[test]
fn mtu_defaults_and_limits() {
    let t = parse(&topo(PODS, TWO));
    // node-2's underlay MTU is 1400: no encapsulation, no overhead.
    assert_eq!(membership::network_mtu(&t, "pods"), Some(1400));
    let t = parse(&topo(
        "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 1 }",
        TWO,
    ));
    assert_eq!(membership::network_mtu(&t, "pods"), Some(1350));
    assert_problem(
        &topo(
            "  pods: { driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 1, mtu: 1400 }",
            TWO,
        ),
        "networks.pods.mtu",
        "1400 + 50 bytes of VXLAN overhead does not fit the underlay MTU 1400 of host node-2",
    );
}

#[test]
fn a_long_name_only_matters_with_a_vxlan_device() {
    let name = "abcdefghijklm";
    let text = topo(
        &format!("  {name}: {{ driver: routed, subnet: 10.48.0.0/16 }}"),
        &format!("  a: {{ host: node-1, network: {name} }}"),
    );
    assert_eq!(problems(&text), Vec::<String>::new());
    let text = topo(
        &format!(
            "  {name}: {{ driver: routed, subnet: 10.48.0.0/16, encapsulation: vxlan, vni: 3 }}"
        ),
        &format!("  a: {{ host: node-1, network: {name} }}"),
    );
    assert_problem(&text, &format!("networks.{name}"), "at most 12 characters");
}
