//! What the file's policies allow, for `lab verify`: Kubernetes NetworkPolicy semantics
//! evaluated from the topology itself (not from the rules compile makes, so verify checks
//! compile and the kernel against the file, not against themselves).
//!
//! A probe from sender attachment A (the interface its route leaves through), source address S,
//! to attachment B at address D passes when A is not isolated for egress or a rule of a policy
//! selecting A allows D (and the protocol and port), and B is not isolated for ingress or a rule
//! of a policy selecting B allows S. The reply of an allowed probe always passes (conntrack).
//! Routing is the fabric's business ([`super::reach`]); this only says what policy adds.

use crate::topology::policy::{Direction, PortRange, Protocol, SelectionIndex};
use crate::topology::{Attachment, Topology};
use ipnet::IpNet;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// An echo request (ICMP or ICMPv6, by the address).
    Icmp,
    /// A TCP connection to this port.
    Tcp(u16),
    /// A UDP datagram to this port, answered by an echo.
    Udp(u16),
}

impl Service {
    /// `icmp`, `tcp`, `udp`.
    pub fn protocol(self) -> &'static str {
        match self {
            Service::Icmp => "icmp",
            Service::Tcp(_) => "tcp",
            Service::Udp(_) => "udp",
        }
    }

    pub fn port(self) -> Option<u16> {
        match self {
            Service::Icmp => None,
            Service::Tcp(p) | Service::Udp(p) => Some(p),
        }
    }
}

/// `icmp`, `tcp/80`, `udp/53`.
impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port() {
            Some(p) => write!(f, "{}/{p}", self.protocol()),
            None => f.write_str(self.protocol()),
        }
    }
}

struct Rule {
    /// `None`: any peer. Otherwise the selected addresses and the blocks.
    peers: Option<(HashSet<IpAddr>, Vec<IpNet>)>,
    /// `None`: any protocol and port.
    ports: Option<Vec<(Protocol, Option<PortRange>)>>,
}

impl Rule {
    fn allows(&self, peer: IpAddr, service: Service) -> bool {
        let peer_ok = match &self.peers {
            None => true,
            Some((addrs, blocks)) => {
                addrs.contains(&peer) || blocks.iter().any(|b| b.contains(&peer))
            }
        };
        let port_ok = match &self.ports {
            None => true,
            Some(ports) => ports.iter().any(|(proto, range)| match (service, proto) {
                (Service::Icmp, Protocol::Icmp) => true,
                (Service::Tcp(p), Protocol::Tcp) | (Service::Udp(p), Protocol::Udp) => {
                    range.is_none_or(|r| (r.first..=r.last).contains(&p))
                }
                _ => false,
            }),
        };
        peer_ok && port_ok
    }
}

struct Policy {
    name: String,
    /// Indices of the selected attachments.
    members: HashSet<usize>,
    /// Per direction (ingress, egress); `None`: no such section.
    rules: [Option<Vec<Rule>>; 2],
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// The policies of a file, resolved against its attachments (indices into `attachments(topo)`).
pub struct PolicyModel {
    policies: Vec<Policy>,
}

impl PolicyModel {
    pub fn new(topo: &Topology, all: &[Attachment]) -> PolicyModel {
        let selection = SelectionIndex::new(topo, all);
        let policies = topo
            .policies
            .iter()
            .map(|(name, p)| {
                let rules = Direction::BOTH.map(|dir| {
                    p.rules(dir).map(|rules| {
                        rules
                            .iter()
                            .map(|r| Rule {
                                peers: r.peers.map(|peers| {
                                    let mut addrs = HashSet::new();
                                    let mut blocks = Vec::new();
                                    for peer in peers {
                                        blocks.extend(peer.cidr);
                                        let Some(m) = peer.as_match() else { continue };
                                        for i in selection.select(m) {
                                            addrs.extend(all[i].ipv4().map(IpAddr::V4));
                                            addrs.extend(all[i].ipv6().map(IpAddr::V6));
                                        }
                                    }
                                    (addrs, blocks)
                                }),
                                ports: r.ports.map(|ports| {
                                    ports
                                        .iter()
                                        .map(|p| {
                                            let range =
                                                p.port.as_ref().and_then(|v| v.range().ok());
                                            (p.protocol, range)
                                        })
                                        .collect()
                                }),
                            })
                            .collect()
                    })
                });
                Policy {
                    name: name.clone(),
                    members: selection
                        .select(p.selector.as_match())
                        .into_iter()
                        .collect(),
                    rules,
                }
            })
            .collect();
        PolicyModel { policies }
    }

    /// Whether there are policies at all.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policies selecting attachment `att` with a `dir` section.
    fn isolating(&self, att: usize, dir: Direction) -> impl Iterator<Item = &Policy> {
        self.policies
            .iter()
            .filter(move |p| p.rules[index(dir)].is_some() && p.members.contains(&att))
    }

    /// Whether `dir` traffic of attachment `att` with `peer` is allowed; `Err` says why not.
    fn direction(
        &self,
        att: usize,
        dir: Direction,
        peer: IpAddr,
        service: Service,
    ) -> Result<(), String> {
        let mut names = Vec::new();
        for p in self.isolating(att, dir) {
            let rules = p.rules[index(dir)].as_deref().unwrap_or_default();
            if rules.iter().any(|r| r.allows(peer, service)) {
                return Ok(());
            }
            names.push(p.name.as_str());
        }
        if names.is_empty() {
            return Ok(());
        }
        let (way, with) = match dir {
            Direction::Ingress => ("ingress", "from"),
            Direction::Egress => ("egress", "to"),
        };
        let policies = match names.as_slice() {
            [one] => format!("policy {one}"),
            many => format!("policies {}", many.join(", ")),
        };
        Err(format!(
            "{way} is isolated by {policies}, and no rule allows {service} {with} {peer}"
        ))
    }

    /// Whether policy lets `service` traffic from attachment `from` (the sender's outgoing
    /// interface, if known) with source `src` reach attachment `to` at `dst`; `Err` says which
    /// side denies it.
    pub fn allows(
        &self,
        from: Option<usize>,
        src: IpAddr,
        to: usize,
        dst: IpAddr,
        service: Service,
    ) -> Result<(), String> {
        if let Some(from) = from {
            self.direction(from, Direction::Egress, dst, service)
                .map_err(|why| format!("the sender's {why}"))?;
        }
        self.direction(to, Direction::Ingress, src, service)
            .map_err(|why| format!("the target's {why}"))
    }

    /// The TCP and UDP services worth probing from `from` to `to`: the ports the rules of the
    /// policies selecting either of them name (the first port of a range), in order.
    pub fn services(&self, from: Option<usize>, to: usize) -> Vec<Service> {
        let mut out = BTreeSet::new();
        let sides = from
            .map(|f| (f, Direction::Egress))
            .into_iter()
            .chain([(to, Direction::Ingress)]);
        for (att, dir) in sides {
            for p in self.isolating(att, dir) {
                for rule in p.rules[index(dir)].as_deref().unwrap_or_default() {
                    for (proto, range) in rule.ports.as_deref().unwrap_or_default() {
                        let Some(range) = range else { continue };
                        match proto {
                            Protocol::Tcp => out.insert(Service::Tcp(range.first)),
                            Protocol::Udp => out.insert(Service::Udp(range.first)),
                            Protocol::Icmp => false,
                        };
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}
