//! Deterministic address allocation (IPAM) of container addresses; routed-mode host slices are
//! in `slices.rs`, the choice of one address in a range (both families) in `pick.rs`.
//!
//! Everything is allocated in declaration order and each allocation only looks at what was
//! declared *before* it, so appending a host or a container never moves an existing one. The
//! price: an explicit address that an earlier container already received automatically is a
//! duplicate-address error (telling the user which container holds it), never a silent move.

use super::error::Diagnostic;
use super::ipam6;
use super::model::{AttachmentSpec, Network, Topology, VxlanMode};
use super::naming::container_mac;
use super::pick::{Pool, pick};
use super::slices::all_slices;
pub use super::slices::{MAX_SLICE_PREFIX, slice, slices};
use crate::state::Mac;
use indexmap::IndexMap;
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One address family of an attachment: the address, its prefix length and the next hop of the
/// family's default route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addressing<A> {
    pub address: A,
    /// Prefix length of the address: the subnet's (bridge, bridged vxlan) or the slice's (routed).
    pub prefix_len: u8,
    /// Next hop for the default route: the bridge gateway, or the routed slice's `.1` / `::1`;
    /// `None` for bridged VXLAN, whose containers reach the whole subnet directly.
    pub gateway: Option<A>,
}

/// Where one container interface is attached, with everything compile and the lab need.
/// A dual-stack network gives both families, an IPv4-only one only `v4`, an IPv6-only one only
/// `v6`; at least one is always present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container: String,
    pub host: String,
    pub network: String,
    /// Interface name inside the container: `eth0`, `eth1`, ... or the explicit name.
    pub interface: String,
    pub v4: Option<Addressing<Ipv4Addr>>,
    pub v6: Option<Addressing<Ipv6Addr>>,
    /// The interface's MAC: Docker's `02:42:<IPv4>`, or for IPv6-only attachments a locally
    /// administered MAC hashed from (container, network) (see `naming::container_mac`).
    pub mac: Mac,
    /// Whether this attachment carries the container's (only) IPv4 default route: the network
    /// named by the container's `default_route`, else the first of its attachments with an IPv4
    /// gateway; never with `default_route: false`.
    pub default_route: bool,
    /// Same for the IPv6 default route (`::/0`): the network named by `default_route` if it has
    /// an IPv6 gateway, else the first attachment with an IPv6 gateway.
    pub default_route6: bool,
}

impl Attachment {
    /// The IPv4 address, if the network carries IPv4.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.v4.map(|a| a.address)
    }

    /// The IPv6 address, if the network carries IPv6.
    pub fn ipv6(&self) -> Option<Ipv6Addr> {
        self.v6.map(|a| a.address)
    }
}

/// The `n`th address of `net` (0 = network address), if it lies inside `net`.
pub fn nth(net: Ipv4Net, n: u32) -> Option<Ipv4Addr> {
    let base = u32::from(net.network());
    let addr = Ipv4Addr::from(base.checked_add(n)?);
    net.contains(&addr).then_some(addr)
}

/// Every attachment of every container, in container then attachment declaration order.
/// Attachments that cannot be resolved (unknown host or network, no address left) are left out;
/// `validate` reports them, so for a loaded topology nothing is left out.
pub fn attachments(topo: &Topology) -> Vec<Attachment> {
    allocate(topo).0
}

/// The address range of one network as seen from one host, and where automatic allocation
/// starts in it.
struct Range<'a> {
    net: Ipv4Net,
    /// Addresses a container may not have (besides network and broadcast).
    reserved: Vec<Ipv4Addr>,
    first_auto: u32,
    gateway: Option<Ipv4Addr>,
    /// Addresses held by something else on the network, with its description (macvlan hosts).
    held: &'a [(Ipv4Addr, String)],
    /// What the range is of a sliced network, for messages: `slice` (routed VXLAN, host-gw) or
    /// `block` (routed); `None` for a whole subnet.
    slice_noun: Option<&'static str>,
    /// Prefix length of a container's address: the range's, or 32 on a routed network.
    prefix_len: u8,
}

