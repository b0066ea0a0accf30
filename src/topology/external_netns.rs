//! Validation of `containers.<name>.netns` (an existing namespace to wire, pipework's use case).
//!
//! Only the shape is checked here: the namespace itself is looked up when a plan is made (see
//! `crate::external`), because a process or Docker container may come and go between runs.

use super::error::Diagnostic;
use super::model::{ExternalNetns, Topology};

/// Every problem of the `netns` keys of `topo`'s containers.
pub fn validate(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    for (name, container) in &topo.containers {
        if let Some(netns) = &container.netns {
            check(&format!("containers.{name}.netns"), netns, diags);
        }
    }
}

fn check(path: &str, netns: &ExternalNetns, diags: &mut Vec<Diagnostic>) {
    let given: Vec<&str> = [
        netns.pid.map(|_| "pid"),
        netns.path.as_ref().map(|_| "path"),
        netns.docker.as_ref().map(|_| "docker"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none".to_string()
        } else {
            given.join(" and ")
        };
        diags.push(Diagnostic::new(
            path,
            format!("give exactly one of pid, path or docker (found: {found})"),
        ));
    }
    if netns.pid == Some(0) {
        diags.push(Diagnostic::new(
            format!("{path}.pid"),
            "pid must be greater than 0",
        ));
    }
    if let Some(p) = &netns.path
        && !p.starts_with('/')
    {
        diags.push(Diagnostic::new(
            format!("{path}.path"),
            format!("{p:?} is not an absolute path"),
        ));
    }
    if let Some(d) = &netns.docker
        && let Some(problem) = docker_name_problem(d)
    {
        diags.push(Diagnostic::new(format!("{path}.docker"), problem));
    }
}

/// Docker names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*` and ids are hex, so anything else cannot name a
/// container (and would have to be escaped in the API's URL).
fn docker_name_problem(name: &str) -> Option<String> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    (!valid).then(|| {
        format!("{name:?} is not a Docker container name or id ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
    })
}
