//! `netplan-rs show [FILE]`: the live objects netplan-rs owns on this host, grouped by namespace.

use super::ShowArgs;
use super::output::outln;
use super::target::resolve_optional;
use crate::kernel::Kernel;
use crate::state::{Ns, Object};
use anyhow::Context;
use std::collections::BTreeMap;
use std::process::ExitCode;

pub async fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.file
        && let Some(saved) = super::saved::detect(file)?
    {
        return super::saved::run_show(saved, file, args.json);
    }
    let topo = match &args.file {
        Some(file) => Some(super::load(file)?),
        None => None,
    };
    let resolved = resolve_optional(topo.as_ref(), args.file.as_deref(), &args.host)?;
    // Shared: several readers at once, none while an apply or destroy changes the host.
    let _lock = crate::lock::acquire(
        &resolved.target,
        &resolved.describe(),
        crate::lock::Mode::Shared,
        args.lock.timeout(),
    )
    .await?;
    let mut kernel = Kernel::connect(resolved.target.clone()).await?;
    let observed = kernel
        .observe()
        .await
        .with_context(|| format!("reading the kernel state of {}", resolved.describe()))?;
    super::print_warnings(&mut kernel);
    let mut by_ns: BTreeMap<Ns, Vec<&Object>> = BTreeMap::new();
    for object in observed.iter().filter(|o| o.owned()) {
        by_ns.entry(object.key().ns()).or_default().push(object);
    }
    if args.json {
        let json: BTreeMap<String, &Vec<&Object>> = by_ns
            .iter()
            .map(|(ns, objs)| (ns.to_string(), objs))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&json)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if by_ns.is_empty() {
        outln!("netplan-rs owns nothing on {}.", resolved.describe())?;
    }
    for (ns, objects) in &by_ns {
        outln!("{ns}:")?;
        for object in objects {
            outln!("  {}", object.describe())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
