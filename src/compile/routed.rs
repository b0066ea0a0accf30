//! `driver: routed` (Calico's pure layer 3, see `topology/routed.rs`): no bridge. Per local
//! container a veth pair: the container end holds the container's address as a /32 (/128) and
//! routes via the link-local gateway (`default via 169.254.1.1 dev eth0 onlink`, `default via
//! fe80::1 dev eth0`); the host end (`host_veth_name`, unenslaved, up) holds that gateway
//! (169.254.1.1/32, fe80::1/64), and the host routes the container's address to it (`<addr>/32
//! dev <host end>`, scope link, owned).
//!
//! Why the host end holds the gateway rather than answering for it by proxy ARP as Calico does:
//! the kernel proxies ARP only for an address it has a route to through another device, which
//! Calico gets from the host's default route (projectcalico/calico#3270: no default route, no
//! ARP answer). Hosts without one (air-gapped, and the lab's simulated hosts) would leave every
//! container without a gateway; an address answers whatever the host's routes. IPv6 likewise:
//! fe80::1 on the host end, answered by the kernel's own NDP, instead of proxy NDP entries.
//!
//! Between hosts, the remote blocks of every routed network are routed on every host of the
//! routed fabric (hosts with a container on any routed network), so routed networks reach each
//! other across hosts too: `encapsulation: none` via the peers' underlay addresses (host-gw's
//! routes), `encapsulation: vxlan` through a VTEP per host (flannel's routed VXLAN objects).

use super::{Ctx, host_gw, vxlan_routed, wiring};
use crate::state::{Address, Ns, Route, State};
use crate::topology::RoutedNetwork;
use crate::topology::routed::{GATEWAY, GATEWAY6};
use ipnet::IpNet;

pub fn compile(ctx: &Ctx, net: &RoutedNetwork, state: &mut State) {
    let (v4, v6) = (net.subnet4().is_some(), net.v6().is_some());
    if v4 {
        wiring::ip_forward(state);
    }
    if v6 {
        wiring::ip6_forward(state);
    }
    let (blocks, blocks6) = (ctx.slices, ctx.slices6);
    match (net.vxlan(), net.vni) {
        (true, Some(vni)) => vxlan_routed::tunnel(ctx, vni, net.port(), state),
        // Validation makes the blocks' family the underlay's.
        _ => host_gw::routes_via_underlay(
            ctx,
            |remote| match v4 {
                true => blocks.get(remote).copied().map(IpNet::V4),
                false => blocks6.get(remote).copied().map(IpNet::V6),
            },
            state,
        ),
    }
    for att in ctx.local() {
        let host_end = wiring::veth(ctx, att, None, state);
        wiring::addresses(ctx, att, true, state);
        let gateways = att
            .v4
            .map(|_| wiring::cidr(GATEWAY, 32))
            .into_iter()
            .chain(att.v6.map(|_| wiring::cidr6(GATEWAY6, 64)));
        for cidr in gateways {
            state.insert(Address {
                ns: Ns::Host,
                link: host_end.clone(),
                cidr,
                owned: true,
            });
        }
        let own = att
            .ipv4()
            .map(|ip| wiring::cidr(ip, 32))
            .into_iter()
            .chain(att.ipv6().map(|ip| wiring::cidr6(ip, 128)));
        for dst in own {
            state.insert(Route {
                ns: Ns::Host,
                dst,
                gateway: None,
                dev: host_end.clone(),
                onlink: false,
                owned: true,
            });
        }
    }
}
