//! `netplan-rs apply FILE` and `netplan-rs destroy [FILE]`: print the plan, get approval,
//! execute, verify.

use super::plan::{HostPlan, host_plan};
use super::target::{Resolved, resolve_optional};
use super::{ApplyArgs, DestroyArgs, confirm};
use crate::apply::{ApplyFailure, ApplyReport};
use crate::kernel::Kernel;
use crate::lock;
use crate::plan::{Action, Plan, Step, render_text};
use crate::state::State;
use anyhow::Context;
use std::process::ExitCode;

pub async fn run_apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let HostPlan {
        resolved,
        desired,
        mut kernel,
        plan,
        lock: _lock,
    } = host_plan(&args.file, &args.host, args.lock, lock::Mode::Exclusive).await?;
    // `_lock` lives to the end of this function: through approval, execution and verification.
    execute(
        &resolved,
        &mut kernel,
        &plan,
        &desired,
        args.auto_approve,
        "apply",
    )
    .await
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
    execute(
        &resolved,
        &mut kernel,
        &plan,
        &desired,
        args.auto_approve,
        "destroy",
    )
    .await
}

/// Shared by apply and destroy: show the plan, ask, run, verify, summarise.
async fn execute(
    resolved: &Resolved,
    kernel: &mut Kernel,
    plan: &Plan,
    desired: &State,
    auto_approve: bool,
    verb: &str,
) -> anyhow::Result<ExitCode> {
    println!("Plan for {}:\n", resolved.describe());
    print!("{}", render_text(plan));
    if !plan.conflicts.is_empty() {
        anyhow::bail!(
            "the plan has {} conflict(s) (names taken by objects netplan-rs does not own, or links that do not exist); nothing was changed",
            plan.conflicts.len()
        );
    }
    if plan.is_empty() {
        println!("\n{} complete! Nothing to do.", capitalise(verb));
        return Ok(ExitCode::SUCCESS);
    }
    if !auto_approve {
        let question = format!(
            "Do you want to {verb} these changes on {}?",
            resolved.describe()
        );
        if !confirm::approve(&question)? {
            println!("\n{} cancelled.", capitalise(verb));
            return Ok(ExitCode::from(1));
        }
    }
    println!();
    match crate::apply::apply(kernel, plan, desired, print_progress).await {
        Ok(report) => Ok(summarise(verb, &report)),
        Err(ApplyFailure::Step(e)) => {
            eprintln!(
                "Error: {} failed at step {} of {} ({}): {}",
                verb, e.index, e.total, e.step.key, e.source
            );
            if let Some(b) = &e.batch {
                eprintln!("{}.", capitalise(&b.outcome()));
            }
            if !e.also_failed.is_empty() {
                eprintln!(
                    "Also failed, in the same wave of concurrent steps: {}.",
                    crate::apply::numbers(&e.also_failed)
                );
            }
            eprintln!(
                "{}; run plan to see what is left.",
                capitalise(&e.applied_note())
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_progress(step: &Step) {
    let (symbol, done) = match step.action {
        Action::Create => ("+", "created"),
        Action::Update => ("~", "updated"),
        Action::Delete => ("-", "destroyed"),
        Action::Replace => ("-/+", "replaced"),
    };
    println!("{symbol} {}: {done}", step.key);
}

fn summarise(verb: &str, report: &ApplyReport) -> ExitCode {
    if !report.remaining.is_empty() || !report.remaining.conflicts.is_empty() {
        let after = if report.repaired > 0 {
            format!(
                " (after {} repair step(s) in up to {} extra rounds)",
                report.repaired,
                crate::apply::REPAIR_ROUNDS
            )
        } else {
            String::new()
        };
        eprintln!(
            "\nError: {verb} did not converge{after}; the kernel still differs from the topology:\n"
        );
        eprint!("{}", render_text(&report.remaining));
        return ExitCode::from(1);
    }
    if report.repaired > 0 {
        println!(
            "\nRepaired {} kernel side effect(s) the plan did not foresee (observed again after the plan).",
            report.repaired
        );
    }
    println!(
        "\n{} complete! Resources: {} added, {} changed, {} destroyed. Verified: the kernel matches.",
        capitalise(verb),
        report.added,
        report.changed,
        report.destroyed
    );
    ExitCode::SUCCESS
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
