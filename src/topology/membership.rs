//! Which hosts carry which network, and the values derived from that.
//!
//! A host is "in" a network when at least one of its containers is attached to it. Only such
//! hosts get the network's bridge/VXLAN device, and only they are peers of each other: a host
//! with no container on a network neither creates its VTEP nor is programmed on the others.

use super::model::{
    DEFAULT_UNDERLAY_MTU, Host, Network, Topology, VXLAN_OVERHEAD, VXLAN6_OVERHEAD,
};
use std::collections::HashSet;

/// Hosts that have a container on `network`, in host declaration order (unknown hosts skipped).
pub fn hosts_in_network<'a>(topo: &'a Topology, network: &str) -> Vec<&'a str> {
    hosts_with(topo, |net| net == network)
}

/// Hosts that have a container on any `driver: routed` network, in host declaration order: the
/// routed fabric, in which every host routes every routed network's blocks (see `routed.rs`).
pub fn routed_hosts(topo: &Topology) -> Vec<&str> {
    hosts_with(topo, |net| {
        matches!(topo.networks.get(net), Some(Network::Routed(_)))
    })
}

/// Hosts with a container attached to a network `wanted` accepts, in host declaration order.
fn hosts_with(topo: &Topology, wanted: impl Fn(&str) -> bool) -> Vec<&str> {
    // One pass over the containers, then one over the hosts: O(hosts + containers). Compile
    // calls this for every host (network MTU, host-gw peers), so a scan of every container per
    // host made each host's compile quadratic in the fleet.
    let carrying: HashSet<&str> = topo
        .containers
        .iter()
        .filter(|(name, c)| c.specs(name).iter().any(|s| wanted(s.network)))
        .map(|(_, c)| c.host.as_str())
        .collect();
    topo.hosts
        .keys()
        .map(String::as_str)
        .filter(|host| carrying.contains(host))
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
/// (host-gw, no encapsulation) the smallest underlay MTU, else (bridge) unset; a routed network
/// takes the smallest over the whole routed fabric (see `routed.rs`).
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
        Network::Routed(r) => Some(r.mtu.unwrap_or_else(|| super::routed::default_mtu(topo, r))),
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

#[cfg(test)]
mod tests {
    use super::hosts_in_network;
    use crate::topology::load_str;

    #[test]
    fn hosts_in_network_lists_carrying_hosts_in_declaration_order() {
        // Containers are declared in the opposite order of their hosts; `c` sits on both
        // networks (long form); h2 has no container on `a`.
        let topo = load_str(
            "version: 1
hosts:
  h1: { underlay: 10.0.0.1/24 }
  h2: { underlay: 10.0.0.2/24 }
  h3: { underlay: 10.0.0.3/24 }
networks:
  a: { driver: bridge, subnet: 192.168.1.0/24 }
  b: { driver: bridge, subnet: 192.168.2.0/24 }
containers:
  z: { host: h3, network: a }
  y: { host: h2, network: b }
  c: { host: h1, networks: { b: {}, a: {} } }
  x: { host: h3, network: a }
",
            "t.yaml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hosts_in_network(&topo, "a"), vec!["h1", "h3"]);
        assert_eq!(hosts_in_network(&topo, "b"), vec!["h1", "h2"]);
        assert!(hosts_in_network(&topo, "nope").is_empty());
    }
}
