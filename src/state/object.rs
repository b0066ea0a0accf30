//! The kernel objects netplan-rs manages, their identities ([`ObjectKey`]) and one-line
//! descriptions. Attributes not listed here are not managed (and not compared).

use super::Mac;
use super::nft::{NftChain, NftRule, NftSet, NftTable};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

/// A logical network namespace: the target host's own namespace, or a container's namespace by
/// container name. `kernel::Target` maps these to real namespaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ns {
    Host,
    Container(String),
}

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ns::Host => f.write_str("host"),
            Ns::Container(name) => f.write_str(name),
        }
    }
}

/// The identity of an object: two states hold "the same" object when their keys are equal.
/// Variant order is the rendering order (namespaces, links, addresses, ...); within a variant,
/// fields compare in declaration order (the order a derived `Ord` would give, see [`Ord`] below).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObjectKey {
    Namespace {
        name: String,
    },
    Sysctl {
        ns: Ns,
        key: String,
    },
    Link {
        ns: Ns,
        name: String,
    },
    Address {
        ns: Ns,
        link: String,
        cidr: IpNet,
    },
    Neighbour {
        ns: Ns,
        link: String,
        ip: IpAddr,
    },
    Fdb {
        ns: Ns,
        link: String,
        mac: Mac,
    },
    Route {
        ns: Ns,
        dst: IpNet,
    },
    NftTable {
        ns: Ns,
        name: String,
    },
    NftChain {
        ns: Ns,
        table: String,
        name: String,
    },
    NftSet {
        ns: Ns,
        table: String,
        name: String,
    },
    NftRule {
        ns: Ns,
        table: String,
        chain: String,
        id: String,
    },
}

/// The derived order, written out so names compare inline: states are B-trees of these keys
/// and most comparisons are between short, equal names (`vx-flannel` against `vx-flannel`), where
/// a call to libc's `memcmp` per field cost more than the compare itself (40% of a fleet plan's
/// time, measured in `benches/plan_scale.rs`). `same_order_as_derived` in the tests holds it to
/// the derived order.
impl Ord for ObjectKey {
    fn cmp(&self, other: &Self) -> Ordering {
        use ObjectKey as K;
        match (self, other) {
            (K::Namespace { name: a }, K::Namespace { name: b }) => names(a, b),
            (K::Sysctl { ns: n1, key: a }, K::Sysctl { ns: n2, key: b })
            | (K::Link { ns: n1, name: a }, K::Link { ns: n2, name: b })
            | (K::NftTable { ns: n1, name: a }, K::NftTable { ns: n2, name: b }) => {
                ns_order(n1, n2).then_with(|| names(a, b))
            }
            (
                K::Address {
                    ns: n1,
                    link: l1,
                    cidr: a,
                },
                K::Address {
                    ns: n2,
                    link: l2,
                    cidr: b,
                },
            ) => ns_order(n1, n2)
                .then_with(|| names(l1, l2))
                .then_with(|| a.cmp(b)),
            (
                K::Neighbour {
                    ns: n1,
                    link: l1,
                    ip: a,
                },
                K::Neighbour {
                    ns: n2,
                    link: l2,
                    ip: b,
                },
            ) => ns_order(n1, n2)
                .then_with(|| names(l1, l2))
                .then_with(|| a.cmp(b)),
            (
                K::Fdb {
                    ns: n1,
                    link: l1,
                    mac: a,
                },
                K::Fdb {
                    ns: n2,
                    link: l2,
                    mac: b,
                },
            ) => ns_order(n1, n2)
                .then_with(|| names(l1, l2))
                .then_with(|| a.cmp(b)),
            (K::Route { ns: n1, dst: a }, K::Route { ns: n2, dst: b }) => {
                ns_order(n1, n2).then_with(|| a.cmp(b))
            }
            (
                K::NftChain {
                    ns: n1,
                    table: t1,
                    name: a,
                },
                K::NftChain {
                    ns: n2,
                    table: t2,
                    name: b,
                },
            )
            | (
                K::NftSet {
                    ns: n1,
                    table: t1,
                    name: a,
                },
                K::NftSet {
                    ns: n2,
                    table: t2,
                    name: b,
                },
            ) => ns_order(n1, n2)
                .then_with(|| names(t1, t2))
                .then_with(|| names(a, b)),
            (
                K::NftRule {
                    ns: n1,
                    table: t1,
                    chain: c1,
                    id: a,
                },
                K::NftRule {
                    ns: n2,
                    table: t2,
                    chain: c2,
                    id: b,
                },
            ) => ns_order(n1, n2)
                .then_with(|| names(t1, t2))
                .then_with(|| names(c1, c2))
                .then_with(|| names(a, b)),
            _ => {
                // Only keys of different variants get here: a variant without its own arm above
                // would compare equal to every key of its kind.
                debug_assert_ne!(self.rank(), other.rank(), "no Ord arm for {self:?}");
                self.rank().cmp(&other.rank())
            }
        }
    }
}

