//! What `lab verify` expects: a tiny, pure routing model of the whole fleet, built from the
//! desired [`State`] of every host (`compile(topo, host)`), that says whether a packet from one
//! container reaches an address and whether the reply comes back.
//!
//! The model knows link kinds and routing, never topology drivers, so a new driver fits as long
//! as its state is made of the same objects:
//!
//! - **Nodes** are namespaces: each host's own namespace and each container's. A node holds
//!   addresses (on links), routes, and forwards packets only when its state sets the forwarding
//!   sysctl (`net.ipv4.ip_forward` / `net.ipv4.conf.all.forwarding`, `net.ipv6.conf.all.forwarding`).
//! - **L2 segments** join link ends: a veth end and its peer; a bridge port and its master; a
//!   VXLAN device and each remote VXLAN device (same VNI and port) its FDB entries point at (by
//!   the remote host's underlay address); every host's underlay interface (with the host's
//!   `underlay` address from the topology) and the lab switch; a macvlan child and its parent
//!   (but a child never talks to its parent, and to a sibling only in `bridge` mode); 802.1Q
//!   sub-interfaces with the same id over one parent segment (apart from the untagged one).
//! - **A packet** to `dst` at a node: delivered if the node holds `dst` (on any link: the Linux
//!   weak host model); otherwise, unless this is the sender, dropped when the node does not
//!   forward; else longest prefix match over its connected subnets (its addresses' prefixes, next
//!   hop = `dst`) and its routes (next hop = gateway, or `dst` without one), and the next hop must
//!   be an address held by another node on the outgoing link's segment. Hop limit 16.
//! - **Drop rules**: a forwarding node drops a packet that came in on link X and would leave on
//!   link Y when its state holds an nftables rule dropping forwarded traffic from X to Y
//!   ([`NatRule::DropForward`], e.g. the isolation between two bridge networks of one host).
//! - **A probe** succeeds when the request is delivered to the target and the reply, sent from
//!   the target to the sender's source address (on the outgoing link, preferably in the next
//!   hop's subnet, as the kernel picks it), is delivered back to the sender.
//!
//! Not modelled (verify reports a surprise as FAIL or LEAK, which is the point of checking):
//! NAT and other packet filters (masquerading rewrites flows leaving a host but never makes a
//! container address routable; a rule other than a forward drop that answered or dropped a
//! probe is invisible here),
//! `rp_filter`, neighbour and FDB *contents* beyond "which remote VTEP" (a missing entry is drift,
//! which `plan` reports), and underlay routing beyond one shared switch (the lab's layout).

use crate::state::{Link, LinkKind, NatRule, Ns, Object, State};
use crate::topology::Topology;
use crate::topology::naming::underlay_interface;
use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// Longest path a packet may take (a routing loop in a topology must not hang verify).
const MAX_HOPS: usize = 16;

/// Every host's underlay (host, interface, address/prefix), as the lab creates it.
pub fn underlays(topo: &Topology) -> Vec<(String, String, IpNet)> {
    topo.hosts
        .iter()
        .map(|(name, host)| {
            let dev = underlay_interface(host).to_string();
            (name.clone(), dev, host.underlay)
        })
        .collect()
}

/// A namespace of the simulated fleet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Place {
    pub host: String,
    pub ns: Ns,
}

impl Place {
    pub fn container(host: &str, name: &str) -> Place {
        Place {
            host: host.to_string(),
            ns: Ns::Container(name.to_string()),
        }
    }

    pub fn host(host: &str) -> Place {
        Place {
            host: host.to_string(),
            ns: Ns::Host,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ns {
            Ns::Host => write!(f, "host {}", self.host),
            Ns::Container(c) => write!(f, "{c} (on {})", self.host),
        }
    }
}

/// What the model predicts for one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The sender holds the address itself: a probe would answer locally, proving nothing.
    Local,
    /// Request and reply both delivered; `forwarded_by` lists the nodes that forwarded either
    /// way (empty: the two share an L2 segment).
    Delivered { to: Place, forwarded_by: Vec<Place> },
    /// The packet (request or reply) is dropped; `why` says where and why.
    Dropped { why: String },
}

