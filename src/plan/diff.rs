//! Diff: desired state against observed state, producing unordered steps and conflicts.
//!
//! A keyed comparison over the two `BTreeMap`s (O(n) apart from map look-ups), plus the kernel's
//! side effects (see [`super::cascade`]): what a delete or replace takes along gets no step, and
//! what is wanted among it is created again. Veth pairs are planned as one unit, because the
//! kernel creates and deletes both ends together.
//!
//! Side effects feed back into decisions (a link swept away by another replace must be created,
//! which may turn its veth pair into a replace, which sweeps more away), so decisions are made in
//! rounds until the set of swept-away objects stops growing; it only grows, and in practice one
//! or two rounds suffice. The round count is capped so any input terminates.

use super::cascade::{Cascade, Swept};
use super::compare::{Comparison, compare};
use super::step::{Action, Change, Conflict, Replace, Step};
use crate::state::{LinkKind, Object, ObjectKey, State};
use std::collections::{BTreeMap, HashSet};

/// Upper bound on decision rounds; each round only adds swept-away objects.
const MAX_ROUNDS: usize = 16;

/// The result of diffing, before ordering.
pub(crate) struct Unordered {
    pub(crate) steps: Vec<Step>,
    pub(crate) conflicts: Vec<Conflict>,
    /// Observed objects swept away by another step, with the object whose deletion sweeps them.
    pub(crate) swept: Swept,
}

/// Unordered steps and conflicts for `desired` against `observed`.
pub(crate) fn diff_unordered(desired: &State, observed: &State) -> Unordered {
    let cascade = Cascade::new(desired, observed);
    // Owned objects the file no longer wants. Sysctls are never owned, so never deleted.
    let deletes: Vec<&ObjectKey> = observed
        .objects
        .iter()
        .filter(|(key, object)| object.owned() && !desired.objects.contains_key(*key))
        .map(|(key, _)| key)
        .collect();

    let mut gone = Swept::new();
    let mut decided = decide(desired, observed, &gone, &cascade);
    for _ in 0..MAX_ROUNDS {
        let mut roots = deletes.clone();
        roots.extend(decided.roots.iter());
        let next = cascade.gone(&roots);
        let before = gone.len();
        for (key, root) in next {
            // Keep the first sweeper: earlier rounds' decisions were built on it.
            gone.entry(key).or_insert(root);
        }
        if gone.len() == before {
            break;
        }
        decided = decide(desired, observed, &gone, &cascade);
    }

    let mut steps = decided.steps;
    for key in deletes {
        if gone.contains_key(key) || decided.deleted.contains(key) {
            continue;
        }
        if let Some(current) = observed.get(key) {
            steps.push(delete_step(current, observed, &cascade));
        }
    }
    Unordered {
        steps,
        conflicts: decided.conflicts,
        swept: gone,
    }
}

/// The outcome of one decision round over the desired objects.
#[derive(Default)]
struct Decided {
    steps: Vec<Step>,
    conflicts: Vec<Conflict>,
    /// Observed objects this round's steps delete (replaces, stray veth ends): cascade roots.
    roots: Vec<ObjectKey>,
    /// Keys that already got a delete step here (not to be deleted twice).
    deleted: HashSet<ObjectKey>,
}

/// Where one desired object stands against the kernel.
enum Status<'a> {
    /// Not in the kernel, or about to be swept away by another step.
    Missing,
    /// The name is taken by something netplan-rs does not own.
    Conflict,
    Same(&'a Object),
    Update(&'a Object, Vec<Change>),
    Replace(&'a Object, String, Vec<Change>),
}

fn status<'a>(key: &ObjectKey, want: &Object, observed: &'a State, gone: &Swept) -> Status<'a> {
    let Some(have) = observed.get(key) else {
        return Status::Missing;
    };
    // Checked before ownership: something another step sweeps away (even an unowned address on
    // a link we replace) is no longer in the way, so the wanted object is simply created.
    if gone.contains_key(key) {
        return Status::Missing;
    }
    if !have.owned() && !matches!(have, Object::Sysctl(_)) {
        return Status::Conflict;
    }
    match compare(want, have) {
        Comparison::Same => Status::Same(have),
        Comparison::Update(changes) => Status::Update(have, changes),
        Comparison::Replace { reason, changes } => Status::Replace(have, reason, changes),
    }
}

