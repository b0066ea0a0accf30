//! nftables objects in the neutral model: the one table netplan-rs owns (`inet netplan-rs`), its
//! base chains and its rules (egress masquerade, published-port DNAT, isolation of bridge
//! networks from each other).
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
    /// A rule in our table whose expressions are not one of the above (edited by hand); the
    /// text is a low-level rendering of its expressions.
    Unrecognised { exprs: String },
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
