//! Objects shared by all drivers: the per-network bridge, the container veth pair with its
//! address and default route, and the forwarding sysctls.

use super::Ctx;
use crate::state::{Address, Link, LinkKind, Ns, Object, Route, State, Sysctl, VethPeer};
use crate::topology::naming::{bridge_mac, bridge_name, host_veth_mac, host_veth_name};
use crate::topology::{Addressing, Attachment};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `ip/prefix` as an `IpNet`. Prefixes come from validated subnets (<= 32); a bad one degrades
/// to a /32 rather than panicking.
pub fn cidr(ip: Ipv4Addr, prefix: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new(ip, prefix).unwrap_or_else(|_| Ipv4Net::from(ip)))
}

/// `ip/prefix` of either family (a bad prefix degrades to a host prefix).
fn ip_cidr(ip: IpAddr, prefix: u8) -> IpNet {
    IpNet::new(ip, prefix).unwrap_or_else(|_| IpNet::from(ip))
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
        ipv6: None,
        owned: true,
    });
}

/// The gateway address `cidr` (`gateway/prefix` of the subnet or the host's slice) on the
/// network's bridge.
pub fn gateway_address(ctx: &Ctx, cidr: IpNet, state: &mut State) {
    state.insert(Address {
        ns: Ns::Host,
        link: bridge_name(ctx.network),
        cidr,
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
    veth(ctx, att, Some(bridge_name(ctx.network)), state);
    addresses(ctx, att, false, state);
}

/// Whether `att`'s container interface has IPv6: on where the network carries IPv6 or the
/// container keeps link-local IPv6 (`ipv6_link_local`), off elsewhere. Off spares every new
/// interface its IPv6 start-up traffic (duplicate address detection, router solicitations, MLD
/// reports), which a bridge floods to all its other ports: with 1000 containers on one bridge
/// that storm was most of why wiring them took more than ten times as long as 100.
pub fn container_ipv6(ctx: &Ctx, att: &Attachment) -> Option<bool> {
    let keep = ctx
        .topo
        .containers
        .get(&att.container)
        .is_some_and(|c| c.ipv6_link_local);
    Some(att.v6.is_some() || keep)
}

/// Give each namespace netplan-rs creates the IPv6 default its interfaces want: off when every
/// one of them wants IPv6 off, so each is born without it. A write of the interface's own
/// `disable_ipv6` after creation costs a thread and the RTNL lock, which the kernel takes
/// there with a trylock that restarts the system call: with many interfaces created at once
/// that spinning made the write slower than the start-up traffic it saves (docs/performance.md).
pub fn namespace_ipv6_defaults(state: &mut State) {
    let mut all_off: HashMap<String, bool> = HashMap::new();
    for object in state.objects.values() {
        if let Object::Link(Link {
            ns: Ns::Container(name),
            ipv6,
            ..
        }) = object
        {
            *all_off.entry(name.clone()).or_insert(true) &= *ipv6 == Some(false);
        }
    }
    for object in state.objects.values_mut() {
        if let Object::Namespace(namespace) = object
            && all_off.get(&namespace.name) == Some(&true)
        {
            namespace.ipv6_default = Some(false);
        }
    }
}

/// One container's veth pair: the host end (`host_veth_name`, enslaved to `master` if any) and
/// the container end in its namespace with the attachment's MAC. Returns the host end's name.
pub fn veth(ctx: &Ctx, att: &Attachment, master: Option<String>, state: &mut State) -> String {
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
        master,
        up: true,
        ipv6: None,
        owned: true,
    });
    state.insert(Link {
        ns: cns,
        name: att.interface.clone(),
        kind: LinkKind::Veth {
            peer: Some(VethPeer {
                ns: Ns::Host,
                name: host_end.clone(),
            }),
        },
        mac: Some(att.mac),
        mtu: ctx.mtu,
        master: None,
        up: true,
        ipv6: container_ipv6(ctx, att),
        owned: true,
    });
    host_end
}

/// The container interface's address and route per family (see [`family`]); `onlink4` marks
/// the IPv4 route onlink (a gateway outside the container's own prefix, as `driver: routed`'s
/// 169.254.1.1 is).
pub fn addresses(ctx: &Ctx, att: &Attachment, onlink4: bool, state: &mut State) {
    let cns = Ns::Container(att.container.clone());
    let network = ctx.topo.networks.get(ctx.network);
    if let Some(v4) = att.v4 {
        let subnet = network.and_then(|n| n.subnet4()).map(IpNet::V4);
        family(state, &cns, att, v4, att.default_route, subnet, onlink4);
    }
    if let Some(v6) = att.v6 {
        let subnet = network.and_then(|n| n.subnet6()).map(IpNet::V6);
        family(state, &cns, att, v6, att.default_route6, subnet, false);
    }
}

/// One address family of a container interface: its address and, through the family's gateway,
/// either the default route (if the attachment carries it) or, on a sliced network (routed
/// VXLAN, host-gw, routed), a route to the whole network `subnet`: the container's own slice is
/// on-link (none of it on a routed network, whose containers are /32s), the rest is reachable
/// only through this gateway.
fn family<A: Into<IpAddr> + Copy>(
    state: &mut State,
    cns: &Ns,
    att: &Attachment,
    addressing: Addressing<A>,
    default_route: bool,
    subnet: Option<IpNet>,
    onlink: bool,
) {
    let address: IpAddr = addressing.address.into();
    state.insert(Address {
        ns: cns.clone(),
        link: att.interface.clone(),
        cidr: ip_cidr(address, addressing.prefix_len),
        owned: true,
    });
    let Some(gateway) = addressing.gateway.map(Into::into) else {
        return;
    };
    let dst = if default_route {
        ip_cidr(address, 0).trunc()
    } else {
        match subnet.map(|s| s.trunc()) {
            Some(subnet) if subnet.prefix_len() < addressing.prefix_len => subnet,
            _ => return,
        }
    };
    state.insert(Route {
        ns: cns.clone(),
        dst,
        gateway: Some(gateway),
        dev: att.interface.clone(),
        onlink,
        owned: true,
    });
}