fn range_for<'a>(
    topo: &Topology,
    network: &str,
    host: &str,
    slices: &HashMap<String, IndexMap<String, Ipv4Net>>,
    held: &'a HashMap<String, Vec<(Ipv4Addr, String)>>,
) -> Option<Range<'a>> {
    match topo.networks.get(network)? {
        Network::Bridge(b) => {
            let gateway = b.gateway()?;
            Some(Range {
                net: b.subnet4()?.trunc(),
                reserved: vec![gateway],
                // First address after the network address that is not the gateway: with the
                // default gateway (.1) the first container gets .2.
                first_auto: 1,
                gateway: Some(gateway),
                held: &[],
                slice_noun: None,
                prefix_len: b.subnet4()?.prefix_len(),
            })
        }
        // Docker's macvlan driver: the gateway is the wire's router (reserved, default route).
        Network::Macvlan(m) => Some(Range {
            net: m.subnet.trunc(),
            reserved: Vec::new(),
            first_auto: 1,
            gateway: Some(m.gateway()),
            held: held.get(network).map_or(&[], Vec::as_slice),
            slice_noun: None,
            prefix_len: m.subnet.prefix_len(),
        }),
        Network::Vxlan(vx) if vx.mode == VxlanMode::Bridged => Some(Range {
            net: vx.subnet4()?.trunc(),
            reserved: Vec::new(),
            first_auto: 2,
            gateway: None,
            held: &[],
            slice_noun: None,
            prefix_len: vx.subnet4()?.prefix_len(),
        }),
        Network::HostGw(_) => {
            // No VTEP: `.0` is just the slice's network address; `.1` is the bridge gateway and
            // containers start at `.2`, exactly as in routed VXLAN.
            let slice = *slices.get(network)?.get(host)?;
            let gateway = nth(slice, 1)?;
            Some(Range {
                net: slice,
                reserved: vec![gateway],
                first_auto: 2,
                gateway: Some(gateway),
                held: &[],
                slice_noun: Some("slice"),
                prefix_len: slice.prefix_len(),
            })
        }
        Network::Routed(r) => {
            // Containers are /32s routed to their veth; the gateway is the link-local
            // 169.254.1.1 outside the block. `.0` is the VTEP address with VXLAN (unused
            // otherwise: the block's network address); containers start at `.1`.
            let block = *slices.get(network)?.get(host)?;
            Some(Range {
                net: block,
                reserved: if r.vxlan() {
                    vec![block.network()]
                } else {
                    Vec::new()
                },
                first_auto: 1,
                gateway: Some(super::routed::GATEWAY),
                held: &[],
                slice_noun: Some("block"),
                prefix_len: 32,
            })
        }
        Network::Vxlan(_) => {
            let slice = *slices.get(network)?.get(host)?;
            // .0 is the VTEP address, .1 the bridge gateway.
            let vtep = nth(slice, 0)?;
            let gateway = nth(slice, 1)?;
            Some(Range {
                net: slice,
                reserved: vec![vtep, gateway],
                first_auto: 2,
                gateway: Some(gateway),
                held: &[],
                slice_noun: Some("slice"),
                prefix_len: slice.prefix_len(),
            })
        }
    }
}

/// Why `addr` cannot be a container address in `range`, if it cannot.
fn unusable(addr: Ipv4Addr, range: &Range) -> Option<String> {
    if !range.net.contains(&addr) {
        Some(format!("{addr} is outside {}", range.net))
    } else if addr == range.net.network() {
        Some(format!("{addr} is the network address of {}", range.net))
    } else if addr == range.net.broadcast() {
        Some(format!("{addr} is the broadcast address of {}", range.net))
    } else if Some(addr) == range.gateway {
        Some(format!("{addr} is the gateway of {}", range.net))
    } else if let Some((_, holder)) = range.held.iter().find(|(a, _)| *a == addr) {
        Some(format!(
            "{addr} is reserved for {holder}'s own interface in {}",
            range.net
        ))
    } else if range.reserved.contains(&addr) {
        Some(format!(
            "{addr} is reserved for the VXLAN device in {}",
            range.net
        ))
    } else {
        None
    }
}

