//! `driver: vxlan, mode: routed` (flannel, seed 004 scheme 1): each host owns a slice of the
//! subnet. The bridge holds the slice's `.1` (the containers' gateway); the VXLAN device, not a
//! bridge port, holds `.0/32` and is the next hop towards the other hosts: per remote host one
//! neighbour (remote `.0` -> remote VTEP MAC), one FDB entry (that MAC -> remote underlay IP) and
//! one onlink route for the remote slice via its `.0`. The per-host cost grows with the number of
//! hosts in the network, not with the number of remote containers.
//!
//! A remote host is a peer only if it has a container on the network (see
//! `topology::membership`): hosts without one have no VTEP to send to.

use super::{Ctx, wiring};
use crate::state::{Address, Fdb, Link, LinkKind, Neighbour, Ns, Route, State, Vxlan};
use crate::topology::VxlanNetwork;
use crate::topology::ipam::{nth, slices};
use crate::topology::membership::hosts_in_network;
use crate::topology::naming::{bridge_name, underlay_interface, vtep_mac, vxlan_name};
use ipnet::IpNet;
use std::net::IpAddr;

pub fn compile(ctx: &Ctx, net: &VxlanNetwork, state: &mut State) {
    // A validated topology always has a slice for every host; without one, emit nothing rather
    // than guess.
    let slices = slices(ctx.topo, ctx.network);
    let Some(local) = slices.get(ctx.host).copied() else {
        return;
    };
    let (Some(vtep_ip), Some(gateway)) = (nth(local, 0), nth(local, 1)) else {
        return;
    };
    wiring::ip_forward(state);
    wiring::bridge(ctx, state);
    let br = bridge_name(ctx.network);
    state.insert(Address {
        ns: Ns::Host,
        link: br,
        cidr: wiring::cidr(gateway, local.prefix_len()),
        owned: true,
    });
    let vx = vxlan_name(ctx.network);
    state.insert(Link {
        ns: Ns::Host,
        name: vx.clone(),
        kind: LinkKind::Vxlan(Vxlan {
            vni: net.vni,
            local: Some(IpAddr::V4(ctx.host_def.underlay.addr())),
            dev: Some(underlay_interface(ctx.host_def).to_string()),
            port: net.port,
            learning: false,
            proxy: false,
        }),
        mac: Some(vtep_mac(ctx.network, ctx.host)),
        mtu: ctx.mtu,
        master: None,
        up: true,
        owned: true,
    });
    state.insert(Address {
        ns: Ns::Host,
        link: vx.clone(),
        cidr: wiring::cidr(vtep_ip, 32),
        owned: true,
    });
    for att in ctx.local() {
        wiring::container(ctx, att, state);
    }
    for remote in hosts_in_network(ctx.topo, ctx.network) {
        if remote == ctx.host {
            continue;
        }
        let (Some(remote_def), Some(remote_slice)) =
            (ctx.topo.hosts.get(remote), slices.get(remote).copied())
        else {
            continue;
        };
        let Some(remote_vtep) = nth(remote_slice, 0) else {
            continue;
        };
        let mac = vtep_mac(ctx.network, remote);
        state.insert(Neighbour {
            ns: Ns::Host,
            link: vx.clone(),
            ip: IpAddr::V4(remote_vtep),
            mac,
            owned: true,
        });
        state.insert(Fdb {
            ns: Ns::Host,
            link: vx.clone(),
            mac,
            dst: IpAddr::V4(remote_def.underlay.addr()),
            owned: true,
        });
        state.insert(Route {
            ns: Ns::Host,
            dst: IpNet::V4(remote_slice),
            gateway: Some(IpAddr::V4(remote_vtep)),
            dev: vx.clone(),
            onlink: true,
            owned: true,
        });
    }
}