impl PartialOrd for ObjectKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `Ns`'s derived order with the container names compared by [`names`].
fn ns_order(a: &Ns, b: &Ns) -> Ordering {
    match (a, b) {
        (Ns::Host, Ns::Host) => Ordering::Equal,
        (Ns::Host, Ns::Container(_)) => Ordering::Less,
        (Ns::Container(_), Ns::Host) => Ordering::Greater,
        (Ns::Container(a), Ns::Container(b)) => names(a, b),
    }
}

/// `str`'s order (bytewise, then length), compared in a loop the compiler keeps inline.
#[inline]
fn names(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

impl ObjectKey {
    /// The variant's position in declaration order.
    fn rank(&self) -> u8 {
        match self {
            ObjectKey::Namespace { .. } => 0,
            ObjectKey::Sysctl { .. } => 1,
            ObjectKey::Link { .. } => 2,
            ObjectKey::Address { .. } => 3,
            ObjectKey::Neighbour { .. } => 4,
            ObjectKey::Fdb { .. } => 5,
            ObjectKey::Route { .. } => 6,
            ObjectKey::NftTable { .. } => 7,
            ObjectKey::NftChain { .. } => 8,
            ObjectKey::NftSet { .. } => 9,
            ObjectKey::NftRule { .. } => 10,
        }
    }

    /// The namespace the object lives in (a namespace object lives in the host namespace).
    pub fn ns(&self) -> Ns {
        match self {
            ObjectKey::Namespace { .. } => Ns::Host,
            ObjectKey::Sysctl { ns, .. }
            | ObjectKey::Link { ns, .. }
            | ObjectKey::Address { ns, .. }
            | ObjectKey::Neighbour { ns, .. }
            | ObjectKey::Fdb { ns, .. }
            | ObjectKey::Route { ns, .. }
            | ObjectKey::NftTable { ns, .. }
            | ObjectKey::NftChain { ns, .. }
            | ObjectKey::NftSet { ns, .. }
            | ObjectKey::NftRule { ns, .. } => ns.clone(),
        }
    }

    /// The link this object sits on, if any (addresses, neighbours, FDB entries).
    pub fn link(&self) -> Option<ObjectKey> {
        match self {
            ObjectKey::Address { ns, link, .. }
            | ObjectKey::Neighbour { ns, link, .. }
            | ObjectKey::Fdb { ns, link, .. } => Some(ObjectKey::Link {
                ns: ns.clone(),
                name: link.clone(),
            }),
            _ => None,
        }
    }

    /// The nftables container of this object: a chain's or a set's table, a rule's chain.
    /// Deleting the container deletes what it holds; creating it comes first.
    pub fn nft_parent(&self) -> Option<ObjectKey> {
        match self {
            ObjectKey::NftChain { ns, table, .. } | ObjectKey::NftSet { ns, table, .. } => {
                Some(ObjectKey::NftTable {
                    ns: ns.clone(),
                    name: table.clone(),
                })
            }
            ObjectKey::NftRule {
                ns, table, chain, ..
            } => Some(ObjectKey::NftChain {
                ns: ns.clone(),
                table: table.clone(),
                name: chain.clone(),
            }),
            _ => None,
        }
    }

    /// An nftables object (table, chain, set or rule): written in nf_tables transactions, not
    /// rtnetlink requests.
    pub fn is_nft(&self) -> bool {
        matches!(
            self,
            ObjectKey::NftTable { .. }
                | ObjectKey::NftChain { .. }
                | ObjectKey::NftSet { .. }
                | ObjectKey::NftRule { .. }
        )
    }

    /// Short kind name used in plan output and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            ObjectKey::Namespace { .. } => "namespace",
            ObjectKey::Sysctl { .. } => "sysctl",
            ObjectKey::Link { .. } => "link",
            ObjectKey::Address { .. } => "address",
            ObjectKey::Neighbour { .. } => "neighbour",
            ObjectKey::Fdb { .. } => "fdb",
            ObjectKey::Route { .. } => "route",
            ObjectKey::NftTable { .. } => "nft_table",
            ObjectKey::NftChain { .. } => "nft_chain",
            ObjectKey::NftSet { .. } => "nft_set",
            ObjectKey::NftRule { .. } => "nft_rule",
        }
    }
}

