//! Host slices: each host's share of a sliced network's subnet (VXLAN `mode: routed`,
//! `driver: host-gw`, and the blocks of `driver: routed`, see [`Sliced`]), for both address
//! families.
//!
//! Pinned slices are fixed points; the other hosts get the next free slice of `host_prefix`
//! size in host declaration order. Slices are allocated for *every* declared host, not only those
//! with containers on the network, so that placing a first container on a host never shifts other
//! hosts' slices, and appending a host never moves an existing one. IPv4 (`slices`,
//! `host_prefix`) and IPv6 (`slices6`, `host_prefix6`, see `ipam6.rs`) follow the same rules
//! through [`SliceNet`]; only the limits, the key names and one message differ.

use super::error::Diagnostic;
use super::model::{HostGwNetwork, Network, Topology, VxlanMode, VxlanNetwork};
use super::routed::RoutedNetwork;
use indexmap::IndexMap;
use ipnet::{Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use std::collections::HashMap;
use std::fmt::Display;

/// Largest slice prefix we accept: a slice needs `.0` (VTEP), `.1` (gateway), a container address
/// and a broadcast address.
pub const MAX_SLICE_PREFIX: u8 = 30;

/// Largest IPv6 slice prefix we accept: `::` (VTEP), `::1` (gateway) and at least two containers.
pub const MAX_SLICE_PREFIX6: u8 = 126;

/// What slice allocation needs of one address family's prefix type ([`Ipv4Net`], [`Ipv6Net`]).
pub(crate) trait SliceNet: Copy + Display {
    /// Largest slice prefix accepted.
    const MAX_SLICE_PREFIX: u8;
    /// How the family's keys end: `""` (`slices`, `host_prefix`) or `"6"` (`slices6`, ...).
    const KEY_SUFFIX: &'static str;
    /// The candidate slices of a subnet, in address order.
    type Slices: Iterator<Item = Self>;
    fn prefix_len(&self) -> u8;
    fn trunc(&self) -> Self;
    /// Whether the address has bits set past the prefix (`10.0.1.5/24`).
    fn has_host_bits(&self) -> bool;
    fn contains_net(&self, other: &Self) -> bool;
    fn overlaps(&self, other: &Self) -> bool;
    /// The `/prefix` slices of the (truncated) prefix; `None` if `prefix` is shorter.
    fn slices_of(&self, prefix: u8) -> Option<Self::Slices>;
    /// The message when the subnet has no free `/prefix` slice (`noun`) left for `host` (of
    /// `hosts`).
    fn no_free_slice(&self, prefix: u8, noun: &str, host: &str, hosts: usize) -> String;
}

/// Implements [`SliceNet`] for one of ipnet's prefix types, whose methods have the same names.
macro_rules! slice_net {
    ($net:ty, $slices:ty, $max:expr, $suffix:literal,
     |$subnet:ident, $prefix:ident, $noun:ident, $host:ident, $hosts:ident| $no_free:expr) => {
        impl SliceNet for $net {
            const MAX_SLICE_PREFIX: u8 = $max;
            const KEY_SUFFIX: &'static str = $suffix;
            type Slices = $slices;
            fn prefix_len(&self) -> u8 {
                <$net>::prefix_len(self)
            }
            fn trunc(&self) -> Self {
                <$net>::trunc(self)
            }
            fn has_host_bits(&self) -> bool {
                self.addr() != self.network()
            }
            fn contains_net(&self, other: &Self) -> bool {
                self.contains(other)
            }
            fn overlaps(&self, other: &Self) -> bool {
                self.contains(&other.network()) || other.contains(&self.network())
            }
            fn slices_of(&self, prefix: u8) -> Option<$slices> {
                <$net>::trunc(self).subnets(prefix).ok()
            }
            fn no_free_slice(
                &self,
                $prefix: u8,
                $noun: &str,
                $host: &str,
                $hosts: usize,
            ) -> String {
                let $subnet = self;
                $no_free
            }
        }
    };
}

slice_net!(
    Ipv4Net,
    Ipv4Subnets,
    MAX_SLICE_PREFIX,
    "",
    |subnet, prefix, noun, host, hosts| format!(
        "subnet {subnet} has no free /{prefix} {noun} left for host {host} ({hosts} hosts declared)"
    )
);
slice_net!(
    Ipv6Net,
    Ipv6Subnets,
    MAX_SLICE_PREFIX6,
    "6",
    |subnet, prefix, noun, host, _hosts| format!(
        "subnet {subnet} has no free /{prefix} IPv6 {noun} left for host {host}"
    )
);

/// What slice allocation needs of a network that is cut into per-host slices, in one family.
pub(crate) struct Sliced<'a, N = Ipv4Net> {
    pub subnet: N,
    pub host_prefix: u8,
    pub slices: &'a IndexMap<String, N>,
    /// The keys and the noun of the driver: `host_prefix`/`slices`/slice, or (routed)
    /// `block_prefix`/`blocks`/block. The IPv6 keys add the family's suffix.
    pub keys: SliceKeys,
}

