//! A blocking NETLINK_NETFILTER socket: transactional batches (BATCH_BEGIN ... BATCH_END, every
//! message acknowledged) and dumps. The kernel handles a batch inside `sendmsg`, so its replies
//! are queued by the time `send` returns; reads still wait (bounded by a receive timeout) so a
//! slow reply is never taken for success.

use super::super::sockbuf;
use super::wire::*;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use std::io;
use std::time::Duration;

const RECV_TIMEOUT: Duration = Duration::from_secs(5);

pub struct NftSocket {
    sock: Socket,
    seq: u32,
    /// Buffer sizes known to be set (below them the kernel's defaults suffice).
    sndbuf: usize,
    rcvbuf: usize,
}

/// Why a transaction failed.
#[derive(Debug)]
pub enum TxError {
    /// Nothing was applied: the batch could not be sent, or the kernel refused it as a whole
    /// (an error on the batch delimiters, e.g. EPERM).
    Refused(io::Error),
    /// The batch was sent but its replies could not be read: the outcome is unknown.
    Lost(io::Error),
    /// The kernel rejected these requests (index in the batch, error), in batch order, and
    /// rolled the whole transaction back.
    Rejected(Vec<(usize, io::Error)>),
}

/// What the defaults of `net.core.{w,r}mem_default` comfortably hold.
const DEFAULT_BUFFER: usize = 128 << 10;

/// The index in a batch of `n` requests numbered from `first + 1` of the reply with `seq`
/// (`None`: a delimiter's, or a stale reply to an earlier request).
pub fn reply_index(first: u32, seq: u32, n: usize) -> Option<usize> {
    let i = seq.wrapping_sub(first).wrapping_sub(1) as usize;
    (i < n).then_some(i)
}

impl NftSocket {
    /// Open a socket in the calling thread's network namespace (it stays bound to it).
    pub fn open() -> io::Result<NftSocket> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        sockbuf::set_recv_timeout(&sock, RECV_TIMEOUT)?;
        Ok(NftSocket {
            sock,
            seq: 1,
            sndbuf: DEFAULT_BUFFER,
            rcvbuf: DEFAULT_BUFFER,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Read one datagram (see [`sockbuf::recv_within`]).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        sockbuf::recv_within(&self.sock, buf, RECV_TIMEOUT, "nftables socket")
    }

    /// Send `requests` as one nf_tables transaction (one `sendmsg`): the kernel applies all of
    /// them or, if it rejects any, rolls the whole transaction back. Every request is
    /// acknowledged; on rejection, every rejected request is reported by its index in
    /// `requests` (the kernel goes on checking the rest of a failed batch, so later requests
    /// may fail only because an earlier one did: the first is the cause).
    pub fn transaction(&mut self, requests: &[Vec<u8>]) -> Result<(), TxError> {
        let first = self.seq.wrapping_add(1);
        let (out, _) = frame_batch(requests, first);
        let n = requests.len();
        self.seq = first.wrapping_add(n as u32 + 1);
        let framing = [first, self.seq];
        self.reserve(out.len(), n).map_err(TxError::Refused)?;
        self.sock.send(&out, 0).map_err(TxError::Refused)?;
        // Replies are matched by sequence number: request i carries `first + 1 + i`, so a reply's
        // index is a subtraction and its bookkeeping O(1) (no scan of a pending list).
        let mut answered = vec![false; n];
        let mut remaining = n;
        let mut rejected = Vec::new();
        let mut buf = Vec::with_capacity(1 << 16);
        while remaining > 0 {
            self.recv(&mut buf).map_err(TxError::Lost)?;
            for reply in messages(&buf).map_err(TxError::Lost)? {
                if reply.msg_type != NLMSG_ERROR {
                    continue;
                }
                let code = error_code(reply.body);
                // An error on the batch delimiters (e.g. EPERM) means nothing else is answered.
                if framing.contains(&reply.seq) && code != 0 {
                    return Err(TxError::Refused(io::Error::from_raw_os_error(-code)));
                }
                let Some(i) = reply_index(first, reply.seq, n) else {
                    continue;
                };
                if std::mem::replace(&mut answered[i], true) {
                    continue;
                }
                remaining -= 1;
                if code != 0 {
                    rejected.push((i, io::Error::from_raw_os_error(-code)));
                }
            }
        }
        if rejected.is_empty() {
            return Ok(());
        }
        rejected.sort_by_key(|(i, _)| *i);
        Err(TxError::Rejected(rejected))
    }

    /// Make the socket buffers big enough for a batch of `bytes` bytes and `replies`
    /// acknowledgements. A netlink `sendmsg` larger than the send buffer fails with EMSGSIZE,
    /// and acknowledgements that do not fit the receive buffer are dropped (the socket then
    /// reports ENOBUFS): with the defaults (~200 KiB) a batch of a few hundred rules would fail.
    /// Sized as `nft` does (about 1 KiB of receive buffer per acknowledgement); the FORCE
    /// options (CAP_NET_ADMIN, which writing nftables needs anyway) pass the sysctl maximums.
    fn reserve(&mut self, bytes: usize, replies: usize) -> io::Result<()> {
        let send = bytes + (64 << 10);
        if send > self.sndbuf {
            sockbuf::set_sndbuf(&self.sock, send)?;
            self.sndbuf = send;
        }
        let recv = replies.saturating_mul(1024) + (64 << 10);
        if recv > self.rcvbuf {
            sockbuf::set_rcvbuf(&self.sock, recv)?;
            self.rcvbuf = recv;
        }
        Ok(())
    }

    /// Dump objects: returns the attribute payload (after nfgenmsg) of every reply of type
    /// `reply_type`.
    pub fn dump(&mut self, request: &[u8], reply_type: u16) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let mut request = request.to_vec();
        request[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.sock.send(&request, 0)?;
        let mut out = Vec::new();
        let mut buf = Vec::with_capacity(1 << 16);
        loop {
            self.recv(&mut buf)?;
            for reply in messages(&buf)? {
                if reply.seq != seq {
                    continue;
                }
                match reply.msg_type {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = error_code(reply.body);
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        return Ok(out);
                    }
                    t if t == reply_type => {
                        out.push(reply.body.get(NFGENMSG_LEN..).unwrap_or(&[]).to_vec())
                    }
                    _ => {}
                }
            }
        }
    }
}

