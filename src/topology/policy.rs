//! Network policy in the topology file (`policies:`) and which attachments a selector picks.
//!
//! Semantics are Kubernetes NetworkPolicy's (docs/policy.md): a container interface selected by
//! any policy that has an `ingress` (`egress`) section is isolated in that direction, and then
//! only what some rule of some policy selecting it allows gets through; replies of allowed
//! connections always pass; an interface no policy selects is open.
//!
//! Selection is per *attachment* (a container on one network), not per container: `network: N`
//! picks the container interfaces on N, `containers:` and `labels:` pick every interface of the
//! containers they name, and the keys given together must all match. So a policy for network N
//! isolates N's interfaces of a multi-network container and leaves its others alone. A peer
//! selector resolves to the addresses of the attachments it picks, on every host.

use super::ipam::Attachment;
use super::model::{Network, Topology};
use super::unique_keys::unique;
use indexmap::IndexMap;
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The longest policy name (it is part of nftables chain and set names).
pub const MAX_POLICY_NAME: usize = 32;

/// One policy: the containers it applies to, and what may enter (`ingress`) and leave
/// (`egress`) them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The container interfaces the policy applies to. Only interfaces on `driver: routed`
    /// networks can be selected (the only driver whose traffic always passes the host's forward
    /// path, where the rules are).
    pub selector: Selector,
    /// Present (even empty): the selected interfaces are isolated for incoming traffic, which
    /// passes only if a rule of some policy selecting them allows it. `[]` denies everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<IngressRule>>,
    /// Present (even empty): the selected interfaces are isolated for outgoing traffic, which
    /// passes only if a rule of some policy selecting them allows it. `[]` denies everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
}

/// Which container interfaces: every key given must match (at least one key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// The interfaces on this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Every interface of these containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// Every interface of the containers carrying all these labels.
    #[serde(
        default,
        deserialize_with = "unique",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    pub labels: IndexMap<String, String>,
}

/// One ingress rule: traffic from `from` to `ports` is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// Allowed sources, any of them. Default: every source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<Peer>>,
    /// Allowed protocols and destination ports, any of them. Default: everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PolicyPort>>,
}

/// One egress rule: traffic to `to` and `ports` is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// Allowed destinations, any of them. Default: every destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<Peer>>,
    /// Allowed protocols and destination ports, any of them. Default: everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PolicyPort>>,
}

/// The other end of allowed traffic: containers (the keys of a selector, all of which must
/// match) or an address block (`cidr`), not both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The addresses of the container interfaces on this network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The addresses of these containers (all their interfaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// The addresses of the containers carrying all these labels.
    #[serde(
        default,
        deserialize_with = "unique",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    pub labels: IndexMap<String, String>,
    /// An address block of either family, e.g. `10.0.0.0/8` or `fd00::/8`.
    #[serde(
        default,
        deserialize_with = "super::ipany::opt_net",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub cidr: Option<IpNet>,
}

/// A protocol, and for tcp and udp optionally a destination port or port range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPort {
    /// `tcp`, `udp` or `icmp` (ICMPv6 for IPv6 traffic). Default: tcp.
    #[serde(default)]
    pub protocol: Protocol,
    /// A port (`80`) or an inclusive range (`"8000-8080"`). Default: every port. Not with icmp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortValue>,
}

/// A protocol of a policy port.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Icmp,
}

/// A port as written: a number or `"N-M"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortValue {
    Number(u64),
    Text(String),
}

/// An inclusive range of ports (`first == last` for one port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortValue {
    /// The range written, or why it is not one.
    pub fn range(&self) -> Result<PortRange, String> {
        let port = |n: u64| -> Result<u16, String> {
            match u16::try_from(n) {
                Ok(p) if p >= 1 => Ok(p),
                _ => Err(format!("port {n} is not in 1..65535")),
            }
        };
        let parse = |t: &str| -> Result<u16, String> {
            let n = t.trim().parse::<u64>().map_err(|_| {
                format!(
                    "{:?} is not a port or a range like \"8000-8080\"",
                    self.text()
                )
            })?;
            port(n)
        };
        match self {
            PortValue::Number(n) => port(*n).map(|p| PortRange { first: p, last: p }),
            PortValue::Text(t) => {
                let (first, last) = match t.split_once('-') {
                    Some((a, b)) => (parse(a)?, parse(b)?),
                    None => {
                        let p = parse(t)?;
                        (p, p)
                    }
                };
                if first > last {
                    return Err(format!(
                        "range {t:?} is empty: {first} is above {last} (write it low-high)"
                    ));
                }
                Ok(PortRange { first, last })
            }
        }
    }

    fn text(&self) -> String {
        match self {
            PortValue::Number(n) => n.to_string(),
            PortValue::Text(t) => t.clone(),
        }
    }
}

/// Traffic into (`Ingress`) or out of (`Egress`) the selected interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    /// The key of the section (`ingress`, `egress`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// The key of a rule's peers (`from`, `to`).
    pub fn peers_key(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

/// One rule of either direction, as compile and validation read it.
#[derive(Debug, Clone, Copy)]
pub struct RuleRef<'a> {
    /// `None`: any peer.
    pub peers: Option<&'a [Peer]>,
    /// `None`: any protocol and port.
    pub ports: Option<&'a [PolicyPort]>,
}

