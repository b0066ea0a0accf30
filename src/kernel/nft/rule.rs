//! [`NatRule`] <-> expression lists. Encoding follows what `nft` itself emits for the same rule
//! (so `nft list` prints it in nft syntax, e.g. a /24 source loads 3 bytes, no bitwise).
//! Decoding reads the parameters back and re-encodes them: a list is recognised only if it is
//! exactly what we would write, so any change made by hand shows up as
//! [`NatRule::Unrecognised`] and compares different.

use super::expr::*;
use crate::state::{
    AddrField, AllowProto, AllowRule, IfaceMatch, L4Proto, NatRule, PeerAddrs, PeerMatch,
};
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

/// `ct state` bits of established and related connections (`NF_CT_STATE_BIT(IP_CT_ESTABLISHED)
/// | NF_CT_STATE_BIT(IP_CT_RELATED)`); the kernel compares them in host byte order.
const CT_ESTABLISHED_RELATED: u32 = 2 | 4;

fn iface_key(iface: IfaceMatch) -> u32 {
    match iface {
        IfaceMatch::In => NFT_META_IIFNAME,
        IfaceMatch::Out => NFT_META_OIFNAME,
    }
}

/// `<iif|oif>name @set`.
fn member_match(iface: IfaceMatch, set: &str, out: &mut Vec<Expr>) {
    out.push(Expr::Meta {
        key: iface_key(iface),
        dreg: NFT_REG_1,
    });
    out.push(Expr::Lookup {
        set: set.to_string(),
        sreg: NFT_REG_1,
    });
}

fn nfproto_v6(v6: bool) -> u8 {
    if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 }
}

/// The header offset of the peer's address: the source or destination of its family.
fn field_offset(field: AddrField, v6: bool) -> u32 {
    let (src, dst) = if v6 { (8, 24) } else { (12, 16) };
    match field {
        AddrField::Source => src,
        AddrField::Destination => dst,
    }
}

fn encode_allow(a: &AllowRule, out: &mut Vec<Expr>) {
    if let Some(PeerMatch { field, addrs }) = &a.peer {
        match addrs {
            PeerAddrs::Set { name, v6 } => {
                meta_match(NFT_META_NFPROTO, NFT_CMP_EQ, vec![nfproto_v6(*v6)], out);
                out.push(Expr::Payload {
                    base: NFT_PAYLOAD_NETWORK_HEADER,
                    offset: field_offset(*field, *v6),
                    len: if *v6 { 16 } else { 4 },
                    dreg: NFT_REG_1,
                });
                out.push(Expr::Lookup {
                    set: name.clone(),
                    sreg: NFT_REG_1,
                });
            }
            PeerAddrs::Prefix { net } => {
                let ip = net.addr();
                family_match(&ip, out);
                prefix_match(net, field_offset(*field, ip.is_ipv6()), out);
            }
        }
    }
    if let Some(proto) = a.proto {
        meta_match(NFT_META_L4PROTO, NFT_CMP_EQ, vec![proto.number()], out);
    }
    if let Some((first, last)) = a.ports {
        out.push(Expr::Payload {
            base: NFT_PAYLOAD_TRANSPORT_HEADER,
            offset: 2,
            len: 2,
            dreg: NFT_REG_1,
        });
        let cmp = |op, port: u16| Expr::Cmp {
            sreg: NFT_REG_1,
            op,
            data: port.to_be_bytes().to_vec(),
        };
        if first == last {
            out.push(cmp(NFT_CMP_EQ, first));
        } else {
            // What nft emits for `tcp dport 8000-8080`.
            out.push(cmp(NFT_CMP_GTE, first));
            out.push(cmp(NFT_CMP_LTE, last));
        }
    }
    out.push(Expr::Verdict { code: NF_ACCEPT });
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
        // What nft emits for `ct state established,related accept`.
        NatRule::AcceptEstablished => {
            out.push(Expr::Ct {
                key: NFT_CT_STATE,
                dreg: NFT_REG_1,
            });
            out.push(Expr::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                mask: CT_ESTABLISHED_RELATED.to_ne_bytes().to_vec(),
                xor: vec![0; 4],
            });
            out.push(Expr::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_NEQ,
                data: vec![0; 4],
            });
            out.push(Expr::Verdict { code: NF_ACCEPT });
        }
        NatRule::JumpIfMember { iface, set, chain } => {
            member_match(*iface, set, &mut out);
            out.push(Expr::Jump {
                chain: chain.clone(),
            });
        }
        NatRule::DropIfMember { iface, set } => {
            member_match(*iface, set, &mut out);
            out.push(Expr::Verdict { code: NF_DROP });
        }
        NatRule::Allow(a) => encode_allow(a, &mut out),
        NatRule::Unrecognised { .. } => {}
    }
    out
}

