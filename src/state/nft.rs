//! nftables objects in the neutral model: the one table netplan-rs owns (`inet netplan-rs`), its
//! chains, its named sets and its rules (egress masquerade, published-port DNAT, isolation of
//! bridge networks from each other, network policy).
//!
//! A rule is described by what it does ([`NatRule`]), not by its netlink expressions: compile
//! says what it wants, `kernel::nft` encodes it and decodes what the kernel reports back, so a
//! rule edited by hand compares different. Each rule has a stable identity (`id`, e.g.
//! `dnat tcp 8080 -> 192.168.200.2:80`) that the kernel stores in the rule's userdata.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The name of the table netplan-rs owns in every host namespace that needs NAT (family inet,
/// so one table serves IPv4 and IPv6).
pub const NFT_TABLE: &str = "netplan-rs";

/// An nftables table (family inet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftTable {
    pub ns: super::Ns,
    pub name: String,
    /// Carries netplan-rs's mark in its userdata (comment). Always true in desired state.
    pub owned: bool,
}

/// Netfilter hooks of a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NftHook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl NftHook {
    pub fn name(self) -> &'static str {
        match self {
            NftHook::Prerouting => "prerouting",
            NftHook::Input => "input",
            NftHook::Forward => "forward",
            NftHook::Output => "output",
            NftHook::Postrouting => "postrouting",
        }
    }
}

/// A base chain of an nftables table. `hook: None` is a regular chain (only ever observed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftChain {
    pub ns: super::Ns,
    pub table: String,
    pub name: String,
    /// `nat`, `filter` or `route`; empty for a regular chain.
    pub chain_type: String,
    pub hook: Option<NftHook>,
    pub priority: i32,
    /// Sits in an owned table.
    pub owned: bool,
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L4Proto {
    Tcp,
    Udp,
}

impl L4Proto {
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
        }
    }

    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            L4Proto::Tcp => 6,
            L4Proto::Udp => 17,
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NatRule {
    /// Masquerade traffic from `source` unless it leaves through `not_out` (its own bridge):
    /// docker0's `-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE`.
    Masquerade { source: IpNet, not_out: String },
    /// Rewrite the destination of `proto` traffic to `daddr:dport` to `to:to_port` (`-p`).
    Dnat {
        proto: L4Proto,
        daddr: IpAddr,
        dport: u16,
        to: IpAddr,
        to_port: u16,
    },
    /// Drop traffic forwarded from interface `iif` to interface `oif`: Docker's
    /// DOCKER-ISOLATION chains, `iifname "br-a" oifname "br-b" drop` in a filter forward chain.
    DropForward { iif: String, oif: String },
    /// `ct state established,related accept`: replies (and related ICMP errors) of
    /// connections a policy allowed pass whatever the policies say (policy base chains).
    AcceptEstablished,
    /// `<iface>name @<set> jump <chain>`: traffic through a member interface of `set` is checked
    /// against a policy's allow rules in `chain`.
    JumpIfMember {
        iface: IfaceMatch,
        set: String,
        chain: String,
    },
    /// `<iface>name @<set> drop`: traffic through an isolated interface that no policy accepted.
    DropIfMember { iface: IfaceMatch, set: String },
    /// A policy's allow rule: `[ip saddr @set] [tcp dport 80] accept`.
    Allow(AllowRule),
    /// A rule in our table whose expressions are not one of the above (edited by hand); the
    /// text is a low-level rendering of its expressions.
    Unrecognised { exprs: String },
}

impl NatRule {
    /// Whether the rule is inserted at the top of its chain rather than appended. Policy base
    /// chains hold accepts and jumps (whose order among themselves does not matter: a jumped
    /// chain only accepts or returns) above drops; inserting the first kind at the top and
    /// appending the second keeps that order when one rule is re-created alone (a repair),
    /// without knowing the handles of the others.
    pub fn at_head(&self) -> bool {
        matches!(
            self,
            NatRule::AcceptEstablished | NatRule::JumpIfMember { .. }
        )
    }

