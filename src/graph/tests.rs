//! Graph tests: golden DOT and Mermaid files of example topologies and of an offline plan DAG
//! (`tests/golden/graph/`; `UPDATE_GOLDEN=1` rewrites them, review the diff before committing),
//! the `--host` restriction, the plan DAG's edges, and escaping of hostile text.

use super::model::{Color, Edge, EdgeStyle, Graph, Node, Shape};
use super::*;
use crate::plan::{Action, Plan, Step};
use crate::state::{LinkKind, Ns, Object, ObjectKey, State};
use crate::topology::Topology;
use std::path::PathBuf;

fn example(name: &str) -> Topology {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("topologies/{name}.yaml"));
    crate::topology::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn compare_golden(file: &str, actual: &str) {
    crate::golden::assert_golden(&format!("graph/{file}"), actual);
}

fn golden_topology(name: &str) {
    let graph = topology_graph(&example(name), &format!("topology {name}"), None).unwrap();
    compare_golden(&format!("{name}.dot"), &dot::render(&graph));
    compare_golden(&format!("{name}.mmd"), &mermaid::render(&graph));
}

/// The offline plan of `host`, as `graph --plan --offline` makes it.
fn offline_plan(topo: &Topology, host: &str) -> Plan {
    let desired = crate::compile::compile(topo, host).unwrap();
    crate::plan::diff(&desired, &empty_host(&desired))
}

#[test]
fn golden_vxlan_bridged() {
    golden_topology("vxlan-bridged");
}

#[test]
fn golden_host_gw() {
    golden_topology("host-gw");
}

#[test]
fn golden_bridge_nat() {
    golden_topology("bridge-nat");
}

#[test]
fn golden_offline_plan_dag() {
    let plan = offline_plan(&example("vxlan-bridged"), "node-1");
    let graph = plan_graph(
        &plan,
        "plan for host node-1 (offline: against an empty host)",
    );
    compare_golden("plan-vxlan-bridged-node-1.dot", &dot::render(&graph));
    compare_golden("plan-vxlan-bridged-node-1.mmd", &mermaid::render(&graph));
}

fn node<'g>(graph: &'g Graph, first_line: &str) -> &'g Node {
    graph
        .all_nodes()
        .find(|n| n.lines[0] == first_line)
        .unwrap_or_else(|| panic!("no node {first_line:?} in {graph:#?}"))
}

fn edges_between<'g>(graph: &'g Graph, a: &Node, b: &Node) -> Vec<&'g Edge> {
    graph
        .edges
        .iter()
        .filter(|e| (e.from == a.id && e.to == b.id) || (e.from == b.id && e.to == a.id))
        .collect()
}

#[test]
fn vxlan_tunnel_joins_the_two_vteps_once_with_the_vni() {
    let graph = topology_graph(&example("vxlan-bridged"), "t", None).unwrap();
    let ends: Vec<&Node> = graph
        .all_nodes()
        .filter(|n| n.lines[0] == "vx-overlay")
        .collect();
    assert_eq!(ends.len(), 2);
    let tunnel = edges_between(&graph, ends[0], ends[1]);
    assert_eq!(
        tunnel.len(),
        1,
        "one line per tunnel, not one per direction"
    );
    assert_eq!(tunnel[0].label, vec!["VXLAN VNI 100"]);
    assert_eq!(tunnel[0].style, EdgeStyle::Dashed);
    assert!(!tunnel[0].directed);
    // Each container hangs off its host's bridge with its address.
    let docker2 = node(&graph, "docker2");
    let on_bridge: Vec<_> = graph
        .edges
        .iter()
        .filter(|e| e.from == docker2.id)
        .collect();
    assert_eq!(on_bridge.len(), 1);
    assert_eq!(on_bridge[0].label, vec!["eth0", "172.18.20.2/16"]);
    assert!(on_bridge[0].to.starts_with("n1_"), "docker2 is on node-2");
}

