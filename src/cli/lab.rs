//! `netplan-rs lab up|down|verify|demo FILE [--lab NAME]`: simulated hosts in namespaces.

use super::output::{errln, out, outln};
use super::{LabArgs, LabCommand, load};
use crate::kernel::netns;
use crate::lab;
use crate::lock::Mode;
use crate::plan::render_text;
use anyhow::Context;
use std::process::ExitCode;
use std::time::Duration;

/// Every lab command locks the lab (its switch) for its whole run, exclusively except `verify`,
/// which only reads; up and down also lock each host they act on (see `lab::lock_lab`).
pub async fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    match command {
        LabCommand::Up(args) => {
            let (topo, name) = open(&args)?;
            let timeout = args.lock.timeout();
            let _lab = lab::lock_lab(&name, Mode::Exclusive, timeout).await?;
            catch_signals()?;
            let existed = netns::exists(&lab::switch_netns(&name));
            let outcome = async {
                up(&topo, &name, false, timeout).await?;
                stop_if_signalled()?;
                outln!(
                    "Lab {name} is up. Next: netplan-rs lab verify {} --lab {name}",
                    args.file.display()
                )
            }
            .await;
            match outcome {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => failed_up(&args, &name, existed, e, timeout).await,
            }
        }
        LabCommand::Down(args) => {
            let name = lab_name(&args)?;
            // Tearing down runs to its end even when interrupted: half a lab is worse than a
            // lab. The signal still sets the exit code.
            let timeout = args.lock.timeout();
            let lab_lock = lab::lock_lab(&name, Mode::Exclusive, timeout).await?;
            catch_signals()?;
            crate::signals::shield();
            let removed = lab::down(&name, &file_hosts(&args), timeout).await?;
            remove_lock(lab_lock);
            if removed {
                outln!("Lab {name} removed.")?;
            } else {
                outln!("Lab {name} is not up; nothing to remove.")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Verify(verify_args) => {
            let args = &verify_args.lab;
            let (topo, name) = open(args)?;
            // Without its hosts every probe would fail: one error instead of a matrix of FAIL.
            lab::check_up(&topo, &name).map_err(anyhow::Error::msg)?;
            let _lab = lab::lock_lab(&name, Mode::Shared, args.lock.timeout()).await?;
            if verify_args.json {
                let matrix = lab::verify(&topo, &name);
                let doc = lab::verify_json::render(&matrix, &name);
                outln!("{}", serde_json::to_string_pretty(&doc)?)?;
                return Ok(ExitCode::from(u8::from(!matrix.passed())));
            }
            verify(&topo, &name)
        }
        LabCommand::Demo(args) => {
            let (topo, name) = open(&args)?;
            let timeout = args.lock.timeout();
            // Held from up to down: nobody else's lab command runs between them.
            let lab_lock = lab::lock_lab(&name, Mode::Exclusive, timeout).await?;
            catch_signals()?;
            let outcome = demo(&topo, &name, timeout).await;
            // Always tear down, even when a step failed, a signal arrived or stdout was closed;
            // and without stopping half way for a signal.
            crate::signals::shield();
            let hosts: Vec<String> = topo.hosts.keys().cloned().collect();
            let down = lab::down(&name, &hosts, timeout).await;
            if down.is_ok() {
                remove_lock(lab_lock);
            }
            match (outcome, down) {
                (Ok(code), Ok(_)) => {
                    outln!("Lab {name} removed.")?;
                    Ok(code)
                }
                (outcome, down) => {
                    let closed = matches!(&outcome, Err(e) if super::output::is_closed(e));
                    if let Err(e) = &outcome
                        && !closed
                    {
                        report_failure(e);
                    }
                    match down {
                        Err(down) => {
                            errln!("Error: tearing down lab {name}: {down:#}");
                            errln!("{}", down_hint(&args, &name));
                        }
                        // Said on stderr: stdout may be the pipe that was closed.
                        Ok(_) if !closed => errln!("Lab {name} removed."),
                        Ok(_) => {}
                    }
                    match outcome {
                        Err(e) if closed => Err(e),
                        _ => Ok(ExitCode::from(1)),
                    }
                }
            }
        }
    }
}

/// The lab is gone: release its lock and delete the file (a failure only leaves clutter).
fn remove_lock(lab_lock: crate::lock::HostLock) {
    if let Err(e) = lab_lock.remove() {
        tracing::warn!("removing the lab's lock file: {e}");
    }
}

/// Catch SIGINT/SIGTERM: building and tearing down a lab stop at a safe point, never mid-wave.
fn catch_signals() -> anyhow::Result<()> {
    crate::signals::install().context("catching SIGINT and SIGTERM")
}

/// An error when a signal arrived: the lab is built host by host, and a signal caught during
/// the last host's apply (after its last wave) would otherwise go unnoticed.
fn stop_if_signalled() -> anyhow::Result<()> {
    match crate::signals::pending() {
        Some(signal) => anyhow::bail!("interrupted by {signal}"),
        None => Ok(()),
    }
}

/// Print why the command stopped (never called for a closed stdout, which ends quietly).
fn report_failure(e: &anyhow::Error) {
    match crate::signals::arrived() {
        // The signal is what the user needs to read first; the error says where it stopped.
        Some(signal) => errln!("Interrupted by {signal}: {e:#}"),
        None => errln!("Error: {e:#}"),
    }
}

/// `lab up` failed or was interrupted: remove what this command built. A lab that was up before
/// is left as it is (its earlier state is not known any more), with the command that removes it.
async fn failed_up(
    args: &LabArgs,
    name: &str,
    existed: bool,
    error: anyhow::Error,
    lock_timeout: Duration,
) -> anyhow::Result<ExitCode> {
    crate::signals::shield();
    let closed = super::output::is_closed(&error);
    if !closed {
        report_failure(&error);
    }
    if existed {
        errln!(
            "Lab {name} was up before this command and is left as it is now. {}",
            down_hint(args, name)
        );
    } else {
        match lab::down(name, &file_hosts(args), lock_timeout).await {
            Ok(_) if !closed => errln!("Lab {name} was torn down: nothing of it is left."),
            Ok(_) => {}
            Err(down) => {
                errln!("Error: tearing down lab {name}: {down:#}");
                errln!("{}", down_hint(args, name));
            }
        }
    }
    if closed {
        return Err(error);
    }
    Ok(ExitCode::from(1))
}

fn down_hint(args: &LabArgs, name: &str) -> String {
    format!(
        "Run `netplan-rs lab down {} --lab {name}` to remove it.",
        args.file.display()
    )
}

fn lab_name(args: &LabArgs) -> anyhow::Result<String> {
    let name = match &args.lab {
        Some(name) => name.clone(),
        None => super::default_lab_name(&args.file)?,
    };
    lab::check_name(&name).map_err(anyhow::Error::msg)?;
    Ok(name)
}

/// The hosts the file names, for `lab down` to find leftovers by name; a file that no longer
/// loads names none (the lab's switch still knows its hosts).
fn file_hosts(args: &LabArgs) -> Vec<String> {
    crate::topology::load(&args.file)
        .map(|topo| topo.hosts.keys().cloned().collect())
        .unwrap_or_default()
}

fn open(args: &LabArgs) -> anyhow::Result<(crate::topology::Topology, String)> {
    let topo = load(&args.file)?;
    Ok((topo, lab_name(args)?))
}

/// Build the hosts, then plan and apply the file on each (printing plans when `show_plans`).
/// The caller holds the lab's lock; each host stays locked until it is applied and verified.
async fn up(
    topo: &crate::topology::Topology,
    name: &str,
    show_plans: bool,
    lock_timeout: Duration,
) -> anyhow::Result<()> {
    let mut host_locks = lab::build_hosts(topo, name, lock_timeout).await?;
    outln!(
        "Lab {name}: {} on switch {}",
        crate::plural::count(topo.hosts.len(), "simulated host"),
        lab::switch_netns(name)
    )?;
    for host in topo.hosts.keys() {
        for line in lab::standin::make_standins(topo, name, host)? {
            outln!("{host}: {line}")?;
        }
        let (mut kernel, desired, plan) = lab::plan_host(topo, name, host).await?;
        if show_plans {
            outln!("\n=== plan for simulated host {host} ===\n")?;
            out!("{}", render_text(&plan))?;
        }
        let (add, change, destroy) = plan.summary();
        lab::converge(&mut kernel, &plan, &desired)
            .await
            .with_context(|| format!("simulated host {host}"))?;
        outln!("{host}: applied ({add} added, {change} changed, {destroy} destroyed), verified")?;
        // Done with this host: an apply waiting for it may go on while the next one is built.
        drop(kernel);
        host_locks.remove(host);
    }
    Ok(())
}

fn verify(topo: &crate::topology::Topology, name: &str) -> anyhow::Result<ExitCode> {
    let matrix = lab::verify(topo, name);
    outln!("Connectivity in lab {name} (row: from, column: to):\n")?;
    out!("{}", matrix.report())?;
    if matrix.passed() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

async fn demo(
    topo: &crate::topology::Topology,
    name: &str,
    lock_timeout: Duration,
) -> anyhow::Result<ExitCode> {
    up(topo, name, true, lock_timeout).await?;
    stop_if_signalled()?;
    outln!()?;
    let code = verify(topo, name)?;
    stop_if_signalled()?;
    Ok(code)
}
