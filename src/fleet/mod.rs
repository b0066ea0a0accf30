//! The offline fleet plan: what a new version of the topology file does to every host of the
//! fleet, computed from the file alone (no kernel, no root), for pull-request review.
//!
//! Each host's desired state is compiled from both versions; the base version's state, every
//! object marked owned, stands for the host's kernel ("the fleet converged on the base"), and
//! [`crate::plan::diff_compiled`] plans the way from it to the new one. A host only in the new
//! version starts from nothing (everything is added); a host only in the base is planned
//! towards nothing (everything it owns is destroyed). Without a base every host is new.
//!
//! Hosts are compiled on several threads ([`plan_fleet`]): at fleet size (1000 hosts) compiling
//! twice per host is the bulk of the work, hosts are independent and the topology is shared
//! read-only, so it scales with the cores (measured in `benches/plan_scale.rs`, part `fleet`).
//!
//! Rendering lives in [`render`]: text like `plan`'s per host plus a fleet summary, and a
//! versioned JSON document.

mod render;
#[cfg(test)]
mod tests;

pub use render::{JsonWriter, TextWriter, render_json, render_text};

use crate::compile::{CompileError, Compiler};
use crate::kernel::Target;
use crate::plan::Plan;
use crate::state::{Object, State};
use crate::topology::Topology;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a host figures in the two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    /// In both versions.
    Kept,
    /// Only in the new version (or there is no base).
    Added,
    /// Only in the base: everything netplan-rs owns there is destroyed.
    Removed,
}

impl HostStatus {
    /// The word the JSON format uses.
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Kept => "kept",
            HostStatus::Added => "added",
            HostStatus::Removed => "removed",
        }
    }
}

/// One host's part of the fleet plan.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub host: String,
    pub status: HostStatus,
    pub plan: Plan,
}

impl HostPlan {
    /// Whether applying the new version would change this host.
    pub fn changes(&self) -> bool {
        !self.plan.steps.is_empty() || !self.plan.conflicts.is_empty()
    }
}

/// Every host of both versions, in name order.
#[derive(Debug, Clone, Default)]
pub struct FleetPlan {
    pub hosts: Vec<HostPlan>,
}

/// Counts over the whole fleet, like `Plan::summary` per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetSummary {
    /// Hosts of either version.
    pub hosts: usize,
    /// Hosts with at least one step (or conflict).
    pub changing: usize,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl FleetSummary {
    /// Add one host's plan to the counts.
    pub fn count(&mut self, host: &HostPlan) {
        self.hosts += 1;
        if host.changes() {
            self.changing += 1;
        }
        let (add, change, destroy) = host.plan.summary();
        self.add += add;
        self.change += change;
        self.destroy += destroy;
    }
}

impl FleetPlan {
    pub fn summary(&self) -> FleetSummary {
        let mut sum = FleetSummary::default();
        for host in &self.hosts {
            sum.count(host);
        }
        sum
    }

    /// Whether any host changes (`--detailed-exitcode` exits 2).
    pub fn changes(&self) -> bool {
        self.hosts.iter().any(HostPlan::changes)
    }

    /// Whether any host's plan has conflicts (then nothing of it could be applied).
    pub fn has_conflicts(&self) -> bool {
        self.hosts.iter().any(|h| !h.plan.conflicts.is_empty())
    }
}

/// The fleet plan from `base` (`None`: an empty file) to `new`, compiled on as many threads as
/// the machine has cores, all hosts kept in memory (see [`for_each_host`] for a large fleet).
pub fn plan_fleet(base: Option<&Topology>, new: &Topology) -> Result<FleetPlan, CompileError> {
    plan_fleet_on(base, new, default_threads())
}

/// [`plan_fleet`] on `threads` threads (1: on the calling thread; the benchmark compares).
pub fn plan_fleet_on(
    base: Option<&Topology>,
    new: &Topology,
    threads: usize,
) -> Result<FleetPlan, CompileError> {
    let mut hosts = Vec::new();
    for_each_host(base, new, threads, |host| {
        hosts.push(host);
        ControlFlow::Continue(())
    })?;
    Ok(FleetPlan { hosts })
}

/// As many threads as the machine has cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Hosts planned per batch and thread: enough to keep every thread busy, few enough that a
/// batch's plans stay small in memory (a first rollout of 1000 hosts x 6000 objects, kept
/// whole, is gigabytes of steps).
const BATCH_PER_THREAD: usize = 16;

