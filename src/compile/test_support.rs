//! Helpers shared by the compile unit tests (test-only).

use super::compile;
use crate::state::State;
use crate::topology::Topology;

/// The desired state of `host`; a test failure naming the error if compile fails.
pub(crate) fn state(topo: &Topology, host: &str) -> State {
    match compile(topo, host) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}
