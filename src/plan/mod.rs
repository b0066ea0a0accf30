//! Planning: diff desired against observed state, order the steps (petgraph DAG), render them.

mod step;

pub use step::{Action, Change, Conflict, Plan, Step};