fn decide(desired: &State, observed: &State, gone: &Swept, cascade: &Cascade<'_>) -> Decided {
    let mut out = Decided::default();
    for (key, want) in &desired.objects {
        match veth_pair(desired, key, want) {
            Pair::NotVeth => single(&mut out, key, want, observed, gone),
            Pair::Broken(message) => out.conflicts.push(Conflict {
                key: key.clone(),
                message,
            }),
            Pair::Secondary => {}
            Pair::Primary(peer) => pair(&mut out, want, peer, observed, gone, cascade),
        }
    }
    reattach_ports(&mut out, desired, observed);
    out
}

/// Plan one non-veth object.
fn single(out: &mut Decided, key: &ObjectKey, want: &Object, observed: &State, gone: &Swept) {
    match status(key, want, observed, gone) {
        Status::Missing => out.steps.push(create_step(want, None)),
        Status::Conflict => out.conflicts.push(conflict(key)),
        Status::Same(_) => {}
        Status::Update(have, changes) => out.steps.push(update_step(want, have, changes)),
        Status::Replace(have, reason, changes) => {
            out.roots.push(key.clone());
            out.steps.push(Step::Replace(Replace {
                current: have.clone(),
                desired: want.clone(),
                changes,
                reason,
                peer: None,
            }));
        }
    }
}

/// Plan a veth pair from its primary end (`want`) and its peer's desired object.
fn pair(
    out: &mut Decided,
    want: &Object,
    peer: &Object,
    observed: &State,
    gone: &Swept,
    cascade: &Cascade<'_>,
) {
    let key = want.key();
    let peer_key = peer.key();
    let (primary, secondary) = (
        status(&key, want, observed, gone),
        status(&peer_key, peer, observed, gone),
    );
    if matches!(primary, Status::Conflict) || matches!(secondary, Status::Conflict) {
        // No step for either end: the pair can only be created or deleted as a whole.
        for (k, s) in [(&key, &primary), (&peer_key, &secondary)] {
            if matches!(s, Status::Conflict) {
                out.conflicts.push(conflict(k));
            }
        }
        return;
    }
    let needs_pair = |s: &Status| matches!(s, Status::Missing | Status::Replace(..));
    if matches!(primary, Status::Missing) && matches!(secondary, Status::Missing) {
        out.steps.push(create_step(want, Some(peer)));
        return;
    }
    if !needs_pair(&primary) && !needs_pair(&secondary) {
        for (w, s) in [(want, primary), (peer, secondary)] {
            if let Status::Update(have, changes) = s {
                out.steps.push(update_step(w, have, changes));
            }
        }
        return;
    }
    // One end is missing or must be replaced: deleting either end deletes both, so the pair is
    // replaced as a unit from whichever end the kernel has (the primary if it exists).
    let reason = match (&primary, &secondary) {
        (Status::Replace(_, reason, _), _) => reason.clone(),
        (_, Status::Replace(_, reason, _)) => format!("{reason} on peer {peer_key}"),
        (Status::Missing, _) => format!("veth peer {} missing", link_path(want)),
        _ => format!("veth peer {} missing", link_path(peer)),
    };
    let (current, changes) = match (primary, &secondary) {
        (Status::Same(have), _) => (have, Vec::new()),
        (Status::Update(have, changes), _) | (Status::Replace(have, _, changes), _) => {
            (have, changes)
        }
        (_, Status::Same(have) | Status::Update(have, _) | Status::Replace(have, _, _)) => {
            (*have, Vec::new())
        }
        // Unreachable given the checks above (one end exists); stay total anyway.
        _ => return,
    };
    let current_key = current.key();
    // If the existing secondary is not the kernel peer of the end we delete, deleting that end
    // does not take it along: it needs its own delete before the pair is created again.
    if current_key != peer_key
        && let Status::Same(stray) | Status::Update(stray, _) | Status::Replace(stray, _, _) =
            secondary
        && cascade.veth_peer(&current_key) != Some(&peer_key)
    {
        out.roots.push(peer_key.clone());
        out.deleted.insert(peer_key.clone());
        out.steps.push(delete_step(stray, observed, cascade));
    }
    out.roots.push(current_key);
    out.steps.push(Step::Replace(Replace {
        current: current.clone(),
        desired: want.clone(),
        changes,
        reason,
        peer: Some(peer.clone()),
    }));
}

/// How a desired object takes part in a veth pair.
enum Pair<'a> {
    NotVeth,
    /// The end that carries the pair's step; holds the other end.
    Primary(&'a Object),
    /// Planned with its primary.
    Secondary,
    /// The desired state does not describe a pair (compile bug or hand-made state).
    Broken(String),
}

