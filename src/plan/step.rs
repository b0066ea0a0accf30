//! Plan steps: one change to one kernel object. Each action is its own type holding exactly the
//! objects it needs (a create has no "current", a delete no "desired"), so the executor never
//! checks at run time whether a field is there, and every step knows its own inverse.

use crate::state::{Object, ObjectKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    /// Change attributes in place (`changes` lists them).
    Update,
    Delete,
    /// Delete then create, because an attribute cannot change in place (`reason` says which).
    Replace,
}

/// One attribute that differs between the current and the desired object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: String,
    /// `None` when the current object does not report the attribute.
    pub from: Option<String>,
    /// `None` when the desired object does not set it.
    pub to: Option<String>,
}

impl Change {
    /// The same change, the other way round.
    fn reversed(&self) -> Change {
        Change {
            attribute: self.attribute.clone(),
            from: self.to.clone(),
            to: self.from.clone(),
        }
    }
}

/// Bring an object into existence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Create {
    pub object: Object,
    /// Only for a veth pair: the other end, created by the same request (it has no step of its
    /// own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Object>,
}

/// Change attributes of an existing object in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The object as the kernel has it.
    pub current: Object,
    /// The object as the file wants it (same key).
    pub desired: Object,
    pub changes: Vec<Change>,
}

/// Remove an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    pub current: Object,
    /// Only for one end of a veth pair: the other end, as observed, which the kernel deletes
    /// with it. Kept so that the inverse re-creates the whole pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Object>,
}

/// Delete, then create, because an attribute cannot change in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replace {
    /// The object deleted. For a veth pair replaced from its other end, that end (its key then
    /// differs from the step's).
    pub current: Object,
    /// The object created; its key is the step's.
    pub desired: Object,
    pub changes: Vec<Change>,
    /// Why it cannot change in place, e.g. "vni cannot change in place".
    pub reason: String,
    /// Only for a veth pair: the other end of the new pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Object>,
}

/// One change to one object. Serialized with its action as a tag:
/// `{"action": "create", "object": ..., "peer": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    Create(Create),
    Update(Update),
    Delete(Delete),
    Replace(Replace),
}

impl Step {
    pub fn create(object: Object, peer: Option<Object>) -> Step {
        Step::Create(Create { object, peer })
    }

    pub fn update(current: Object, desired: Object, changes: Vec<Change>) -> Step {
        Step::Update(Update {
            current,
            desired,
            changes,
        })
    }

    pub fn delete(current: Object, peer: Option<Object>) -> Step {
        Step::Delete(Delete { current, peer })
    }

    pub fn action(&self) -> Action {
        match self {
            Step::Create(_) => Action::Create,
            Step::Update(_) => Action::Update,
            Step::Delete(_) => Action::Delete,
            Step::Replace(_) => Action::Replace,
        }
    }

    /// The identity of the object the step is about: the created, updated or deleted object;
    /// for a replace, the object it creates.
    pub fn key(&self) -> ObjectKey {
        self.object().key()
    }

    /// The object named by [`Step::key`].
    pub fn object(&self) -> &Object {
        match self {
            Step::Create(c) => &c.object,
            Step::Update(u) => &u.desired,
            Step::Delete(d) => &d.current,
            Step::Replace(r) => &r.desired,
        }
    }

    /// The object as the file wants it: what a create, update or replace leaves in the kernel.
    pub fn desired(&self) -> Option<&Object> {
        match self {
            Step::Create(c) => Some(&c.object),
            Step::Update(u) => Some(&u.desired),
            Step::Replace(r) => Some(&r.desired),
            Step::Delete(_) => None,
        }
    }

    /// The object as the kernel has it before the step (update, delete, replace).
    pub fn current(&self) -> Option<&Object> {
        match self {
            Step::Create(_) => None,
            Step::Update(u) => Some(&u.current),
            Step::Delete(d) => Some(&d.current),
            Step::Replace(r) => Some(&r.current),
        }
    }

    /// The peer end a create or replace makes together with a veth end.
    pub fn peer(&self) -> Option<&Object> {
        match self {
            Step::Create(c) => c.peer.as_ref(),
            Step::Replace(r) => r.peer.as_ref(),
            Step::Update(_) | Step::Delete(_) => None,
        }
    }

    /// The objects the step brings into existence or changes: desired object and peer.
    pub fn made(&self) -> impl Iterator<Item = &Object> {
        self.desired().into_iter().chain(self.peer())
    }

    /// Attribute changes (update, replace).
    pub fn changes(&self) -> &[Change] {
        match self {
            Step::Update(u) => &u.changes,
            Step::Replace(r) => &r.changes,
            Step::Create(_) | Step::Delete(_) => &[],
        }
    }

