//! Transactions: an apply either reaches the topology or puts the host back as it was.
//!
//! Before the first wave, [`run`] records the host's before-image next to the journal
//! (`<run dir>/journal/<host id>.<mark>.before.json`): every object this owner had, and every
//! sysctl, as the kernel reported them, plus the keys of everyone else's objects. When a step
//! fails, when verification finds the kernel not converged, or when SIGINT/SIGTERM arrives, the
//! apply rolls back to it ([`roll_back_to`]) and reports whether the host is as it was.
//!
//! Rolling back is planning, not replaying: the before-image is a desired state like any other,
//! so the restore plan is `plan::diff(before, now)`, ordered along the same DAG, run in waves
//! (nftables runs as transactions), verified the same way. Whatever the apply got to, and
//! whatever the kernel did on its own (a deleted namespace takes its contents along, a deleted
//! address flushes routes), the diff names exactly what differs: objects the apply created are
//! deleted, deleted ones re-created from their before-image with the owner's mark (a veth pair
//! with both ends, a namespace with its links, addresses, routes and entries), updated ones get
//! their old attributes back. Each step's own inverse ([`crate::plan::Step::inverse`]) says the
//! same for one step; the diff also covers what no step names.
//!
//! The image stays on disk until the apply is done: a run killed half-way leaves it, the next
//! run says so, and `netplan-rs rollback` restores it (or `apply` moves forward and replaces it).
//! `apply --confirm-timeout` keeps it while it waits ([`Options::await_confirmation`]), until
//! [`confirm`] drops it or [`roll_back`] restores it.
//!
//! What cannot be put back is named: objects of others that the kernel removed along with ours
//! (e.g. a route someone added by hand on a bridge the apply deleted), and anything the restore
//! plan could not do.

use super::journal;
use super::{ApplyFailure, ApplyReport, REPAIR_ROUNDS};
use crate::kernel::{Kernel, KernelError, Target};
use crate::plan::{self, Plan, Step};
use crate::state::{Object, ObjectKey, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;

/// Version of the before-image file format.
const FORMAT_VERSION: u32 = 1;

/// How [`run`] behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Roll back when the apply fails, is not converged, or is interrupted (`--no-rollback`
    /// turns it off: the before-image is kept for `netplan-rs rollback`).
    pub rollback: bool,
    /// Keep the before-image after a successful apply, for [`confirm`] or [`roll_back`]
    /// (`apply --confirm-timeout`).
    pub await_confirmation: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rollback: true,
            await_confirmation: false,
        }
    }
}

/// The host before an apply: what a rollback restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeforeImage {
    pub version: u32,
    /// The apply that recorded it (for messages).
    pub pid: u32,
    pub command: String,
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// The owner mark of the objects (only a run with the same mark restores them).
    pub mark: String,
    pub host_id: String,
    /// The apply was applied and verified, and waits for confirmation.
    #[serde(default)]
    pub awaiting_confirmation: bool,
    /// This owner's objects and every sysctl, as observed before the apply.
    pub objects: Vec<Object>,
    /// The keys of every other object observed then (others' links, addresses, routes...):
    /// netplan-rs never changes those, but the kernel may remove some with ours.
    pub others: Vec<ObjectKey>,
}

impl BeforeImage {
    /// The image of `observed` for `target`, recorded by this process.
    pub fn of(target: &Target, observed: &State) -> BeforeImage {
        let (objects, others): (Vec<&Object>, Vec<&Object>) = observed
            .objects
            .values()
            .partition(|o| o.owned() || matches!(o, Object::Sysctl(_)));
        BeforeImage {
            version: FORMAT_VERSION,
            pid: std::process::id(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            started: crate::clock::now_unix(),
            mark: target.marks.link_alias.clone(),
            host_id: target.host_id(),
            awaiting_confirmation: false,
            objects: objects.into_iter().cloned().collect(),
            others: others.into_iter().map(Object::key).collect(),
        }
    }

    /// The state a rollback aims for: this owner's objects and the sysctls as they were.
    pub fn desired(&self) -> State {
        let mut state = State::default();
        for object in &self.objects {
            state.insert(object.clone());
        }
        state
    }

    /// "the apply started 2026-12-03 22:10:04 UTC by pid 4242 (netplan-rs apply t.yaml)".
    pub fn describe(&self) -> String {
        format!(
            "the apply started {} by pid {} ({})",
            crate::clock::utc(self.started),
            self.pid,
            self.command
        )
    }
}

/// What a rollback achieved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RollbackReport {
    /// Steps run to restore the host.
    pub steps: usize,
    /// Observed again afterwards, the host is as it was before the apply.
    pub as_it_was: bool,
    /// What differs still, one line each (empty when `as_it_was`).
    pub not_restored: Vec<String>,
}

impl RollbackReport {
    /// "Rolled back: the host is as it was (12 steps run)." or "Rolled back partly (...); not
    /// restored:" and
    /// one line per object.
    pub fn summary(&self) -> String {
        if self.as_it_was {
            return format!(
                "Rolled back: the host is as it was ({} run).",
                crate::plural::count(self.steps, "step")
            );
        }
        let mut text = format!(
            "Rolled back partly ({} run); not restored:",
            crate::plural::count(self.steps, "step")
        );
        for line in &self.not_restored {
            text.push_str("\n  ");
            text.push_str(line);
        }
        text
    }

