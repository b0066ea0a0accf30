//! Serde helpers for keys that accept only IPv4 (`address`, `gateway`, `slices`, and the `subnet`
//! of host-gw and macvlan).
//!
//! The IPv6 side of dual stack has keys of its own (`address6`, `gateway6`, `slices6`, see
//! `ipany.rs`). Rejecting the wrong family while parsing (rather than in validation) keeps later
//! stages simple, and the parse error still carries the file:line:column of the value.

use indexmap::IndexMap;
use ipnet::{IpNet, Ipv4Net};
use serde::Deserializer;
use std::net::{IpAddr, Ipv4Addr};

const V6_UNSUPPORTED: &str =
    "is IPv6; this key takes IPv4 (its IPv6 twin ends in 6, e.g. address6)";

fn parse_net(text: &str) -> Result<Ipv4Net, String> {
    match text.parse::<IpNet>() {
        Ok(IpNet::V4(net)) => Ok(net),
        Ok(IpNet::V6(_)) => Err(format!("{text} {V6_UNSUPPORTED}")),
        Err(_) => Err(format!(
            "{text:?} is not an IPv4 address/prefix (expected e.g. 10.0.0.0/24)"
        )),
    }
}

fn parse_addr(text: &str) -> Result<Ipv4Addr, String> {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(addr)) => Ok(addr),
        Ok(IpAddr::V6(_)) => Err(format!("{text} {V6_UNSUPPORTED}")),
        Err(_) => Err(format!(
            "{text:?} is not an IPv4 address (expected e.g. 10.0.0.2)"
        )),
    }
}

/// `address/prefix`, IPv4 only. Host bits are kept (an underlay is an address, not a network).
pub fn net<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Net, D::Error> {
    super::ipany::parsed(d, parse_net)
}

/// An optional IPv4 address (the field itself may be absent: use with `#[serde(default)]`).
pub fn opt_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv4Addr>, D::Error> {
    super::ipany::opt_parsed(d, parse_addr)
}

/// A map of name -> IPv4 `address/prefix`, keeping declaration order.
pub fn net_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, Ipv4Net>, D::Error> {
    super::ipany::map_parsed(d, parse_net)
}
