//! `netplan-rs lab up|down|verify|demo FILE [--lab NAME]`: simulated hosts in namespaces.

use super::output::{errln, out, outln};
use super::{LabArgs, LabCommand, load};
use crate::kernel::netns;
use crate::lab;
use crate::plan::render_text;
use anyhow::Context;
use std::process::ExitCode;

pub async fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    match command {
        LabCommand::Up(args) => {
            let (topo, name) = open(&args)?;
            catch_signals()?;
            let existed = netns::exists(&lab::switch_netns(&name));
            let outcome = async {
                up(&topo, &name, false).await?;
                stop_if_signalled()?;
                outln!(
                    "Lab {name} is up. Next: netplan-rs lab verify {} --lab {name}",
                    args.file.display()
                )
            }
            .await;
            match outcome {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => failed_up(&args, &name, existed, e).await,
            }
        }
        LabCommand::Down(args) => {
            let name = lab_name(&args)?;
            // Tearing down runs to its end even when interrupted: half a lab is worse than a
            // lab. The signal still sets the exit code.
            catch_signals()?;
            crate::signals::shield();
            if lab::down(&name).await? {
                outln!("Lab {name} removed.")?;
            } else {
                outln!("Lab {name} is not up; nothing to remove.")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Verify(args) => {
            let (topo, name) = open(&args)?;
            verify(&topo, &name)
        }
        LabCommand::Demo(args) => {
            let (topo, name) = open(&args)?;
            catch_signals()?;
            let outcome = demo(&topo, &name).await;
            // Always tear down, even when a step failed, a signal arrived or stdout was closed;
            // and without stopping half way for a signal.
            crate::signals::shield();
            let down = lab::down(&name).await;
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
        match lab::down(name).await {
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
    let name = args
        .lab
        .clone()
        .unwrap_or_else(|| lab::default_name(&args.file));
    lab::check_name(&name).map_err(anyhow::Error::msg)?;
    Ok(name)
}

fn open(args: &LabArgs) -> anyhow::Result<(crate::topology::Topology, String)> {
    let topo = load(&args.file)?;
    Ok((topo, lab_name(args)?))
}

/// Build the hosts, then plan and apply the file on each (printing plans when `show_plans`).
async fn up(topo: &crate::topology::Topology, name: &str, show_plans: bool) -> anyhow::Result<()> {
    lab::build_hosts(topo, name).await?;
    outln!(
        "Lab {name}: {} simulated hosts on switch {}",
        topo.hosts.len(),
        lab::switch_netns(name)
    )?;
    for host in topo.hosts.keys() {
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

async fn demo(topo: &crate::topology::Topology, name: &str) -> anyhow::Result<ExitCode> {
    up(topo, name, true).await?;
    stop_if_signalled()?;
    outln!()?;
    let code = verify(topo, name)?;
    stop_if_signalled()?;
    Ok(code)
}
