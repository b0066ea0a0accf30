//! Validation of the dual-stack keys (`subnet6`, `gateway6`, `host_prefix6`, `slices6`,
//! `address6`, IPv6 underlays). IPv6 address allocation problems come from `ipam6`.

use super::error::Diagnostic;
use super::membership::{hosts_in_network, network_mtu};
use super::model::{Network, Topology, VxlanMode};
use ipnet::{IpNet, Ipv6Net};

/// The kernel disables IPv6 on an interface whose MTU is below 1280 (RFC 8200).
const MIN_MTU6: u32 = 1280;

pub(crate) fn dual_stack(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    let mut seen6: Vec<(&str, Ipv6Net)> = Vec::new();
    for (name, net) in &topo.networks {
        let path = format!("networks.{name}");
        let (subnet, subnet6) = match net {
            Network::Vxlan(v) => (v.subnet, v.subnet6),
            Network::Bridge(b) => (b.subnet, b.subnet6),
            Network::HostGw(h) => (IpNet::V4(h.subnet), None),
            Network::Macvlan(m) => (IpNet::V4(m.subnet), None),
            Network::Routed(r) => (r.subnet, r.subnet6),
        };
        if let (IpNet::V6(_), Some(s6)) = (subnet, subnet6) {
            diags.push(Diagnostic::new(
                format!("{path}.subnet6"),
                format!("{s6}: subnet is already IPv6; subnet6 goes beside an IPv4 subnet"),
            ));
        }
        if let Some(s6) = subnet6 {
            if s6.prefix_len() > super::ipam6::MAX_SLICE_PREFIX6 {
                diags.push(Diagnostic::new(
                    format!("{path}.subnet6"),
                    format!(
                        "{s6} is too small (at most /{})",
                        super::ipam6::MAX_SLICE_PREFIX6
                    ),
                ));
            } else if s6.addr() != s6.network() {
                diags.push(Diagnostic::new(
                    format!("{path}.subnet6"),
                    format!("{s6} has host bits set (did you mean {}?)", s6.trunc()),
                ));
            }
        }
        if let Some(v6) = net.subnet6() {
            let key = if subnet6.is_some() {
                "subnet6"
            } else {
                "subnet"
            };
            // IPv6 `subnet`s are compared with each other by the generic overlap check; only a
            // `subnet6` needs comparing here (against every earlier IPv6 prefix).
            if let Some((other, o)) = seen6
                .iter()
                .find(|(_, o)| o.contains(&v6.network()) || v6.contains(&o.network()))
                .filter(|_| subnet6.is_some())
            {
                diags.push(Diagnostic::new(
                    format!("{path}.{key}"),
                    format!("{v6} overlaps the IPv6 subnet of network {other} ({o})"),
                ));
            }
            seen6.push((name, v6.trunc()));
            if let Some(mtu) = network_mtu(topo, name).filter(|m| *m < MIN_MTU6) {
                diags.push(Diagnostic::new(
                    format!("{path}.mtu"),
                    format!(
                        "MTU {mtu} is below {MIN_MTU6}, the IPv6 minimum; the network carries IPv6 ({v6})"
                    ),
                ));
            }
        }
        match net {
            Network::Bridge(b) => {
                if let Some(gw6) = b.gateway6 {
                    let problem = match b.v6() {
                        None => Some(format!(
                            "{gw6}: the network has no IPv6 subnet (set subnet6)"
                        )),
                        Some(p) if !p.trunc().contains(&gw6) => {
                            Some(format!("{gw6} is outside {}", p.trunc()))
                        }
                        Some(p) if gw6 == p.network() => Some(format!(
                            "{gw6} is the subnet-router address of {}",
                            p.trunc()
                        )),
                        Some(_) => None,
                    };
                    if let Some(p) = problem {
                        diags.push(Diagnostic::new(format!("{path}.gateway6"), p));
                    }
                }
            }
            Network::Vxlan(vx) => {
                if vx.mode == VxlanMode::Bridged {
                    misplaced(
                        &path,
                        &[
                            ("host_prefix6", vx.host_prefix6.is_some()),
                            ("slices6", !vx.slices6.is_empty()),
                        ],
                        "only applies to mode routed",
                        diags,
                    );
                } else {
                    slice_keys_of_families(
                        &path,
                        (vx.subnet4().is_some(), vx.v6().is_some()),
                        ["host_prefix", "slices"],
                        [vx.host_prefix.is_some(), !vx.slices.is_empty()],
                        vx.host_prefix6.is_some(),
                        diags,
                    );
                }
                underlay_family(topo, &hosts_in_network(topo, name), &path, diags);
            }
            // IPv4-only, and L2 on its parent: an IPv6 underlay does not matter.
            Network::Macvlan(_) => {}
            // Its families and underlays are checked with its other keys (`routed.rs`).
            Network::Routed(_) => {}
            Network::HostGw(_) => {
                // Its routes are IPv4 routes whose next hop is a peer's underlay address.
                let v6: Vec<&str> = hosts_in_network(topo, name)
                    .into_iter()
                    .filter(|h| {
                        topo.hosts
                            .get(*h)
                            .is_some_and(|d| d.underlay.addr().is_ipv6())
                    })
                    .collect();
                if !v6.is_empty() {
                    diags.push(Diagnostic::new(
                        &path,
                        format!(
                            "host-gw routes IPv4 via the peers' underlay addresses, which must be IPv4; IPv6 underlay on: {}",
                            v6.join(", ")
                        ),
                    ));
                }
            }
        }
    }
}

