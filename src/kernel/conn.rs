//! One rtnetlink connection bound to one network namespace, with the two primitives everything
//! else uses: an acknowledged request with explicit flags, and a dump.
//!
//! We build `NetlinkMessage`s ourselves rather than use rtnetlink's request types because their
//! flags are fixed (e.g. `LinkSetRequest` sends CREATE|EXCL, and deletes must never carry EXCL,
//! which shares its value with NLM_F_BULK on new kernels).
//!
//! Under load (an apply sends thousands of requests at once) three things keep a request from
//! waiting forever:
//! - **Bounded in-flight requests, sized buffers.** The kernel answers a request inside the
//!   `sendmsg` that carries it and drops any reply that does not fit the receive buffer. The
//!   connection task only learns that the socket is readable when tokio's reactor turns, so
//!   between two turns it may send many requests without reading: with thousands in flight
//!   the default buffer (~200 KiB) overflowed and acknowledgements were lost. At most
//!   [`IN_FLIGHT`] requests are outstanding per connection, and the receive buffer holds their
//!   replies with room to spare ([`RCVBUF`]).
//! - **Overruns are noticed.** A dropped reply makes the next read fail with ENOBUFS, which
//!   netlink-proto turns into an `Overrun` message addressed to nobody (it cannot know whose
//!   reply was lost). A watcher task sends a *barrier* (an acknowledged NLMSG_NOOP): the kernel
//!   answers requests in order, so once the barrier's acknowledgement is read every request sent
//!   before it has either been answered or lost its reply. Those still unanswered fail at once
//!   with "reply lost" instead of waiting out the timeout.
//! - **Every exchange has a deadline** ([`Limits::timeout`], 30 s; `NETPLAN_RS_NETLINK_TIMEOUT`
//!   overrides it in seconds), counted from the last reply so that a long dump that keeps
//!   answering is not cut short: a silent kernel is an error naming the wait, never a hang.

use futures::{FutureExt, Stream, StreamExt};
use netlink_proto::ConnectionHandle;
use netlink_proto::sys::{AsyncSocket, SocketAddr, protocols::NETLINK_ROUTE};
use netlink_sys::TokioSocket;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

use super::{lock, netns, sockbuf};

/// Requests outstanding at once on one connection. A neighbour or FDB write needs two (the
/// link lookup, then the write); 256 keeps the kernel busy (more does not make an apply of
/// thousands of entries faster) while their replies, the largest being link messages of a few
/// KiB, stay far below [`RCVBUF`].
pub(crate) const IN_FLIGHT: usize = 256;
/// Receive buffer: [`IN_FLIGHT`] replies of up to ~8 KiB each fit in half of it, the other half
/// being a dump's share (the kernel stops filling a dump at half the buffer).
pub(crate) const RCVBUF: usize = 4 << 20;
/// Send buffer: far above any one request (a netlink message larger than it fails).
pub(crate) const SNDBUF: usize = 1 << 20;
/// How long an exchange waits for the kernel's reply by default.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);
/// Overrides [`TIMEOUT`] (whole seconds, at least 1).
pub(crate) const TIMEOUT_ENV: &str = "NETPLAN_RS_NETLINK_TIMEOUT";

/// The bounds of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// How long a request waits for a reply once sent (and for the next one, for dumps).
    pub timeout: Duration,
    /// Requests outstanding at once.
    pub in_flight: usize,
    /// Receive buffer size (bytes, as set; the kernel doubles it).
    pub rcvbuf: usize,
}

impl Limits {
    /// The defaults, with the timeout from [`TIMEOUT_ENV`] when set (an invalid value is
    /// ignored with a warning: it only exists for tests and troubleshooting).
    pub(crate) fn from_env() -> Limits {
        Limits {
            timeout: timeout_from(std::env::var(TIMEOUT_ENV).ok()),
            in_flight: IN_FLIGHT,
            rcvbuf: RCVBUF,
        }
    }
}

/// The timeout a value of [`TIMEOUT_ENV`] asks for.
fn timeout_from(value: Option<String>) -> Duration {
    let Some(text) = value else {
        return TIMEOUT;
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Duration::from_secs(secs),
        _ => {
            tracing::warn!("ignoring {TIMEOUT_ENV}={text:?}: not a whole number of seconds >= 1");
            TIMEOUT
        }
    }
}

