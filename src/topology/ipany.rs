//! Serde helpers for the dual-stack keys: values that may be IPv4 or IPv6 (`subnet`, `underlay`)
//! and values that must be IPv6 (`subnet6`, `gateway6`, `address6`, `slices6`).
//!
//! Like `ipv4.rs`, the family is checked while parsing, so a wrong family is reported with the
//! file:line:column of the offending value and later stages never see it.

use indexmap::IndexMap;
use ipnet::{IpNet, Ipv6Net};
use serde::Deserializer;
use serde::de::{self, Error, Visitor};
use std::fmt;
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
    parsed(d, |text| {
        text.parse::<IpNet>().map_err(|_| {
            format!("{text:?} is not an address/prefix (expected e.g. 10.0.0.0/24 or fd00:10::/64)")
        })
    })
}

/// An address block of either family (a policy's `cidr`): `10.0.0.0/8`, or one address
/// (`10.0.0.5`, a /32 or /128). Host bits must be clear: `10.0.0.1/8` is more likely a typo
/// than a wish to match all of 10/8.
fn parse_block(text: &str) -> Result<IpNet, String> {
    let net = match (text.parse::<IpNet>(), text.parse::<IpAddr>()) {
        (Ok(net), _) => net,
        (_, Ok(addr)) => IpNet::from(addr),
        _ => {
            return Err(format!(
                "{text:?} is not an address block (expected e.g. 10.0.0.0/8 or fd00::/8)"
            ));
        }
    };
    if net.trunc() != net {
        return Err(format!(
            "{text} has host bits set; the block is {} (write that)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// An optional address block of either family (use with `#[serde(default)]`).
pub fn opt_net<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpNet>, D::Error> {
    opt_parsed(d, parse_block)
}

/// An optional IPv6 `address/prefix` (use with `#[serde(default)]`).
pub fn opt_net6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv6Net>, D::Error> {
    opt_parsed(d, parse_net6)
}

/// An optional IPv6 address (use with `#[serde(default)]`).
pub fn opt_addr6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv6Addr>, D::Error> {
    opt_parsed(d, parse_addr6)
}

/// A map of name -> IPv6 `address/prefix`, keeping declaration order.
pub fn net6_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, Ipv6Net>, D::Error> {
    map_parsed(d, parse_net6)
}

/// An optional string value checked by `parse` (shared by the family-specific keys here and in
/// `ipv4.rs`).
pub(super) fn opt_parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, D::Error> {
    d.deserialize_option(OptParse(parse))
}

/// A string value checked by `parse`. The check runs inside the parser's own string callback
/// (not after it returned), so an error carries the key's YAML path and the value's
/// line:column, e.g. `containers.web.address`, rather than those of the enclosing map.
pub(super) fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_str(Parse(parse))
}

struct Parse<T>(fn(&str) -> Result<T, String>);

impl<T> Visitor<'_> for Parse<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

struct OptParse<T>(fn(&str) -> Result<T, String>);

impl<'de, T> Visitor<'de> for OptParse<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        parsed(d, self.0).map(Some)
    }
}

/// A map of name -> string value checked by `parse`, keeping declaration order (keys unique);
/// an error names its key.
pub(super) fn map_parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, String>,
) -> Result<IndexMap<String, T>, D::Error> {
    let raw: IndexMap<String, String> = super::unique_keys::unique(d)?;
    raw.into_iter()
        .map(|(key, text)| match parse(&text) {
            Ok(value) => Ok((key, value)),
            Err(message) => Err(D::Error::custom(format!("{key}: {message}"))),
        })
        .collect()
}
