//! Stand-ins for existing namespaces in the lab.
//!
//! A container with `netns:` names a namespace that already exists on its real host: a Docker
//! container, a process, a namespace file (pipework's use case). On the machine running the lab
//! it usually does not: no Docker, no such process. Instead of refusing the file, `lab up` makes
//! an empty namespace in its place, what `docker run --net=none` would give (only `lo`), and the
//! engine wires it exactly as it would wire the real one: through `Target::external`, never
//! creating or deleting it. A `netns:` that does resolve on this machine is used as it is.
//!
//! Stand-ins are named `<lab>-<host>.standin-<container>`: under the lab's prefix (so `lab down`
//! finds and removes them), outside the host's container prefix `<lab>-<host>-` (so the engine
//! never reads one as a namespace of its own), and unmarked, as an existing namespace is.

use super::error::{OrLab, Result};
use crate::external::{self, ResolveError};
use crate::kernel::netns;
use crate::topology::{ExternalNetns, Topology};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What separates a stand-in's host part from its container part.
const STANDIN: &str = ".standin-";

/// The stand-in namespace for `container` of simulated `host` in `lab`.
pub fn standin_netns(lab: &str, host: &str, container: &str) -> String {
    format!("{}{STANDIN}{container}", super::host_netns(lab, host))
}

/// Whether `name` (a `/run/netns` entry) is a stand-in of `lab`.
pub fn is_standin(name: &str, lab: &str) -> bool {
    name.starts_with(&format!("{lab}-")) && name.contains(STANDIN)
}

/// Whether what `netns` names is simply not on this machine (a process that does not run, a path
/// that does not exist, a Docker container: the lab has no Docker), so a stand-in takes its
/// place. A path that exists but is no network namespace is a mistake in the file, reported.
fn absent_here(netns: &ExternalNetns) -> bool {
    if let Some(pid) = netns.pid {
        return !Path::new(&format!("/proc/{pid}")).exists();
    }
    if let Some(path) = &netns.path {
        return !Path::new(path).exists();
    }
    netns.docker.is_some()
}

/// The existing namespaces of `host`'s containers in `lab`: each `netns:` resolved on this
/// machine, or else its stand-in when `lab up` made one; the containers with neither.
pub fn external_namespaces(
    topo: &Topology,
    lab: &str,
    host: &str,
) -> (BTreeMap<String, PathBuf>, Vec<ResolveError>) {
    let (mut found, missing) = external::resolve_all(topo, host);
    let mut still = Vec::new();
    for problem in missing {
        let standin = standin_netns(lab, host, &problem.container);
        if netns::is_namespace(&standin) {
            found.insert(
                problem.container.clone(),
                PathBuf::from(netns::NETNS_DIR).join(standin),
            );
        } else {
            still.push(problem);
        }
    }
    (found, still)
}

/// [`external_namespaces`], failing with every container that has neither (one per line).
pub fn resolve(
    topo: &Topology,
    lab: &str,
    host: &str,
) -> Result<BTreeMap<String, PathBuf>, String> {
    let (found, missing) = external_namespaces(topo, lab, host);
    if missing.is_empty() {
        return Ok(found);
    }
    Err(missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Make the stand-ins `host` needs (for `lab up`): one per container whose `netns:` names
/// something this machine does not have and that has none yet. Returns one line per stand-in made, saying why.
pub fn make_standins(topo: &Topology, lab: &str, host: &str) -> Result<Vec<String>> {
    let (_, missing) = external_namespaces(topo, lab, host);
    let mut made = Vec::new();
    for problem in missing {
        let absent = topo
            .containers
            .get(&problem.container)
            .and_then(|c| c.netns.as_ref())
            .is_some_and(absent_here);
        if !absent {
            // Reported when the host is planned.
            continue;
        }
        let name = standin_netns(lab, host, &problem.container);
        if netns::exists(&name) {
            // The mount point of a run killed while making it.
            netns::delete(&name).or_lab(|| format!("removing the leftover {name}"))?;
        }
        netns::create(&name).or_lab(|| format!("creating netns {name}"))?;
        made.push(format!(
            "container {} stands in namespace {name} for its netns ({})",
            problem.container, problem.message
        ));
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standins_are_the_labs_but_not_the_hosts_containers() {
        let name = standin_netns("demo", "node-1", "web");
        assert_eq!(name, "demo-node-1.standin-web");
        assert!(is_standin(&name, "demo"));
        assert!(!is_standin(&name, "other"));
        assert!(!is_standin("demo-node-1-web", "demo"));
        // Not under the host's container prefix: observe never lists it as a container.
        assert!(!name.starts_with(&format!("{}-", super::super::host_netns("demo", "node-1"))));
    }
}
