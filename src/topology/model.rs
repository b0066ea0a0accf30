//! The serde model of topology file version 1 (the contract in docs/architecture.md).
//!
//! Maps are `IndexMap`s because declaration order is meaningful: subnet slices, container
//! addresses and interface names are allocated in that order. Every struct denies unknown keys so
//! a typo is an error, not a silently ignored setting. Doc comments here become the JSON Schema.

pub use super::default_route::DefaultRoute;
use super::unique_keys::unique;
use super::{ipany, ipv4};
use indexmap::IndexMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Default VXLAN UDP destination port (IANA).
pub const DEFAULT_VXLAN_PORT: u16 = 4789;
/// Default underlay MTU of a host.
pub const DEFAULT_UNDERLAY_MTU: u32 = 1500;
/// Bytes of VXLAN encapsulation over IPv4 (outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).
pub const VXLAN_OVERHEAD: u32 = 50;
/// Bytes of VXLAN encapsulation over IPv6 (outer IPv6 header 40 instead of 20).
pub const VXLAN6_OVERHEAD: u32 = 70;
/// Default size of each host's IPv6 slice in a routed VXLAN network.
pub const DEFAULT_HOST_PREFIX6: u8 = 64;
/// Default size of each host's slice in a routed VXLAN network.
pub const DEFAULT_HOST_PREFIX: u8 = 24;

/// A topology file: hosts, the container networks spanning them, and the containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "netplan-rs topology (version 1)")]
pub struct Topology {
    /// Format version. Must be 1.
    pub version: u32,
    /// The scope of ownership on real hosts: what netplan-rs creates from this file is marked
    /// with it, and objects marked by another scope are never modified or deleted, so two files
    /// with different names can manage disjoint networks on one host. Default `default`
    /// (marked plain `netplan-rs`). `A-Z a-z 0-9 _ . -`, at most 32 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hosts by name, in declaration order (slices are allocated in this order).
    #[serde(default, deserialize_with = "unique")]
    pub hosts: IndexMap<String, Host>,
    /// Networks by name. The name is part of derived interface names (`br-<name>`, `vx-<name>`),
    /// so it may be at most 12 characters.
    #[serde(default, deserialize_with = "unique")]
    pub networks: IndexMap<String, Network>,
    /// Containers by name. The name is the network namespace name: `[A-Za-z0-9_.-]`, at most 64
    /// characters. Addresses are allocated in declaration order.
    #[serde(default, deserialize_with = "unique")]
    pub containers: IndexMap<String, Container>,
    /// Network policies by name (Kubernetes NetworkPolicy semantics, see docs/policy.md): which
    /// traffic may enter and leave the containers each selects. Containers no policy selects
    /// are open. The name is part of nftables chain and set names: `A-Z a-z 0-9 _ . -`, at most
    /// 32 characters.
    #[serde(
        default,
        deserialize_with = "unique",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    pub policies: IndexMap<String, super::policy::Policy>,
}

/// A machine that runs containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// The underlay address/prefix the host already has, e.g. `192.168.31.183/24`, or an IPv6
    /// one, e.g. `fd00:31::183/64` (VXLAN over IPv6). VXLAN tunnels are sourced from and sent to
    /// this address; the hosts of one VXLAN network must all use the same family.
    #[serde(deserialize_with = "ipany::net")]
    #[schemars(with = "String")]
    pub underlay: IpNet,
    /// Underlay interface name. Default: `eth0` (the lab's underlay interface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "eth0"))]
    pub interface: Option<String>,
    /// MTU of the underlay interface. Default: 1500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1500), range(min = 68, max = 65535))]
    pub mtu: Option<u32>,
}

/// A container network, selected by `driver`.
// Deserialized by hand in `network_de.rs` (so errors name the network and key); the serde
// attributes here still drive serialisation and the JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum Network {
    /// A VXLAN overlay spanning hosts.
    Vxlan(VxlanNetwork),
    /// A single-host Linux bridge (docker0 style); each host with containers on it gets its own.
    Bridge(BridgeNetwork),
    /// Per-host subnet slices routed over the underlay without encapsulation (flannel host-gw,
    /// static routes between hosts). All its hosts must share one underlay subnet.
    #[serde(rename = "host-gw")]
    HostGw(HostGwNetwork),
    /// Containers as macvlan children of a host interface (Docker's macvlan driver.
    Macvlan(super::macvlan::MacvlanNetwork),
    /// Calico's pure layer 3: no bridge, a /32 (/128) route per container, per-host blocks
    /// routed between hosts directly or over VXLAN.
    Routed(super::routed::RoutedNetwork),
}

