//! Attribute comparison of one desired object against the object the kernel has under the same
//! key: which attributes differ, and whether any of them forces a replace.
//!
//! Only attributes the desired side lists are compared: `Object::attributes` leaves out unknown
//! values (`mac: None` means "the kernel's choice"), so they can never show up as a change.

use super::step::Change;
use crate::state::{Link, LinkKind, Object};

/// The outcome of comparing one object pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Comparison {
    /// Nothing to do.
    Same,
    /// Attributes that can change in place.
    Update(Vec<Change>),
    /// At least one attribute cannot change in place; `reason` names the first one.
    Replace {
        reason: String,
        changes: Vec<Change>,
    },
}

/// Compare `desired` with `current` (same key).
pub(crate) fn compare(desired: &Object, current: &Object) -> Comparison {
    // Equal fields make equal attributes: skip rendering them (most objects of a converged
    // host, and of a fleet plan's unchanged hosts, are equal).
    if desired == current || same_link_but_unasked_ipv6(desired, current) {
        return Comparison::Same;
    }
    let current_attrs = current.attributes();
    let mut changes = Vec::new();
    let mut reason = None;
    for (name, want) in desired.attributes() {
        let have = current_attrs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone());
        // Observe leaves a veth's `peer` out when it could not pair both ends (the peer lives in a
        // namespace it did not read): unknown is not different.
        // Likewise a macvlan's parent in a namespace observe could not identify.
        // And IPv6 on a device where the kernel has none (built without IPv6, or the device
        // type has no IPv6): there is nothing to turn on or off.
        if matches!(name, "peer" | "parent" | "ipv6") && have.is_none() {
            continue;
        }
        if have.as_deref() == Some(want.as_str()) {
            continue;
        }
        if reason.is_none() && forces_replacement(desired, name) {
            reason = Some(format!("{name} cannot change in place"));
        }
        changes.push(Change {
            attribute: name.to_string(),
            from: have,
            to: Some(want),
        });
    }
    // For these attributes "not set" is itself a wanted value (no master, no gateway, not
    // onlink), unlike `mac: None` which means "the kernel's choice": a bridge port or a gateway
    // added by hand is drift.
    let wanted: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    let desired_names: Vec<&str> = desired.attributes().iter().map(|(n, _)| *n).collect();
    let mut removals = Vec::new();
    for (name, have) in &current_attrs {
        if absence_is_wanted(desired, name)
            && !desired_names.contains(name)
            && !wanted.contains(name)
        {
            removals.push(Change {
                attribute: name.to_string(),
                from: Some(have.clone()),
                to: None,
            });
        }
    }
    changes.extend(removals);
    match (reason, changes.is_empty()) {
        (_, true) => Comparison::Same,
        (Some(reason), false) => Comparison::Replace { reason, changes },
        (None, false) => Comparison::Update(changes),
    }
}

/// A link equal to the kernel's in everything but IPv6, which the desired side leaves to the
/// kernel (`ipv6: None`): the common case of a converged host's own links, decided without
/// rendering attributes. The destructuring makes a new `Link` field a compile error here.
fn same_link_but_unasked_ipv6(desired: &Object, current: &Object) -> bool {
    let (Object::Link(want), Object::Link(have)) = (desired, current) else {
        return false;
    };
    let Link {
        ns,
        name,
        kind,
        mac,
        mtu,
        master,
        up,
        ipv6,
        owned,
    } = want;
    ipv6.is_none()
        && *ns == have.ns
        && *name == have.name
        && *kind == have.kind
        && *mac == have.mac
        && *mtu == have.mtu
        && *master == have.master
        && *up == have.up
        && *owned == have.owned
}

/// Attributes whose absence on the desired side is a requirement, not "don't care".
fn absence_is_wanted(object: &Object, attribute: &str) -> bool {
    matches!(
        (object, attribute),
        (Object::Link(_), "master") | (Object::Route(_), "via" | "onlink")
    )
}