    /// Why a replace is needed.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Step::Replace(r) => Some(&r.reason),
            _ => None,
        }
    }

    /// A step from its parts, for tests: `desired` for create, update and replace, `current`
    /// for update, delete and replace. Panics when one is missing.
    #[cfg(test)]
    pub(crate) fn from_parts(
        action: Action,
        desired: Option<Object>,
        current: Option<Object>,
    ) -> Step {
        let (d, c) = (desired.clone(), current.clone());
        match action {
            Action::Create => Step::create(desired.expect("desired"), None),
            Action::Delete => Step::delete(current.expect("current"), None),
            Action::Update => Step::update(c.expect("current"), d.expect("desired"), Vec::new()),
            Action::Replace => Step::Replace(Replace {
                current: c.expect("current"),
                desired: d.expect("desired"),
                changes: Vec::new(),
                reason: "test".into(),
                peer: None,
            }),
        }
    }

    /// The step that undoes this one: a create's inverse deletes what it made (both ends of a
    /// pair), a delete's re-creates what it removed (with the peer it recorded), an update and
    /// a replace swap their sides. A replace of a veth pair made from its other end cannot name
    /// the old pair's second end, so its inverse re-creates the end it deleted only.
    pub fn inverse(&self) -> Step {
        match self {
            Step::Create(c) => Step::delete(c.object.clone(), c.peer.clone()),
            Step::Delete(d) => Step::create(d.current.clone(), d.peer.clone()),
            Step::Update(u) => Step::update(
                u.desired.clone(),
                u.current.clone(),
                u.changes.iter().map(Change::reversed).collect(),
            ),
            Step::Replace(r) => Step::Replace(Replace {
                current: r.desired.clone(),
                desired: r.current.clone(),
                changes: r.changes.iter().map(Change::reversed).collect(),
                reason: r.reason.clone(),
                peer: None,
            }),
        }
    }
}

/// A wanted object that cannot be planned, e.g. its name is taken by an object netplan-rs does not
/// own. Any conflict makes `plan` and `apply` fail before anything is changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub key: ObjectKey,
    pub message: String,
}

/// What the kernel does on its own when a step runs: the step that deletes or replaces `by`
/// also removes `object` (or, when `detached`, detaches that port from it). `recreated` says
/// the plan puts it back (creates it again, or enslaves it again) later in the same apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideEffect {
    /// The key of the step that causes it.
    pub by: ObjectKey,
    pub object: ObjectKey,
    pub detached: bool,
    pub recreated: bool,
}

/// An ordered list of steps (dependencies first), the ordering DAG they were sorted by, and the
/// conflicts that block the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The ordering DAG (see `plan::order`): for each step, what it waits for, ascending: an
    /// entry below `steps.len()` is a step (lower than its own index), an entry `steps.len() +
    /// b` stands for every step of `barriers[b]`. Apply cuts its waves along these edges. Empty
    /// for a plan made by hand, which then runs one step at a time.
    #[serde(default)]
    pub deps: Vec<Vec<usize>>,
    /// Groups of steps that other steps wait for as a whole (every neighbour and FDB entry on a
    /// device, for the routes through it; every address of a namespace), each listed once
    /// instead of in every waiting step's `deps`: a thousand routes behind two thousand entries
    /// would otherwise list two million. Ascending step indices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub barriers: Vec<Vec<usize>>,
    pub conflicts: Vec<Conflict>,
    /// Kernel side effects of the steps (see `plan::effects`), for the reader of the plan; the
    /// steps already account for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub side_effects: Vec<SideEffect>,
}

impl Plan {
    /// The side effects of the step with key `key`.
    pub fn effects_of(&self, key: &ObjectKey) -> impl Iterator<Item = &SideEffect> {
        let key = key.clone();
        self.side_effects.iter().filter(move |e| e.by == key)
    }

    /// The effect that removes `key`, if a step of this plan takes it along.
    pub fn removed_by(&self, key: &ObjectKey) -> Option<&SideEffect> {
        self.side_effects
            .iter()
            .find(|e| e.object == *key && !e.detached)
    }
}

impl Plan {
    /// A plan of `steps` without an ordering DAG (hand-made: it runs one step at a time).
    pub fn from_steps(steps: Vec<Step>) -> Plan {
        Plan {
            steps,
            ..Plan::default()
        }
    }

