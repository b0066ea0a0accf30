//! `netplan-rs confirm [FILE]`: keep the change of an `apply --confirm-timeout` that waits on this
//! host (or on `--lab L --host H`), typically from a new SSH session after the change cut the
//! old one. It talks to the waiting apply through the run directory ([`crate::confirmation`]),
//! never through the host's lock, which that apply holds while it waits.

use super::ConfirmArgs;
use super::output::{errln, outln};
use super::target::resolve_optional;
use crate::confirmation::{self, Found};
use crate::kernel::Target;
use std::process::ExitCode;
use std::time::Duration;

/// How long to wait for the apply to act on the confirmation (it looks every 100 ms; the rest
/// is room for a loaded machine).
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(args: ConfirmArgs) -> anyhow::Result<ExitCode> {
    let topo = match &args.file {
        Some(file) => Some(super::load(file)?),
        None => None,
    };
    // A simulated host is found as `apply` finds it; on a real host only the scope matters
    // (which host of the file this machine is plays no part in the file names).
    let (target, describe) = if args.host.lab.is_some() {
        let resolved = resolve_optional(topo.as_ref(), args.file.as_deref(), &args.host)?;
        let describe = resolved.describe();
        (resolved.target, describe)
    } else {
        let target = match &topo {
            Some(topo) => Target::scoped(topo.scope(), None),
            None => Target::local(),
        };
        (target, "this host".to_string())
    };
    // The scope is known from a file (its scope's mark) or a lab host (one mark per simulated
    // host); on a real host without a file, every scope's waiting apply is a candidate.
    let mark =
        (topo.is_some() || args.host.lab.is_some()).then_some(target.marks.link_alias.as_str());
    let host_id = target.host_id();
    let search = confirmation::find_in(&crate::rundir::dir(), &host_id, mark)?;
    for stale in &search.stale {
        errln!(
            "warning: the apply that waited for confirmation on {} (pid {}: {}) is gone; removed its stale file {}. \
             Its change may still be in place with its rollback journal: `netplan-rs rollback` undoes it, a new `apply` keeps it.",
            stale.pending.describe,
            stale.pending.pid,
            stale.pending.command,
            stale.path.display()
        );
    }
    let found = match search.waiting.as_slice() {
        [] => anyhow::bail!(
            "no apply is waiting for confirmation on {}{}",
            describe,
            if search.stale.is_empty() {
                ""
            } else {
                " (only a stale file, see above)"
            }
        ),
        [one] => one,
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|f| format!("  - {}", f.pending.summary()))
                .collect();
            anyhow::bail!(
                "{} applies are waiting for confirmation on {}; name the one to confirm with its topology file (`netplan-rs confirm FILE`):\n{}",
                several.len(),
                describe,
                list.join("\n")
            );
        }
    };
    confirm_one(found).await
}

async fn confirm_one(found: &Found) -> anyhow::Result<ExitCode> {
    let p = &found.pending;
    if !confirmation::confirm(found)? {
        anyhow::bail!(
            "the apply on {} (pid {}) decided before this confirmation arrived (its time was up, or it was interrupted or answered on its terminal): its change is rolled back",
            p.describe,
            p.pid
        );
    }
    outln!(
        "Confirmed the apply on {} (pid {}, {} s were left): {}",
        p.describe,
        p.pid,
        p.remaining_secs(),
        p.command
    )?;
    let found = found.clone();
    let acknowledged =
        tokio::task::spawn_blocking(move || confirmation::acknowledged(&found, ACK_TIMEOUT))
            .await?;
    if acknowledged {
        outln!("The change stays: the apply has taken the confirmation.")?;
        return Ok(ExitCode::SUCCESS);
    }
    if p.alive() {
        // The decision is made (the rename): the apply keeps the change when it next looks.
        outln!(
            "The change stays; the apply (pid {}) has not acknowledged within {} s yet.",
            p.pid,
            ACK_TIMEOUT.as_secs()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    errln!(
        "Error: the apply (pid {}) ended before it acknowledged the confirmation; its change is in place, \
         but its rollback journal may remain (`netplan-rs rollback` undoes the change, a new `apply` keeps it)",
        p.pid
    );
    Ok(ExitCode::from(1))
}