type Message = NetlinkMessage<RouteNetlinkMessage>;
type Replies = Pin<Box<dyn Stream<Item = Message> + Send>>;

/// Sends requests and numbers them in the order the connection task will send them (its queue
/// is first in, first out), so that "sent before the barrier" is a comparison of numbers.
struct Sender {
    handle: ConnectionHandle<RouteNetlinkMessage>,
    /// The number of the last request handed to the connection; held while handing one over.
    sent: Mutex<u64>,
}

impl Sender {
    fn send(&self, messages: Vec<Message>) -> io::Result<(u64, Replies)> {
        let mut sent = lock(&self.sent);
        let replies = self
            .handle
            .request_batch(messages, SocketAddr::new(0, 0))
            .map_err(|e| io::Error::other(format!("netlink connection closed: {e}")))?;
        *sent += 1;
        Ok((*sent, Box::pin(replies)))
    }
}

pub(crate) struct Conn {
    sender: Arc<Sender>,
    limits: Limits,
    in_flight: Semaphore,
    /// The number of the last barrier answered after an overrun: every request numbered below
    /// it that is still unanswered has lost its reply.
    answered_barrier: watch::Receiver<u64>,
    /// The overrun watcher; it holds a handle of the connection, so it is stopped with us.
    watcher: tokio::task::JoinHandle<()>,
    /// The kernel runs at most one dump per netlink socket and answers a second concurrent one
    /// with EBUSY, so dumps on one connection take turns (other requests don't wait).
    dump_turn: tokio::sync::Mutex<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl Conn {
    /// Open a connection inside the namespace at `ns` (`None`: this process's namespace). The
    /// socket is created on a thread that has joined the namespace; a netlink socket stays bound
    /// to the namespace it was created in, so its connection then runs on any runtime thread.
    /// The thread enters the caller's runtime so the socket registers with its reactor (this is
    /// `new_connection_with_socket`, which reports a missing reactor as an error instead of the
    /// panic `TokioSocket::from_raw_fd` would give).
    pub(crate) async fn open(ns: Option<PathBuf>) -> io::Result<Conn> {
        Conn::open_with(ns, Limits::from_env()).await
    }

    pub(crate) async fn open_with(ns: Option<PathBuf>, limits: Limits) -> io::Result<Conn> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let rcvbuf = limits.rcvbuf;
        let (mut connection, handle, unsolicited) = netns::run_in_async(ns, move || {
            let _entered = runtime.enter();
            netlink_proto::new_connection_with_socket::<RouteNetlinkMessage, TokioSocket>(
                NETLINK_ROUTE,
            )
        })
        .await?;
        let socket = connection.socket_mut().socket_mut();
        sockbuf::set_rcvbuf(socket, rcvbuf)?;
        sockbuf::set_sndbuf(socket, SNDBUF)?;
        // Acknowledgements and DONE come through, so that an exchange ends on its final reply
        // and a stream that ends without one is a closed connection, not a success.
        connection.set_forward_ack(true);
        connection.set_forward_done(true);
        tokio::spawn(connection);
        let sender = Arc::new(Sender {
            handle,
            sent: Mutex::new(0),
        });
        let (barrier_tx, answered_barrier) = watch::channel(0);
        let watcher = tokio::spawn(watch_overruns(
            sender.clone(),
            unsolicited,
            barrier_tx,
            limits.timeout,
        ));
        Ok(Conn {
            sender,
            in_flight: Semaphore::new(limits.in_flight.max(1)),
            limits,
            answered_barrier,
            watcher,
            dump_turn: tokio::sync::Mutex::new(()),
        })
    }

    /// Send one request and wait for its acknowledgement. `flags` is added to REQUEST|ACK.
    pub(crate) async fn request(&self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.call(message, NLM_F_ACK | flags).await.map(drop)
    }

    /// Dump every object of one kind (the request's message type and family select it).
    pub(crate) async fn dump(
        &self,
        message: RouteNetlinkMessage,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let _turn = self.dump_turn.lock().await;
        let mut req = NetlinkMessage::from(message);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        self.exchange(vec![req], true).await
    }