    /// The named sets and (regular) chains the rule refers to: they must exist before it.
    pub fn references(&self) -> (Vec<&str>, Vec<&str>) {
        match self {
            NatRule::JumpIfMember { set, chain, .. } => (vec![set], vec![chain]),
            NatRule::DropIfMember { set, .. } => (vec![set], Vec::new()),
            NatRule::Allow(AllowRule {
                peer:
                    Some(PeerMatch {
                        addrs: PeerAddrs::Set { name, .. },
                        ..
                    }),
                ..
            }) => (vec![name], Vec::new()),
            _ => (Vec::new(), Vec::new()),
        }
    }
}

/// Which interface of a packet a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfaceMatch {
    /// `iifname`: the packet came in through it (leaves a container: egress).
    In,
    /// `oifname`: the packet goes out through it (enters a container: ingress).
    Out,
}

impl IfaceMatch {
    pub fn keyword(self) -> &'static str {
        match self {
            IfaceMatch::In => "iifname",
            IfaceMatch::Out => "oifname",
        }
    }
}

/// A policy's allow rule: an optional peer address match, an optional protocol with an
/// optional destination port range, then `accept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowRule {
    pub peer: Option<PeerMatch>,
    pub proto: Option<AllowProto>,
    /// Inclusive destination port range (tcp and udp only).
    pub ports: Option<(u16, u16)>,
}

/// The peer's addresses, as the source (ingress) or destination (egress) of the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerMatch {
    pub field: AddrField,
    pub addrs: PeerAddrs,
}

impl PeerMatch {
    /// An address block as the source or destination. A /0 block matches the family alone
    /// (nothing is loaded from the header), so source and destination are the same rule:
    /// it is always written as the source, to read back the same.
    pub fn prefix(field: AddrField, net: IpNet) -> PeerMatch {
        let field = if net.prefix_len() == 0 {
            AddrField::Source
        } else {
            field
        };
        PeerMatch {
            field,
            addrs: PeerAddrs::Prefix { net },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddrField {
    Source,
    Destination,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerAddrs {
    /// A named set of addresses of one family.
    Set { name: String, v6: bool },
    /// An address block.
    Prefix { net: IpNet },
}

/// The protocol of an allow rule (`meta l4proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowProto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

impl AllowProto {
    /// nft's name of the protocol.
    pub fn name(self) -> &'static str {
        match self {
            AllowProto::Tcp => "tcp",
            AllowProto::Udp => "udp",
            AllowProto::Icmp => "icmp",
            AllowProto::Icmpv6 => "ipv6-icmp",
        }
    }

    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            AllowProto::Tcp => 6,
            AllowProto::Udp => 17,
            AllowProto::Icmp => 1,
            AllowProto::Icmpv6 => 58,
        }
    }

    pub fn from_number(n: u8) -> Option<AllowProto> {
        Some(match n {
            6 => AllowProto::Tcp,
            17 => AllowProto::Udp,
            1 => AllowProto::Icmp,
            58 => AllowProto::Icmpv6,
            _ => return None,
        })
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(peer) = &self.peer {
            let field = match peer.field {
                AddrField::Source => "saddr",
                AddrField::Destination => "daddr",
            };
            match &peer.addrs {
                PeerAddrs::Set { name, v6 } => {
                    let fam = if *v6 { "ip6" } else { "ip" };
                    write!(f, "{fam} {field} @{name} ")?;
                }
                PeerAddrs::Prefix { net } if net.prefix_len() == 0 => {
                    let fam = if net.addr().is_ipv4() { "ipv4" } else { "ipv6" };
                    write!(f, "meta nfproto {fam} ")?;
                }
                PeerAddrs::Prefix { net } => {
                    let fam = if net.addr().is_ipv4() { "ip" } else { "ip6" };
                    write!(f, "{fam} {field} {net} ")?;
                }
            }
        }
        match (self.proto, self.ports) {
            (Some(proto), Some((first, last))) if first == last => {
                write!(f, "{} dport {first} ", proto.name())?
            }
            (Some(proto), Some((first, last))) => {
                write!(f, "{} dport {first}-{last} ", proto.name())?
            }
            (Some(proto), None) => write!(f, "meta l4proto {} ", proto.name())?,
            (None, _) => {}
        }
        f.write_str("accept")
    }
}

/// The key type of a named set (nft's datatype names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NftSetKey {
    Ipv4Addr,
    Ipv6Addr,
    Ifname,
    /// Any other datatype (made by hand): nft's type number and the key length.
    Other {
        datatype: u32,
        len: u32,
    },
}

