//! IPv6 side of address allocation (dual stack): the IPv6 range of an attachment and the
//! routed-mode IPv6 host slices, by the same rules as IPv4 in `ipam.rs`; the choice of an address
//! (`pick.rs`) and the slice allocation (`slices.rs`) are shared by both families.
//!
//! Declaration order, each allocation looking only at what was declared before it, so appending
//! a host or a container never moves an existing address. Layout mirrors IPv4: in a bridge
//! network `::1` is the gateway and containers start at `::2`; in a bridged VXLAN network
//! containers start at `::2`; in a routed slice `::` is the VTEP address, `::1` the bridge's
//! gateway and containers start at `::2`. IPv6 has no broadcast address, so the last address
//! of a prefix is usable.

use super::error::Diagnostic;
use super::ipam::Addressing;
use super::model::{AttachmentSpec, Network, Topology, VxlanMode, VxlanNetwork};
use super::pick::Pool;
use super::routed::RoutedNetwork;
use super::slices::{Sliced, allocate_slices};
use indexmap::IndexMap;
use ipnet::Ipv6Net;
use std::collections::HashMap;
use std::net::Ipv6Addr;

pub use super::slices::MAX_SLICE_PREFIX6;

/// The `n`th address of `net` (0 = the prefix itself), if it lies inside `net`.
pub fn nth6(net: Ipv6Net, n: u128) -> Option<Ipv6Addr> {
    let base = u128::from(net.network());
    let addr = Ipv6Addr::from(base.checked_add(n)?);
    net.contains(&addr).then_some(addr)
}

/// The IPv6 range of one network as seen from one host.
pub(crate) struct Range6 {
    net: Ipv6Net,
    /// The VXLAN device's address in a routed slice.
    vtep: Option<Ipv6Addr>,
    first_auto: u128,
    gateway: Option<Ipv6Addr>,
    /// What the range is of a sliced network, for messages (`slice`, `block`).
    slice_noun: Option<&'static str>,
    /// Prefix length of a container's address: the range's, or 128 on a routed network.
    prefix_len: u8,
}

impl Range6 {
    /// The prefix: with the network name, the key of `ipam::allocate`'s per-range cursor.
    pub(crate) fn prefix(&self) -> Ipv6Net {
        self.net
    }

    pub(crate) fn first_auto(&self) -> u128 {
        self.first_auto
    }

    /// Start automatic allocation at the `n`th address: every address before it is taken or
    /// unusable (see `ipam::allocate`).
    pub(crate) fn resume_at(&mut self, n: u128) {
        self.first_auto = n;
    }

    pub(crate) fn addressing(&self, address: Ipv6Addr) -> Addressing<Ipv6Addr> {
        Addressing {
            address,
            prefix_len: self.prefix_len,
            gateway: self.gateway,
        }
    }
}

pub(crate) fn range6_for(
    topo: &Topology,
    network: &str,
    host: &str,
    slices6: &HashMap<String, IndexMap<String, Ipv6Net>>,
) -> Option<Range6> {
    match topo.networks.get(network)? {
        Network::Bridge(b) => Some(Range6 {
            net: b.v6()?.trunc(),
            vtep: None,
            first_auto: 1,
            gateway: b.gateway6(),
            slice_noun: None,
            prefix_len: b.v6()?.prefix_len(),
        }),
        Network::Vxlan(vx) if vx.mode == VxlanMode::Bridged => Some(Range6 {
            net: vx.v6()?.trunc(),
            vtep: None,
            first_auto: 2,
            gateway: None,
            slice_noun: None,
            prefix_len: vx.v6()?.prefix_len(),
        }),
        // As in IPv4 (`ipam.rs`): /128s via the link-local gateway fe80::1, `::` the VTEP
        // address with VXLAN (the subnet-router anycast address otherwise), containers from `::1`.
        Network::Routed(r) => {
            let block = *slices6.get(network)?.get(host)?;
            Some(Range6 {
                net: block,
                vtep: r.vxlan().then_some(block.network()),
                first_auto: 1,
                gateway: Some(super::routed::GATEWAY6),
                slice_noun: Some("block"),
                prefix_len: 128,
            })
        }
        // host-gw and macvlan are IPv4-only.
        Network::HostGw(_) | Network::Macvlan(_) => None,
        Network::Vxlan(_) => {
            let slice = *slices6.get(network)?.get(host)?;
            Some(Range6 {
                net: slice,
                vtep: nth6(slice, 0),
                first_auto: 2,
                gateway: nth6(slice, 1),
                slice_noun: Some("slice"),
                prefix_len: slice.prefix_len(),
            })
        }
    }
}

