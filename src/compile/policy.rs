//! Network policy (`policies:`) as rules in the owned table `inet netplan-rs`, per host, for the
//! container interfaces of that host (docs/policy.md).
//!
//! Layout, per direction that isolates a local interface (`ingress`: packets forwarded *out*
//! through a container's host-end veth, `oifname`; `egress`: packets coming *in* from it,
//! `iifname`):
//!
//! ```text
//! set members-<P>        { type ifname }     local host ends policy P selects
//! set isolated-ingress   { type ifname }     local host ends any ingress policy selects
//! chain policy-ingress { type filter hook forward priority 0; policy accept;
//!     ct state established,related accept                    "established"
//!     oifname @members-<P> jump ingress-<P>                   "allowed by <P>", per policy
//!     oifname @isolated-ingress drop                          "isolated"
//! }
//! chain ingress-<P> {                                         one per policy, shared by its members
//!     ip saddr @ingress-<P>-<i>-v4 tcp dport 80 accept        per rule, peer kind and port
//! }
//! ```
//!
//! A jumped policy chain only accepts or returns, so a packet is accepted when some policy
//! selecting its interface allows it (Kubernetes' union of policies) and dropped by `isolated`
//! otherwise; ingress and egress are separate base chains, so both must pass. The rule count
//! grows with policies and rules, not with containers: who is selected and who a peer is live in
//! sets (peers resolve to the addresses the file allocates on every host).
//!
//! Order inside a base chain matters only between the accepts/jumps and the final drop. Rules
//! are created in key order, the first kind inserted at the top and the drop appended
//! (`NatRule::at_head`), so a rule re-created alone (a repair) lands on the right side of the
//! drop. The ids are chosen so that a fresh chain reads `established` first (it is created last
//! of the inserted rules: `allowed by ...` sorts before it).

use super::nft;
use crate::state::{
    AddrField, AllowProto, AllowRule, IfaceMatch, NFT_TABLE, NatRule, NftChain, NftHook, NftRule,
    NftSet, NftSetKey, Ns, PeerMatch, SetElement, State,
};
use crate::topology::naming::host_veth_name;
use crate::topology::policy::{Direction, PolicyPort, Protocol, SelectionIndex};
use crate::topology::{Attachment, Topology};
use ipnet::IpNet;
use std::collections::HashMap;

/// nft's `filter` priority.
const FILTER: i32 = 0;

/// What every host's policy rules need from the whole file, resolved once (see
/// `compile::Compiler`): per policy, which attachments it selects and, per rule, the peers'
/// addresses.
pub(crate) struct Resolved {
    policies: Vec<ResolvedPolicy>,
}

struct ResolvedPolicy {
    name: String,
    /// The selected attachments by host (indices into the compiler's attachments): a host's
    /// compile reads its own entry, not the fleet's members (a fleet plan compiles every host).
    members: HashMap<String, Vec<usize>>,
    /// Per direction (ingress, egress): `None` when the policy has no such section.
    rules: [Option<Vec<ResolvedRule>>; 2],
}

struct ResolvedRule {
    /// `None`: any peer.
    peers: Option<Peers>,
    /// `None`: any protocol and port.
    ports: Option<Vec<PolicyPort>>,
}

/// A rule's peers: the addresses its selectors pick (as set elements) and its blocks.
struct Peers {
    v4: Vec<SetElement>,
    v6: Vec<SetElement>,
    blocks: Vec<IpNet>,
}

