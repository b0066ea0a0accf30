//! The topology as a picture: one cluster per host, drawn from what `compile` wants on it.
//!
//! Per host: its underlay interface (a hexagon: it exists already), the devices netplan-rs
//! creates in the host namespace (bridges, VXLAN devices, VLANs, macvlans; veth host ends are
//! folded into the edge from their container to their bridge), and the containers, each joined
//! to the device it is plugged into by an edge that names its interface and addresses. Between
//! hosts: a dashed line per VXLAN tunnel (derived from the FDB entries a host programs towards
//! its peers' underlay addresses, labelled with the VNI) and a dashed arrow per route via
//! another host's underlay address (host-gw, labelled with the subnet it carries). NAT and
//! published ports come from the file and are lines in the bridge's and container's labels.
//!
//! Reading compiled state rather than re-deriving it from the file keeps the picture true to
//! what `apply` would build, for every driver, with no second copy of the drivers' rules.
//! Node ids are made from host, device and container indexes, so they are stable and safe.

use super::GraphError;
use super::model::{Cluster, Color, Edge, EdgeStyle, Graph, Node, Shape};
use crate::state::{LinkKind, Ns, Object, State};
use crate::topology::{self, DEFAULT_VXLAN_PORT, Network, Topology, naming};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// The picture of `topo` (title `title`); with `only`, just that host and what it connects to
/// (the peer hosts' tunnel and route endpoints, in clusters marked "peer").
pub fn topology_graph(
    topo: &Topology,
    title: &str,
    only: Option<&str>,
) -> Result<Graph, GraphError> {
    if let Some(host) = only
        && !topo.hosts.contains_key(host)
    {
        return Err(GraphError::UnknownHost {
            host: host.to_string(),
            known: topo.hosts.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    let mut builder = Builder {
        topo,
        graph: Graph {
            title: title.to_string(),
            left_to_right: true,
            ..Graph::default()
        },
        links: HashMap::new(),
        tunnels: BTreeSet::new(),
        routes: Vec::new(),
        underlays: HashMap::new(),
    };
    // Reversed, so that the first host wins if two share an address (validation forbids it).
    for (i, h) in topo.hosts.values().enumerate().rev() {
        builder.underlays.insert(h.underlay.addr(), i);
    }
    // One compiler for every host: what it works out from the whole file is shared.
    let compiler = crate::compile::Compiler::new(topo);
    for (index, (name, _)) in topo.hosts.iter().enumerate() {
        let state = compiler.compile(name).map_err(|e| GraphError::Compile {
            host: name.clone(),
            message: e.to_string(),
        })?;
        builder.host(index, name, &state);
    }
    builder.between_hosts();
    let mut graph = builder.graph;
    if let Some(host) = only {
        let index = topo.hosts.get_index_of(host).unwrap_or_default();
        restrict(&mut graph, &cluster_id(index));
    }
    Ok(graph)
}

struct Builder<'a> {
    topo: &'a Topology,
    graph: Graph,
    /// (host index, link name in the host namespace) -> node id.
    links: HashMap<(usize, String), String>,
    /// VXLAN tunnels seen from either end: (lower host index, higher, device name, VNI, port).
    tunnels: BTreeSet<(usize, usize, String, u32, u16)>,
    /// Routes via another host: (from host index, to host index, destination).
    routes: Vec<(usize, usize, String)>,
    /// Host index by underlay address: every FDB entry and route is looked up here, and a
    /// large bridged VXLAN has one FDB entry per remote container on every host.
    underlays: HashMap<IpAddr, usize>,
}

fn cluster_id(host: usize) -> String {
    format!("cluster_{host}")
}

impl Builder<'_> {
    fn host(&mut self, hi: usize, name: &str, state: &State) {
        let topo = self.topo;
        let host = &topo.hosts[hi];
        let mut nodes = Vec::new();
        let mut edges = Vec::new();

        let underlay = naming::underlay_interface(host).to_string();
        let underlay_id = format!("n{hi}_u");
        nodes.push(Node {
            id: underlay_id.clone(),
            lines: vec![underlay.clone(), host.underlay.to_string()],
            shape: Shape::Hexagon,
            color: Color::Grey,
        });
        self.links.insert((hi, underlay), underlay_id);

        // Devices first, so that edges can name any of them whatever the order.
        let devices: Vec<_> = state
            .iter()
            .filter_map(|o| match o {
                Object::Link(l) if l.ns == Ns::Host => Some(l),
                _ => None,
            })
            .filter(|l| !(matches!(l.kind, LinkKind::Veth { .. }) && l.master.is_some()))
            .collect();
        for (k, link) in devices.iter().enumerate() {
            let id = format!("n{hi}_d{k}");
            let mut lines = vec![
                link.name.clone(),
                self.describe_device(&link.name, &link.kind),
            ];
            lines.extend(addresses(state, &Ns::Host, &link.name));
            nodes.push(Node {
                id: id.clone(),
                lines,
                shape: Shape::Box,
                color: Color::White,
            });
            self.links.insert((hi, link.name.clone()), id);
        }
        let mut existing = 0;
        let mut node_of =
            |links: &mut HashMap<(usize, String), String>, nodes: &mut Vec<Node>, name: &str| {
                links
                    .entry((hi, name.to_string()))
                    .or_insert_with(|| {
                        // Named by the file (a macvlan parent, say) but not created by it.
                        let id = format!("n{hi}_x{existing}");
                        existing += 1;
                        nodes.push(Node {
                            id: id.clone(),
                            lines: vec![name.to_string(), "existing interface".to_string()],
                            shape: Shape::Hexagon,
                            color: Color::Grey,
                        });
                        id
                    })
                    .clone()
            };
        for (k, link) in devices.iter().enumerate() {
            let id = format!("n{hi}_d{k}");
            let mut line = |from: String, to: String, label: Option<&str>| {
                edges.push(Edge {
                    from,
                    to,
                    label: label.map(str::to_string).into_iter().collect(),
                    style: EdgeStyle::Solid,
                    directed: false,
                })
            };
            // Drawn outwards, container -> bridge -> port -> underlay, so that `dot` ranks
            // containers left and underlays right.
            if let Some(master) = &link.master {
                line(
                    node_of(&mut self.links, &mut nodes, master),
                    id.clone(),
                    None,
                );
            }
            let lower = match &link.kind {
                LinkKind::Vlan(v) => v.parent.clone(),
                LinkKind::Macvlan(m) => m
                    .parent
                    .as_ref()
                    .filter(|p| p.ns == Ns::Host)
                    .map(|p| p.name.clone()),
                LinkKind::Vxlan(vx) => vx.dev.clone(),
                _ => None,
            };
            if let Some(lower) = lower {
                line(
                    id.clone(),
                    node_of(&mut self.links, &mut nodes, &lower),
                    None,
                );
            }
            if self.masquerades(&link.name) {
                let underlay = format!("n{hi}_u");
                line(id.clone(), underlay, Some("NAT: masquerade"));
            }
            if let LinkKind::Vxlan(vx) = &link.kind {
                let peers: BTreeSet<usize> = fdb_peers(state, &link.name)
                    .filter_map(|dst| self.host_by_underlay(dst))
                    .filter(|&peer| peer != hi)
                    .collect();
                for peer in peers {
                    self.tunnels.insert((
                        hi.min(peer),
                        hi.max(peer),
                        link.name.clone(),
                        vx.vni,
                        vx.port,
                    ));
                }
            }
        }

        for (ci, (cname, container)) in topo.containers.iter().enumerate() {
            if container.host != name {
                continue;
            }
            let id = format!("n{hi}_c{ci}");
            let mut lines = vec![cname.clone()];
            if let Some(netns) = &container.netns {
                lines.push(existing_netns(netns));
            }
            lines.extend(container.ports.iter().map(|p| format!("port {p}")));
            nodes.push(Node {
                id: id.clone(),
                lines,
                shape: Shape::Rounded,
                color: Color::Blue,
            });
            let ns = Ns::Container(cname.clone());
            for link in state.iter().filter_map(|o| match o {
                Object::Link(l) if l.ns == ns => Some(l),
                _ => None,
            }) {
                let target = match &link.kind {
                    LinkKind::Veth { peer: Some(p) } if p.ns == Ns::Host => Some(
                        state
                            .link(&p.ns, &p.name)
                            .and_then(|end| end.master.clone())
                            .unwrap_or_else(|| p.name.clone()),
                    ),
                    LinkKind::Macvlan(m) => m
                        .parent
                        .as_ref()
                        .filter(|p| p.ns == Ns::Host)
                        .map(|p| p.name.clone()),
                    _ => None,
                };
                let Some(target) = target else { continue };
                let to = node_of(&mut self.links, &mut nodes, &target);
                let mut label = vec![match &link.kind {
                    LinkKind::Macvlan(m) => format!("{} (macvlan {})", link.name, m.mode),
                    _ => link.name.clone(),
                }];
                label.extend(addresses(state, &ns, &link.name));
                edges.push(Edge {
                    from: id.clone(),
                    to,
                    label,
                    style: EdgeStyle::Solid,
                    directed: false,
                });
            }
        }

        for object in state.iter() {
            if let Object::Route(r) = object
                && r.ns == Ns::Host
                && let Some(peer) = r.gateway.and_then(|g| self.host_by_underlay(g))
                && peer != hi
            {
                self.routes.push((hi, peer, r.dst.to_string()));
            }
        }

        self.graph.clusters.push(Cluster {
            id: cluster_id(hi),
            label: format!("host {name}"),
            nodes,
        });
        self.graph.edges.extend(edges);
    }

    /// Tunnels and routes, once every host's nodes exist.
    fn between_hosts(&mut self) {
        for (a, b, device, vni, port) in std::mem::take(&mut self.tunnels) {
            let (Some(from), Some(to)) = (
                self.links.get(&(a, device.clone())),
                self.links.get(&(b, device.clone())),
            ) else {
                continue;
            };
            let mut label = format!("VXLAN VNI {vni}");
            if port != DEFAULT_VXLAN_PORT {
                label.push_str(&format!(" port {port}"));
            }
            self.graph.edges.push(Edge {
                from: from.clone(),
                to: to.clone(),
                label: vec![label],
                style: EdgeStyle::Dashed,
                directed: false,
            });
        }
        for (a, b, dst) in std::mem::take(&mut self.routes) {
            self.graph.edges.push(Edge {
                from: format!("n{a}_u"),
                to: format!("n{b}_u"),
                label: vec![format!("route {dst}")],
                style: EdgeStyle::Dashed,
                directed: true,
            });
        }
    }

    fn host_by_underlay(&self, addr: IpAddr) -> Option<usize> {
        self.underlays.get(&addr).copied()
    }

    /// The device's kind, and the network it belongs to when its name says so.
    fn describe_device(&self, name: &str, kind: &LinkKind) -> String {
        let kind = match kind {
            LinkKind::Vxlan(vx) if vx.port != DEFAULT_VXLAN_PORT => {
                format!("vxlan VNI {} port {}", vx.vni, vx.port)
            }
            LinkKind::Vxlan(vx) => format!("vxlan VNI {}", vx.vni),
            LinkKind::Macvlan(m) => format!("macvlan {}", m.mode),
            LinkKind::Vlan(v) => format!("vlan {}", v.id),
            other => other.type_name().to_string(),
        };
        let network = self.topo.networks.keys().find(|n| {
            naming::bridge_name(n) == name
                || naming::vxlan_name(n) == name
                || topology::macvlan::host_interface_name(n) == name
        });
        match network {
            Some(network) => format!("{kind}, network {network}"),
            None => kind,
        }
    }

    /// Whether `device` is the bridge of a `nat: true` network.
    fn masquerades(&self, device: &str) -> bool {
        self.topo.networks.iter().any(|(n, net)| {
            matches!(net, Network::Bridge(b) if b.nat) && naming::bridge_name(n) == device
        })
    }
}

/// The addresses on a link, in state order.
fn addresses<'s>(state: &'s State, ns: &'s Ns, link: &'s str) -> impl Iterator<Item = String> + 's {
    state.iter().filter_map(move |o| match o {
        Object::Address(a) if a.ns == *ns && a.link == link => Some(a.cidr.to_string()),
        _ => None,
    })
}