/// Terraform-like resource address: `link host/br-overlay`, `address docker1/eth0 172.18.10.2/16`.
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectKey::Namespace { name } => write!(f, "namespace {name}"),
            ObjectKey::Sysctl { ns, key } => write!(f, "sysctl {ns}/{key}"),
            ObjectKey::Link { ns, name } => write!(f, "link {ns}/{name}"),
            ObjectKey::Address { ns, link, cidr } => write!(f, "address {ns}/{link} {cidr}"),
            ObjectKey::Neighbour { ns, link, ip } => write!(f, "neighbour {ns}/{link} {ip}"),
            ObjectKey::Fdb { ns, link, mac } => write!(f, "fdb {ns}/{link} {mac}"),
            ObjectKey::Route { ns, dst } => write!(f, "route {ns}/{dst}"),
            ObjectKey::NftTable { ns, name } => write!(f, "nft_table {ns}/inet {name}"),
            ObjectKey::NftChain { ns, table, name } => write!(f, "nft_chain {ns}/{table}/{name}"),
            ObjectKey::NftSet { ns, table, name } => write!(f, "nft_set {ns}/{table}/@{name}"),
            ObjectKey::NftRule {
                ns,
                table,
                chain,
                id,
            } => write!(f, "nft_rule {ns}/{table}/{chain} \"{id}\""),
        }
    }
}

/// A named network namespace (`/run/netns/<name>` on a real host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// Logical name: the container name.
    pub name: String,
    /// Created by netplan-rs (read back from the mark on its `lo`).
    pub owned: bool,
    /// IPv6 default of the interfaces created in it later (`net.ipv6.conf.default.disable_ipv6`
    /// inverted), written when netplan-rs creates the namespace. `Some(false)` when every
    /// interface the file puts there wants IPv6 off: they are then born without it, and need no
    /// write of their own. A creation-time property, like a link's kind: not observed, never a
    /// change (each interface's own `ipv6` is what is observed and diffed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_default: Option<bool>,
}

/// A sysctl value inside one namespace, e.g. `net.ipv4.ip_forward = 1`. Only set, never reverted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sysctl {
    pub ns: Ns,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LinkKind {
    Bridge,
    /// One end of a veth pair. `peer` is always known in desired state; observe fills it when it
    /// can pair both ends among the namespaces it read, else leaves it `None` (then not compared).
    Veth {
        peer: Option<VethPeer>,
    },
    Vxlan(Vxlan),
    /// A macvlan child of a parent link, possibly in another namespace.
    Macvlan(Macvlan),
    /// An 802.1Q VLAN sub-interface of a parent link in the same namespace.
    Vlan(Vlan),
    /// Any other kind the kernel reports (`dummy`, `ipvlan`, ...); never created by compile.
    Other {
        name: String,
    },
}

impl LinkKind {
    pub fn type_name(&self) -> &str {
        match self {
            LinkKind::Bridge => "bridge",
            LinkKind::Veth { .. } => "veth",
            LinkKind::Vxlan(_) => "vxlan",
            LinkKind::Macvlan(_) => "macvlan",
            LinkKind::Vlan(_) => "vlan",
            LinkKind::Other { name } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VethPeer {
    pub ns: Ns,
    pub name: String,
}

/// Macvlan parameters. Fixed at creation as far as netplan-rs is concerned: a change means
/// replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Macvlan {
    /// `private`, `vepa`, `bridge`, `passthru` or `source` (the kernel's names).
    pub mode: String,
    /// The lower device. Always known in desired state; observe leaves it `None` (then not
    /// compared) when the parent sits in a namespace it cannot identify reliably.
    pub parent: Option<LinkRef>,
}

/// 802.1Q sub-interface parameters; a change means replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlan {
    pub id: u16,
    /// Parent link name, in the same namespace (`None`: not observed, not compared).
    pub parent: Option<String>,
}

/// A link by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkRef {
    pub ns: Ns,
    pub name: String,
}

