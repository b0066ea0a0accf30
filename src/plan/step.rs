//! Plan steps: one change to one kernel object. A step carries both the desired and the current
//! object, so it knows its own inverse (the seam for rollback) and the executor needs nothing else.

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub action: Action,
    pub key: ObjectKey,
    /// The object as the file wants it (create, update, replace).
    pub desired: Option<Object>,
    /// The object as the kernel has it (update, delete, replace).
    pub current: Option<Object>,
    /// Attribute changes (update, replace).
    pub changes: Vec<Change>,
    /// Why a replace is needed, e.g. "vni cannot change in place".
    pub reason: Option<String>,
    /// Only for creating a veth pair: the peer end, created by the same request. The peer has no
    /// step of its own.
    pub peer: Option<Object>,
}

impl Step {
    /// The inverse step: what undoes this one (create <-> delete; update and replace swap sides).
    pub fn inverse(&self) -> Step {
        let action = match self.action {
            Action::Create => Action::Delete,
            Action::Delete => Action::Create,
            other => other,
        };
        Step {
            action,
            key: self.key.clone(),
            desired: self.current.clone(),
            current: self.desired.clone(),
            changes: self
                .changes
                .iter()
                .map(|c| Change {
                    attribute: c.attribute.clone(),
                    from: c.to.clone(),
                    to: c.from.clone(),
                })
                .collect(),
            reason: self.reason.clone(),
            peer: None,
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

/// An ordered list of steps (dependencies first) plus the conflicts that block it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
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
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// (to add, to change, to destroy), counted like terraform: a replace adds one and destroys one.
    pub fn summary(&self) -> (usize, usize, usize) {
        let (mut add, mut change, mut destroy) = (0, 0, 0);
        for step in &self.steps {
            match step.action {
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
