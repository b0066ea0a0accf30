//! Applying a plan: execute its steps in order against the kernel, then verify by observing the
//! kernel again and re-diffing against the desired state. What is left (a kernel side effect the
//! plan did not model) is run too, for a bounded number of rounds ([`apply`]); anything still
//! not converged is reported.
//!
//! Steps run in waves ([`waves`]): the steps of a wave depend on nothing in it, so its netlink
//! steps are sent concurrently on the per-namespace connections, then its nftables runs (each
//! run of consecutive nftables steps of one namespace is one transaction, [`groups`]: all of it
//! or nothing). Progress is reported in plan order. A failed step stops the run: the rest of its
//! wave completes (and is reported, applied or failed), no later wave starts. The error says
//! exactly which steps were applied. Rollback of other steps is a later feature: every [`Step`]
//! already knows its inverse.

mod bridge_up;
mod groups;
pub mod journal;
pub mod transaction;
mod waves;

pub use groups::{Group, groups};
pub use transaction::{Options, RollbackReport, TransactionFailure, run};
pub use waves::waves;

use crate::kernel::{Kernel, KernelError};
use crate::plan::{self, Plan, Step};
use crate::state::State;
use std::collections::HashMap;
use tracing::Instrument;

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    /// Steps run after the plan because the kernel still differed (see [`apply`]): side effects
    /// the plan did not model.
    pub repaired: usize,
    /// Steps still needed after apply (empty when the kernel converged).
    pub remaining: Plan,
}

/// A step that failed, with the steps that were applied.
#[derive(Debug, thiserror::Error)]
#[error("step {index} of {total} failed: {source}{}", batch_note(.batch))]
pub struct ApplyError {
    /// The failing step (numbered from 1); the first in plan order when several failed.
    pub index: usize,
    pub total: usize,
    pub step: Box<Step>,
    /// How many steps were applied: `applied.len()`.
    pub done: usize,
    /// The steps applied (numbered from 1, ascending). Steps run concurrently, so these are not
    /// necessarily the first `done` of the plan: steps after the failing one in plan order, but
    /// in its wave, may have been applied too.
    pub applied: Vec<usize>,
    /// Other steps of the same wave that failed too (numbered from 1, ascending).
    pub also_failed: Vec<usize>,
    /// The nftables transaction the step was part of, if any.
    pub batch: Option<NftBatch>,
    #[source]
    pub source: KernelError,
}

impl ApplyError {
    /// What was applied, e.g. "4 of 10 steps were applied (steps 1-3, 6)" or "none of the 10
    /// steps were applied".
    pub fn applied_note(&self) -> String {
        applied_note(self.done, self.total, &self.applied)
    }
}

/// "4 of 10 steps were applied (steps 1-3, 6)", "1 of 1 step was applied (step 1)", "none of
/// the 10 steps were applied", "the only step was not applied".
fn applied_note(done: usize, total: usize, applied: &[usize]) -> String {
    use crate::plural::{noun_for, were};
    if applied.is_empty() {
        return match total {
            1 => "the only step was not applied".to_string(),
            _ => format!("none of the {total} steps were applied"),
        };
    }
    format!(
        "{done} of {total} {} {} applied ({})",
        noun_for(total, "step"),
        were(done),
        numbers(applied)
    )
}