/// VXLAN device parameters. None of them can change in place: a change means replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vxlan {
    pub vni: u32,
    /// Local underlay address (VTEP source).
    pub local: Option<IpAddr>,
    /// Underlay device name, in the same namespace.
    pub dev: Option<String>,
    pub port: u16,
    pub learning: bool,
    /// ARP proxy: answer ARP from the neighbour table (Docker overlay).
    pub proxy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub ns: Ns,
    pub name: String,
    pub kind: LinkKind,
    /// `None` in desired state means "whatever the kernel picks".
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    /// Name of the master (bridge) link in the same namespace.
    pub master: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// IPv6 on this interface (`net.ipv6.conf.<name>.disable_ipv6` inverted). Observed: `None`
    /// when the kernel has no IPv6 on the device. Desired: `None` means "whatever the kernel
    /// has"; container interfaces say it (off on networks without IPv6, see `compile::wiring`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<bool>,
    /// Carries netplan-rs's alias mark. Always true in desired state.
    pub owned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub ns: Ns,
    pub link: String,
    /// Address with its prefix length, e.g. `172.18.10.2/16`.
    pub cidr: IpNet,
    pub owned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub ns: Ns,
    /// Destination; `0.0.0.0/0` for a default route. Main table only.
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    /// Output device in the same namespace.
    pub dev: String,
    /// RTNH_F_ONLINK: the gateway is reachable on `dev` without a covering connected route.
    pub onlink: bool,
    /// Carries netplan-rs's route protocol number.
    pub owned: bool,
}

/// A permanent neighbour (ARP/NDP) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    pub ns: Ns,
    pub link: String,
    pub ip: IpAddr,
    pub mac: Mac,
    /// Sits on an owned link.
    pub owned: bool,
}

/// A permanent bridge FDB entry on a VXLAN device (`bridge fdb ... dev vx dst IP self`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fdb {
    pub ns: Ns,
    pub link: String,
    pub mac: Mac,
    /// Remote VTEP underlay address.
    pub dst: IpAddr,
    /// Sits on an owned link.
    pub owned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum Object {
    Namespace(Namespace),
    Sysctl(Sysctl),
    Link(Link),
    Address(Address),
    Neighbour(Neighbour),
    Fdb(Fdb),
    Route(Route),
    NftTable(NftTable),
    NftChain(NftChain),
    NftSet(NftSet),
    NftRule(NftRule),
}

impl Object {
    pub fn key(&self) -> ObjectKey {
        match self {
            Object::Namespace(n) => ObjectKey::Namespace {
                name: n.name.clone(),
            },
            Object::Sysctl(s) => ObjectKey::Sysctl {
                ns: s.ns.clone(),
                key: s.key.clone(),
            },
            Object::Link(l) => ObjectKey::Link {
                ns: l.ns.clone(),
                name: l.name.clone(),
            },
            Object::Address(a) => ObjectKey::Address {
                ns: a.ns.clone(),
                link: a.link.clone(),
                cidr: a.cidr,
            },
            Object::Neighbour(n) => ObjectKey::Neighbour {
                ns: n.ns.clone(),
                link: n.link.clone(),
                ip: n.ip,
            },
            Object::Fdb(e) => ObjectKey::Fdb {
                ns: e.ns.clone(),
                link: e.link.clone(),
                mac: e.mac,
            },
            Object::Route(r) => ObjectKey::Route {
                ns: r.ns.clone(),
                dst: r.dst,
            },
            Object::NftTable(t) => ObjectKey::NftTable {
                ns: t.ns.clone(),
                name: t.name.clone(),
            },
            Object::NftChain(c) => ObjectKey::NftChain {
                ns: c.ns.clone(),
                table: c.table.clone(),
                name: c.name.clone(),
            },
            Object::NftSet(s) => ObjectKey::NftSet {
                ns: s.ns.clone(),
                table: s.table.clone(),
                name: s.name.clone(),
            },
            Object::NftRule(r) => ObjectKey::NftRule {
                ns: r.ns.clone(),
                table: r.table.clone(),
                chain: r.chain.clone(),
                id: r.id.clone(),
            },
        }
    }

    /// Whether netplan-rs owns this object. Sysctls are shared host settings: never owned, so
    /// they are set when wanted but never deleted.
    pub fn owned(&self) -> bool {
        match self {
            Object::Namespace(n) => n.owned,
            Object::Sysctl(_) => false,
            Object::Link(l) => l.owned,
            Object::Address(a) => a.owned,
            Object::Neighbour(n) => n.owned,
            Object::Fdb(e) => e.owned,
            Object::Route(r) => r.owned,
            Object::NftTable(t) => t.owned,
            Object::NftChain(c) => c.owned,
            Object::NftSet(s) => s.owned,
            Object::NftRule(r) => r.owned,
        }
    }

