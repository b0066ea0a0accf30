//! Semantic validation of a parsed topology. Collects every problem (not just the first) as a
//! [`Diagnostic`] with the YAML path it concerns. Address allocation problems come from
//! [`super::ipam`], which must allocate to find them.

use super::error::Diagnostic;
use super::ipam;
use super::membership::{hosts_in_network, network_mtu, vxlan_overhead};
use super::model::{Network, Topology, VxlanMode};
use super::naming::{
    bridge_name, host_veth_name, interface_name_problem, namespace_name_problem, vxlan_name,
};
use std::collections::HashMap;

const MAX_VNI: u32 = (1 << 24) - 1;
/// The smallest MTU IPv4 allows (RFC 791); the kernel rejects less on an IPv4 interface.
pub(super) const MIN_MTU: u32 = 68;
/// The largest MTU the kernel accepts on a bridge, veth, vxlan or macvlan (`ETH_MAX_MTU`); more
/// fails in the middle of an apply with a bare "Invalid argument".
pub(super) const MAX_MTU: u32 = 65535;

/// An MTU outside what every link type netplan-rs creates accepts (IPv4's minimum to
/// `ETH_MAX_MTU`). Returns whether a problem was found.
pub(super) fn mtu_problem(path: String, mtu: Option<u32>, diags: &mut Vec<Diagnostic>) -> bool {
    let problem = match mtu {
        Some(mtu) if mtu < MIN_MTU => format!("MTU {mtu} is below the IPv4 minimum {MIN_MTU}"),
        Some(mtu) if mtu > MAX_MTU => {
            format!("MTU {mtu} is above {MAX_MTU}, the largest the kernel accepts")
        }
        _ => return false,
    };
    diags.push(Diagnostic::new(path, problem).expecting_form());
    true
}

/// Every problem of `topo`; empty means valid.
pub fn validate(topo: &Topology) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    if topo.version != 1 {
        diags.push(Diagnostic::new(
            "version",
            format!(
                "unsupported version {}; this netplan-rs reads version 1",
                topo.version
            ),
        ));
    }
    if let Some(name) = &topo.name
        && let Some(problem) = scope_name_problem(name)
    {
        diags.push(Diagnostic::new("name", problem));
    }
    hosts(topo, &mut diags);
    networks(topo, &mut diags);
    super::macvlan::validate_shared_parents(topo, &mut diags);
    containers(topo, &mut diags);
    super::external_netns::validate(topo, &mut diags);
    super::validate6::dual_stack(topo, &mut diags);
    diags.extend(super::ports::validate(topo));
    let (attachments, problems) = ipam::allocate(topo);
    let allocated = problems.is_empty();
    diags.extend(problems);
    super::validate_policy::validate(topo, &attachments, allocated, &mut diags);
    super::validate_host_gw::default_routes(topo, &attachments, &mut diags);
    super::default_route::validate(topo, &mut diags);
    diags
}

/// "one of the hosts node-1, node-2", for a reference to something the file does not define.
fn one_of<'a>(noun: &str, names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    match names.as_slice() {
        [] => format!("a {noun} defined in the file (it defines none)"),
        [one] => format!("the {noun} {one}"),
        many => format!("one of the {noun}s {}", many.join(", ")),
    }
}

/// `name:` becomes part of link aliases and of the nftables table name.
fn scope_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > super::model::MAX_SCOPE_NAME {
        return Some(format!(
            "name {name:?} must be 1 to {} characters",
            super::model::MAX_SCOPE_NAME
        ));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .map(|c| format!("name {name:?} contains {c:?}; only A-Z a-z 0-9 _ . - are allowed"))
}

fn hosts(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    for (name, host) in &topo.hosts {
        // Host names become lab namespace names, so they follow the namespace rule too.
        if let Some(p) = namespace_name_problem(name) {
            diags.push(Diagnostic::new(format!("hosts.{name}"), p));
        }
        if let Some(p) = host.interface.as_deref().and_then(interface_name_problem) {
            diags.push(Diagnostic::new(format!("hosts.{name}.interface"), p));
        }
        mtu_problem(format!("hosts.{name}.mtu"), host.mtu, diags);
    }
}

