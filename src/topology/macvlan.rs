//! `driver: macvlan` (Docker's macvlan driver): the model, its derived names and
//! addresses, and its validation.
//!
//! Each container interface is a macvlan child of a host interface (`parent`, by default the
//! host's underlay interface), so containers sit directly on the parent's wire: containers on
//! different hosts reach each other through the physical (or, in the lab, simulated) switch.
//! With `vlan: N` the children hang off an 802.1Q sub-interface `parent.N` that netplan-rs
//! creates and owns. A macvlan child never talks to its own parent, so with
//! `host_interface: true` the host gets a child of its own (`mv-<net>`) holding a reserved
//! address of the subnet.

use super::error::Diagnostic;
use super::ipam::nth;
use super::model::{Network, Topology};
use super::naming::{MAX_IFNAME, interface_name_problem, underlay_interface};
use ipnet::Ipv4Net;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Highest usable 802.1Q VLAN id (4095 is reserved).
const MAX_VLAN_ID: u16 = 4094;

/// How macvlan children of one parent reach each other (the kernel's macvlan modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MacvlanMode {
    /// Children of the same parent talk to each other directly (Docker's default).
    #[default]
    Bridge,
    /// Children of the same parent cannot talk to each other at all.
    Private,
    /// Traffic between children goes out to the switch and back (needs a hairpin switch).
    Vepa,
    /// One child takes over the parent (its MAC included): one container per host.
    Passthru,
}

impl MacvlanMode {
    /// The name `ip link ... type macvlan mode NAME` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

/// `driver: macvlan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MacvlanNetwork {
    /// Host interface the containers' macvlan children hang off. Default: each host's underlay
    /// interface (`hosts.<host>.interface`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Macvlan mode. Default: bridge.
    #[serde(default)]
    pub mode: MacvlanMode,
    /// IPv4 subnet of the wire the parent is on, e.g. `172.100.1.0/24`.
    #[serde(deserialize_with = "super::ipv4::net")]
    #[schemars(with = "String")]
    pub subnet: Ipv4Net,
    /// The router on that wire: containers default-route via it and it is never given to a
    /// container. netplan-rs does not create it (as with Docker). Default: the first address of
    /// the subnet.
    #[serde(
        default,
        deserialize_with = "super::ipv4::opt_addr",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub gateway: Option<Ipv4Addr>,
    /// 802.1Q VLAN id, 1..=4094: netplan-rs creates and owns the sub-interface `<parent>.<vlan>`
    /// and the children hang off it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4094))]
    pub vlan: Option<u16>,
    /// Give each host with containers on this network its own macvlan child `mv-<network>`, so
    /// the host and its containers can talk (a macvlan child cannot talk to its parent). The
    /// host at position i (0-based) in `hosts` gets the (i+1)-th address from the top of the
    /// subnet, skipping the broadcast address and the gateway (`.254` for the first host of a
    /// /24, `.253` for the second ...), reserved for it. Default: false.
    #[serde(default)]
    pub host_interface: bool,
    /// MTU of the children (and of the VLAN sub-interface). Default: unset (the parent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 65535))]
    pub mtu: Option<u32>,
}

impl MacvlanNetwork {
    /// The gateway: explicit, or the first address of the subnet (Docker's default).
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
            .unwrap_or_else(|| nth(self.subnet.trunc(), 1).unwrap_or(self.subnet.addr()))
    }

    /// The parent interface on `host`: explicit, or the host's underlay interface.
    pub fn parent_on<'a>(&'a self, host: &'a super::model::Host) -> &'a str {
        self.parent
            .as_deref()
            .unwrap_or_else(|| underlay_interface(host))
    }

    /// The device the children hang off on `host`: the parent, or its VLAN sub-interface.
    pub fn lower_on(&self, host: &super::model::Host) -> String {
        let parent = self.parent_on(host);
        match self.vlan {
            Some(id) => vlan_name(parent, id),
            None => parent.to_string(),
        }
    }
}

/// The 802.1Q sub-interface of `parent` for `id`: `parent.id`, as `ip link add link eth0 name
/// eth0.50 type vlan id 50` by hand.
fn vlan_name(parent: &str, id: u16) -> String {
    format!("{parent}.{id}")
}

/// The host's own macvlan child on `network` (with `host_interface: true`).
pub fn host_interface_name(network: &str) -> String {
    format!("mv-{network}")
}

/// The address of `host`'s own macvlan child: counted from the top of the subnet by the host's
/// position in `hosts`, so appending hosts or containers never moves it.
pub fn host_address(topo: &Topology, net: &MacvlanNetwork, host: &str) -> Option<Ipv4Addr> {
    let index = u64::try_from(topo.hosts.get_index_of(host)?).ok()?;
    let subnet = net.subnet.trunc();
    let size = 1u64 << (32 - u32::from(subnet.prefix_len()));
    // size - 1 is the broadcast address; counting down from size - 2, the gateway is skipped
    // (a gateway at the top, e.g. `.254`, shifts the hosts down by one).
    let gateway =
        u64::from(u32::from(net.gateway())).checked_sub(u64::from(u32::from(subnet.network())));
    let mut n = size.checked_sub(2)?.checked_sub(index)?;
    if gateway.is_some_and(|g| g >= n) {
        n = n.checked_sub(1)?;
    }
    // 0 is the network address.
    nth(subnet, u32::try_from(n).ok().filter(|n| *n > 0)?)
}

