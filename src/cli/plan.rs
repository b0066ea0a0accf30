//! `netplan-rs plan FILE`: compile the file for this host, observe the kernel, print the diff.

use super::target::{Resolved, resolve};
use super::{HostArgs, PlanArgs, load};
use crate::kernel::Kernel;
use crate::plan::{Plan, render_json, render_text};
use crate::state::State;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Everything `plan` and `apply` share: the host, its desired state, a kernel session and the plan.
pub(super) struct HostPlan {
    pub resolved: Resolved,
    pub desired: State,
    pub kernel: Kernel,
    pub plan: Plan,
}

/// `change`: the caller will apply the plan (adopt what an interrupted run left first, see
/// `apply::prepare_change`); otherwise read only.
pub(super) async fn host_plan(
    file: &Path,
    host_args: &HostArgs,
    change: bool,
) -> anyhow::Result<HostPlan> {
    let topo = load(file)?;
    let resolved = resolve(&topo, file, host_args)?;
    let host = resolved.host.clone().unwrap_or_default();
    let desired = crate::compile::compile(&topo, &host).with_context(|| {
        format!(
            "compiling {} for host {host}",
            crate::topology::source::display_name(file)
        )
    })?;
    let desired = resolved.target.localize(desired);
    let target = resolved.target.clone();
    let prepared = match change {
        true => crate::apply::prepare_change(target, &desired).await,
        false => crate::apply::prepare(target, &desired).await,
    };
    let (mut kernel, plan) =
        prepared.with_context(|| format!("reading the kernel state of {}", resolved.describe()))?;
    super::print_warnings(&mut kernel);
    Ok(HostPlan {
        resolved,
        desired,
        kernel,
        plan,
    })
}

pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let HostPlan { resolved, plan, .. } = host_plan(&args.file, &args.host, false).await?;
    if args.json {
        println!("{}", render_json(&plan));
    } else {
        println!("Plan for {}:\n", resolved.describe());
        print!("{}", render_text(&plan));
    }
    if !plan.conflicts.is_empty() {
        eprintln!(
            "Error: the plan has {} conflict(s) (names taken by objects netplan-rs does not own, or links that do not exist); nothing can be applied",
            plan.conflicts.len()
        );
        return Ok(ExitCode::from(1));
    }
    if args.detailed_exitcode && !plan.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
