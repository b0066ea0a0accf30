//! Validation rules of `driver: host-gw` networks and of a container's `default_route`.
//!
//! Kept apart from `validate.rs` so each rule set has one home; `validate` calls in here.

use super::error::Diagnostic;
use super::ipam::Attachment;
use super::membership::hosts_in_network;
use super::model::{HostGwNetwork, Topology};
use ipnet::IpNet;

/// host-gw routes a slice via the peer's underlay address *as a next hop on the local underlay
/// link*: that only works when every host of the network sits on one L2 segment, which we take
/// to mean "one underlay subnet". The MTU must fit the underlay (no encapsulation, but no room
/// for more either).
pub(super) fn host_gw(
    topo: &Topology,
    name: &str,
    net: &HostGwNetwork,
    diags: &mut Vec<Diagnostic>,
) {
    let path = format!("networks.{name}");
    // Hosts with an IPv6 underlay are reported by `validate6` (host-gw needs IPv4 next hops);
    // listing them here too would say the same thing twice.
    let members: Vec<(&str, IpNet)> = hosts_in_network(topo, name)
        .into_iter()
        .filter_map(|h| topo.hosts.get(h).map(|def| (h, def.underlay.trunc())))
        .filter(|(_, underlay)| matches!(underlay, IpNet::V4(_)))
        .collect();
    one_underlay_subnet(
        &path,
        "host-gw needs all its hosts on one underlay subnet (the next hop to a peer must be directly reachable)",
        &members,
        diags,
    );
    if let Some(mtu) = net.mtu {
        for host in hosts_in_network(topo, name) {
            let underlay = topo.hosts.get(host).map(|h| h.mtu()).unwrap_or_default();
            if mtu > underlay {
                diags.push(Diagnostic::new(
                    format!("{path}.mtu"),
                    format!("{mtu} is larger than the underlay MTU {underlay} of host {host}"),
                ));
            }
        }
    }
}

/// Routes via a peer's underlay address need the peer on the local underlay link: `hosts` (name,
/// underlay address) must all be in one underlay subnet, else `why` and the hosts' subnets are
/// reported at `path` (host-gw networks, routed networks without encapsulation).
pub(super) fn one_underlay_subnet(
    path: &str,
    why: &str,
    hosts: &[(&str, IpNet)],
    diags: &mut Vec<Diagnostic>,
) {
    let subnets: Vec<(&str, IpNet)> = hosts.iter().map(|(h, u)| (*h, u.trunc())).collect();
    if let Some((_, first)) = subnets.first()
        && subnets.iter().any(|(_, s)| s != first)
    {
        let listed: Vec<String> = subnets.iter().map(|(h, s)| format!("{h} on {s}")).collect();
        diags.push(Diagnostic::new(
            path,
            format!("{why}, but: {}", listed.join(", ")),
        ));
    }
}

/// `containers.<c>.default_route` must name one of the container's networks, and that network
/// must give the container a gateway. `attachments` is the IPAM result (it knows which
/// attachments have a gateway, whatever the driver).
pub(super) fn default_routes(
    topo: &Topology,
    attachments: &[Attachment],
    diags: &mut Vec<Diagnostic>,
) {
    for (name, c) in &topo.containers {
        let Some(chosen) = c.default_route_network() else {
            continue;
        };
        let path = format!("containers.{name}.default_route");
        let specs = c.specs(name);
        if !specs.iter().any(|s| s.network == chosen) {
            let mine: Vec<&str> = specs.iter().map(|s| s.network).collect();
            diags.push(Diagnostic::new(
                path,
                format!(
                    "{chosen:?} is not one of this container's networks ({})",
                    mine.join(", ")
                ),
            ));
            continue;
        }
        // Unknown networks and unallocatable addresses are reported elsewhere.
        let Some(att) = attachments
            .iter()
            .find(|a| a.container == *name && a.network == chosen)
        else {
            continue;
        };
        let gateway4 = att.v4.and_then(|a| a.gateway);
        let gateway6 = att.v6.and_then(|a| a.gateway);
        if gateway4.is_none() && gateway6.is_none() {
            diags.push(Diagnostic::new(
                path,
                format!("network {chosen} has no gateway to route through (a bridged VXLAN network is one L2 segment without a gateway)"),
            ));
        }
    }
}
