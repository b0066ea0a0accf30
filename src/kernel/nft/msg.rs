//! nf_tables messages for tables, chains, sets and rules: building requests (with seq 0; the
//! socket numbers them) and reading dump replies into the neutral model.

use super::expr::{decode_list, encode_list};
use super::rule;
use super::wire::*;
use crate::state::{NftChain, NftHook, NftRule, NftSet, NftSetKey, Ns, SetElement};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const NFPROTO_INET: u8 = 1;
pub const NFT_MSG_NEWTABLE: u16 = 0;
pub const NFT_MSG_GETTABLE: u16 = 1;
pub const NFT_MSG_DELTABLE: u16 = 2;
pub const NFT_MSG_NEWCHAIN: u16 = 3;
pub const NFT_MSG_GETCHAIN: u16 = 4;
pub const NFT_MSG_DELCHAIN: u16 = 5;
pub const NFT_MSG_NEWRULE: u16 = 6;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_DELRULE: u16 = 8;
pub const NFT_MSG_NEWSET: u16 = 9;
pub const NFT_MSG_GETSET: u16 = 10;
pub const NFT_MSG_DELSET: u16 = 11;
pub const NFT_MSG_NEWSETELEM: u16 = 12;
pub const NFT_MSG_GETSETELEM: u16 = 13;
pub const NFT_MSG_DELSETELEM: u16 = 14;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_USERDATA: u16 = 13;
/// NFTNL_UDATA_SET_KEYBYTEORDER, and nft's byte orders (`BYTEORDER_HOST_ENDIAN`,
/// `BYTEORDER_BIG_ENDIAN`): without it `nft list` prints interface names as `""`.
const UDATA_SET_KEYBYTEORDER: u8 = 0;
const BYTEORDER_HOST_ENDIAN: u32 = 1;
const BYTEORDER_BIG_ENDIAN: u32 = 2;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
/// `NFT_SET_ANONYMOUS`: a set nft made for one rule (`{ a, b }`), deleted with the rule.
pub const NFT_SET_ANONYMOUS: u32 = 0x1;
/// nft's datatype numbers (`TYPE_IPADDR`, `TYPE_IP6ADDR`, `TYPE_IFNAME`), stored as the
/// set's key type so that `nft list` prints the elements as addresses and names.
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_IFNAME: u32 = 41;
/// Interface names in sets are IFNAMSIZ bytes, NUL padded.
const IFNAMSIZ: usize = 16;
/// NFTNL_UDATA_{TABLE,RULE}_COMMENT: the userdata TLV `nft` shows as `comment "..."`.
const UDATA_COMMENT: u8 = 0;
const NF_ACCEPT: u32 = 1;

