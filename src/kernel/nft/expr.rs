//! The nftables expressions netplan-rs writes and reads: meta, payload, cmp, bitwise, immediate
//! (values, verdicts and jumps), nat, masq, ct and lookup (what `ip saddr X oifname != Y
//! masquerade`, `ip daddr X tcp dport N dnat to A:P`, `iifname X oifname Y drop`, `ct state
//! established,related accept`, `oifname @set jump chain` and `ip saddr @set tcp dport N
//! accept` compile to). Anything else the kernel reports decodes as [`Expr::Other`], so a rule
//! changed by hand never looks like ours.

use super::wire::{attrs, cstr, find, get_str, get_u32, nest, put_attr};

// Attribute numbers from linux/netfilter/nf_tables.h.
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_VERDICT_CHAIN_ID: u16 = 3;

/// The verdict register (`immediate reg 0 drop`).
pub const NFT_REG_VERDICT: u32 = 0;
pub const NFT_REG_1: u32 = 1;
pub const NFT_REG_2: u32 = 2;
pub const NFT_META_IIFNAME: u32 = 6;
pub const NFT_META_OIFNAME: u32 = 7;
pub const NFT_META_NFPROTO: u32 = 15;
pub const NFT_META_L4PROTO: u32 = 16;
pub const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
pub const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
pub const NFT_CMP_EQ: u32 = 0;
pub const NFT_CMP_NEQ: u32 = 1;
pub const NFT_CMP_LTE: u32 = 3;
pub const NFT_CMP_GTE: u32 = 5;
pub const NFT_CT_STATE: u32 = 0;
/// `NFT_JUMP` verdict code.
pub const NFT_JUMP: i32 = -3;
pub const NFT_NAT_DNAT: u32 = 1;
/// Verdict codes (linux/netfilter.h `NF_DROP`, `NF_ACCEPT`).
pub const NF_DROP: i32 = 0;
pub const NF_ACCEPT: i32 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `meta load <key> => reg`.
    Meta { key: u32, dreg: u32 },
    /// `payload load <len>b @ <base> + <offset> => reg`.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// `cmp <op> reg <data>`.
    Cmp { sreg: u32, op: u32, data: Vec<u8> },
    /// `reg = (reg & mask) ^ xor`.
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// `immediate reg <data>` (values).
    Immediate { dreg: u32, data: Vec<u8> },
    /// `immediate reg 0 <verdict>` without a chain (drop, accept, continue, return); gotos
    /// decode as [`Expr::Other`].
    Verdict { code: i32 },
    /// `immediate reg 0 jump -> <chain>`.
    Jump { chain: String },
    /// `ct load <key> => reg` (original direction not given).
    Ct { key: u32, dreg: u32 },
    /// `lookup reg <sreg> set <name>` (a plain membership test: no map, not inverted).
    Lookup { set: String, sreg: u32 },
    /// `nat <type> <family> addr reg proto reg` (min registers; the kernel fills in max).
    Nat {
        nat_type: u32,
        family: u32,
        reg_addr: Option<u32>,
        reg_proto: Option<u32>,
    },
    /// `masq` without flags or port range.
    Masq,
    /// Anything else, by expression name (with a note when a known expression had unknown
    /// attributes, e.g. a meta *set*).
    Other { name: String },
}

