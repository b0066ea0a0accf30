//! The small graph model both renderers share: clusters of nodes, and edges between nodes.
//!
//! Builders ([`super::topology`], [`super::plan`]) decide what is drawn; renderers
//! ([`super::dot`], [`super::mermaid`]) decide only how. Ids are made by the builders from
//! indexes (`n0`, `n1_c2`, ...), never from user names, so no name can break a renderer's
//! syntax; every user-visible text goes through the renderer's escaping. Everything is a `Vec` in
//! the order it was built, so output is as deterministic as the builders.

/// A whole picture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    /// Caption of the picture (e.g. `topology vxlan-bridged`).
    pub title: String,
    /// Lay ranks out left to right (true) or top to bottom.
    pub left_to_right: bool,
    /// Boxes around groups of nodes (hosts), in order.
    pub clusters: Vec<Cluster>,
    /// Nodes outside any cluster, in order.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A labelled group of nodes: a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// `[A-Za-z0-9_]` only.
    pub id: String,
    pub label: String,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `[A-Za-z0-9_]` only, starting with a letter other than `o`/`x` (Mermaid reads `--o` and
    /// `--x` as arrow heads).
    pub id: String,
    /// Label lines (never empty).
    pub lines: Vec<String>,
    pub shape: Shape,
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A device or an interface.
    Box,
    /// A container (network namespace) or a plan step.
    Rounded,
    /// Something outside the file's control: an underlay NIC, an existing interface.
    Hexagon,
    /// A remark: "No changes", a conflict.
    Note,
}

/// Fill colours by meaning; each renderer maps them to the same hex values ([`Color::hex`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    White,
    Grey,
    Blue,
    Green,
    Yellow,
    Red,
    Purple,
}

impl Color {
    /// A light fill that keeps black text readable.
    pub fn hex(self) -> &'static str {
        match self {
            Color::White => "#ffffff",
            Color::Grey => "#e8e8e8",
            Color::Blue => "#dbe9ff",
            Color::Green => "#d4f7d4",
            Color::Yellow => "#fff2c2",
            Color::Red => "#ffd6d6",
            Color::Purple => "#ead9ff",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeStyle {
    /// Attachment inside a host: a port in a bridge, a container's interface.
    Solid,
    /// Between hosts: a tunnel or a route over the underlay.
    Dashed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// Label lines (may be empty).
    pub label: Vec<String>,
    pub style: EdgeStyle,
    /// An arrow (true) or a plain line (a tunnel carries both ways).
    pub directed: bool,
}

impl Graph {
    /// Every node, clusters' first (in cluster order), then the free ones.
    pub fn all_nodes(&self) -> impl Iterator<Item = &Node> {
        self.clusters
            .iter()
            .flat_map(|c| c.nodes.iter())
            .chain(self.nodes.iter())
    }
}
