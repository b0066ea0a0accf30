//! Saved plans on the command line: `plan FILE -out PLANFILE` writes one, `apply PLANFILE`
//! checks it still holds and runs exactly its steps, `show PLANFILE` renders it. The format and
//! the fingerprint are `crate::plan::saved`; this module is the glue: which target a saved plan
//! names, the checks before applying, and the file itself.
//!
//! A positional file is a saved plan when its content says so (its `format` field), whatever
//! its name; anything else is a topology, handled as before.

use super::output::{errln, out, outln};
use super::target::Resolved;
use super::{ApplyArgs, HostArgs};
use crate::kernel::{Kernel, Marks, Target, netns};
use crate::plan::saved::{
    self, ExternalNs, FORMAT, SavedPlan, SavedTarget, TopologySource, looks_saved,
};
use crate::plan::{Plan, render_json, render_text};
use crate::state::State;
use crate::topology::{Topology, source};
use anyhow::{Context, bail};
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;

/// The largest saved plan read: a plan for 1000 containers is a few MB.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// How much of a file is read to tell a saved plan from a topology: `format` comes first.
const HEAD_BYTES: usize = 4096;

/// Terraform spells it `-out PLANFILE` / `-out=PLANFILE`; clap has no single-dash long options,
/// so those two spellings become `--out` before parsing, and only after the `plan` subcommand
/// and before a `--` (a file named `-out` stays reachable as `-- -out`).
pub fn rewrite_out(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut subcommand: Option<OsString> = None;
    let mut ended = false;
    for (i, arg) in args.into_iter().enumerate() {
        let text = arg.to_string_lossy().into_owned();
        if i == 0 || ended {
            out.push(arg);
            continue;
        }
        if text == "--" {
            ended = true;
        } else if subcommand.is_none() && !text.starts_with('-') {
            subcommand = Some(arg.clone());
        } else if subcommand.as_deref() == Some("plan".as_ref()) {
            if text == "-out" {
                out.push("--out".into());
                continue;
            }
            if let Some(value) = text.strip_prefix("-out=") {
                out.push(format!("--out={value}").into());
                continue;
            }
        }
        out.push(arg);
    }
    out
}

/// Load a topology and the sha256 of its bytes (one read, so the digest is of what was compiled).
pub(super) fn load_topology(file: &Path) -> anyhow::Result<(Topology, String)> {
    let _span = tracing::info_span!("load", file = %file.display()).entered();
    let (topo, text) = super::diagnostics::load(file)?;
    let digest = saved::digest(text.as_bytes());
    Ok((topo, digest))
}

/// The kernel's host name (UTS namespace): which machine a plan was made on.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Everything `plan -out` needs from the plan run.
pub(super) struct ToSave<'a> {
    pub out: &'a Path,
    pub file: &'a Path,
    pub host_args: &'a HostArgs,
    pub resolved: &'a Resolved,
    pub topology: &'a Topology,
    pub topology_sha256: &'a str,
    pub desired: &'a State,
    pub plan: &'a Plan,
}

/// `plan -out`: observe once more (the host's lock is still held) for the fingerprint, check
/// that this observation gives the same plan (else the kernel changed while planning), and
/// write the file.
pub(super) async fn save(kernel: &mut Kernel, what: ToSave<'_>) -> anyhow::Result<()> {
    if !source::is_stdin(what.file)
        && let (Ok(a), Ok(b)) = (
            std::fs::canonicalize(what.file),
            std::fs::canonicalize(what.out),
        )
        && a == b
    {
        bail!(
            "-out {} would overwrite the topology file; nothing was saved",
            what.out.display()
        );
    }
    let observed = kernel
        .observe()
        .await
        .with_context(|| format!("reading the kernel state of {}", what.resolved.describe()))?;
    if crate::plan::diff(what.desired, &observed) != *what.plan {
        bail!(
            "the kernel of {} changed while the plan was made; nothing was saved, run plan again",
            what.resolved.describe()
        );
    }
    let target = saved_target(what.resolved, what.topology, what.host_args)?;
    let topology = TopologySource {
        path: source::display_name(what.file),
        sha256: what.topology_sha256.to_string(),
    };
    let plan = SavedPlan::new(
        crate::clock::now_unix(),
        topology,
        target,
        what.desired,
        what.plan.clone(),
        &observed,
    );
    write_atomic(what.out, plan.to_json().as_bytes())
        .with_context(|| format!("saving the plan to {}", what.out.display()))
}

