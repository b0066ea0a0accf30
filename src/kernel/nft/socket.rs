//! A blocking NETLINK_NETFILTER socket: transactional batches (BATCH_BEGIN ... BATCH_END, every
//! message acknowledged) and dumps. The kernel handles a batch inside `sendmsg`, so its replies
//! are queued by the time `send` returns; reads still wait (bounded by a receive timeout) so a
//! slow reply is never taken for success.

use super::wire::*;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use std::io;
use std::time::Duration;

const RECV_TIMEOUT: Duration = Duration::from_secs(5);

pub struct NftSocket {
    sock: Socket,
    seq: u32,
}

impl NftSocket {
    /// Open a socket in the calling thread's network namespace (it stays bound to it).
    pub fn open() -> io::Result<NftSocket> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a valid fd and a correctly sized timeval.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NftSocket { sock, seq: 1 })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        self.sock.recv(buf, 0)?;
        Ok(())
    }

    /// Send `requests` as one transaction: all are applied or none. Fails with the first
    /// error the kernel reports.
    pub fn batch(&mut self, requests: &[Vec<u8>]) -> io::Result<()> {
        let first = self.seq.wrapping_add(1);
        let (out, mut pending) = frame_batch(requests, first);
        self.seq = first.wrapping_add(requests.len() as u32 + 1);
        let framing = [first, self.seq];
        self.sock.send(&out, 0)?;
        let mut first_error = None;
        let mut buf = Vec::with_capacity(1 << 16);
        while !pending.is_empty() {
            self.recv(&mut buf)?;
            for reply in messages(&buf)? {
                if reply.msg_type != NLMSG_ERROR {
                    continue;
                }
                let code = error_code(reply.body);
                // An error on the batch delimiters (e.g. EPERM) means nothing else is answered.
                if framing.contains(&reply.seq) && code != 0 {
                    return Err(io::Error::from_raw_os_error(-code));
                }
                if !pending.contains(&reply.seq) {
                    continue;
                }
                pending.retain(|s| *s != reply.seq);
                if code != 0 && first_error.is_none() {
                    first_error = Some(io::Error::from_raw_os_error(-code));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
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