impl ResolvedPolicy {
    /// The selected attachments on `host`.
    fn on(&self, host: &str) -> &[usize] {
        self.members.get(host).map_or(&[], Vec::as_slice)
    }
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl Resolved {
    pub(crate) fn new(topo: &Topology, all: &[Attachment]) -> Resolved {
        if topo.policies.is_empty() {
            return Resolved {
                policies: Vec::new(),
            };
        }
        let index = SelectionIndex::new(topo, all);
        let policies = topo
            .policies
            .iter()
            .map(|(name, policy)| {
                let mut members: HashMap<String, Vec<usize>> = HashMap::new();
                for i in index.select(policy.selector.as_match()) {
                    members.entry(all[i].host.clone()).or_default().push(i);
                }
                let rules = Direction::BOTH.map(|dir| {
                    policy.rules(dir).map(|rules| {
                        rules
                            .iter()
                            .map(|rule| ResolvedRule {
                                peers: rule.peers.map(|peers| resolve_peers(&index, all, peers)),
                                ports: rule.ports.map(<[PolicyPort]>::to_vec),
                            })
                            .collect()
                    })
                });
                ResolvedPolicy {
                    name: name.clone(),
                    members,
                    rules,
                }
            })
            .collect();
        Resolved { policies }
    }
}

/// A rule's peers, with the selected addresses as set elements in the order `NftSet` keeps
/// (sorted once here rather than in every host's compile).
fn resolve_peers(
    index: &SelectionIndex,
    all: &[Attachment],
    peers: &[crate::topology::policy::Peer],
) -> Peers {
    let mut out = Peers {
        v4: Vec::new(),
        v6: Vec::new(),
        blocks: Vec::new(),
    };
    for peer in peers {
        out.blocks.extend(peer.cidr);
        let Some(m) = peer.as_match() else { continue };
        for a in index.select(m).into_iter().map(|i| &all[i]) {
            out.v4
                .extend(a.ipv4().map(|ip| SetElement::Addr(ip.into())));
            out.v6
                .extend(a.ipv6().map(|ip| SetElement::Addr(ip.into())));
        }
    }
    for list in [&mut out.v4, &mut out.v6] {
        list.sort_unstable();
        list.dedup();
    }
    out
}

fn chain(name: String, hook: Option<NftHook>) -> NftChain {
    NftChain {
        ns: Ns::Host,
        table: NFT_TABLE.to_string(),
        name,
        chain_type: if hook.is_some() { "filter" } else { "" }.to_string(),
        hook,
        priority: if hook.is_some() { FILTER } else { 0 },
        owned: true,
    }
}

fn rule(chain: &str, id: String, rule: NatRule) -> NftRule {
    NftRule {
        ns: Ns::Host,
        table: NFT_TABLE.to_string(),
        chain: chain.to_string(),
        id,
        rule,
        handle: None,
        owned: true,
    }
}

fn set(name: &str, key: NftSetKey, elements: impl IntoIterator<Item = SetElement>) -> NftSet {
    NftSet::new(Ns::Host, NFT_TABLE, name, key, elements)
}

/// The interface a direction's rules look at.
fn iface(dir: Direction) -> IfaceMatch {
    match dir {
        Direction::Ingress => IfaceMatch::Out,
        Direction::Egress => IfaceMatch::In,
    }
}

/// The peer address field of a direction: the source of what enters, the destination of
/// what leaves.
fn field(dir: Direction) -> AddrField {
    match dir {
        Direction::Ingress => AddrField::Source,
        Direction::Egress => AddrField::Destination,
    }
}

/// A protocol (`None`: any) and destination port range (`None`: any) of one allow rule.
type PortMatch = (Option<AllowProto>, Option<(u16, u16)>);

/// One protocol/port entry as the matches it needs for a peer of the given family (`None`:
/// any family, so ICMP means both ICMP and ICMPv6).
fn port_matches(port: &PolicyPort, v6: Option<bool>) -> Vec<PortMatch> {
    let range = port
        .port
        .as_ref()
        .and_then(|p| p.range().ok())
        .map(|r| (r.first, r.last));
    match port.protocol {
        Protocol::Tcp => vec![(Some(AllowProto::Tcp), range)],
        Protocol::Udp => vec![(Some(AllowProto::Udp), range)],
        Protocol::Icmp => match v6 {
            Some(false) => vec![(Some(AllowProto::Icmp), None)],
            Some(true) => vec![(Some(AllowProto::Icmpv6), None)],
            None => vec![
                (Some(AllowProto::Icmp), None),
                (Some(AllowProto::Icmpv6), None),
            ],
        },
    }
}

/// `tcp/80`, `udp/8000-8080`, `icmp`, `ipv6-icmp`, `any` (part of rule ids).
fn port_text(proto: Option<AllowProto>, ports: Option<(u16, u16)>) -> String {
    match (proto, ports) {
        (None, _) => "any".to_string(),
        (Some(p), None) => p.name().to_string(),
        (Some(p), Some((a, b))) if a == b => format!("{}/{a}", p.name()),
        (Some(p), Some((a, b))) => format!("{}/{a}-{b}", p.name()),
    }
}

/// Add the policy objects `host` needs (nothing when no policy selects a local interface).
pub(crate) fn compile(resolved: &Resolved, host: &str, all: &[Attachment], state: &mut State) {
    let mut any = false;
    for dir in Direction::BOTH {
        let d = dir.name();
        let isolating: Vec<&ResolvedPolicy> = resolved
            .policies
            .iter()
            .filter(|p| p.rules[index(dir)].is_some() && !p.on(host).is_empty())
            .collect();
        if isolating.is_empty() {
            continue;
        }
        any = true;
        let base = format!("policy-{d}");
        let isolated = format!("isolated-{d}");
        state.insert(chain(base.clone(), Some(NftHook::Forward)));
        let ifnames = |p: &ResolvedPolicy| -> Vec<SetElement> {
            p.on(host)
                .iter()
                .map(|&i| SetElement::Name(host_veth_name(&all[i].container, &all[i].network)))
                .collect()
        };
        state.insert(set(
            &isolated,
            NftSetKey::Ifname,
            isolating.iter().flat_map(|p| ifnames(p)),
        ));
        state.insert(rule(
            &base,
            "established".into(),
            NatRule::AcceptEstablished,
        ));
        state.insert(rule(
            &base,
            "isolated".into(),
            NatRule::DropIfMember {
                iface: iface(dir),
                set: isolated,
            },
        ));
        for p in isolating {
            let rules = p.rules[index(dir)].as_deref().unwrap_or_default();
            // `ingress: []` isolates and allows nothing: membership of `isolated` is all.
            if rules.is_empty() {
                continue;
            }
            let members = format!("members-{}", p.name);
            let target = format!("{d}-{}", p.name);
            state.insert(set(&members, NftSetKey::Ifname, ifnames(p)));
            state.insert(chain(target.clone(), None));
            state.insert(rule(
                &base,
                format!("allowed by {}", p.name),
                NatRule::JumpIfMember {
                    iface: iface(dir),
                    set: members,
                    chain: target.clone(),
                },
            ));
            for (i, r) in rules.iter().enumerate() {
                allow_rules(dir, &target, i, r, state);
            }
        }
    }
    if any {
        state.insert(nft::table());
    }
}

/// The rules (and peer sets) of rule `i` of a policy chain: one per peer kind (address set of
/// each family, each block, or any peer) and protocol/port entry.
fn allow_rules(dir: Direction, chain: &str, i: usize, r: &ResolvedRule, state: &mut State) {
    let key = dir.peers_key();
    // (peer match, its family, id text)
    let mut peers: Vec<(Option<PeerMatch>, Option<bool>, String)> = Vec::new();
    match &r.peers {
        None => peers.push((None, None, format!("{key} any"))),
        Some(p) => {
            for (v6, elements) in [(false, &p.v4), (true, &p.v6)] {
                if elements.is_empty() {
                    continue;
                }
                let name = format!("{chain}-{i}-v{}", if v6 { 6 } else { 4 });
                let set_key = if v6 {
                    NftSetKey::Ipv6Addr
                } else {
                    NftSetKey::Ipv4Addr
                };
                state.insert(set(&name, set_key, elements.iter().cloned()));
                let peer = PeerMatch {
                    field: field(dir),
                    addrs: crate::state::PeerAddrs::Set {
                        name: name.clone(),
                        v6,
                    },
                };
                peers.push((Some(peer), Some(v6), format!("{key} @{name}")));
            }
            for block in &p.blocks {
                let peer = PeerMatch::prefix(field(dir), *block);
                let v6 = block.addr().is_ipv6();
                peers.push((Some(peer), Some(v6), format!("{key} {block}")));
            }
        }
    }
    for (peer, v6, peer_text) in peers {
        let ports: Vec<PortMatch> = match &r.ports {
            None => vec![(None, None)],
            Some(ports) => ports.iter().flat_map(|p| port_matches(p, v6)).collect(),
        };
        for (proto, range) in ports {
            let id = format!("rule {i} {peer_text} {}", port_text(proto, range));
            let allow = AllowRule {
                peer: peer.clone(),
                proto,
                ports: range,
            };
            state.insert(rule(chain, id, NatRule::Allow(allow)));
        }
    }
}