/// Underlay addresses a VXLAN device sends to (its FDB entries' destinations).
fn fdb_peers<'s>(state: &'s State, device: &'s str) -> impl Iterator<Item = IpAddr> + 's {
    state.iter().filter_map(move |o| match o {
        Object::Fdb(f) if f.ns == Ns::Host && f.link == device => Some(f.dst),
        _ => None,
    })
}

fn existing_netns(netns: &topology::ExternalNetns) -> String {
    if let Some(pid) = netns.pid {
        format!("existing netns: pid {pid}")
    } else if let Some(path) = &netns.path {
        format!("existing netns: {path}")
    } else if let Some(docker) = &netns.docker {
        format!("existing netns: docker {docker}")
    } else {
        "existing netns".to_string()
    }
}

/// Keep cluster `keep` whole, the edges touching it and the nodes at their other ends (their
/// clusters marked "peer"); drop the rest.
fn restrict(graph: &mut Graph, keep: &str) {
    let own: BTreeSet<String> = graph
        .clusters
        .iter()
        .filter(|c| c.id == keep)
        .flat_map(|c| c.nodes.iter().map(|n| n.id.clone()))
        .collect();
    graph
        .edges
        .retain(|e| own.contains(&e.from) || own.contains(&e.to));
    let touched: BTreeSet<&String> = graph.edges.iter().flat_map(|e| [&e.from, &e.to]).collect();
    let touched: BTreeSet<String> = touched.into_iter().cloned().collect();
    for cluster in &mut graph.clusters {
        if cluster.id != keep {
            cluster.nodes.retain(|n| touched.contains(&n.id));
            cluster.label.push_str(" (peer)");
        }
    }
    graph.clusters.retain(|c| !c.nodes.is_empty());
}