#[derive(Debug)]
struct Node {
    place: Place,
    /// (link, address/prefix)
    addrs: Vec<(String, IpNet)>,
    /// (destination, gateway, dev)
    routes: Vec<(IpNet, Option<IpAddr>, String)>,
    forward_v4: bool,
    forward_v6: bool,
    /// (in link, out link) pairs whose forwarded traffic a rule drops (both families).
    drops: Vec<(String, String)>,
}

impl Node {
    fn holds(&self, ip: IpAddr) -> bool {
        self.addrs.iter().any(|(_, a)| a.addr() == ip)
    }

    fn forwards(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() {
            self.forward_v4
        } else {
            self.forward_v6
        }
    }

    /// Longest prefix match: (outgoing link, next hop). Connected subnets win ties.
    fn lookup(&self, dst: IpAddr) -> Option<(&str, IpAddr)> {
        let connected = self
            .addrs
            .iter()
            .map(|(link, a)| (a.trunc(), link.as_str(), dst));
        let routes = self
            .routes
            .iter()
            .map(|(net, gw, dev)| (*net, dev.as_str(), gw.unwrap_or(dst)));
        let mut best: Option<(u8, &str, IpAddr)> = None;
        for (net, dev, hop) in connected.chain(routes) {
            if net.contains(&dst) && best.is_none_or(|(len, _, _)| net.prefix_len() > len) {
                best = Some((net.prefix_len(), dev, hop));
            }
        }
        best.map(|(_, dev, hop)| (dev, hop))
    }

    /// The source address the kernel would pick for packets out of `dev` towards next hop
    /// `hop`: an address on `dev` whose subnet holds `hop` (the connected route's preferred
    /// source), else the first of the family on `dev`, else on the node.
    fn source(&self, dev: &str, hop: IpAddr) -> Option<IpAddr> {
        let family = |a: &&(String, IpNet)| a.1.addr().is_ipv4() == hop.is_ipv4();
        let on_dev = |a: &&(String, IpNet)| a.0 == dev && family(a);
        self.addrs
            .iter()
            .filter(on_dev)
            .find(|(_, a)| a.trunc().contains(&hop))
            .or_else(|| self.addrs.iter().find(on_dev))
            .or_else(|| self.addrs.iter().find(family))
            .map(|(_, a)| a.addr())
    }
}

/// The whole fleet: every namespace and the L2 segments between their links.
#[derive(Debug, Default)]
pub struct Fabric {
    nodes: Vec<Node>,
    index: HashMap<Place, usize>,
    /// Union-find over link ends `(node, link)`; the lab switch is `(usize::MAX, "")`.
    ends: HashMap<(usize, String), usize>,
    parent: Vec<usize>,
    /// Who holds an address: `(node, link)` per address, for next-hop resolution.
    holders: HashMap<IpAddr, Vec<(usize, String)>>,
    /// Macvlan children: link end -> (parent's link end, mode).
    children: HashMap<usize, (usize, String)>,
}

impl Fabric {
    /// The model of `topo`: every host's desired state plus the hosts' underlay addresses.
    pub fn new(topo: &Topology) -> Fabric {
        let states: Vec<(String, State)> = topo
            .hosts
            .keys()
            .filter_map(|h| Some((h.clone(), crate::compile::compile(topo, h).ok()?)))
            .collect();
        Fabric::from_states(&underlays(topo), &states)
    }

    /// The model of hosts given by their underlay (host, interface, address) and their states.
    pub fn from_states(
        underlays: &[(String, String, IpNet)],
        states: &[(String, State)],
    ) -> Fabric {
        let mut fabric = Fabric::default();
        let underlay = fabric.add_underlays(underlays);
        let mut links: Vec<(usize, Link)> = Vec::new();
        let mut fdbs: Vec<(usize, String, IpAddr)> = Vec::new();
        for (host, state) in states {
            fabric.read(host, state, &mut links, &mut fdbs);
        }
        fabric.join_links(&links);
        fabric.join_tunnels(&links, &fdbs, &underlay);
        fabric.index_addresses();
        fabric
    }

