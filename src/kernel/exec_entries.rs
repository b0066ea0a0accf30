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

/// What an entry step sends: one request, and the verb its error names.
pub(super) struct Request {
    pub message: RouteNetlinkMessage,
    /// Added to NLM_F_REQUEST (and NLM_F_ACK, when it is acknowledged).
    pub flags: u16,
    pub op: &'static str,
}

/// The change a step makes to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Create,
    Update,
    Delete,
}

/// Whether `object` is an entry: what this module sends.
pub(super) fn is_entry(object: &Object) -> bool {
    matches!(
        object,
        Object::Address(_) | Object::Route(_) | Object::Neighbour(_) | Object::Fdb(_)
    )
}

/// Make `change` to entry `object`: one acknowledged request on its namespace's connection.
pub(super) async fn run(
    kernel: &Kernel,
    change: Change,
    object: &Object,
) -> Result<(), KernelError> {
    let request = request(kernel, change, object).await?;
    let key = object.key();
    let result = kernel
        .conn(&key.ns())
        .await?
        .request(request.message, request.flags)
        .await;
    result.map_err(|e| nl_error(kernel, request.op, &key, e))
}

/// The request that makes `change` to entry `object` (the link it names looked up, see
/// [`ifindex`]).
pub(super) async fn request(
    kernel: &Kernel,
    change: Change,
    object: &Object,
) -> Result<Request, KernelError> {
    let proto = kernel.target.marks.proto;
    let (message, flags) = match (object, change) {
        (Object::Address(a), Change::Delete) => {
            let index = ifindex(kernel, &a.ns, &a.link).await?;
            (
                RouteNetlinkMessage::DelAddress(address_message(index, a.cidr)),
                0,
            )
        }
        (Object::Address(a), _) => {
            let index = ifindex(kernel, &a.ns, &a.link).await?;
            let message = RouteNetlinkMessage::NewAddress(new_address(index, a, proto));
            (message, create_flags(change))
        }
        (Object::Route(r), Change::Delete) => {
            (RouteNetlinkMessage::DelRoute(delete_route(r, proto)), 0)
        }
        (Object::Route(r), _) => {
            let index = ifindex(kernel, &r.ns, &r.dev).await?;
            let message = RouteNetlinkMessage::NewRoute(new_route(index, r, proto));
            (message, create_flags(change))
        }
        (Object::Neighbour(n), change) => {
            let index = ifindex(kernel, &n.ns, &n.link).await?;
            match change {
                Change::Delete => (
                    RouteNetlinkMessage::DelNeighbour(neighbour_message(index, n)),
                    0,
                ),
                _ => (
                    RouteNetlinkMessage::NewNeighbour(new_neighbour(index, n)),
                    NLM_F_CREATE | NLM_F_REPLACE,
                ),
            }
        }
        (Object::Fdb(f), change) => {
            let index = ifindex(kernel, &f.ns, &f.link).await?;
            match change {
                Change::Delete => (RouteNetlinkMessage::DelNeighbour(fdb_message(index, f)), 0),
                _ => (
                    RouteNetlinkMessage::NewNeighbour(new_fdb(index, f)),
                    NLM_F_CREATE | NLM_F_REPLACE,
                ),
            }
        }
        _ => {
            return Err(KernelError::Invalid {
                op: "executing",
                object: object.key().to_string(),
                ns: kernel.target.label(&object.key().ns()),
                message: "not an address, route, neighbour or FDB entry".into(),
            });
        }
    };
    let op = match change {
        Change::Delete => "deleting",
        Change::Create | Change::Update => "adding",
    };
    Ok(Request { message, flags, op })
}

/// Creates are exclusive so an existing unowned twin is reported, not silently adopted or
/// overwritten; updates replace.
fn create_flags(change: Change) -> u16 {
    NLM_F_CREATE
        | match change {
            Change::Update => NLM_F_REPLACE,
            Change::Create | Change::Delete => NLM_F_EXCL,
        }
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

/// A new address marked with IFA_PROTO.
fn new_address(index: u32, a: &Address, proto: u8) -> AddressMessage {
    let mut msg = address_message(index, a.cidr);
    msg.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(proto)));
    if a.cidr.addr().is_ipv6() {
        // No duplicate address detection: the address is usable at once (no "tentative" phase
        // during which the kernel neither sources nor answers it). Every address is derived
        // from the file, which validation keeps free of duplicates.
        msg.header.flags |= AddressHeaderFlags::Nodad;
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    msg
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

/// A main-table route with our protocol.
fn new_route(index: u32, r: &Route, proto: u8) -> RouteMessage {
    let mut msg = route_message(r, proto);
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
    msg
}

/// Delete by destination, main table and *our protocol*: the kernel only matches a route with
/// that protocol, so an unowned route to the same destination can never be removed by mistake.
/// Scope NOWHERE matches any scope (as iproute2 does for deletes).
fn delete_route(r: &Route, proto: u8) -> RouteMessage {
    let mut msg = route_message(r, proto);
    msg.header.scope = RouteScope::NoWhere;
    msg
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

/// A permanent neighbour.
fn new_neighbour(index: u32, n: &Neighbour) -> NeighbourMessage {
    let mut msg = neighbour_message(index, n);
    msg.header.state = NeighbourState::Permanent;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(n.mac.0.to_vec()));
    msg
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

/// A permanent FDB entry.
fn new_fdb(index: u32, f: &Fdb) -> NeighbourMessage {
    let mut msg = fdb_message(index, f);
    msg.header.state = NeighbourState::Permanent;
    msg
}
