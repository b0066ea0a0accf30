//! Topology + host name -> desired [`crate::state::State`] for that host; one file per driver.
//!
//! Compile is pure: it reads only the (validated) topology, so every host computes the same
//! derived identities for its peers. Objects per scheme follow docs/architecture.md "Kernel objects per
//! scheme". A host gets a network's devices only if it has a container on that network (a
//! routed network: on any routed network, see `routed.rs`).

mod bridge;
mod host_gw;
mod isolation;
mod macvlan;
mod nat;
mod nft;
mod policy;
mod routed;
mod vxlan_bridged;
mod vxlan_routed;
mod wiring;

#[cfg(test)]
pub(crate) mod tests;

use crate::state::{Namespace, State};
use crate::topology::{Attachment, Container, Host, Network, Topology, VxlanMode, attachments};
use indexmap::IndexMap;
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error("unknown host {host:?}; the topology declares: {known}")]
    UnknownHost { host: String, known: String },
}

/// What a driver needs to emit one network's objects on one host.
pub(crate) struct Ctx<'a> {
    pub topo: &'a Topology,
    pub network: &'a str,
    pub host: &'a str,
    pub host_def: &'a Host,
    /// The network's interface MTU (`None`: kernel default).
    pub mtu: Option<u32>,
    /// This host's attachments to the network, in declaration order.
    local: Vec<&'a Attachment>,
    /// Every attachment of the topology, and the indices of the network's (local and remote).
    all: &'a [Attachment],
    on_network: &'a [usize],
    /// The network's per-host IPv4 / IPv6 slices (sliced networks: routed VXLAN, host-gw).
    pub slices: &'a IndexMap<String, Ipv4Net>,
    pub slices6: &'a IndexMap<String, Ipv6Net>,
    /// The hosts with a container on the network (a routed network: on any routed network), in
    /// declaration order.
    pub hosts: &'a [&'a str],
}

impl<'a> Ctx<'a> {
    pub fn local(&self) -> impl Iterator<Item = &&'a Attachment> {
        self.local.iter()
    }

    pub fn remote(&self) -> impl Iterator<Item = &'a Attachment> {
        let (all, host) = (self.all, self.host);
        self.on_network
            .iter()
            .map(move |&i| &all[i])
            .filter(move |a| a.host != host)
    }
}

/// The desired state of `host`. Fails only when the host is not in the topology.
#[tracing::instrument(name = "compile", level = "info", skip(topo))]
pub fn compile(topo: &Topology, host: &str) -> Result<State, CompileError> {
    Compiler::new(topo).compile(host)
}

/// What compiling needs from the whole topology, worked out once: every attachment (IPAM) and,
/// per network, its MTU, slices and hosts. These are the same for every host and each costs a
/// pass over all containers, so compiling the fleet host by host ([`crate::fleet`]) reuses one
/// `Compiler` instead of redoing them per host (which made a fleet compile quadratic).
pub struct Compiler<'a> {
    topo: &'a Topology,
    all: Vec<Attachment>,
    networks: HashMap<&'a str, Derived<'a>>,
    /// Who each policy selects and its peers' addresses (the same for every host).
    policies: policy::Resolved,
    /// Per host, what is on it: a host's compile reads only its own entry and the networks it
    /// touches, never a scan of every container (which made a fleet plan hosts x containers).
    locals: HashMap<&'a str, Local<'a>>,
}

/// One host's containers and attachments, in declaration order.
#[derive(Default)]
struct Local<'a> {
    containers: Vec<(&'a str, &'a Container)>,
    /// Indices into `Compiler::all`.
    attachments: Vec<usize>,
}

/// Per-network facts shared by every host's compile.
struct Derived<'a> {
    /// Indices into `Compiler::all` of the network's attachments.
    attachments: Vec<usize>,
    mtu: Option<u32>,
    slices: IndexMap<String, Ipv4Net>,
    slices6: IndexMap<String, Ipv6Net>,
    hosts: Vec<&'a str>,
}

