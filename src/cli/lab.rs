//! `netplan-rs lab up|down|verify|demo FILE [--lab NAME]`: simulated hosts in namespaces.

use super::{LabArgs, LabCommand, load};
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
            up(&topo, &name, false, timeout).await?;
            println!(
                "Lab {name} is up. Next: netplan-rs lab verify {} --lab {name}",
                args.file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down(args) => {
            let name = lab_name(&args)?;
            let timeout = args.lock.timeout();
            let lab_lock = lab::lock_lab(&name, Mode::Exclusive, timeout).await?;
            let removed = lab::down(&name, &file_hosts(&args), timeout).await?;
            remove_lock(lab_lock);
            if removed {
                println!("Lab {name} removed.");
            } else {
                println!("Lab {name} is not up; nothing to remove.");
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Verify(args) => {
            let (topo, name) = open(&args)?;
            // Without its hosts every probe would fail: one error instead of a matrix of FAIL.
            lab::check_up(&topo, &name).map_err(anyhow::Error::msg)?;
            let _lab = lab::lock_lab(&name, Mode::Shared, args.lock.timeout()).await?;
            Ok(verify(&topo, &name))
        }
        LabCommand::Demo(args) => {
            let (topo, name) = open(&args)?;
            let timeout = args.lock.timeout();
            // Held from up to down: nobody else's lab command runs between them.
            let lab_lock = lab::lock_lab(&name, Mode::Exclusive, timeout).await?;
            let outcome = demo(&topo, &name, timeout).await;
            // Always tear down, even when a step failed.
            let hosts: Vec<String> = topo.hosts.keys().cloned().collect();
            let down = lab::down(&name, &hosts, timeout).await;
            if down.is_ok() {
                remove_lock(lab_lock);
            }
            let code = outcome?;
            down?;
            println!("Lab {name} removed.");
            Ok(code)
        }
    }
}

/// The lab is gone: release its lock and delete the file (a failure only leaves clutter).
fn remove_lock(lab_lock: crate::lock::HostLock) {
    if let Err(e) = lab_lock.remove() {
        tracing::warn!("removing the lab's lock file: {e}");
    }
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
    println!(
        "Lab {name}: {} simulated hosts on switch {}",
        topo.hosts.len(),
        lab::switch_netns(name)
    );
    for host in topo.hosts.keys() {
        let (mut kernel, desired, plan) = lab::plan_host(topo, name, host).await?;
        if show_plans {
            println!("\n=== plan for simulated host {host} ===\n");
            print!("{}", render_text(&plan));
        }
        let (add, change, destroy) = plan.summary();
        lab::converge(&mut kernel, &plan, &desired)
            .await
            .with_context(|| format!("simulated host {host}"))?;
        println!("{host}: applied ({add} added, {change} changed, {destroy} destroyed), verified");
        // Done with this host: an apply waiting for it may go on while the next one is built.
        drop(kernel);
        host_locks.remove(host);
    }
    Ok(())
}

fn verify(topo: &crate::topology::Topology, name: &str) -> ExitCode {
    let matrix = lab::verify(topo, name);
    println!("Connectivity in lab {name} (row: from, column: to):\n");
    print!("{}", matrix.report());
    if matrix.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn demo(
    topo: &crate::topology::Topology,
    name: &str,
    lock_timeout: Duration,
) -> anyhow::Result<ExitCode> {
    up(topo, name, true, lock_timeout).await?;
    println!();
    Ok(verify(topo, name))
}
