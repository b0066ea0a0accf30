//! `driver: host-gw` (flannel host-gw, static routes between hosts): each host owns a slice of the
//! subnet, held as the gateway `.1` on its bridge, and reaches every other host's slice with a
//! plain route via that host's underlay address on the local underlay interface. No
//! encapsulation, no neighbour or FDB entries: the underlay's own ARP resolves the next hop,
//! which is why validation insists on one shared underlay subnet.
//!
//! A remote host is a peer only if it has a container on the network (see
//! `topology::membership`), as in routed VXLAN.

use super::{Ctx, wiring};
use crate::state::{Ns, Route, State};
use crate::topology::HostGwNetwork;
use crate::topology::ipam::nth;
use crate::topology::naming::underlay_interface;
use ipnet::IpNet;

pub fn compile(ctx: &Ctx, _net: &HostGwNetwork, state: &mut State) {
    // A validated topology always has a slice for every host; without one, emit nothing rather
    // than guess.
    let slices = ctx.slices;
    let Some(local) = slices.get(ctx.host).copied() else {
        return;
    };
    let Some(gateway) = nth(local, 1) else {
        return;
    };
    wiring::ip_forward(state);
    wiring::bridge(ctx, state);
    wiring::gateway_address(ctx, wiring::cidr(gateway, local.prefix_len()), state);
    for att in ctx.local() {
        wiring::container(ctx, att, state);
    }
    routes_via_underlay(
        ctx,
        |remote| slices.get(remote).copied().map(IpNet::V4),
        state,
    );
}

/// Per remote host of `ctx.hosts`: a route to its slice (`remote_slice`) via its underlay
/// address on the local underlay interface. Validation keeps the slices' family that of the
/// underlay (a route needs a next hop of its own family) and the hosts on one underlay subnet.
/// Shared with `driver: routed` without encapsulation, whose blocks are routed the same way.
pub(super) fn routes_via_underlay(
    ctx: &Ctx,
    remote_slice: impl Fn(&str) -> Option<IpNet>,
    state: &mut State,
) {
    let dev = underlay_interface(ctx.host_def).to_string();
    for &remote in ctx.hosts {
        if remote == ctx.host {
            continue;
        }
        let (Some(remote_def), Some(dst)) = (ctx.topo.hosts.get(remote), remote_slice(remote))
        else {
            continue;
        };
        state.insert(Route {
            ns: Ns::Host,
            dst,
            gateway: Some(remote_def.underlay.addr()),
            dev: dev.clone(),
            onlink: false,
            owned: true,
        });
    }
}
