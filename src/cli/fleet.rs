//! `netplan-rs plan FILE --all-hosts --offline [--base OLD]` and its short spelling `netplan-rs
//! diff OLD NEW`: the fleet plan for reviews, from the files alone. No kernel is read, no lock
//! taken and no run directory touched, so it runs anywhere (CI, a laptop) without root.

use super::output::{errln, out};
use super::{DiffArgs, PlanArgs};
use anyhow::bail;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;

pub fn run_plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    if !args.all_hosts {
        bail!(
            "--offline and --base plan every host of the file: add --all-hosts (a plan for one host reads its kernel: run `netplan-rs plan FILE` on it)"
        );
    }
    if !args.offline {
        bail!(
            "--all-hosts is only supported with --offline: it plans every host from the file alone (against --base OLD_FILE), reading no kernel; to see one host's drift run `netplan-rs plan FILE` on that host"
        );
    }
    run(
        args.base.as_deref(),
        &args.file,
        args.json,
        args.detailed_exitcode,
    )
}

pub fn run_diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    run(
        Some(&args.old),
        &args.new,
        args.json,
        args.detailed_exitcode,
    )
}

fn run(
    base: Option<&Path>,
    new: &Path,
    json: bool,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(base) = base
        && crate::topology::source::is_stdin(base)
        && crate::topology::source::is_stdin(new)
    {
        bail!("only one of the two files can be read from stdin (`-`)");
    }
    // The new version first: its errors are the ones a reviewer is asked to fix.
    let new_topo = super::load(new)?;
    let base_topo = match base {
        Some(base) => {
            Some(super::load(base).map_err(|e| anyhow::anyhow!("in the base version, {e}"))?)
        }
        None => None,
    };
    // Streamed: each batch of hosts is printed and dropped, so a 1000-host first rollout never
    // holds every host's steps at once.
    let mut text = crate::fleet::TextWriter::default();
    let mut json_writer = crate::fleet::JsonWriter::default();
    let (mut changes, mut conflicts) = (false, false);
    let mut failed: Option<anyhow::Error> = None;
    if json {
        out!("{}", json_writer.begin())?;
    }
    crate::fleet::for_each_host(
        base_topo.as_ref(),
        &new_topo,
        crate::fleet::default_threads(),
        |host| {
            changes |= host.changes();
            conflicts |= !host.plan.conflicts.is_empty();
            let chunk = if json {
                json_writer.host(&host)
            } else {
                text.host(&host)
            };
            match out!("{chunk}") {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    if json {
        out!("{}", json_writer.finish())?;
    } else {
        out!("{}", text.finish())?;
    }
    if conflicts {
        errln!("Error: some host's plan has conflicts; nothing of it could be applied");
        return Ok(ExitCode::from(1));
    }
    if detailed_exitcode && changes {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
