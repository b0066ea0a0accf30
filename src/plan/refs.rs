//! Link references: every link a desired object names (a vxlan's `dev`, a macvlan's or VLAN's
//! `parent`, a link's `master`, a route's `dev`) must exist when its step runs. netplan-rs only
//! creates what the desired state holds, so a referenced link must be desired, or already be in
//! the kernel and stay there. Anything else would only fail at apply time ("no such link") after
//! earlier steps had run, leaving a half-applied host; here it becomes a plan conflict instead,
//! so `plan` reports it and `apply` refuses before touching anything.
//!
//! Generic over [`State`]: it reads the reference fields of the neutral model and knows no
//! driver. A veth's peer is not a reference to an existing link: both ends are created by the
//! same request, and a pair that does not describe itself consistently is reported by diff.

use super::step::Conflict;
use crate::state::{LinkKind, Ns, Object, ObjectKey, State};

/// Conflicts for references of desired objects to links that are neither desired nor present
/// (and kept) in `observed`, in desired-key order.
pub(super) fn missing_links(desired: &State, observed: &State) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    for (key, object) in &desired.objects {
        for (role, target) in references(object) {
            if let Some(problem) = unsatisfied(&target, desired, observed) {
                conflicts.push(Conflict {
                    key: key.clone(),
                    message: format!("{key}: {role} {target} {problem}"),
                });
            }
        }
    }
    conflicts
}

/// The links `object` names, with the attribute that names them. Veth peers are left out (see
/// the module doc).
fn references(object: &Object) -> Vec<(&'static str, ObjectKey)> {
    let link = |ns: &Ns, name: &str| ObjectKey::Link {
        ns: ns.clone(),
        name: name.to_string(),
    };
    let mut refs = Vec::new();
    match object {
        Object::Link(l) => {
            match &l.kind {
                LinkKind::Vxlan(v) => {
                    if let Some(dev) = &v.dev {
                        refs.push(("dev", link(&l.ns, dev)));
                    }
                }
                LinkKind::Macvlan(m) => {
                    if let Some(parent) = &m.parent {
                        refs.push(("parent", link(&parent.ns, &parent.name)));
                    }
                }
                LinkKind::Vlan(v) => {
                    if let Some(parent) = &v.parent {
                        refs.push(("parent", link(&l.ns, parent)));
                    }
                }
                LinkKind::Bridge | LinkKind::Veth { .. } | LinkKind::Other { .. } => {}
            }
            if let Some(master) = &l.master {
                refs.push(("master", link(&l.ns, master)));
            }
        }
        Object::Route(r) => refs.push(("dev", link(&r.ns, &r.dev))),
        // Addresses, neighbours and FDB entries sit on a link by key: the cascade and the order
        // already tie them to it, and compile only puts them on links it creates.
        _ => {}
    }
    refs
}

/// Why `target` will not exist when needed, or `None` when it will.
fn unsatisfied(target: &ObjectKey, desired: &State, observed: &State) -> Option<&'static str> {
    if desired.objects.contains_key(target) {
        return None;
    }
    // The kernel gives every namespace its own `lo`, and observe leaves it out of the state.
    if matches!(target, ObjectKey::Link { name, .. } if name == "lo") {
        return None;
    }
    match observed.get(target) {
        None => Some("does not exist on this host"),
        // Owned and no longer wanted: this same plan deletes it.
        Some(have) if have.owned() => {
            Some("is managed by netplan-rs but no longer in the topology, so this plan deletes it")
        }
        Some(_) => None,
    }
}