#[test]
fn host_gw_routes_are_arrows_between_underlays_labelled_with_the_subnet() {
    let graph = topology_graph(&example("host-gw"), "t", None).unwrap();
    let routes: Vec<(&str, &str, &[String])> = graph
        .edges
        .iter()
        .filter(|e| e.directed)
        .map(|e| (e.from.as_str(), e.to.as_str(), e.label.as_slice()))
        .collect();
    assert_eq!(
        routes,
        vec![
            ("n0_u", "n1_u", &["route 172.17.0.0/16".to_string()][..]),
            ("n1_u", "n0_u", &["route 172.18.0.0/16".to_string()][..]),
        ]
    );
}

#[test]
fn nat_and_published_ports_are_labels() {
    let graph = topology_graph(&example("bridge-nat"), "t", None).unwrap();
    let web = node(&graph, "web");
    assert_eq!(
        web.lines,
        vec!["web", "port 8080:80/tcp", "port 5353:53/udp"]
    );
    let bridge = node(&graph, "br-local");
    let nat: Vec<_> = graph
        .edges
        .iter()
        .filter(|e| e.label == vec!["NAT: masquerade"])
        .collect();
    assert_eq!(nat.len(), 1);
    assert_eq!(
        (nat[0].from.as_str(), nat[0].to.as_str()),
        (bridge.id.as_str(), "n0_u")
    );
}

#[test]
fn macvlan_container_hangs_off_its_parent_vlan() {
    let graph = topology_graph(&example("macvlan-vlan"), "t", None).unwrap();
    let c1 = node(&graph, "c1");
    let edge = graph.edges.iter().find(|e| e.from == c1.id).unwrap();
    assert_eq!(edge.label[0], "eth0 (macvlan bridge)");
    let vlan = graph.all_nodes().find(|n| n.id == edge.to).unwrap();
    assert_eq!(vlan.lines, vec!["eth0.50", "vlan 50"]);
    // ... which sits on the underlay.
    assert!(
        graph
            .edges
            .iter()
            .any(|e| e.from == vlan.id && e.to == "n0_u")
    );
}

#[test]
fn restricting_to_a_host_keeps_it_and_its_peers_ends_only() {
    let full = topology_graph(&example("vxlan-bridged"), "t", None).unwrap();
    let graph = topology_graph(&example("vxlan-bridged"), "t", Some("node-1")).unwrap();
    assert_eq!(graph.clusters.len(), 2);
    assert_eq!(graph.clusters[0], full.clusters[0], "node-1 is kept whole");
    assert_eq!(graph.clusters[1].label, "host node-2 (peer)");
    let peer: Vec<&str> = graph.clusters[1]
        .nodes
        .iter()
        .map(|n| n.lines[0].as_str())
        .collect();
    assert_eq!(peer, vec!["vx-overlay"], "only the tunnel's far end");
    assert!(graph.all_nodes().all(|n| n.lines[0] != "docker2"));
    for edge in &graph.edges {
        assert!(edge.from.starts_with("n0_") || edge.to.starts_with("n0_"));
    }
    // A host with no links to others stands alone.
    let lone = topology_graph(&example("bridge-nat"), "t", Some("node-2")).unwrap();
    assert_eq!(lone.clusters.len(), 1);
    assert_eq!(lone.clusters[0].label, "host node-2");
    assert!(lone.edges.is_empty());
}

#[test]
fn unknown_host_is_an_error_naming_the_known_ones() {
    let err = topology_graph(&example("host-gw"), "t", Some("node-9")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown host \"node-9\"; the topology declares: node-1, node-2"
    );
}

