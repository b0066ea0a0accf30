//! The plan module's unit tests, in one place: hand-built states diffed and ordered (`cases`), missing-link refusals (`refs_cases`), golden renderings (`golden*`), and the state builders they share (`testutil`).

mod cases;
pub(crate) mod golden;
mod golden_converge;
mod golden_isolation;
mod golden_nat;
mod golden_policy;
mod refs_cases;
pub(crate) mod testutil;
