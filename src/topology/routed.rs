//! `driver: routed` (Calico's pure layer-3 scheme): the model, its defaults and its validation.
//!
//! No bridge anywhere. Each host owns an address block of the subnet (Calico's IPAM blocks,
//! `/26` by default, pinnable like the sliced drivers' slices); each container is a veth pair
//! whose container end holds its address as a /32 (/128) and routes everything via a link-local
//! gateway (169.254.1.1, fe80::1) that the host end answers for; the host routes each local
//! container's address to its host end, and each remote block either via the remote host's
//! underlay address (`encapsulation: none`, flannel host-gw's rule: the hosts share an L2
//! segment) or over VXLAN (`encapsulation: vxlan`, Calico's VXLAN mode: a VTEP per host with the
//! block's first address, as flannel's routed VXLAN).
//!
//! Routed networks form one routed fabric, as Calico's IP pools do: a host with a container on
//! any routed network routes every routed network's remote blocks, so routed networks reach each
//! other within and across hosts (only policy isolates). Hence the rules that span networks:
//! the hosts of the fabric share one underlay subnet when a network routes without
//! encapsulation, and one underlay family when a network uses VXLAN.

use super::error::Diagnostic;
use super::membership::routed_hosts;
use super::model::{Topology, VXLAN_OVERHEAD};
use indexmap::IndexMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Default size of each host's IPv4 block (Calico's IPAM block size).
pub const DEFAULT_BLOCK_PREFIX: u8 = 26;
/// Default size of each host's IPv6 block (Calico's IPv6 block size).
pub const DEFAULT_BLOCK_PREFIX6: u8 = 122;
/// The IPv4 next hop of every container's routes (Calico's); held by each host end.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The IPv6 next hop of every container's routes; held by each host end as fe80::1/64.
pub const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// How a routed network carries traffic between hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encapsulation {
    /// Plain routes to each remote block via the remote host's underlay address (all hosts on
    /// one underlay subnet, as Calico without IP-in-IP or VXLAN, or flannel host-gw).
    #[default]
    None,
    /// A VXLAN device per host; each remote block is routed via the remote VTEP (Calico's VXLAN
    /// mode).
    Vxlan,
}

/// `driver: routed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutedNetwork {
    /// The whole network's subnet (Calico's IP pool), e.g. `10.48.0.0/16`, or an IPv6 prefix for
    /// an IPv6-only network; hosts get blocks of it.
    #[serde(deserialize_with = "super::ipany::net")]
    #[schemars(with = "String")]
    pub subnet: IpNet,
    /// Dual stack: an IPv6 prefix beside an IPv4 `subnet`, e.g. `fd00:48::/64` (needs
    /// `encapsulation: vxlan`: a host has one underlay address, of one family).
    #[serde(
        default,
        deserialize_with = "super::ipany::opt_net6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub subnet6: Option<Ipv6Net>,
    /// Prefix length of each host's IPv4 block. Default: 26.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 26), range(max = 30))]
    pub block_prefix: Option<u8>,
    /// Pinned IPv4 blocks by host name. Hosts not listed get the next free block of
    /// `block_prefix` size, in host declaration order.
    #[serde(
        default,
        deserialize_with = "super::ipv4::net_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub blocks: IndexMap<String, Ipv4Net>,
    /// Prefix length of each host's IPv6 block. Default: 122.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 122), range(max = 126))]
    pub block_prefix6: Option<u8>,
    /// Pinned IPv6 blocks by host name (like `blocks`).
    #[serde(
        default,
        deserialize_with = "super::ipany::net6_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub blocks6: IndexMap<String, Ipv6Net>,
    /// `none` (routes via the peers' underlay addresses) or `vxlan`. Default: none.
    #[serde(default)]
    pub encapsulation: Encapsulation,
    /// `encapsulation: vxlan` only, and then required: the VXLAN network identifier,
    /// 1..=16777215. VNI and port together must be unique among the file's networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16_777_215))]
    pub vni: Option<u32>,
    /// `encapsulation: vxlan` only: the UDP destination port. Default: 4789.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 4789), range(min = 1))]
    pub port: Option<u16>,
    /// MTU of the containers' veths (and of the VXLAN device). Default: the smallest underlay
    /// MTU among the routed hosts, minus 50 with VXLAN over IPv4 (70 over IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1500), range(min = 68, max = 65535))]
    pub mtu: Option<u32>,
}

impl RoutedNetwork {
    pub fn block_prefix(&self) -> u8 {
        self.block_prefix.unwrap_or(DEFAULT_BLOCK_PREFIX)
    }

    pub fn block_prefix6(&self) -> u8 {
        self.block_prefix6.unwrap_or(DEFAULT_BLOCK_PREFIX6)
    }

    /// The IPv4 subnet, if the network carries IPv4.
    pub fn subnet4(&self) -> Option<Ipv4Net> {
        match self.subnet {
            IpNet::V4(v4) => Some(v4),
            IpNet::V6(_) => None,
        }
    }