    /// The managed attributes as (name, value) pairs: what diff compares and plans print.
    /// Identity fields are in the key and not repeated here. Unknown values (`None` in desired
    /// state) are left out, so "whatever the kernel picks" never shows as a change.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attrs = Vec::new();
        match self {
            Object::Namespace(_) => {}
            Object::Sysctl(s) => attrs.push(("value", s.value.clone())),
            Object::Link(l) => {
                attrs.push(("type", l.kind.type_name().to_string()));
                match &l.kind {
                    LinkKind::Veth { peer: Some(p) } => {
                        attrs.push(("peer", format!("{}/{}", p.ns, p.name)))
                    }
                    LinkKind::Vxlan(v) => {
                        attrs.push(("vni", v.vni.to_string()));
                        if let Some(local) = v.local {
                            attrs.push(("local", local.to_string()));
                        }
                        if let Some(dev) = &v.dev {
                            attrs.push(("dev", dev.clone()));
                        }
                        attrs.push(("dstport", v.port.to_string()));
                        attrs.push(("learning", v.learning.to_string()));
                        attrs.push(("proxy", v.proxy.to_string()));
                    }
                    LinkKind::Macvlan(m) => {
                        attrs.push(("mode", m.mode.clone()));
                        if let Some(p) = &m.parent {
                            attrs.push(("parent", format!("{}/{}", p.ns, p.name)));
                        }
                    }
                    LinkKind::Vlan(v) => {
                        attrs.push(("vlan_id", v.id.to_string()));
                        if let Some(p) = &v.parent {
                            attrs.push(("parent", p.clone()));
                        }
                    }
                    _ => {}
                }
                if let Some(mac) = l.mac {
                    attrs.push(("mac", mac.to_string()));
                }
                if let Some(mtu) = l.mtu {
                    attrs.push(("mtu", mtu.to_string()));
                }
                if let Some(master) = &l.master {
                    attrs.push(("master", master.clone()));
                }
                attrs.push(("state", if l.up { "up" } else { "down" }.to_string()));
                if let Some(ipv6) = l.ipv6 {
                    attrs.push(("ipv6", if ipv6 { "on" } else { "off" }.to_string()));
                }
            }
            Object::Address(_) => {}
            Object::Neighbour(n) => attrs.push(("lladdr", n.mac.to_string())),
            Object::Fdb(e) => attrs.push(("dst", e.dst.to_string())),
            Object::Route(r) => {
                if let Some(gw) = r.gateway {
                    attrs.push(("via", gw.to_string()));
                }
                attrs.push(("dev", r.dev.clone()));
                if r.onlink {
                    attrs.push(("onlink", "true".to_string()));
                }
            }
            Object::NftTable(_) => {}
            Object::NftChain(c) => match c.hook {
                Some(hook) => {
                    attrs.push(("type", c.chain_type.clone()));
                    attrs.push(("hook", hook.name().to_string()));
                    attrs.push(("priority", c.priority.to_string()));
                }
                // A regular chain (jump target) has no type, hook or priority.
                None => attrs.push(("hook", "none".to_string())),
            },
            Object::NftSet(s) => {
                attrs.push(("type", s.key.to_string()));
                let elements: Vec<String> = s.elements.iter().map(|e| e.to_string()).collect();
                attrs.push(("elements", format!("{{ {} }}", elements.join(", "))));
            }
            Object::NftRule(r) => attrs.push(("rule", r.rule.to_string())),
        }
        attrs
    }

    /// `<key> [attr=value ...]` on one line.
    pub fn describe(&self) -> String {
        let mut line = self.key().to_string();
        for (name, value) in self.attributes() {
            line.push(' ');
            line.push_str(name);
            line.push('=');
            line.push_str(&value);
        }
        line
    }
}

macro_rules! into_object {
    ($($ty:ident),*) => {
        $(impl From<$ty> for Object {
            fn from(value: $ty) -> Self {
                Object::$ty(value)
            }
        })*
    };
}
into_object!(
    Namespace, Sysctl, Link, Address, Neighbour, Fdb, Route, NftTable, NftChain, NftSet, NftRule
);

#[cfg(test)]
mod tests {
    use super::*;

