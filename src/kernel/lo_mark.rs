//! Marking `lo` of the calling thread's namespace with one synchronous RTM_SETLINK: used while
//! creating a namespace, on the thread that unshared it, before the namespace gets its name
//! (see `netns::create_marked`). A plain blocking netlink socket, because that thread is not a
//! runtime thread and the namespace has no connection of ours yet.

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use std::io;

/// Set `lo`'s alias to `mark` and bring it up, in the namespace of the calling thread.
pub(super) fn mark_lo(mark: &str) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut link = LinkMessage::default();
    link.attributes.push(LinkAttribute::IfName("lo".into()));
    link.attributes
        .push(LinkAttribute::IfAlias(mark.to_string()));
    link.header.flags |= LinkFlags::Up;
    link.header.change_mask |= LinkFlags::Up;
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::SetLink(link));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    request.header.sequence_number = 1;
    request.finalize();
    let mut bytes = vec![0; request.header.length as usize];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    let mut reply = Vec::with_capacity(8192);
    socket.recv(&mut reply, 0)?;
    let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    match reply.payload {
        NetlinkPayload::Error(err) if err.code.is_some() => Err(err.to_io()),
        NetlinkPayload::Error(_) => Ok(()),
        other => Err(io::Error::other(format!(
            "unexpected reply to marking lo: {other:?}"
        ))),
    }
}
