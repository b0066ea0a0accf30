//! A container's `default_route` key: a network name, or a YAML boolean.
//!
//! `default_route: <network>` picks the network whose gateway carries the container's default
//! route. `default_route: false` asks for no default route at all (neither `0.0.0.0/0` nor
//! `::/0`): pipework's behaviour, for a namespace that already routes elsewhere (a Docker
//! container started without `--net=none` has `eth0` and its own default route). `true` is the
//! explicit spelling of the default (the first network with a gateway). A network literally
//! named `true` or `false` is still reachable by quoting: `default_route: "false"` is a string.

use super::error::Diagnostic;
use super::model::{Container, Topology};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// The value of `containers.<c>.default_route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultRoute {
    /// `default_route: <network>`: via that network's gateway.
    Network(String),
    /// `default_route: true`: the default, the first of the container's networks with a gateway.
    Auto,
    /// `default_route: false`: netplan-rs installs no default route in the container.
    Off,
}

impl DefaultRoute {
    /// The network named, if a network is named.
    pub fn network(&self) -> Option<&str> {
        match self {
            DefaultRoute::Network(name) => Some(name),
            DefaultRoute::Auto | DefaultRoute::Off => None,
        }
    }
}

impl Container {
    /// The network explicitly chosen by `default_route: <network>`, if any.
    pub fn default_route_network(&self) -> Option<&str> {
        self.default_route.as_ref().and_then(DefaultRoute::network)
    }

    /// `default_route: false`: no default route of either family.
    pub fn without_default_route(&self) -> bool {
        self.default_route == Some(DefaultRoute::Off)
    }
}

impl<'de> Deserialize<'de> for DefaultRoute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DefaultRoute;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a network name of this container, or false for no default route")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<DefaultRoute, E> {
                Ok(if v {
                    DefaultRoute::Auto
                } else {
                    DefaultRoute::Off
                })
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DefaultRoute, E> {
                Ok(DefaultRoute::Network(v.to_string()))
            }
        }
        // `deserialize_any`: a plain `false` is a YAML boolean, a quoted `"false"` a string.
        deserializer.deserialize_any(V)
    }
}

impl Serialize for DefaultRoute {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DefaultRoute::Network(name) => serializer.serialize_str(name),
            DefaultRoute::Auto => serializer.serialize_bool(true),
            DefaultRoute::Off => serializer.serialize_bool(false),
        }
    }
}

impl JsonSchema for DefaultRoute {
    fn schema_name() -> Cow<'static, str> {
        "DefaultRoute".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {
                    "type": "string",
                    "description": "One of the container's networks (with a gateway): the default route goes via its gateway (IPv4, and IPv6 if it has an IPv6 gateway). Quote a network named \"true\" or \"false\"."
                },
                {
                    "type": "boolean",
                    "description": "false: netplan-rs installs no default route (neither 0.0.0.0/0 nor ::/0); routed networks still get a route to their whole subnet. true: the default (the first network with a gateway)."
                }
            ]
        })
    }
}

/// Problems of `default_route: false` (naming a network is checked in `validate_host_gw`).
///
/// Published ports need the container to answer clients on other hosts: without a default
/// route, a namespace netplan-rs created has no way back to them. An existing namespace may
/// route replies itself (a Docker container's own default route), so it is allowed there.
pub(super) fn validate(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    for (name, c) in &topo.containers {
        if c.without_default_route() && !c.ports.is_empty() && c.netns.is_none() {
            diags.push(Diagnostic::new(
                format!("containers.{name}.default_route"),
                "false leaves no route back to the clients of the published ports (remove `ports`, or keep a default route)",
            ));
        }
    }
}