    fn failed(message: String) -> RollbackReport {
        RollbackReport {
            steps: 0,
            as_it_was: false,
            not_restored: vec![message],
        }
    }
}

/// An apply that failed, and what its rollback did (`None`: not rolled back, `--no-rollback`).
#[derive(Debug, thiserror::Error)]
#[error("{failure}")]
pub struct TransactionFailure {
    pub failure: ApplyFailure,
    pub rollback: Option<RollbackReport>,
}

impl From<ApplyFailure> for TransactionFailure {
    fn from(failure: ApplyFailure) -> Self {
        TransactionFailure {
            failure,
            rollback: None,
        }
    }
}

/// The before-image file of `target`.
pub fn path(target: &Target) -> PathBuf {
    journal::file_in(&crate::rundir::dir(), target, "before.json")
}

/// The before-image an unfinished apply left for `target` (its host and owner), if any. One
/// that cannot be read or parsed is an error naming the file: ignoring it would lose the way
/// back.
pub fn open(target: &Target) -> io::Result<Option<BeforeImage>> {
    let path = path(target);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let image: BeforeImage = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}; remove it after checking the host", path.display()),
        )
    })?;
    if image.version != FORMAT_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: format version {} (this netplan-rs reads {FORMAT_VERSION}); remove it after checking the host",
                path.display(),
                image.version
            ),
        ));
    }
    if image.mark != target.marks.link_alias {
        return Ok(None);
    }
    Ok(Some(image))
}

fn record(target: &Target, image: &BeforeImage) -> io::Result<()> {
    journal::write_atomic(&path(target), image)
}

/// Keep the change: drop the before-image (`netplan-rs confirm`, or a finished apply).
pub fn confirm(target: &Target) -> io::Result<()> {
    journal::remove(&path(target))
}

/// Mark the recorded apply as applied and waiting for confirmation.
fn await_confirmation(target: &Target, image: &mut BeforeImage) -> io::Result<()> {
    image.awaiting_confirmation = true;
    record(target, image)
}

fn journal_error(target: &Target, op: &'static str, source: io::Error) -> KernelError {
    KernelError::Namespace {
        op,
        ns: path(target).display().to_string(),
        source,
    }
}

/// Apply `plan` as a transaction: record the before-image, execute, verify and repair (see
/// [`super::apply`]), and on failure, non-convergence or SIGINT/SIGTERM roll back (unless
/// `options.rollback` is off). On success the before-image is dropped, unless
/// `options.await_confirmation` keeps it for [`confirm`] or [`roll_back`].
///
/// The before-image is what the kernel reported the last time `kernel` observed it (the
/// observation the plan was made from; the caller holds the host's lock since).
pub async fn run(
    kernel: &mut Kernel,
    plan: &Plan,
    desired: &State,
    options: &Options,
    on_step: impl FnMut(&Step),
) -> Result<ApplyReport, TransactionFailure> {
    if plan.is_empty() && !options.await_confirmation {
        return Ok(super::apply(kernel, plan, desired, on_step).await?);
    }
    let observed = match kernel.last_observed() {
        Some(state) => state.clone(),
        None => kernel.observe().await.map_err(ApplyFailure::Record)?,
    };
    let mut image = BeforeImage::of(kernel.target(), &observed);
    record(kernel.target(), &image).map_err(|e| {
        ApplyFailure::Record(journal_error(
            kernel.target(),
            "recording the state before the apply",
            e,
        ))
    })?;
    let failure = match super::apply(kernel, plan, desired, on_step).await {
        Ok(report) if report.remaining.is_empty() && report.remaining.conflicts.is_empty() => {
            let kept = if options.await_confirmation {
                await_confirmation(kernel.target(), &mut image)
            } else {
                confirm(kernel.target())
            };
            kept.map_err(|e| ApplyFailure::Record(journal_error(kernel.target(), "updating", e)))?;
            return Ok(report);
        }
        Ok(report) => ApplyFailure::NotConverged(Box::new(report)),
        Err(failure) => failure,
    };
    if !options.rollback {
        // Kept: `netplan-rs rollback` can still restore it.
        return Err(failure.into());
    }
    // The rollback runs to its end even when a signal stopped the apply.
    crate::signals::shield();
    let rollback = roll_back_to(kernel, &image).await;
    Err(TransactionFailure {
        failure,
        rollback: Some(rollback),
    })
}

/// Restore the before-image an unfinished apply left for the kernel's target (`netplan-rs
/// rollback`, or `apply --confirm-timeout` when not confirmed). `None` when there is none.
pub async fn roll_back(kernel: &mut Kernel) -> Result<Option<RollbackReport>, KernelError> {
    let image = open(kernel.target())
        .map_err(|e| journal_error(kernel.target(), "reading the state before the apply", e))?;
    let Some(image) = image else {
        return Ok(None);
    };
    crate::signals::shield();
    Ok(Some(roll_back_to(kernel, &image).await))
}