impl<'a> Compiler<'a> {
    pub fn new(topo: &'a Topology) -> Self {
        let all = attachments(topo);
        let mut networks: HashMap<&'a str, Derived<'a>> = topo
            .networks
            .keys()
            .map(|network| {
                let derived = Derived {
                    attachments: Vec::new(),
                    mtu: crate::topology::membership::network_mtu(topo, network),
                    slices: crate::topology::ipam::slices(topo, network),
                    slices6: crate::topology::ipam6::slices6(topo, network),
                    hosts: match topo.networks.get(network) {
                        // The routed fabric: see `routed.rs`.
                        Some(Network::Routed(_)) => crate::topology::membership::routed_hosts(topo),
                        _ => crate::topology::membership::hosts_in_network(topo, network),
                    },
                };
                (network.as_str(), derived)
            })
            .collect();
        let mut locals: HashMap<&'a str, Local<'a>> = HashMap::new();
        for (name, container) in &topo.containers {
            let local = locals.entry(container.host.as_str()).or_default();
            local.containers.push((name.as_str(), container));
        }
        for (i, att) in all.iter().enumerate() {
            if let Some(derived) = networks.get_mut(att.network.as_str()) {
                derived.attachments.push(i);
            }
            if let Some((host, _)) = topo.hosts.get_key_value(att.host.as_str()) {
                locals.entry(host.as_str()).or_default().attachments.push(i);
            }
        }
        let policies = policy::Resolved::new(topo, &all);
        Compiler {
            topo,
            all,
            networks,
            policies,
            locals,
        }
    }

    /// The topology this compiles.
    pub fn topology(&self) -> &'a Topology {
        self.topo
    }

    /// The desired state of `host`. Fails only when the host is not in the topology.
    pub fn compile(&self, host: &str) -> Result<State, CompileError> {
        let topo = self.topo;
        let Some(host_def) = topo.hosts.get(host) else {
            let known: Vec<&str> = topo.hosts.keys().map(String::as_str).collect();
            return Err(CompileError::UnknownHost {
                host: host.to_string(),
                known: known.join(", "),
            });
        };
        let all = &self.all;
        let empty = Local::default();
        let here = self.locals.get(host).unwrap_or(&empty);
        let local: Vec<&Attachment> = here.attachments.iter().map(|&i| &all[i]).collect();
        let mut state = State::default();
        for (name, container) in &here.containers {
            // An existing namespace (`netns:`) is not ours: no Namespace object, so it is never
            // created or deleted; only the interfaces we put into it are.
            if container.netns.is_none() {
                state.insert(Namespace {
                    name: name.to_string(),
                    owned: true,
                    ipv6_default: None,
                });
            }
        }
        for (network, net) in &topo.networks {
            let Some(derived) = self.networks.get(network.as_str()) else {
                continue;
            };
            let local_here: Vec<&Attachment> = local
                .iter()
                .copied()
                .filter(|a| a.network == *network)
                .collect();
            // No local container: no devices here (a routed network: not in the routed fabric).
            let present = match net {
                Network::Routed(_) => derived.hosts.contains(&host),
                _ => !local_here.is_empty(),
            };
            if !present {
                continue;
            }
            let ctx = Ctx {
                topo,
                network,
                host,
                host_def,
                mtu: derived.mtu,
                local: local_here,
                all,
                on_network: &derived.attachments,
                slices: &derived.slices,
                slices6: &derived.slices6,
                hosts: &derived.hosts,
            };
            match net {
                Network::Bridge(b) => bridge::compile(&ctx, b, &mut state),
                Network::Macvlan(m) => macvlan::compile(&ctx, m, &mut state),
                Network::Vxlan(vx) if vx.mode == VxlanMode::Bridged => {
                    vxlan_bridged::compile(&ctx, vx, &mut state)
                }
                Network::Vxlan(vx) => vxlan_routed::compile(&ctx, vx, &mut state),
                Network::HostGw(h) => host_gw::compile(&ctx, h, &mut state),
                Network::Routed(r) => routed::compile(&ctx, r, &mut state),
            }
        }
        nat::compile(topo, host_def, &here.containers, &local, &mut state);
        isolation::compile(topo, &local, &mut state);
        policy::compile(&self.policies, host, all, &mut state);
        wiring::namespace_ipv6_defaults(&mut state);
        Ok(state)
    }
}
