//! What the kernel removes on its own when netplan-rs deletes something.
//!
//! Deleting a namespace deletes everything in it; deleting a link deletes its addresses,
//! neighbours, FDB entries, the routes out of it and the VXLAN devices on top of it; deleting one
//! end of a veth pair deletes the other end (and, recursively, that end's dependents). Diff uses
//! this twice: a deleted or replaced object's dependents get no steps of their own (no redundant
//! steps), and desired objects among them must be created again. In nftables, deleting a table
//! deletes its chains and rules, and deleting a chain (flushed first) deletes its rules.
//!
//! Deleting an address can take routes and neighbours along too: when a link loses its last IPv4
//! address, the kernel removes every IPv4 route out of that link and flushes its ARP table,
//! permanent entries included (`fib_disable_ip`: `fib_sync_down_dev` and `arp_ifdown`), although
//! the link stays. Apply deletes before it creates, so changing a container's only address
//! removes its default route for a moment, and moving a routed VXLAN device's address removes
//! its neighbour entries: they are swept like a link's dependents and created again after the
//! new address. IPv6 routes and neighbours survive address deletion (checked on the kernel).
//!
//! The edges come from the observed state only (that is what will vanish), indexed once so that a
//! whole cascade costs O(objects).

use crate::state::{LinkKind, Ns, Object, ObjectKey, State};
use std::collections::HashMap;

/// Objects that vanish as a side effect, each with the root whose deletion sweeps it away.
pub(crate) type Swept = HashMap<ObjectKey, ObjectKey>;

/// The observed state indexed by "what goes with what".
pub(crate) struct Cascade<'a> {
    desired: &'a State,
    observed: &'a State,
    /// Observed objects in each container namespace.
    by_ns: HashMap<String, Vec<&'a ObjectKey>>,
    /// Observed objects that sit on, route out of, or are layered on a link (ns, name).
    by_link: HashMap<(Ns, &'a str), Vec<&'a ObjectKey>>,
    /// Observed nftables objects by their container (a table's chains, a chain's rules).
    by_nft_parent: HashMap<ObjectKey, Vec<&'a ObjectKey>>,
}

impl<'a> Cascade<'a> {
    pub(crate) fn new(desired: &'a State, observed: &'a State) -> Self {
        let mut by_ns: HashMap<String, Vec<&'a ObjectKey>> = HashMap::new();
        let mut by_link: HashMap<(Ns, &'a str), Vec<&'a ObjectKey>> = HashMap::new();
        let mut by_nft_parent: HashMap<ObjectKey, Vec<&'a ObjectKey>> = HashMap::new();
        for (key, object) in &observed.objects {
            if let Some(parent) = key.nft_parent() {
                by_nft_parent.entry(parent).or_default().push(key);
            }
            if let Ns::Container(name) = key.ns()
                && !matches!(key, ObjectKey::Namespace { .. })
            {
                by_ns.entry(name).or_default().push(key);
            }
            let on: Option<(&Ns, &'a str)> = match object {
                Object::Address(a) => Some((&a.ns, &a.link)),
                Object::Neighbour(n) => Some((&n.ns, &n.link)),
                Object::Fdb(e) => Some((&e.ns, &e.link)),
                Object::Route(r) => Some((&r.ns, &r.dev)),
                Object::Link(l) => match &l.kind {
                    // The kernel deletes a VXLAN device when its lower device goes away.
                    LinkKind::Vxlan(v) => v.dev.as_deref().map(|dev| (&l.ns, dev)),
                    // Likewise macvlan children (in any namespace) and VLAN sub-interfaces.
                    LinkKind::Macvlan(m) => m.parent.as_ref().map(|p| (&p.ns, p.name.as_str())),
                    LinkKind::Vlan(v) => v.parent.as_deref().map(|p| (&l.ns, p)),
                    _ => None,
                },
                _ => None,
            };
            if let Some((ns, link)) = on {
                by_link.entry((ns.clone(), link)).or_default().push(key);
            }
        }
        Cascade {
            desired,
            observed,
            by_ns,
            by_link,
            by_nft_parent,
        }
    }

    /// The other end of an observed veth, as far as we can tell. Observe reports the peer when it
    /// read both namespaces; when it could not, we trust the desired pairing if the kernel's two
    /// ends are both unpaired (or point at each other) veths.
    pub(crate) fn veth_peer(&self, key: &ObjectKey) -> Option<&'a ObjectKey> {
        let Some(Object::Link(link)) = self.observed.get(key) else {
            return None;
        };
        let LinkKind::Veth { peer } = &link.kind else {
            return None;
        };
        let candidate = match peer {
            Some(p) => link_key(&p.ns, &p.name),
            None => match self.desired.get(key) {
                Some(Object::Link(want)) => match &want.kind {
                    LinkKind::Veth { peer: Some(p) } => link_key(&p.ns, &p.name),
                    _ => return None,
                },
                _ => return None,
            },
        };
        let (peer_key, peer_object) = self.observed.objects.get_key_value(&candidate)?;
        if peer.is_none() {
            // Only assume the pairing when the other end does not contradict it.
            let Object::Link(other) = peer_object else {
                return None;
            };
            match &other.kind {
                LinkKind::Veth { peer: None } => {}
                LinkKind::Veth { peer: Some(back) } if link_key(&back.ns, &back.name) == *key => {}
                _ => return None,
            }
        }
        Some(peer_key)
    }

