//! Mermaid flowchart rendering of a [`Graph`]: GitHub, GitLab and most wikis draw it inline.
//!
//! Labels are Mermaid quoted strings (`["..."]`, `|"..."|`). Mermaid decodes entity codes
//! (`#35;`, `#quot;`) in them before parsing, treats `<...>` as HTML and `%%` as a comment, so
//! only a conservative set of ASCII characters is written as is and every other character is
//! written as its numeric entity code (`#34;` for `"`, `#35;` for `#`, `#20013;` for `中`):
//! no name can end a string, open a tag or fake an entity. Line breaks become `<br>`. Hosts are
//! `subgraph`s; fill colours are `style` lines at the end.

use super::model::{Cluster, Edge, EdgeStyle, Graph, Node, Shape};
use std::fmt::Write;

/// The Mermaid text of `graph`, ending with a newline.
pub fn render(graph: &Graph) -> String {
    let mut out = String::new();
    // A comment, not front matter: front matter is YAML with escaping rules of its own.
    let _ = writeln!(out, "%% {}", one_line(&graph.title));
    let _ = writeln!(
        out,
        "flowchart {}",
        if graph.left_to_right { "LR" } else { "TB" }
    );
    for cluster in &graph.clusters {
        render_cluster(&mut out, cluster);
    }
    for node in &graph.nodes {
        render_node(&mut out, node, "  ");
    }
    for edge in &graph.edges {
        render_edge(&mut out, edge);
    }
    for node in graph.all_nodes() {
        let _ = writeln!(
            out,
            "  style {} fill:{},stroke:#555555,color:#000000",
            node.id,
            node.color.hex()
        );
    }
    out
}

fn render_cluster(out: &mut String, cluster: &Cluster) {
    let _ = writeln!(
        out,
        "  subgraph {}[\"{}\"]",
        cluster.id,
        escape(&cluster.label)
    );
    for node in &cluster.nodes {
        render_node(out, node, "    ");
    }
    out.push_str("  end\n");
}

fn render_node(out: &mut String, node: &Node, indent: &str) {
    let label = lines(&node.lines);
    let (open, close) = match node.shape {
        Shape::Box => ("[", "]"),
        Shape::Rounded => ("(", ")"),
        Shape::Hexagon => ("{{", "}}"),
        Shape::Note => (">", "]"),
    };
    let _ = writeln!(out, "{indent}{}{open}\"{label}\"{close}", node.id);
}

fn render_edge(out: &mut String, edge: &Edge) {
    let arrow = match (edge.style, edge.directed) {
        (EdgeStyle::Solid, true) => "-->",
        (EdgeStyle::Solid, false) => "---",
        (EdgeStyle::Dashed, true) => "-.->",
        (EdgeStyle::Dashed, false) => "-.-",
    };
    if edge.label.is_empty() {
        let _ = writeln!(out, "  {} {arrow} {}", edge.from, edge.to);
    } else {
        let _ = writeln!(
            out,
            "  {} {arrow}|\"{}\"| {}",
            edge.from,
            lines(&edge.label),
            edge.to
        );
    }
}

fn lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| escape(l))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Whether `c` is written as is inside a Mermaid quoted string.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || " .,:/_-+=*@()[]!?'~^$".contains(c)
}

/// `text` for inside a Mermaid quoted string (see the module comment); one line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if plain(c) {
            out.push(c);
        } else if c.is_control() {
            out.push(' ');
        } else {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
    out
}

/// `text` for a `%%` comment: anything but a line break.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