/// Each key of `keys` that is set is reported at `<path>.<key>` with `message`.
pub(super) fn misplaced(
    path: &str,
    keys: &[(&str, bool)],
    message: &str,
    diags: &mut Vec<Diagnostic>,
) {
    for (key, set) in keys {
        if *set {
            diags.push(Diagnostic::new(format!("{path}.{key}"), message));
        }
    }
}

/// A sliced network's per-family keys (routed VXLAN's `host_prefix`/`slices`, routed's
/// `block_prefix`/`blocks`, and their `6` twins) only where the network carries that family:
/// `families` is (IPv4, IPv6), `keys` the IPv4 keys' names, `set4` whether each is set,
/// `prefix6_set` whether the IPv6 prefix key is (pinned IPv6 slices are reported by IPAM).
pub(super) fn slice_keys_of_families(
    path: &str,
    (v4, v6): (bool, bool),
    keys: [&str; 2],
    set4: [bool; 2],
    prefix6_set: bool,
    diags: &mut Vec<Diagnostic>,
) {
    if !v6 && prefix6_set {
        diags.push(Diagnostic::new(
            format!("{path}.{}6", keys[0]),
            "the network has no IPv6 subnet (set subnet6)",
        ));
    }
    if !v4 {
        misplaced(
            path,
            &[(keys[0], set4[0]), (keys[1], set4[1])],
            &format!("the network is IPv6-only; use {}6 / {}6", keys[0], keys[1]),
            diags,
        );
    }
}

/// VXLAN tunnels are all of one family: every host of `hosts` (those with a VTEP of the
/// network) must have an underlay of the same family as the first.
pub(super) fn underlay_family(
    topo: &Topology,
    hosts: &[&str],
    path: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let hosts: Vec<(&str, bool)> = hosts
        .iter()
        .copied()
        .filter_map(|h| Some((h, topo.hosts.get(h)?.underlay.addr().is_ipv6())))
        .collect();
    let Some((first, first_v6)) = hosts.first().copied() else {
        return;
    };
    let family = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
    let odd: Vec<&str> = hosts
        .iter()
        .filter(|(_, v6)| *v6 != first_v6)
        .map(|(h, _)| *h)
        .collect();
    if !odd.is_empty() {
        diags.push(Diagnostic::new(
            path,
            format!(
                "VXLAN tunnels need one underlay family: host {first} has an {} underlay but {} {} {}",
                family(first_v6),
                odd.join(", "),
                if odd.len() == 1 { "has" } else { "have" },
                family(!first_v6)
            ),
        ));
    }
}
