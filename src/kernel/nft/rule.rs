//! [`NatRule`] <-> expression lists. Encoding follows what `nft` itself emits for the same rule
//! (so `nft list` prints it in nft syntax, e.g. a /24 source loads 3 bytes, no bitwise).
//! Decoding reads the parameters back and re-encodes them: a list is recognised only if it is
//! exactly what we would write, so any change made by hand shows up as
//! [`NatRule::Unrecognised`] and compares different.

use super::expr::*;
use crate::state::{L4Proto, NatRule};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Interface names in `meta oifname` comparisons are IFNAMSIZ bytes, NUL padded.
const IFNAMSIZ: usize = 16;

fn nfproto(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        NFPROTO_IPV4
    } else {
        NFPROTO_IPV6
    }
}

fn octets(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Network header offsets of the source and destination address.
fn addr_offsets(ip: &IpAddr) -> (u32, u32) {
    if ip.is_ipv4() { (12, 16) } else { (8, 24) }
}

/// `meta load <key> => reg 1; cmp <op> reg 1 <data>`.
fn meta_match(key: u32, op: u32, data: Vec<u8>, out: &mut Vec<Expr>) {
    out.push(Expr::Meta {
        key,
        dreg: NFT_REG_1,
    });
    out.push(Expr::Cmp {
        sreg: NFT_REG_1,
        op,
        data,
    });
}

fn family_match(ip: &IpAddr, out: &mut Vec<Expr>) {
    meta_match(NFT_META_NFPROTO, NFT_CMP_EQ, vec![nfproto(ip)], out);
}

/// Match the address at `offset` against `net`: whole bytes are compared directly, a partial
/// last byte goes through a mask (as nft does).
fn prefix_match(net: &IpNet, offset: u32, out: &mut Vec<Expr>) {
    let prefix = net.prefix_len() as usize;
    let addr = octets(&net.network());
    let len = prefix.div_ceil(8);
    if len == 0 {
        return;
    }
    out.push(Expr::Payload {
        base: NFT_PAYLOAD_NETWORK_HEADER,
        offset,
        len: len as u32,
        dreg: NFT_REG_1,
    });
    if !prefix.is_multiple_of(8) {
        let mut mask = vec![0xffu8; len];
        mask[len - 1] = 0xffu8 << (8 - prefix % 8);
        out.push(Expr::Bitwise {
            sreg: NFT_REG_1,
            dreg: NFT_REG_1,
            mask,
            xor: vec![0; len],
        });
    }
    out.push(Expr::Cmp {
        sreg: NFT_REG_1,
        op: NFT_CMP_EQ,
        data: addr[..len].to_vec(),
    });
}

/// `meta load <key> => reg 1; cmp <op> reg 1 "<name>"` (name NUL padded to IFNAMSIZ, as nft).
fn ifname_match(key: u32, op: u32, name: &str, out: &mut Vec<Expr>) {
    let mut data = name.as_bytes().to_vec();
    data.resize(IFNAMSIZ, 0);
    meta_match(key, op, data, out);
}

/// The expressions of `rule`. `Unrecognised` rules are never written (they have none).
pub fn encode(rule: &NatRule) -> Vec<Expr> {
    let mut out = Vec::new();
    match rule {
        NatRule::Masquerade { source, not_out } => {
            let ip = source.addr();
            family_match(&ip, &mut out);
            prefix_match(source, addr_offsets(&ip).0, &mut out);
            ifname_match(NFT_META_OIFNAME, NFT_CMP_NEQ, not_out, &mut out);
            out.push(Expr::Masq);
        }
        NatRule::Dnat {
            proto,
            daddr,
            dport,
            to,
            to_port,
        } => {
            family_match(daddr, &mut out);
            let full = IpNet::from(*daddr);
            prefix_match(&full, addr_offsets(daddr).1, &mut out);
            meta_match(NFT_META_L4PROTO, NFT_CMP_EQ, vec![proto.number()], &mut out);
            out.push(Expr::Payload {
                base: NFT_PAYLOAD_TRANSPORT_HEADER,
                offset: 2,
                len: 2,
                dreg: NFT_REG_1,
            });
            out.push(Expr::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_EQ,
                data: dport.to_be_bytes().to_vec(),
            });
            out.push(Expr::Immediate {
                dreg: NFT_REG_1,
                data: octets(to),
            });
            out.push(Expr::Immediate {
                dreg: NFT_REG_2,
                data: to_port.to_be_bytes().to_vec(),
            });
            out.push(Expr::Nat {
                nat_type: NFT_NAT_DNAT,
                family: nfproto(to) as u32,
                reg_addr: Some(NFT_REG_1),
                reg_proto: Some(NFT_REG_2),
            });
        }
        NatRule::DropForward { iif, oif } => {
            ifname_match(NFT_META_IIFNAME, NFT_CMP_EQ, iif, &mut out);
            ifname_match(NFT_META_OIFNAME, NFT_CMP_EQ, oif, &mut out);
            out.push(Expr::Verdict { code: NF_DROP });
        }
        NatRule::Unrecognised { .. } => {}
    }
    out
}

