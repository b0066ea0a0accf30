//! Reading a `networks.<name>` entry: the `driver` key selects the variant.
//!
//! serde's derived internally tagged enums buffer the whole entry and report errors after the
//! parser has left it, so a typo inside a network used to be reported at the path `networks`
//! with no network or key named. Here the entry is read by a visitor of our own: errors are raised
//! while the parser is still on the entry (path `networks.<name>`, its line:column), a bad driver
//! is reported at `networks.<name>.driver`, and a bad value names its key.

use super::model::Network;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_norway::{Mapping, Value};
use std::fmt;

/// The values of `driver`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Driver {
    Vxlan,
    Bridge,
    #[serde(rename = "host-gw")]
    HostGw,
    Macvlan,
    Routed,
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NetworkVisitor)
    }
}

struct NetworkVisitor;

impl<'de> Visitor<'de> for NetworkVisitor {
    type Value = Network;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a network: a map with `driver` (vxlan, bridge, host-gw, macvlan or routed) and its keys",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Network, A::Error> {
        let mut driver = None;
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "driver" {
                if driver.is_some() {
                    return Err(A::Error::duplicate_field("driver"));
                }
                driver = Some(map.next_value::<Driver>()?);
            } else if entries.iter().any(|(k, _)| *k == key) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            } else {
                let UniqueValue(value) = map.next_value()?;
                entries.push((key, value));
            }
        }
        match driver.ok_or_else(|| A::Error::missing_field("driver"))? {
            Driver::Vxlan => variant(&entries).map(Network::Vxlan),
            Driver::Bridge => variant(&entries).map(Network::Bridge),
            Driver::HostGw => variant(&entries).map(Network::HostGw),
            Driver::Macvlan => variant(&entries).map(Network::Macvlan),
            Driver::Routed => variant(&entries).map(Network::Routed),
        }
    }
}

fn mapping(entries: &[(String, Value)]) -> Value {
    Value::Mapping(
        entries
            .iter()
            .map(|(k, v)| (Value::String(k.clone()), v.clone()))
            .collect::<Mapping>(),
    )
}

/// The driver's own keys, read from the buffered entry. An error is prefixed with the key it
/// concerns: the first key whose entries so far already fail for another reason than a missing
/// field (a network has a handful of keys, so retrying prefixes costs nothing).
fn variant<T: DeserializeOwned, E: de::Error>(entries: &[(String, Value)]) -> Result<T, E> {
    let err = match serde_norway::from_value::<T>(mapping(entries)) {
        Ok(network) => return Ok(network),
        Err(err) => err,
    };
    let guilty = (1..=entries.len()).find_map(|n| {
        match serde_norway::from_value::<T>(mapping(&entries[..n])) {
            Err(e) if !e.to_string().starts_with("missing field") => Some(&entries[n - 1].0),
            _ => None,
        }
    });
    match guilty {
        // Unknown-key errors name the key themselves.
        Some(key) if !err.to_string().starts_with("unknown field") => {
            Err(E::custom(format_args!("{key}: {err}")))
        }
        _ => Err(E::custom(err)),
    }
}

/// A YAML value whose maps must have unique keys: `serde_norway::Value` has its own duplicate
/// check with another wording, and the keys of a network's nested maps (`slices`) are checked
/// like every other map of the file (`unique_keys.rs`).
struct UniqueValue(Value);

impl<'de> Deserialize<'de> for UniqueValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueValueVisitor).map(UniqueValue)
    }
}

struct UniqueValueVisitor;

impl<'de> Visitor<'de> for UniqueValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    // YAML integers beyond 64 bits: no key of a network takes one.
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Err(E::custom(format_args!("{v} is out of range")))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Err(E::custom(format_args!("{v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        UniqueValue::deserialize(d).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(UniqueValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Sequence(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Mapping::new();
        while let Some(UniqueValue(key)) = map.next_key()? {
            if out.contains_key(&key) {
                let shown = match &key {
                    Value::String(s) => format!("{s:?}"),
                    other => serde_norway::to_string(other)
                        .map(|s| s.trim_end().to_string())
                        .unwrap_or_default(),
                };
                return Err(A::Error::custom(format_args!("duplicate key {shown}")));
            }
            let UniqueValue(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Mapping(out))
    }
}
