//! Planning: diff desired against observed state, order the steps (petgraph DAG), render them.
//!
//! - [`diff`] compares the two states key by key and accounts for what the kernel does on its own
//!   (a deleted link takes its addresses along, a veth pair lives and dies as one);
//! - `order` sorts the steps along kernel dependencies, deletions first, and hands the DAG it
//!   sorted by to the plan (`Plan::deps`), which apply cuts into waves;
//! - `effects` lists what each step takes along (for the reader: "deleting this address also
//!   removes route web/0.0.0.0/0; it is re-created");
//! - [`render_text`] and [`render_json`] print a plan for people and for programs.
//!
//! A destroy plan is `diff(&State::default(), &observed)`: it deletes every owned object.
//!
//! Rules, in short:
//! - wanted and missing: create; wanted and owned: update in place, or replace when an attribute
//!   cannot change in place (link type, any vxlan parameter, a veth's peer); wanted but taken by
//!   an object netplan-rs does not own: a conflict, no step. Sysctls are never owned: set when
//!   they differ, never deleted.
//! - owned and no longer wanted: delete; not owned: left alone.
//! - a wanted vxlan whose VNI and port an unowned vxlan of another name holds: a conflict
//!   naming it (module `vxlan_clash`; the kernel allows one per namespace).
//! - a link a wanted object names (vxlan `dev`, macvlan/VLAN `parent`, `master`, route `dev`)
//!   must be wanted too, or exist on the host and stay: otherwise a conflict (module `refs`).
//! - a veth pair is one step on its host end (or lesser key) with `peer` set: created together,
//!   replaced together when one end is missing or must be replaced.
//! - what the kernel removes by itself (a link's addresses, entries and routes, a namespace's
//!   contents, a veth's peer) gets no delete step, and is created again when still wanted.
//! - steps are ordered deletions first (dependents first), then sysctls, then creations, updates
//!   and replaces along kernel dependencies; ties by key, so output is stable.

mod cascade;
mod compare;
mod diff;
mod effects;
mod order;
mod refs;
mod render_json;
mod render_text;
pub mod saved;
mod step;
mod vxlan_clash;

pub(crate) use order::dependencies;
#[cfg(test)]
pub(crate) use order::step_dependencies;
pub use render_json::render_json;
pub(crate) use render_json::{Document as JsonDocument, json_document};
pub use render_text::render_text;
pub use step::{Action, Change, Conflict, Create, Delete, Plan, Replace, SideEffect, Step, Update};

#[cfg(test)]
pub(crate) mod tests;

use crate::state::State;

/// The plan that makes `observed` (the kernel) match `desired` (the topology), steps in execution
/// order. Conflicts (wanted names taken by objects netplan-rs does not own, which get no steps;
/// links a wanted object refers to that neither the file nor the host provides, see [`refs`])
/// are reported in [`Plan::conflicts`]; a plan with conflicts must not be applied.
#[tracing::instrument(name = "diff", level = "info", skip_all)]
pub fn diff(desired: &State, observed: &State) -> Plan {
    let unordered = diff::diff_unordered(desired, observed);
    let mut conflicts = unordered.conflicts;
    conflicts.extend(refs::missing_links(desired, observed));
    conflicts.extend(vxlan_clash::conflicts(desired, observed));
    let (steps, dag) = order::order(unordered.steps, &unordered.swept);
    let side_effects = effects::side_effects(&steps, &unordered.swept, observed);
    Plan {
        steps,
        deps: dag.deps,
        barriers: dag.barriers,
        conflicts,
        side_effects,
    }
}

/// The plan between two compiled states, for the offline fleet plan ([`crate::fleet`]):
/// `base` (the desired state of an older version of the file, every object marked owned) stands
/// for the kernel. Unlike [`diff`], no check that needs a real kernel runs: whether a link a
/// wanted object names (a vxlan's `dev: eth0`) exists, or an unowned vxlan holds a VNI, is only
/// known on the host itself.
pub fn diff_compiled(desired: &State, base: &State) -> Plan {
    let unordered = diff::diff_unordered(desired, base);
    let (steps, dag) = order::order(unordered.steps, &unordered.swept);
    let side_effects = effects::side_effects(&steps, &unordered.swept, base);
    Plan {
        steps,
        deps: dag.deps,
        barriers: dag.barriers,
        conflicts: unordered.conflicts,
        side_effects,
    }
}

/// A plan of hand-picked `steps`, sorted and given its DAG like one made by [`diff`] (without the
/// side effects, which need the observed state): for tools and tests that build steps themselves.
pub fn sorted(steps: Vec<Step>) -> Plan {
    let (steps, dag) = order::order(steps, &cascade::Swept::new());
    Plan {
        steps,
        deps: dag.deps,
        barriers: dag.barriers,
        ..Plan::default()
    }
}
