//! Which hosts carry which network, and the values derived from that.
//!
//! A host is "in" a network when at least one of its containers is attached to it. Only such
//! hosts get the network's bridge/VXLAN device, and only they are peers of each other: a host
//! with no container on a network neither creates its VTEP nor is programmed on the others.

use super::model::{DEFAULT_UNDERLAY_MTU, Network, Topology, VXLAN_OVERHEAD};

/// Hosts that have a container on `network`, in host declaration order (unknown hosts skipped).
pub fn hosts_in_network<'a>(topo: &'a Topology, network: &str) -> Vec<&'a str> {
    topo.hosts
        .keys()
        .filter(|host| {
            topo.containers.iter().any(|(name, c)| {
                c.host == **host && c.specs(name).iter().any(|s| s.network == network)
            })
        })
        .map(String::as_str)
        .collect()
}

/// The MTU of a network's interfaces: explicit, else (VXLAN) the smallest underlay MTU of the
/// hosts in the network minus the encapsulation overhead, else (host-gw, no encapsulation) that
/// smallest underlay MTU, else (bridge) unset.
pub fn network_mtu(topo: &Topology, network: &str) -> Option<u32> {
    match topo.networks.get(network)? {
        Network::Bridge(b) => b.mtu,
        Network::Vxlan(v) => Some(
            v.mtu
                .unwrap_or_else(|| min_underlay_mtu(topo, network).saturating_sub(VXLAN_OVERHEAD)),
        ),
        Network::HostGw(h) => Some(h.mtu.unwrap_or_else(|| min_underlay_mtu(topo, network))),
    }
}

/// The smallest underlay MTU among the hosts in `network` (the default when it has none).
fn min_underlay_mtu(topo: &Topology, network: &str) -> u32 {
    hosts_in_network(topo, network)
        .iter()
        .filter_map(|h| topo.hosts.get(*h))
        .map(|h| h.mtu())
        .min()
        .unwrap_or(DEFAULT_UNDERLAY_MTU)
}
