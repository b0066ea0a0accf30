//! Applying a plan: execute its steps in order against the kernel, then verify by observing the
//! kernel again and re-diffing against the desired state. Anything not converged is reported.
//!
//! Steps run one at a time in plan order; a failed step stops the run (nothing after it is
//! attempted) and is reported with what already happened. Rollback is a later feature: every
//! [`Step`] already knows its inverse.

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
#[error("step {index} of {total} failed: {source}")]
pub struct ApplyError {
    pub index: usize,
    pub total: usize,
    pub step: Box<Step>,
    pub done: usize,
    #[source]
    pub source: KernelError,
}

/// Execute every step of `plan` in order. `on_step` is told about each finished step (for
/// progress output).
pub async fn execute(
    kernel: &mut Kernel,
    plan: &Plan,
    mut on_step: impl FnMut(&Step),
) -> Result<(usize, usize, usize), ApplyError> {
    let total = plan.steps.len();
    for (index, step) in plan.steps.iter().enumerate() {
        if let Err(source) = kernel.execute(step).await {
            return Err(ApplyError {
                index: index + 1,
                total,
                step: Box::new(step.clone()),
                done: index,
                source,
            });
        }
        on_step(step);
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
