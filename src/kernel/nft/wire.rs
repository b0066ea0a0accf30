//! nfnetlink framing: netlink headers, the nfgenmsg header, and netlink attributes (TLVs padded
//! to 4 bytes, nests flagged NLA_F_NESTED). Pure byte manipulation, unit-tested byte for byte.

use std::io;

pub const NLMSG_HDRLEN: usize = 16;
pub const NFGENMSG_LEN: usize = 4;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
/// Batch delimiters (NFNL_MSG_BATCH_BEGIN/END).
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A message under construction: header written up front, length patched by [`Msg::finish`].
pub struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    /// `nlmsghdr` + `nfgenmsg`. `res_id` is big-endian on the wire (the batch messages carry the
    /// subsystem id there).
    pub fn new(msg_type: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.push(family);
        buf.push(0); // NFNETLINK_V0
        buf.extend_from_slice(&res_id.to_be_bytes());
        Msg { buf }
    }

    pub fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        put_attr(&mut self.buf, ty, data);
        self
    }

    pub fn put_str(&mut self, ty: u16, s: &str) -> &mut Self {
        put_attr(&mut self.buf, ty, &cstr(s));
        self
    }

    pub fn put_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    pub fn put_u64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }

    /// A nested attribute whose payload is built by `f` (an attribute list itself).
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        nest(&mut self.buf, ty, f);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// `s` with its NUL terminator, as the kernel's NLA_STRING attributes expect.
pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn put_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

pub fn nest(buf: &mut Vec<u8>, ty: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    f(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// Iterate the attributes of `data` as (type without flags, payload). Stops at the first
/// malformed attribute rather than reading past it.
pub fn attrs(data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let payload = &rest[4..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((ty, payload))
    })
}

/// The payload of the first attribute of type `ty`.
pub fn find(data: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(data).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

pub fn get_str(data: &[u8], ty: u16) -> Option<String> {
    let raw = find(data, ty)?;
    let raw = raw.split(|b| *b == 0).next().unwrap_or(raw);
    Some(String::from_utf8_lossy(raw).into_owned())
}

pub fn get_u32(data: &[u8], ty: u16) -> Option<u32> {
    let raw = find(data, ty)?;
    Some(u32::from_be_bytes(raw.get(..4)?.try_into().ok()?))
}

pub fn get_u64(data: &[u8], ty: u16) -> Option<u64> {
    let raw = find(data, ty)?;
    Some(u64::from_be_bytes(raw.get(..8)?.try_into().ok()?))
}

/// One received netlink message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    /// Everything after the netlink header.
    pub body: &'a [u8],
}

/// Split a receive buffer into messages.
pub fn messages(buf: &[u8]) -> io::Result<Vec<Received<'_>>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            ));
        }
        out.push(Received {
            msg_type: u16::from_ne_bytes([rest[4], rest[5]]),
            flags: u16::from_ne_bytes([rest[6], rest[7]]),
            seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
            body: &rest[NLMSG_HDRLEN..len],
        });
        rest = &rest[align4(len).min(rest.len())..];
    }
    Ok(out)
}

/// The errno of an NLMSG_ERROR body (0 is an acknowledgement).
pub fn error_code(body: &[u8]) -> i32 {
    body.get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_is_padded_to_four_bytes() {
        let mut buf = Vec::new();
        put_attr(&mut buf, 1, &cstr("ab"));
        let len = 7u16.to_ne_bytes();
        let ty = 1u16.to_ne_bytes();
        assert_eq!(buf, vec![len[0], len[1], ty[0], ty[1], b'a', b'b', 0, 0]);
    }

    #[test]
    fn nest_carries_flag_and_total_length() {
        let mut buf = Vec::new();
        nest(&mut buf, 4, |b| put_attr(b, 1, &3u32.to_be_bytes()));
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), 12);
        assert_eq!(u16::from_ne_bytes([buf[2], buf[3]]), 0x8004);
        let inner: Vec<_> = attrs(&buf).collect();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].0, 4, "NLA_F_NESTED is masked off when reading");
        assert_eq!(get_u32(inner[0].1, 1), Some(3));
    }

    #[test]
    fn message_header_and_length() {
        let mut m = Msg::new(0x0a00, NLM_F_REQUEST | NLM_F_ACK, 7, 1, 0);
        m.put_str(1, "netplan-rs");
        let bytes = m.finish();
        assert_eq!(bytes.len(), 16 + 4 + 4 + 12);
        let msgs = messages(&bytes).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].msg_type, 0x0a00);
        assert_eq!(msgs[0].seq, 7);
        assert_eq!(msgs[0].body[0], 1, "nfgenmsg family");
        assert_eq!(
            get_str(&msgs[0].body[NFGENMSG_LEN..], 1).as_deref(),
            Some("netplan-rs")
        );
    }

    #[test]
    fn batch_header_carries_subsystem_big_endian() {
        let bytes = Msg::new(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            1,
            0,
            NFNL_SUBSYS_NFTABLES,
        )
        .finish();
        assert_eq!(&bytes[16..20], &[0, 0, 0, 10]);
    }

    #[test]
    fn malformed_attributes_stop_iteration() {
        let buf = [200u8, 0, 1, 0, 1, 2];
        assert_eq!(attrs(&buf).count(), 0);
        assert!(messages(&[40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