/// Whether changing `attribute` of (the desired) `object` needs delete + create. The kernel
/// cannot change a link's type, any VXLAN parameter (they are fixed at RTM_NEWLINK time), a
/// veth's peer, a macvlan's or VLAN's parent, or a VLAN id (a macvlan mode could change in
/// place, except to or from passthru; netplan-rs replaces the child, which is simpler and
/// safe); everything else netplan-rs manages has an in-place netlink request (link set,
/// route/neighbour/FDB replace, sysctl write).
pub(crate) fn forces_replacement(object: &Object, attribute: &str) -> bool {
    match object {
        Object::Link(link) => matches!(
            (&link.kind, attribute),
            (_, "type")
                | (LinkKind::Veth { .. }, "peer")
                | (
                    LinkKind::Vxlan(_),
                    "vni" | "local" | "dev" | "dstport" | "learning" | "proxy"
                )
                | (LinkKind::Macvlan(_), "mode" | "parent")
                | (LinkKind::Vlan(_), "vlan_id" | "parent")
        ),
        // A base chain's type, hook and priority are fixed at creation, and netplan-rs rewrites a
        // rule as a whole (delete by handle, append the new one).
        Object::NftChain(_) | Object::NftRule(_) => true,
        // A set's key type is fixed at creation; its elements are rewritten in place.
        Object::NftSet(_) => attribute == "type",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::*;

    #[test]
    fn a_master_added_by_hand_is_drift() {
        let mut current = bridge("br0");
        if let Object::Link(link) = &mut current {
            link.master = Some("br9".to_string());
        }
        match compare(&bridge("br0"), &current) {
            Comparison::Update(changes) => {
                assert_eq!(changes.len(), 1);
                assert_eq!(changes[0].attribute, "master");
                assert_eq!(changes[0].from.as_deref(), Some("br9"));
                assert_eq!(changes[0].to, None);
            }
            other => panic!("expected update, got {other:?}"),
        }
    }

    #[test]
    fn equal_objects_are_same() {
        assert_eq!(compare(&bridge("br0"), &bridge("br0")), Comparison::Same);
    }

    #[test]
    fn mtu_is_an_update() {
        let mut current = bridge("br0");
        set_mtu(&mut current, 1500);
        match compare(&bridge("br0"), &current) {
            Comparison::Update(changes) => {
                assert_eq!(changes.len(), 1);
                assert_eq!(changes[0].attribute, "mtu");
                assert_eq!(changes[0].from.as_deref(), Some("1500"));
                assert_eq!(changes[0].to.as_deref(), Some("1450"));
            }
            other => panic!("expected update, got {other:?}"),
        }
    }

    #[test]
    fn unknown_desired_mac_is_not_compared() {
        // bridge() has mac None; the kernel reports one.
        let mut current = bridge("br0");
        set_mac(&mut current, "0e:00:00:00:00:01");
        assert_eq!(compare(&bridge("br0"), &current), Comparison::Same);
    }

    #[test]
    fn vni_forces_replacement() {
        match compare(&vxlan("vx0", 200, "br0"), &vxlan("vx0", 100, "br0")) {
            Comparison::Replace { reason, changes } => {
                assert_eq!(reason, "vni cannot change in place");
                assert_eq!(changes[0].attribute, "vni");
            }
            other => panic!("expected replace, got {other:?}"),
        }
    }

    #[test]
    fn type_forces_replacement_and_is_named_first() {
        match compare(&vxlan("x", 1, "br0"), &bridge("x")) {
            Comparison::Replace { reason, .. } => assert_eq!(reason, "type cannot change in place"),
            other => panic!("expected replace, got {other:?}"),
        }
    }

    #[test]
    fn unreported_veth_peer_is_not_compared() {
        let (host, _) = veth_pair("c1", "veth1", "br0");
        let mut current = host.clone();
        clear_peer(&mut current);
        assert_eq!(compare(&host, &current), Comparison::Same);
    }

    #[test]
    fn different_veth_peer_forces_replacement() {
        let (host, _) = veth_pair("c1", "veth1", "br0");
        let (other, _) = veth_pair("c2", "veth1", "br0");
        assert!(matches!(compare(&host, &other), Comparison::Replace { .. }));
    }

    #[test]
    fn route_gateway_is_an_update() {
        let want = route_via("host", "10.244.20.0/24", "10.244.20.0", "vx0");
        let have = route_via("host", "10.244.20.0/24", "10.244.30.0", "vx0");
        assert!(matches!(compare(&want, &have), Comparison::Update(_)));
    }

    fn with_ipv6(object: Object, ipv6: Option<bool>) -> Object {
        match object {
            Object::Link(mut link) => {
                link.ipv6 = ipv6;
                Object::Link(link)
            }
            other => other,
        }
    }

    #[test]
    fn ipv6_is_switched_in_place_only_where_asked_and_where_the_kernel_has_it() {
        let link = |ipv6| with_ipv6(bridge("br0"), ipv6);
        match compare(&link(Some(false)), &link(Some(true))) {
            Comparison::Update(changes) => {
                assert_eq!(changes.len(), 1);
                assert_eq!(changes[0].attribute, "ipv6");
                assert_eq!(changes[0].from.as_deref(), Some("on"));
                assert_eq!(changes[0].to.as_deref(), Some("off"));
            }
            other => panic!("expected update, got {other:?}"),
        }
        // Left to the kernel: whatever it has is fine.
        assert_eq!(compare(&link(None), &link(Some(true))), Comparison::Same);
        assert_eq!(compare(&link(None), &link(Some(false))), Comparison::Same);
        // A kernel without IPv6 on the device has nothing to switch.
        assert_eq!(compare(&link(Some(false)), &link(None)), Comparison::Same);
        // Left to the kernel, other differences still count.
        let mut moved = link(Some(true));
        if let Object::Link(l) = &mut moved {
            l.mtu = Some(1400);
        }
        assert!(matches!(
            compare(&link(None), &moved),
            Comparison::Update(_)
        ));
    }
}