fn veth_pair<'a>(desired: &'a State, key: &ObjectKey, want: &Object) -> Pair<'a> {
    let Object::Link(link) = want else {
        return Pair::NotVeth;
    };
    let LinkKind::Veth { peer } = &link.kind else {
        return Pair::NotVeth;
    };
    let Some(peer) = peer else {
        return Pair::Broken(format!("{key} is a veth without a peer in the topology"));
    };
    let peer_key = ObjectKey::Link {
        ns: peer.ns.clone(),
        name: peer.name.clone(),
    };
    let points_back = |o: &Object| match o {
        Object::Link(l) => matches!(&l.kind, LinkKind::Veth { peer: Some(p) }
            if p.ns == link.ns && p.name == link.name),
        _ => false,
    };
    match desired.get(&peer_key) {
        Some(other) if peer_key != *key && points_back(other) => {
            // Ns::Host sorts first, so the lesser key is the host end when there is one.
            if *key < peer_key {
                Pair::Primary(other)
            } else {
                Pair::Secondary
            }
        }
        _ => Pair::Broken(format!(
            "{key} is a veth whose peer {peer_key} is not a veth pointing back at it"
        )),
    }
}

/// Replacing a bridge detaches its ports (the kernel does not delete them): ports that would
/// otherwise keep their step (or have none) must be enslaved again.
fn reattach_ports(out: &mut Decided, desired: &State, observed: &State) {
    let mut recreated: HashSet<ObjectKey> = HashSet::new();
    let mut has_create: HashSet<ObjectKey> = HashSet::new();
    for step in &out.steps {
        for end in step.made() {
            let k = end.key();
            let exists = observed.objects.contains_key(&k);
            match step.action() {
                Action::Replace => {
                    recreated.insert(k.clone());
                    has_create.insert(k);
                }
                Action::Create => {
                    if exists {
                        recreated.insert(k.clone());
                    }
                    has_create.insert(k);
                }
                _ => {}
            }
        }
    }
    if recreated.is_empty() {
        return;
    }
    let mut index: BTreeMap<ObjectKey, usize> = out
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.action() == Action::Update)
        .map(|(i, s)| (s.key(), i))
        .collect();
    for (key, want) in &desired.objects {
        let Object::Link(link) = want else { continue };
        let Some(master) = &link.master else { continue };
        let master_key = ObjectKey::Link {
            ns: link.ns.clone(),
            name: master.clone(),
        };
        if !recreated.contains(&master_key) || has_create.contains(key) {
            continue;
        }
        let Some(have) = observed.get(key) else {
            continue;
        };
        if !have.owned() || out.deleted.contains(key) {
            continue;
        }
        let change = Change {
            attribute: "master".to_string(),
            from: None,
            to: Some(master.clone()),
        };
        match index.get(key) {
            Some(&i) => {
                if let Step::Update(update) = &mut out.steps[i] {
                    update.changes.retain(|c| c.attribute != "master");
                    update.changes.push(change);
                }
            }
            None => {
                index.insert(key.clone(), out.steps.len());
                out.steps.push(update_step(want, have, vec![change]));
            }
        }
    }
}

/// `ns/name` of a link, as veth peers are named in plans.
fn link_path(object: &Object) -> String {
    match object {
        Object::Link(l) => format!("{}/{}", l.ns, l.name),
        other => other.key().to_string(),
    }
}

fn conflict(key: &ObjectKey) -> Conflict {
    Conflict {
        key: key.clone(),
        message: format!(
            "{key} exists and is not managed by netplan-rs under this scope (made by hand, by \
             another tool, or by another topology scope or lab); rename or remove it, or change \
             the topology"
        ),
    }
}

fn create_step(want: &Object, peer: Option<&Object>) -> Step {
    Step::create(want.clone(), peer.cloned())
}

fn update_step(want: &Object, have: &Object, changes: Vec<Change>) -> Step {
    Step::update(have.clone(), want.clone(), changes)
}

/// Delete `have`; for a veth end, the observed other end goes with it (the kernel deletes both),
/// recorded so that the step's inverse re-creates the pair.
fn delete_step(have: &Object, observed: &State, cascade: &Cascade<'_>) -> Step {
    let peer = cascade
        .veth_peer(&have.key())
        .and_then(|peer| observed.get(peer))
        .cloned();
    Step::delete(have.clone(), peer)
}
