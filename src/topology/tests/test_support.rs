//! Helpers shared by the unit tests of topology and compile (test-only): load a YAML string,
//! collect its diagnostics, expect one at a YAML path.

use crate::topology::{Topology, TopologyError, load_str};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The topology in `text`; a test failure naming the error if it does not load.
pub(crate) fn parse(text: &str) -> Topology {
    match load_str(text, "t.yaml") {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// Diagnostics of `text` as `path: message` lines (none if it loads); a test failure on parse
/// errors.
pub(crate) fn problems(text: &str) -> Vec<String> {
    match load_str(text, "t.yaml") {
        Ok(_) => Vec::new(),
        Err(TopologyError::Invalid { diagnostics, .. }) => {
            diagnostics.iter().map(|d| d.to_string()).collect()
        }
        Err(other) => panic!("expected semantic errors, got: {other}"),
    }
}

/// Asserts that `text` has a problem at YAML path `path` whose message contains `needle`.
pub(crate) fn assert_problem(text: &str, path: &str, needle: &str) {
    let found = problems(text);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&format!("{path}: ")) && p.contains(needle)),
        "expected `{path}: ...{needle}...` in {found:#?}"
    );
}

/// An IPv4 address literal of a test.
pub(crate) fn addr(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// An IPv6 address literal of a test.
pub(crate) fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