/// How a VXLAN network connects hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VxlanMode {
    /// One L2 segment across hosts: the VXLAN device is a bridge port, remote containers get
    /// static neighbour + FDB entries (Docker overlay). No gateway.
    Bridged,
    /// Per-host subnet slices routed over VXLAN (flannel VXLAN).
    Routed,
}

/// `driver: vxlan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VxlanNetwork {
    /// `bridged` (one L2 segment) or `routed` (per-host slices).
    pub mode: VxlanMode,
    /// VXLAN network identifier, 1..=16777215. VNI and port together must be unique.
    #[schemars(range(min = 1, max = 16_777_215))]
    pub vni: u32,
    /// UDP destination port, 1..=65535. Default: 4789.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1))]
    pub port: u16,
    /// The whole network's subnet, e.g. `172.18.0.0/16`, or an IPv6 prefix (e.g. `fd00:18::/64`)
    /// for an IPv6-only network.
    #[serde(deserialize_with = "ipany::net")]
    #[schemars(with = "String")]
    pub subnet: IpNet,
    /// Dual stack: an IPv6 prefix beside an IPv4 `subnet`, e.g. `fd00:18::/64`.
    #[serde(
        default,
        deserialize_with = "ipany::opt_net6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub subnet6: Option<Ipv6Net>,
    /// MTU of the network's interfaces. Default: the smallest underlay MTU among the hosts with
    /// containers on this network, minus 50 (1450 with the default underlay MTU), or minus 70
    /// over an IPv6 underlay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1450), range(min = 68, max = 65535))]
    pub mtu: Option<u32>,
    /// Routed mode only: prefix length of each host's slice. Default: 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 24), range(max = 30))]
    pub host_prefix: Option<u8>,
    /// Routed mode only: pinned slices by host name. Hosts not listed get the next free slice of
    /// `host_prefix` size, in host declaration order.
    #[serde(
        default,
        deserialize_with = "ipv4::net_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub slices: IndexMap<String, Ipv4Net>,
    /// Routed mode only: prefix length of each host's IPv6 slice. Default: 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 64), range(max = 126))]
    pub host_prefix6: Option<u8>,
    /// Routed mode only: pinned IPv6 slices by host name (like `slices`).
    #[serde(
        default,
        deserialize_with = "ipany::net6_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub slices6: IndexMap<String, Ipv6Net>,
}

fn default_port() -> u16 {
    DEFAULT_VXLAN_PORT
}

/// `driver: bridge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeNetwork {
    /// Subnet, e.g. `192.168.200.0/24`, or an IPv6 prefix for an IPv6-only network.
    #[serde(deserialize_with = "ipany::net")]
    #[schemars(with = "String")]
    pub subnet: IpNet,
    /// Dual stack: an IPv6 prefix beside an IPv4 `subnet`, e.g. `fd00:200::/64`.
    #[serde(
        default,
        deserialize_with = "ipany::opt_net6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub subnet6: Option<Ipv6Net>,
    /// IPv4 gateway address, held by the bridge. Default: the first address of the subnet.
    #[serde(
        default,
        deserialize_with = "ipv4::opt_addr",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 gateway address, held by the bridge. Default: the first address (`::1`) of the IPv6
    /// prefix.
    #[serde(
        default,
        deserialize_with = "ipany::opt_addr6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub gateway6: Option<Ipv6Addr>,
    /// MTU of the bridge and veths. Default: unset (the kernel's default, 1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 68, max = 65535))]
    pub mtu: Option<u32>,
    /// Masquerade traffic from the subnet that leaves the host through another interface
    /// (docker0's egress NAT), with a rule in the nftables table `inet netplan-rs`. Default: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nat: bool,
}

/// `driver: host-gw`: each host gets a slice of `subnet` on its bridge (gateway `.1`) and a
/// route to every other host's slice via that host's underlay address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostGwNetwork {
    /// The whole network's IPv4 subnet, e.g. `172.16.0.0/12`; hosts get slices of it.
    #[serde(deserialize_with = "ipv4::net")]
    #[schemars(with = "String")]
    pub subnet: Ipv4Net,
    /// Prefix length of each host's slice. Default: 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 24), range(max = 30))]
    pub host_prefix: Option<u8>,
    /// Pinned slices by host name. Hosts not listed get the next free slice of `host_prefix`
    /// size, in host declaration order.
    #[serde(
        default,
        deserialize_with = "ipv4::net_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub slices: IndexMap<String, Ipv4Net>,
    /// MTU of the bridge and veths. Default: the smallest underlay MTU among the hosts with
    /// containers on this network (no encapsulation overhead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1500), range(min = 68, max = 65535))]
    pub mtu: Option<u32>,
}

