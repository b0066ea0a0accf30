//! Ordering: steps become nodes of a petgraph DAG whose edges are kernel dependencies, and a
//! stable Kahn's algorithm (a min-heap keyed by (phase, key)) turns it into a list.
//!
//! Creation order: namespace before anything in it; master before port; a vxlan device after its
//! lower `dev`; a veth pair after both namespaces it touches and both ends' masters; a link before
//! its addresses, neighbours and FDB entries; a route after its `dev`, after every address in its
//! namespace (the gateway must be reachable) and after the neighbours and FDB entries on its dev
//! (routed VXLAN resolves the gateway through them); an nftables table before its chains before
//! their rules. Updates and replaces follow the same edges.
//!
//! Deletions come first (phase), dependents before what they depend on, so that a name is free
//! before a create may reuse it; sysctls come next, then everything else. Ties are broken by the
//! step's key, so the same input always gives the same plan.
//!
//! "Every address in the namespace" and "every entry on the dev" are expressed through one
//! barrier node per group, which keeps the edge count linear in the number of steps.

use super::cascade::Swept;
use super::step::{Action, Step};
use crate::state::{LinkKind, Ns, Object, ObjectKey};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// A node: a step, or a barrier standing for a group of steps.
#[derive(Debug, Clone, Copy)]
enum Node {
    Step(usize),
    Barrier,
}

/// Groups that routes wait for (or, for deletes, that wait for routes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Group {
    AddressesIn(Ns),
    EntriesOn(Ns, String),
}

/// The edges added so far, so that each is added once. `DiGraph::update_edge` finds duplicates by
/// scanning the source's outgoing edges, which is quadratic for a node with many dependents: a
/// barrier before every route of a namespace (one per peer host in routed networks), a chain
/// before its thousands of rules.
#[derive(Default)]
struct Edges(HashSet<(NodeIndex, NodeIndex)>);

impl Edges {
    fn add(&mut self, graph: &mut DiGraph<Node, ()>, from: NodeIndex, to: NodeIndex) {
        if self.0.insert((from, to)) {
            graph.add_edge(from, to, ());
        }
    }
}

/// The dependency graph of `steps`: one node per step (`nodes[i]` for `steps[i]`), plus barriers.
fn build(steps: &[Step], swept: &Swept) -> (DiGraph<Node, ()>, Vec<NodeIndex>) {
    let mut graph: DiGraph<Node, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..steps.len())
        .map(|i| graph.add_node(Node::Step(i)))
        .collect();

    let mut edges = Edges::default();

    // Which step brings each object into (or out of) existence.
    let mut forward: HashMap<ObjectKey, usize> = HashMap::new();
    let mut backward: HashMap<ObjectKey, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        if step.action() == Action::Delete {
            backward.insert(step.key(), i);
        } else {
            for object in step.made() {
                forward.insert(object.key(), i);
            }
        }
    }

    // Replace steps by the key of the object they delete.
    let replacing: HashMap<ObjectKey, usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.action() == Action::Replace)
        .filter_map(|(i, s)| s.current().map(|c| (c.key(), i)))
        .collect();
    for (i, step) in steps.iter().enumerate() {
        if step.action() == Action::Delete {
            continue;
        }
        for object in step.made() {
            if let Some(j) = sweeper(&object.key(), swept, &replacing)
                && j != i
            {
                edges.add(&mut graph, nodes[j], nodes[i]);
            }
        }
    }

    let mut barriers: HashMap<(bool, Group), NodeIndex> = HashMap::new();
    let mut barrier = |graph: &mut DiGraph<Node, ()>, deleting: bool, group: Group| {
        *barriers
            .entry((deleting, group))
            .or_insert_with(|| graph.add_node(Node::Barrier))
    };

    for (i, step) in steps.iter().enumerate() {
        let deleting = step.action() == Action::Delete;
        let objects: Vec<&Object> = if deleting {
            step.current().into_iter().collect()
        } else {
            step.made().collect()
        };
        for object in objects {
            for dep in dependencies(object) {
                let (map, edge) = if deleting {
                    (&backward, false)
                } else {
                    (&forward, true)
                };
                if let Some(&j) = map.get(&dep)
                    && j != i
                {
                    // Creating: dependency first. Deleting: dependent (this step) first.
                    let (from, to) = if edge { (j, i) } else { (i, j) };
                    edges.add(&mut graph, nodes[from], nodes[to]);
                }
            }
            // Group edges: members -> barrier -> routes (reversed when deleting).
            let (member_of, waits_for): (Option<Group>, Vec<Group>) = match object {
                Object::Address(a) => (Some(Group::AddressesIn(a.ns.clone())), Vec::new()),
                Object::Neighbour(n) => (
                    Some(Group::EntriesOn(n.ns.clone(), n.link.clone())),
                    Vec::new(),
                ),
                Object::Fdb(e) => (
                    Some(Group::EntriesOn(e.ns.clone(), e.link.clone())),
                    Vec::new(),
                ),
                Object::Route(r) => (
                    None,
                    vec![
                        Group::AddressesIn(r.ns.clone()),
                        Group::EntriesOn(r.ns.clone(), r.dev.clone()),
                    ],
                ),
                _ => (None, Vec::new()),
            };
            if let Some(group) = member_of {
                let b = barrier(&mut graph, deleting, group);
                let (from, to) = if deleting {
                    (b, nodes[i])
                } else {
                    (nodes[i], b)
                };
                edges.add(&mut graph, from, to);
            }
            for group in waits_for {
                let b = barrier(&mut graph, deleting, group);
                let (from, to) = if deleting {
                    (nodes[i], b)
                } else {
                    (b, nodes[i])
                };
                edges.add(&mut graph, from, to);
            }
        }
    }

    (graph, nodes)
}