/// Addresses of the network that containers may not have, with who holds them: the hosts' own
/// children (with `host_interface`).
pub fn held_addresses(topo: &Topology, net: &MacvlanNetwork) -> Vec<(Ipv4Addr, String)> {
    if !net.host_interface {
        return Vec::new();
    }
    topo.hosts
        .keys()
        .filter_map(|h| host_address(topo, net, h).map(|a| (a, format!("host {h}"))))
        .collect()
}

/// Every problem of macvlan network `name` (its own keys, and its passthru rules).
pub(crate) fn validate(
    topo: &Topology,
    name: &str,
    net: &MacvlanNetwork,
    diags: &mut Vec<Diagnostic>,
) {
    let path = format!("networks.{name}");
    if let Some(p) = net.parent.as_deref().and_then(interface_name_problem) {
        diags.push(Diagnostic::new(format!("{path}.parent"), p));
    }
    if let Some(id) = net.vlan {
        if id == 0 || id > MAX_VLAN_ID {
            diags.push(
                Diagnostic::new(
                    format!("{path}.vlan"),
                    format!("{id} is not a VLAN id (1 to {MAX_VLAN_ID})"),
                )
                .expecting_form(),
            );
        } else {
            for (host_name, host) in &topo.hosts {
                let vlan = vlan_name(net.parent_on(host), id);
                if vlan.len() > MAX_IFNAME {
                    diags.push(Diagnostic::new(
                        format!("{path}.vlan"),
                        format!(
                            "the VLAN interface name {vlan:?} (host {host_name}) is {} characters, the kernel allows at most {MAX_IFNAME}; use a parent with a shorter name",
                            vlan.len()
                        ),
                    ));
                }
            }
        }
    }
    if let Some(gw) = net.gateway {
        let s = net.subnet.trunc();
        if !s.contains(&gw) {
            diags.push(Diagnostic::new(
                format!("{path}.gateway"),
                format!("{gw} is outside {s}"),
            ));
        } else if gw == s.network() || gw == s.broadcast() {
            diags.push(Diagnostic::new(
                format!("{path}.gateway"),
                format!("{gw} is the network or broadcast address of {s}"),
            ));
        }
    }
    if let Some(mtu) = net.mtu {
        // Out of any link's range: comparing with the parent would only repeat it.
        let in_range = !super::validate::mtu_problem(format!("{path}.mtu"), Some(mtu), diags);
        if in_range && net.parent.is_none() {
            // A macvlan child cannot exceed its lower device's MTU; the underlay's is known.
            for host in super::membership::hosts_in_network(topo, name) {
                let underlay = topo.hosts.get(host).map(|h| h.mtu()).unwrap_or_default();
                if mtu > underlay {
                    diags.push(Diagnostic::new(
                        format!("{path}.mtu"),
                        format!(
                            "{mtu} exceeds the MTU {underlay} of host {host}'s underlay interface (the parent)"
                        ),
                    ));
                }
            }
        }
    }
    if net.host_interface {
        if net.mode == MacvlanMode::Passthru {
            diags.push(Diagnostic::new(
                format!("{path}.host_interface"),
                "mode passthru allows only one macvlan child per parent, so the host cannot have its own",
            ));
        }
        for host in topo.hosts.keys() {
            if host_address(topo, net, host).is_none() {
                diags.push(Diagnostic::new(
                    format!("{path}.host_interface"),
                    format!(
                        "subnet {} has no room for host {host}'s address (counted from the top of the subnet, one per host)",
                        net.subnet
                    ),
                ));
            }
        }
    }
    if net.mode == MacvlanMode::Passthru {
        let mut per_host: HashMap<&str, Vec<&str>> = HashMap::new();
        for (cname, c) in &topo.containers {
            if c.specs(cname).iter().any(|s| s.network == name) {
                per_host.entry(&c.host).or_default().push(cname);
            }
        }
        for host in topo.hosts.keys() {
            if let Some(cs) = per_host.get(host.as_str()).filter(|cs| cs.len() > 1) {
                diags.push(Diagnostic::new(
                    format!("{path}.mode"),
                    format!(
                        "passthru allows one container per host and parent, but host {host} has {}",
                        cs.join(", ")
                    ),
                ));
            }
        }
    }
}

/// Problems between macvlan networks: two networks may not own the same VLAN sub-interface,
/// and a passthru network needs its lower device to itself.
pub(crate) fn validate_shared_parents(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    // (host, lower device) -> first network using it there.
    let mut lowers: HashMap<(&str, String), &str> = HashMap::new();
    for (name, net) in &topo.networks {
        let Network::Macvlan(m) = net else { continue };
        for host in super::membership::hosts_in_network(topo, name) {
            let Some(host_def) = topo.hosts.get(host) else {
                continue;
            };
            let lower = m.lower_on(host_def);
            let Some(other) = lowers.insert((host, lower.clone()), name) else {
                continue;
            };
            let other_passthru = matches!(topo.networks.get(other),
                Some(Network::Macvlan(o)) if o.mode == MacvlanMode::Passthru);
            let problem = if m.vlan.is_some() {
                Some(format!(
                    "the VLAN interface {lower} on host {host} already belongs to network {other}"
                ))
            } else if m.mode == MacvlanMode::Passthru || other_passthru {
                Some(format!(
                    "network {other} also uses {lower} on host {host}; passthru needs the parent to itself"
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                diags.push(Diagnostic::new(format!("networks.{name}"), p));
            }
        }
    }
}
