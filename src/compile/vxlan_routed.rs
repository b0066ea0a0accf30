//! `driver: vxlan, mode: routed` (flannel VXLAN): each host owns a slice of the
//! subnet. The bridge holds the slice's `.1` (the containers' gateway); the VXLAN device, not a
//! bridge port, holds `.0/32` and is the next hop towards the other hosts: per remote host one
//! neighbour (remote `.0` -> remote VTEP MAC), one FDB entry (that MAC -> remote underlay IP) and
//! one onlink route for the remote slice via its `.0`. The per-host cost grows with the number of
//! hosts in the network, not with the number of remote containers.
//!
//! A remote host is a peer only if it has a container on the network (see
//! `topology::membership`): hosts without one have no VTEP to send to.
//!
//! Dual stack follows the same flannel-like design per family: the bridge also holds the IPv6
//! slice's `::1`, the VXLAN device `slice6::/128`, and per remote host an IPv6 neighbour
//! (remote `slice6::` -> the same remote VTEP MAC) and an onlink route for the remote IPv6 slice
//! via it; the FDB entry is shared (one per remote VTEP MAC), and `net.ipv6.conf.all.forwarding`
//! is set. An IPv6-only network has only the IPv6 objects.

use super::{Ctx, wiring};
use crate::state::{Address, Fdb, Link, LinkKind, Neighbour, Ns, Route, State, Vxlan};
use crate::topology::VxlanNetwork;
use crate::topology::ipam::nth;
use crate::topology::ipam6::nth6;
use crate::topology::naming::{underlay_interface, vtep_mac, vxlan_name};
use ipnet::IpNet;
use std::net::IpAddr;

pub fn compile(ctx: &Ctx, net: &VxlanNetwork, state: &mut State) {
    // A validated topology always has a slice for every host and family the network carries;
    // without one, emit nothing rather than guess.
    let (slices, slices6) = (ctx.slices, ctx.slices6);
    let local4 = slices
        .get(ctx.host)
        .and_then(|s| Some((*s, nth(*s, 0)?, nth(*s, 1)?)));
    let local6 = slices6
        .get(ctx.host)
        .and_then(|s| Some((*s, nth6(*s, 0)?, nth6(*s, 1)?)));
    if (net.subnet4().is_some() && local4.is_none()) || (net.v6().is_some() && local6.is_none()) {
        return;
    }
    if local4.is_some() {
        wiring::ip_forward(state);
    }
    if local6.is_some() {
        wiring::ip6_forward(state);
    }
    wiring::bridge(ctx, state);
    if let Some((local, _, gateway)) = local4 {
        wiring::gateway_address(ctx, wiring::cidr(gateway, local.prefix_len()), state);
    }
    if let Some((local, _, gateway)) = local6 {
        wiring::gateway_address(ctx, wiring::cidr6(gateway, local.prefix_len()), state);
    }
    tunnel(ctx, net.vni, net.port, state);
    for att in ctx.local() {
        wiring::container(ctx, att, state);
    }
}

/// The VXLAN device of the network on this host (not a bridge port) holding its slices' first
/// addresses (`.0/32`, `::/128`), and per remote host of `ctx.hosts`: a neighbour (its VTEP
/// address -> its VTEP MAC) and an onlink route to its slice via that address per family, and
/// one FDB entry (the MAC -> its underlay address). Flannel's routed VXLAN and Calico's VXLAN
/// mode (`driver: routed`, `encapsulation: vxlan`) are the same objects.
pub(super) fn tunnel(ctx: &Ctx, vni: u32, port: u16, state: &mut State) {
    let (slices, slices6) = (ctx.slices, ctx.slices6);
    let vx = vxlan_name(ctx.network);
    state.insert(Link {
        ns: Ns::Host,
        name: vx.clone(),
        kind: LinkKind::Vxlan(Vxlan {
            vni,
            local: Some(ctx.host_def.underlay.addr()),
            dev: Some(underlay_interface(ctx.host_def).to_string()),
            port,
            learning: false,
            proxy: false,
        }),
        mac: Some(vtep_mac(ctx.network, ctx.host)),
        mtu: ctx.mtu,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    });
    let vtep4 = slices.get(ctx.host).and_then(|s| nth(*s, 0));
    let vtep6 = slices6.get(ctx.host).and_then(|s| nth6(*s, 0));
    let vteps = vtep4
        .map(|ip| wiring::cidr(ip, 32))
        .into_iter()
        .chain(vtep6.map(|ip| wiring::cidr6(ip, 128)));
    for cidr in vteps {
        state.insert(Address {
            ns: Ns::Host,
            link: vx.clone(),
            cidr,
            owned: true,
        });
    }
    for &remote in ctx.hosts {
        if remote == ctx.host {
            continue;
        }
        let Some(remote_def) = ctx.topo.hosts.get(remote) else {
            continue;
        };
        // (remote slice, remote VTEP address) per family the network carries.
        let remote4 = slices
            .get(remote)
            .and_then(|s| Some((IpNet::V4(*s), IpAddr::V4(nth(*s, 0)?))));
        let remote6 = slices6
            .get(remote)
            .and_then(|s| Some((IpNet::V6(*s), IpAddr::V6(nth6(*s, 0)?))));
        if remote4.is_none() && remote6.is_none() {
            continue;
        }
        let mac = vtep_mac(ctx.network, remote);
        for (remote_slice, remote_vtep) in remote4.into_iter().chain(remote6) {
            state.insert(Neighbour {
                ns: Ns::Host,
                link: vx.clone(),
                ip: remote_vtep,
                mac,
                owned: true,
            });
            state.insert(Route {
                ns: Ns::Host,
                dst: remote_slice,
                gateway: Some(remote_vtep),
                dev: vx.clone(),
                onlink: true,
                owned: true,
            });
        }
        state.insert(Fdb {
            ns: Ns::Host,
            link: vx.clone(),
            mac,
            dst: remote_def.underlay.addr(),
            owned: true,
        });
    }
}
