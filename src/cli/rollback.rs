//! `netplan-rs rollback [FILE]`: put the host back as it was before an apply that did not
//! finish: one killed half-way, one that failed with `--no-rollback`, one applied with
//! `--confirm-timeout` whose confirmation never came (its process gone). The state comes from
//! the before-image that apply recorded (see `apply::transaction`); what restores it is shown
//! as a plan and approved like an apply.

use super::RollbackArgs;
use super::output::{errln, out, outln};
use super::target::resolve_optional;
use crate::apply::transaction;
use crate::lock;
use crate::plan::render_text;
use anyhow::Context;
use std::process::ExitCode;

pub async fn run(args: RollbackArgs) -> anyhow::Result<ExitCode> {
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
    let image = transaction::open(&resolved.target).with_context(|| {
        format!(
            "reading the state recorded before the last apply on {}",
            resolved.describe()
        )
    })?;
    let Some(image) = image else {
        outln!(
            "Nothing to roll back on {}: no unfinished apply is recorded.",
            resolved.describe()
        )?;
        return Ok(ExitCode::SUCCESS);
    };
    // Adopts what a killed run left unmarked first, so the restore plan sees it as ours.
    let mut kernel = crate::apply::connect_to_change(resolved.target.clone())
        .await
        .with_context(|| format!("reading the kernel state of {}", resolved.describe()))?;
    super::print_warnings(&mut kernel);
    let restore = transaction::restore_plan(&mut kernel, &image)
        .await
        .with_context(|| format!("reading the kernel state of {}", resolved.describe()))?;
    outln!(
        "Rolling back {} on {}:\n",
        image.describe(),
        resolved.describe()
    )?;
    out!("{}", render_text(&restore))?;
    if restore.is_empty() && restore.conflicts.is_empty() {
        transaction::confirm(&resolved.target)?;
        outln!("\nThe host is already as it was; the record is dropped.")?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.auto_approve {
        let question = format!("Do you want to roll back {}?", resolved.describe());
        if !super::confirm::approve(&question, "roll back")? {
            outln!("\nRollback cancelled.")?;
            return Ok(ExitCode::from(1));
        }
    }
    crate::signals::install().context("catching SIGINT and SIGTERM")?;
    let report = transaction::roll_back_to(&mut kernel, &image).await;
    if report.as_it_was {
        outln!("\n{}", report.summary())?;
        return Ok(ExitCode::SUCCESS);
    }
    errln!("\nError: {}", report.summary());
    errln!(
        "The record is kept in {}: run `netplan-rs rollback` again once the cause is fixed.",
        transaction::path(&resolved.target).display()
    );
    Ok(ExitCode::from(1))
}
