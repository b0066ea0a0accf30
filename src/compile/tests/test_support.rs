//! Helpers shared by the compile unit tests (test-only).

use crate::compile::compile;
use crate::state::{Object, State};
use crate::topology::Topology;

/// The desired state of `host`; a test failure naming the error if compile fails.
pub(crate) fn state(topo: &Topology, host: &str) -> State {
    match compile(topo, host) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// The nftables objects of `state` (table, chains, rules), described, in key order.
pub(crate) fn nft_lines(state: &State) -> Vec<String> {
    state
        .iter()
        .filter(|o| {
            matches!(
                o,
                Object::NftTable(_) | Object::NftChain(_) | Object::NftRule(_)
            )
        })
        .map(Object::describe)
        .collect()
}