/// The nfnetlink message type of nf_tables message `msg`.
pub fn msg_type(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

fn request(msg: u16, flags: u16) -> Msg {
    Msg::new(msg_type(msg), NLM_F_REQUEST | flags, 0, NFPROTO_INET, 0)
}

/// Userdata holding one comment TLV (type, length including the NUL, text, NUL), as `nft`
/// writes it. Comments longer than the TLV allows are cut (ids are far shorter).
pub fn comment_udata(text: &str) -> Vec<u8> {
    let mut bytes = cstr(text);
    bytes.truncate(254);
    if let Some(last) = bytes.last_mut() {
        *last = 0;
    }
    let mut out = vec![UDATA_COMMENT, bytes.len() as u8];
    out.extend(bytes);
    out
}

/// The comment in a userdata blob, if it has one.
pub fn udata_comment(mut data: &[u8]) -> Option<String> {
    while data.len() >= 2 {
        let (ty, len) = (data[0], data[1] as usize);
        let value = data.get(2..2 + len)?;
        if ty == UDATA_COMMENT {
            let text = value.split(|b| *b == 0).next().unwrap_or(value);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        data = &data[2 + len..];
    }
    None
}

pub fn hook_number(hook: NftHook) -> u32 {
    match hook {
        NftHook::Prerouting => 0,
        NftHook::Input => 1,
        NftHook::Forward => 2,
        NftHook::Output => 3,
        NftHook::Postrouting => 4,
    }
}

fn hook_from(n: u32) -> Option<NftHook> {
    Some(match n {
        0 => NftHook::Prerouting,
        1 => NftHook::Input,
        2 => NftHook::Forward,
        3 => NftHook::Output,
        4 => NftHook::Postrouting,
        _ => return None,
    })
}

pub fn new_table(name: &str, mark: &str) -> Vec<u8> {
    let mut m = request(NFT_MSG_NEWTABLE, NLM_F_ACK | NLM_F_CREATE);
    m.put_str(NFTA_TABLE_NAME, name)
        .put(NFTA_TABLE_USERDATA, &comment_udata(mark));
    m.finish()
}

pub fn del_table(name: &str) -> Vec<u8> {
    let mut m = request(NFT_MSG_DELTABLE, NLM_F_ACK);
    m.put_str(NFTA_TABLE_NAME, name);
    m.finish()
}

pub fn new_chain(c: &NftChain) -> Vec<u8> {
    let mut m = request(NFT_MSG_NEWCHAIN, NLM_F_ACK | NLM_F_CREATE);
    m.put_str(NFTA_CHAIN_TABLE, &c.table)
        .put_str(NFTA_CHAIN_NAME, &c.name);
    if let Some(hook) = c.hook {
        m.nest(NFTA_CHAIN_HOOK, |b| {
            put_attr(b, NFTA_HOOK_HOOKNUM, &hook_number(hook).to_be_bytes());
            put_attr(b, NFTA_HOOK_PRIORITY, &c.priority.to_be_bytes());
        })
        .put_u32(NFTA_CHAIN_POLICY, NF_ACCEPT)
        .put_str(NFTA_CHAIN_TYPE, &c.chain_type);
    }
    m.finish()
}

pub fn del_chain(table: &str, name: &str) -> Vec<u8> {
    let mut m = request(NFT_MSG_DELCHAIN, NLM_F_ACK);
    m.put_str(NFTA_CHAIN_TABLE, table)
        .put_str(NFTA_CHAIN_NAME, name);
    m.finish()
}

/// Appends the rule to its chain, or inserts it at the top (`NatRule::at_head`).
pub fn new_rule(r: &NftRule) -> Vec<u8> {
    let position = if r.rule.at_head() { 0 } else { NLM_F_APPEND };
    let mut m = request(NFT_MSG_NEWRULE, NLM_F_ACK | NLM_F_CREATE | position);
    let exprs = rule::encode(&r.rule);
    m.put_str(NFTA_RULE_TABLE, &r.table)
        .put_str(NFTA_RULE_CHAIN, &r.chain)
        .nest(NFTA_RULE_EXPRESSIONS, |b| encode_list(&exprs, b))
        .put(NFTA_RULE_USERDATA, &comment_udata(&r.id));
    m.finish()
}

/// Delete one rule by handle, or (`handle: None`) flush the whole chain.
pub fn del_rule(table: &str, chain: &str, handle: Option<u64>) -> Vec<u8> {
    let mut m = request(NFT_MSG_DELRULE, NLM_F_ACK);
    m.put_str(NFTA_RULE_TABLE, table)
        .put_str(NFTA_RULE_CHAIN, chain);
    if let Some(h) = handle {
        m.put_u64(NFTA_RULE_HANDLE, h);
    }
    m.finish()
}

/// The key type and length of a set's key.
fn key_type(key: NftSetKey) -> (u32, u32) {
    match key {
        NftSetKey::Ipv4Addr => (TYPE_IPADDR, 4),
        NftSetKey::Ipv6Addr => (TYPE_IP6ADDR, 16),
        NftSetKey::Ifname => (TYPE_IFNAME, IFNAMSIZ as u32),
        NftSetKey::Other { datatype, len } => (datatype, len),
    }
}

fn key_from(datatype: u32, len: u32) -> NftSetKey {
    match (datatype, len) {
        (TYPE_IPADDR, 4) => NftSetKey::Ipv4Addr,
        (TYPE_IP6ADDR, 16) => NftSetKey::Ipv6Addr,
        (TYPE_IFNAME, 16) => NftSetKey::Ifname,
        (datatype, len) => NftSetKey::Other { datatype, len },
    }
}

/// The key bytes of one element, or why it has none.
fn element_bytes(key: NftSetKey, element: &SetElement) -> Result<Vec<u8>, String> {
    match (key, element) {
        (NftSetKey::Ipv4Addr, SetElement::Addr(IpAddr::V4(a))) => Ok(a.octets().to_vec()),
        (NftSetKey::Ipv6Addr, SetElement::Addr(IpAddr::V6(a))) => Ok(a.octets().to_vec()),
        (NftSetKey::Ifname, SetElement::Name(name)) if name.len() < IFNAMSIZ => {
            let mut b = name.as_bytes().to_vec();
            b.resize(IFNAMSIZ, 0);
            Ok(b)
        }
        _ => Err(format!("{element} is not an element of a {key} set")),
    }
}

/// One element from its key bytes (raw for what does not fit the type).
fn element_from(key: NftSetKey, bytes: &[u8]) -> SetElement {
    match key {
        NftSetKey::Ipv4Addr if let Ok(b) = <[u8; 4]>::try_from(bytes) => {
            SetElement::Addr(IpAddr::V4(Ipv4Addr::from(b)))
        }
        NftSetKey::Ipv6Addr if let Ok(b) = <[u8; 16]>::try_from(bytes) => {
            SetElement::Addr(IpAddr::V6(Ipv6Addr::from(b)))
        }
        NftSetKey::Ifname => {
            let name = bytes.split(|b| *b == 0).next().unwrap_or(bytes);
            SetElement::Name(String::from_utf8_lossy(name).into_owned())
        }
        _ => SetElement::Raw(bytes.iter().map(|b| format!("{b:02x}")).collect()),
    }
}

/// The request creating set `s` (empty; its elements come in [`new_elements`]). The kernel
/// requires a transaction-local id (for references by id, which netplan-rs does not make: its
/// rules name the set); a hash of the name keeps the ids of one batch distinct.
pub fn new_set(s: &NftSet) -> Vec<u8> {
    let (datatype, len) = key_type(s.key);
    let id = s.name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let mut m = request(NFT_MSG_NEWSET, NLM_F_ACK | NLM_F_CREATE);
    m.put_str(NFTA_SET_TABLE, &s.table)
        .put_str(NFTA_SET_NAME, &s.name)
        .put_u32(NFTA_SET_FLAGS, 0)
        .put_u32(NFTA_SET_KEY_TYPE, datatype)
        .put_u32(NFTA_SET_KEY_LEN, len)
        .put_u32(NFTA_SET_ID, id);
    let order = match s.key {
        NftSetKey::Ifname => BYTEORDER_HOST_ENDIAN,
        _ => BYTEORDER_BIG_ENDIAN,
    };
    let mut udata = vec![UDATA_SET_KEYBYTEORDER, 4];
    udata.extend(order.to_ne_bytes());
    m.put(NFTA_SET_USERDATA, &udata);
    m.finish()
}

/// The request adding every element of `s` (`None`: it has none). `Err`: an element that
/// does not fit the set's type.
pub fn new_elements(s: &NftSet) -> Result<Option<Vec<u8>>, String> {
    if s.elements.is_empty() {
        return Ok(None);
    }
    let keys = s
        .elements
        .iter()
        .map(|e| element_bytes(s.key, e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut m = request(NFT_MSG_NEWSETELEM, NLM_F_ACK | NLM_F_CREATE);
    m.put_str(NFTA_SET_ELEM_LIST_TABLE, &s.table)
        .put_str(NFTA_SET_ELEM_LIST_SET, &s.name)
        .nest(NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
            for key in &keys {
                nest(b, NFTA_LIST_ELEM, |b| {
                    nest(b, NFTA_SET_ELEM_KEY, |b| put_attr(b, NFTA_DATA_VALUE, key))
                });
            }
        });
    Ok(Some(m.finish()))
}

/// Remove every element of a set (a DELSETELEM without elements, what `nft flush set` sends).
pub fn flush_set(table: &str, name: &str) -> Vec<u8> {
    let mut m = request(NFT_MSG_DELSETELEM, NLM_F_ACK);
    m.put_str(NFTA_SET_ELEM_LIST_TABLE, table)
        .put_str(NFTA_SET_ELEM_LIST_SET, name);
    m.finish()
}

pub fn del_set(table: &str, name: &str) -> Vec<u8> {
    let mut m = request(NFT_MSG_DELSET, NLM_F_ACK);
    m.put_str(NFTA_SET_TABLE, table)
        .put_str(NFTA_SET_NAME, name);
    m.finish()
}

/// A dump request for the elements of one set.
pub fn dump_elements(table: &str, set: &str) -> Vec<u8> {
    let mut m = request(NFT_MSG_GETSETELEM, NLM_F_DUMP);
    m.put_str(NFTA_SET_ELEM_LIST_TABLE, table)
        .put_str(NFTA_SET_ELEM_LIST_SET, set);
    m.finish()
}

/// A dumped set, without its elements; `None` for an anonymous set (part of a rule made by
/// hand, which shows as that rule's difference) or a malformed reply.
pub fn parse_set(ns: &Ns, attrs: &[u8]) -> Option<NftSet> {
    let flags = get_u32(attrs, NFTA_SET_FLAGS).unwrap_or(0);
    if flags & NFT_SET_ANONYMOUS != 0 {
        return None;
    }
    let key = key_from(
        get_u32(attrs, NFTA_SET_KEY_TYPE).unwrap_or(0),
        get_u32(attrs, NFTA_SET_KEY_LEN).unwrap_or(0),
    );
    Some(NftSet {
        ns: ns.clone(),
        table: get_str(attrs, NFTA_SET_TABLE)?,
        name: get_str(attrs, NFTA_SET_NAME)?,
        key,
        elements: Vec::new(),
        owned: true,
    })
}

/// The elements of one dumped NEWSETELEM reply.
pub fn parse_elements(key: NftSetKey, reply: &[u8]) -> Vec<SetElement> {
    let Some(list) = find(reply, NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Vec::new();
    };
    attrs(list)
        .filter(|(ty, _)| *ty == NFTA_LIST_ELEM)
        .filter_map(|(_, elem)| find(find(elem, NFTA_SET_ELEM_KEY)?, NFTA_DATA_VALUE))
        .map(|bytes| element_from(key, bytes))
        .collect()
}

/// A dump request for `msg` (GETTABLE/GETCHAIN/GETRULE/GETSET) in family inet; rule and set
/// dumps are filtered by table in the kernel (NFTA_RULE_TABLE and NFTA_SET_TABLE are both 1).
pub fn dump(msg: u16, table: Option<&str>) -> Vec<u8> {
    let mut m = request(msg, NLM_F_DUMP);
    if let Some(t) = table {
        m.put_str(NFTA_RULE_TABLE, t);
    }
    m.finish()
}

/// A dumped table: (name, comment).
pub fn parse_table(attrs: &[u8]) -> Option<(String, Option<String>)> {
    let name = get_str(attrs, NFTA_TABLE_NAME)?;
    let comment = find(attrs, NFTA_TABLE_USERDATA).and_then(udata_comment);
    Some((name, comment))
}

pub fn parse_chain(ns: &Ns, attrs: &[u8]) -> Option<NftChain> {
    let hook = find(attrs, NFTA_CHAIN_HOOK);
    Some(NftChain {
        ns: ns.clone(),
        table: get_str(attrs, NFTA_CHAIN_TABLE)?,
        name: get_str(attrs, NFTA_CHAIN_NAME)?,
        chain_type: get_str(attrs, NFTA_CHAIN_TYPE).unwrap_or_default(),
        hook: hook
            .and_then(|h| get_u32(h, NFTA_HOOK_HOOKNUM))
            .and_then(hook_from),
        priority: hook
            .and_then(|h| get_u32(h, NFTA_HOOK_PRIORITY))
            .map(|p| p as i32)
            .unwrap_or(0),
        owned: true,
    })
}

/// A dumped rule. Its id is the comment in its userdata, or `handle <N>` when it has none.
pub fn parse_rule(ns: &Ns, attrs: &[u8]) -> Option<NftRule> {
    let handle = get_u64(attrs, NFTA_RULE_HANDLE);
    let exprs = decode_list(find(attrs, NFTA_RULE_EXPRESSIONS).unwrap_or(&[]));
    let id = find(attrs, NFTA_RULE_USERDATA)
        .and_then(udata_comment)
        .unwrap_or_else(|| format!("handle {}", handle.unwrap_or(0)));
    Some(NftRule {
        ns: ns.clone(),
        table: get_str(attrs, NFTA_RULE_TABLE)?,
        chain: get_str(attrs, NFTA_RULE_CHAIN)?,
        id,
        rule: rule::decode(&exprs),
        handle,
        owned: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{L4Proto, NatRule};

    fn body(bytes: &[u8]) -> Vec<u8> {
        messages(bytes).unwrap()[0].body[NFGENMSG_LEN..].to_vec()
    }

    #[test]
    fn comment_udata_is_what_nft_writes() {
        // `nft ... comment "hi"` stores { \x00\x03hi\x00 }.
        assert_eq!(comment_udata("hi"), vec![0, 3, b'h', b'i', 0]);
        assert_eq!(udata_comment(&[0, 3, b'h', b'i', 0]).as_deref(), Some("hi"));
        assert_eq!(
            udata_comment(&[1, 1, 7, 0, 2, b'x', 0]).as_deref(),
            Some("x")
        );
        assert_eq!(udata_comment(&[0, 9, b'x']), None);
    }

    #[test]
    fn table_message_round_trips() {
        let bytes = new_table("netplan-rs", "netplan-rs");
        let msgs = messages(&bytes).unwrap();
        assert_eq!(msgs[0].msg_type, 0x0a00);
        assert_eq!(msgs[0].flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
        assert_eq!(msgs[0].body[0], NFPROTO_INET);
        assert_eq!(
            parse_table(&body(&bytes)),
            Some(("netplan-rs".into(), Some("netplan-rs".into())))
        );
    }

    #[test]
    fn chain_message_round_trips_with_negative_priority() {
        let chain = NftChain {
            ns: Ns::Host,
            table: "netplan-rs".into(),
            name: "prerouting".into(),
            chain_type: "nat".into(),
            hook: Some(NftHook::Prerouting),
            priority: -100,
            owned: true,
        };
        let bytes = new_chain(&chain);
        let b = body(&bytes);
        assert_eq!(get_u32(&b, NFTA_CHAIN_POLICY), Some(NF_ACCEPT));
        assert_eq!(parse_chain(&Ns::Host, &b), Some(chain));
    }

    #[test]
    fn rule_message_round_trips() {
        let rule = NftRule {
            ns: Ns::Host,
            table: "netplan-rs".into(),
            chain: "prerouting".into(),
            id: "dnat tcp 8080 -> 10.0.0.2:80".into(),
            rule: NatRule::Dnat {
                proto: L4Proto::Tcp,
                daddr: "1.2.3.4".parse().unwrap(),
                dport: 8080,
                to: "10.0.0.2".parse().unwrap(),
                to_port: 80,
            },
            handle: None,
            owned: true,
        };
        let bytes = new_rule(&rule);
        assert_eq!(
            messages(&bytes).unwrap()[0].flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND
        );
        let mut b = body(&bytes);
        // The kernel adds the handle in dumps.
        put_attr(&mut b, NFTA_RULE_HANDLE, &5u64.to_be_bytes());
        let parsed = parse_rule(&Ns::Host, &b).unwrap();
        assert_eq!(parsed.handle, Some(5));
        assert_eq!(
            NftRule {
                handle: None,
                ..parsed
            },
            rule
        );
    }

    #[test]
    fn a_rule_without_comment_is_named_by_handle() {
        let mut b = Vec::new();
        put_attr(&mut b, NFTA_RULE_TABLE, &cstr("netplan-rs"));
        put_attr(&mut b, NFTA_RULE_CHAIN, &cstr("output"));
        put_attr(&mut b, NFTA_RULE_HANDLE, &9u64.to_be_bytes());
        let rule = parse_rule(&Ns::Host, &b).unwrap();
        assert_eq!(rule.id, "handle 9");
        assert!(matches!(rule.rule, NatRule::Unrecognised { .. }));
    }

    #[test]
    fn flush_is_a_delrule_without_handle() {
        let b = body(&del_rule("t", "c", None));
        assert_eq!(find(&b, NFTA_RULE_HANDLE), None);
        let b = body(&del_rule("t", "c", Some(3)));
        assert_eq!(get_u64(&b, NFTA_RULE_HANDLE), Some(3));
    }
}
