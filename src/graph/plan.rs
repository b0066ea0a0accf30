//! A host's plan as its ordering DAG (like `terraform graph`): one node per step, in plan
//! order, labelled with the action's symbol and the object's address and filled by action;
//! an arrow from each step to every step that waits for it ([`Plan::deps`], the DAG apply cuts
//! into waves). Conflicts, which block the plan, are red notes without edges.

use super::model::{Color, Edge, EdgeStyle, Graph, Node, Shape};
use crate::plan::{Action, Plan};
use crate::state::{Link, LinkKind, Ns, Object, State};

/// The DAG of `plan` (title `title`). A plan without a DAG (made by hand; it runs one step at a
/// time) is drawn as the chain it runs as, so the picture never claims parallelism that is not
/// there.
pub fn plan_graph(plan: &Plan, title: &str) -> Graph {
    let mut graph = Graph {
        title: title.to_string(),
        left_to_right: false,
        ..Graph::default()
    };
    for (i, step) in plan.steps.iter().enumerate() {
        let (symbol, color) = match step.action() {
            Action::Create => ("+", Color::Green),
            Action::Update => ("~", Color::Yellow),
            Action::Delete => ("-", Color::Red),
            Action::Replace => ("-/+", Color::Purple),
        };
        let mut lines = vec![format!("{symbol} {}", step.key())];
        if let Some(Object::Link(peer)) = step.peer() {
            lines.push(format!("veth pair with {}/{}", peer.ns, peer.name));
        }
        if let Some(reason) = step.reason() {
            lines.push(format!("({reason})"));
        } else if step.action() == Action::Update {
            let changed: Vec<&str> = step
                .changes()
                .iter()
                .map(|c| c.attribute.as_str())
                .collect();
            lines.push(format!("changes {}", changed.join(", ")));
        }
        graph.nodes.push(Node {
            id: step_id(i),
            lines,
            shape: Shape::Rounded,
            color,
        });
    }
    if plan.has_dag() {
        for i in 0..plan.steps.len() {
            for j in plan.waits_for(i) {
                graph.edges.push(arrow(j, i));
            }
        }
    } else {
        for i in 1..plan.steps.len() {
            graph.edges.push(arrow(i - 1, i));
        }
    }
    for (i, conflict) in plan.conflicts.iter().enumerate() {
        graph.nodes.push(Node {
            id: format!("n_conflict{i}"),
            lines: vec![format!("conflict: {}", conflict.message)],
            shape: Shape::Note,
            color: Color::Red,
        });
    }
    if plan.steps.is_empty() && plan.conflicts.is_empty() {
        graph.nodes.push(Node {
            id: "n_none".to_string(),
            lines: vec!["No changes.".to_string()],
            shape: Shape::Note,
            color: Color::White,
        });
    }
    graph
}

fn step_id(i: usize) -> String {
    format!("n{i}")
}

fn arrow(from: usize, to: usize) -> Edge {
    Edge {
        from: step_id(from),
        to: step_id(to),
        label: Vec::new(),
        style: EdgeStyle::Solid,
        directed: true,
    }
}

/// What `--plan --offline` plans against: a host with nothing of netplan-rs's on it, but with
/// the interfaces the file expects to find there (the underlay a VXLAN device or VLAN sits on,
/// a macvlan parent), as links netplan-rs does not own. Without them every reference to the
/// underlay would be a "does not exist on this host" conflict, which is not what a fresh host
/// looks like.
pub fn empty_host(desired: &State) -> State {
    let mut host = State::default();
    let mut expect = |ns: &Ns, name: &str| {
        if desired.link(ns, name).is_none() && host.link(ns, name).is_none() {
            host.insert(Link {
                ns: ns.clone(),
                name: name.to_string(),
                kind: LinkKind::Other {
                    name: "ether".to_string(),
                },
                mac: None,
                mtu: None,
                master: None,
                up: true,
                ipv6: None,
                owned: false,
            });
        }
    };
    for object in desired.iter() {
        match object {
            Object::Link(l) => {
                match &l.kind {
                    LinkKind::Vxlan(vx) => vx.dev.iter().for_each(|d| expect(&l.ns, d)),
                    LinkKind::Vlan(v) => v.parent.iter().for_each(|p| expect(&l.ns, p)),
                    LinkKind::Macvlan(m) => m.parent.iter().for_each(|p| expect(&p.ns, &p.name)),
                    _ => {}
                }
                l.master.iter().for_each(|m| expect(&l.ns, m));
            }
            Object::Route(r) => expect(&r.ns, &r.dev),
            _ => {}
        }
    }
    host
}