/// Plan every host of both versions and hand each plan to `emit` in name order, on `threads`
/// threads, a batch at a time: only one batch of plans is in memory. `emit` may stop early
/// (`ControlFlow::Break`, e.g. when stdout closed).
pub fn for_each_host(
    base: Option<&Topology>,
    new: &Topology,
    threads: usize,
    mut emit: impl FnMut(HostPlan) -> ControlFlow<()>,
) -> Result<(), CompileError> {
    let mut names: BTreeSet<&str> = new.hosts.keys().map(String::as_str).collect();
    if let Some(base) = base {
        names.extend(base.hosts.keys().map(String::as_str));
    }
    let names: Vec<&str> = names.into_iter().collect();
    let threads = threads.clamp(1, names.len().max(1));
    // IPAM, slices and MTUs once per version, not once per host.
    let base = base.map(Compiler::new);
    let new = Compiler::new(new);
    let (base, new) = (base.as_ref(), &new);
    for batch in names.chunks(threads * BATCH_PER_THREAD) {
        for host in plan_batch(base, new, batch, threads) {
            if emit(host?).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Plan `names` on `threads` threads; results in the order of `names`.
fn plan_batch(
    base: Option<&Compiler>,
    new: &Compiler,
    names: &[&str],
    threads: usize,
) -> Vec<Result<HostPlan, CompileError>> {
    if threads <= 1 {
        return names
            .iter()
            .map(|name| plan_host(base, new, name))
            .collect();
    }
    // Each worker takes the next host by index; results land in their host's slot, so the
    // order (by name) does not depend on which thread finished first.
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<HostPlan, CompileError>>>> =
        names.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(names.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let result = plan_host(base, new, name);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .zip(names)
        .map(|(slot, name)| match slot.into_inner().ok().flatten() {
            Some(result) => result,
            // Only if a worker died (a panic in compile): plan the host here instead, so the
            // failure shows as itself rather than as a missing host.
            None => plan_host(base, new, name),
        })
        .collect()
}

/// One host: compile both versions (as the host's real target names things) and diff them.
fn plan_host(
    base: Option<&Compiler>,
    new: &Compiler,
    host: &str,
) -> Result<HostPlan, CompileError> {
    let desired = compiled(Some(new), host)?;
    let before = compiled(base, host)?;
    let status = match (&before, &desired) {
        (None, _) => HostStatus::Added,
        (Some(_), None) => HostStatus::Removed,
        (Some(_), Some(_)) => HostStatus::Kept,
    };
    let desired = desired.unwrap_or_default();
    let observed = before.map(owned).unwrap_or_default();
    // Most hosts of a review are untouched: equal states need no diff (cheaper than one).
    let plan = if desired == observed {
        Plan::default()
    } else {
        let mut plan = crate::plan::diff_compiled(&desired, &observed);
        // The ordering DAG is for apply; a fleet plan is only read.
        plan.deps = Vec::new();
        plan.barriers = Vec::new();
        plan
    };
    Ok(HostPlan {
        host: host.to_string(),
        status,
        plan,
    })
}

/// `host`'s desired state in `topo`, named as `plan` on that host names it (a named scope has
/// its own nftables table); `None` when the version has no such host.
fn compiled(version: Option<&Compiler>, host: &str) -> Result<Option<State>, CompileError> {
    let Some(version) = version.filter(|v| v.topology().hosts.contains_key(host)) else {
        return Ok(None);
    };
    let state = version.compile(host)?;
    Ok(Some(
        Target::scoped(version.topology().scope(), None).localize(state),
    ))
}

/// `state` as the kernel of a host that applied it would read: every object marked as
/// netplan-rs's (sysctls are never owned: host settings, set but never removed). In place: the
/// keys do not change, and rebuilding the map cost as much as a compile.
fn owned(mut state: State) -> State {
    for object in state.objects.values_mut() {
        match object {
            Object::Namespace(o) => o.owned = true,
            Object::Sysctl(_) => {}
            Object::Link(o) => o.owned = true,
            Object::Address(o) => o.owned = true,
            Object::Neighbour(o) => o.owned = true,
            Object::Fdb(o) => o.owned = true,
            Object::Route(o) => o.owned = true,
            Object::NftTable(o) => o.owned = true,
            Object::NftChain(o) => o.owned = true,
            Object::NftSet(o) => o.owned = true,
            Object::NftRule(o) => o.owned = true,
        }
    }
    state
}