/// For each node of `graph` that is a step, the steps it must wait for: every step with an edge
/// into it, directly or through a barrier (barriers sit between steps only, one level deep).
/// Indices are those of `graph`'s step nodes.
#[cfg(test)]
fn step_edges(graph: &DiGraph<Node, ()>, nodes: &[NodeIndex]) -> Vec<Vec<usize>> {
    let step_of = |n: NodeIndex| match graph[n] {
        Node::Step(j) => Some(j),
        Node::Barrier => None,
    };
    nodes
        .iter()
        .map(|&n| {
            let mut deps: Vec<usize> = Vec::new();
            for pred in graph.neighbors_directed(n, Direction::Incoming) {
                match step_of(pred) {
                    Some(j) => deps.push(j),
                    None => deps.extend(
                        graph
                            .neighbors_directed(pred, Direction::Incoming)
                            .filter_map(step_of),
                    ),
                }
            }
            deps
        })
        .collect()
}

/// The ordering DAG of a sorted plan, as [`Plan::deps`] and [`Plan::barriers`] hold it.
///
/// [`Plan::deps`]: super::Plan::deps
/// [`Plan::barriers`]: super::Plan::barriers
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dag {
    pub deps: Vec<Vec<usize>>,
    pub barriers: Vec<Vec<usize>>,
}