    /// Send one message with REQUEST|`flags` and collect the replies until the final one
    /// (the acknowledgement, DONE, or the only reply of a plain get). An error reply becomes an
    /// `io::Error` carrying the kernel's errno.
    pub(crate) async fn call(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut req = NetlinkMessage::from(message);
        req.header.flags = NLM_F_REQUEST | flags;
        self.exchange(vec![req], false).await
    }

    /// Send `messages` in one datagram (they share their flags) and wait for the final reply of
    /// each, within the bounds of [`Limits`]. A `dump`'s replies are never dropped (the kernel
    /// fills it only as the buffer drains) and may come after a barrier's: barriers do not
    /// apply to it. (Whether a request is a dump cannot be told from its flags: NLM_F_DUMP's
    /// bits are REPLACE|EXCL on a NEW request.)
    async fn exchange(
        &self,
        messages: Vec<Message>,
        dump: bool,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let _permit = self.in_flight.acquire().await.map_err(io::Error::other)?;
        let flags = messages.first().map_or(0, |m| m.header.flags);
        let mut collect = Collect::new(messages.len(), flags & NLM_F_ACK != 0);
        let (number, mut replies) = self.sender.send(messages)?;
        let mut barrier = self.answered_barrier.clone();
        let mut watching = !dump;
        // The deadline runs from the last reply: a long dump that keeps answering is not
        // cut short, a silent kernel is.
        let timeout = self.limits.timeout;
        let silence = tokio::time::sleep(timeout);
        tokio::pin!(silence);
        loop {
            tokio::select! {
                biased;
                reply = replies.next() => match reply {
                    Some(reply) => {
                        if let Some(done) = collect.take(reply) {
                            return done;
                        }
                        silence.as_mut().reset(tokio::time::Instant::now() + timeout);
                    }
                    None => return Err(closed()),
                },
                seen = barrier.wait_for(|&b| b > number), if watching => {
                    if seen.is_err() {
                        // The watcher is gone (the connection closed): only the timeout and
                        // the end of the reply stream are left to watch.
                        watching = false;
                        continue;
                    }
                    // Replies read before the barrier's are already queued: take them.
                    while let Some(Some(reply)) = replies.next().now_or_never() {
                        if let Some(done) = collect.take(reply) {
                            return done;
                        }
                    }
                    return Err(lost());
                }
                () = &mut silence => return Err(timed_out(timeout)),
            }
        }
    }
}

/// The replies of one exchange, until every message has its final one.
struct Collect {
    /// Final replies still expected.
    pending: usize,
    /// The requests asked for an acknowledgement (then a plain reply is not final).
    ack: bool,
    out: Vec<RouteNetlinkMessage>,
}

impl Collect {
    fn new(requests: usize, ack: bool) -> Collect {
        Collect {
            pending: requests,
            ack,
            out: Vec::new(),
        }
    }

    /// Take one reply; `Some` once the exchange is over (all answered, or an error).
    fn take(&mut self, reply: Message) -> Option<io::Result<Vec<RouteNetlinkMessage>>> {
        let multipart = reply.header.flags & NLM_F_MULTIPART != 0;
        let last = match reply.payload {
            NetlinkPayload::InnerMessage(inner) => {
                self.out.push(inner);
                !multipart && !self.ack
            }
            NetlinkPayload::Error(err) if err.code.is_some() => return Some(Err(err.to_io())),
            // An acknowledgement (error code 0), DONE, or an overrun report.
            _ => true,
        };
        if last {
            self.pending = self.pending.saturating_sub(1);
        }
        (self.pending == 0).then(|| Ok(std::mem::take(&mut self.out)))
    }
}

/// An NLMSG_NOOP with REQUEST|ACK: the kernel acknowledges it and does nothing else.
fn barrier() -> Message {
    let mut m = NetlinkMessage::new(Default::default(), NetlinkPayload::Noop);
    m.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    m
}

/// Wait for the next overrun report (`false`: the connection is gone).
async fn next_overrun(
    unsolicited: &mut (impl Stream<Item = (Message, SocketAddr)> + Unpin),
) -> bool {
    while let Some((message, _)) = unsolicited.next().await {
        if matches!(message.payload, NetlinkPayload::Overrun(_)) {
            return true;
        }
    }
    false
}

