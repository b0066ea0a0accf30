//! Marking `lo` of the calling thread's namespace with one synchronous RTM_SETLINK: used while
//! creating a namespace, on the thread that unshared it, before the namespace gets its name
//! (see `netns::create_marked`). A blocking socket, because that thread is not a runtime
//! thread and the namespace has no connection of ours yet.

use super::blocking::RouteSocket;
use super::conn::Limits;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use std::io;

/// Set `lo`'s alias to `mark` and bring it up, in the namespace of the calling thread.
pub(super) fn mark_lo(mark: &str) -> io::Result<()> {
    let mut socket = RouteSocket::open(Limits::from_env().timeout)?;
    let mut link = LinkMessage::default();
    link.attributes.push(LinkAttribute::IfName("lo".into()));
    link.attributes
        .push(LinkAttribute::IfAlias(mark.to_string()));
    link.header.flags |= LinkFlags::Up;
    link.header.change_mask |= LinkFlags::Up;
    socket.request(RouteNetlinkMessage::SetLink(link), 0)
}