fn unusable6(addr: Ipv6Addr, range: &Range6) -> Option<String> {
    if !range.net.contains(&addr) {
        Some(format!("{addr} is outside {}", range.net))
    } else if Some(addr) == range.vtep {
        Some(format!(
            "{addr} is reserved for the VXLAN device in {}",
            range.net
        ))
    } else if addr == range.net.network() {
        Some(format!(
            "{addr} is the subnet-router address of {}",
            range.net
        ))
    } else if Some(addr) == range.gateway {
        Some(format!("{addr} is the gateway of {}", range.net))
    } else {
        None
    }
}

impl Pool for Range6 {
    type Addr = Ipv6Addr;
    const FAMILY: &'static str = " IPv6";

    fn net(&self) -> impl std::fmt::Display {
        self.net
    }

    fn explicit(spec: &AttachmentSpec) -> Option<(Ipv6Addr, String)> {
        Some((spec.address6?, spec.address6_path()))
    }

    fn unusable(&self, addr: Ipv6Addr) -> Option<String> {
        unusable6(addr, self)
    }

    fn slice_hint(&self, host: &str) -> Option<String> {
        self.slice_noun
            .map(|noun| format!("the IPv6 {noun} of host {host}"))
    }

    /// Each container takes at most one candidate, so this scan is bounded by the number of
    /// containers, whatever the prefix size.
    fn candidates(&self, taken: usize) -> impl Iterator<Item = Ipv6Addr> {
        (self.first_auto..)
            .take(taken + 3)
            .map_while(|n| nth6(self.net, n))
    }
}

/// IPv6 slices of every routed network that carries IPv6, with their problems.
pub(crate) fn all_slices6(
    topo: &Topology,
    diags: &mut Vec<Diagnostic>,
) -> HashMap<String, IndexMap<String, Ipv6Net>> {
    let mut out = HashMap::new();
    for (name, net) in &topo.networks {
        let (s, d) = match net {
            Network::Vxlan(vx) if vx.mode == VxlanMode::Routed => allocate_slices6(topo, name, vx),
            Network::Routed(r) => allocate_blocks6(topo, name, r),
            _ => continue,
        };
        out.insert(name.clone(), s);
        diags.extend(d);
    }
    out
}

/// All IPv6 slices of routed network `network` by host, in host declaration order (empty for
/// other networks and IPv4-only ones).
pub fn slices6(topo: &Topology, network: &str) -> IndexMap<String, Ipv6Net> {
    match topo.networks.get(network) {
        Some(Network::Vxlan(vx)) if vx.mode == VxlanMode::Routed => {
            allocate_slices6(topo, network, vx).0
        }
        Some(Network::Routed(r)) => allocate_blocks6(topo, network, r).0,
        _ => IndexMap::new(),
    }
}

/// Pinned `slices6` first, then the next free `/host_prefix6` for every other declared host,
/// in host order: the IPv4 rules of `slices.rs`, on the network's IPv6 prefix.
fn allocate_slices6(
    topo: &Topology,
    name: &str,
    vx: &VxlanNetwork,
) -> (IndexMap<String, Ipv6Net>, Vec<Diagnostic>) {
    allocate6(
        topo,
        name,
        Sliced::vxlan6(vx),
        !vx.slices6.is_empty(),
        "slices6",
    )
}

/// The IPv6 blocks of routed network `name`, by the same rules (`blocks6`, `block_prefix6`).
fn allocate_blocks6(
    topo: &Topology,
    name: &str,
    r: &RoutedNetwork,
) -> (IndexMap<String, Ipv6Net>, Vec<Diagnostic>) {
    allocate6(
        topo,
        name,
        Sliced::routed6(r),
        !r.blocks6.is_empty(),
        "blocks6",
    )
}

/// The IPv6 slices of `sliced` (`None`: the network carries no IPv6, and pinning some under
/// `pins_key` is an error).
fn allocate6(
    topo: &Topology,
    name: &str,
    sliced: Option<Sliced<'_, Ipv6Net>>,
    pinned: bool,
    pins_key: &str,
) -> (IndexMap<String, Ipv6Net>, Vec<Diagnostic>) {
    match sliced {
        Some(sliced) => allocate_slices(topo, name, sliced),
        None if pinned => (
            IndexMap::new(),
            vec![Diagnostic::new(
                format!("networks.{name}.{pins_key}"),
                "the network has no IPv6 subnet (set subnet6)",
            )],
        ),
        None => (IndexMap::new(), Vec::new()),
    }
}