/// What a saved plan records of the target `resolved`.
fn saved_target(
    resolved: &Resolved,
    topo: &Topology,
    host_args: &HostArgs,
) -> anyhow::Result<SavedTarget> {
    let target = &resolved.target;
    let detected = host_args.host.is_none() && resolved.lab.is_none();
    let mut external = std::collections::BTreeMap::new();
    for (container, path) in &target.external {
        let meta = std::fs::metadata(path).with_context(|| {
            format!(
                "reading the existing netns {} of container {container}",
                path.display()
            )
        })?;
        external.insert(
            container.clone(),
            ExternalNs {
                path: path.display().to_string(),
                dev: meta.dev(),
                ino: meta.ino(),
            },
        );
    }
    Ok(SavedTarget {
        machine: machine_name(),
        host: resolved.host.clone().unwrap_or_default(),
        host_detected: detected,
        underlays: if detected {
            topo.hosts
                .iter()
                .map(|(name, host)| (name.clone(), host.underlay.addr()))
                .collect()
        } else {
            Default::default()
        },
        lab: resolved.lab.clone(),
        scope: topo.scope().to_string(),
        host_id: target.host_id(),
        mark: target.marks.link_alias.clone(),
        netns_mark: target.marks.netns_mark.clone(),
        route_protocol: target.marks.proto,
        host_netns: target.host_netns.clone(),
        container_prefix: target.container_prefix.clone(),
        nft_table: target.nft_table.clone(),
        claimed: target.claimed.clone(),
        external,
    })
}

/// The kernel target a saved plan recorded.
fn target_of(saved: &SavedTarget) -> Target {
    Target {
        host_netns: saved.host_netns.clone(),
        container_prefix: saved.container_prefix.clone(),
        marks: Marks {
            link_alias: saved.mark.clone(),
            proto: saved.route_protocol,
            netns_mark: saved.netns_mark.clone(),
        },
        external: saved
            .external
            .iter()
            .map(|(c, e)| (c.clone(), e.path.clone().into()))
            .collect(),
        claimed: saved.claimed.clone(),
        adopt: Default::default(),
        nft_table: saved.nft_table.clone(),
    }
}

/// The target the host, lab and scope of a saved plan name, as `plan` resolves it (without the
/// topology's parts: claimed prefixes and existing namespaces come from the plan).
fn expected_target(saved: &SavedTarget) -> Target {
    match &saved.lab {
        Some(lab) => crate::lab::host_target(lab, &saved.host),
        None => Target::scoped(&saved.scope, None),
    }
}