    /// The IPv6 prefix, if the network carries IPv6.
    pub fn v6(&self) -> Option<Ipv6Net> {
        match self.subnet {
            IpNet::V6(v6) => Some(v6),
            IpNet::V4(_) => self.subnet6,
        }
    }

    /// The VXLAN port (vxlan encapsulation).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(super::model::DEFAULT_VXLAN_PORT)
    }

    pub fn vxlan(&self) -> bool {
        self.encapsulation == Encapsulation::Vxlan
    }
}

/// Every problem of routed network `name` that IPAM does not find (blocks and addresses are
/// allocated, and their problems reported, by `ipam`). `mtu_in_range`: the MTU passed the
/// generic range check (comparing one out of range with the underlays would only repeat it).
pub(super) fn validate(
    topo: &Topology,
    name: &str,
    net: &RoutedNetwork,
    mtu_in_range: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let path = format!("networks.{name}");
    if !net.vxlan() {
        super::validate6::misplaced(
            &path,
            &[("vni", net.vni.is_some()), ("port", net.port.is_some())],
            "only applies to encapsulation: vxlan",
            diags,
        );
    } else if net.vni.is_none() {
        diags.push(
            Diagnostic::new(
                format!("{path}.vni"),
                "encapsulation: vxlan needs a vni (1 to 16777215)",
            )
            .expecting_form(),
        );
    }
    super::validate6::slice_keys_of_families(
        &path,
        (net.subnet4().is_some(), net.v6().is_some()),
        ["block_prefix", "blocks"],
        [net.block_prefix.is_some(), !net.blocks.is_empty()],
        net.block_prefix6.is_some(),
        diags,
    );
    let fabric: Vec<(&str, IpNet)> = routed_hosts(topo)
        .into_iter()
        .filter_map(|h| Some((h, topo.hosts.get(h)?.underlay)))
        .collect();
    if net.vxlan() {
        // Every host of the fabric has a VTEP of the network.
        let hosts: Vec<&str> = fabric.iter().map(|(h, _)| *h).collect();
        super::validate6::underlay_family(topo, &hosts, &path, diags);
    } else {
        // Each family the network carries is routed via the peers' underlay addresses, which
        // must be of that family: a host has one, so a dual-stack network needs VXLAN.
        let families = [net.subnet4().map(|_| "IPv4"), net.v6().map(|_| "IPv6")];
        let odd: Vec<String> = fabric
            .iter()
            .filter(|(_, u)| {
                let family = if u.addr().is_ipv6() { "IPv6" } else { "IPv4" };
                families.iter().flatten().any(|f| *f != family)
            })
            .map(|(h, u)| format!("{h} ({u})"))
            .collect();
        if !odd.is_empty() {
            let carried: Vec<&str> = families.iter().flatten().copied().collect();
            diags.push(Diagnostic::new(
                &path,
                format!(
                    "encapsulation none routes {} via the peers' underlay addresses, which must be of the same family; not so on: {} (use encapsulation: vxlan)",
                    carried.join(" and "),
                    odd.join(", ")
                ),
            ));
        }
        super::validate_host_gw::one_underlay_subnet(
            &path,
            "a routed network without encapsulation needs every host with a routed container on one underlay subnet (the next hop to a peer's block must be directly reachable)",
            &fabric,
            diags,
        );
    }
    if let Some(mtu) = net.mtu.filter(|_| mtu_in_range) {
        for (host, underlay) in &fabric {
            let Some(h) = topo.hosts.get(*host) else {
                continue;
            };
            let overhead = if net.vxlan() {
                super::membership::vxlan_overhead(h)
            } else {
                0
            };
            if mtu.saturating_add(overhead) > h.mtu() {
                let what = match overhead {
                    0 => String::new(),
                    n => format!(" + {n} bytes of VXLAN overhead"),
                };
                diags.push(Diagnostic::new(
                    format!("{path}.mtu"),
                    format!(
                        "{mtu}{what} does not fit the underlay MTU {} of host {host} ({underlay})",
                        h.mtu()
                    ),
                ));
            }
        }
    }
}

/// The default MTU of a routed network: the smallest underlay MTU among the routed hosts, less
/// the VXLAN overhead of each with `encapsulation: vxlan`.
pub(super) fn default_mtu(topo: &Topology, net: &RoutedNetwork) -> u32 {
    routed_hosts(topo)
        .iter()
        .filter_map(|h| topo.hosts.get(*h))
        .map(|h| match net.vxlan() {
            true => h.mtu().saturating_sub(super::membership::vxlan_overhead(h)),
            false => h.mtu(),
        })
        .min()
        .unwrap_or(match net.vxlan() {
            true => super::model::DEFAULT_UNDERLAY_MTU - VXLAN_OVERHEAD,
            false => super::model::DEFAULT_UNDERLAY_MTU,
        })
}