impl Policy {
    /// The rules of `dir`; `None` when the policy has no such section (does not isolate).
    pub fn rules(&self, dir: Direction) -> Option<Vec<RuleRef<'_>>> {
        match dir {
            Direction::Ingress => self.ingress.as_ref().map(|rules| {
                rules
                    .iter()
                    .map(|r| RuleRef {
                        peers: r.from.as_deref(),
                        ports: r.ports.as_deref(),
                    })
                    .collect()
            }),
            Direction::Egress => self.egress.as_ref().map(|rules| {
                rules
                    .iter()
                    .map(|r| RuleRef {
                        peers: r.to.as_deref(),
                        ports: r.ports.as_deref(),
                    })
                    .collect()
            }),
        }
    }
}

/// The selecting keys of a policy selector or a peer, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    pub network: Option<&'a str>,
    pub containers: &'a [String],
    pub labels: &'a IndexMap<String, String>,
}

impl Selector {
    pub fn as_match(&self) -> Match<'_> {
        Match {
            network: self.network.as_deref(),
            containers: &self.containers,
            labels: &self.labels,
        }
    }
}

impl Peer {
    /// The peer's selector keys, if it names containers rather than (or as well as) a `cidr`.
    pub fn as_match(&self) -> Option<Match<'_>> {
        let m = Match {
            network: self.network.as_deref(),
            containers: &self.containers,
            labels: &self.labels,
        };
        (!m.is_empty()).then_some(m)
    }
}

impl Match<'_> {
    /// No key given.
    pub fn is_empty(&self) -> bool {
        self.network.is_none() && self.containers.is_empty() && self.labels.is_empty()
    }

    /// Whether attachment `att` is selected: every key given matches.
    pub fn selects(&self, topo: &Topology, att: &Attachment) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.network.is_some_and(|n| n != att.network) {
            return false;
        }
        if !self.containers.is_empty() && !self.containers.contains(&att.container) {
            return false;
        }
        if self.labels.is_empty() {
            return true;
        }
        let Some(c) = topo.containers.get(&att.container) else {
            return false;
        };
        self.labels
            .iter()
            .all(|(k, v)| c.labels.get(k).is_some_and(|have| have == v))
    }
}

/// Whether a network's container traffic always passes the host's forward path, where policy
/// rules sit. Bridged traffic between two containers of one bridge (bridge, both VXLAN modes,
/// host-gw) never reaches the inet forward hook (that would need br_netfilter, a global switch
/// of the host), and macvlan traffic never enters the host's stack at all: a policy there would
/// be enforced for some pairs and silently not for others, so validation refuses it.
pub fn enforced(net: &Network) -> bool {
    match net {
        Network::Routed(_) => true,
        Network::Bridge(_) | Network::Vxlan(_) | Network::HostGw(_) | Network::Macvlan(_) => false,
    }
}

/// The network's driver as written in the file, for messages.
pub fn driver_name(net: &Network) -> &'static str {
    match net {
        Network::Bridge(_) => "bridge",
        Network::Vxlan(v) if v.mode == super::VxlanMode::Bridged => "vxlan (bridged)",
        Network::Vxlan(_) => "vxlan (routed)",
        Network::HostGw(_) => "host-gw",
        Network::Macvlan(_) => "macvlan",
        Network::Routed(_) => "routed",
    }
}

/// The attachments of a file indexed by network, container and label, so that a selector is
/// resolved from the smallest list its keys name instead of by a pass over every attachment
/// (50 policies with peers over a 5000-container fleet made that pass the bulk of a compile).
pub struct SelectionIndex<'a> {
    topo: &'a Topology,
    all: &'a [Attachment],
    by_network: HashMap<&'a str, Vec<usize>>,
    by_container: HashMap<&'a str, Vec<usize>>,
    by_label: HashMap<(&'a str, &'a str), Vec<usize>>,
}

impl<'a> SelectionIndex<'a> {
    pub fn new(topo: &'a Topology, all: &'a [Attachment]) -> Self {
        let mut index = SelectionIndex {
            topo,
            all,
            by_network: HashMap::new(),
            by_container: HashMap::new(),
            by_label: HashMap::new(),
        };
        for (i, a) in all.iter().enumerate() {
            index.by_network.entry(&a.network).or_default().push(i);
            index.by_container.entry(&a.container).or_default().push(i);
            if let Some(c) = topo.containers.get(&a.container) {
                for (k, v) in &c.labels {
                    index.by_label.entry((k, v)).or_default().push(i);
                }
            }
        }
        index
    }

    /// The indices (into the attachments, ascending) of what `m` selects.
    pub fn select(&self, m: Match<'_>) -> Vec<usize> {
        let none: &[usize] = &[];
        let mut candidates: Vec<&[usize]> = Vec::new();
        if let Some(n) = m.network {
            candidates.push(self.by_network.get(n).map_or(none, Vec::as_slice));
        }
        if !m.containers.is_empty() {
            // Several containers: their lists together (each list is short).
            let mut list: Vec<usize> = m
                .containers
                .iter()
                .flat_map(|c| self.by_container.get(c.as_str()).into_iter().flatten())
                .copied()
                .collect();
            list.sort_unstable();
            list.dedup();
            return self.narrow(m, &list);
        }
        for (k, v) in m.labels {
            candidates.push(
                self.by_label
                    .get(&(k.as_str(), v.as_str()))
                    .map_or(none, Vec::as_slice),
            );
        }
        let Some(smallest) = candidates.iter().min_by_key(|c| c.len()).copied() else {
            return Vec::new();
        };
        self.narrow(m, smallest)
    }

    /// The members of `list` that `m` selects (the full check on a short list).
    fn narrow(&self, m: Match<'_>, list: &[usize]) -> Vec<usize> {
        list.iter()
            .copied()
            .filter(|&i| m.selects(self.topo, &self.all[i]))
            .collect()
    }
}
