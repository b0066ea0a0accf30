//! Topology + host name -> desired [`crate::state::State`] for that host; one file per driver.
//!
//! Compile is pure: it reads only the (validated) topology, so every host computes the same
//! derived identities for its peers. Objects per scheme follow docs/architecture.md "Kernel objects per
//! scheme". A host gets a network's devices only if it has a container on that network.

mod bridge;
mod host_gw;
mod isolation;
mod macvlan;
mod nat;
mod nft;
mod vxlan_bridged;
mod vxlan_routed;
mod wiring;

#[cfg(test)]
mod golden_macvlan;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_host_gw;
#[cfg(test)]
mod tests_no_default;

use crate::state::{Namespace, State};
use crate::topology::{Attachment, Host, Network, Topology, VxlanMode, attachments};

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
    /// All attachments of the whole topology on this network (local and remote).
    pub on_network: Vec<&'a Attachment>,
}

impl<'a> Ctx<'a> {
    pub fn local(&self) -> impl Iterator<Item = &&'a Attachment> {
        self.on_network.iter().filter(|a| a.host == self.host)
    }

    pub fn remote(&self) -> impl Iterator<Item = &&'a Attachment> {
        self.on_network.iter().filter(|a| a.host != self.host)
    }
}

/// The desired state of `host`. Fails only when the host is not in the topology.
#[tracing::instrument(name = "compile", level = "info", skip(topo))]
pub fn compile(topo: &Topology, host: &str) -> Result<State, CompileError> {
    let Some(host_def) = topo.hosts.get(host) else {
        let known: Vec<&str> = topo.hosts.keys().map(String::as_str).collect();
        return Err(CompileError::UnknownHost {
            host: host.to_string(),
            known: known.join(", "),
        });
    };
    let all = attachments(topo);
    let mut state = State::default();
    for (name, container) in &topo.containers {
        // An existing namespace (`netns:`) is not ours: no Namespace object, so it is never
        // created or deleted; only the interfaces we put into it are.
        if container.host == host && container.netns.is_none() {
            state.insert(Namespace {
                name: name.clone(),
                owned: true,
            });
        }
    }
    for (network, net) in &topo.networks {
        let on_network: Vec<&Attachment> = all.iter().filter(|a| a.network == *network).collect();
        // No local container: no devices here, so the MTU (a pass over the topology's
        // containers for VXLAN and host-gw) is not worked out either.
        if !on_network.iter().any(|a| a.host == host) {
            continue;
        }
        let ctx = Ctx {
            topo,
            network,
            host,
            host_def,
            mtu: crate::topology::membership::network_mtu(topo, network),
            on_network,
        };
        match net {
            Network::Bridge(b) => bridge::compile(&ctx, b, &mut state),
            Network::Macvlan(m) => macvlan::compile(&ctx, m, &mut state),
            Network::Vxlan(vx) if vx.mode == VxlanMode::Bridged => {
                vxlan_bridged::compile(&ctx, vx, &mut state)
            }
            Network::Vxlan(vx) => vxlan_routed::compile(&ctx, vx, &mut state),
            Network::HostGw(h) => host_gw::compile(&ctx, h, &mut state),
        }
    }
    nat::compile(topo, host, host_def, &all, &mut state);
    isolation::compile(topo, host, &all, &mut state);
    Ok(state)
}