    /// The DAG is present and consistent with the order of the steps (every edge points back,
    /// through a barrier too).
    pub fn has_dag(&self) -> bool {
        let n = self.steps.len();
        // The last member of each barrier (`None`: empty), or `Err` for a member past the end.
        let last: Vec<Result<Option<usize>, ()>> = self
            .barriers
            .iter()
            .map(|members| match members.iter().max() {
                Some(&m) if m >= n => Err(()),
                other => Ok(other.copied()),
            })
            .collect();
        self.deps.len() == n
            && self.deps.iter().enumerate().all(|(i, d)| {
                d.iter().all(|&j| match j.checked_sub(n) {
                    None => j < i,
                    Some(b) => matches!(last.get(b), Some(Ok(l)) if l.is_none_or(|l| l < i)),
                })
            })
    }

    /// Every step that step `i` waits for, barriers expanded: ascending, without duplicates.
    pub fn waits_for(&self, i: usize) -> Vec<usize> {
        let n = self.steps.len();
        let mut all: Vec<usize> = Vec::new();
        for &j in self.deps.get(i).map_or(&[][..], Vec::as_slice) {
            match j.checked_sub(n) {
                None => all.push(j),
                Some(b) => all.extend(self.barriers.get(b).into_iter().flatten()),
            }
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// (to add, to change, to destroy), counted like terraform: a replace adds one and destroys one.
    pub fn summary(&self) -> (usize, usize, usize) {
        let (mut add, mut change, mut destroy) = (0, 0, 0);
        for step in &self.steps {
            match step.action() {
                Action::Create => add += 1,
                Action::Update => change += 1,
                Action::Delete => destroy += 1,
                Action::Replace => {
                    add += 1;
                    destroy += 1;
                }
            }
        }
        (add, change, destroy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::*;
    use crate::state::State;

    #[test]
    fn every_action_has_an_inverse_that_undoes_it() {
        let (host_end, peer) = veth_pair("c1", "vethc1", "br0");
        let create = Step::create(host_end.clone(), Some(peer.clone()));
        assert_eq!(
            create.inverse(),
            Step::delete(host_end.clone(), Some(peer.clone()))
        );
        assert_eq!(create.inverse().inverse(), create);

        let update = Step::update(
            vxlan("vx", 1, "br0"),
            vxlan("vx", 1, "br1"),
            vec![Change {
                attribute: "master".into(),
                from: Some("br0".into()),
                to: Some("br1".into()),
            }],
        );
        let Step::Update(back) = update.inverse() else {
            panic!("the inverse of an update is an update");
        };
        assert_eq!(back.desired, vxlan("vx", 1, "br0"));
        assert_eq!(back.changes[0].to.as_deref(), Some("br0"));
        assert_eq!(update.inverse().inverse(), update);

        let replace = Step::Replace(Replace {
            current: vxlan("vx", 1, "br0"),
            desired: vxlan("vx", 2, "br0"),
            changes: Vec::new(),
            reason: "vni cannot change in place".into(),
            peer: None,
        });
        assert_eq!(replace.inverse().desired(), Some(&vxlan("vx", 1, "br0")));
        assert_eq!(replace.inverse().inverse(), replace);
    }

    #[test]
    fn a_deleted_veth_records_its_peer_so_the_inverse_recreates_the_pair() {
        let (host_end, peer) = veth_pair("c1", "vethc1", "br0");
        let observed = state([
            namespace("c1"),
            bridge("br0"),
            host_end.clone(),
            peer.clone(),
        ]);
        // The namespace and bridge stay (deleting them would take the pair along).
        let desired = state([namespace("c1"), bridge("br0")]);
        let plan = crate::plan::diff(&desired, &observed);
        let delete = plan
            .steps
            .iter()
            .find(|s| s.key() == host_end.key() || s.key() == peer.key())
            .expect("one step for the pair");
        let Step::Delete(d) = delete else {
            panic!("{delete:?}");
        };
        assert!(d.peer.is_some(), "{d:?}");
        let Step::Create(c) = delete.inverse() else {
            panic!("inverse of a delete is a create");
        };
        let mut ends = [c.object.key(), c.peer.expect("peer").key()];
        ends.sort();
        let mut want = [host_end.key(), peer.key()];
        want.sort();
        assert_eq!(ends, want);
    }

    #[test]
    fn a_plan_round_trips_through_json_with_its_dag() {
        let (host_end, peer) = veth_pair("c1", "vethc1", "br0");
        let desired = state([
            namespace("c1"),
            bridge("br0"),
            host_end,
            peer,
            address("host", "br0", "10.0.0.1/24"),
        ]);
        let plan = crate::plan::diff(&desired, &State::default());
        assert!(plan.has_dag());
        assert!(plan.deps.iter().any(|d| !d.is_empty()));
        let json = serde_json::to_string(&plan).expect("serialize");
        assert!(json.contains(r#""action":"create""#), "{json}");
        let back: Plan = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, plan);
    }
}
