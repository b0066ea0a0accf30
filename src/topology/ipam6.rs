//! IPv6 side of address allocation (dual stack): container IPv6 addresses and routed-mode IPv6
//! host slices, by the same rules as IPv4 in `ipam.rs` / `slices.rs`.
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
use indexmap::IndexMap;
use ipnet::Ipv6Net;
use std::collections::HashMap;
use std::net::Ipv6Addr;

/// Smallest IPv6 slice we accept: `::` (VTEP), `::1` (gateway) and at least two containers.
pub const MAX_SLICE_PREFIX6: u8 = 126;

/// The `n`th address of `net` (0 = the prefix itself), if it lies inside `net`.
pub fn nth6(net: Ipv6Net, n: u128) -> Option<Ipv6Addr> {
    let base = u128::from(net.network());
    let addr = Ipv6Addr::from(base.checked_add(n)?);
    net.contains(&addr).then_some(addr)
}

fn overlaps(a: Ipv6Net, b: Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The IPv6 range of one network as seen from one host.
pub(crate) struct Range6 {
    net: Ipv6Net,
    /// The VXLAN device's address in a routed slice.
    vtep: Option<Ipv6Addr>,
    first_auto: u128,
    gateway: Option<Ipv6Addr>,
}

impl Range6 {
    /// The prefix: with the network name, the key of `ipam::allocate`'s per-range cursor.
    pub(crate) fn net(&self) -> Ipv6Net {
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
            prefix_len: self.net.prefix_len(),
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
        }),
        Network::Vxlan(vx) if vx.mode == VxlanMode::Bridged => Some(Range6 {
            net: vx.v6()?.trunc(),
            vtep: None,
            first_auto: 2,
            gateway: None,
        }),
        // host-gw and macvlan are IPv4-only.
        Network::HostGw(_) | Network::Macvlan(_) => None,
        Network::Vxlan(_) => {
            let slice = *slices6.get(network)?.get(host)?;
            Some(Range6 {
                net: slice,
                vtep: nth6(slice, 0),
                first_auto: 2,
                gateway: nth6(slice, 1),
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

/// The IPv6 address of one attachment (explicit if usable and free, else the first free one).
pub(crate) fn pick6(
    cname: &str,
    host: &str,
    spec: &AttachmentSpec,
    range: &Range6,
    taken: &HashMap<Ipv6Addr, String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Ipv6Addr> {
    match spec.address6 {
        Some(addr) => {
            let problem = unusable6(addr, range)
                .map(|p| {
                    if range.vtep.is_some() {
                        format!("{p} (the IPv6 slice of host {host})")
                    } else {
                        p
                    }
                })
                .or_else(|| {
                    taken.get(&addr).map(|holder| {
                        format!(
                            "{addr} is already used by container {holder} on network {}",
                            spec.network
                        )
                    })
                });
            match problem {
                Some(p) => {
                    diags.push(Diagnostic::new(spec.address6_path(), p));
                    None
                }
                None => Some(addr),
            }
        }
        None => {
            // Each container takes at most one candidate, so this scan is bounded by the number
            // of containers, whatever the prefix size.
            let found = (range.first_auto..)
                .take(taken.len() + 3)
                .map_while(|n| nth6(range.net, n))
                .find(|a| unusable6(*a, range).is_none() && !taken.contains_key(a));
            if found.is_none() {
                diags.push(Diagnostic::new(
                    format!("containers.{cname}"),
                    format!(
                        "no free IPv6 address left in {} on network {}",
                        range.net, spec.network
                    ),
                ));
            }
            found
        }
    }
}

/// IPv6 slices of every routed network that carries IPv6, with their problems.
pub(crate) fn all_slices6(
    topo: &Topology,
    diags: &mut Vec<Diagnostic>,
) -> HashMap<String, IndexMap<String, Ipv6Net>> {
    let mut out = HashMap::new();
    for (name, net) in &topo.networks {
        if let Network::Vxlan(vx) = net
            && vx.mode == VxlanMode::Routed
        {
            let (s, d) = allocate_slices6(topo, name, vx);
            out.insert(name.clone(), s);
            diags.extend(d);
        }
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
        _ => IndexMap::new(),
    }
}

/// Like `slices::allocate_slices`: pinned `slices6` first, then the next free `/host_prefix6`
/// for every other declared host, in host order.
fn allocate_slices6(
    topo: &Topology,
    name: &str,
    vx: &VxlanNetwork,
) -> (IndexMap<String, Ipv6Net>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut out = IndexMap::new();
    let path = format!("networks.{name}");
    let Some(subnet) = vx.v6() else {
        if !vx.slices6.is_empty() {
            diags.push(Diagnostic::new(
                format!("{path}.slices6"),
                "the network has no IPv6 subnet (set subnet6)",
            ));
        }
        return (out, diags);
    };
    let prefix = vx.host_prefix6();
    if prefix < subnet.prefix_len() || prefix > MAX_SLICE_PREFIX6 {
        diags.push(Diagnostic::new(
            format!("{path}.host_prefix6"),
            format!(
                "/{prefix} slices do not fit subnet {subnet} (host_prefix6 must be between {} and {MAX_SLICE_PREFIX6})",
                subnet.prefix_len()
            ),
        ));
        return (out, diags);
    }
    let mut pinned: Vec<(Ipv6Net, &str)> = Vec::new();
    for (host, slice) in &vx.slices6 {
        let spath = format!("{path}.slices6.{host}");
        let problem = if !topo.hosts.contains_key(host) {
            Some(format!("unknown host {host:?}"))
        } else if slice.addr() != slice.network() {
            Some(format!(
                "{slice} has host bits set (did you mean {}?)",
                slice.trunc()
            ))
        } else if !subnet.contains(slice) {
            Some(format!("{slice} is outside subnet {subnet}"))
        } else if slice.prefix_len() > MAX_SLICE_PREFIX6 {
            Some(format!(
                "{slice} is too small (at most /{MAX_SLICE_PREFIX6})"
            ))
        } else {
            pinned
                .iter()
                .find(|(other, _)| overlaps(*other, *slice))
                .map(|(other, owner)| format!("{slice} overlaps {other}, the slice of {owner}"))
        };
        match problem {
            Some(message) => diags.push(Diagnostic::new(spath, message)),
            None => {
                pinned.push((*slice, host));
                out.insert(host.clone(), *slice);
            }
        }
    }
    let Ok(mut candidates) = subnet.trunc().subnets(prefix) else {
        return (out, diags);
    };
    for host in topo.hosts.keys() {
        if vx.slices6.contains_key(host) {
            continue;
        }
        // Pinned slices are few: skipping past them is bounded by their count per host.
        match candidates.find(|c| !pinned.iter().any(|(p, _)| overlaps(*p, *c))) {
            Some(slice) => {
                out.insert(host.clone(), slice);
            }
            None => {
                diags.push(Diagnostic::new(
                    path.clone(),
                    format!(
                        "subnet {subnet} has no free /{prefix} IPv6 slice left for host {host}"
                    ),
                ));
                break;
            }
        }
    }
    let ordered = topo
        .hosts
        .keys()
        .filter_map(|h| out.get(h).map(|s| (h.clone(), *s)))
        .collect();
    (ordered, diags)
}