mod attr {
    pub const META_DREG: u16 = 1;
    pub const META_KEY: u16 = 2;
    pub const META_SREG: u16 = 3;
    pub const CMP_SREG: u16 = 1;
    pub const CMP_OP: u16 = 2;
    pub const CMP_DATA: u16 = 3;
    pub const PAYLOAD_DREG: u16 = 1;
    pub const PAYLOAD_BASE: u16 = 2;
    pub const PAYLOAD_OFFSET: u16 = 3;
    pub const PAYLOAD_LEN: u16 = 4;
    pub const PAYLOAD_SREG: u16 = 5;
    pub const BITWISE_SREG: u16 = 1;
    pub const BITWISE_DREG: u16 = 2;
    pub const BITWISE_LEN: u16 = 3;
    pub const BITWISE_MASK: u16 = 4;
    pub const BITWISE_XOR: u16 = 5;
    pub const BITWISE_OP: u16 = 6;
    pub const IMMEDIATE_DREG: u16 = 1;
    pub const IMMEDIATE_DATA: u16 = 2;
    pub const NAT_TYPE: u16 = 1;
    pub const NAT_FAMILY: u16 = 2;
    pub const NAT_REG_ADDR_MIN: u16 = 3;
    pub const NAT_REG_PROTO_MIN: u16 = 5;
    pub const MASQ_FLAGS: u16 = 1;
    pub const MASQ_REG_PROTO_MIN: u16 = 2;
    pub const CT_DREG: u16 = 1;
    pub const CT_KEY: u16 = 2;
    pub const CT_DIRECTION: u16 = 3;
    pub const CT_SREG: u16 = 4;
    pub const LOOKUP_SET: u16 = 1;
    pub const LOOKUP_SREG: u16 = 2;
    pub const LOOKUP_DREG: u16 = 3;
    pub const LOOKUP_FLAGS: u16 = 5;
}

fn put_u32(buf: &mut Vec<u8>, ty: u16, v: u32) {
    put_attr(buf, ty, &v.to_be_bytes());
}

fn put_data(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    nest(buf, ty, |b| put_attr(b, NFTA_DATA_VALUE, data));
}

fn get_data(data: &[u8], ty: u16) -> Option<Vec<u8>> {
    find(find(data, ty)?, NFTA_DATA_VALUE).map(<[u8]>::to_vec)
}

