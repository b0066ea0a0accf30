//! Addresses, routes, neighbours and FDB entries: one request each, built by hand so the flags
//! are exactly ours (creates are exclusive where an unowned twin must not be overwritten,
//! neighbour/FDB writes replace, deletes carry no CREATE/EXCL).

use super::execute::{ifindex, nl_error};
use super::{Kernel, KernelError};
use crate::state::{Address, Fdb, Neighbour, Object, Route};
use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

async fn send(
    kernel: &Kernel,
    object: &Object,
    op: &'static str,
    message: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), KernelError> {
    let key = object.key();
    let result = kernel.conn(&key.ns()).await?.request(message, flags).await;
    result.map_err(|e| nl_error(kernel, op, &key, e))
}

fn address_message(index: u32, cidr: IpNet) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family(cidr.addr());
    msg.header.prefix_len = cidr.prefix_len();
    msg.header.index = index;
    msg.attributes.push(AddressAttribute::Local(cidr.addr()));
    if let IpNet::V4(v4) = cidr {
        msg.attributes.push(AddressAttribute::Address(cidr.addr()));
        if v4.prefix_len() < 31 {
            msg.attributes
                .push(AddressAttribute::Broadcast(v4.broadcast()));
        }
    }
    msg
}

/// Add an address marked with IFA_PROTO. `replace` for updates; creates are exclusive so an
/// existing unowned address is reported, not silently adopted.
pub(super) async fn address(
    kernel: &Kernel,
    a: &Address,
    replace: bool,
) -> Result<(), KernelError> {
    let index = ifindex(kernel, &a.ns, &a.link).await?;
    let mut msg = address_message(index, a.cidr);
    msg.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(
            kernel.target.marks.proto,
        )));
    if a.cidr.addr().is_ipv6() {
        // No duplicate address detection: the address is usable at once (no "tentative" phase
        // during which the kernel neither sources nor answers it). Every address is derived
        // from the file, which validation keeps free of duplicates.
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    let flags = NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
    let object = Object::Address(a.clone());
    send(
        kernel,
        &object,
        "adding",
        RouteNetlinkMessage::NewAddress(msg),
        flags,
    )
    .await
}

pub(super) async fn delete_address(kernel: &Kernel, a: &Address) -> Result<(), KernelError> {
    let index = ifindex(kernel, &a.ns, &a.link).await?;
    let msg = address_message(index, a.cidr);
    let object = Object::Address(a.clone());
    send(
        kernel,
        &object,
        "deleting",
        RouteNetlinkMessage::DelAddress(msg),
        0,
    )
    .await
}

fn route_message(r: &Route, proto: u8) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family(r.dst.addr());
    msg.header.destination_prefix_length = r.dst.prefix_len();
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::from(proto);
    msg.header.kind = RouteType::Unicast;
    if r.dst.prefix_len() > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                r.dst.addr(),
            )));
    }
    msg
}

/// Add a main-table route with our protocol. Update uses replace (NLM_F_REPLACE); create is
/// exclusive so an unowned route to the same destination is never overwritten.
pub(super) async fn route(kernel: &Kernel, r: &Route, replace: bool) -> Result<(), KernelError> {
    let index = ifindex(kernel, &r.ns, &r.dev).await?;
    let mut msg = route_message(r, kernel.target.marks.proto);
    // Without a gateway the destination is directly on the link.
    msg.header.scope = if r.gateway.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    if r.onlink {
        msg.header.flags |= RouteFlags::Onlink;
    }
    if let Some(gw) = r.gateway {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    msg.attributes.push(RouteAttribute::Oif(index));
    let flags = NLM_F_CREATE | if replace { NLM_F_REPLACE } else { NLM_F_EXCL };
    let object = Object::Route(r.clone());
    send(
        kernel,
        &object,
        "adding",
        RouteNetlinkMessage::NewRoute(msg),
        flags,
    )
    .await
}

/// Delete by destination, main table and *our protocol*: the kernel only matches a route with
/// that protocol, so an unowned route to the same destination can never be removed by mistake.
/// Scope NOWHERE matches any scope (as iproute2 does for deletes).
pub(super) async fn delete_route(kernel: &Kernel, r: &Route) -> Result<(), KernelError> {
    let mut msg = route_message(r, kernel.target.marks.proto);
    msg.header.scope = RouteScope::NoWhere;
    let object = Object::Route(r.clone());
    send(
        kernel,
        &object,
        "deleting",
        RouteNetlinkMessage::DelRoute(msg),
        0,
    )
    .await
}

fn neighbour_address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
        IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
    }
}

fn neighbour_message(index: u32, n: &Neighbour) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = family(n.ip);
    msg.header.ifindex = index;
    msg.attributes
        .push(NeighbourAttribute::Destination(neighbour_address(n.ip)));
    msg
}

/// Permanent neighbour, create-or-replace (idempotent, no EEXIST races).
pub(super) async fn neighbour(kernel: &Kernel, n: &Neighbour) -> Result<(), KernelError> {
    let index = ifindex(kernel, &n.ns, &n.link).await?;
    let mut msg = neighbour_message(index, n);
    msg.header.state = NeighbourState::Permanent;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(n.mac.0.to_vec()));
    let object = Object::Neighbour(n.clone());
    let flags = NLM_F_CREATE | NLM_F_REPLACE;
    send(
        kernel,
        &object,
        "adding",
        RouteNetlinkMessage::NewNeighbour(msg),
        flags,
    )
    .await
}

pub(super) async fn delete_neighbour(kernel: &Kernel, n: &Neighbour) -> Result<(), KernelError> {
    let index = ifindex(kernel, &n.ns, &n.link).await?;
    let msg = neighbour_message(index, n);
    let object = Object::Neighbour(n.clone());
    send(
        kernel,
        &object,
        "deleting",
        RouteNetlinkMessage::DelNeighbour(msg),
        0,
    )
    .await
}

/// `bridge fdb replace MAC dev VX dst IP self permanent`: AF_BRIDGE, NTF_SELF (the vxlan
/// device's own table, not a bridge master's), NDA_LLADDR + NDA_DST.
fn fdb_message(index: u32, f: &Fdb) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(f.mac.0.to_vec()));
    msg.attributes
        .push(NeighbourAttribute::Destination(neighbour_address(f.dst)));
    msg
}

pub(super) async fn fdb(kernel: &Kernel, f: &Fdb) -> Result<(), KernelError> {
    let index = ifindex(kernel, &f.ns, &f.link).await?;
    let mut msg = fdb_message(index, f);
    msg.header.state = NeighbourState::Permanent;
    let object = Object::Fdb(f.clone());
    let flags = NLM_F_CREATE | NLM_F_REPLACE;
    send(
        kernel,
        &object,
        "adding",
        RouteNetlinkMessage::NewNeighbour(msg),
        flags,
    )
    .await
}

pub(super) async fn delete_fdb(kernel: &Kernel, f: &Fdb) -> Result<(), KernelError> {
    let index = ifindex(kernel, &f.ns, &f.link).await?;
    let msg = fdb_message(index, f);
    let object = Object::Fdb(f.clone());
    send(
        kernel,
        &object,
        "deleting",
        RouteNetlinkMessage::DelNeighbour(msg),
        0,
    )
    .await
}
