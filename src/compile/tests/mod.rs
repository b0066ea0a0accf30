//! The compile module's unit tests, in one place: every example compiled against its golden state (`golden_examples`), per-driver cases, and the helpers they share (`test_support`).

mod cases;
mod golden_examples;
mod golden_macvlan;
mod host_gw_cases;
mod no_default_cases;
mod routed_cases;
pub(crate) mod test_support;