/// Allocate all attachments; also returns the problems found (duplicates, bad explicit
/// addresses, exhausted ranges, routed slices).
pub(crate) fn allocate(topo: &Topology) -> (Vec<Attachment>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let slices = all_slices(topo, &mut diags);
    // Macvlan addresses the hosts hold, once per network rather than once per attachment.
    let held: HashMap<String, Vec<(Ipv4Addr, String)>> = topo
        .networks
        .iter()
        .filter_map(|(name, net)| match net {
            Network::Macvlan(m) => Some((name.clone(), super::macvlan::held_addresses(topo, m))),
            _ => None,
        })
        .collect();
    // Per network: address -> container that holds it.
    let mut used: HashMap<String, HashMap<Ipv4Addr, String>> = HashMap::new();
    let mut used6: HashMap<String, HashMap<Ipv6Addr, String>> = HashMap::new();
    let slices6 = ipam6::all_slices6(topo, &mut diags);
    // Per network and range (a slice is one per host): where the next automatic IPv4 search
    // starts. Everything below it is unusable or taken, and taken only grows, so each search
    // resumes where the last one stopped instead of rescanning every address handed out:
    // O(containers) per network rather than O(containers²), paid by every host's compile.
    let mut next4: HashMap<(String, Ipv4Net), u32> = HashMap::new();
    let mut next6: HashMap<(String, Ipv6Net), u128> = HashMap::new();
    let mut out = Vec::new();
    for (cname, container) in &topo.containers {
        if !topo.hosts.contains_key(&container.host) {
            continue;
        }
        let mut has_default = false;
        let mut has_default6 = false;
        for spec in container.specs(cname) {
            let Some(network) = topo.networks.get(spec.network) else {
                continue;
            };
            // IPv4 side: exactly the version-1 rules; absent for an IPv6-only network.
            let v4 = if network.subnet4().is_some() {
                let Some(mut range) =
                    range_for(topo, spec.network, &container.host, &slices, &held)
                else {
                    continue;
                };
                let next = next4
                    .entry((spec.network.to_string(), range.net))
                    .or_insert(range.first_auto);
                range.first_auto = *next;
                let taken = used.entry(spec.network.to_string()).or_default();
                let Some(address) = pick(&range, cname, &container.host, &spec, taken, &mut diags)
                else {
                    continue;
                };
                if spec.address.is_none() {
                    // Not past it: the address stays free if the IPv6 side fails below.
                    *next = u32::from(address).saturating_sub(u32::from(range.net.network()));
                }
                Some((address, range))
            } else {
                if spec.address.is_some() {
                    diags.push(Diagnostic::new(
                        &spec.address_path,
                        format!("network {} has no IPv4 subnet (use address6)", spec.network),
                    ));
                    continue;
                }
                None
            };
            let v6 = if network.subnet6().is_some() {
                let Some(mut range) =
                    ipam6::range6_for(topo, spec.network, &container.host, &slices6)
                else {
                    continue;
                };
                let next = next6
                    .entry((spec.network.to_string(), range.prefix()))
                    .or_insert(range.first_auto());
                range.resume_at(*next);
                let taken = used6.entry(spec.network.to_string()).or_default();
                let Some(address) = pick(&range, cname, &container.host, &spec, taken, &mut diags)
                else {
                    continue;
                };
                if spec.address6.is_none() {
                    *next =
                        u128::from(address).saturating_sub(u128::from(range.prefix().network()));
                }
                Some((address, range))
            } else {
                if spec.address6.is_some() {
                    diags.push(Diagnostic::new(
                        spec.address6_path(),
                        format!("network {} has no IPv6 subnet (set subnet6)", spec.network),
                    ));
                    continue;
                }
                None
            };
            let v4 = v4.map(|(address, range)| {
                used.entry(spec.network.to_string())
                    .or_default()
                    .insert(address, cname.clone());
                Addressing {
                    address,
                    prefix_len: range.prefix_len,
                    gateway: range.gateway,
                }
            });
            let v6 = v6.map(|(address, range)| {
                used6
                    .entry(spec.network.to_string())
                    .or_default()
                    .insert(address, cname.clone());
                range.addressing(address)
            });
            // `default_route` names the network explicitly (validation checks it has a
            // gateway), else the first attachment with a gateway carries it: at most one either
            // way, since a container's networks are distinct. `default_route: false`: none.
            let off = container.without_default_route();
            let default_route = !off
                && v4.is_some_and(|a| a.gateway.is_some())
                && match container.default_route_network() {
                    Some(chosen) => chosen == spec.network,
                    None => !has_default,
                };
            has_default |= default_route;
            // IPv6 likewise, except that a chosen network without an IPv6 gateway leaves the
            // IPv6 default to the first network that has one.
            let chosen6 = container
                .default_route_network()
                .filter(|n| has_gateway6(topo, n));
            let default_route6 = !off
                && v6.is_some_and(|a| a.gateway.is_some())
                && match chosen6 {
                    Some(chosen) => chosen == spec.network,
                    None => !has_default6,
                };
            has_default6 |= default_route6;
            out.push(Attachment {
                container: cname.clone(),
                host: container.host.clone(),
                network: spec.network.to_string(),
                mac: container_mac(cname, spec.network, v4.map(|a| a.address)),
                interface: spec.interface,
                v4,
                v6,
                default_route,
                default_route6,
            });
        }
    }
    (out, diags)
}

impl Pool for Range<'_> {
    type Addr = Ipv4Addr;
    const FAMILY: &'static str = "";

    fn net(&self) -> impl std::fmt::Display {
        self.net
    }

    fn explicit(spec: &AttachmentSpec) -> Option<(Ipv4Addr, String)> {
        Some((spec.address?, spec.address_path.clone()))
    }

    fn unusable(&self, addr: Ipv4Addr) -> Option<String> {
        unusable(addr, self)
    }

    fn slice_hint(&self, host: &str) -> Option<String> {
        self.slice_noun
            .map(|noun| format!("the {noun} of host {host}"))
    }

    /// Every address of the range from `first_auto` on.
    fn candidates(&self, _taken: usize) -> impl Iterator<Item = Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.net.prefix_len()));
        (u64::from(self.first_auto)..size).filter_map(|n| nth(self.net, u32::try_from(n).ok()?))
    }
}

/// Whether network `name` gives its containers an IPv6 gateway (bridge or routed VXLAN carrying
/// IPv6).
fn has_gateway6(topo: &Topology, name: &str) -> bool {
    match topo.networks.get(name) {
        Some(Network::Bridge(b)) => b.v6().is_some(),
        Some(Network::Vxlan(vx)) => vx.mode == VxlanMode::Routed && vx.v6().is_some(),
        Some(Network::Routed(r)) => r.v6().is_some(),
        _ => false,
    }
}
