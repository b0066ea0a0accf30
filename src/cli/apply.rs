//! `netplan-rs apply FILE` and `netplan-rs destroy [FILE]`: print the plan, get approval,
//! execute, verify.

use super::output::{err, errln, out, outln};
use super::plan::{HostPlan, host_plan};
use super::target::{Resolved, resolve_optional};
use super::{ApplyArgs, DestroyArgs, confirm, events};
use crate::apply::{ApplyFailure, ApplyReport, RollbackReport, TransactionFailure};
use crate::kernel::Kernel;
use crate::lock;
use crate::plan::{Action, Plan, Step, render_text};
use crate::state::State;
use anyhow::Context;
use std::process::ExitCode;

pub async fn run_apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    if let Some(saved) = super::saved::detect(&args.file)? {
        return super::saved::run_apply(saved, &args.file, &args).await;
    }
    let HostPlan {
        resolved,
        desired,
        mut kernel,
        plan,
        lock: _lock,
        ..
    } = host_plan(&args.file, &args.host, args.lock, lock::Mode::Exclusive).await?;
    // `_lock` lives to the end of this function: through approval, execution and verification
    // (and the wait for a confirmation, see `try_apply`).
    apply_and_settle(&resolved, &mut kernel, &plan, &desired, &args).await
}

/// The apply of `plan` (from a topology, or saved) as `args` ask: a transaction, rolled back on
/// failure unless `--no-rollback`, and with `--confirm-timeout` kept only when confirmed.
pub(super) async fn apply_and_settle(
    resolved: &Resolved,
    kernel: &mut Kernel,
    plan: &Plan,
    desired: &State,
    args: &ApplyArgs,
) -> anyhow::Result<ExitCode> {
    let try_ = super::try_apply::Try::new(args.confirm_timeout, &args.file)?;
    let options = crate::apply::Options {
        rollback: !args.no_rollback,
        await_confirmation: try_.is_some(),
    };
    let how = How {
        verb: "apply",
        auto_approve: args.auto_approve,
        json: args.json,
    };
    let executed = execute(resolved, kernel, plan, desired, &how, &options).await;
    match try_ {
        // Applied and verified: wait for the decision (even when stdout is closed, since
        // `netplan-rs confirm` can still confirm).
        Some(t) if super::try_apply::awaiting(kernel.target()) => {
            let settled = super::try_apply::settle(resolved, kernel, &t).await?;
            executed?;
            Ok(settled)
        }
        _ => executed,
    }
}

pub async fn run_destroy(args: DestroyArgs) -> anyhow::Result<ExitCode> {
    let topo = match &args.file {
        Some(file) => Some(super::load(file)?),
        None => None,
    };
    let resolved = resolve_optional(topo.as_ref(), args.file.as_deref(), &args.host)?;
    let _lock = lock::acquire(
        &resolved.target,
        &resolved.describe(),
        lock::Mode::Exclusive,
        args.lock.timeout(),
    )
    .await?;
    let desired = State::default();
    let (mut kernel, plan) = crate::apply::prepare_change(resolved.target.clone(), &desired)
        .await
        .with_context(|| format!("reading the kernel state of {}", resolved.describe()))?;
    super::print_warnings(&mut kernel);
    // A destroy that fails half-way is not undone (that would re-create what the user asked to
    // remove); its before-image stays for `netplan-rs rollback`.
    let options = crate::apply::Options {
        rollback: false,
        ..Default::default()
    };
    let how = How {
        verb: "destroy",
        auto_approve: args.auto_approve,
        json: false,
    };
    execute(&resolved, &mut kernel, &plan, &desired, &how, &options).await
}

/// What is run and how it talks: the verb for messages, whether to ask, and whether stdout
/// carries JSON event lines (`apply --json`, see [`super::events`]) instead of prose.
struct How<'a> {
    verb: &'a str,
    auto_approve: bool,
    json: bool,
}