/// Which host this run acts as, from the command line and the machine, checked against the
/// host, lab and scope the saved plan was made for (exit 1 naming both on a mismatch).
fn resolve_saved(
    saved: &SavedTarget,
    topology_path: &str,
    args: &HostArgs,
    machine: &str,
    local: &[IpAddr],
) -> anyhow::Result<Resolved> {
    let lab = match args.lab.as_deref() {
        None => saved.lab.clone(),
        // A bare `--lab` means the topology file's stem; the plan recorded the file's name.
        Some("") => saved
            .lab
            .clone()
            .or_else(|| Some(crate::lab::default_name(Path::new(topology_path)))),
        Some(name) => Some(name.to_string()),
    };
    let host = args.host.clone().unwrap_or_else(|| saved.host.clone());
    let now = Resolved {
        host: Some(host.clone()),
        lab: lab.clone(),
        target: Target::local(),
    };
    if (&lab, &host) != (&saved.lab, &saved.host) {
        bail!(
            "saved plan was made for {}, this is {}",
            saved.describe(),
            now.describe()
        );
    }
    if machine != saved.machine {
        bail!(
            "saved plan was made for {} on machine {}, this is machine {machine}",
            saved.describe(),
            saved.machine
        );
    }
    if saved.host_detected && saved.lab.is_none() && args.host.is_none() {
        // Picked by its underlay address being local when planned: pick again here.
        let here: Vec<&String> = saved
            .underlays
            .iter()
            .filter(|(_, addr)| local.contains(addr))
            .map(|(name, _)| name)
            .collect();
        match here.as_slice() {
            [one] if **one == saved.host => {}
            [one] => bail!(
                "saved plan was made for host {}, this is {one} (its underlay address is local here)",
                saved.host
            ),
            [] => bail!(
                "saved plan was made for host {}, but no host of its topology has its underlay address on a local interface here",
                saved.host
            ),
            several => bail!(
                "saved plan was made for host {}, and several hosts of its topology have their underlay address on a local interface here ({}); pass --host NAME",
                saved.host,
                several
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    let target = target_of(saved);
    let expected = expected_target(saved);
    let recorded = (
        &target.host_netns,
        &target.container_prefix,
        &target.marks,
        &target.nft_table,
    );
    if recorded
        != (
            &expected.host_netns,
            &expected.container_prefix,
            &expected.marks,
            &expected.nft_table,
        )
        || saved.host_id != expected.host_id()
    {
        bail!(
            "saved plan names {} (scope {}) but records the target of another (mark {:?}, host id {}); it was not made for this target",
            saved.describe(),
            saved.scope,
            saved.mark,
            saved.host_id
        );
    }
    if let Some(ns) = &target.host_netns
        && !netns::exists(ns)
    {
        bail!(
            "{} does not exist (no netns {ns}); the saved plan cannot be applied",
            saved.describe()
        );
    }
    Ok(Resolved {
        host: Some(host),
        lab,
        target,
    })
}

/// The addresses configured on this machine's interfaces.
fn local_addresses() -> anyhow::Result<Vec<IpAddr>> {
    Ok(nix::ifaddrs::getifaddrs()
        .context("listing local addresses")?
        .filter_map(|ifa| {
            let addr = ifa.address?;
            addr.as_sockaddr_in()
                .map(|a| IpAddr::V4(a.ip()))
                .or_else(|| addr.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())))
        })
        .collect())
}

/// Containers in existing namespaces whose namespace is gone or is another one now.
fn external_drift(saved: &SavedTarget) -> Vec<String> {
    let mut drift = Vec::new();
    for (container, ns) in &saved.external {
        match std::fs::metadata(&ns.path) {
            Err(_) => drift.push(format!(
                "the existing netns {} of container {container} is gone",
                ns.path
            )),
            Ok(meta) if (meta.dev(), meta.ino()) != (ns.dev, ns.ino) => drift.push(format!(
                "the existing netns {} of container {container} is another namespace",
                ns.path
            )),
            Ok(_) => {}
        }
    }
    drift
}

/// `apply PLANFILE`: check the plan was made for this target, lock the host, observe again,
/// refuse when anything fingerprinted changed, else run exactly the saved steps through the
/// normal apply path (approval, waves, verification against the saved desired state, and the
/// transaction: rolled back on failure unless `--no-rollback`).
pub(super) async fn run_apply(
    saved: SavedPlan,
    file: &Path,
    args: &ApplyArgs,
) -> anyhow::Result<ExitCode> {
    let resolved = resolve_saved(
        &saved.target,
        &saved.topology.path,
        &args.host,
        &machine_name(),
        &local_addresses()?,
    )?;
    let _lock = crate::lock::acquire(
        &resolved.target,
        &resolved.describe(),
        crate::lock::Mode::Exclusive,
        args.lock.timeout(),
    )
    .await?;
    let stale = external_drift(&saved.target);
    if !stale.is_empty() {
        bail!("{}", stale_message(&stale));
    }
    let reading = || format!("reading the kernel state of {}", resolved.describe());
    let unfinished = crate::apply::open_transaction(&resolved.target).with_context(reading)?;
    let mut kernel = crate::apply::connect_to_change(resolved.target.clone())
        .await
        .with_context(reading)?;
    if let Some(image) = unfinished {
        kernel.warn(crate::apply::unfinished_note(&image));
    }
    let observed = kernel.observe().await.with_context(reading)?;
    super::print_warnings(&mut kernel);
    let desired = saved.desired_state();
    let mut stale: Vec<String> = saved::drift(&saved.fingerprint, &observed)
        .iter()
        .map(ToString::to_string)
        .collect();
    if stale.is_empty() {
        // Nothing fingerprinted moved, yet planning now may give another plan: something
        // outside the fingerprint decides (e.g. an unowned vxlan now holds the plan's VNI).
        stale.extend(replanned(
            &saved.plan,
            &crate::plan::diff(&desired, &observed),
        ));
    }
    if !stale.is_empty() {
        bail!("{}", stale_message(&stale));
    }
    let checked = format!(
        "Saved plan {} (made {} from {}): the kernel is as it was when the plan was made ({} checked).\n",
        file.display(),
        crate::clock::utc(saved.created_unix),
        saved.topology.path,
        crate::plural::count(saved.fingerprint.len(), "object")
    );
    // With --json, stdout carries only event lines.
    if args.json {
        errln!("{checked}");
    } else {
        outln!("{checked}")?;
    }
    super::apply::apply_and_settle(&resolved, &mut kernel, &saved.plan, &desired, args).await
}

/// Why the plan made now differs from the saved one, if it does: its first new conflict, or
/// its first step that differs.
fn replanned(saved: &Plan, now: &Plan) -> Option<String> {
    if now == saved {
        return None;
    }
    let why = if let Some(c) = now.conflicts.iter().find(|c| !saved.conflicts.contains(c)) {
        c.message.clone()
    } else if let Some((i, step)) = now
        .steps
        .iter()
        .enumerate()
        .find(|(i, s)| saved.steps.get(*i) != Some(*s))
    {
        format!("step {} would be {:?} {}", i + 1, step.action(), step.key())
    } else if now.steps.len() == saved.steps.len() && now.side_effects == saved.side_effects {
        // Same steps, other ordering DAG: a file from a netplan-rs that records it differently.
        "the same steps, ordered by a different dependency graph (a plan saved by another \
         version of netplan-rs?)"
            .to_string()
    } else if now.steps.len() == saved.steps.len() {
        "the same steps, with other side effects".to_string()
    } else {
        format!(
            "{} instead of {}",
            crate::plural::count(now.steps.len(), "step"),
            saved.steps.len()
        )
    };
    Some(format!("planning again now gives a different plan ({why})"))
}

fn stale_message(stale: &[String]) -> String {
    format!(
        "saved plan is stale: {}; nothing was changed, make a new plan",
        stale.join("; ")
    )
}

/// `show PLANFILE`: the plan as `plan` prints it, after a line saying where it comes from;
/// `--json`: the `plan --json` document plus a `saved_plan` object with the metadata.
pub(super) fn run_show(saved: SavedPlan, file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        out!("{}", json_with_metadata(&saved, file)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = &saved.target;
    outln!(
        "Saved plan {}: made {} by netplan-rs {} for {} on machine {}, from {} (sha256 {}); apply checks {} objects against the kernel first.\n",
        file.display(),
        crate::clock::utc(saved.created_unix),
        saved.netplan_rs_version,
        t.describe(),
        t.machine,
        saved.topology.path,
        saved.topology.sha256,
        saved.fingerprint.len()
    )?;
    outln!("Plan for {}:\n", t.describe())?;
    out!("{}", render_text(&saved.plan))?;
    Ok(ExitCode::SUCCESS)
}

/// The metadata `show PLANFILE --json` adds as `saved_plan`.
#[derive(serde::Serialize)]
struct Metadata<'a> {
    file: String,
    format: &'a str,
    format_version: u32,
    netplan_rs_version: &'a str,
    created_unix: u64,
    topology: &'a TopologySource,
    target: &'a SavedTarget,
    fingerprinted_objects: usize,
}

/// `render_json(plan)` with `"saved_plan": {...}` added as the last field (spliced into the
/// text so the plan document stays byte for byte what `plan --json` prints).
fn json_with_metadata(saved: &SavedPlan, file: &Path) -> anyhow::Result<String> {
    let metadata = Metadata {
        file: file.display().to_string(),
        format: FORMAT,
        format_version: saved.format_version,
        netplan_rs_version: &saved.netplan_rs_version,
        created_unix: saved.created_unix,
        topology: &saved.topology,
        target: &saved.target,
        fingerprinted_objects: saved.fingerprint.len(),
    };
    let document = render_json(&saved.plan);
    let Some(body) = document.trim_end().strip_suffix('}') else {
        bail!("internal: the plan JSON is not an object");
    };
    let metadata = serde_json::to_string_pretty(&metadata)?.replace('\n', "\n  ");
    Ok(format!(
        "{},\n  \"saved_plan\": {metadata}\n}}\n",
        body.trim_end()
    ))
}

/// The saved plan at `path`, or `None` when the file is a topology (or cannot be read: the
/// topology loader then says why). A file that starts like a saved plan but does not parse is
/// an error naming the file, never read as a topology.
pub(super) fn detect(path: &Path) -> anyhow::Result<Option<SavedPlan>> {
    if source::is_stdin(path) {
        return Ok(None);
    }
    // Only a regular file is opened (a FIFO would block); non-blocking in case it was swapped.
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        _ => return Ok(None),
    }
    let Ok(handle) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return Ok(None);
    };
    if !handle.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    let mut limited = handle.take(MAX_FILE_BYTES + 1);
    limited
        .by_ref()
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut bytes)?;
    if !looks_saved(&bytes) {
        return Ok(None);
    }
    let name = path.display();
    limited
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading saved plan {name}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!("saved plan {name} is larger than {MAX_FILE_BYTES} bytes; refusing to read it");
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "saved plan {name} cannot be used: it is not UTF-8; the file may be damaged"
        )
    })?;
    SavedPlan::parse(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("saved plan {name} cannot be used: {e}"))
}

