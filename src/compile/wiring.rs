//! Objects shared by all drivers: the per-network bridge, the container veth pair with its
//! address and default route, and the forwarding sysctl.

use super::Ctx;
use crate::state::{Address, Link, LinkKind, Ns, Route, State, Sysctl, VethPeer};
use crate::topology::Attachment;
use crate::topology::naming::{bridge_mac, bridge_name, host_veth_mac, host_veth_name};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `ip/prefix` as an `IpNet`. Prefixes come from validated subnets (<= 32); a bad one degrades
/// to a /32 rather than panicking.
pub fn cidr(ip: Ipv4Addr, prefix: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new(ip, prefix).unwrap_or_else(|_| Ipv4Net::from(ip)))
}

/// IPv6 `ip/prefix` as an `IpNet` (a bad prefix degrades to a /128).
pub fn cidr6(ip: Ipv6Addr, prefix: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new(ip, prefix).unwrap_or_else(|_| Ipv6Net::from(ip)))
}

/// The network's bridge `br-<net>` on this host.
pub fn bridge(ctx: &Ctx, state: &mut State) {
    state.insert(Link {
        ns: Ns::Host,
        name: bridge_name(ctx.network),
        kind: LinkKind::Bridge,
        mac: Some(bridge_mac(ctx.network, ctx.host)),
        mtu: ctx.mtu,
        master: None,
        up: true,
        owned: true,
    });
}

/// Routing between the container bridge and the VXLAN device (and out) needs forwarding.
pub fn ip_forward(state: &mut State) {
    state.insert(Sysctl {
        ns: Ns::Host,
        key: "net.ipv4.ip_forward".to_string(),
        value: "1".to_string(),
    });
}

/// IPv6 routing between the bridge and the VXLAN device needs IPv6 forwarding (`all` turns it
/// on for every interface, as `ip6tables`-free routers do).
pub fn ip6_forward(state: &mut State) {
    state.insert(Sysctl {
        ns: Ns::Host,
        key: "net.ipv6.conf.all.forwarding".to_string(),
        value: "1".to_string(),
    });
}

/// One container's veth pair (host end in `br-<net>`), its address and, if it carries the
/// default route, the route via the gateway.
pub fn container(ctx: &Ctx, att: &Attachment, state: &mut State) {
    let host_end = host_veth_name(&att.container, &att.network);
    let cns = Ns::Container(att.container.clone());
    state.insert(Link {
        ns: Ns::Host,
        name: host_end.clone(),
        kind: LinkKind::Veth {
            peer: Some(VethPeer {
                ns: cns.clone(),
                name: att.interface.clone(),
            }),
        },
        mac: Some(host_veth_mac(&att.container, &att.network)),
        mtu: ctx.mtu,
        master: Some(bridge_name(ctx.network)),
        up: true,
        owned: true,
    });
    state.insert(Link {
        ns: cns.clone(),
        name: att.interface.clone(),
        kind: LinkKind::Veth {
            peer: Some(VethPeer {
                ns: Ns::Host,
                name: host_end,
            }),
        },
        mac: Some(att.mac),
        mtu: ctx.mtu,
        master: None,
        up: true,
        owned: true,
    });
    if let Some(v4) = att.v4 {
        state.insert(Address {
            ns: cns.clone(),
            link: att.interface.clone(),
            cidr: cidr(v4.address, v4.prefix_len),
            owned: true,
        });
        let network = ctx.topo.networks.get(ctx.network);
        if let (true, Some(gateway)) = (att.default_route, v4.gateway) {
            state.insert(Route {
                ns: cns.clone(),
                dst: cidr(Ipv4Addr::UNSPECIFIED, 0),
                gateway: Some(IpAddr::V4(gateway)),
                dev: att.interface.clone(),
                onlink: false,
                owned: true,
            });
        } else if let Some(gateway) = v4.gateway
            && let Some(subnet) = network.and_then(|n| n.subnet4()).map(|s| s.trunc())
            && subnet.prefix_len() < v4.prefix_len
        {
            // A sliced network (routed VXLAN, host-gw) whose attachment does not carry the default
            // route: the container's own slice is on-link, the other hosts' slices are reachable
            // only through this gateway, so route the whole network subnet there.
            state.insert(Route {
                ns: cns.clone(),
                dst: IpNet::V4(subnet),
                gateway: Some(IpAddr::V4(gateway)),
                dev: att.interface.clone(),
                onlink: false,
                owned: true,
            });
        }
    }
    if let Some(v6) = att.v6 {
        state.insert(Address {
            ns: cns.clone(),
            link: att.interface.clone(),
            cidr: cidr6(v6.address, v6.prefix_len),
            owned: true,
        });
        let network = ctx.topo.networks.get(ctx.network);
        if let (true, Some(gateway)) = (att.default_route6, v6.gateway) {
            state.insert(Route {
                ns: cns,
                dst: cidr6(Ipv6Addr::UNSPECIFIED, 0),
                gateway: Some(IpAddr::V6(gateway)),
                dev: att.interface.clone(),
                onlink: false,
                owned: true,
            });
        } else if let Some(gateway) = v6.gateway
            && let Some(subnet) = network.and_then(|n| n.subnet6()).map(|s| s.trunc())
            && subnet.prefix_len() < v6.prefix_len
        {
            // The same for the IPv6 slices of a routed network.
            state.insert(Route {
                ns: cns,
                dst: IpNet::V6(subnet),
                gateway: Some(IpAddr::V6(gateway)),
                dev: att.interface.clone(),
                onlink: false,
                owned: true,
            });
        }
    }
}