    /// Every host's underlay address on its interface, cabled to the switch; returns the host
    /// node of each underlay address.
    fn add_underlays(&mut self, underlays: &[(String, String, IpNet)]) -> HashMap<IpAddr, usize> {
        let switch = self.end(usize::MAX, "");
        let mut underlay: HashMap<IpAddr, usize> = HashMap::new();
        for (name, dev, cidr) in underlays {
            let n = self.node(&Place::host(name));
            self.nodes[n].addrs.push((dev.clone(), *cidr));
            underlay.insert(cidr.addr(), n);
            let end = self.end(n, dev);
            self.union(end, switch);
        }
        underlay
    }

    /// One host's state: nodes, forwarding, addresses and routes; links and FDB entries are
    /// collected for the joins, which need every host read first.
    fn read(
        &mut self,
        host: &str,
        state: &State,
        links: &mut Vec<(usize, Link)>,
        fdbs: &mut Vec<(usize, String, IpAddr)>,
    ) {
        for object in state.iter() {
            let place = |ns: &Ns| Place {
                host: host.to_string(),
                ns: ns.clone(),
            };
            match object {
                Object::Namespace(ns) => {
                    self.node(&Place::container(host, &ns.name));
                }
                Object::Sysctl(s) => {
                    let n = self.node(&place(&s.ns));
                    let on = s.value.trim() == "1";
                    match s.key.as_str() {
                        "net.ipv4.ip_forward" | "net.ipv4.conf.all.forwarding" => {
                            self.nodes[n].forward_v4 |= on
                        }
                        "net.ipv6.conf.all.forwarding" => self.nodes[n].forward_v6 |= on,
                        _ => {}
                    }
                }
                Object::Link(l) => links.push((self.node(&place(&l.ns)), l.clone())),
                Object::Address(a) => {
                    let n = self.node(&place(&a.ns));
                    self.nodes[n].addrs.push((a.link.clone(), a.cidr));
                }
                Object::Route(r) => {
                    let n = self.node(&place(&r.ns));
                    self.nodes[n].routes.push((r.dst, r.gateway, r.dev.clone()));
                }
                Object::Fdb(e) => {
                    let n = self.node(&place(&e.ns));
                    fdbs.push((n, e.link.clone(), e.dst));
                }
                Object::NftRule(r) => {
                    if let NatRule::DropForward { iif, oif } = &r.rule {
                        let n = self.node(&place(&r.ns));
                        self.nodes[n].drops.push((iif.clone(), oif.clone()));
                    }
                }
                // Neighbour entries only speed up resolution the model does by address;
                // other kinds (e.g. NAT rules) are not modelled (see the module doc).
                _ => {}
            }
        }
    }

    /// L2 joins of single links: bridge ports, veth peers, macvlan children, VLANs.
    fn join_links(&mut self, links: &[(usize, Link)]) {
        let mut vlans: Vec<(usize, usize, u16)> = Vec::new();
        for (n, link) in links {
            let end = self.end(*n, &link.name);
            if let Some(master) = &link.master {
                let m = self.end(*n, master);
                self.union(end, m);
            }
            let host = self.nodes[*n].place.host.clone();
            match &link.kind {
                LinkKind::Veth { peer: Some(peer) } => {
                    let p = self.node(&Place {
                        host,
                        ns: peer.ns.clone(),
                    });
                    let other = self.end(p, &peer.name);
                    self.union(end, other);
                }
                LinkKind::Macvlan(mv) => {
                    if let Some(parent) = &mv.parent {
                        let p = self.node(&Place {
                            host,
                            ns: parent.ns.clone(),
                        });
                        let parent = self.end(p, &parent.name);
                        self.union(end, parent);
                        self.children.insert(end, (parent, mv.mode.clone()));
                    }
                }
                LinkKind::Vlan(v) => {
                    if let Some(parent) = &v.parent {
                        let parent = self.end(*n, parent);
                        vlans.push((end, parent, v.id));
                    }
                }
                _ => {}
            }
        }
        // 802.1Q: sub-interfaces with one id on one parent segment (e.g. every host's `eth0.50`
        // on the switch) form a segment of their own, apart from the untagged parent's.
        let keyed: Vec<(usize, (usize, u16))> = vlans
            .iter()
            .map(|&(end, parent, id)| (end, (self.root(parent), id)))
            .collect();
        let mut tagged: HashMap<(usize, u16), usize> = HashMap::new();
        for (end, key) in keyed {
            match tagged.get(&key) {
                Some(&first) => self.union(end, first),
                None => {
                    tagged.insert(key, end);
                }
            }
        }
    }

