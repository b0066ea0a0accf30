//! `apply --confirm-timeout SECS`, try and revert (like `netplan try`): after the change was
//! applied and verified, wait for it to be confirmed, by `yes` on the terminal or by
//! `netplan-rs confirm` from another shell ([`crate::confirmation`]); keep it if so, roll it back
//! from the transaction's journal if the time runs out, `no` is typed, or SIGINT/SIGTERM arrives.
//!
//! The apply ran with `await_confirmation`, so its journal (the host as it was before) is still
//! there; the host's lock is still held, so nobody changes the host under a change that may be
//! undone. Nothing but a decision ends the wait: a hang-up of the terminal (the change cut the
//! SSH session) and Ctrl-Z are ignored, so the deadline always comes (see [`Try::new`] and
//! `unstoppable`).

use super::output::{errln, outln};
use super::target::Resolved;
use crate::confirmation::{Outcome, Waiting};
use crate::kernel::Kernel;
use anyhow::Context;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `--confirm-timeout` asks for.
#[derive(Debug, Clone)]
pub struct Try {
    pub secs: u64,
    /// The topology file (`None`: read from stdin), for the `netplan-rs confirm` hint.
    pub file: Option<PathBuf>,
}

impl Try {
    /// The try `--confirm-timeout` asks for, if any. From here on the process outlives a
    /// hang-up (SIGHUP): the change may cut the operator's SSH session, whose terminal then
    /// hangs up; dying of it would keep an unconfirmed change (and its journal) for good, while
    /// the point of a try is that it is rolled back unless someone reconnects and confirms.
    pub fn new(secs: Option<u64>, file: &Path) -> anyhow::Result<Option<Try>> {
        let Some(secs) = secs else {
            return Ok(None);
        };
        outlive_hangup().context("catching SIGHUP")?;
        let file = (!crate::topology::source::is_stdin(file))
            .then(|| std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()));
        Ok(Some(Try { secs, file }))
    }
}

/// Catch SIGHUP and ignore it (a terminal gone only means that typing `yes` is no longer
/// possible: `netplan-rs confirm` still is). Must run inside the tokio runtime.
fn outlive_hangup() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move { while hangup.recv().await.is_some() {} });
    Ok(())
}

/// The command that confirms from another shell: a lab host is named by `--lab/--host`; a real
/// host by the topology file (it names the scope, when several wait on one host).
fn confirm_hint(resolved: &Resolved, file: Option<&Path>) -> String {
    match (&resolved.lab, &resolved.host, file) {
        (Some(lab), Some(host), _) => format!("netplan-rs confirm --lab {lab} --host {host}"),
        (None, _, Some(file)) => format!("netplan-rs confirm {}", file.display()),
        _ => "netplan-rs confirm".to_string(),
    }
}

/// From now on the terminal cannot stop this process: a stopped process would miss its
/// deadline and never roll back. Ctrl-Z (SIGTSTP) is ignored (Ctrl-C or `no` end the wait
/// early), and so are SIGTTIN/SIGTTOU, which stop a background job that reads or writes its
/// terminal: reading it then fails instead (see `confirmation::stdin_lines`), writing works.
fn unstoppable() {
    for signal in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
}

/// Whether this process's apply on `target` succeeded and now awaits a confirmation: its
/// before-image is kept for that (not one an earlier, killed run left).
pub fn awaiting(target: &crate::kernel::Target) -> bool {
    crate::apply::transaction::open(target).is_ok_and(|image| {
        image.is_some_and(|i| i.awaiting_confirmation && i.pid == std::process::id())
    })
}

/// Wait for the decision on the change just applied, then keep or roll back. Print failures
/// are ignored here: a closed stdout must not skip the rollback. When waiting itself fails
/// (the run directory cannot be written, so nobody could confirm), the change is rolled back:
/// a try never leaves an unconfirmed change behind on purpose.
pub async fn settle(resolved: &Resolved, kernel: &mut Kernel, t: &Try) -> anyhow::Result<ExitCode> {
    let target = kernel.target().clone();
    let waited = wait(resolved, &target, t).await;
    let (outcome, why) = match waited {
        Ok((waiting, outcome)) if outcome.confirmed() => {
            core::confirm(&target)?;
            waiting.acknowledge()?;
            let by = if outcome == Outcome::ConfirmedHere {
                "on the terminal"
            } else {
                "by `netplan-rs confirm`"
            };
            let _ = outln!("Confirmed {by}: the change stays.");
            return Ok(ExitCode::SUCCESS);
        }
        Ok((_, outcome)) => (Some(outcome), reason(outcome, t.secs)),
        Err(e) => (None, format!("cannot wait for a confirmation ({e:#})")),
    };
    errln!("\n{}: rolling back.", capitalise(&why));
    // The rollback runs to its end whatever arrives now.
    crate::signals::shield();
    match core::roll_back(kernel).await {
        Ok(Some(summary)) => errln!("{summary}"),
        Ok(None) => errln!("Error: nothing to roll back: the journal of this apply is gone"),
        Err(e) => errln!("Error: rolling back: {e:#}"),
    }
    Ok(match outcome {
        Some(Outcome::Interrupted(signal)) => ExitCode::from(signal.exit_code()),
        _ => ExitCode::from(1),
    })
}

