//! Applying a plan: execute its steps in order against the kernel, then verify by observing the
//! kernel again and re-diffing against the desired state. Anything not converged is reported.
//!
//! Steps run in plan order, one at a time, except that each run of consecutive nftables steps
//! of one namespace goes to the kernel as one transaction ([`groups`]): all of it or nothing.
//! A failed step stops the run (nothing after it is attempted) and is reported with what
//! already happened. Rollback of other steps is a later feature: every [`Step`] already knows
//! its inverse.

mod groups;

pub use groups::{Group, groups};

use crate::kernel::{Kernel, KernelError};
use crate::plan::{self, Plan, Step};
use crate::state::State;

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    /// Steps still needed after apply (empty when the kernel converged).
    pub remaining: Plan,
}

/// A step that failed, with the steps that succeeded before it.
#[derive(Debug, thiserror::Error)]
#[error("step {index} of {total} failed: {source}{}", batch_note(.batch))]
pub struct ApplyError {
    pub index: usize,
    pub total: usize,
    pub step: Box<Step>,
    /// Steps applied (the first `done` of the plan).
    pub done: usize,
    /// The nftables transaction the step was part of, if any.
    pub batch: Option<NftBatch>,
    #[source]
    pub source: KernelError,
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

/// Execute every step of `plan` in order, each run of nftables steps as one transaction.
/// `on_step` is told about each finished step (for progress output; the steps of a transaction
/// once the kernel has committed it).
pub async fn execute(
    kernel: &mut Kernel,
    plan: &Plan,
    mut on_step: impl FnMut(&Step),
) -> Result<(usize, usize, usize), ApplyError> {
    let total = plan.steps.len();
    for group in groups(&plan.steps) {
        match group {
            Group::One(index) => {
                let step = &plan.steps[index];
                if let Err(source) = kernel.execute(step).await {
                    return Err(ApplyError {
                        index: index + 1,
                        total,
                        step: Box::new(step.clone()),
                        done: index,
                        batch: None,
                        source,
                    });
                }
                on_step(step);
            }
            Group::Nft(range) => {
                let steps = &plan.steps[range.clone()];
                if let Err(e) = kernel.execute_nft_batch(steps).await {
                    let failed = range.start + e.step.min(steps.len().saturating_sub(1));
                    return Err(ApplyError {
                        index: failed + 1,
                        total,
                        step: Box::new(plan.steps[failed].clone()),
                        done: range.start,
                        batch: Some(NftBatch {
                            first: range.start + 1,
                            last: range.end,
                            nothing_applied: e.nothing_applied,
                        }),
                        source: e.source,
                    });
                }
                steps.iter().for_each(&mut on_step);
            }
        }
    }
    Ok(plan.summary())
}

/// Observe again and diff: the steps a converged kernel would not need. Empty means converged.
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
}

/// Execute then verify.
pub async fn apply(
    kernel: &mut Kernel,
    plan: &Plan,
    desired: &State,
    on_step: impl FnMut(&Step),
) -> Result<ApplyReport, ApplyFailure> {
    let (added, changed, destroyed) = execute(kernel, plan, on_step).await?;
    let remaining = verify(kernel, desired)
        .await
        .map_err(ApplyFailure::Verify)?;
    Ok(ApplyReport {
        added,
        changed,
        destroyed,
        remaining,
    })
}

/// Connect to a target, observe it and diff against `desired`: everything `plan` and `apply`
/// need, in one place so the CLI and the lab run the same engine.
pub async fn prepare(
    target: crate::kernel::Target,
    desired: &State,
) -> Result<(Kernel, Plan), KernelError> {
    let mut kernel = Kernel::connect(target).await?;
    let observed = kernel.observe().await?;
    let plan = plan::diff(desired, &observed);
    Ok((kernel, plan))
}