    /// Observed objects the kernel removes together with `key`.
    fn dependents(&self, key: &ObjectKey) -> Vec<&'a ObjectKey> {
        match key {
            ObjectKey::Namespace { name } => self.by_ns.get(name).cloned().unwrap_or_default(),
            ObjectKey::Link { ns, name } => {
                let mut out = self
                    .by_link
                    .get(&(ns.clone(), name.as_str()))
                    .cloned()
                    .unwrap_or_default();
                out.extend(self.veth_peer(key));
                out
            }
            // Deleting a table deletes its chains; netplan-rs flushes a chain before deleting it.
            ObjectKey::NftTable { .. } | ObjectKey::NftChain { .. } => {
                self.by_nft_parent.get(key).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// Everything that vanishes as a side effect of deleting `roots` (observed keys), *not*
    /// counting a root that nothing else takes along.
    ///
    /// Roots are processed in key order (namespaces first, host links before container links),
    /// and a root already swept away by an earlier one is skipped. A veth pair whose ends are
    /// both roots therefore keeps exactly one step: the host end, or the lesser key. A root
    /// reached later by another root's cascade also ends up in the set, so its own step can be
    /// dropped. Each object's edges are walked at most twice: O(objects).
    ///
    /// Each swept object maps to the root that sweeps it: a recreated object must wait for that
    /// root's step (see `order`).
    pub(crate) fn gone(&self, roots: &[&ObjectKey]) -> Swept {
        let mut roots: Vec<&ObjectKey> = roots.to_vec();
        roots.sort();
        roots.dedup();
        let mut gone: HashMap<&ObjectKey, &ObjectKey> = HashMap::new();
        for &root in &roots {
            if gone.contains_key(root) {
                continue;
            }
            let mut stack = self.dependents(root);
            while let Some(key) = stack.pop() {
                if key == root || gone.contains_key(key) {
                    continue;
                }
                gone.insert(key, root);
                stack.extend(self.dependents(key));
            }
        }
        self.routes_without_addresses(&roots, &mut gone);
        gone.into_iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    /// Add to `gone` the IPv4 routes and neighbours of each link that stays but loses every IPv4
    /// address it has (all of them deleted by `roots` or swept away): the kernel flushes them.
    /// Each maps to the first of those addresses that has a step of its own. A route or
    /// neighbour that is itself a root is included, so its own delete step is dropped (it would
    /// find nothing once the address is gone, and deletions of neighbours are not ordered before
    /// deletions of addresses).
    fn routes_without_addresses(
        &self,
        roots: &[&'a ObjectKey],
        gone: &mut HashMap<&'a ObjectKey, &'a ObjectKey>,
    ) {
        let is_root = |k: &ObjectKey| roots.binary_search(&k).is_ok();
        for ((ns, name), on) in &self.by_link {
            let link = link_key(ns, name);
            if is_root(&link) || gone.contains_key(&link) {
                continue;
            }
            let addresses: Vec<&'a ObjectKey> = on
                .iter()
                .filter(|k| ipv4_address(k) == Some(true))
                .copied()
                .collect();
            if addresses.is_empty()
                || !addresses
                    .iter()
                    .all(|a| is_root(a) || gone.contains_key(*a))
            {
                continue;
            }
            let Some(root) = addresses
                .iter()
                .filter(|a| is_root(a) && !gone.contains_key(**a))
                .min()
                .copied()
            else {
                continue;
            };
            for key in on.iter().filter(|k| flushed_ipv4(k)) {
                if *key != root {
                    gone.entry(key).or_insert(root);
                }
            }
        }
    }
}

/// `Some(true)` for an IPv4 address, `Some(false)` for another address, `None` otherwise.
fn ipv4_address(key: &ObjectKey) -> Option<bool> {
    match key {
        ObjectKey::Address { cidr, .. } => Some(cidr.addr().is_ipv4()),
        _ => None,
    }
}

/// What the kernel flushes from a link that loses its last IPv4 address: IPv4 routes out of it
/// and IPv4 neighbour (ARP) entries on it.
fn flushed_ipv4(key: &ObjectKey) -> bool {
    match key {
        ObjectKey::Route { dst, .. } => dst.addr().is_ipv4(),
        ObjectKey::Neighbour { ip, .. } => ip.is_ipv4(),
        _ => false,
    }
}

fn link_key(ns: &Ns, name: &str) -> ObjectKey {
    ObjectKey::Link {
        ns: ns.clone(),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::{self as t, *};

    #[test]
    fn link_takes_its_entries_routes_and_vxlan_uppers() {
        let observed = state([
            bridge("br0"),
            address("host", "br0", "10.0.0.1/24"),
            route_via("host", "10.1.0.0/16", "10.0.0.2", "br0"),
            other_link("host", "eth0", "ether"),
            vxlan("vx0", 1, "br0"),
            neighbour("host", "vx0", "10.0.0.9", "02:00:00:00:00:09"),
        ]);
        let empty = State::default();
        let cascade = Cascade::new(&empty, &observed);
        let gone = cascade.gone(&[&t::link_key("host", "eth0")]);
        assert!(gone.contains_key(&t::link_key("host", "vx0")));
        assert!(
            gone.contains_key(&neighbour("host", "vx0", "10.0.0.9", "02:00:00:00:00:09").key())
        );
        assert!(!gone.contains_key(&t::link_key("host", "br0")));
        let gone = cascade.gone(&[&t::link_key("host", "br0")]);
        assert_eq!(gone.len(), 2, "{gone:?}");
    }

    #[test]
    fn last_ipv4_address_takes_the_links_ipv4_routes() {
        let (host, inner) = veth_pair("web", "veth1", "br0");
        let old = address("web", "eth0", "10.0.0.2/24");
        let default = route_via("web", "0.0.0.0/0", "10.0.0.1", "eth0");
        let other = route_via("web", "10.9.0.0/16", "10.0.0.1", "eth0");
        let v6 = route_via("web", "::/0", "fd00::1", "eth0");
        let elsewhere = route_via("host", "10.5.0.0/16", "10.0.0.9", "br0");
        let arp = neighbour("web", "eth0", "10.0.0.7", "02:00:00:00:00:07");
        let ndp = neighbour("web", "eth0", "fd00::7", "02:00:00:00:00:07");
        let observed = state([
            arp.clone(),
            ndp.clone(),
            host,
            inner,
            old.clone(),
            address("web", "eth0", "fd00::2/64"),
            default.clone(),
            other.clone(),
            v6.clone(),
            bridge("br0"),
            address("host", "br0", "10.0.0.1/24"),
            elsewhere.clone(),
        ]);
        let empty = State::default();
        let cascade = Cascade::new(&empty, &observed);
        let old_key = old.key();
        // `other` is itself deleted (a root): swept all the same, so its step is dropped.
        let gone = cascade.gone(&[&old_key, &other.key()]);
        assert_eq!(gone.get(&default.key()), Some(&old_key));
        assert_eq!(gone.get(&other.key()), Some(&old_key));
        assert_eq!(
            gone.get(&arp.key()),
            Some(&old_key),
            "ARP entries are flushed"
        );
        assert!(!gone.contains_key(&ndp.key()), "NDP entries survive");
        assert!(!gone.contains_key(&v6.key()), "IPv6 routes survive");
        assert!(!gone.contains_key(&elsewhere.key()));
        assert_eq!(gone.len(), 3, "{gone:?}");
    }

    #[test]
    fn a_remaining_ipv4_address_keeps_the_routes() {
        let old = address("web", "eth0", "10.0.0.2/24");
        let default = route_via("web", "0.0.0.0/0", "10.0.0.1", "eth0");
        let observed = state([
            other_link("web", "eth0", "veth"),
            old.clone(),
            unowned(address("web", "eth0", "10.1.0.2/24")),
            default.clone(),
        ]);
        let empty = State::default();
        let cascade = Cascade::new(&empty, &observed);
        assert!(cascade.gone(&[&old.key()]).is_empty());
        // Both addresses deleted: the route goes, credited to the first.
        let second = unowned(address("web", "eth0", "10.1.0.2/24")).key();
        let gone = cascade.gone(&[&second, &old.key()]);
        assert_eq!(gone.get(&default.key()), Some(&old.key().min(second)));
    }

    #[test]
    fn a_deleted_link_sweeps_its_routes_once() {
        // The link's own cascade takes the route; the address rule does not credit it twice.
        let link = other_link("web", "eth0", "veth");
        let old = address("web", "eth0", "10.0.0.2/24");
        let default = route_via("web", "0.0.0.0/0", "10.0.0.1", "eth0");
        let observed = state([link.clone(), old.clone(), default.clone()]);
        let empty = State::default();
        let cascade = Cascade::new(&empty, &observed);
        let gone = cascade.gone(&[&link.key(), &old.key()]);
        assert_eq!(gone.get(&default.key()), Some(&link.key()));
    }

    #[test]
    fn veth_pair_roots_keep_the_host_end() {
        let (host, inner) = veth_pair("c1", "veth1", "br0");
        let observed = state([host.clone(), inner.clone()]);
        let empty = State::default();
        let cascade = Cascade::new(&empty, &observed);
        let hk = host.key();
        let ik = inner.key();
        let gone = cascade.gone(&[&ik, &hk]);
        assert!(gone.contains_key(&ik));
        assert!(!gone.contains_key(&hk));
    }

    #[test]
    fn unreported_peer_is_assumed_only_when_consistent() {
        let (mut host, mut inner) = veth_pair("c1", "veth1", "br0");
        let desired = state([host.clone(), inner.clone()]);
        clear_peer(&mut host);
        clear_peer(&mut inner);
        let observed = state([host.clone(), inner.clone()]);
        let cascade = Cascade::new(&desired, &observed);
        assert_eq!(cascade.veth_peer(&host.key()), Some(&inner.key()));
        let observed = state([host.clone(), other_link("c1", "eth0", "dummy")]);
        let cascade = Cascade::new(&desired, &observed);
        assert_eq!(cascade.veth_peer(&host.key()), None);
    }

    #[test]
    fn namespace_takes_its_contents_and_host_veth_ends() {
        let (host, inner) = veth_pair("c1", "veth1", "br0");
        let observed = state([
            namespace("c1"),
            host.clone(),
            inner.clone(),
            address("c1", "eth0", "10.0.0.2/24"),
            bridge("br0"),
        ]);
        let empty = State::default();
        let cascade = Cascade::new(&empty, &observed);
        let gone = cascade.gone(&[&namespace("c1").key(), &host.key()]);
        assert!(
            gone.contains_key(&host.key()),
            "the host end goes with its peer"
        );
        assert!(gone.contains_key(&inner.key()));
        assert!(!gone.contains_key(&namespace("c1").key()));
        assert!(!gone.contains_key(&t::link_key("host", "br0")));
    }
}