/// What a rule's expressions mean, if they are exactly one of ours.
pub fn decode(exprs: &[Expr]) -> NatRule {
    let candidate = masquerade(exprs)
        .or_else(|| dnat(exprs))
        .or_else(|| drop_forward(exprs))
        .or_else(|| established(exprs))
        .or_else(|| member(exprs))
        .or_else(|| allow(exprs));
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

fn established(exprs: &[Expr]) -> Option<NatRule> {
    // The rest is checked by re-encoding.
    matches!(exprs.first(), Some(Expr::Ct { .. })).then_some(NatRule::AcceptEstablished)
}

fn member(exprs: &[Expr]) -> Option<NatRule> {
    let [Expr::Meta { key, .. }, Expr::Lookup { set, .. }, last] = exprs else {
        return None;
    };
    let iface = match *key {
        NFT_META_IIFNAME => IfaceMatch::In,
        NFT_META_OIFNAME => IfaceMatch::Out,
        _ => return None,
    };
    let set = set.clone();
    match last {
        Expr::Jump { chain } => Some(NatRule::JumpIfMember {
            iface,
            set,
            chain: chain.clone(),
        }),
        Expr::Verdict { code: NF_DROP } => Some(NatRule::DropIfMember { iface, set }),
        _ => None,
    }
}

/// The peer match at the start of an allow rule's expressions and where the rest starts.
fn allow_peer(body: &[Expr]) -> Option<(Option<PeerMatch>, usize)> {
    let Some(Expr::Meta {
        key: NFT_META_NFPROTO,
        ..
    }) = body.first()
    else {
        return Some((None, 0));
    };
    let v6 = match cmp_data(body.get(1))? {
        [NFPROTO_IPV4] => false,
        [NFPROTO_IPV6] => true,
        _ => return None,
    };
    let family = if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 };
    let zero = IpNet::new(ip_from(family, &[])?, 0).ok()?;
    // A /0 block loads nothing: the family match alone (its field is moot; see `PeerMatch`).
    let Some(Expr::Payload {
        base: NFT_PAYLOAD_NETWORK_HEADER,
        offset,
        len,
        ..
    }) = body.get(2)
    else {
        return Some((Some(PeerMatch::prefix(AddrField::Source, zero)), 2));
    };
    let field = if *offset == field_offset(AddrField::Source, v6) {
        AddrField::Source
    } else if *offset == field_offset(AddrField::Destination, v6) {
        AddrField::Destination
    } else {
        return None;
    };
    if let Some(Expr::Lookup { set, .. }) = body.get(3) {
        let addrs = PeerAddrs::Set {
            name: set.clone(),
            v6,
        };
        return Some((Some(PeerMatch { field, addrs }), 4));
    }
    let (prefix, addr_at) = match body.get(3)? {
        Expr::Bitwise { mask, .. } => {
            let last = *mask.last()?;
            (
                8 * (*len as u8).checked_sub(1)? + last.count_ones() as u8,
                4,
            )
        }
        _ => (8 * *len as u8, 3),
    };
    let addr = ip_from(family, cmp_data(body.get(addr_at))?)?;
    let net = IpNet::new(addr, prefix).ok()?;
    Some((Some(PeerMatch::prefix(field, net)), addr_at + 1))
}