/// A container (a network namespace named after it) on one host.
///
/// Either the short form `network` (+ optional `address`) or `networks` for several networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// The host it runs on.
    pub host: String,
    /// Short form: the one network it is attached to (interface `eth0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Short form: its address on `network`. Default: allocated in declaration order.
    #[serde(
        default,
        deserialize_with = "ipv4::opt_addr",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub address: Option<Ipv4Addr>,
    /// Short form: its IPv6 address on `network` (which must carry IPv6). Default: allocated in
    /// declaration order.
    #[serde(
        default,
        deserialize_with = "ipany::opt_addr6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub address6: Option<Ipv6Addr>,
    /// Long form: the networks it is attached to, in order (interfaces `eth0`, `eth1`, ... unless
    /// named). The default route goes via the first of them that has a gateway, unless
    /// `default_route` names another.
    #[serde(
        default,
        deserialize_with = "unique",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    pub networks: IndexMap<String, ContainerNetwork>,
    /// The network whose gateway carries the container's one default route. Default (or
    /// `true`): the first of its networks that has a gateway (bridged VXLAN has none). `false`:
    /// no default route of either family (an existing namespace that routes elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route: Option<DefaultRoute>,
    /// Published ports, `HOST:CONTAINER[/tcp|/udp]` (default tcp), e.g. `8080:80/tcp`: traffic
    /// to the host's underlay address on HOST is forwarded to the container's address on its
    /// first `driver: bridge` network, port CONTAINER (Docker's `-p`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// An existing network namespace to wire instead of one netplan-rs creates (pipework's use
    /// case): exactly one of `pid`, `path` or `docker`. netplan-rs puts its interfaces there but
    /// never creates or deletes the namespace itself. Default: a namespace named after the
    /// container, created and owned by netplan-rs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<ExternalNetns>,
    /// Keep IPv6 (the kernel's link-local address, duplicate address detection, router
    /// solicitations) on its interfaces to networks without IPv6. Default false: IPv6 is turned
    /// off on those interfaces (`net.ipv6.conf.<interface>.disable_ipv6 = 1`), as Docker does for
    /// IPv4-only networks since 26.0. Interfaces to networks with IPv6 always keep it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6_link_local: bool,
    /// Labels (key: value) that policy selectors match, e.g. `{ role: web }`.
    #[serde(
        default,
        deserialize_with = "unique",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    pub labels: IndexMap<String, String>,
}

/// A network namespace that exists already: give exactly one of the three forms. It is looked up
/// each time a plan is made (a process may come and go).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalNetns {
    /// The namespace of this process: `/proc/<pid>/ns/net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pid: Option<u32>,
    /// An absolute path to a namespace file, e.g. `/proc/1234/ns/net`, `/run/netns/foo` or
    /// `/var/run/docker/netns/...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A Docker container name or id, resolved through the Docker Engine API (the unix socket of
    /// `DOCKER_HOST=unix://...`, else `/var/run/docker.sock`) to its process's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,
}

/// One attachment of a container in the long form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerNetwork {
    /// Its address on this network. Default: allocated in declaration order.
    #[serde(
        default,
        deserialize_with = "ipv4::opt_addr",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub address: Option<Ipv4Addr>,
    /// Its IPv6 address on this network. Default: allocated in declaration order.
    #[serde(
        default,
        deserialize_with = "ipany::opt_addr6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub address6: Option<Ipv6Addr>,
    /// Interface name inside the container. Default: `eth<N>`, N = position in `networks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// One requested attachment, normalised from either container form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSpec<'a> {
    pub network: &'a str,
    pub address: Option<Ipv4Addr>,
    pub address6: Option<Ipv6Addr>,
    /// The interface name inside the container (explicit or `eth<N>`).
    pub interface: String,
    /// YAML path of this attachment's address, for diagnostics.
    pub address_path: String,
}

impl AttachmentSpec<'_> {
    /// YAML path of this attachment's IPv6 address (`...address6`).
    pub fn address6_path(&self) -> String {
        format!("{}6", self.address_path)
    }
}

impl Container {
    /// The attachments this container asks for, in order, whichever form was used. A container
    /// using both forms yields only the long form (validation reports the conflict).
    pub fn specs(&self, name: &str) -> Vec<AttachmentSpec<'_>> {
        if !self.networks.is_empty() {
            return self
                .networks
                .iter()
                .enumerate()
                .map(|(i, (net, cn))| AttachmentSpec {
                    network: net,
                    address: cn.address,
                    address6: cn.address6,
                    interface: cn.interface.clone().unwrap_or_else(|| format!("eth{i}")),
                    address_path: format!("containers.{name}.networks.{net}.address"),
                })
                .collect();
        }
        match &self.network {
            Some(net) => vec![AttachmentSpec {
                network: net,
                address: self.address,
                address6: self.address6,
                interface: "eth0".to_string(),
                address_path: format!("containers.{name}.address"),
            }],
            None => Vec::new(),
        }
    }
}