/// Shared by apply, destroy and apply of a saved plan: show the plan, ask, run as a
/// transaction (see `apply::transaction`), verify, summarise; on failure, say what was rolled
/// back.
async fn execute(
    resolved: &Resolved,
    kernel: &mut Kernel,
    plan: &Plan,
    desired: &State,
    how: &How<'_>,
    options: &crate::apply::Options,
) -> anyhow::Result<ExitCode> {
    let verb = how.verb;
    if how.json {
        events::emit("plan", events::plan(&resolved.describe(), plan))?;
    } else {
        outln!("Plan for {}:\n", resolved.describe())?;
        out!("{}", render_text(plan))?;
    }
    if !plan.conflicts.is_empty() {
        if how.json {
            events::emit("summary", events::summary("conflicts", None, 1))?;
        }
        anyhow::bail!(
            "the plan has {} (names taken by objects netplan-rs does not own, or links that do not exist); nothing was changed",
            crate::plural::count(plan.conflicts.len(), "conflict")
        );
    }
    if plan.is_empty() {
        if how.json {
            events::emit("summary", events::summary("no_changes", None, 0))?;
        } else {
            outln!("\n{} complete! Nothing to do.", capitalise(verb))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !how.auto_approve {
        let question = format!(
            "Do you want to {verb} these changes on {}?",
            resolved.describe()
        );
        if !confirm::approve(&question, verb)? {
            outln!("\n{} cancelled.", capitalise(verb))?;
            return Ok(ExitCode::from(1));
        }
    }
    // From here on SIGINT/SIGTERM stop the apply between waves instead of killing it mid-wave
    // (after the prompt, so that Ctrl-C at the prompt still simply ends the command).
    crate::signals::install().context("catching SIGINT and SIGTERM")?;
    if !how.json {
        outln!()?;
    }
    // A closed stdout does not stop an approved apply half way: progress is dropped, the apply
    // runs to its end, and the command then ends quietly (exit 141).
    let mut closed: Option<anyhow::Error> = None;
    let progress = |step: &Step| {
        if closed.is_none() {
            closed = if how.json {
                events::emit("step_applied", events::step_applied(plan, step)).err()
            } else {
                print_progress(step).err()
            };
        }
    };
    let result = crate::apply::run(kernel, plan, desired, options, progress).await;
    let code = match result {
        Ok(report) if how.json => json_summary(&report)?,
        Ok(report) => summarise(verb, &report)?,
        Err(TransactionFailure { failure, rollback }) => {
            let event = how.json.then(|| events::failure(&failure));
            let result = match &failure {
                ApplyFailure::Interrupted(_) => "interrupted",
                ApplyFailure::NotConverged(_) => "not_converged",
                _ => "failed",
            };
            let code = report_failure(verb, failure)?;
            report_rollback(verb, rollback.as_ref(), kernel);
            if let Some((name, fields)) = event
                && closed.is_none()
            {
                let kept = crate::apply::transaction::path(kernel.target());
                events::emit(name, fields)?;
                events::emit("rollback", events::rollback(rollback.as_ref(), &kept))?;
                let exit = exit_number(result, &code);
                events::emit("summary", events::summary(result, None, exit))?;
            }
            code
        }
    };
    if let Some(e) = closed {
        return Err(e);
    }
    Ok(code)
}

/// Say why the apply stopped; the exit code for it.
fn report_failure(verb: &str, failure: ApplyFailure) -> anyhow::Result<ExitCode> {
    Ok(match failure {
        ApplyFailure::Step(e) => {
            errln!(
                "Error: {} failed at step {} of {} ({}): {}",
                verb,
                e.index,
                e.total,
                e.step.key(),
                e.source
            );
            if let Some(b) = &e.batch {
                errln!("{}.", capitalise(&b.outcome()));
            }
            if !e.also_failed.is_empty() {
                errln!(
                    "Also failed, in the same wave of concurrent steps: {}.",
                    crate::apply::numbers(&e.also_failed)
                );
            }
            errln!("{}.", capitalise(&e.applied_note()));
            ExitCode::from(1)
        }
        ApplyFailure::Interrupted(i) => {
            errln!(
                "Interrupted by {}: {verb} stopped {} (the wave in flight was completed).",
                i.signal,
                i.when()
            );
            errln!("{}.", capitalise(&i.applied_note()));
            ExitCode::from(i.signal.exit_code())
        }
        ApplyFailure::NotConverged(report) => {
            not_converged(verb, &report);
            ExitCode::from(1)
        }
        other => {
            errln!("Error: {verb} failed: {other}");
            ExitCode::from(1)
        }
    })
}

/// Say what the rollback did, or how to roll back when it was not done.
fn report_rollback(verb: &str, rollback: Option<&RollbackReport>, kernel: &Kernel) {
    match rollback {
        Some(report) if report.as_it_was => errln!("{}", report.summary()),
        Some(report) => {
            errln!("Error: {}", report.summary());
            errln!(
                "The state before the {verb} is kept in {}: `netplan-rs rollback` tries again.",
                crate::apply::transaction::path(kernel.target()).display()
            );
        }
        None => errln!(
            "Nothing was rolled back; run plan to see what is left, or `netplan-rs rollback` to put the host back as it was before the {verb}."
        ),
    }
}

fn print_progress(step: &Step) -> anyhow::Result<()> {
    let (symbol, done) = match step.action() {
        Action::Create => ("+", "created"),
        Action::Update => ("~", "updated"),
        Action::Delete => ("-", "destroyed"),
        Action::Replace => ("-/+", "replaced"),
    };
    outln!("{symbol} {}: {done}", step.key())
}

/// The kernel still differs after the apply and its repair rounds: say what is left.
fn not_converged(verb: &str, report: &ApplyReport) {
    let after = if report.repaired > 0 {
        format!(
            " (after {} in up to {} extra rounds)",
            crate::plural::count(report.repaired, "repair step"),
            crate::apply::REPAIR_ROUNDS
        )
    } else {
        String::new()
    };
    errln!(
        "\nError: {verb} did not converge{after}; the kernel still differs from the topology:\n"
    );
    err!("{}", render_text(&report.remaining));
}

fn summarise(verb: &str, report: &ApplyReport) -> anyhow::Result<ExitCode> {
    if !report.remaining.is_empty() || !report.remaining.conflicts.is_empty() {
        not_converged(verb, report);
        return Ok(ExitCode::from(1));
    }
    if report.repaired > 0 {
        outln!(
            "\nRepaired {} the plan did not foresee (observed again after the plan).",
            crate::plural::count(report.repaired, "kernel side effect")
        )?;
    }
    outln!(
        "\n{} complete! Resources: {} added, {} changed, {} destroyed. Verified: the kernel matches.",
        capitalise(verb),
        report.added,
        report.changed,
        report.destroyed
    )?;
    if let Some(signal) = crate::signals::arrived() {
        // Caught during the last wave or the verification: nothing was left undone, but the
        // caller asked us to stop, so the exit code still says so.
        errln!("Interrupted by {signal} after the last wave: every step was applied.");
        return Ok(ExitCode::from(signal.exit_code()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `apply --json` after the transaction succeeded: the summary event (or, when the kernel
/// still differs, `not_converged` and its summary; the prose goes to stderr as always).
fn json_summary(report: &ApplyReport) -> anyhow::Result<ExitCode> {
    if !report.remaining.is_empty() || !report.remaining.conflicts.is_empty() {
        not_converged("apply", report);
        events::emit("not_converged", events::remaining(report))?;
        events::emit("summary", events::summary("not_converged", Some(report), 1))?;
        return Ok(ExitCode::from(1));
    }
    let code = match crate::signals::arrived() {
        Some(signal) => {
            errln!("Interrupted by {signal} after the last wave: every step was applied.");
            signal.exit_code()
        }
        None => 0,
    };
    events::emit("summary", events::summary("applied", Some(report), code))?;
    Ok(ExitCode::from(code))
}

/// The number behind an [`ExitCode`] made by [`report_failure`] (which does not expose it).
fn exit_number(result: &str, code: &ExitCode) -> u8 {
    if result == "interrupted"
        && let Some(signal) = crate::signals::arrived()
    {
        return signal.exit_code();
    }
    if *code == ExitCode::SUCCESS { 0 } else { 1 }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