impl Expr {
    fn name(&self) -> &str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Immediate { .. } | Expr::Verdict { .. } | Expr::Jump { .. } => "immediate",
            Expr::Ct { .. } => "ct",
            Expr::Lookup { .. } => "lookup",
            Expr::Nat { .. } => "nat",
            Expr::Masq => "masq",
            Expr::Other { name } => name,
        }
    }

    /// The expression's data attributes.
    fn encode_data(&self, b: &mut Vec<u8>) {
        use attr::*;
        match self {
            Expr::Meta { key, dreg } => {
                put_u32(b, META_DREG, *dreg);
                put_u32(b, META_KEY, *key);
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                put_u32(b, PAYLOAD_DREG, *dreg);
                put_u32(b, PAYLOAD_BASE, *base);
                put_u32(b, PAYLOAD_OFFSET, *offset);
                put_u32(b, PAYLOAD_LEN, *len);
            }
            Expr::Cmp { sreg, op, data } => {
                put_u32(b, CMP_SREG, *sreg);
                put_u32(b, CMP_OP, *op);
                put_data(b, CMP_DATA, data);
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                put_u32(b, BITWISE_SREG, *sreg);
                put_u32(b, BITWISE_DREG, *dreg);
                put_u32(b, BITWISE_LEN, mask.len() as u32);
                put_data(b, BITWISE_MASK, mask);
                put_data(b, BITWISE_XOR, xor);
            }
            Expr::Immediate { dreg, data } => {
                put_u32(b, IMMEDIATE_DREG, *dreg);
                put_data(b, IMMEDIATE_DATA, data);
            }
            Expr::Verdict { code } => {
                put_u32(b, IMMEDIATE_DREG, NFT_REG_VERDICT);
                nest(b, IMMEDIATE_DATA, |b| {
                    nest(b, NFTA_DATA_VERDICT, |b| {
                        put_attr(b, NFTA_VERDICT_CODE, &code.to_be_bytes())
                    })
                });
            }
            Expr::Jump { chain } => {
                put_u32(b, IMMEDIATE_DREG, NFT_REG_VERDICT);
                nest(b, IMMEDIATE_DATA, |b| {
                    nest(b, NFTA_DATA_VERDICT, |b| {
                        put_attr(b, NFTA_VERDICT_CODE, &NFT_JUMP.to_be_bytes());
                        put_attr(b, NFTA_VERDICT_CHAIN, &cstr(chain));
                    })
                });
            }
            Expr::Ct { key, dreg } => {
                put_u32(b, CT_DREG, *dreg);
                put_u32(b, CT_KEY, *key);
            }
            Expr::Lookup { set, sreg } => {
                put_attr(b, LOOKUP_SET, &cstr(set));
                put_u32(b, LOOKUP_SREG, *sreg);
            }
            Expr::Nat {
                nat_type,
                family,
                reg_addr,
                reg_proto,
            } => {
                put_u32(b, NAT_TYPE, *nat_type);
                put_u32(b, NAT_FAMILY, *family);
                if let Some(r) = reg_addr {
                    put_u32(b, NAT_REG_ADDR_MIN, *r);
                }
                if let Some(r) = reg_proto {
                    put_u32(b, NAT_REG_PROTO_MIN, *r);
                }
            }
            Expr::Masq | Expr::Other { .. } => {}
        }
    }

    /// Decode one expression from its name and NFTA_EXPR_DATA payload.
    pub fn decode(name: &str, data: &[u8]) -> Expr {
        use attr::*;
        let other = |note: &str| Expr::Other {
            name: format!("{name}{note}"),
        };
        let u = |ty| get_u32(data, ty);
        let decoded = match name {
            "meta" if find(data, META_SREG).is_none() => u(META_DREG)
                .zip(u(META_KEY))
                .map(|(dreg, key)| Expr::Meta { key, dreg }),
            "payload" if find(data, PAYLOAD_SREG).is_none() => {
                match (
                    u(PAYLOAD_DREG),
                    u(PAYLOAD_BASE),
                    u(PAYLOAD_OFFSET),
                    u(PAYLOAD_LEN),
                ) {
                    (Some(dreg), Some(base), Some(offset), Some(len)) => Some(Expr::Payload {
                        base,
                        offset,
                        len,
                        dreg,
                    }),
                    _ => None,
                }
            }
            "cmp" => match (u(CMP_SREG), u(CMP_OP), get_data(data, CMP_DATA)) {
                (Some(sreg), Some(op), Some(data)) => Some(Expr::Cmp { sreg, op, data }),
                _ => None,
            },
            // Only the mask-and-xor form (op 0, absent on old kernels).
            "bitwise" if u(BITWISE_OP).unwrap_or(0) == 0 => match (
                u(BITWISE_SREG),
                u(BITWISE_DREG),
                get_data(data, BITWISE_MASK),
                get_data(data, BITWISE_XOR),
            ) {
                (Some(sreg), Some(dreg), Some(mask), Some(xor)) => Some(Expr::Bitwise {
                    sreg,
                    dreg,
                    mask,
                    xor,
                }),
                _ => None,
            },
            "immediate" if u(IMMEDIATE_DREG) == Some(NFT_REG_VERDICT) => verdict(data),
            "immediate" => u(IMMEDIATE_DREG)
                .zip(get_data(data, IMMEDIATE_DATA))
                .map(|(dreg, data)| Expr::Immediate { dreg, data }),
            "nat" => u(NAT_TYPE)
                .zip(u(NAT_FAMILY))
                .map(|(nat_type, family)| Expr::Nat {
                    nat_type,
                    family,
                    reg_addr: u(NAT_REG_ADDR_MIN),
                    reg_proto: u(NAT_REG_PROTO_MIN),
                }),
            "masq"
                if find(data, MASQ_REG_PROTO_MIN).is_none() && u(MASQ_FLAGS).unwrap_or(0) == 0 =>
            {
                Some(Expr::Masq)
            }
            "ct" if find(data, CT_SREG).is_none() && find(data, CT_DIRECTION).is_none() => {
                u(CT_DREG)
                    .zip(u(CT_KEY))
                    .map(|(dreg, key)| Expr::Ct { key, dreg })
            }
            // The kernel reports the flags (0); a map (dreg) or an inverted lookup is not ours.
            "lookup" if find(data, LOOKUP_DREG).is_none() && u(LOOKUP_FLAGS).unwrap_or(0) == 0 => {
                get_str(data, LOOKUP_SET)
                    .zip(u(LOOKUP_SREG))
                    .map(|(set, sreg)| Expr::Lookup { set, sreg })
            }
            _ => None,
        };
        match decoded {
            Some(e) => e,
            None if matches!(
                name,
                "meta"
                    | "payload"
                    | "cmp"
                    | "bitwise"
                    | "immediate"
                    | "nat"
                    | "masq"
                    | "ct"
                    | "lookup"
            ) =>
            {
                other(" (other form)")
            }
            None => other(""),
        }
    }

    /// `nft --debug=netlink`-like rendering, e.g. `[ cmp eq reg 1 0x0a000000 ]`.
    pub fn render(&self) -> String {
        let hex = |d: &[u8]| {
            let s: String = d.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{s}")
        };
        let op = |o: u32| match o {
            NFT_CMP_EQ => "eq".to_string(),
            NFT_CMP_NEQ => "neq".to_string(),
            NFT_CMP_LTE => "lte".to_string(),
            NFT_CMP_GTE => "gte".to_string(),
            n => format!("op{n}"),
        };
        match self {
            Expr::Meta { key, dreg } => {
                let key = match *key {
                    NFT_META_IIFNAME => "iifname".to_string(),
                    NFT_META_OIFNAME => "oifname".to_string(),
                    NFT_META_NFPROTO => "nfproto".to_string(),
                    NFT_META_L4PROTO => "l4proto".to_string(),
                    k => format!("key {k}"),
                };
                format!("[ meta load {key} => reg {dreg} ]")
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                let base = match *base {
                    0 => "link",
                    NFT_PAYLOAD_NETWORK_HEADER => "network",
                    NFT_PAYLOAD_TRANSPORT_HEADER => "transport",
                    _ => "inner",
                };
                format!("[ payload load {len}b @ {base} header + {offset} => reg {dreg} ]")
            }
            Expr::Cmp { sreg, op: o, data } => {
                format!("[ cmp {} reg {sreg} {} ]", op(*o), hex(data))
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => format!(
                "[ bitwise reg {dreg} = ( reg {sreg} & {} ) ^ {} ]",
                hex(mask),
                hex(xor)
            ),
            Expr::Immediate { dreg, data } => format!("[ immediate reg {dreg} {} ]", hex(data)),
            Expr::Verdict { code } => {
                let v = match *code {
                    NF_DROP => "drop".to_string(),
                    NF_ACCEPT => "accept".to_string(),
                    -1 => "continue".to_string(),
                    -5 => "return".to_string(),
                    n => format!("verdict {n}"),
                };
                format!("[ immediate reg {NFT_REG_VERDICT} {v} ]")
            }
            Expr::Nat {
                nat_type,
                family,
                reg_addr,
                reg_proto,
            } => {
                let t = if *nat_type == NFT_NAT_DNAT {
                    "dnat"
                } else {
                    "snat"
                };
                let mut s = format!("[ nat {t} family {family}");
                if let Some(r) = reg_addr {
                    s.push_str(&format!(" addr reg {r}"));
                }
                if let Some(r) = reg_proto {
                    s.push_str(&format!(" proto reg {r}"));
                }
                s.push_str(" ]");
                s
            }
            Expr::Masq => "[ masq ]".to_string(),
            Expr::Jump { chain } => format!("[ immediate reg {NFT_REG_VERDICT} jump -> {chain} ]"),
            Expr::Ct { key, dreg } => {
                let key = match *key {
                    NFT_CT_STATE => "state".to_string(),
                    k => format!("key {k}"),
                };
                format!("[ ct load {key} => reg {dreg} ]")
            }
            Expr::Lookup { set, sreg } => format!("[ lookup reg {sreg} set {set} ]"),
            Expr::Other { name } => format!("[ {name} ]"),
        }
    }
}

