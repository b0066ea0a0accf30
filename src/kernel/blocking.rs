//! A blocking rtnetlink socket for threads that are not runtime threads: the thread that
//! unshares a new namespace (marking its `lo`), and the reader threads of
//! [`snapshot`](super::snapshot) that step from namespace to namespace. One exchange at a time;
//! every read is bounded by a receive timeout, so a silent kernel is an error, never a hang.
//!
//! Dumps cannot lose replies here: the kernel fills a dump only as the receive buffer drains,
//! and with one exchange at a time nothing else competes for the buffer.

use super::sockbuf;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use std::io;
use std::time::Duration;

/// Room for the largest datagram the kernel sends a dump in (it caps them at 32 KiB).
const RECV_BUFFER: usize = 64 << 10;

pub(crate) struct RouteSocket {
    sock: Socket,
    seq: u32,
    timeout: Duration,
}

thread_local! {
    /// The receive buffer, one per thread: a snapshot thread opens a socket in each of
    /// hundreds of namespaces, and need not allocate 64 KiB for each.
    static BUFFER: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(RECV_BUFFER));
}

impl RouteSocket {
    /// A socket in the calling thread's network namespace (it stays bound to it), whose reads
    /// wait at most `timeout`.
    pub(crate) fn open(timeout: Duration) -> io::Result<RouteSocket> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        sockbuf::set_recv_timeout(&sock, timeout)?;
        // Dump filters (a route dump of one table) are only honoured with strict checking;
        // a kernel before 4.20 lacks the option and dumps everything, which is still correct.
        let _ = sock.set_netlink_get_strict_chk(true);
        Ok(RouteSocket {
            sock,
            seq: 0,
            timeout,
        })
    }

    /// Every object of one kind (the message type and family select it), handed to `each`
    /// as it is read.
    pub(crate) fn dump_each(
        &mut self,
        message: RouteNetlinkMessage,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        self.exchange(message, NLM_F_REQUEST | NLM_F_DUMP, &mut each)
    }

    /// One acknowledged request; `flags` is added to REQUEST|ACK.
    pub(crate) fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.exchange(message, NLM_F_REQUEST | NLM_F_ACK | flags, &mut drop)
    }

    /// A get without acknowledgement: the kernel's one reply (or its error).
    pub(crate) fn get(
        &mut self,
        message: RouteNetlinkMessage,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut replies = Vec::new();
        self.exchange(message, NLM_F_REQUEST, &mut |m| replies.push(m))?;
        Ok(replies)
    }

    /// Send one message and hand `each` the replies carrying its sequence number until the
    /// final one: DONE or an error/acknowledgement, or the single reply of a plain get.
    fn exchange(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        each: &mut dyn FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let mut request = NetlinkMessage::from(message);
        request.header.flags = flags;
        request.header.sequence_number = self.seq;
        request.finalize();
        let mut bytes = vec![0; request.header.length as usize];
        request.serialize(&mut bytes);
        self.sock.send(&bytes, 0)?;
        BUFFER.with_borrow_mut(|buf| self.replies(flags, buf, each))
    }

    /// The replies to the request just sent (see [`RouteSocket::exchange`]).
    fn replies(
        &self,
        flags: u16,
        buf: &mut Vec<u8>,
        each: &mut dyn FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        loop {
            self.recv(buf)?;
            let mut offset = 0;
            while offset < buf.len() {
                let rest = &buf[offset..];
                let length = NetlinkBuffer::new_checked(rest)
                    .map(|b| b.length() as usize)
                    .map_err(invalid)?;
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(
                    &rest[..length.min(rest.len())],
                )
                .map_err(invalid)?;
                // Netlink messages are 4-byte aligned within a datagram.
                offset += (length + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                let multipart = reply.header.flags & NLM_F_MULTIPART != 0;
                match reply.payload {
                    // A dump that fails part-way reports the error in its DONE.
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        return Err(io::Error::from_raw_os_error(-done.code));
                    }
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(err) if err.code.is_some() => return Err(err.to_io()),
                    NetlinkPayload::Error(_) => return Ok(()),
                    NetlinkPayload::InnerMessage(inner) => {
                        each(inner);
                        if !multipart && flags & (NLM_F_ACK | NLM_F_DUMP) == 0 {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Read one datagram (see [`sockbuf::recv_within`]).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        sockbuf::recv_within(&self.sock, buf, self.timeout, "rtnetlink socket")
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}
