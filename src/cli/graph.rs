//! `netplan-rs graph FILE`: the topology (or, with `--plan`, one host's plan DAG) as DOT or
//! Mermaid text on stdout. The topology picture and `--plan --offline` need no root and no
//! kernel; `--plan` without `--offline` reads the host's kernel like `plan` does.

use super::output::{errln, out};
use super::{GraphArgs, GraphFormat};
use crate::graph::{Format, empty_host, plan_graph, topology_graph};
use crate::lock;
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Mermaid => Format::Mermaid,
    };
    let graph = if args.plan {
        plan(&args).await?
    } else {
        if args.lab.is_some() {
            bail!("--lab only applies to `graph --plan` (the topology picture reads no kernel)");
        }
        let topo = super::load(&args.file)?;
        topology_graph(
            &topo,
            &format!("topology {}", stem(&args.file)),
            args.host.as_deref(),
        )?
    };
    out!("{}", format.render(&graph))?;
    Ok(ExitCode::SUCCESS)
}

/// The plan of one host: against an empty host with `--offline`, else against its kernel.
async fn plan(args: &GraphArgs) -> anyhow::Result<crate::graph::Graph> {
    if args.offline {
        let Some(host) = &args.host else {
            bail!("graph --plan --offline needs --host NAME (there is no kernel to pick it from)");
        };
        let topo = super::load(&args.file)?;
        let desired = crate::compile::compile(&topo, host)?;
        let plan = crate::plan::diff(&desired, &empty_host(&desired));
        return Ok(plan_graph(
            &plan,
            &format!("plan for host {host} (offline: against an empty host)"),
        ));
    }
    let host_args = super::HostArgs {
        host: args.host.clone(),
        lab: args.lab.clone(),
    };
    let host_plan =
        super::plan::host_plan(&args.file, &host_args, args.lock, lock::Mode::Shared).await?;
    if !host_plan.plan.conflicts.is_empty() {
        errln!(
            "warning: the plan has {} conflict(s); they are drawn as notes and nothing could be applied",
            host_plan.plan.conflicts.len()
        );
    }
    Ok(plan_graph(
        &host_plan.plan,
        &format!("plan for {}", host_plan.resolved.describe()),
    ))
}

/// The file's stem for the title (`stdin` for `-`).
fn stem(file: &Path) -> String {
    if crate::topology::source::is_stdin(file) {
        return "stdin".to_string();
    }
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string())
}
