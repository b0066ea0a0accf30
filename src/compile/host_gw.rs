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
    let dev = underlay_interface(ctx.host_def).to_string();
    for &remote in ctx.hosts {
        if remote == ctx.host {
            continue;
        }
        let (Some(remote_def), Some(remote_slice)) =
            (ctx.topo.hosts.get(remote), slices.get(remote).copied())
        else {
            continue;
        };
        state.insert(Route {
            ns: Ns::Host,
            dst: IpNet::V4(remote_slice),
            // Validation keeps host-gw underlays IPv4 (an IPv4 route needs an IPv4 next hop).
            gateway: Some(remote_def.underlay.addr()),
            dev: dev.clone(),
            onlink: false,
            owned: true,
        });
    }
}