/// After each overrun report, send barriers until one is answered with no overrun in between
/// (the barrier's own acknowledgement may be the reply that was dropped), then publish its
/// number: the requests before it that are still waiting have lost their replies.
async fn watch_overruns(
    sender: Arc<Sender>,
    mut unsolicited: impl Stream<Item = (Message, SocketAddr)> + Unpin,
    answered: watch::Sender<u64>,
    timeout: Duration,
) {
    while next_overrun(&mut unsolicited).await {
        tracing::debug!("netlink socket overrun (ENOBUFS): sending a barrier");
        loop {
            let Ok((number, mut replies)) = sender.send(vec![barrier()]) else {
                return;
            };
            let acknowledged = async {
                let mut collect = Collect::new(1, true);
                while let Some(reply) = replies.next().await {
                    if let Some(done) = collect.take(reply) {
                        return done.is_ok();
                    }
                }
                false
            };
            tokio::select! {
                biased;
                more = next_overrun(&mut unsolicited) => {
                    if !more {
                        return;
                    }
                    // Another overrun: the barrier itself may be unanswered; send a new one.
                }
                result = tokio::time::timeout(timeout, acknowledged) => {
                    if matches!(result, Ok(true)) {
                        answered.send_modify(|b| *b = (*b).max(number));
                    }
                    break;
                }
            }
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the netlink connection closed before the kernel replied",
    )
}

fn lost() -> io::Error {
    io::Error::other(
        "the kernel's reply was lost (netlink socket overrun, ENOBUFS): \
         whether the request took effect is unknown",
    )
}

fn timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no reply from the kernel within {timeout:?} (netlink request timed out)"),
    )
}

#[cfg(test)]
mod tests {
    //! These talk to the kernel from the test's own namespace, unprivileged: NLMSG_NOOP needs no
    //! rights and changes nothing.

    use super::*;
    use rtnetlink::packet_core::{DoneMessage, ErrorMessage, NetlinkHeader};
    use rtnetlink::packet_route::link::LinkMessage;
    use std::time::Instant;

    /// Far longer than any test needs, far shorter than "forever".
    const TEST_DEADLINE: Duration = Duration::from_secs(20);

    fn noops(n: usize, flags: u16) -> Vec<Message> {
        (0..n)
            .map(|_| {
                let mut m = barrier();
                m.header.flags = flags;
                m
            })
            .collect()
    }

    async fn open(timeout: Duration, rcvbuf: usize) -> Conn {
        let limits = Limits {
            timeout,
            in_flight: IN_FLIGHT,
            rcvbuf,
        };
        Conn::open_with(None, limits).await.expect("open")
    }

    #[test]
    fn the_timeout_comes_from_the_environment_when_valid() {
        assert_eq!(timeout_from(None), TIMEOUT);
        assert_eq!(timeout_from(Some("5".into())), Duration::from_secs(5));
        assert_eq!(
            timeout_from(Some(" 120\n".into())),
            Duration::from_secs(120)
        );
        for bad in ["0", "-1", "1.5", "soon", ""] {
            assert_eq!(timeout_from(Some(bad.into())), TIMEOUT, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn acknowledged_noops_complete() {
        let conn = open(TIMEOUT, RCVBUF).await;
        let replies = conn
            .exchange(noops(3, NLM_F_REQUEST | NLM_F_ACK), false)
            .await
            .expect("acknowledged");
        assert!(replies.is_empty());
    }

    #[tokio::test]
    async fn a_dump_and_a_plain_get_end_on_their_final_reply() {
        let conn = open(TIMEOUT, RCVBUF).await;
        let links = conn
            .dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))
            .await
            .expect("dump");
        assert!(!links.is_empty(), "every namespace has lo");
        let mut lo = LinkMessage::default();
        lo.header.index = 1;
        let got = conn
            .call(RouteNetlinkMessage::GetLink(lo), 0)
            .await
            .expect("get lo");
        assert_eq!(got.len(), 1);
        // An error reply carries the kernel's errno.
        let mut missing = LinkMessage::default();
        missing.header.index = u32::MAX >> 1;
        let err = conn
            .call(RouteNetlinkMessage::GetLink(missing), 0)
            .await
            .expect_err("no such link");
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
    }

    #[tokio::test]
    async fn a_request_without_a_reply_times_out_with_a_clear_error() {
        let conn = open(Duration::from_millis(300), RCVBUF).await;
        // A NOOP without NLM_F_ACK: the kernel skips it and never answers.
        let result =
            tokio::time::timeout(TEST_DEADLINE, conn.exchange(noops(1, NLM_F_REQUEST), false))
                .await
                .expect("the exchange hung instead of timing out");
        let err = result.expect_err("no reply cannot be a success");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "no reply from the kernel within 300ms (netlink request timed out)"
        );
    }

