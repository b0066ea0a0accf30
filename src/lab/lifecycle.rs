//! Building and tearing down a lab. Both go through the ordinary engine (prepare, apply,
//! verify), so the lab exercises exactly the code paths a real host uses.

use super::error::{LabError, OrLab, Result};
use super::{host_target, plumbing, switch_netns, switch_target};
use crate::apply::{self, ApplyFailure};
use crate::kernel::{Kernel, netns};
use crate::lock::{self, HostLock};
use crate::plan::{Delete, Plan, Step};
use crate::state::{Object, State};
use crate::topology::Topology;
use std::collections::BTreeMap;
use std::time::Duration;

/// Lock lab `lab` as a whole: its switch, which every lab command changes or reads (`Shared`
/// for `lab verify`). Lab commands take it first and hosts' locks after it; `apply --lab
/// --host` takes only its host's. So no deadlock: whoever holds or waits for a host's lock
/// while holding another holds the lab's exclusively, and is alone in doing so. Hosts' locks
/// are taken inside [`build_hosts`] and [`down`], which expect the caller to hold this one
/// (flock conflicts between two opens in one process, so they must not take it again).
pub async fn lock_lab(lab: &str, mode: lock::Mode, timeout: Duration) -> Result<HostLock> {
    Ok(lock::acquire(&switch_target(lab), &format!("lab {lab}"), mode, timeout).await?)
}

/// Exclusive locks on simulated hosts `hosts` of `lab`, in name order (see [`lock_lab`]).
async fn lock_hosts(
    lab: &str,
    hosts: impl IntoIterator<Item = &str>,
    timeout: Duration,
) -> Result<BTreeMap<String, HostLock>> {
    let hosts: std::collections::BTreeSet<&str> = hosts.into_iter().collect();
    let mut locks = BTreeMap::new();
    for host in hosts {
        let what = format!("simulated host {host} of lab {lab}");
        let held = lock::acquire(
            &host_target(lab, host),
            &what,
            lock::Mode::Exclusive,
            timeout,
        )
        .await?;
        locks.insert(host.to_string(), held);
    }
    Ok(locks)
}

