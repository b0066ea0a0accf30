//! Serde helpers for the dual-stack keys: values that may be IPv4 or IPv6 (`subnet`, `underlay`)
//! and values that must be IPv6 (`subnet6`, `gateway6`, `address6`, `slices6`).
//!
//! Like `ipv4.rs`, the family is checked while parsing, so a wrong family is reported with the
//! file:line:column of the offending value and later stages never see it.

use indexmap::IndexMap;
use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Deserializer, de::Error};
use std::net::{IpAddr, Ipv6Addr};

fn parse_net6(text: &str) -> Result<Ipv6Net, String> {
    match text.parse::<IpNet>() {
        Ok(IpNet::V6(net)) => Ok(net),
        Ok(IpNet::V4(_)) => Err(format!(
            "{text} is IPv4; this key takes an IPv6 prefix (e.g. fd00:10::/64)"
        )),
        Err(_) => Err(format!(
            "{text:?} is not an IPv6 address/prefix (expected e.g. fd00:10::/64)"
        )),
    }
}

fn parse_addr6(text: &str) -> Result<Ipv6Addr, String> {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V6(addr)) => Ok(addr),
        Ok(IpAddr::V4(_)) => Err(format!(
            "{text} is IPv4; this key takes an IPv6 address (e.g. fd00:10::2)"
        )),
        Err(_) => Err(format!(
            "{text:?} is not an IPv6 address (expected e.g. fd00:10::2)"
        )),
    }
}

/// `address/prefix` of either family. Host bits are kept (an underlay is an address).
pub fn net<'de, D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<IpNet>().map_err(|_| {
        D::Error::custom(format!(
            "{text:?} is not an address/prefix (expected e.g. 10.0.0.0/24 or fd00:10::/64)"
        ))
    })
}

/// An optional IPv6 `address/prefix` (use with `#[serde(default)]`).
pub fn opt_net6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv6Net>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) => parse_net6(&text).map(Some).map_err(D::Error::custom),
        None => Ok(None),
    }
}

/// An optional IPv6 address (use with `#[serde(default)]`).
pub fn opt_addr6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv6Addr>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(text) => parse_addr6(&text).map(Some).map_err(D::Error::custom),
        None => Ok(None),
    }
}

/// A map of name -> IPv6 `address/prefix`, keeping declaration order.
pub fn net6_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, Ipv6Net>, D::Error> {
    let raw: IndexMap<String, String> = super::unique_keys::unique(d)?;
    raw.into_iter()
        .map(|(key, text)| match parse_net6(&text) {
            Ok(net) => Ok((key, net)),
            Err(message) => Err(D::Error::custom(format!("{key}: {message}"))),
        })
        .collect()
}