/// The DAG in plan order: for the step at each position, the positions of the steps it waits
/// for, ascending, without forward edges (see [`order`]), and a reference to each barrier it
/// waits behind. A barrier stands for every member of its group (all neighbour and FDB entries
/// on one device, say): its members' positions are listed once, in [`Dag::barriers`], so a
/// thousand routes behind two thousand entries cost three thousand entries, not two million.
/// A barrier with a member after the waiting step (possible only on a broken cycle) is spelled
/// out in that step's list instead, without the forward edges.
fn deps_by_position(
    graph: &DiGraph<Node, ()>,
    nodes: &[NodeIndex],
    sequence: &[usize],
    position: &[usize],
) -> Dag {
    let n = sequence.len();
    let mut members: HashMap<NodeIndex, Vec<usize>> = HashMap::new();
    let mut barrier_index: HashMap<NodeIndex, usize> = HashMap::new();
    let mut barriers: Vec<Vec<usize>> = Vec::new();
    let step_of = |n: NodeIndex| match graph[n] {
        Node::Step(j) => Some(j),
        Node::Barrier => None,
    };
    let deps = sequence
        .iter()
        .enumerate()
        .map(|(new, &old)| {
            let mut deps: Vec<usize> = Vec::new();
            for pred in graph.neighbors_directed(nodes[old], Direction::Incoming) {
                if let Some(j) = step_of(pred) {
                    deps.extend(Some(position[j]).filter(|&j| j < new));
                    continue;
                }
                let sorted = members.entry(pred).or_insert_with(|| {
                    let mut m: Vec<usize> = graph
                        .neighbors_directed(pred, Direction::Incoming)
                        .filter_map(step_of)
                        .map(|j| position[j])
                        .collect();
                    m.sort_unstable();
                    m.dedup();
                    m
                });
                match sorted.last() {
                    None => {}
                    Some(&last) if last < new => {
                        let b = *barrier_index.entry(pred).or_insert_with(|| {
                            barriers.push(sorted.clone());
                            barriers.len() - 1
                        });
                        deps.push(n + b);
                    }
                    Some(_) => deps.extend(sorted.iter().copied().filter(|&j| j < new)),
                }
            }
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect();
    Dag { deps, barriers }
}

/// Order `steps` so that every step comes after what it depends on, and return the ordering DAG
/// with them: for each step (in the new order), what it waits for (see [`Plan::deps`] and
/// [`deps_by_position`]).
/// Never fails: should the input contain a cycle (only possible with a hand-made, inconsistent
/// state, e.g. two links each other's master), the steps on it are appended in (phase, key)
/// order and the edges that now point forward are dropped (apply then runs those one by one in
/// plan order, see `apply/waves.rs`).
///
/// `swept` (from diff) says which existing objects vanish as a side effect of which deletion: an
/// object created again under the same key must wait for the replace that sweeps the old one
/// away (deletes already come first), even when the new object does not depend on it, e.g. a
/// route moving off a vxlan device that is being replaced.
///
/// [`Plan::deps`]: super::Plan::deps
pub(crate) fn order(steps: Vec<Step>, swept: &Swept) -> (Vec<Step>, Dag) {
    let (graph, nodes) = build(&steps, swept);
    let sequence = kahn(&graph, &steps);
    let mut position = vec![usize::MAX; steps.len()];
    for (new, &old) in sequence.iter().enumerate() {
        position[old] = new;
    }
    let dag = deps_by_position(&graph, &nodes, &sequence, &position);
    let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let ordered = sequence
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect();
    (ordered, dag)
}

/// The ordering DAG of `steps` rebuilt from the steps alone (without the sweep edges, which need
/// the observed state), in their given order; for tests that check a plan's own DAG.
#[cfg(test)]
pub(crate) fn step_dependencies(steps: &[Step]) -> Vec<Vec<usize>> {
    let (graph, nodes) = build(steps, &Swept::new());
    step_edges(&graph, &nodes)
        .into_iter()
        .map(|mut d| {
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect()
}

/// The replace step whose deletion sweeps `key` away, following chains (a swept root was itself
/// swept by another). Bounded, so a malformed chain cannot loop.
fn sweeper(key: &ObjectKey, swept: &Swept, replacing: &HashMap<ObjectKey, usize>) -> Option<usize> {
    let mut root = swept.get(key)?;
    for _ in 0..=swept.len() {
        if let Some(&j) = replacing.get(root) {
            return Some(j);
        }
        root = swept.get(root)?;
    }
    None
}

/// Keys of the objects that must exist before `object` can be created.
pub(crate) fn dependencies(object: &Object) -> Vec<ObjectKey> {
    let key = object.key();
    let mut deps = Vec::new();
    if let Ns::Container(name) = key.ns()
        && !matches!(key, ObjectKey::Namespace { .. })
    {
        deps.push(ObjectKey::Namespace { name });
    }
    let link = |ns: &Ns, name: &str| ObjectKey::Link {
        ns: ns.clone(),
        name: name.to_string(),
    };
    match object {
        Object::Link(l) => {
            if let Some(master) = &l.master {
                deps.push(link(&l.ns, master));
            }
            match &l.kind {
                LinkKind::Vxlan(v) => deps.extend(v.dev.as_deref().map(|dev| link(&l.ns, dev))),
                LinkKind::Macvlan(m) => {
                    deps.extend(m.parent.as_ref().map(|p| link(&p.ns, &p.name)))
                }
                LinkKind::Vlan(v) => deps.extend(v.parent.as_deref().map(|p| link(&l.ns, p))),
                // The peer's namespace: the pair is created by one request in both.
                LinkKind::Veth { peer: Some(p) } => {
                    if let Ns::Container(name) = &p.ns {
                        deps.push(ObjectKey::Namespace { name: name.clone() });
                    }
                }
                _ => {}
            }
        }
        Object::Route(r) => deps.push(link(&r.ns, &r.dev)),
        // Table before chain and set before rule (and the reverse when deleting); a rule
        // after the sets it looks up and the chains it jumps to, and deleted before them.
        Object::NftChain(_) | Object::NftSet(_) => deps.extend(key.nft_parent()),
        Object::NftRule(r) => {
            deps.extend(key.nft_parent());
            let (sets, chains) = r.rule.references();
            deps.extend(sets.into_iter().map(|name| ObjectKey::NftSet {
                ns: r.ns.clone(),
                table: r.table.clone(),
                name: name.to_string(),
            }));
            deps.extend(chains.into_iter().map(|name| ObjectKey::NftChain {
                ns: r.ns.clone(),
                table: r.table.clone(),
                name: name.to_string(),
            }));
        }
        _ => deps.extend(key.link()),
    }
    deps
}

/// Priority of a node: lower runs first. Barriers are free, so they go as soon as they can.
fn priority<'a>(
    node: Node,
    steps: &[Step],
    keys: &'a [ObjectKey],
) -> (u8, Option<&'a ObjectKey>, usize) {
    match node {
        Node::Barrier => (0, None, 0),
        Node::Step(i) => {
            let step = &steps[i];
            let phase = match (step.action(), step.object()) {
                (Action::Delete, _) => 1,
                (_, Object::Sysctl(_)) => 2,
                _ => 3,
            };
            (phase, Some(&keys[i]), i)
        }
    }
}

/// Stable Kahn's algorithm: of the nodes whose dependencies are done, always take the one with
/// the lowest priority. Returns step indices.
fn kahn(graph: &DiGraph<Node, ()>, steps: &[Step]) -> Vec<usize> {
    let keys: Vec<ObjectKey> = steps.iter().map(Step::key).collect();
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut heap = BinaryHeap::new();
    for n in graph.node_indices() {
        if indegree[n.index()] == 0 {
            heap.push(Reverse((priority(graph[n], steps, &keys), n)));
        }
    }
    let mut done = vec![false; graph.node_count()];
    let mut out = Vec::with_capacity(steps.len());
    while let Some(Reverse((_, n))) = heap.pop() {
        done[n.index()] = true;
        if let Node::Step(i) = graph[n] {
            out.push(i);
        }
        for next in graph.neighbors_directed(n, Direction::Outgoing) {
            let d = &mut indegree[next.index()];
            *d = d.saturating_sub(1);
            if *d == 0 {
                heap.push(Reverse((priority(graph[next], steps, &keys), next)));
            }
        }
    }
    if out.len() < steps.len() {
        // A dependency cycle (inconsistent input): keep going in priority order rather than
        // dropping steps.
        let mut rest: Vec<(u8, Option<&ObjectKey>, usize)> = graph
            .node_indices()
            .filter(|n| !done[n.index()])
            .filter(|n| matches!(graph[*n], Node::Step(_)))
            .map(|n| priority(graph[n], steps, &keys))
            .collect();
        rest.sort();
        out.extend(rest.into_iter().map(|(_, _, i)| i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::*;

    fn create(object: Object) -> Step {
        Step::create(object, None)
    }

    #[test]
    fn swept_object_is_recreated_after_its_sweeper() {
        // host/aa sorts before host/zz, so only the sweep edge puts it after zz's replace.
        let replace = Step::Replace(crate::plan::Replace {
            current: vxlan("zz", 1, "br0"),
            desired: vxlan("zz", 2, "br0"),
            changes: Vec::new(),
            reason: "vni cannot change in place".into(),
            peer: None,
        });
        let steps = vec![create(bridge("aa")), replace];
        let mut swept = Swept::new();
        swept.insert(link_key("host", "aa"), link_key("host", "zz"));
        let keys = |steps: Vec<Step>| steps.iter().map(Step::key).collect::<Vec<_>>();
        let (swept_order, swept_dag) = order(steps.clone(), &swept);
        let swept_deps = swept_dag.deps;
        assert_eq!(
            keys(swept_order),
            vec![link_key("host", "zz"), link_key("host", "aa")]
        );
        // The sweep edge is part of the plan's DAG.
        assert_eq!(swept_deps, vec![vec![], vec![0]]);
        let (plain_order, plain_dag) = order(steps, &Swept::new());
        let plain_deps = plain_dag.deps;
        assert_eq!(
            keys(plain_order),
            vec![link_key("host", "aa"), link_key("host", "zz")]
        );
        assert_eq!(plain_deps, vec![Vec::<usize>::new(), vec![]]);
    }

    #[test]
    fn many_routes_wait_for_every_address_and_their_link() {
        // A host with a route per peer (host-gw, routed VXLAN at fleet scale): every route
        // hangs off the same barrier and link, each step appears exactly once, in order.
        let mut steps = vec![create(bridge("br0")), create(bridge("eth0"))];
        for i in 0..3 {
            steps.push(create(address("host", "br0", &format!("10.1.{i}.1/24"))));
        }
        for i in 0..600 {
            let dst = format!("10.{}.{}.0/24", 2 + i / 250, i % 250);
            steps.push(create(route_via("host", &dst, "192.168.0.1", "eth0")));
        }
        let total = steps.len();
        let (ordered, dag) = order(steps, &Swept::new());
        let deps = expanded(&ordered, dag);
        assert_eq!(ordered.len(), total);
        assert_eq!(deps.len(), total);
        let at = |pred: &dyn Fn(&Step) -> bool| -> Vec<usize> {
            (0..ordered.len()).filter(|&i| pred(&ordered[i])).collect()
        };
        let routes = at(&|s| matches!(s.key(), ObjectKey::Route { .. }));
        let addresses = at(&|s| matches!(s.key(), ObjectKey::Address { .. }));
        let links = at(&|s| matches!(s.key(), ObjectKey::Link { .. }));
        assert_eq!((routes.len(), addresses.len(), links.len()), (600, 3, 2));
        let first_route = routes[0];
        assert!(addresses.iter().all(|&a| a < first_route), "{addresses:?}");
        assert!(links.iter().all(|&l| l < addresses[0]), "{links:?}");
        // Each route waits for every address (through the barrier) and its link.
        for &r in &routes {
            for &a in addresses.iter().chain(&links[1..]) {
                assert!(deps[r].contains(&a), "route {r} does not wait for {a}");
            }
        }
    }

    /// What each step of `ordered` waits for, barriers spelled out.
    fn expanded(ordered: &[Step], dag: Dag) -> Vec<Vec<usize>> {
        let plan = crate::plan::Plan {
            steps: ordered.to_vec(),
            deps: dag.deps,
            barriers: dag.barriers,
            ..Default::default()
        };
        assert!(plan.has_dag());
        (0..plan.steps.len()).map(|i| plan.waits_for(i)).collect()
    }

    /// The reference: every step's dependencies expanded through barriers by [`step_edges`],
    /// mapped to positions, sorted, deduplicated, forward edges dropped.
    fn reference_deps(steps: &[Step]) -> Vec<Vec<usize>> {
        let (graph, nodes) = build(steps, &Swept::new());
        let sequence = kahn(&graph, steps);
        let edges = step_edges(&graph, &nodes);
        let mut position = vec![usize::MAX; steps.len()];
        for (new, &old) in sequence.iter().enumerate() {
            position[old] = new;
        }
        sequence
            .iter()
            .enumerate()
            .map(|(new, &old)| {
                let mut d: Vec<usize> = edges[old]
                    .iter()
                    .map(|&j| position[j])
                    .filter(|&j| j < new)
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect()
    }

    /// Barriers listed once and referenced stand for exactly the DAG of the plain expansion,
    /// for every host of every example, both the first apply and the destroy plan.
    #[test]
    fn barrier_merge_equals_the_plain_expansion_on_every_example() {
        let dir = format!("{}/topologies", env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("topologies") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let file = path.display().to_string();
            let Ok(topo) = crate::topology::load_str(&text, &file) else {
                continue;
            };
            for host in topo.hosts.keys() {
                let desired = crate::compile::compile(&topo, host).expect("compile");
                let empty = crate::state::State::default();
                for plan in [
                    crate::plan::diff(&desired, &empty),
                    crate::plan::diff(&empty, &desired),
                ] {
                    let (ordered, dag) = order(plan.steps.clone(), &Swept::new());
                    assert_eq!(
                        expanded(&ordered, dag),
                        reference_deps(&plan.steps),
                        "{file} {host}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "only {checked} plans checked");
    }

    #[test]
    fn sweeper_chains_are_bounded() {
        let mut swept = Swept::new();
        swept.insert(link_key("host", "a"), link_key("host", "b"));
        swept.insert(link_key("host", "b"), link_key("host", "a"));
        assert_eq!(
            sweeper(&link_key("host", "a"), &swept, &HashMap::new()),
            None
        );
    }
}
