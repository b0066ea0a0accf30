//! Validation of `containers.<name>.netns` (an existing namespace to wire, pipework's use case).
//!
//! Only the shape is checked here: the namespace itself is looked up when a plan is made (see
//! `crate::external`), because a process or Docker container may come and go between runs.

use super::error::Diagnostic;
use super::model::{ExternalNetns, Topology};
use std::collections::HashMap;

/// Every problem of the `netns` keys of `topo`'s containers.
pub fn validate(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    // (host, identity) -> first container; two containers in one namespace would fight over
    // its interfaces and routes (plan finds shared namespaces by inode too, for what only the
    // running system can tell, like a pid and a path to the same file).
    let mut seen: HashMap<(&str, String), &str> = HashMap::new();
    for (name, container) in &topo.containers {
        let Some(netns) = &container.netns else {
            continue;
        };
        let path = format!("containers.{name}.netns");
        check(&path, netns, diags);
        let Some((identity, shown)) = identity(netns) else {
            continue;
        };
        if let Some(first) = seen.insert((container.host.as_str(), identity), name) {
            diags.push(Diagnostic::new(
                path,
                format!(
                    "{shown} is also the namespace of container {first} on host {}; give each container its own",
                    container.host
                ),
            ));
        }
    }
}

/// What identifies the namespace `netns` names without looking at the system (a pid and its
/// `/proc/<pid>/ns/net` are one; Docker accepts names with a leading `/`), and how to show it.
/// `None` when the form is ambiguous (reported by [`check`]).
fn identity(netns: &ExternalNetns) -> Option<(String, String)> {
    match (netns.pid, &netns.path, &netns.docker) {
        (Some(pid), None, None) => Some((format!("/proc/{pid}/ns/net"), format!("pid {pid}"))),
        (None, Some(path), None) => {
            let normal = path.trim_end_matches('/');
            let normal = normal
                .strip_prefix("/var/run/")
                .map_or(normal.to_string(), |rest| format!("/run/{rest}"));
            Some((normal, format!("path {path}")))
        }
        (None, None, Some(docker)) => {
            let name = docker.strip_prefix('/').unwrap_or(docker);
            Some((format!("docker:{name}"), format!("docker container {name}")))
        }
        _ => None,
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

#[cfg(test)]
mod tests {
    use crate::topology::{ExternalNetns, load_str};

    fn file(netns: &str) -> String {
        format!(
            "version: 1
hosts:
  node-1: {{ underlay: 10.0.0.1/24 }}
networks:
  local: {{ driver: bridge, subnet: 192.168.200.0/24 }}
containers:
  web:
    host: node-1
    network: local
    netns: {netns}
"
        )
    }

    /// `path: message` lines of the semantic errors (empty: valid).
    fn problems(netns: &str) -> Vec<String> {
        crate::topology::tests::test_support::problems(&file(netns))
    }

    #[test]
    fn each_form_parses() {
        let netns = |text: &str| {
            load_str(&file(text), "t.yaml").expect("valid").containers["web"]
                .netns
                .clone()
        };
        assert_eq!(
            netns("{ pid: 1234 }"),
            Some(ExternalNetns {
                pid: Some(1234),
                ..Default::default()
            })
        );
        assert_eq!(
            netns("{ path: /var/run/docker/netns/abc }").and_then(|n| n.path),
            Some("/var/run/docker/netns/abc".to_string())
        );
        assert_eq!(
            netns("{ docker: my_web.1 }").and_then(|n| n.docker),
            Some("my_web.1".to_string())
        );
        let no_netns = file("{ pid: 1 }").replace("    netns: { pid: 1 }\n", "");
        let topo = load_str(&no_netns, "t.yaml").expect("valid");
        assert_eq!(topo.containers["web"].netns, None);
    }

    #[test]
    fn exactly_one_form() {
        assert_eq!(
            problems("{}"),
            vec!["containers.web.netns: give exactly one of pid, path or docker (found: none)"]
        );
        assert_eq!(
            problems("{ pid: 12, path: /proc/12/ns/net }"),
            vec![
                "containers.web.netns: give exactly one of pid, path or docker (found: pid and path)"
            ]
        );
    }

    #[test]
    fn pid_must_be_positive() {
        assert_eq!(
            problems("{ pid: 0 }"),
            vec!["containers.web.netns.pid: pid must be greater than 0"]
        );
        // A negative pid is not a u32: a parse error with line and column.
        let err = load_str(&file("{ pid: -5 }"), "t.yaml").unwrap_err();
        assert!(err.to_string().contains("t.yaml:10:"), "{err}");
    }

    #[test]
    fn path_must_be_absolute() {
        assert_eq!(
            problems("{ path: run/netns/foo }"),
            vec!["containers.web.netns.path: \"run/netns/foo\" is not an absolute path"]
        );
    }

    #[test]
    fn docker_name_must_be_a_name() {
        assert!(problems("{ docker: /web }").is_empty());
        assert!(problems("{ docker: 4f9a0c1b2d3e }").is_empty());
        let found = problems("{ docker: \"web/../../info\" }");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "containers.web.netns.docker: \"web/../../info\" is not a Docker container name"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn two_containers_in_one_namespace_are_caught() {
        let two = |first: &str, second: &str, second_host: &str| {
            let text = format!(
                "{}  db:\n    host: {second_host}\n    network: local\n    netns: {second}\n",
                file(first).replace(
                    "  node-1: { underlay: 10.0.0.1/24 }",
                    "  node-1: { underlay: 10.0.0.1/24 }\n  node-2: { underlay: 10.0.0.2/24 }"
                )
            );
            crate::topology::tests::test_support::problems(&text)
        };
        assert_eq!(
            two("{ pid: 1234 }", "{ pid: 1234 }", "node-1"),
            vec![
                "containers.db.netns: pid 1234 is also the namespace of container web on host node-1; give each container its own"
            ]
        );
        assert_eq!(
            two(
                "{ path: /var/run/netns/x }",
                "{ path: /run/netns/x }",
                "node-1"
            ),
            vec![
                "containers.db.netns: path /run/netns/x is also the namespace of container web on host node-1; give each container its own"
            ]
        );
        assert_eq!(
            two("{ pid: 77 }", "{ path: /proc/77/ns/net }", "node-1").len(),
            1
        );
        assert_eq!(
            two("{ docker: web }", "{ docker: /web }", "node-1"),
            vec![
                "containers.db.netns: docker container web is also the namespace of container web on host node-1; give each container its own"
            ]
        );
        // Different namespaces, or the same pid on another machine, are fine.
        assert!(two("{ pid: 1234 }", "{ pid: 1235 }", "node-1").is_empty());
        assert!(two("{ pid: 1234 }", "{ pid: 1234 }", "node-2").is_empty());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = load_str(&file("{ pid: 1, name: x }"), "t.yaml").unwrap_err();
        assert!(err.to_string().contains("unknown field `name`"), "{err}");
    }
}
