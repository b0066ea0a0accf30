//! Graphviz DOT rendering of a [`Graph`]: `dot -Tsvg` draws it.
//!
//! Every id and label is a double-quoted DOT string. Inside one, only `"` and `\` are special to
//! the DOT grammar, and Graphviz gives `\n`, `\l`, `\N`, `\G` ... meaning in labels, so a
//! backslash is doubled, a quote is escaped, a line break becomes `\n` and other control
//! characters (which no label needs) become spaces. Hosts are `cluster_` subgraphs, which `dot`
//! draws as boxes.

use super::model::{Cluster, Edge, EdgeStyle, Graph, Node, Shape};
use std::fmt::Write;

/// The DOT text of `graph`, ending with a newline.
pub fn render(graph: &Graph) -> String {
    let mut out = String::new();
    out.push_str("digraph \"netplan-rs\" {\n");
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, fontname=\"Helvetica\", rankdir={}, nodesep=0.3, ranksep=0.6];",
        quote(&graph.title),
        if graph.left_to_right { "LR" } else { "TB" }
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=10, style=filled];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for cluster in &graph.clusters {
        render_cluster(&mut out, cluster);
    }
    for node in &graph.nodes {
        render_node(&mut out, node, "  ");
    }
    for edge in &graph.edges {
        render_edge(&mut out, edge);
    }
    out.push_str("}\n");
    out
}

fn render_cluster(out: &mut String, cluster: &Cluster) {
    let _ = writeln!(out, "  subgraph {} {{", quote(&cluster.id));
    let _ = writeln!(
        out,
        "    graph [label={}, style=\"rounded\", color=\"#888888\"];",
        quote(&cluster.label)
    );
    for node in &cluster.nodes {
        render_node(out, node, "    ");
    }
    out.push_str("  }\n");
}

fn render_node(out: &mut String, node: &Node, indent: &str) {
    let (shape, style) = match node.shape {
        Shape::Box => ("box", "filled"),
        Shape::Rounded => ("box", "rounded,filled"),
        Shape::Hexagon => ("hexagon", "filled"),
        Shape::Note => ("note", "filled"),
    };
    let _ = writeln!(
        out,
        "{indent}{} [label={}, shape={shape}, style=\"{style}\", fillcolor=\"{}\"];",
        quote(&node.id),
        quote(&node.lines.join("\n")),
        node.color.hex()
    );
}

fn render_edge(out: &mut String, edge: &Edge) {
    let mut attrs = Vec::new();
    if !edge.label.is_empty() {
        attrs.push(format!("label={}", quote(&edge.label.join("\n"))));
    }
    if edge.style == EdgeStyle::Dashed {
        attrs.push("style=dashed".to_string());
    }
    if !edge.directed {
        attrs.push("dir=none".to_string());
    }
    let _ = write!(out, "  {} -> {}", quote(&edge.from), quote(&edge.to));
    if !attrs.is_empty() {
        let _ = write!(out, " [{}]", attrs.join(", "));
    }
    out.push_str(";\n");
}

/// `text` as a DOT double-quoted string (see the module comment).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