fn allow(exprs: &[Expr]) -> Option<NatRule> {
    let (Expr::Verdict { code: NF_ACCEPT }, body) = exprs.split_last()? else {
        return None;
    };
    let (peer, mut i) = allow_peer(body)?;
    let mut proto = None;
    if let Some(Expr::Meta {
        key: NFT_META_L4PROTO,
        ..
    }) = body.get(i)
    {
        let [n] = cmp_data(body.get(i + 1))? else {
            return None;
        };
        proto = Some(AllowProto::from_number(*n)?);
        i += 2;
    }
    let mut ports = None;
    if let Some(Expr::Payload {
        base: NFT_PAYLOAD_TRANSPORT_HEADER,
        ..
    }) = body.get(i)
    {
        let port = |e: Option<&Expr>| -> Option<(u32, u16)> {
            match e? {
                Expr::Cmp { op, data, .. } => {
                    Some((*op, u16::from_be_bytes(data.as_slice().try_into().ok()?)))
                }
                _ => None,
            }
        };
        match (port(body.get(i + 1))?, port(body.get(i + 2))) {
            ((NFT_CMP_GTE, first), Some((NFT_CMP_LTE, last))) => {
                ports = Some((first, last));
                i += 3;
            }
            ((_, p), _) => {
                ports = Some((p, p));
                i += 2;
            }
        }
    }
    (i == body.len()).then_some(NatRule::Allow(AllowRule { peer, proto, ports }))
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

    fn allow(
        peer: Option<PeerMatch>,
        proto: Option<AllowProto>,
        ports: Option<(u16, u16)>,
    ) -> NatRule {
        NatRule::Allow(AllowRule { peer, proto, ports })
    }

    fn set_peer(name: &str, v6: bool) -> Option<PeerMatch> {
        Some(PeerMatch {
            field: AddrField::Source,
            addrs: PeerAddrs::Set {
                name: name.into(),
                v6,
            },
        })
    }

    fn policy_rules() -> Vec<NatRule> {
        let net = |s: &str| s.parse().unwrap();
        vec![
            NatRule::AcceptEstablished,
            NatRule::JumpIfMember {
                iface: IfaceMatch::Out,
                set: "members-web".into(),
                chain: "ingress-web".into(),
            },
            NatRule::DropIfMember {
                iface: IfaceMatch::In,
                set: "isolated-egress".into(),
            },
            allow(set_peer("s4", false), Some(AllowProto::Tcp), Some((80, 80))),
            allow(set_peer("s6", true), Some(AllowProto::Udp), None),
            allow(
                Some(PeerMatch::prefix(AddrField::Source, net("fd00::/64"))),
                Some(AllowProto::Udp),
                Some((8000, 8080)),
            ),
            allow(
                Some(PeerMatch::prefix(
                    AddrField::Destination,
                    net("10.0.0.0/20"),
                )),
                None,
                None,
            ),
            allow(
                Some(PeerMatch::prefix(AddrField::Destination, net("0.0.0.0/0"))),
                Some(AllowProto::Icmp),
                None,
            ),
            allow(None, Some(AllowProto::Icmpv6), None),
            allow(None, Some(AllowProto::Tcp), Some((443, 443))),
            allow(None, None, None),
        ]
    }

    #[test]
    fn policy_rules_match_what_nft_emits() {
        // `nft --debug=netlink` for the same rules (cmp/bitwise data in our byte order).
        assert_eq!(
            rendered(&NatRule::AcceptEstablished),
            vec![
                "[ ct load state => reg 1 ]",
                "[ bitwise reg 1 = ( reg 1 & 0x06000000 ) ^ 0x00000000 ]",
                "[ cmp neq reg 1 0x00000000 ]",
                "[ immediate reg 0 accept ]",
            ]
        );
        assert_eq!(
            rendered(&policy_rules()[1]),
            vec![
                "[ meta load oifname => reg 1 ]",
                "[ lookup reg 1 set members-web ]",
                "[ immediate reg 0 jump -> ingress-web ]",
            ]
        );
        // ip saddr @s4 tcp dport 80 accept
        assert_eq!(
            rendered(&policy_rules()[3]),
            vec![
                "[ meta load nfproto => reg 1 ]",
                "[ cmp eq reg 1 0x02 ]",
                "[ payload load 4b @ network header + 12 => reg 1 ]",
                "[ lookup reg 1 set s4 ]",
                "[ meta load l4proto => reg 1 ]",
                "[ cmp eq reg 1 0x06 ]",
                "[ payload load 2b @ transport header + 2 => reg 1 ]",
                "[ cmp eq reg 1 0x0050 ]",
                "[ immediate reg 0 accept ]",
            ]
        );
        // ip6 saddr fd00::/64 udp dport 8000-8080 accept
        assert_eq!(
            rendered(&policy_rules()[5]),
            vec![
                "[ meta load nfproto => reg 1 ]",
                "[ cmp eq reg 1 0x0a ]",
                "[ payload load 8b @ network header + 8 => reg 1 ]",
                "[ cmp eq reg 1 0xfd00000000000000 ]",
                "[ meta load l4proto => reg 1 ]",
                "[ cmp eq reg 1 0x11 ]",
                "[ payload load 2b @ transport header + 2 => reg 1 ]",
                "[ cmp gte reg 1 0x1f40 ]",
                "[ cmp lte reg 1 0x1f90 ]",
                "[ immediate reg 0 accept ]",
            ]
        );
        let text: Vec<String> = policy_rules().iter().map(NatRule::to_string).collect();
        assert_eq!(
            text,
            vec![
                "ct state established,related accept",
                "oifname @members-web jump ingress-web",
                "iifname @isolated-egress drop",
                "ip saddr @s4 tcp dport 80 accept",
                "ip6 saddr @s6 meta l4proto udp accept",
                "ip6 saddr fd00::/64 udp dport 8000-8080 accept",
                "ip daddr 10.0.0.0/20 accept",
                "meta nfproto ipv4 meta l4proto icmp accept",
                "meta l4proto ipv6-icmp accept",
                "tcp dport 443 accept",
                "accept",
            ]
        );
    }

    #[test]
    fn policy_rules_decode_to_themselves() {
        for rule in policy_rules() {
            assert_eq!(decode(&encode(&rule)), rule, "{rule}");
        }
    }

    #[test]
    fn a_changed_policy_rule_is_unrecognised() {
        let rules = policy_rules();
        // Another port, a jump turned into a goto-like other form, an inverted ct match, an
        // accept turned into a drop.
        let mut port = encode(&rules[3]);
        port[7] = Expr::Cmp {
            sreg: 1,
            op: NFT_CMP_EQ,
            data: 81u16.to_be_bytes().to_vec(),
        };
        assert!(matches!(decode(&port), NatRule::Allow(a) if a.ports == Some((81, 81))));
        let mut ct = encode(&rules[0]);
        ct[2] = Expr::Cmp {
            sreg: 1,
            op: NFT_CMP_EQ,
            data: vec![0; 4],
        };
        let mut dropped = encode(&rules[9]);
        *dropped.last_mut().unwrap() = Expr::Verdict { code: NF_DROP };
        let mut counted = encode(&rules[1]);
        counted.insert(
            2,
            Expr::Other {
                name: "counter".into(),
            },
        );
        for exprs in [ct, dropped, counted] {
            assert!(
                matches!(decode(&exprs), NatRule::Unrecognised { .. }),
                "{exprs:?}"
            );
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
