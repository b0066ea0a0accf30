//! `driver: macvlan` (Docker's macvlan driver): per local container a macvlan child of the host's lower device,
//! living in the container's namespace with its address, Docker-style MAC and a default route
//! via the wire's gateway; with `vlan` the owned 802.1Q sub-interface `parent.N` as that lower
//! device; with `host_interface` the host's own child `mv-<net>` holding its reserved address.
//!
//! Nothing is programmed for remote containers: they are on the same wire, and ARP finds them.

use super::{Ctx, wiring};
use crate::state::{Address, Link, LinkKind, LinkRef, Mac, Macvlan, Ns, Route, State, Vlan};
use crate::topology::macvlan::{host_address, host_interface_name};
use crate::topology::{MacvlanMode, MacvlanNetwork};
use std::net::{IpAddr, Ipv4Addr};

pub fn compile(ctx: &Ctx, net: &MacvlanNetwork, state: &mut State) {
    let parent = net.parent_on(ctx.host_def).to_string();
    let lower = net.lower_on(ctx.host_def);
    if let Some(id) = net.vlan {
        state.insert(Link {
            ns: Ns::Host,
            name: lower.clone(),
            kind: LinkKind::Vlan(Vlan {
                id,
                parent: Some(parent),
            }),
            // A VLAN sub-interface inherits its parent's MAC: the kernel's choice.
            mac: None,
            mtu: ctx.mtu,
            master: None,
            up: true,
            ipv6: None,
            owned: true,
        });
    }
    let child = |ns: Ns, name: String, mac: Option<Mac>, ipv6: Option<bool>| Link {
        ns,
        name,
        kind: LinkKind::Macvlan(Macvlan {
            mode: net.mode.as_str().to_string(),
            parent: Some(LinkRef {
                ns: Ns::Host,
                name: lower.clone(),
            }),
        }),
        mac,
        mtu: ctx.mtu,
        master: None,
        up: true,
        ipv6,
        owned: true,
    };
    if net.host_interface
        && let Some(addr) = host_address(ctx.topo, net, ctx.host)
    {
        let name = host_interface_name(ctx.network);
        let mac = Mac::hashed(&[ctx.network, ctx.host, "macvlan-host"]);
        state.insert(child(Ns::Host, name.clone(), Some(mac), None));
        state.insert(Address {
            ns: Ns::Host,
            link: name,
            cidr: wiring::cidr(addr, net.subnet.prefix_len()),
            owned: true,
        });
    }
    for att in ctx.local() {
        // Macvlan networks are IPv4-only (topology `subnet` is an IPv4 prefix).
        let Some(v4) = att.v4 else { continue };
        let cns = Ns::Container(att.container.clone());
        // A passthru child takes the parent's MAC whatever is asked for.
        let mac = (net.mode != MacvlanMode::Passthru).then_some(att.mac);
        state.insert(child(
            cns.clone(),
            att.interface.clone(),
            mac,
            wiring::container_ipv6(ctx, att),
        ));
        state.insert(Address {
            ns: cns.clone(),
            link: att.interface.clone(),
            cidr: wiring::cidr(v4.address, v4.prefix_len),
            owned: true,
        });
        if let (true, Some(gateway)) = (att.default_route, v4.gateway) {
            state.insert(Route {
                ns: cns,
                dst: wiring::cidr(Ipv4Addr::UNSPECIFIED, 0),
                gateway: Some(IpAddr::V4(gateway)),
                dev: att.interface.clone(),
                onlink: false,
                owned: true,
            });
        }
    }
}
