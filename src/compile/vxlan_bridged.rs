//! `driver: vxlan, mode: bridged` (Docker overlay): one L2 segment across
//! hosts. The VXLAN device is a port of the bridge; with learning off and ARP proxy on, every
//! remote container is a static neighbour entry (IP -> MAC) plus an FDB entry (MAC -> remote
//! VTEP), both derivable from the file since container MACs are `02:42:<IPv4>` (or hashed from
//! the names on IPv6-only networks). On a dual-stack network each remote container also gets an
//! IPv6 neighbour entry: the vxlan `proxy` flag answers NDP neighbour solicitations from it, as
//! it answers ARP from the IPv4 entries. The underlay (VTEP `local`, FDB `dst`) may be IPv6.

use super::{Ctx, wiring};
use crate::state::{Fdb, Link, LinkKind, Neighbour, Ns, State, Vxlan};
use crate::topology::VxlanNetwork;
use crate::topology::naming::{bridge_name, underlay_interface, vtep_mac, vxlan_name};
use std::net::IpAddr;

pub fn compile(ctx: &Ctx, net: &VxlanNetwork, state: &mut State) {
    wiring::ip_forward(state);
    wiring::bridge(ctx, state);
    let vx = vxlan_name(ctx.network);
    state.insert(Link {
        ns: Ns::Host,
        name: vx.clone(),
        kind: LinkKind::Vxlan(Vxlan {
            vni: net.vni,
            local: Some(ctx.host_def.underlay.addr()),
            dev: Some(underlay_interface(ctx.host_def).to_string()),
            port: net.port,
            learning: false,
            proxy: true,
        }),
        mac: Some(vtep_mac(ctx.network, ctx.host)),
        mtu: ctx.mtu,
        master: Some(bridge_name(ctx.network)),
        up: true,
        ipv6: None,
        owned: true,
    });
    for att in ctx.local() {
        wiring::container(ctx, att, state);
    }
    for att in ctx.remote() {
        let Some(remote) = ctx.topo.hosts.get(&att.host) else {
            continue;
        };
        let mac = att.mac;
        let ips = att
            .ipv4()
            .map(IpAddr::V4)
            .into_iter()
            .chain(att.ipv6().map(IpAddr::V6));
        for ip in ips {
            state.insert(Neighbour {
                ns: Ns::Host,
                link: vx.clone(),
                ip,
                mac,
                owned: true,
            });
        }
        state.insert(Fdb {
            ns: Ns::Host,
            link: vx.clone(),
            mac,
            dst: remote.underlay.addr(),
            owned: true,
        });
    }
}