    /// VXLAN devices joined by their FDB entries (see the comment inside).
    fn join_tunnels(
        &mut self,
        links: &[(usize, Link)],
        fdbs: &[(usize, String, IpAddr)],
        underlay: &HashMap<IpAddr, usize>,
    ) {
        // VXLAN: an FDB entry towards a host's underlay address joins this VXLAN device with
        // that host's VXLAN device of the same VNI and port. Indexed: a bridged overlay has one
        // entry per remote container.
        let mut by_name: HashMap<(usize, &str), (u32, u16)> = HashMap::new();
        let mut by_id: HashMap<(usize, u32, u16), &str> = HashMap::new();
        for (n, l) in links {
            if let LinkKind::Vxlan(v) = &l.kind {
                by_name.insert((*n, l.name.as_str()), (v.vni, v.port));
                by_id.insert((*n, v.vni, v.port), l.name.as_str());
            }
        }
        for (n, link, dst) in fdbs {
            let Some(&(vni, port)) = by_name.get(&(*n, link.as_str())) else {
                continue;
            };
            let Some(remote) = underlay.get(dst).copied() else {
                continue;
            };
            if let Some(name) = by_id.get(&(remote, vni, port)) {
                let (a, b) = (self.end(*n, link), self.end(remote, name));
                self.union(a, b);
            }
        }
    }

    /// Flatten the union-find and index who holds which address.
    fn index_addresses(&mut self) {
        for id in 0..self.parent.len() {
            self.parent[id] = self.root(id);
        }
        for (n, node) in self.nodes.iter().enumerate() {
            for (link, cidr) in &node.addrs {
                let holders = self.holders.entry(cidr.addr()).or_default();
                holders.push((n, link.clone()));
            }
        }
    }

