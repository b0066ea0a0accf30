//! `netplan-rs plan FILE`: compile the file for this host, observe the kernel, print the diff.

use super::output::{errln, out, outln};
use super::target::{Resolved, resolve};
use super::{HostArgs, LockArgs, PlanArgs};
use crate::kernel::Kernel;
use crate::lock::{self, HostLock};
use crate::plan::{Plan, render_json, render_text};
use crate::state::State;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Everything `plan` and `apply` share: the host, its desired state, a kernel session, the plan,
/// and the host's lock, held since before the kernel was read (drop it after the last use of
/// the kernel: for apply, after verifying).
pub(super) struct HostPlan {
    pub resolved: Resolved,
    pub desired: State,
    pub kernel: Kernel,
    pub plan: Plan,
    pub lock: HostLock,
    /// The topology and the sha256 of its bytes (for `plan -out`).
    pub topology: crate::topology::Topology,
    pub topology_sha256: String,
}

/// Load, resolve and compile (bad input fails before any wait for the lock), lock the host in
/// `mode`, then read the kernel and plan.
pub(super) async fn host_plan(
    file: &Path,
    host_args: &HostArgs,
    lock_args: LockArgs,
    mode: lock::Mode,
) -> anyhow::Result<HostPlan> {
    let (topo, topology_sha256) = super::saved::load_topology(file)?;
    let resolved = resolve(&topo, file, host_args)?;
    let host = resolved.host.clone().unwrap_or_default();
    let desired = crate::compile::compile(&topo, &host).with_context(|| {
        format!(
            "compiling {} for host {host}",
            crate::topology::source::display_name(file)
        )
    })?;
    let desired = resolved.target.localize(desired);
    let lock = lock::acquire(
        &resolved.target,
        &resolved.describe(),
        mode,
        lock_args.timeout(),
    )
    .await?;
    let target = resolved.target.clone();
    let prepared = match mode {
        lock::Mode::Exclusive => crate::apply::prepare_change(target, &desired).await,
        lock::Mode::Shared => crate::apply::prepare(target, &desired).await,
    };
    let (mut kernel, plan) =
        prepared.with_context(|| format!("reading the kernel state of {}", resolved.describe()))?;
    super::print_warnings(&mut kernel);
    Ok(HostPlan {
        resolved,
        desired,
        kernel,
        plan,
        lock,
        topology: topo,
        topology_sha256,
    })
}

pub async fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let HostPlan {
        resolved,
        desired,
        mut kernel,
        plan,
        lock: _lock,
        topology,
        topology_sha256,
    } = host_plan(&args.file, &args.host, args.lock, lock::Mode::Shared).await?;
    if args.json {
        outln!("{}", render_json(&plan))?;
    } else {
        outln!("Plan for {}:\n", resolved.describe())?;
        out!("{}", render_text(&plan))?;
    }
    if !plan.conflicts.is_empty() {
        errln!(
            "Error: the plan has {} (names taken by objects netplan-rs does not own, or links that do not exist); nothing can be applied",
            crate::plural::count(plan.conflicts.len(), "conflict")
        );
        if args.out.is_some() {
            errln!("Nothing was saved: a plan with conflicts cannot be applied.");
        }
        return Ok(ExitCode::from(1));
    }
    if let Some(out) = &args.out {
        let what = super::saved::ToSave {
            out,
            file: &args.file,
            host_args: &args.host,
            resolved: &resolved,
            topology: &topology,
            topology_sha256: &topology_sha256,
            desired: &desired,
            plan: &plan,
        };
        super::saved::save(&mut kernel, what).await?;
        super::saved::print_saved(out, args.json)?;
    }
    if args.detailed_exitcode && !plan.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