#[test]
fn output_is_deterministic() {
    for name in [
        "vxlan-bridged",
        "dual-stack",
        "existing-netns",
        "vxlan-routed",
    ] {
        let topo = example(name);
        let a = dot::render(&topology_graph(&topo, name, None).unwrap());
        let b = dot::render(&topology_graph(&topo.clone(), name, None).unwrap());
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn plan_dag_has_one_arrow_per_dependency_in_plan_order() {
    let plan = offline_plan(&example("vxlan-bridged"), "node-1");
    assert!(plan.has_dag() && plan.conflicts.is_empty());
    let graph = plan_graph(&plan, "t");
    assert_eq!(graph.nodes.len(), plan.steps.len());
    for (i, (node, step)) in graph.nodes.iter().zip(&plan.steps).enumerate() {
        assert_eq!(node.id, format!("n{i}"));
        assert_eq!(node.lines[0], format!("+ {}", step.key()));
        assert_eq!(node.color, Color::Green);
    }
    let mut expected = Vec::new();
    for i in 0..plan.steps.len() {
        for j in plan.waits_for(i) {
            expected.push((format!("n{j}"), format!("n{i}")));
        }
    }
    let actual: Vec<(String, String)> = graph
        .edges
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    assert_eq!(actual, expected);
    assert!(!expected.is_empty());
    // The veth pair's step names its other end.
    let veth = graph
        .nodes
        .iter()
        .find(|n| n.lines[0].starts_with("+ link host/veth"))
        .unwrap();
    assert_eq!(veth.lines[1], "veth pair with docker1/eth0");
}

#[test]
fn plan_actions_colours_conflicts_and_hand_made_plans() {
    let topo = example("vxlan-bridged");
    let desired = crate::compile::compile(&topo, "node-1").unwrap();
    let mut observed = empty_host(&desired);
    // An owned bridge of the wrong MTU (update) and an owned leftover link (delete).
    let mut bridge = match desired.get(&ObjectKey::Link {
        ns: Ns::Host,
        name: "br-overlay".into(),
    }) {
        Some(Object::Link(l)) => l.clone(),
        other => panic!("{other:?}"),
    };
    bridge.mtu = Some(1400);
    observed.insert(bridge.clone());
    let mut old = bridge.clone();
    old.name = "br-old".into();
    observed.insert(old);
    let plan = crate::plan::diff(&desired, &observed);
    let graph = plan_graph(&plan, "t");
    let by_action = |action: Action| {
        plan.steps
            .iter()
            .zip(&graph.nodes)
            .filter(|(s, _)| s.action() == action)
            .map(|(_, n)| n)
            .collect::<Vec<_>>()
    };
    let updated = by_action(Action::Update);
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].color, Color::Yellow);
    assert_eq!(
        updated[0].lines,
        vec!["~ link host/br-overlay", "changes mtu"]
    );
    let deleted = by_action(Action::Delete);
    assert_eq!(deleted[0].lines[0], "- link host/br-old");
    assert_eq!(deleted[0].color, Color::Red);

    // A hand-made plan has no DAG: drawn as the chain it runs as.
    let steps: Vec<Step> = plan.steps.clone();
    let chain = plan_graph(&Plan::from_steps(steps), "t");
    assert_eq!(chain.edges.len(), plan.steps.len() - 1);
    assert!(
        chain
            .edges
            .iter()
            .enumerate()
            .all(|(i, e)| e.from == format!("n{i}") && e.to == format!("n{}", i + 1))
    );

    // Conflicts are red notes; an empty plan says so.
    let mut conflicted = crate::plan::diff(&desired, &State::default());
    assert!(!conflicted.conflicts.is_empty(), "no underlay: a conflict");
    conflicted.steps.clear();
    let notes = plan_graph(&conflicted, "t");
    assert!(
        notes
            .nodes
            .iter()
            .all(|n| n.shape == Shape::Note && n.color == Color::Red)
    );
    assert!(notes.nodes[0].lines[0].starts_with("conflict: "));
    let empty = plan_graph(&Plan::default(), "t");
    assert_eq!(empty.nodes[0].lines, vec!["No changes."]);
}

