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
        crate::topology::test_support::problems(&file(netns))
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
    fn unknown_keys_are_errors() {
        let err = load_str(&file("{ pid: 1, name: x }"), "t.yaml").unwrap_err();
        assert!(err.to_string().contains("unknown field `name`"), "{err}");
    }
}
