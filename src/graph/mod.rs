//! `netplan-rs graph`: the topology, or one host's plan, as DOT or Mermaid text.
//!
//! Two builders fill one small model ([`model::Graph`]: clusters, nodes, edges):
//! [`topology_graph`] draws hosts, their devices, containers and the tunnels and routes between
//! hosts from the compiled desired state (pure: no kernel, no root); [`plan_graph`] draws a
//! plan's ordering DAG ([`crate::plan::Plan::deps`]). Two renderers print the model:
//! [`dot`] (Graphviz) and [`mermaid`]. Output is deterministic: everything is built in file,
//! host and plan order, and every user-supplied text is escaped by the renderer. The product
//! only writes text; drawing it (`dot -Tsvg`) is the user's step.

pub mod dot;
pub mod mermaid;
pub mod model;
mod plan;
mod topology;

#[cfg(test)]
mod tests;

pub use model::Graph;
pub use plan::{empty_host, plan_graph};
pub use topology::topology_graph;

/// Why a graph cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("unknown host {host:?}; the topology declares: {known}")]
    UnknownHost { host: String, known: String },
    #[error("compiling host {host}: {message}")]
    Compile { host: String, message: String },
}

/// The text formats a graph can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Graphviz DOT.
    #[default]
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

impl Format {
    pub fn render(self, graph: &Graph) -> String {
        match self {
            Format::Dot => dot::render(graph),
            Format::Mermaid => mermaid::render(graph),
        }
    }
}