/// How a sliced driver names its slices (see [`Sliced::keys`]).
#[derive(Clone, Copy)]
pub(crate) struct SliceKeys {
    pub prefix: &'static str,
    pub pins: &'static str,
    pub noun: &'static str,
}

/// The keys of routed VXLAN and host-gw.
const SLICES: SliceKeys = SliceKeys {
    prefix: "host_prefix",
    pins: "slices",
    noun: "slice",
};

/// The keys of `driver: routed`.
const BLOCKS: SliceKeys = SliceKeys {
    prefix: "block_prefix",
    pins: "blocks",
    noun: "block",
};

impl<'a> Sliced<'a> {
    /// The IPv4 slicing of a routed VXLAN network; `None` when it is IPv6-only.
    fn vxlan(vx: &'a VxlanNetwork) -> Option<Self> {
        Some(Sliced {
            subnet: vx.subnet4()?,
            host_prefix: vx.host_prefix(),
            slices: &vx.slices,
            keys: SLICES,
        })
    }
}

impl<'a> Sliced<'a, Ipv6Net> {
    /// The IPv6 slicing of a routed VXLAN network; `None` when it carries no IPv6.
    pub(crate) fn vxlan6(vx: &'a VxlanNetwork) -> Option<Self> {
        Some(Sliced {
            subnet: vx.v6()?,
            host_prefix: vx.host_prefix6(),
            slices: &vx.slices6,
            keys: SLICES,
        })
    }

    /// The IPv6 blocks of a routed network; `None` when it carries no IPv6.
    pub(crate) fn routed6(r: &'a RoutedNetwork) -> Option<Self> {
        Some(Sliced {
            subnet: r.v6()?,
            host_prefix: r.block_prefix6(),
            slices: &r.blocks6,
            keys: BLOCKS,
        })
    }
}

impl<'a> From<&'a HostGwNetwork> for Sliced<'a> {
    fn from(h: &'a HostGwNetwork) -> Self {
        Sliced {
            subnet: h.subnet,
            host_prefix: h.host_prefix(),
            slices: &h.slices,
            keys: SLICES,
        }
    }
}

/// The IPv4 slicing of `net`, if it is cut into per-host slices (routed VXLAN, host-gw, routed
/// blocks).
pub(crate) fn sliced(net: &Network) -> Option<Sliced<'_>> {
    match net {
        Network::Vxlan(vx) if vx.mode == VxlanMode::Routed => Sliced::vxlan(vx),
        Network::HostGw(h) => Some(h.into()),
        Network::Routed(r) => Some(Sliced {
            subnet: r.subnet4()?,
            host_prefix: r.block_prefix(),
            slices: &r.blocks,
            keys: BLOCKS,
        }),
        _ => None,
    }
}