/// The plan that restores `image` from what the kernel has now: what `netplan-rs rollback`
/// shows before it asks.
pub async fn restore_plan(kernel: &mut Kernel, image: &BeforeImage) -> Result<Plan, KernelError> {
    let observed = kernel.observe().await?;
    Ok(plan::diff(&image.desired(), &observed))
}

/// Put the host back as `image` recorded it: observe, diff, execute the difference, for at most
/// 1 + [`REPAIR_ROUNDS`] rounds (a step that fails, or a kernel side effect, leaves something
/// for the next round), then observe once more and compare. The image is dropped when the host
/// is as it was, and kept otherwise (for another `netplan-rs rollback`).
#[tracing::instrument(name = "rollback", level = "info", skip_all)]
pub async fn roll_back_to(kernel: &mut Kernel, image: &BeforeImage) -> RollbackReport {
    let wanted = image.desired();
    let mut steps = 0;
    let mut errors: Vec<String> = Vec::new();
    for _ in 0..=REPAIR_ROUNDS {
        let observed = match kernel.observe().await {
            Ok(state) => state,
            Err(e) => return RollbackReport::failed(format!("observing the kernel: {e}")),
        };
        let restore = plan::diff(&wanted, &observed);
        if restore.is_empty() {
            break;
        }
        match super::execute(kernel, &restore, |_| {}).await {
            Ok(_) => steps += restore.steps.len(),
            Err(ApplyFailure::Step(e)) => {
                steps += e.done;
                errors.push(format!("{}: {}", e.step.key(), e.source));
            }
            Err(other) => errors.push(other.to_string()),
        }
    }
    let observed = match kernel.observe().await {
        Ok(state) => state,
        Err(e) => return RollbackReport::failed(format!("observing the kernel: {e}")),
    };
    let left = plan::diff(&wanted, &observed);
    let mut not_restored: Vec<String> = left
        .steps
        .iter()
        .map(|s| format!("{} (still needs: {})", s.key(), verb(s.action())))
        .collect();
    not_restored.extend(left.conflicts.iter().map(|c| c.message.clone()));
    let now: BTreeSet<ObjectKey> = observed.objects.keys().cloned().collect();
    not_restored.extend(
        image
            .others
            .iter()
            .filter(|k| !now.contains(k))
            .map(|k| format!("{k} (not managed by netplan-rs; the kernel removed it)")),
    );
    if !not_restored.is_empty() {
        not_restored.extend(errors.into_iter().map(|e| format!("error: {e}")));
    }
    let as_it_was = not_restored.is_empty();
    if as_it_was && let Err(e) = confirm(kernel.target()) {
        return RollbackReport {
            steps,
            as_it_was,
            not_restored: vec![format!("removing {}: {e}", path(kernel.target()).display())],
        };
    }
    RollbackReport {
        steps,
        as_it_was,
        not_restored,
    }
}

fn verb(action: crate::plan::Action) -> &'static str {
    match action {
        crate::plan::Action::Create => "create",
        crate::plan::Action::Update => "update",
        crate::plan::Action::Delete => "delete",
        crate::plan::Action::Replace => "replace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::*;

    #[test]
    fn the_image_keeps_ours_and_sysctls_and_only_the_keys_of_others() {
        let mut theirs = bridge("eth0");
        if let Object::Link(l) = &mut theirs {
            l.owned = false;
        }
        let observed = state([
            bridge("br0"),
            theirs.clone(),
            sysctl("host", "net.ipv4.ip_forward", "0"),
            address("host", "br0", "10.0.0.1/24"),
        ]);
        let image = BeforeImage::of(&Target::local(), &observed);
        assert_eq!(image.objects.len(), 3);
        assert_eq!(image.others, vec![theirs.key()]);
        assert_eq!(image.mark, "netplan-rs");
        let desired = image.desired();
        assert!(desired.get(&theirs.key()).is_none());
        // Restoring the image over what it was taken from changes nothing.
        assert!(plan::diff(&desired, &observed).is_empty());
        // Over an empty kernel: everything ours is created again; the sysctl is set.
        let back = plan::diff(&desired, &State::default());
        assert_eq!(back.steps.len(), 3, "{:?}", back.steps);
        let json = serde_json::to_string(&image).expect("serialize");
        let read: BeforeImage = serde_json::from_str(&json).expect("parse");
        assert_eq!(read, image);
    }

    #[test]
    fn a_report_says_whether_the_host_is_as_it_was() {
        let done = RollbackReport {
            steps: 4,
            as_it_was: true,
            not_restored: vec![],
        };
        assert_eq!(
            done.summary(),
            "Rolled back: the host is as it was (4 steps run)."
        );
        let partly = RollbackReport {
            steps: 1,
            as_it_was: false,
            not_restored: vec!["link host/br0 (still needs: create)".into()],
        };
        assert_eq!(
            partly.summary(),
            "Rolled back partly (1 step run); not restored:\n  link host/br0 (still needs: create)"
        );
    }
}
