//! The topology module's unit tests, in one place: loading and its errors, validation per driver, IPAM, and inputs the mutation sweep found (`sweep_findings`); `test_support` parses test files.

mod default_route_cases;
mod dualstack_cases;
mod host_gw_cases;
mod ipam_cases;
mod load_cases;
mod macvlan_cases;
mod policy_cases;
mod routed_cases;
mod sweep_findings;
pub(crate) mod test_support;