/// Slices of a sliced network for every declared host, plus problems found on the way.
pub(crate) fn allocate_slices<'a, N: SliceNet + 'a>(
    topo: &Topology,
    name: &str,
    vx: impl Into<Sliced<'a, N>>,
) -> (IndexMap<String, N>, Vec<Diagnostic>) {
    let vx: Sliced<N> = vx.into();
    let mut diags = Vec::new();
    let mut out = IndexMap::new();
    let path = format!("networks.{name}");
    let six = N::KEY_SUFFIX;
    let max = N::MAX_SLICE_PREFIX;
    let prefix = vx.host_prefix;
    let SliceKeys {
        prefix: prefix_key,
        pins: pins_key,
        noun,
    } = vx.keys;
    if prefix < vx.subnet.prefix_len() || prefix > max {
        diags.push(Diagnostic::new(
            format!("{path}.{prefix_key}{six}"),
            format!(
                "/{prefix} {noun}s do not fit subnet {} ({prefix_key}{six} must be between {} and {max})",
                vx.subnet,
                vx.subnet.prefix_len()
            ),
        ));
        return (out, diags);
    }
    // Pinned slices first: they are fixed points the automatic allocation must avoid.
    let mut pinned: Vec<(N, &str)> = Vec::new();
    for (host, slice) in vx.slices {
        let spath = format!("{path}.{pins_key}{six}.{host}");
        let problem = if !topo.hosts.contains_key(host) {
            Some(format!("unknown host {host:?}"))
        } else if slice.has_host_bits() {
            Some(format!(
                "{slice} has host bits set (did you mean {}?)",
                slice.trunc()
            ))
        } else if !vx.subnet.contains_net(slice) {
            Some(format!("{slice} is outside subnet {}", vx.subnet))
        } else if slice.prefix_len() > max {
            Some(format!("{slice} is too small (at most /{max})"))
        } else {
            pinned
                .iter()
                .find(|(other, _)| other.overlaps(slice))
                .map(|(other, owner)| format!("{slice} overlaps {other}, the {noun} of {owner}"))
        };
        match problem {
            Some(message) => diags.push(Diagnostic::new(spath, message)),
            None => {
                pinned.push((*slice, host));
                out.insert(host.clone(), *slice);
            }
        }
    }
    let Some(mut candidates) = vx.subnet.slices_of(prefix) else {
        return (out, diags);
    };
    for host in topo.hosts.keys() {
        if vx.slices.contains_key(host) {
            continue;
        }
        // Pinned slices are few: skipping past them is bounded by their count per host.
        match candidates.find(|c| !pinned.iter().any(|(p, _)| p.overlaps(c))) {
            Some(slice) => {
                out.insert(host.clone(), slice);
            }
            None => {
                diags.push(Diagnostic::new(
                    path.clone(),
                    vx.subnet
                        .no_free_slice(prefix, noun, host, topo.hosts.len()),
                ));
                break;
            }
        }
    }
    // Present slices in host declaration order regardless of pinning.
    let ordered = topo
        .hosts
        .keys()
        .filter_map(|h| out.get(h).map(|s| (h.clone(), *s)))
        .collect();
    (ordered, diags)
}

/// IPv4 slices of every sliced network (routed VXLAN, host-gw), with their problems.
pub(crate) fn all_slices(
    topo: &Topology,
    diags: &mut Vec<Diagnostic>,
) -> HashMap<String, IndexMap<String, Ipv4Net>> {
    let mut out = HashMap::new();
    for (name, net) in &topo.networks {
        if let Some(sl) = sliced(net) {
            let (s, d) = allocate_slices(topo, name, sl);
            out.insert(name.clone(), s);
            diags.extend(d);
        }
    }
    out
}

/// The slice of `host` in sliced network `network`, if both exist and it could be allocated.
pub fn slice(topo: &Topology, network: &str, host: &str) -> Option<Ipv4Net> {
    slices(topo, network).get(host).copied()
}

/// All slices of sliced network `network` (routed VXLAN, host-gw) by host, in host declaration
/// order (empty for other networks). Cheaper than calling [`slice()`] per host.
pub fn slices(topo: &Topology, network: &str) -> IndexMap<String, Ipv4Net> {
    match topo.networks.get(network).and_then(sliced) {
        Some(s) => allocate_slices(topo, network, s).0,
        None => IndexMap::new(),
    }
}