/// What a rule's expressions mean, if they are exactly one of ours.
pub fn decode(exprs: &[Expr]) -> NatRule {
    let candidate = masquerade(exprs)
        .or_else(|| dnat(exprs))
        .or_else(|| drop_forward(exprs));
    match candidate {
        Some(rule) if encode(&rule) == exprs => rule,
        _ => NatRule::Unrecognised {
            exprs: exprs.iter().map(Expr::render).collect::<Vec<_>>().join(" "),
        },
    }
}

fn ip_from(family: u8, bytes: &[u8]) -> Option<IpAddr> {
    match family {
        NFPROTO_IPV4 => {
            let mut b = [0u8; 4];
            b.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        NFPROTO_IPV6 => {
            let mut b = [0u8; 16];
            b.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

fn family(exprs: &[Expr]) -> Option<u8> {
    match exprs.get(1)? {
        Expr::Cmp { data, .. } if data.len() == 1 => Some(data[0]),
        _ => None,
    }
}

fn cmp_data(e: Option<&Expr>) -> Option<&[u8]> {
    match e? {
        Expr::Cmp { data, .. } => Some(data),
        _ => None,
    }
}

fn masquerade(exprs: &[Expr]) -> Option<NatRule> {
    if exprs.last() != Some(&Expr::Masq) {
        return None;
    }
    let fam = family(exprs)?;
    let Expr::Payload { len, .. } = exprs.get(2)? else {
        return None;
    };
    let (prefix, addr_at) = match exprs.get(3)? {
        Expr::Bitwise { mask, .. } => {
            let last = *mask.last()?;
            (8 * (*len as u8 - 1) + last.count_ones() as u8, 4)
        }
        _ => (8 * *len as u8, 3),
    };
    let addr = ip_from(fam, cmp_data(exprs.get(addr_at))?)?;
    let source = IpNet::new(addr, prefix).ok()?;
    let name = cmp_data(exprs.get(addr_at + 2))?;
    let name = name.split(|b| *b == 0).next().unwrap_or(name);
    Some(NatRule::Masquerade {
        source,
        not_out: String::from_utf8(name.to_vec()).ok()?,
    })
}

/// A NUL-padded interface name of a cmp.
fn ifname(e: Option<&Expr>) -> Option<String> {
    let data = cmp_data(e)?;
    let name = data.split(|b| *b == 0).next().unwrap_or(data);
    String::from_utf8(name.to_vec()).ok()
}

fn drop_forward(exprs: &[Expr]) -> Option<NatRule> {
    if exprs.len() != 5 || exprs.last() != Some(&Expr::Verdict { code: NF_DROP }) {
        return None;
    }
    Some(NatRule::DropForward {
        iif: ifname(exprs.get(1))?,
        oif: ifname(exprs.get(3))?,
    })
}

fn dnat(exprs: &[Expr]) -> Option<NatRule> {
    let fam = family(exprs)?;
    let daddr = ip_from(fam, cmp_data(exprs.get(3))?)?;
    let proto = match cmp_data(exprs.get(5))? {
        [6] => L4Proto::Tcp,
        [17] => L4Proto::Udp,
        _ => return None,
    };
    let port = |b: &[u8]| -> Option<u16> { Some(u16::from_be_bytes(b.try_into().ok()?)) };
    let dport = port(cmp_data(exprs.get(7))?)?;
    let (Some(Expr::Immediate { data: to, .. }), Some(Expr::Immediate { data: tp, .. })) =
        (exprs.get(8), exprs.get(9))
    else {
        return None;
    };
    let to_family = if to.len() == 4 {
        NFPROTO_IPV4
    } else {
        NFPROTO_IPV6
    };
    Some(NatRule::Dnat {
        proto,
        daddr,
        dport,
        to: ip_from(to_family, to)?,
        to_port: port(tp)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masq(net: &str) -> NatRule {
        NatRule::Masquerade {
            source: net.parse().unwrap(),
            not_out: "br-local".into(),
        }
    }

    fn dnat_rule() -> NatRule {
        NatRule::Dnat {
            proto: L4Proto::Tcp,
            daddr: "1.2.3.4".parse().unwrap(),
            dport: 8080,
            to: "10.0.0.2".parse().unwrap(),
            to_port: 80,
        }
    }

    fn isolate() -> NatRule {
        NatRule::DropForward {
            iif: "br-a".into(),
            oif: "br-b".into(),
        }
    }

    fn rendered(rule: &NatRule) -> Vec<String> {
        encode(rule).iter().map(Expr::render).collect()
    }

    #[test]
    fn masquerade_matches_what_nft_emits() {
        // `nft --debug=netlink` for: ip saddr 10.0.0.0/24 oifname != "br-local" masquerade
        assert_eq!(
            rendered(&masq("10.0.0.0/24")),
            vec![
                "[ meta load nfproto => reg 1 ]",
                "[ cmp eq reg 1 0x02 ]",
                "[ payload load 3b @ network header + 12 => reg 1 ]",
                "[ cmp eq reg 1 0x0a0000 ]",
                "[ meta load oifname => reg 1 ]",
                "[ cmp neq reg 1 0x62722d6c6f63616c0000000000000000 ]",
                "[ masq ]",
            ]
        );
    }

    #[test]
    fn non_byte_prefix_uses_a_mask() {
        let r = rendered(&masq("10.0.0.0/20"));
        assert_eq!(r[2], "[ payload load 3b @ network header + 12 => reg 1 ]");
        assert_eq!(r[3], "[ bitwise reg 1 = ( reg 1 & 0xfffff0 ) ^ 0x000000 ]");
    }

    #[test]
    fn dnat_matches_what_nft_emits() {
        // nft: ip daddr 1.2.3.4 tcp dport 8080 dnat ip to 10.0.0.2:80
        assert_eq!(
            rendered(&dnat_rule()),
            vec![
                "[ meta load nfproto => reg 1 ]",
                "[ cmp eq reg 1 0x02 ]",
                "[ payload load 4b @ network header + 16 => reg 1 ]",
                "[ cmp eq reg 1 0x01020304 ]",
                "[ meta load l4proto => reg 1 ]",
                "[ cmp eq reg 1 0x06 ]",
                "[ payload load 2b @ transport header + 2 => reg 1 ]",
                "[ cmp eq reg 1 0x1f90 ]",
                "[ immediate reg 1 0x0a000002 ]",
                "[ immediate reg 2 0x0050 ]",
                "[ nat dnat family 2 addr reg 1 proto reg 2 ]",
            ]
        );
    }

    #[test]
    fn decode_inverts_encode() {
        for rule in [
            masq("10.0.0.0/24"),
            masq("10.0.0.0/20"),
            masq("fd00::/64"),
            dnat_rule(),
            isolate(),
        ] {
            assert_eq!(decode(&encode(&rule)), rule);
        }
    }

    #[test]
    fn drop_forward_matches_what_nft_emits() {
        // `nft --debug=netlink add rule inet t forward iifname "br-a" oifname "br-b" drop`
        // prints (cmp data in 32-bit host-order words; these are the same 16 bytes):
        //   [ meta load iifname => reg 1 ]
        //   [ cmp eq reg 1 0x612d7262 0x00000000 0x00000000 0x00000000 ]
        //   [ meta load oifname => reg 1 ]
        //   [ cmp eq reg 1 0x622d7262 0x00000000 0x00000000 0x00000000 ]
        //   [ immediate reg 0 drop ]
        assert_eq!(
            rendered(&isolate()),
            vec![
                "[ meta load iifname => reg 1 ]",
                "[ cmp eq reg 1 0x62722d61000000000000000000000000 ]",
                "[ meta load oifname => reg 1 ]",
                "[ cmp eq reg 1 0x62722d62000000000000000000000000 ]",
                "[ immediate reg 0 drop ]",
            ]
        );
        assert_eq!(
            isolate().to_string(),
            "iifname \"br-a\" oifname \"br-b\" drop"
        );
    }

    #[test]
    fn a_changed_isolation_rule_is_unrecognised() {
        // Verdict changed to accept, a counter added, the names' operator inverted.
        let mut accept = encode(&isolate());
        accept[4] = Expr::Verdict { code: NF_ACCEPT };
        let mut counted = encode(&isolate());
        counted.insert(
            4,
            Expr::Other {
                name: "counter".into(),
            },
        );
        let mut inverted = encode(&isolate());
        if let Expr::Cmp { op, .. } = &mut inverted[1] {
            *op = NFT_CMP_NEQ;
        }
        for exprs in [accept, counted, inverted] {
            assert!(
                matches!(decode(&exprs), NatRule::Unrecognised { .. }),
                "{exprs:?}"
            );
        }
    }

    #[test]
    fn a_changed_expression_is_unrecognised() {
        let mut exprs = encode(&dnat_rule());
        exprs.insert(
            8,
            Expr::Other {
                name: "counter".into(),
            },
        );
        match decode(&exprs) {
            NatRule::Unrecognised { exprs } => assert!(exprs.contains("[ counter ]")),
            other => panic!("expected unrecognised, got {other:?}"),
        }
        let mut exprs = encode(&masq("10.0.0.0/24"));
        exprs[3] = Expr::Cmp {
            sreg: 1,
            op: NFT_CMP_NEQ,
            data: vec![10, 0, 0],
        };
        assert!(matches!(decode(&exprs), NatRule::Unrecognised { .. }));
    }
}
