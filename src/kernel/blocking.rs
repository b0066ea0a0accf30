//! A blocking rtnetlink socket for threads that are not runtime threads: the thread that
//! unshares a new namespace (marking its `lo`), and the reader threads of
//! [`snapshot`](super::snapshot) that step from namespace to namespace. One exchange at a time;
//! every read is bounded by a receive timeout, so a silent kernel is an error, never a hang.
//!
//! Dumps cannot lose replies here: the kernel fills a dump only as the receive buffer drains,
//! and with one exchange at a time nothing else competes for the buffer.
//!
//! It also carries out requests in bulk ([`RouteSocket::send_all`]): many requests in one
//! datagram, answered only when they fail, each datagram closed by an acknowledged NOOP.

use super::sockbuf;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use std::io;
use std::ops::ControlFlow;
use std::time::Duration;

/// Room for the largest datagram the kernel sends a dump in (it caps them at 32 KiB).
const RECV_BUFFER: usize = 64 << 10;

/// Requests per datagram in [`RouteSocket::send_all`]. A route or neighbour request is under
/// 100 bytes, so a datagram stays far below the send buffer; if every one of them failed, their
/// error replies (about 1 KiB of buffer each, the request included) still fit the receive
/// buffer [`RouteSocket::open_bulk`] sets.
pub(crate) const BULK_CHUNK: usize = 512;

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

    /// [`RouteSocket::open`] for [`RouteSocket::send_all`]: with a receive buffer that holds an
    /// error reply for every request of a datagram.
    pub(crate) fn open_bulk(timeout: Duration) -> io::Result<RouteSocket> {
        let sock = RouteSocket::open(timeout)?;
        sockbuf::set_rcvbuf(&sock.sock, super::conn::RCVBUF)?;
        sockbuf::set_sndbuf(&sock.sock, super::conn::SNDBUF)?;
        Ok(sock)
    }

    /// Carry out `requests` (each a message and the flags added to REQUEST) in order,
    /// [`BULK_CHUNK`] to a datagram, and say how each went: the kernel's error for the requests
    /// it refused, `Ok` for the rest.
    ///
    /// The requests ask for no acknowledgement, so the kernel writes a reply only for those that
    /// fail (it carries on with the next request of the datagram after a failure). Each datagram
    /// ends with an acknowledged NOOP: the kernel handles a datagram's messages in order, so
    /// once the NOOP's acknowledgement is read every request before it was carried out or has
    /// its error read, which its sequence number ties to the request. A datagram whose replies
    /// cannot be read (timeout, overrun) leaves its requests without a known outcome; the
    /// datagrams after it are not sent.
    pub(crate) fn send_all(
        &mut self,
        requests: Vec<(RouteNetlinkMessage, u16)>,
    ) -> Vec<io::Result<()>> {
        self.send_in_chunks(requests, BULK_CHUNK)
    }

    /// [`RouteSocket::send_all`], `chunk` requests to a datagram.
    fn send_in_chunks(
        &mut self,
        requests: Vec<(RouteNetlinkMessage, u16)>,
        chunk: usize,
    ) -> Vec<io::Result<()>> {
        let mut results: Vec<io::Result<()>> = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let chunk: Vec<_> = requests.by_ref().take(chunk.max(1)).collect();
            let len = chunk.len();
            let first = results.len();
            results.extend((0..len).map(|_| Ok(())));
            if let Err(e) = self.send_chunk(chunk, &mut results[first..]) {
                let kind = e.kind();
                let unknown = format!("{e}: whether the request took effect is unknown");
                for result in &mut results[first..] {
                    if result.is_ok() {
                        *result = Err(io::Error::new(kind, unknown.clone()));
                    }
                }
                let not_sent =
                    format!("not sent: an earlier request's reply could not be read ({e})");
                results.extend(requests.map(|_| Err(io::Error::new(kind, not_sent.clone()))));
                break;
            }
        }
        results
    }

    /// One datagram of [`RouteSocket::send_all`]: the requests then the NOOP; the kernel's
    /// errors go into `results` (one per request, all `Ok` on entry). An `Err` is a datagram
    /// that could not be sent or whose replies could not be read to the NOOP's.
    fn send_chunk(
        &mut self,
        chunk: Vec<(RouteNetlinkMessage, u16)>,
        results: &mut [io::Result<()>],
    ) -> io::Result<()> {
        let first = self.seq.wrapping_add(1);
        let mut bytes = Vec::new();
        for (message, flags) in chunk {
            self.seq = self.seq.wrapping_add(1);
            push_message(
                &mut bytes,
                NetlinkMessage::from(message),
                NLM_F_REQUEST | flags,
                self.seq,
            );
        }
        self.seq = self.seq.wrapping_add(1);
        let noop = NetlinkMessage::new(Default::default(), NetlinkPayload::Noop);
        push_message(&mut bytes, noop, NLM_F_REQUEST | NLM_F_ACK, self.seq);
        self.sock.send(&bytes, 0)?;
        let noop_seq = self.seq;
        BUFFER.with_borrow_mut(|buf| {
            loop {
                self.recv(buf)?;
                let flow = each_message(buf, |reply| {
                    let seq = reply.header.sequence_number;
                    let NetlinkPayload::Error(err) = reply.payload else {
                        return ControlFlow::Continue(());
                    };
                    if seq == noop_seq {
                        return ControlFlow::Break(match err.code {
                            Some(_) => Err(err.to_io()),
                            None => Ok(()),
                        });
                    }
                    let index = seq.wrapping_sub(first) as usize;
                    if let (Some(_), Some(result)) = (err.code, results.get_mut(index)) {
                        *result = Err(err.to_io());
                    }
                    ControlFlow::Continue(())
                })?;
                if let ControlFlow::Break(done) = flow {
                    return done;
                }
            }
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
        let mut bytes = Vec::new();
        push_message(&mut bytes, NetlinkMessage::from(message), flags, self.seq);
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
            let flow = each_message(buf, |reply| {
                if reply.header.sequence_number != self.seq {
                    return ControlFlow::Continue(());
                }
                let multipart = reply.header.flags & NLM_F_MULTIPART != 0;
                match reply.payload {
                    // A dump that fails part-way reports the error in its DONE.
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        ControlFlow::Break(Err(io::Error::from_raw_os_error(-done.code)))
                    }
                    NetlinkPayload::Done(_) => ControlFlow::Break(Ok(())),
                    NetlinkPayload::Error(err) if err.code.is_some() => {
                        ControlFlow::Break(Err(err.to_io()))
                    }
                    NetlinkPayload::Error(_) => ControlFlow::Break(Ok(())),
                    NetlinkPayload::InnerMessage(inner) => {
                        each(inner);
                        if !multipart && flags & (NLM_F_ACK | NLM_F_DUMP) == 0 {
                            ControlFlow::Break(Ok(()))
                        } else {
                            ControlFlow::Continue(())
                        }
                    }
                    _ => ControlFlow::Continue(()),
                }
            })?;
            if let ControlFlow::Break(done) = flow {
                return done;
            }
        }
    }

    /// Read one datagram (see [`sockbuf::recv_within`]).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        sockbuf::recv_within(&self.sock, buf, self.timeout, "rtnetlink socket")
    }
}