/// A verdict immediate's data: a bare code, or a jump by chain name (a goto, or a jump by
/// chain id, is not ours).
fn verdict(data: &[u8]) -> Option<Expr> {
    let v = find(find(data, attr::IMMEDIATE_DATA)?, NFTA_DATA_VERDICT)?;
    let code = get_u32(v, NFTA_VERDICT_CODE)? as i32;
    if find(v, NFTA_VERDICT_CHAIN_ID).is_some() {
        return None;
    }
    match (code, get_str(v, NFTA_VERDICT_CHAIN)) {
        (NFT_JUMP, Some(chain)) => Some(Expr::Jump { chain }),
        (_, Some(_)) | (NFT_JUMP, None) => None,
        (code, None) => Some(Expr::Verdict { code }),
    }
}

/// NFTA_RULE_EXPRESSIONS payload: one NFTA_LIST_ELEM per expression.
pub fn encode_list(exprs: &[Expr], buf: &mut Vec<u8>) {
    for e in exprs {
        nest(buf, NFTA_LIST_ELEM, |b| {
            put_attr(b, NFTA_EXPR_NAME, &cstr(e.name()));
            nest(b, NFTA_EXPR_DATA, |b| e.encode_data(b));
        });
    }
}

/// Decode an NFTA_RULE_EXPRESSIONS payload.
pub fn decode_list(data: &[u8]) -> Vec<Expr> {
    attrs(data)
        .filter(|(ty, _)| *ty == NFTA_LIST_ELEM)
        .map(|(_, elem)| {
            let name = get_str(elem, NFTA_EXPR_NAME).unwrap_or_default();
            Expr::decode(&name, find(elem, NFTA_EXPR_DATA).unwrap_or(&[]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_encodes_to_the_kernel_layout() {
        let mut buf = Vec::new();
        encode_list(
            &[Expr::Meta {
                key: NFT_META_NFPROTO,
                dreg: NFT_REG_1,
            }],
            &mut buf,
        );
        let ne = |v: u16| v.to_ne_bytes();
        let mut want = Vec::new();
        want.extend(ne(36)); // list elem: 4 + name 12 + data 20
        want.extend(ne(0x8001));
        want.extend(ne(9)); // "meta\0"
        want.extend(ne(1));
        want.extend(b"meta\0\0\0\0");
        want.extend(ne(20));
        want.extend(ne(0x8002));
        want.extend(ne(8));
        want.extend(ne(1)); // META_DREG
        want.extend(1u32.to_be_bytes());
        want.extend(ne(8));
        want.extend(ne(2)); // META_KEY
        want.extend(15u32.to_be_bytes());
        assert_eq!(buf, want);
    }

    #[test]
    fn every_expression_round_trips() {
        let exprs = vec![
            Expr::Meta {
                key: NFT_META_L4PROTO,
                dreg: 1,
            },
            Expr::Payload {
                base: NFT_PAYLOAD_TRANSPORT_HEADER,
                offset: 2,
                len: 2,
                dreg: 1,
            },
            Expr::Cmp {
                sreg: 1,
                op: NFT_CMP_NEQ,
                data: vec![1, 2, 3],
            },
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                mask: vec![255, 255, 240],
                xor: vec![0, 0, 0],
            },
            Expr::Immediate {
                dreg: 2,
                data: vec![0, 80],
            },
            Expr::Nat {
                nat_type: NFT_NAT_DNAT,
                family: 2,
                reg_addr: Some(1),
                reg_proto: Some(2),
            },
            Expr::Masq,
            Expr::Verdict { code: NF_DROP },
            Expr::Verdict { code: NF_ACCEPT },
            Expr::Jump {
                chain: "ingress-web".into(),
            },
            Expr::Ct {
                key: NFT_CT_STATE,
                dreg: 1,
            },
            Expr::Lookup {
                set: "members-web".into(),
                sreg: 1,
            },
        ];
        let mut buf = Vec::new();
        encode_list(&exprs, &mut buf);
        assert_eq!(decode_list(&buf), exprs);
    }

    #[test]
    fn a_drop_verdict_encodes_to_the_kernel_layout() {
        // nft --debug=netlink: `[ immediate reg 0 drop ]` is NFTA_IMMEDIATE_DREG 0 and
        // NFTA_IMMEDIATE_DATA { NFTA_DATA_VERDICT { NFTA_VERDICT_CODE NF_DROP } }.
        let mut buf = Vec::new();
        encode_list(&[Expr::Verdict { code: NF_DROP }], &mut buf);
        let ne = |v: u16| v.to_ne_bytes();
        let mut want = Vec::new();
        want.extend(ne(48)); // list elem: 4 + name 16 + data 28
        want.extend(ne(0x8001));
        want.extend(ne(14)); // "immediate\0"
        want.extend(ne(1));
        want.extend(b"immediate\0\0\0");
        want.extend(ne(28)); // NFTA_EXPR_DATA
        want.extend(ne(0x8002));
        want.extend(ne(8));
        want.extend(ne(1)); // IMMEDIATE_DREG
        want.extend(0u32.to_be_bytes());
        want.extend(ne(16));
        want.extend(ne(0x8002)); // IMMEDIATE_DATA (nested)
        want.extend(ne(12));
        want.extend(ne(0x8002)); // NFTA_DATA_VERDICT (nested)
        want.extend(ne(8));
        want.extend(ne(1)); // NFTA_VERDICT_CODE
        want.extend(0u32.to_be_bytes());
        assert_eq!(buf, want);
        assert_eq!(decode_list(&buf)[0].render(), "[ immediate reg 0 drop ]");
    }

    #[test]
    fn a_jump_decodes_and_a_goto_is_not_ours() {
        let verdict = |code: i32| {
            let mut buf = Vec::new();
            nest(&mut buf, NFTA_LIST_ELEM, |b| {
                put_attr(b, NFTA_EXPR_NAME, &cstr("immediate"));
                nest(b, NFTA_EXPR_DATA, |b| {
                    put_u32(b, attr::IMMEDIATE_DREG, NFT_REG_VERDICT);
                    nest(b, attr::IMMEDIATE_DATA, |b| {
                        nest(b, NFTA_DATA_VERDICT, |b| {
                            put_attr(b, NFTA_VERDICT_CODE, &code.to_be_bytes());
                            put_attr(b, NFTA_VERDICT_CHAIN, &cstr("elsewhere"));
                        })
                    });
                });
            });
            decode_list(&buf).remove(0)
        };
        assert_eq!(
            verdict(NFT_JUMP),
            Expr::Jump {
                chain: "elsewhere".into()
            }
        );
        assert_eq!(verdict(-4).render(), "[ immediate (other form) ]");
    }

    #[test]
    fn unknown_expressions_and_forms_decode_as_other() {
        let mut buf = Vec::new();
        nest(&mut buf, NFTA_LIST_ELEM, |b| {
            put_attr(b, NFTA_EXPR_NAME, &cstr("counter"));
        });
        nest(&mut buf, NFTA_LIST_ELEM, |b| {
            put_attr(b, NFTA_EXPR_NAME, &cstr("meta"));
            nest(b, NFTA_EXPR_DATA, |b| {
                put_u32(b, attr::META_KEY, 3);
                put_u32(b, attr::META_SREG, 1);
            });
        });
        let decoded = decode_list(&buf);
        assert_eq!(decoded[0].render(), "[ counter ]");
        assert_eq!(decoded[1].render(), "[ meta (other form) ]");
    }

    #[test]
    fn rendering_looks_like_nft_debug() {
        let e = Expr::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset: 12,
            len: 3,
            dreg: 1,
        };
        assert_eq!(
            e.render(),
            "[ payload load 3b @ network header + 12 => reg 1 ]"
        );
        let c = Expr::Cmp {
            sreg: 1,
            op: NFT_CMP_EQ,
            data: vec![192, 168, 200],
        };
        assert_eq!(c.render(), "[ cmp eq reg 1 0xc0a8c8 ]");
    }
}
