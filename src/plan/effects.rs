//! Side effects the plan text must own up to: a step that deletes or replaces an object also
//! removes what the kernel removes with it (a link's addresses, entries and routes, a
//! namespace's contents, a link's IPv4 routes and ARP entries with its last IPv4 address, see
//! [`super::cascade`]), and replacing a link detaches the ports enslaved to it. Each effect names the step that
//! causes it and whether the plan puts the object back, so a reviewer sees that the default
//! route vanishing with an old address is expected and repaired in the same apply.

use super::cascade::Swept;
use super::step::{Replace, SideEffect, Step};
use crate::state::{Object, ObjectKey, State};
use std::collections::{HashMap, HashSet};

/// The side effects of `steps` (ordered or not), sorted by causing step then object.
pub(crate) fn side_effects(steps: &[Step], swept: &Swept, observed: &State) -> Vec<SideEffect> {
    // The objects delete steps remove.
    let mut causes: HashSet<ObjectKey> = HashSet::new();
    // What the plan creates (again), and which links it enslaves again.
    let mut recreated: HashSet<ObjectKey> = HashSet::new();
    let mut reattached: HashSet<ObjectKey> = HashSet::new();
    for step in steps {
        // Replaces are found by the object they delete (`replaced_from` below).
        match step {
            Step::Delete(d) => {
                causes.insert(d.current.key());
            }
            Step::Create(_) | Step::Replace(_) => recreated.extend(step.made().map(Object::key)),
            Step::Update(u) => {
                if u.changes.iter().any(|c| c.attribute == "master") {
                    reattached.insert(u.desired.key());
                }
            }
        }
    }
    // Replace steps by the object they delete: the kernel's object, which for a veth pair
    // replaced from its other end is not the step's key.
    let replaced_from: HashMap<ObjectKey, ObjectKey> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Replace(r) => Some((r.current.key(), r.desired.key())),
            _ => None,
        })
        .collect();
    // The step (by its key) that removes `root`, following chains of swept roots (bounded).
    let step_for = |root: &ObjectKey| -> Option<ObjectKey> {
        let mut root = root.clone();
        for _ in 0..=swept.len() {
            if let Some(key) = replaced_from.get(&root) {
                return Some(key.clone());
            }
            if causes.contains(&root) {
                return Some(root);
            }
            root = swept.get(&root)?.clone();
        }
        None
    };

    let mut out: Vec<SideEffect> = swept
        .iter()
        .filter_map(|(key, root)| {
            let by = step_for(root)?;
            Some(SideEffect {
                by,
                object: key.clone(),
                detached: false,
                recreated: recreated.contains(key),
            })
        })
        .collect();

    // Ports of a replaced link: the kernel keeps them but detaches them from the deleted master.
    for step in steps {
        let Step::Replace(Replace {
            current: Object::Link(master),
            desired,
            ..
        }) = step
        else {
            continue;
        };
        for (key, object) in &observed.objects {
            let Object::Link(port) = object else { continue };
            if port.ns != master.ns
                || port.master.as_deref() != Some(master.name.as_str())
                || swept.contains_key(key)
            {
                continue;
            }
            out.push(SideEffect {
                by: desired.key(),
                object: key.clone(),
                detached: true,
                recreated: reattached.contains(key) || recreated.contains(key),
            });
        }
    }
    out.sort_by(|a, b| (&a.by, &a.object).cmp(&(&b.by, &b.object)));
    out
}