/// Append `message` to a datagram being built, with its flags and sequence number, padded to
/// the 4-byte alignment netlink messages keep within a datagram.
fn push_message(
    bytes: &mut Vec<u8>,
    mut message: NetlinkMessage<RouteNetlinkMessage>,
    flags: u16,
    seq: u32,
) {
    message.header.flags = flags;
    message.header.sequence_number = seq;
    message.finalize();
    let start = bytes.len();
    let length = message.header.length as usize;
    bytes.resize(start + ((length + 3) & !3), 0);
    message.serialize(&mut bytes[start..start + length]);
}

/// Hand each message of the datagram in `buf` to `each` until it breaks; its break value, or
/// `Continue` when the datagram ran out first.
fn each_message<B>(
    buf: &[u8],
    mut each: impl FnMut(NetlinkMessage<RouteNetlinkMessage>) -> ControlFlow<B>,
) -> io::Result<ControlFlow<B>> {
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let length = NetlinkBuffer::new_checked(rest)
            .map(|b| b.length() as usize)
            .map_err(invalid)?;
        let reply =
            NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..length.min(rest.len())])
                .map_err(invalid)?;
        // Netlink messages are 4-byte aligned within a datagram.
        offset += (length + 3) & !3;
        if let ControlFlow::Break(b) = each(reply) {
            return Ok(ControlFlow::Break(b));
        }
    }
    Ok(ControlFlow::Continue(()))
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    //! These talk to the kernel from the test's own namespace and only read: a link lookup needs
    //! no rights and changes nothing.

    use super::*;
    use rtnetlink::packet_route::link::LinkMessage;

    /// A lookup of the link at `index` (without an acknowledgement, as bulk requests are sent):
    /// `lo` (1) is answered with its description, a missing index with ENODEV.
    fn get_link(index: u32) -> (RouteNetlinkMessage, u16) {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        (RouteNetlinkMessage::GetLink(msg), 0)
    }

    const MISSING: u32 = u32::MAX >> 1;

    #[test]
    fn each_refusal_is_tied_to_its_own_request_across_datagrams() {
        let mut sock = RouteSocket::open(Duration::from_secs(20)).expect("socket");
        // Datagrams of 4: refusals at both ends of a datagram, and two in a row across one.
        let refused = [0, 3, 4, 9, 10];
        let requests = (0..11)
            .map(|i| get_link(if refused.contains(&i) { MISSING } else { 1 }))
            .collect();
        let results = sock.send_in_chunks(requests, 4);
        assert_eq!(results.len(), 11);
        for (i, result) in results.iter().enumerate() {
            match result {
                Err(e) => {
                    assert!(refused.contains(&i), "request {i} failed: {e}");
                    assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "request {i}");
                }
                Ok(()) => assert!(!refused.contains(&i), "request {i} succeeded"),
            }
        }
        // The socket is ready for more: a later exchange sees only its own replies.
        let again = sock.send_in_chunks(vec![get_link(1), get_link(MISSING)], 4);
        assert!(again[0].is_ok() && again[1].is_err(), "{again:?}");
    }

    #[test]
    fn unreadable_replies_leave_the_outcome_unknown_and_stop_sending() {
        let mut sock = RouteSocket::open(Duration::from_secs(20)).expect("socket");
        // The smallest receive buffer holds about one link description: the kernel drops the
        // other replies of the first datagram and reports ENOBUFS.
        sockbuf::set_rcvbuf(&sock.sock, 0).expect("rcvbuf");
        let requests = (0..40).map(|_| get_link(1)).collect();
        let results = sock.send_in_chunks(requests, 20);
        assert_eq!(results.len(), 40);
        for (i, result) in results.iter().enumerate() {
            let e = result.as_ref().expect_err("no outcome can be known");
            let text = e.to_string();
            if i < 20 {
                assert!(
                    text.contains("overrun, ENOBUFS")
                        && text.ends_with("whether the request took effect is unknown"),
                    "request {i}: {text}"
                );
            } else {
                assert!(text.starts_with("not sent: "), "request {i}: {text}");
            }
        }
    }
}
