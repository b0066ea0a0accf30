//! `netplan-rs lab up|down|verify|demo FILE [--lab NAME]`: simulated hosts in namespaces.

use super::{LabArgs, LabCommand, load};
use crate::lab;
use crate::plan::render_text;
use anyhow::Context;
use std::process::ExitCode;

pub async fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    match command {
        LabCommand::Up(args) => {
            let (topo, name) = open(&args)?;
            up(&topo, &name, false).await?;
            println!(
                "Lab {name} is up. Next: netplan-rs lab verify {} --lab {name}",
                args.file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down(args) => {
            let name = lab_name(&args)?;
            if lab::down(&name, &file_hosts(&args)).await? {
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
            Ok(verify(&topo, &name))
        }
        LabCommand::Demo(args) => {
            let (topo, name) = open(&args)?;
            let outcome = demo(&topo, &name).await;
            // Always tear down, even when a step failed.
            let hosts: Vec<String> = topo.hosts.keys().cloned().collect();
            let down = lab::down(&name, &hosts).await;
            let code = outcome?;
            down?;
            println!("Lab {name} removed.");
            Ok(code)
        }
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
async fn up(topo: &crate::topology::Topology, name: &str, show_plans: bool) -> anyhow::Result<()> {
    lab::build_hosts(topo, name).await?;
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

async fn demo(topo: &crate::topology::Topology, name: &str) -> anyhow::Result<ExitCode> {
    up(topo, name, true).await?;
    println!();
    Ok(verify(topo, name))
}
