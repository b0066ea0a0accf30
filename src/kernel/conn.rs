//! One rtnetlink connection bound to one network namespace, with the two primitives everything
//! else uses: an acknowledged request with explicit flags, and a dump.
//!
//! We build `NetlinkMessage`s ourselves rather than use rtnetlink's request types because their
//! flags are fixed (e.g. `LinkSetRequest` sends CREATE|EXCL, and deletes must never carry EXCL,
//! which shares its value with NLM_F_BULK on new kernels).

use futures::StreamExt;
use netlink_sys::TokioSocket;
use rtnetlink::Handle;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use std::io;
use std::path::PathBuf;

use super::netns;

pub(crate) struct Conn {
    handle: Handle,
    /// The kernel runs at most one dump per netlink socket and answers a second concurrent one
    /// with EBUSY, so dumps on one connection take turns (other requests don't wait).
    dump_turn: tokio::sync::Mutex<()>,
}

impl Conn {
    /// Open a connection inside the namespace at `ns` (`None`: this process's namespace). The
    /// socket is created on a thread that has joined the namespace; a netlink socket stays bound
    /// to the namespace it was created in, so its connection then runs on any runtime thread.
    /// The thread enters the caller's runtime so the socket registers with its reactor (this is
    /// `new_connection_with_socket`, which reports a missing reactor as an error instead of the
    /// panic `TokioSocket::from_raw_fd` would give).
    pub(crate) async fn open(ns: Option<PathBuf>) -> io::Result<Conn> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let (connection, handle) = netns::run_in_async(ns, move || {
            let _entered = runtime.enter();
            let (connection, handle, _) = rtnetlink::new_connection_with_socket::<TokioSocket>()?;
            Ok((connection, handle))
        })
        .await?;
        tokio::spawn(connection);
        Ok(Conn {
            handle,
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
        self.call(message, NLM_F_DUMP).await
    }

    /// Send one message with REQUEST|`flags` and collect the replies until the final ACK/DONE.
    /// An error reply becomes an `io::Error` carrying the kernel's errno.
    pub(crate) async fn call(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut req = NetlinkMessage::from(message);
        req.header.flags = NLM_F_REQUEST | flags;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(req)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut out = Vec::new();
        while let Some(response) = responses.next().await {
            match response.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(err) if err.code.is_some() => return Err(err.to_io()),
                _ => {}
            }
        }
        Ok(out)
    }
}
