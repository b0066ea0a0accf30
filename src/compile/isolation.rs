//! Isolation between the `driver: bridge` networks of one host, as Docker does with its
//! DOCKER-ISOLATION chains: once the host forwards (a routed overlay, host-gw, `nat: true`, or
//! Docker's own sysctl), nothing else stops a container of one bridge network from reaching
//! another bridge network's containers through the host.
//!
//! A host with two or more bridge networks (bridges that exist there: the network has a local
//! container) gets, in the owned table `inet netplan-rs`, a `filter` base chain on the
//! `forward` hook (priority 0) with one rule per ordered pair of those bridges,
//! `iifname "br-a" oifname "br-b" drop` (id `isolate br-a -> br-b`). The inet table covers IPv4
//! and IPv6. The rules are emitted whether or not this host forwards, so forwarding switched on
//! later (by hand, or by Docker) does not open the networks to each other.
//!
//! Only bridge-driver networks: routed schemes (vxlan routed, host-gw) are meant to route
//! between hosts and networks (flannel semantics), so traffic to and from them is untouched.

use super::nft;
use crate::state::{NatRule, NftHook, State};
use crate::topology::naming::bridge_name;
use crate::topology::{Attachment, Network, Topology};

/// nft's `filter` priority.
const FILTER: i32 = 0;

/// The bridges of `host`'s bridge-driver networks, in declaration order.
fn local_bridges(topo: &Topology, local: &[&Attachment]) -> Vec<String> {
    topo.networks
        .iter()
        .filter(|(_, net)| matches!(net, Network::Bridge(_)))
        .filter(|(name, _)| local.iter().any(|a| a.network == **name))
        .map(|(name, _)| bridge_name(name))
        .collect()
}

/// Add the forward chain and the drop rules between `host`'s bridges (nothing for fewer than
/// two). The table may already be there for NAT; inserting it again is the same object.
/// `local`: the host's attachments.
pub fn compile(topo: &Topology, local: &[&Attachment], state: &mut State) {
    let bridges = local_bridges(topo, local);
    if bridges.len() < 2 {
        return;
    }
    state.insert(nft::table());
    let hook = NftHook::Forward;
    state.insert(nft::base_chain(hook, "filter", FILTER));
    for iif in &bridges {
        for oif in bridges.iter().filter(|o| *o != iif) {
            state.insert(nft::rule(
                hook,
                format!("isolate {iif} -> {oif}"),
                NatRule::DropForward {
                    iif: iif.clone(),
                    oif: oif.clone(),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::tests::test_support::{nft_lines, state};
    use crate::state::Object;
    use crate::topology::tests::test_support::parse;

    const BASE: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
  front: { driver: bridge, subnet: 192.168.1.0/24 }
  back: { driver: bridge, subnet: 192.168.2.0/24 }
  pods: { driver: vxlan, mode: routed, vni: 9, subnet: 10.244.0.0/16 }
containers:
";

    #[test]
    fn two_local_bridges_are_isolated_in_both_directions() {
        let yaml = format!(
            "{BASE}  web: {{ host: node-1, network: front }}
  db: {{ host: node-1, network: back }}
"
        );
        let state = state(&parse(&yaml), "node-1");
        assert_eq!(
            nft_lines(&state),
            vec![
                "nft_table host/inet netplan-rs",
                "nft_chain host/netplan-rs/forward type=filter hook=forward priority=0",
                "nft_rule host/netplan-rs/forward \"isolate br-back -> br-front\" rule=iifname \"br-back\" oifname \"br-front\" drop",
                "nft_rule host/netplan-rs/forward \"isolate br-front -> br-back\" rule=iifname \"br-front\" oifname \"br-back\" drop",
            ]
        );
        // Isolation alone does not switch forwarding on.
        assert!(!state.iter().any(|o| matches!(o, Object::Sysctl(_))));
    }

    #[test]
    fn one_bridge_per_host_or_a_routed_network_gets_no_rules() {
        // front on node-1, back on node-2: each host has one bridge. The routed network beside
        // front on node-1 is meant to route, so it is not isolated either.
        let yaml = format!(
            "{BASE}  web: {{ host: node-1, network: front }}
  pod: {{ host: node-1, network: pods }}
  db: {{ host: node-2, network: back }}
"
        );
        let topo = parse(&yaml);
        for host in ["node-1", "node-2"] {
            let lines = nft_lines(&state(&topo, host));
            assert!(
                !lines.iter().any(|l| l.contains("forward")),
                "{host}: {lines:#?}"
            );
        }
    }

    #[test]
    fn three_bridges_make_six_rules_next_to_nat() {
        let yaml = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
networks:
  a: { driver: bridge, subnet: 192.168.1.0/24, nat: true }
  b: { driver: bridge, subnet: 192.168.2.0/24 }
  c: { driver: bridge, subnet: 192.168.3.0/24 }
containers:
  x: { host: node-1, network: a }
  y: { host: node-1, network: b }
  z: { host: node-1, network: c }
";
        let lines = nft_lines(&state(&parse(yaml), "node-1"));
        let rules: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("nft_rule host/netplan-rs/forward"))
            .collect();
        assert_eq!(rules.len(), 6, "{lines:#?}");
        assert!(lines.contains(&"nft_rule host/netplan-rs/forward \"isolate br-c -> br-a\" rule=iifname \"br-c\" oifname \"br-a\" drop".to_string()));
        // The NAT chain shares the one table.
        assert!(lines.iter().any(|l| l.contains("/postrouting type=nat")));
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("nft_table")).count(),
            1
        );
    }
}
