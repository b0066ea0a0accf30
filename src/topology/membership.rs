//! Which hosts carry which network, and the values derived from that.
//!
//! A host is "in" a network when at least one of its containers is attached to it. Only such
//! hosts get the network's bridge/VXLAN device, and only they are peers of each other: a host
//! with no container on a network neither creates its VTEP nor is programmed on the others.

use super::model::{
    DEFAULT_UNDERLAY_MTU, Host, Network, Topology, VXLAN_OVERHEAD, VXLAN6_OVERHEAD,
};

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

/// Bytes of VXLAN encapsulation on `host`'s underlay: 50 over IPv4, 70 over IPv6.
pub fn vxlan_overhead(host: &Host) -> u32 {
    match host.underlay {
        ipnet::IpNet::V4(_) => VXLAN_OVERHEAD,
        ipnet::IpNet::V6(_) => VXLAN6_OVERHEAD,
    }
}

/// The MTU of a network's interfaces: explicit, else (VXLAN) the smallest of the hosts'
/// underlay MTU minus their encapsulation overhead (50 over IPv4, 70 over IPv6), else
/// (host-gw, no encapsulation) the smallest underlay MTU, else (bridge) unset.
pub fn network_mtu(topo: &Topology, network: &str) -> Option<u32> {
    match topo.networks.get(network)? {
        Network::Bridge(b) => b.mtu,
        Network::Macvlan(m) => m.mtu,
        Network::Vxlan(v) => Some(v.mtu.unwrap_or_else(|| {
            hosts_in_network(topo, network)
                .iter()
                .filter_map(|h| topo.hosts.get(*h))
                .map(|h| h.mtu().saturating_sub(vxlan_overhead(h)))
                .min()
                .unwrap_or(DEFAULT_UNDERLAY_MTU - VXLAN_OVERHEAD)
        })),
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