/// "step 3" or "steps 1-3, 6, 8-9" for ascending step numbers.
pub fn numbers(list: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let start = list[i];
        let mut end = start;
        while i + 1 < list.len() && list[i + 1] == end + 1 {
            i += 1;
            end = list[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    let word = if list.len() == 1 { "step" } else { "steps" };
    format!("{word} {}", parts.join(", "))
}

/// An nftables transaction that failed: steps `first..=last` (numbered from 1, like
/// [`ApplyError::index`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftBatch {
    pub first: usize,
    pub last: usize,
    /// The kernel applied none of it (it rolled the transaction back). `false` only when the
    /// kernel's replies were lost and the outcome is unknown.
    pub nothing_applied: bool,
}

impl NftBatch {
    /// What happened to the transaction, e.g. "the kernel rolled back the whole nftables
    /// transaction (steps 2-6): none of it was applied".
    pub fn outcome(&self) -> String {
        let steps = if self.first == self.last {
            format!("step {}", self.first)
        } else {
            format!("steps {}-{}", self.first, self.last)
        };
        if self.nothing_applied {
            format!(
                "the kernel rolled back the whole nftables transaction ({steps}): none of it was applied"
            )
        } else {
            format!(
                "the kernel's replies to the nftables transaction ({steps}) were lost: whether it was applied is unknown"
            )
        }
    }
}

fn batch_note(batch: &Option<NftBatch>) -> String {
    batch
        .as_ref()
        .map(|b| format!("; {}", b.outcome()))
        .unwrap_or_default()
}

/// Execute every step of `plan`, wave by wave (see [`waves`]), each run of nftables steps as
/// one transaction. `on_step` is told about each applied step, in plan order (a step once every
/// step before it is applied; on failure or interruption, every applied step not yet reported).
/// A SIGINT/SIGTERM caught by [`crate::signals`] stops the run before the next wave
/// ([`ApplyFailure::Interrupted`]): the wave in flight always completes. A new bridge created
/// down until its ports are attached (see `bridge_up.rs`) is up before the run returns, however
/// it ends.
pub async fn execute(
    kernel: &mut Kernel,
    plan: &Plan,
    mut on_step: impl FnMut(&Step),
) -> Result<(usize, usize, usize), ApplyFailure> {
    let steps = &plan.steps;
    let total = steps.len();
    let mut applied = vec![false; total];
    // Steps before this one have been reported.
    let mut reported = 0;
    let mut journaled = false;
    let waves = waves(plan);
    let wave_count = waves.len();
    // Bridges created down (see `bridge_up`), to bring up once the wave after theirs is done.
    let mut down: Vec<bridge_up::Deferred> = Vec::new();
    for (done_waves, wave) in waves.iter().enumerate() {
        if let Some(signal) = crate::signals::pending() {
            let failures = bring_up_bridges(kernel, &mut down, &mut applied).await;
            if !failures.is_empty() {
                return Err(step_failure(
                    steps,
                    &applied,
                    reported,
                    failures,
                    &mut on_step,
                ));
            }
            (reported..total)
                .filter(|&i| applied[i])
                .for_each(|i| on_step(&steps[i]));
            let applied: Vec<usize> = (0..total).filter(|&i| applied[i]).map(|i| i + 1).collect();
            return Err(ApplyFailure::Interrupted(Interrupted {
                signal,
                waves_done: done_waves,
                waves: wave_count,
                total,
                applied,
            }));
        }
        let kernel: &Kernel = kernel;
        // Before a wave that creates links or namespaces: say so on disk (see `journal`).
        let at_risk = journal::at_risk(wave.iter().flat_map(|g| &steps[g.members()]));
        if !at_risk.is_empty() {
            let first = wave.first().map(|g| g.members().start).unwrap_or(0);
            if let Err(e) = journal::write(kernel.target(), at_risk) {
                let mut failures = bring_up_bridges(kernel, &mut down, &mut applied).await;
                failures.insert(
                    0,
                    (
                        first,
                        KernelError::Namespace {
                            op: "writing the journal",
                            ns: journal::path(kernel.target()).display().to_string(),
                            source: e,
                        },
                        None,
                    ),
                );
                return Err(step_failure(
                    steps,
                    &applied,
                    reported,
                    failures,
                    &mut on_step,
                ));
            }
            journaled = true;
        }
        let next = waves.get(done_waves + 1).map(Vec::as_slice);
        let deferred = bridge_up::to_defer(steps, wave, next);
        let created_down: HashMap<usize, &Step> =
            deferred.iter().map(|d| (d.step, &d.create_down)).collect();
        // One span per wave, so that `-v` shows how long each took (see docs/cli.md).
        let span = tracing::info_span!(
            "wave",
            wave = done_waves + 1,
            of = wave_count,
            steps = wave.iter().map(|g| g.members().len()).sum::<usize>()
        );
        let mut failures = run_wave(kernel, steps, wave, &created_down, &mut applied)
            .instrument(span)
            .await;
        // The ports of the bridges created down before this wave are attached now.
        failures.extend(bring_up_bridges(kernel, &mut down, &mut applied).await);
        // A bridge created down counts as applied once it is up.
        for d in deferred {
            if std::mem::take(&mut applied[d.step]) {
                down.push(d);
            }
        }
        if !failures.is_empty() {
            // Nothing is left down when the run stops.
            failures.extend(bring_up_bridges(kernel, &mut down, &mut applied).await);
            return Err(step_failure(
                steps,
                &applied,
                reported,
                failures,
                &mut on_step,
            ));
        }
        while reported < total && applied[reported] {
            on_step(&steps[reported]);
            reported += 1;
        }
    }
    // Everything created is marked: nothing for a later run to adopt.
    if journaled {
        let _ = journal::clear(kernel.target());
    }
    Ok(plan.summary())
}

/// Bring up the bridges created down, each then counted as applied; what failed, as a failure
/// of the bridge's step.
async fn bring_up_bridges(
    kernel: &Kernel,
    down: &mut Vec<bridge_up::Deferred>,
    applied: &mut [bool],
) -> Vec<(usize, KernelError, Option<NftBatch>)> {
    let mut failures = Vec::new();
    for d in std::mem::take(down) {
        match kernel.execute(&d.bring_up).await {
            Ok(()) => applied[d.step] = true,
            Err(e) => failures.push((d.step, e, None)),
        }
    }
    failures
}

/// The error of a run stopped by `failures` (step index, error, its transaction; at least one),
/// after telling `on_step` about every applied step not yet reported.
fn step_failure(
    steps: &[Step],
    applied: &[bool],
    reported: usize,
    mut failures: Vec<(usize, KernelError, Option<NftBatch>)>,
    on_step: &mut impl FnMut(&Step),
) -> ApplyFailure {
    let total = steps.len();
    (reported..total)
        .filter(|&i| applied[i])
        .for_each(|i| on_step(&steps[i]));
    failures.sort_by_key(|f| f.0);
    let also_failed = failures.iter().skip(1).map(|f| f.0 + 1).collect();
    let (failed, source, batch) = failures.swap_remove(0);
    let applied: Vec<usize> = (0..total).filter(|&i| applied[i]).map(|i| i + 1).collect();
    ApplyFailure::Step(ApplyError {
        index: failed + 1,
        total,
        step: Box::new(steps[failed].clone()),
        done: applied.len(),
        applied,
        also_failed,
        batch,
        source,
    })
}

/// The steps of one wave: the single steps concurrently, then its nftables transactions in
/// order; marks what was applied, returns what failed (step index, error, its transaction).
async fn run_wave(
    kernel: &Kernel,
    steps: &[Step],
    wave: &[Group],
    created_down: &HashMap<usize, &Step>,
    applied: &mut [bool],
) -> Vec<(usize, KernelError, Option<NftBatch>)> {
    let singles: Vec<usize> = wave
        .iter()
        .filter_map(|g| match g {
            Group::One(i) => Some(*i),
            Group::Nft(_) => None,
        })
        .collect();
    // Concurrent: every request of the wave is in flight at once; all of them finish (so
    // that what was applied is known) even when one fails.
    let single_steps: Vec<&Step> = singles
        .iter()
        .map(|&i| created_down.get(&i).copied().unwrap_or(&steps[i]))
        .collect();
    let results = kernel.execute_all(&single_steps).await;
    let mut failures: Vec<(usize, KernelError, Option<NftBatch>)> = Vec::new();
    for (&i, result) in singles.iter().zip(results) {
        match result {
            Ok(()) => applied[i] = true,
            Err(e) => failures.push((i, e, None)),
        }
    }
    // Then the wave's transactions, in order (they depend on nothing in the wave).
    for group in wave {
        let Group::Nft(range) = group else { continue };
        if !failures.is_empty() {
            break;
        }
        let run = &steps[range.clone()];
        match kernel.execute_nft_batch(run).await {
            Ok(()) => range.clone().for_each(|i| applied[i] = true),
            Err(e) => {
                let failed = range.start + e.step.min(run.len().saturating_sub(1));
                let batch = NftBatch {
                    first: range.start + 1,
                    last: range.end,
                    nothing_applied: e.nothing_applied,
                };
                failures.push((failed, e.source, Some(batch)));
            }
        }
    }
    failures
}

/// Observe again and diff: the steps a converged kernel would not need. Empty means converged.
#[tracing::instrument(name = "verify", level = "info", skip_all)]
pub async fn verify(kernel: &mut Kernel, desired: &State) -> Result<Plan, KernelError> {
    let observed = kernel.observe().await?;
    Ok(plan::diff(desired, &observed))
}

/// Why an apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFailure {
    #[error(transparent)]
    Step(#[from] ApplyError),
    #[error("verifying after apply: {0}")]
    Verify(KernelError),
    /// A step of a repair round (the diff left after the plan) failed; the plan itself was
    /// applied. Step numbers count within that round.
    #[error("the plan was applied, but repairing what the kernel changed on its own failed: {0}")]
    Repair(ApplyError),
    #[error(transparent)]
    Interrupted(Interrupted),
    /// Applied, repaired, and the kernel still differs (see [`ApplyReport::remaining`]); an
    /// error only for [`run`], which rolls back then (plain [`apply`] returns the report).
    #[error("the kernel did not converge: {} still needed", crate::plural::count(.0.remaining.steps.len(), "step"))]
    NotConverged(Box<ApplyReport>),
    /// Recording the before-image failed, so nothing was changed (see [`transaction`]).
    #[error("{0}; nothing was changed")]
    Record(KernelError),
}

impl ApplyFailure {
    /// The failed step, when that is why the apply stopped.
    pub fn into_step(self) -> Option<ApplyError> {
        match self {
            ApplyFailure::Step(e) => Some(e),
            _ => None,
        }
    }
}

/// A signal stopped the apply between two waves: every step of the first `waves_done` waves
/// was applied, no step of a later wave was started.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal} {}; {}", self.when(), self.applied_note())]
pub struct Interrupted {
    pub signal: crate::signals::Signal,
    pub waves_done: usize,
    pub waves: usize,
    /// Steps in the plan.
    pub total: usize,
    /// The steps applied (numbered from 1, ascending).
    pub applied: Vec<usize>,
}

impl Interrupted {
    /// "after wave 2 of 5", or "before the first of 5 waves".
    pub fn when(&self) -> String {
        if self.waves_done == 0 {
            match self.waves {
                1 => "before its only wave".to_string(),
                n => format!("before the first of {n} waves"),
            }
        } else {
            format!("after wave {} of {}", self.waves_done, self.waves)
        }
    }

    /// What was applied, worded like [`ApplyError::applied_note`].
    pub fn applied_note(&self) -> String {
        applied_note(self.applied.len(), self.total, &self.applied)
    }
}

/// How many times apply observes again and runs what is left after the plan (see [`apply`]).
pub const REPAIR_ROUNDS: usize = 2;

/// Execute, verify, and repair: when the kernel still differs after the plan (a side effect the
/// plan did not model, e.g. something the kernel removed on its own), run the remaining diff
/// too, at most [`REPAIR_ROUNDS`] times, and only while it has no conflicts. The plan models the
/// side effects it knows (`plan::effects`), so this is a bounded safety net: the user approved
/// reaching `desired`, and the remaining steps are exactly what a second apply would run.
/// `on_step` is told about repair steps as well; [`ApplyReport::repaired`] counts them.
pub async fn apply(
    kernel: &mut Kernel,
    plan: &Plan,
    desired: &State,
    mut on_step: impl FnMut(&Step),
) -> Result<ApplyReport, ApplyFailure> {
    let (added, changed, destroyed) = execute(kernel, plan, &mut on_step).await?;
    let mut remaining = verify(kernel, desired)
        .await
        .map_err(ApplyFailure::Verify)?;
    let mut repaired = 0;
    for _ in 0..REPAIR_ROUNDS {
        if remaining.is_empty() || !remaining.conflicts.is_empty() {
            break;
        }
        execute(kernel, &remaining, &mut on_step)
            .await
            .map_err(|failure| match failure {
                ApplyFailure::Step(step) => ApplyFailure::Repair(step),
                other => other,
            })?;
        repaired += remaining.steps.len();
        remaining = verify(kernel, desired)
            .await
            .map_err(ApplyFailure::Verify)?;
    }
    Ok(ApplyReport {
        added,
        changed,
        destroyed,
        repaired,
        remaining,
    })
}

/// Connect to a target, observe it and diff against `desired`: everything `plan` needs, in one
/// place so the CLI and the lab run the same engine. Read-only: objects named by a journal an
/// interrupted run left (see [`journal`]) are read as ours, as [`prepare_change`] will make them.
pub async fn prepare(
    mut target: crate::kernel::Target,
    desired: &State,
) -> Result<(Kernel, Plan), KernelError> {
    if let Some(left) = read_journal(&target)? {
        target.adopt.extend(left.unfinished);
    }
    let unfinished = open_transaction(&target)?;
    let mut kernel = Kernel::connect(target).await?;
    if let Some(image) = unfinished {
        kernel.warn(unfinished_note(&image));
    }
    let observed = kernel.observe().await?;
    let plan = plan::diff(desired, &observed);
    Ok((kernel, plan))
}

/// The before-image an unfinished apply left (see [`transaction`]), as a kernel error when it
/// cannot be read.
pub(crate) fn open_transaction(
    target: &crate::kernel::Target,
) -> Result<Option<transaction::BeforeImage>, KernelError> {
    transaction::open(target).map_err(|source| KernelError::Namespace {
        op: "reading the state recorded before an apply",
        ns: transaction::path(target).display().to_string(),
        source,
    })
}

/// What to tell the user about an unfinished apply's before-image.
pub(crate) fn unfinished_note(image: &transaction::BeforeImage) -> String {
    let what = if image.awaiting_confirmation {
        "was applied but never confirmed"
    } else {
        "did not finish"
    };
    format!(
        "{} {what}; `netplan-rs rollback` puts the host back as it was before it, `apply` \
         moves forward from here (and records the state it starts from instead)",
        image.describe()
    )
}

/// [`prepare`] for a run that will change the host (under its exclusive lock): first adopt
/// what an interrupted run left (see [`connect_to_change`]).
pub async fn prepare_change(
    target: crate::kernel::Target,
    desired: &State,
) -> Result<(Kernel, Plan), KernelError> {
    let unfinished = open_transaction(&target)?;
    let mut kernel = connect_to_change(target).await?;
    if let Some(image) = unfinished {
        kernel.warn(unfinished_note(&image));
    }
    let observed = kernel.observe().await?;
    let plan = plan::diff(desired, &observed);
    Ok((kernel, plan))
}

/// Connect to a target about to be changed, and adopt what the journal of an interrupted run
/// names (marks written, leftover mount points removed; one warning line each), then drop the
/// journal. Killed half-way, the journal is still there for the next run.
pub async fn connect_to_change(target: crate::kernel::Target) -> Result<Kernel, KernelError> {
    let left = read_journal(&target)?;
    let mut kernel = Kernel::connect(target).await?;
    if let Some(left) = left {
        let adopted = kernel.adopt(&left.unfinished).await?;
        for line in adopted {
            kernel.warn(format!(
                "adopted {line}, left unmarked by an interrupted run (pid {}: {})",
                left.pid, left.command
            ));
        }
        journal::clear(kernel.target()).map_err(|source| KernelError::Namespace {
            op: "removing the journal",
            ns: journal::path(kernel.target()).display().to_string(),
            source,
        })?;
    }
    Ok(kernel)
}

fn read_journal(target: &crate::kernel::Target) -> Result<Option<journal::Journal>, KernelError> {
    journal::read(target).map_err(|source| KernelError::Namespace {
        op: "reading the journal",
        ns: journal::path(target).display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::Signal;

    #[test]
    fn an_interruption_says_when_and_what_was_applied() {
        let mut i = Interrupted {
            signal: Signal::Interrupt,
            waves_done: 0,
            waves: 4,
            total: 10,
            applied: vec![],
        };
        assert_eq!(
            i.to_string(),
            "interrupted by SIGINT before the first of 4 waves; none of the 10 steps were applied"
        );
        i.signal = Signal::Terminate;
        i.waves_done = 2;
        i.applied = vec![1, 2, 3, 5];
        assert_eq!(
            i.to_string(),
            "interrupted by SIGTERM after wave 2 of 4; 4 of 10 steps were applied (steps 1-3, 5)"
        );
    }
}