    fn node(&mut self, place: &Place) -> usize {
        if let Some(&n) = self.index.get(place) {
            return n;
        }
        self.nodes.push(Node {
            place: place.clone(),
            addrs: Vec::new(),
            routes: Vec::new(),
            forward_v4: false,
            forward_v6: false,
            drops: Vec::new(),
        });
        self.index.insert(place.clone(), self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    fn end(&mut self, node: usize, link: &str) -> usize {
        let next = self.parent.len();
        let id = *self.ends.entry((node, link.to_string())).or_insert(next);
        if id == next {
            self.parent.push(id);
        }
        id
    }

    fn root(&self, mut id: usize) -> usize {
        while self.parent[id] != id {
            id = self.parent[id];
        }
        id
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        self.parent[ra] = rb;
    }

    /// The node other than `from` holding `ip` on a link on the segment of `from`'s `dev`,
    /// that `dev` can exchange frames with, and the link the frame arrives on there.
    fn neighbour(&self, from: usize, dev: &str, ip: IpAddr) -> Option<(usize, &str)> {
        let out = *self.ends.get(&(from, dev.to_string()))?;
        let segment = self.root(out);
        self.holders.get(&ip)?.iter().find_map(|(n, link)| {
            let end = *self.ends.get(&(*n, link.clone()))?;
            (*n != from && self.root(end) == segment && self.talk(out, end))
                .then_some((*n, link.as_str()))
        })
    }

    /// Whether two link ends of one segment exchange frames: a macvlan child never with its own
    /// parent, and with a sibling (same parent) only when both are in `bridge` mode (`private`
    /// never; `vepa` needs a hairpinning switch, which the lab's bridge is not).
    fn talk(&self, a: usize, b: usize) -> bool {
        match (self.children.get(&a), self.children.get(&b)) {
            (Some((parent, _)), _) if *parent == b => false,
            (_, Some((parent, _))) if *parent == a => false,
            (Some((pa, ma)), Some((pb, mb))) if pa == pb => ma == "bridge" && mb == "bridge",
            _ => true,
        }
    }

    /// Follow one packet from node `from` to `dst`: Ok(node it is delivered to, nodes that
    /// forwarded it), or Err(why it is dropped). The reason speaks of what the file says, not
    /// of what the host does: it is shown next to a LEAK, where the live host did the opposite.
    fn walk(&self, from: usize, dst: IpAddr) -> Result<(usize, Vec<usize>), String> {
        let mut at = from;
        // The link the packet arrived on at `at` (none at the sender).
        let mut came_in: &str = "";
        let mut forwarded = Vec::new();
        for _ in 0..MAX_HOPS {
            let node = &self.nodes[at];
            if node.holds(dst) {
                return Ok((at, forwarded));
            }
            if at != from {
                if !node.forwards(dst) {
                    return Err(format!(
                        "the file does not turn on forwarding in {}",
                        node.place
                    ));
                }
                forwarded.push(at);
            }
            let Some((dev, hop)) = node.lookup(dst) else {
                return Err(format!("the file gives {} no route to {dst}", node.place));
            };
            if at != from && node.drops.iter().any(|(i, o)| i == came_in && o == dev) {
                return Err(format!(
                    "the file has {} drop forwarding from {came_in} to {dev}",
                    node.place
                ));
            }
            let Some((next, link)) = self.neighbour(at, dev, hop) else {
                return Err(format!(
                    "the file puts no {hop} next to {} on {dev}",
                    node.place
                ));
            };
            at = next;
            came_in = link;
        }
        Err(format!(
            "the file's routes take more than {MAX_HOPS} hops to {dst}"
        ))
    }

    /// The link a packet from `from` to `dst` leaves the sender through, and its source
    /// address (`None`: no route, or no address of the family).
    pub fn sender_route(&self, from: &Place, dst: IpAddr) -> Option<(String, IpAddr)> {
        let node = &self.nodes[*self.index.get(from)?];
        let (dev, hop) = node.lookup(dst)?;
        Some((dev.to_string(), node.source(dev, hop)?))
    }

    /// Whether a ping from `from` to `dst` gets a reply, per the model.
    pub fn reach(&self, from: &Place, dst: IpAddr) -> Reach {
        let Some(&src_node) = self.index.get(from) else {
            return Reach::Dropped {
                why: format!("{from} is not in the file"),
            };
        };
        let node = &self.nodes[src_node];
        if node.holds(dst) {
            return Reach::Local;
        }
        let (to, mut forwarded) = match self.walk(src_node, dst) {
            Ok(done) => done,
            Err(why) => return Reach::Dropped { why },
        };
        let src = node
            .lookup(dst)
            .and_then(|(dev, hop)| node.source(dev, hop));
        let Some(src) = src else {
            return Reach::Dropped {
                why: format!("the file gives {from} no {dst:?}-family address to reply to"),
            };
        };
        match self.walk(to, src) {
            Ok((back, more)) if back == src_node => forwarded.extend(more),
            Ok((back, _)) => {
                return Reach::Dropped {
                    why: format!(
                        "the file routes the reply to {src} to {}",
                        self.nodes[back].place
                    ),
                };
            }
            Err(why) => {
                return Reach::Dropped {
                    why: format!("for the reply, {why}"),
                };
            }
        }
        forwarded.sort_unstable();
        forwarded.dedup();
        Reach::Delivered {
            to: self.nodes[to].place.clone(),
            forwarded_by: forwarded
                .into_iter()
                .map(|n| self.nodes[n].place.clone())
                .collect(),
        }
    }
}