/// The scope of a topology without `name:`.
pub const DEFAULT_SCOPE: &str = "default";
/// The longest `name:` (it is part of link aliases and the nftables table name).
pub const MAX_SCOPE_NAME: usize = 32;

impl Topology {
    /// The ownership scope: `name:`, or [`DEFAULT_SCOPE`].
    pub fn scope(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_SCOPE)
    }

    /// Every prefix the file's networks cover (both families): on a real host, routes and
    /// addresses netplan-rs marks on links it does not own (host-gw routes on the underlay) are
    /// this scope's only inside these.
    pub fn claimed_prefixes(&self) -> Vec<IpNet> {
        let mut prefixes = Vec::new();
        for network in self.networks.values() {
            prefixes.extend(network.subnet4().map(IpNet::V4));
            prefixes.extend(network.subnet6().map(IpNet::V6));
        }
        prefixes
    }
}

impl Network {
    /// The `subnet` key as written (either family).
    pub fn subnet(&self) -> IpNet {
        match self {
            Network::Vxlan(v) => v.subnet,
            Network::Bridge(b) => b.subnet,
            Network::HostGw(h) => IpNet::V4(h.subnet),
            Network::Macvlan(m) => IpNet::V4(m.subnet),
            Network::Routed(r) => r.subnet,
        }
    }

    /// The network's IPv4 subnet, if it carries IPv4.
    pub fn subnet4(&self) -> Option<Ipv4Net> {
        match self {
            Network::Vxlan(v) => v.subnet4(),
            Network::Bridge(b) => b.subnet4(),
            Network::HostGw(h) => Some(h.subnet),
            Network::Macvlan(m) => Some(m.subnet),
            Network::Routed(r) => r.subnet4(),
        }
    }

    /// The network's IPv6 prefix, if it carries IPv6 (`subnet6`, or an IPv6 `subnet`).
    pub fn subnet6(&self) -> Option<Ipv6Net> {
        match self {
            Network::Vxlan(v) => v.v6(),
            Network::Bridge(b) => b.v6(),
            Network::Routed(r) => r.v6(),
            // host-gw and macvlan are IPv4-only.
            Network::HostGw(_) | Network::Macvlan(_) => None,
        }
    }
}

fn v4_of(subnet: IpNet) -> Option<Ipv4Net> {
    match subnet {
        IpNet::V4(v4) => Some(v4),
        IpNet::V6(_) => None,
    }
}

fn v6_of(subnet: IpNet, subnet6: Option<Ipv6Net>) -> Option<Ipv6Net> {
    match subnet {
        IpNet::V6(v6) => Some(v6),
        IpNet::V4(_) => subnet6,
    }
}

impl VxlanNetwork {
    pub fn host_prefix(&self) -> u8 {
        self.host_prefix.unwrap_or(DEFAULT_HOST_PREFIX)
    }

    pub fn host_prefix6(&self) -> u8 {
        self.host_prefix6.unwrap_or(DEFAULT_HOST_PREFIX6)
    }

    /// The IPv4 subnet, if the network carries IPv4.
    pub fn subnet4(&self) -> Option<Ipv4Net> {
        v4_of(self.subnet)
    }

    /// The IPv6 prefix, if the network carries IPv6.
    pub fn v6(&self) -> Option<Ipv6Net> {
        v6_of(self.subnet, self.subnet6)
    }
}

impl HostGwNetwork {
    pub fn host_prefix(&self) -> u8 {
        self.host_prefix.unwrap_or(DEFAULT_HOST_PREFIX)
    }
}

impl BridgeNetwork {
    /// The IPv4 subnet, if the network carries IPv4.
    pub fn subnet4(&self) -> Option<Ipv4Net> {
        v4_of(self.subnet)
    }

    /// The IPv6 prefix, if the network carries IPv6.
    pub fn v6(&self) -> Option<Ipv6Net> {
        v6_of(self.subnet, self.subnet6)
    }

    /// The IPv4 gateway: explicit, or the first address of the subnet (`None`: IPv6-only).
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        let subnet = self.subnet4()?;
        Some(
            self.gateway
                .unwrap_or_else(|| super::ipam::nth(subnet, 1).unwrap_or(subnet.addr())),
        )
    }

    /// The IPv6 gateway: explicit, or `::1` of the prefix (`None`: IPv4-only).
    pub fn gateway6(&self) -> Option<Ipv6Addr> {
        let prefix = self.v6()?;
        Some(
            self.gateway6
                .unwrap_or_else(|| super::ipam6::nth6(prefix, 1).unwrap_or(prefix.addr())),
        )
    }
}

impl Host {
    pub fn mtu(&self) -> u32 {
        self.mtu.unwrap_or(DEFAULT_UNDERLAY_MTU)
    }
}