/// One transaction on the wire: BATCH_BEGIN (seq `first`), the requests numbered from
/// `first + 1`, BATCH_END. Returns the bytes and the sequence numbers that expect an answer.
pub fn frame_batch(requests: &[Vec<u8>], first: u32) -> (Vec<u8>, Vec<u32>) {
    let mut out = Msg::new(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        first,
        0,
        NFNL_SUBSYS_NFTABLES,
    )
    .finish();
    let mut seqs = Vec::new();
    let mut seq = first;
    for request in requests {
        seq = seq.wrapping_add(1);
        seqs.push(seq);
        let mut m = request.clone();
        if let Some(field) = m.get_mut(8..12) {
            field.copy_from_slice(&seq.to_ne_bytes());
        }
        out.extend(m);
    }
    out.extend(
        Msg::new(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq.wrapping_add(1),
            0,
            NFNL_SUBSYS_NFTABLES,
        )
        .finish(),
    );
    (out, seqs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::nft::msg::{NFT_MSG_DELTABLE, del_table, msg_type};

    #[test]
    fn a_missing_reply_is_a_clear_timeout_not_a_hang() {
        // Nothing was sent, so nothing comes: the read gives up after the receive timeout.
        let sock = NftSocket::open().expect("netlink socket");
        let err = sock.recv(&mut Vec::new()).expect_err("no reply");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "no reply from the kernel within 5s (nftables socket)"
        );
    }

    #[test]
    fn a_batch_is_framed_by_begin_and_end_with_consecutive_sequence_numbers() {
        let (bytes, seqs) = frame_batch(&[del_table("a"), del_table("b")], 10);
        assert_eq!(seqs, vec![11, 12]);
        let msgs = messages(&bytes).unwrap();
        let summary: Vec<(u16, u32)> = msgs.iter().map(|m| (m.msg_type, m.seq)).collect();
        let del = msg_type(NFT_MSG_DELTABLE);
        assert_eq!(
            summary,
            vec![
                (NFNL_MSG_BATCH_BEGIN, 10),
                (del, 11),
                (del, 12),
                (NFNL_MSG_BATCH_END, 13)
            ]
        );
        // The delimiters address the nf_tables subsystem (res_id, big endian) in family unspec.
        assert_eq!(msgs[0].body, &[0, 0, 0, 10]);
        assert_eq!(msgs[3].body, &[0, 0, 0, 10]);
        assert_eq!(msgs[1].flags, NLM_F_REQUEST | NLM_F_ACK);
    }
}