/// Write `bytes` to `path` atomically, mode 0600: a temporary file next to it, synced, renamed
/// over it. A reader never sees half a plan, and a plan (which names the host's objects) is
/// not readable by other users.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Tell the user where the plan went and how to apply it (stderr when stdout carries JSON).
pub(super) fn print_saved(out: &Path, json: bool) -> anyhow::Result<()> {
    let text = format!(
        "\nSaved the plan to: {0}\n\nTo perform exactly these actions, run:\n    netplan-rs apply {0}",
        out.display()
    );
    if json {
        errln!("{}", text.trim_start());
        Ok(())
    } else {
        outln!("{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        rewrite_out(list.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn terraform_spellings_of_out_become_long_options_after_plan_only() {
        assert_eq!(
            args(&["np", "plan", "t.yaml", "-out", "p"]),
            ["np", "plan", "t.yaml", "--out", "p"]
        );
        assert_eq!(
            args(&["np", "-v", "plan", "-out=p", "t.yaml"]),
            ["np", "-v", "plan", "--out=p", "t.yaml"]
        );
        assert_eq!(
            args(&["np", "apply", "t.yaml", "-out", "p"]),
            ["np", "apply", "t.yaml", "-out", "p"]
        );
        assert_eq!(
            args(&["np", "plan", "--", "-out"]),
            ["np", "plan", "--", "-out"]
        );
    }

    fn lab_target() -> SavedTarget {
        let t = crate::lab::host_target("lab1", "node-1");
        SavedTarget {
            machine: "m1".into(),
            host: "node-1".into(),
            host_detected: false,
            underlays: Default::default(),
            lab: Some("lab1".into()),
            scope: "default".into(),
            host_id: t.host_id(),
            mark: t.marks.link_alias.clone(),
            netns_mark: t.marks.netns_mark.clone(),
            route_protocol: t.marks.proto,
            host_netns: t.host_netns.clone(),
            container_prefix: t.container_prefix.clone(),
            nft_table: t.nft_table.clone(),
            claimed: None,
            external: Default::default(),
        }
    }

    fn real_target(scope: &str) -> SavedTarget {
        let t = Target::scoped(scope, None);
        SavedTarget {
            lab: None,
            host_detected: true,
            underlays: [
                ("node-1".to_string(), "10.9.0.1".parse().unwrap()),
                ("node-2".to_string(), "10.9.0.2".parse().unwrap()),
            ]
            .into(),
            scope: scope.into(),
            host_id: t.host_id(),
            mark: t.marks.link_alias.clone(),
            netns_mark: t.marks.netns_mark.clone(),
            host_netns: None,
            container_prefix: String::new(),
            nft_table: t.nft_table.clone(),
            ..lab_target()
        }
    }

    fn host_args(host: Option<&str>, lab: Option<&str>) -> HostArgs {
        HostArgs {
            host: host.map(str::to_string),
            lab: lab.map(str::to_string),
        }
    }

    fn refusal(saved: &SavedTarget, args: &HostArgs, machine: &str, local: &[&str]) -> String {
        let local: Vec<IpAddr> = local.iter().map(|a| a.parse().unwrap()).collect();
        match resolve_saved(saved, "t.yaml", args, machine, &local) {
            Ok(_) => "accepted".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_plan_for_another_host_lab_or_machine_is_refused() {
        let lab = lab_target();
        assert_eq!(
            refusal(&lab, &host_args(Some("node-2"), None), "m1", &[]),
            "saved plan was made for simulated host node-1 of lab lab1, this is simulated host node-2 of lab lab1"
        );
        assert_eq!(
            refusal(&lab, &host_args(None, Some("lab2")), "m1", &[]),
            "saved plan was made for simulated host node-1 of lab lab1, this is simulated host node-1 of lab lab2"
        );
        assert_eq!(
            refusal(&lab, &host_args(None, None), "m2", &[]),
            "saved plan was made for simulated host node-1 of lab lab1 on machine m1, this is machine m2"
        );
        let real = real_target("default");
        assert_eq!(
            refusal(&real, &host_args(None, Some("lab1")), "m1", &[]),
            "saved plan was made for host node-1, this is simulated host node-1 of lab lab1"
        );
        // Copied to the machine that is node-2.
        assert_eq!(
            refusal(&real, &host_args(None, None), "m1", &["10.9.0.2"]),
            "saved plan was made for host node-1, this is node-2 (its underlay address is local here)"
        );
        assert!(
            refusal(&real, &host_args(None, None), "m1", &[]).contains("no host of its topology")
        );
        // The right machine: accepted (a real host needs no namespace to exist).
        assert_eq!(
            refusal(&real, &host_args(None, None), "m1", &["10.9.0.1"]),
            "accepted"
        );
        assert_eq!(
            refusal(&real, &host_args(Some("node-1"), None), "m1", &[]),
            "accepted"
        );
    }

    #[test]
    fn a_target_that_is_not_the_one_its_host_lab_and_scope_name_is_refused() {
        // Scope edge, but the marks of the default scope: not the target the plan names.
        let mut mixed = real_target("edge");
        mixed.mark = real_target("default").mark;
        let text = refusal(&mixed, &host_args(None, None), "m1", &["10.9.0.1"]);
        assert!(text.contains("it was not made for this target"), "{text}");
        assert_eq!(
            refusal(
                &real_target("edge"),
                &host_args(None, None),
                "m1",
                &["10.9.0.1"]
            ),
            "accepted"
        );
        // A lab host's plan whose namespace is another host's.
        let mut moved = lab_target();
        moved.host_netns = Some("lab1-node-2".into());
        assert!(refusal(&moved, &host_args(None, None), "m1", &[]).contains("not made for this"));
    }

    #[test]
    fn the_written_file_is_private_and_whole() {
        let dir = std::env::temp_dir().join(format!("nps-saved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"{\"new\": 1}").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"new\": 1}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A saved plan whose steps match but whose DAG was recorded otherwise (an older build
    /// listed every barrier member in each step) is refused with a reason that says so.
    #[test]
    fn a_plan_with_the_same_steps_and_another_dag_says_why_it_is_refused() {
        let text = std::fs::read_to_string(format!(
            "{}/topologies/vxlan-routed.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let topo = crate::topology::load_str(&text, "vxlan-routed.yaml").unwrap();
        let host = topo.hosts.keys().next().unwrap().clone();
        let desired = crate::compile::compile(&topo, &host).unwrap();
        let now = crate::plan::diff(&desired, &crate::state::State::default());
        assert!(
            !now.barriers.is_empty(),
            "the example has routes behind barriers"
        );
        assert_eq!(replanned(&now, &now), None);
        let mut old = now.clone();
        old.deps = (0..old.steps.len()).map(|i| old.waits_for(i)).collect();
        old.barriers.clear();
        assert!(old.has_dag());
        let why = replanned(&old, &now).expect("refused");
        assert!(why.contains("different dependency graph"), "{why}");
    }
}
