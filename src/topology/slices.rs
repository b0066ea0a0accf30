//! Host slices: each host's share of a sliced network's subnet (VXLAN `mode: routed` and
//! `driver: host-gw`, see [`Sliced`]).
//!
//! Pinned slices are fixed points; the other hosts get the next free slice of `host_prefix`
//! size in host declaration order. Slices are allocated for *every* declared host, not only those
//! with containers on the network, so that placing a first container on a host never shifts other
//! hosts' slices, and appending a host never moves an existing one.

use super::error::Diagnostic;
use super::model::{HostGwNetwork, Network, Topology, VxlanMode, VxlanNetwork};
use indexmap::IndexMap;
use ipnet::Ipv4Net;

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Largest slice prefix we accept: a slice needs `.0` (VTEP), `.1` (gateway), a container address
/// and a broadcast address.
pub const MAX_SLICE_PREFIX: u8 = 30;

/// What slice allocation needs of a network that is cut into per-host slices.
pub(crate) struct Sliced<'a> {
    pub subnet: Ipv4Net,
    pub host_prefix: u8,
    pub slices: &'a IndexMap<String, Ipv4Net>,
}

impl<'a> Sliced<'a> {
    /// The IPv4 slicing of a routed VXLAN network; `None` when it is IPv6-only (its IPv6
    /// slices are in `ipam6`).
    fn vxlan(vx: &'a VxlanNetwork) -> Option<Self> {
        Some(Sliced {
            subnet: vx.subnet4()?,
            host_prefix: vx.host_prefix(),
            slices: &vx.slices,
        })
    }
}

impl<'a> From<&'a HostGwNetwork> for Sliced<'a> {
    fn from(h: &'a HostGwNetwork) -> Self {
        Sliced {
            subnet: h.subnet,
            host_prefix: h.host_prefix(),
            slices: &h.slices,
        }
    }
}

/// The slicing of `net`, if it is cut into per-host slices (routed VXLAN, host-gw).
pub(crate) fn sliced(net: &Network) -> Option<Sliced<'_>> {
    match net {
        Network::Vxlan(vx) if vx.mode == VxlanMode::Routed => Sliced::vxlan(vx),
        Network::HostGw(h) => Some(h.into()),
        _ => None,
    }
}

/// Slices of a sliced network for every declared host, plus problems found on the way.
pub(crate) fn allocate_slices<'a>(
    topo: &Topology,
    name: &str,
    vx: impl Into<Sliced<'a>>,
) -> (IndexMap<String, Ipv4Net>, Vec<Diagnostic>) {
    let vx: Sliced = vx.into();
    let mut diags = Vec::new();
    let mut out = IndexMap::new();
    let path = format!("networks.{name}");
    let prefix = vx.host_prefix;
    if prefix < vx.subnet.prefix_len() || prefix > MAX_SLICE_PREFIX {
        diags.push(Diagnostic::new(
            format!("{path}.host_prefix"),
            format!(
                "/{prefix} slices do not fit subnet {} (host_prefix must be between {} and {MAX_SLICE_PREFIX})",
                vx.subnet,
                vx.subnet.prefix_len()
            ),
        ));
        return (out, diags);
    }
    // Pinned slices first: they are fixed points the automatic allocation must avoid.
    let mut pinned: Vec<(Ipv4Net, &str)> = Vec::new();
    for (host, slice) in vx.slices {
        let spath = format!("{path}.slices.{host}");
        let problem = if !topo.hosts.contains_key(host) {
            Some(format!("unknown host {host:?}"))
        } else if slice.addr() != slice.network() {
            Some(format!(
                "{slice} has host bits set (did you mean {}?)",
                slice.trunc()
            ))
        } else if !vx.subnet.contains(slice) {
            Some(format!("{slice} is outside subnet {}", vx.subnet))
        } else if slice.prefix_len() > MAX_SLICE_PREFIX {
            Some(format!(
                "{slice} is too small (at most /{MAX_SLICE_PREFIX})"
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
    let Ok(mut candidates) = vx.subnet.trunc().subnets(prefix) else {
        return (out, diags);
    };
    for host in topo.hosts.keys() {
        if vx.slices.contains_key(host) {
            continue;
        }
        match candidates.find(|c| !pinned.iter().any(|(p, _)| overlaps(*p, *c))) {
            Some(slice) => {
                out.insert(host.clone(), slice);
            }
            None => {
                diags.push(Diagnostic::new(
                    path.clone(),
                    format!(
                        "subnet {} has no free /{prefix} slice left for host {host} ({} hosts declared)",
                        vx.subnet,
                        topo.hosts.len()
                    ),
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