impl fmt::Display for NftSetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NftSetKey::Ipv4Addr => f.write_str("ipv4_addr"),
            NftSetKey::Ipv6Addr => f.write_str("ipv6_addr"),
            NftSetKey::Ifname => f.write_str("ifname"),
            NftSetKey::Other { datatype, len } => write!(f, "type {datatype} len {len}"),
        }
    }
}

/// One element of a named set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetElement {
    /// An address (`ipv4_addr`, `ipv6_addr` sets).
    Addr(IpAddr),
    /// An interface name (`ifname` sets).
    Name(String),
    /// The key bytes of an element that fits neither (a set made by hand), as hex.
    Raw(String),
}

impl fmt::Display for SetElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetElement::Addr(ip) => ip.fmt(f),
            SetElement::Name(name) => write!(f, "\"{name}\""),
            SetElement::Raw(hex) => write!(f, "0x{hex}"),
        }
    }
}

/// A named set of the owned table: interface names (the members of a policy) or addresses
/// (a rule's peers). Its elements are compared as a whole; a change rewrites them in place.
/// Elements are typed, not text: a policy's peer sets hold addresses from the whole fleet, and
/// formatting and sorting them as strings was most of a compile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftSet {
    pub ns: super::Ns,
    pub table: String,
    pub name: String,
    pub key: NftSetKey,
    /// Sorted, without duplicates (see [`NftSet::new`]).
    pub elements: Vec<SetElement>,
    /// Sits in an owned table.
    pub owned: bool,
}

impl NftSet {
    /// A set with `elements` in the canonical order.
    pub fn new(
        ns: super::Ns,
        table: &str,
        name: &str,
        key: NftSetKey,
        elements: impl IntoIterator<Item = SetElement>,
    ) -> NftSet {
        let mut elements: Vec<SetElement> = elements.into_iter().collect();
        elements.sort_unstable();
        elements.dedup();
        NftSet {
            ns,
            table: table.to_string(),
            name: name.to_string(),
            key,
            elements,
            owned: true,
        }
    }
}

/// nft syntax, e.g. `ip saddr 192.168.200.0/24 oifname != "br-local" masquerade`.
impl fmt::Display for NatRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = |a: &IpAddr| if a.is_ipv4() { "ip" } else { "ip6" };
        match self {
            NatRule::Masquerade { source, not_out } => {
                let fam = ip(&source.addr());
                write!(
                    f,
                    "{fam} saddr {source} oifname != \"{not_out}\" masquerade"
                )
            }
            NatRule::Dnat {
                proto,
                daddr,
                dport,
                to,
                to_port,
            } => {
                let fam = ip(daddr);
                // `192.168.200.2:80`, `[fd00::2]:80`.
                let to = SocketAddr::new(*to, *to_port);
                write!(
                    f,
                    "{fam} daddr {daddr} {} dport {dport} dnat {fam} to {to}",
                    proto.name()
                )
            }
            NatRule::DropForward { iif, oif } => {
                write!(f, "iifname \"{iif}\" oifname \"{oif}\" drop")
            }
            NatRule::AcceptEstablished => f.write_str("ct state established,related accept"),
            NatRule::JumpIfMember { iface, set, chain } => {
                write!(f, "{} @{set} jump {chain}", iface.keyword())
            }
            NatRule::DropIfMember { iface, set } => write!(f, "{} @{set} drop", iface.keyword()),
            NatRule::Allow(allow) => allow.fmt(f),
            NatRule::Unrecognised { exprs } => f.write_str(exprs),
        }
    }
}

/// A rule in a chain of an nftables table, identified by `id` within its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftRule {
    pub ns: super::Ns,
    pub table: String,
    pub chain: String,
    /// Stable identity, stored in the rule's userdata as its comment. Observed rules without
    /// one (made by hand) get `handle <N>`.
    pub id: String,
    pub rule: NatRule,
    /// The kernel's handle (observed only; needed to delete the rule, never compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// Sits in an owned table.
    pub owned: bool,
}