#[test]
fn empty_host_has_the_interfaces_the_file_expects_unowned() {
    let topo = example("macvlan-vlan");
    let desired = crate::compile::compile(&topo, "macvlan-01").unwrap();
    let host = empty_host(&desired);
    let links: Vec<(String, bool)> = host
        .iter()
        .map(|o| match o {
            Object::Link(l) => (format!("{}/{}", l.ns, l.name), l.owned),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(links, vec![("host/eth0".to_string(), false)]);
    let plan = crate::plan::diff(&desired, &host);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert!(plan.steps.iter().all(|s| s.action() == Action::Create));
    assert!(
        !matches!(
            host.link(&Ns::Host, "eth0").map(|l| &l.kind),
            Some(LinkKind::Vlan(_))
        ),
        "the parent stands in for a NIC"
    );
}

/// A graph whose every text is hostile to one renderer or the other.
fn hostile() -> Graph {
    let evil = "a \"quoted\" \\ back\\nslash <b>bold</b> #35; & | %% end ; 中 `tick`\ttab";
    Graph {
        title: evil.to_string(),
        left_to_right: true,
        clusters: vec![super::model::Cluster {
            id: "cluster_0".into(),
            label: evil.to_string(),
            nodes: vec![Node {
                id: "n0".into(),
                lines: vec![evil.to_string(), "second\nline".to_string()],
                shape: Shape::Box,
                color: Color::White,
            }],
        }],
        nodes: vec![Node {
            id: "n1".into(),
            lines: vec![evil.to_string()],
            shape: Shape::Note,
            color: Color::Red,
        }],
        edges: vec![Edge {
            from: "n0".into(),
            to: "n1".into(),
            label: vec![evil.to_string()],
            style: EdgeStyle::Dashed,
            directed: true,
        }],
    }
}

#[test]
fn dot_escapes_quotes_backslashes_and_line_breaks() {
    assert_eq!(dot::quote("plain"), "\"plain\"");
    assert_eq!(dot::quote("a\"b"), "\"a\\\"b\"");
    assert_eq!(
        dot::quote("a\\nb"),
        "\"a\\\\nb\"",
        "a literal backslash-n stays literal"
    );
    assert_eq!(dot::quote("a\nb"), "\"a\\nb\"");
    assert_eq!(dot::quote("a\tb\u{7}"), "\"a b \"");
    let text = dot::render(&hostile());
    // Every quoted string closes on its line: an unescaped quote would leave one open.
    for line in text.lines() {
        let mut open = false;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if open => {
                    chars.next();
                }
                '"' => open = !open,
                _ => {}
            }
        }
        assert!(!open, "unbalanced quotes in {line:?}");
    }
}

#[test]
fn mermaid_escapes_everything_outside_a_safe_set() {
    assert_eq!(mermaid::escape("172.18.0.2/16 eth0"), "172.18.0.2/16 eth0");
    assert_eq!(mermaid::escape("a\"b"), "a#34;b");
    assert_eq!(mermaid::escape("#35;"), "#35;35#59;");
    assert_eq!(mermaid::escape("<b>"), "#60;b#62;");
    assert_eq!(mermaid::escape("|%`&"), "#124;#37;#96;#38;");
    assert_eq!(mermaid::escape("中"), "#20013;");
    let text = mermaid::render(&hostile());
    for line in text.lines().filter(|l| !l.starts_with("%%")) {
        // Quotes only delimit strings: exactly two per label.
        assert_eq!(line.matches('"').count() % 2, 0, "{line:?}");
        for bad in ["<b>", "%%", "`", "\\", "\t"] {
            assert!(!line.contains(bad), "{bad:?} in {line:?}");
        }
    }
    // The title is a comment on one line: a line break in it cannot end the comment.
    let mut graph = hostile();
    graph.title = "two\nlines".to_string();
    let text = mermaid::render(&graph);
    assert!(text.starts_with("%% two lines\nflowchart LR\n"));
}