/// Create the switch namespace and the simulated hosts (namespaces, underlay cabling and
/// addresses). Idempotent: an existing lab is brought in line with the file. The caller holds
/// [`lock_lab`]; this locks every host of the file before reading anything (the underlay lives
/// inside the hosts), and a host the file no longer has before deleting it. Returns the locks of
/// the file's hosts, for the caller to release as it finishes each.
pub async fn build_hosts(
    topo: &Topology,
    lab: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, HostLock>> {
    let locks = lock_hosts(lab, topo.hosts.keys().map(String::as_str), timeout).await?;
    let switch = switch_netns(lab);
    if netns::exists(&switch) && !netns::is_namespace(&switch) {
        // The mount point of a `lab up` killed while creating the switch.
        netns::delete(&switch).or_lab(|| format!("removing the leftover {switch}"))?;
    }
    if !netns::exists(&switch) {
        netns::create(&switch).or_lab(|| format!("creating netns {switch}"))?;
    }
    let desired = plumbing(topo);
    let (mut kernel, plan) = apply::prepare_change(switch_target(lab), &desired)
        .await
        .or_lab(|| format!("reading lab {lab}"))?;
    let removed = plan.steps.iter().filter_map(|step| match step {
        Step::Delete(Delete {
            current: Object::Namespace(n),
            ..
        }) => Some(n.name.as_str()),
        _ => None,
    });
    let removed = lock_hosts(lab, removed, timeout).await?;
    // A host leaving the file takes its containers along first: their namespaces are
    // /run/netns entries of their own, which deleting the host's namespace would orphan.
    for host in removed.keys() {
        let empty = State::default();
        let (mut host_kernel, plan) = apply::prepare_change(host_target(lab, host), &empty).await?;
        converge(&mut host_kernel, &plan, &empty)
            .await
            .or_lab(|| format!("destroying simulated host {host}, no longer in the file"))?;
    }
    converge(&mut kernel, &plan, &desired)
        .await
        .or_lab(|| format!("building the simulated hosts of lab {lab}"))?;
    remove_locks(removed);
    Ok(locks)
}

/// Apply `plan` and insist that verification finds nothing left. A plan with conflicts is
/// refused before the first step, naming every conflict (as `plan` does), not just the first:
/// fixing one at a time and re-running would otherwise reveal them one by one.
pub async fn converge(kernel: &mut Kernel, plan: &Plan, desired: &State) -> Result<()> {
    if !plan.conflicts.is_empty() {
        return Err(LabError::Refused(conflicts_message(plan)));
    }
    let report = apply::apply(kernel, plan, desired, |_| {})
        .await
        .map_err(|e| match e {
            ApplyFailure::Step(s) => {
                let batch = s.batch.as_ref().map(|b| format!("; {}", b.outcome()));
                let batch = batch.unwrap_or_default();
                LabError::Refused(format!(
                    "step {} ({}): {}{batch}; {}",
                    s.index,
                    s.step.key(),
                    s.source,
                    s.applied_note()
                ))
            }
            other => LabError::Refused(other.to_string()),
        })?;
    if !report.remaining.is_empty() {
        return Err(LabError::Refused(format!(
            "did not converge:\n{}",
            crate::plan::render_text(&report.remaining)
        )));
    }
    Ok(())
}

/// The refusal for a plan with conflicts: the count, then one indented line per conflict.
fn conflicts_message(plan: &Plan) -> String {
    let mut message = format!(
        "the plan has {} (names taken by objects netplan-rs does not own, or links \
         that do not exist); nothing was changed:",
        crate::plural::count(plan.conflicts.len(), "conflict")
    );
    for conflict in &plan.conflicts {
        message.push_str("\n  ");
        message.push_str(&conflict.message);
    }
    message
}

/// Connect to simulated host `host` and plan `topo` for it.
pub async fn plan_host(topo: &Topology, lab: &str, host: &str) -> Result<(Kernel, State, Plan)> {
    let desired =
        crate::compile::compile(topo, host).or_lab(|| format!("compiling for host {host}"))?;
    let mut target = host_target(lab, host);
    target.claimed = Some(topo.claimed_prefixes());
    // Containers wired into existing namespaces (`netns:`) are entered through their files, or
    // through the stand-ins `lab up` made for them (see `standin`).
    target.external = super::standin::resolve(topo, lab, host).map_err(LabError::Refused)?;
    crate::external::check_distinct(&target, topo, host).map_err(LabError::Refused)?;
    let (kernel, plan) = apply::prepare_change(target, &desired)
        .await
        .or_lab(|| format!("reading simulated host {host}"))?;
    Ok((kernel, desired, plan))
}

/// Remove every namespace of lab `lab`: each simulated host's owned objects and container
/// namespaces (found by observing, not from the file, so a host removed from the file is
/// cleaned up too), then the hosts, then the switch, then the leftovers of interrupted runs
/// (see [`sweep`]). `file_hosts` are the hosts the file names (the lab may have been killed
/// before the switch knew them all). Returns false when the lab did not exist.
/// The caller holds [`lock_lab`]; each host is locked before it is touched and stays locked
/// until its namespace is gone, so an `apply --lab --host` waits and then finds no host.
pub async fn down(lab: &str, file_hosts: &[String], timeout: Duration) -> Result<bool> {
    let switch = switch_netns(lab);
    let mut hosts: Vec<String> = file_hosts.to_vec();
    if !netns::exists(&switch) {
        return sweep(lab, &hosts).await;
    }
    let mut locks = BTreeMap::new();
    if netns::is_namespace(&switch) {
        // The switch's view reaches every namespace of the lab; its connections are dropped
        // before the hosts are destroyed (an open socket keeps a deleted namespace alive).
        let observed = apply::connect_to_change(switch_target(lab))
            .await?
            .observe()
            .await?;
        let observed_hosts: Vec<String> = observed
            .iter()
            .filter_map(|o| match o {
                Object::Namespace(ns) if ns.owned => Some(ns.name.clone()),
                _ => None,
            })
            .collect();
        locks = lock_hosts(lab, observed_hosts.iter().map(String::as_str), timeout).await?;
        let empty = State::default();
        for host in &observed_hosts {
            let (mut kernel, plan) = apply::prepare_change(host_target(lab, host), &empty).await?;
            converge(&mut kernel, &plan, &empty)
                .await
                .or_lab(|| format!("destroying simulated host {host}"))?;
        }
        let plan = crate::plan::diff(&empty, &observed);
        let mut switch_kernel = apply::connect_to_change(switch_target(lab)).await?;
        converge(&mut switch_kernel, &plan, &empty)
            .await
            .or_lab(|| format!("removing the simulated hosts of lab {lab}"))?;
        drop(switch_kernel);
        hosts.extend(observed_hosts);
    }
    netns::delete(&switch).or_lab(|| format!("deleting netns {switch}"))?;
    sweep(lab, &hosts).await?;
    // Journals and before-images of runs killed on the lab's hosts describe namespaces that
    // are gone now.
    for host in &hosts {
        let _ = apply::journal::clear(&host_target(lab, host));
        let _ = apply::transaction::confirm(&host_target(lab, host));
    }
    let _ = apply::journal::clear(&switch_target(lab));
    remove_locks(locks);
    Ok(true)
}

/// The /run/netns entries of lab `lab` still there after its teardown, removed:
/// namespaces whose `lo` carries the lab's marks (a simulated host, `netplan-rs-lab lab=<lab>`,
/// or a container of one, `netplan-rs lab=<lab> host=...`: e.g. the containers of a host that
/// left the file), and, under the names of the switch and of hosts `hosts`, leftovers of runs
/// killed while creating or deleting a namespace (a mount-point file with no namespace bound to
/// it). A namespace under those names without the lab's mark is an error naming it: it is not
/// deleted blindly. Returns whether anything was there.
async fn sweep(lab: &str, hosts: &[String]) -> Result<bool> {
    let switch = switch_netns(lab);
    let names = netns::list().or_lab(|| "listing /run/netns".to_string())?;
    let named_like_ours = |name: &str| {
        name == switch
            || hosts.iter().any(|h| {
                let host = super::host_netns(lab, h);
                name == host || name.starts_with(&format!("{host}-"))
            })
    };
    let prefix = format!("{lab}-");
    let mut found = false;
    let mut stuck = Vec::new();
    for name in names
        .iter()
        .filter(|n| n.starts_with(&prefix) || **n == switch)
    {
        let ours = named_like_ours(name);
        if !netns::is_namespace(name) {
            if ours {
                found = true;
                if let Err(e) = netns::delete(name) {
                    stuck.push(format!("{name} ({e})"));
                }
            }
            continue;
        }
        // Stand-ins for existing namespaces are unmarked, as existing namespaces are, but the
        // lab made them (see `standin`).
        let marked = super::standin::is_standin(name, lab)
            || crate::kernel::namespace_mark(name)
                .await
                .ok()
                .flatten()
                .is_some_and(|mark| super::is_lab_mark(&mark, lab));
        if marked {
            found = true;
            if let Err(e) = netns::delete(name) {
                stuck.push(format!("{name} ({e})"));
            }
        } else if ours {
            found = true;
            stuck.push(name.clone());
        }
    }
    if !stuck.is_empty() {
        return Err(LabError::Refused(format!(
            "lab {lab}: these namespaces are left and were not removed (not marked as the \
             lab's; check and `ip netns delete` them): {}",
            stuck.join(", ")
        )));
    }
    Ok(found)
}

/// Release the locks of hosts that no longer exist and delete their files. A file that cannot
/// be deleted is only clutter in the run directory: not worth failing a command that did its job.
fn remove_locks(locks: BTreeMap<String, HostLock>) {
    for (host, held) in locks {
        if let Err(e) = held.remove() {
            tracing::warn!("removing the lock file of simulated host {host}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Conflict;
    use crate::state::{Ns, ObjectKey};

    #[test]
    fn every_conflict_is_named() {
        let mut plan = Plan::default();
        for (name, message) in [
            ("eth0", "link c1/eth0: parent missing"),
            ("mv-x", "link host/mv-x: parent missing"),
        ] {
            plan.conflicts.push(Conflict {
                key: ObjectKey::Link {
                    ns: Ns::Host,
                    name: name.into(),
                },
                message: message.into(),
            });
        }
        assert_eq!(
            conflicts_message(&plan),
            "the plan has 2 conflicts (names taken by objects netplan-rs does not own, or \
             links that do not exist); nothing was changed:\n  link c1/eth0: parent missing\n  \
             link host/mv-x: parent missing"
        );
    }
}