    #[tokio::test]
    async fn a_dropped_reply_is_noticed_without_waiting_for_the_timeout() {
        // The smallest receive buffer holds a few acknowledgements; one datagram of 500 NOOPs
        // makes the kernel drop most of theirs (ENOBUFS).
        let timeout = Duration::from_secs(120);
        let conn = open(timeout, 0).await;
        let started = Instant::now();
        let result = tokio::time::timeout(
            TEST_DEADLINE,
            conn.exchange(noops(500, NLM_F_REQUEST | NLM_F_ACK), false),
        )
        .await
        .expect("a lost reply was not noticed (the exchange waited for the timeout)");
        let err = result.expect_err("replies were dropped");
        assert!(
            err.to_string()
                .starts_with("the kernel's reply was lost (netlink socket overrun"),
            "{err}"
        );
        assert!(started.elapsed() < timeout);
        // The connection still works afterwards.
        let replies = tokio::time::timeout(
            TEST_DEADLINE,
            conn.exchange(noops(1, NLM_F_REQUEST | NLM_F_ACK), false),
        )
        .await
        .expect("hung after an overrun");
        replies.expect("acknowledged after an overrun");
    }

    #[tokio::test]
    async fn dropping_a_connection_releases_its_socket() {
        // The overrun watcher holds a handle of the connection; once no handle is left, the
        // connection task ends and closes the socket. Without stopping the watcher, every
        // connection (one per namespace an apply touches) would stay open for the process.
        let conn = open(TIMEOUT, RCVBUF).await;
        conn.exchange(noops(1, NLM_F_REQUEST | NLM_F_ACK), false)
            .await
            .expect("acknowledged");
        let sender = Arc::downgrade(&conn.sender);
        drop(conn);
        let started = Instant::now();
        while sender.upgrade().is_some() {
            assert!(
                started.elapsed() < TEST_DEADLINE,
                "the connection's handle outlived it"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn reply(payload: NetlinkPayload<RouteNetlinkMessage>, flags: u16) -> Message {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        NetlinkMessage::new(header, payload)
    }

    fn link() -> NetlinkPayload<RouteNetlinkMessage> {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(LinkMessage::default()))
    }

    #[test]
    fn the_final_reply_depends_on_the_request() {
        // A plain get: its one reply is final.
        let mut get = Collect::new(1, false);
        assert_eq!(get.take(reply(link(), 0)).unwrap().unwrap().len(), 1);
        // An acknowledged request: an echoed message is not final, the acknowledgement is.
        let mut ack = Collect::new(1, true);
        assert!(ack.take(reply(link(), 0)).is_none());
        let done = ack.take(reply(NetlinkPayload::Error(ErrorMessage::default()), 0));
        assert_eq!(done.unwrap().unwrap().len(), 1);
        // A dump: multipart messages until DONE.
        let mut dump = Collect::new(1, false);
        assert!(dump.take(reply(link(), NLM_F_MULTIPART)).is_none());
        assert!(dump.take(reply(link(), NLM_F_MULTIPART)).is_none());
        let done = dump.take(reply(NetlinkPayload::Done(DoneMessage::default()), 0));
        assert_eq!(done.unwrap().unwrap().len(), 2);
        // An error ends the exchange with the kernel's errno.
        let mut failed = Collect::new(2, true);
        let mut err = ErrorMessage::default();
        err.code = std::num::NonZeroI32::new(-libc::EEXIST);
        let done = failed.take(reply(NetlinkPayload::Error(err), 0));
        let e = done.unwrap().expect_err("an error reply");
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        // Several requests: one final reply each.
        let mut two = Collect::new(2, true);
        assert!(
            two.take(reply(NetlinkPayload::Error(ErrorMessage::default()), 0))
                .is_none()
        );
        assert!(
            two.take(reply(NetlinkPayload::Error(ErrorMessage::default()), 0))
                .is_some()
        );
    }
}