fn networks(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    let mut vnis: HashMap<(u32, u16), &str> = HashMap::new();
    for (i, (name, net)) in topo.networks.iter().enumerate() {
        let path = format!("networks.{name}");
        let derived = match net {
            Network::Bridge(_) | Network::HostGw(_) => vec![bridge_name(name)],
            Network::Vxlan(_) => vec![bridge_name(name), vxlan_name(name)],
            // Only the host's own child is named after the network.
            Network::Macvlan(m) if m.host_interface => {
                vec![super::macvlan::host_interface_name(name)]
            }
            Network::Macvlan(_) => Vec::new(),
            Network::Routed(r) if r.vxlan() => vec![vxlan_name(name)],
            Network::Routed(_) => Vec::new(),
        };
        if let Some(p) = derived.iter().find_map(|n| interface_name_problem(n)) {
            diags.push(Diagnostic::new(
                &path,
                format!("network name {name:?} cannot be used in interface names: {p}; use at most 12 characters"),
            ));
        }
        let subnet = net.subnet();
        let max_prefix = match subnet {
            ipnet::IpNet::V4(_) => ipam::MAX_SLICE_PREFIX,
            ipnet::IpNet::V6(_) => super::ipam6::MAX_SLICE_PREFIX6,
        };
        if subnet.prefix_len() > max_prefix {
            diags.push(Diagnostic::new(
                format!("{path}.subnet"),
                format!(
                    "{subnet} is too small (at most /{max_prefix}: a gateway and a container need room)"
                ),
            ));
        } else if subnet.addr() != subnet.network() {
            diags.push(Diagnostic::new(
                format!("{path}.subnet"),
                format!(
                    "{subnet} has host bits set (did you mean {}?)",
                    subnet.trunc()
                ),
            ));
        }
        if let Some((other, _)) = topo
            .networks
            .iter()
            .take(i)
            .find(|(_, o)| overlaps(o.subnet().trunc(), subnet.trunc()))
        {
            diags.push(Diagnostic::new(
                format!("{path}.subnet"),
                format!(
                    "{subnet} overlaps the subnet of network {other} ({})",
                    topo.networks
                        .get(other)
                        .map(|o| o.subnet().to_string())
                        .unwrap_or_default()
                ),
            ));
        }
        match net {
            Network::HostGw(h) => {
                mtu_problem(format!("{path}.mtu"), network_mtu(topo, name), diags);
                super::validate_host_gw::host_gw(topo, name, h, diags);
            }
            Network::Macvlan(m) => super::macvlan::validate(topo, name, m, diags),
            Network::Routed(r) => {
                let out_of_range =
                    mtu_problem(format!("{path}.mtu"), network_mtu(topo, name), diags);
                if let Some(vni) = r.vni.filter(|_| r.vxlan()) {
                    vxlan_id(&path, vni, r.port(), &mut vnis, name, diags);
                }
                super::routed::validate(topo, name, r, !out_of_range, diags);
            }
            Network::Bridge(b) => {
                mtu_problem(format!("{path}.mtu"), b.mtu, diags);
                if let Some(gw) = b.gateway {
                    let Some(s) = b.subnet4().map(|s| s.trunc()) else {
                        diags.push(Diagnostic::new(
                            format!("{path}.gateway"),
                            format!("{gw} is IPv4 but the network has no IPv4 subnet"),
                        ));
                        continue;
                    };
                    let problem = if !s.contains(&gw) {
                        Some(format!("{gw} is outside {s}"))
                    } else if gw == s.network() || gw == s.broadcast() {
                        Some(format!("{gw} is the network or broadcast address of {s}"))
                    } else {
                        None
                    };
                    if let Some(p) = problem {
                        diags.push(Diagnostic::new(format!("{path}.gateway"), p));
                    }
                }
            }
            Network::Vxlan(vx) => {
                vxlan_id(&path, vx.vni, vx.port, &mut vnis, name, diags);
                if vx.mode == VxlanMode::Bridged {
                    if vx.host_prefix.is_some() {
                        diags.push(Diagnostic::new(
                            format!("{path}.host_prefix"),
                            "only applies to mode routed",
                        ));
                    }
                    if !vx.slices.is_empty() {
                        diags.push(Diagnostic::new(
                            format!("{path}.slices"),
                            "only applies to mode routed",
                        ));
                    }
                }
                // Explicit, or derived from a small underlay MTU.
                let out_of_range =
                    mtu_problem(format!("{path}.mtu"), network_mtu(topo, name), diags);
                // Out of range says it all; the underlay comparison would only repeat it.
                if let Some(mtu) = vx.mtu.filter(|_| !out_of_range) {
                    for host in hosts_in_network(topo, name) {
                        let Some(h) = topo.hosts.get(host) else {
                            continue;
                        };
                        let (underlay, overhead) = (h.mtu(), vxlan_overhead(h));
                        if mtu.saturating_add(overhead) > underlay {
                            diags.push(Diagnostic::new(
                                format!("{path}.mtu"),
                                format!(
                                    "{mtu} + {overhead} bytes of VXLAN overhead does not fit the underlay MTU {underlay} of host {host}"
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// A VXLAN device's VNI and port (`driver: vxlan`, `driver: routed` with VXLAN): in range, and
/// unique among the file's networks (`vnis`).
fn vxlan_id<'a>(
    path: &str,
    vni: u32,
    port: u16,
    vnis: &mut HashMap<(u32, u16), &'a str>,
    name: &'a str,
    diags: &mut Vec<Diagnostic>,
) {
    if vni == 0 || vni > MAX_VNI {
        diags.push(
            Diagnostic::new(
                format!("{path}.vni"),
                format!("{vni} is not a VNI (1 to {MAX_VNI})"),
            )
            .expecting_form(),
        );
    }
    // Port 0 is not "no port": the kernel substitutes its module default (8472), so the
    // observed link would never match the file.
    if port == 0 {
        diags.push(
            Diagnostic::new(
                format!("{path}.port"),
                "0 is not a UDP port (1 to 65535; default 4789)",
            )
            .expecting_form(),
        );
    }
    if let Some(other) = vnis.insert((vni, port), name) {
        diags.push(Diagnostic::new(
            format!("{path}.vni"),
            format!("vni {vni} on port {port} is already used by network {other}"),
        ));
    }
}

fn overlaps(a: ipnet::IpNet, b: ipnet::IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn containers(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    // Host-side veth names are 28-bit hashes: a collision on one host would make two veths one
    // object, so it is reported (rename either container to resolve it).
    let mut veths: HashMap<(&str, String), (&str, &str)> = HashMap::new();
    for (name, c) in &topo.containers {
        for spec in c.specs(name) {
            let veth = host_veth_name(name, spec.network);
            if let Some((other, other_net)) =
                veths.insert((&c.host, veth.clone()), (name, spec.network))
            {
                diags.push(Diagnostic::new(
                    format!("containers.{name}"),
                    format!(
                        "host-side interface name {veth} (network {}) collides with container {other} on network {other_net}; rename one of them",
                        spec.network
                    ),
                ));
            }
        }
    }
    for (name, c) in &topo.containers {
        let path = format!("containers.{name}");
        if let Some(p) = namespace_name_problem(name) {
            diags.push(Diagnostic::new(&path, format!("container {p}")));
        }
        if !topo.hosts.contains_key(&c.host) {
            diags.push(
                Diagnostic::new(format!("{path}.host"), format!("unknown host {:?}", c.host))
                    .expecting(one_of("host", topo.hosts.keys()))
                    .suggesting(&c.host, topo.hosts.keys().map(String::as_str)),
            );
        }
        match (&c.network, c.networks.is_empty()) {
            (None, true) => diags.push(Diagnostic::new(
                &path,
                "has no network (set `network` or `networks`)",
            )),
            (Some(_), false) => diags.push(Diagnostic::new(
                &path,
                "set either `network` (short form) or `networks`, not both",
            )),
            _ => {}
        }
        // Only with the long form: without any network, "has no network" says it all.
        if c.network.is_none() && !c.networks.is_empty() && c.address.is_some() {
            diags.push(Diagnostic::new(
                format!("{path}.address"),
                "`address` belongs to the short form (`network`); in `networks`, set it per network",
            ));
        }
        let mut seen: HashMap<String, &str> = HashMap::new();
        for spec in c.specs(name) {
            let npath = if c.networks.is_empty() {
                format!("{path}.network")
            } else {
                format!("{path}.networks.{}", spec.network)
            };
            if !topo.networks.contains_key(spec.network) {
                diags.push(
                    Diagnostic::new(&npath, format!("unknown network {:?}", spec.network))
                        .expecting(one_of("network", topo.networks.keys()))
                        .suggesting(spec.network, topo.networks.keys().map(String::as_str)),
                );
            }
            if let Some(p) = interface_name_problem(&spec.interface) {
                diags.push(Diagnostic::new(format!("{npath}.interface"), p));
            }
            if let Some(other) = seen.insert(spec.interface.clone(), spec.network) {
                diags.push(Diagnostic::new(
                    format!("{npath}.interface"),
                    format!(
                        "interface {} is already used for network {other}",
                        spec.interface
                    ),
                ));
            }
        }
    }
}