/// Announce the wait, say how to confirm (once), and wait for the decision.
async fn wait(
    resolved: &Resolved,
    target: &crate::kernel::Target,
    t: &Try,
) -> anyhow::Result<(Waiting, Outcome)> {
    unstoppable();
    let waiting = Waiting::announce(
        &crate::rundir::dir(),
        &target.host_id(),
        &target.marks.link_alias,
        &resolved.describe(),
        t.secs,
    )
    .context("announcing the wait in the run directory")?;
    let terminal = std::io::stdin().is_terminal();
    let hint = confirm_hint(resolved, t.file.as_deref());
    let how = if terminal {
        format!("type 'yes' here (or 'no' to roll back now), or run `{hint}` from another shell")
    } else {
        format!("run `{hint}` from another shell")
    };
    let _ = outln!(
        "\nThe change stays only if it is confirmed within {} s (until {}): {how}. Otherwise it is rolled back.",
        t.secs,
        crate::confirmation::clock(waiting.deadline_unix)
    );
    let lines = terminal.then(crate::confirmation::stdin_lines);
    let outcome = waiting
        .wait(lines, |_| {
            let left = waiting
                .deadline
                .saturating_duration_since(std::time::Instant::now());
            let _ = outln!(
                "Type 'yes' to keep the change or 'no' to roll it back now ({} s left).",
                left.as_secs()
            );
        })
        .await?;
    Ok((waiting, outcome))
}

/// Why an outcome that is not a confirmation rolls back, for the message.
fn reason(outcome: Outcome, secs: u64) -> String {
    match outcome {
        Outcome::TimedOut => format!("not confirmed within {secs} s"),
        Outcome::Rejected => "rejected on the terminal".to_string(),
        Outcome::Interrupted(signal) => {
            format!("interrupted by {signal} while waiting for confirmation")
        }
        Outcome::ConfirmedHere | Outcome::ConfirmedElsewhere => "confirmed".to_string(),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The one place that calls the rollback core (`apply::transaction`).
mod core {
    use crate::kernel::{Kernel, Target};

    /// Keep the change: drop the before-image the apply kept for this wait.
    pub fn confirm(target: &Target) -> std::io::Result<()> {
        crate::apply::transaction::confirm(target)
    }

    /// Undo the change from the before-image; the report's summary (`None`: nothing to undo).
    pub async fn roll_back(kernel: &mut Kernel) -> anyhow::Result<Option<String>> {
        let report = crate::apply::transaction::roll_back(kernel).await?;
        Ok(report.map(|r| r.summary()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Target;

    fn resolved(host: Option<&str>, lab: Option<&str>) -> Resolved {
        Resolved {
            host: host.map(str::to_string),
            lab: lab.map(str::to_string),
            target: Target::local(),
        }
    }

    #[test]
    fn the_hint_names_what_confirm_needs() {
        let file = Path::new("/etc/netplan-rs/site.yaml");
        assert_eq!(
            confirm_hint(&resolved(Some("node-1"), Some("demo")), Some(file)),
            "netplan-rs confirm --lab demo --host node-1"
        );
        assert_eq!(
            confirm_hint(&resolved(Some("node-1"), None), Some(file)),
            "netplan-rs confirm /etc/netplan-rs/site.yaml"
        );
        // A topology read from stdin cannot be named again.
        assert_eq!(
            confirm_hint(&resolved(Some("node-1"), None), None),
            "netplan-rs confirm"
        );
    }

    #[test]
    fn every_outcome_that_is_no_confirmation_has_a_reason() {
        assert_eq!(reason(Outcome::TimedOut, 120), "not confirmed within 120 s");
        assert_eq!(reason(Outcome::Rejected, 120), "rejected on the terminal");
        assert_eq!(
            reason(Outcome::Interrupted(crate::signals::Signal::Terminate), 120),
            "interrupted by SIGTERM while waiting for confirmation"
        );
        assert_eq!(
            capitalise(&reason(Outcome::TimedOut, 2)),
            "Not confirmed within 2 s"
        );
    }
}
