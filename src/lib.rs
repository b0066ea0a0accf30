//! netplan-rs: terraform for container networking.
//!
//! Data flow (see docs/architecture.md): `topology` (load, validate) -> `compile` (desired [`state::State`]
//! for one host) and `kernel::observe` (observed state) -> `plan` (diff, order, render) ->
//! `apply` (execute, verify). `lab` builds simulated hosts in network namespaces.

pub mod apply;
pub mod cli;
pub mod clock;
pub mod compile;
pub mod confirmation;
pub mod external;
pub mod fleet;
pub mod graph;
pub mod kernel;
pub mod lab;
pub mod lock;
pub mod plan;
pub mod plural;
pub mod rundir;
pub mod signals;
pub mod state;
pub mod topology;

#[cfg(test)]
#[path = "../tests/common/golden.rs"]
mod golden;
#[cfg(test)]
mod tests_sweep;