    /// `ObjectKey` as `#[derive(Ord)]` would order it: the reference for the written-out `Ord`.
    #[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Derived {
        Namespace(String),
        Sysctl(Ns, String),
        Link(Ns, String),
        Address(Ns, String, IpNet),
        Neighbour(Ns, String, IpAddr),
        Fdb(Ns, String, Mac),
        Route(Ns, IpNet),
        NftTable(Ns, String),
        NftChain(Ns, String, String),
        NftSet(Ns, String, String),
        NftRule(Ns, String, String, String),
    }

    fn derived(key: &ObjectKey) -> Derived {
        let key = key.clone();
        match key {
            ObjectKey::Namespace { name } => Derived::Namespace(name),
            ObjectKey::Sysctl { ns, key } => Derived::Sysctl(ns, key),
            ObjectKey::Link { ns, name } => Derived::Link(ns, name),
            ObjectKey::Address { ns, link, cidr } => Derived::Address(ns, link, cidr),
            ObjectKey::Neighbour { ns, link, ip } => Derived::Neighbour(ns, link, ip),
            ObjectKey::Fdb { ns, link, mac } => Derived::Fdb(ns, link, mac),
            ObjectKey::Route { ns, dst } => Derived::Route(ns, dst),
            ObjectKey::NftTable { ns, name } => Derived::NftTable(ns, name),
            ObjectKey::NftChain { ns, table, name } => Derived::NftChain(ns, table, name),
            ObjectKey::NftSet { ns, table, name } => Derived::NftSet(ns, table, name),
            ObjectKey::NftRule {
                ns,
                table,
                chain,
                id,
            } => Derived::NftRule(ns, table, chain, id),
        }
    }

    /// Every variant, with names that share prefixes, differ in length, sort differently as
    /// bytes than as lengths, and are empty; every pair must compare as the derive would.
    #[test]
    fn same_order_as_derived() {
        let names = ["", "a", "ab", "b", "vx-a", "vx-ab", "vx-b", "é", "Z"];
        let nss = [
            Ns::Host,
            Ns::Container("c1".into()),
            Ns::Container("c10".into()),
            Ns::Container("c2".into()),
        ];
        let nets: [IpNet; 3] = [
            "10.0.0.0/24".parse().unwrap(),
            "10.0.0.0/25".parse().unwrap(),
            "fd00::/64".parse().unwrap(),
        ];
        let ips: [IpAddr; 2] = ["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        let macs = [Mac::hashed(&["a"]), Mac::hashed(&["b"])];
        let mut keys = Vec::new();
        for n in names {
            keys.push(ObjectKey::Namespace { name: n.into() });
        }
        for ns in &nss {
            for n in names {
                let (ns, s) = (ns.clone(), n.to_string());
                keys.push(ObjectKey::Sysctl {
                    ns: ns.clone(),
                    key: s.clone(),
                });
                keys.push(ObjectKey::Link {
                    ns: ns.clone(),
                    name: s.clone(),
                });
                keys.push(ObjectKey::NftTable {
                    ns: ns.clone(),
                    name: s.clone(),
                });
                for &cidr in &nets {
                    let link = s.clone();
                    keys.push(ObjectKey::Address {
                        ns: ns.clone(),
                        link,
                        cidr,
                    });
                    keys.push(ObjectKey::Route {
                        ns: ns.clone(),
                        dst: cidr,
                    });
                }
                for &ip in &ips {
                    let link = s.clone();
                    keys.push(ObjectKey::Neighbour {
                        ns: ns.clone(),
                        link,
                        ip,
                    });
                }
                for &mac in &macs {
                    let link = s.clone();
                    keys.push(ObjectKey::Fdb {
                        ns: ns.clone(),
                        link,
                        mac,
                    });
                }
                for m in ["", "x", "xy"] {
                    keys.push(ObjectKey::NftChain {
                        ns: ns.clone(),
                        table: s.clone(),
                        name: m.into(),
                    });
                    keys.push(ObjectKey::NftSet {
                        ns: ns.clone(),
                        table: s.clone(),
                        name: m.into(),
                    });
                    keys.push(ObjectKey::NftRule {
                        ns: ns.clone(),
                        table: s.clone(),
                        chain: m.into(),
                        id: n.into(),
                    });
                }
            }
        }
        let reference: Vec<Derived> = keys.iter().map(derived).collect();
        for (a, ra) in keys.iter().zip(&reference) {
            for (b, rb) in keys.iter().zip(&reference) {
                assert_eq!(a.cmp(b), ra.cmp(rb), "{a:?} vs {b:?}");
                assert_eq!(a.partial_cmp(b), Some(ra.cmp(rb)));
            }
        }
    }
}
