//! Decoding of dumped netlink messages into plain records. Total: a malformed or surprising
//! message yields `None` or a default, never a panic.

use crate::state::Mac;
use ipnet::IpNet;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, InfoData, InfoKind, InfoMacVlan, InfoVlan, InfoVxlan, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The link attributes netplan-rs looks at.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawLink {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND; `None` for devices without one (physical NICs, `lo`).
    pub kind: Option<String>,
    pub vxlan: Vec<InfoVxlan>,
    pub macvlan: Vec<InfoMacVlan>,
    pub vlan: Vec<InfoVlan>,
    /// For a macvlan whose parent is in another namespace: that parent, when observe could
    /// identify the namespace (see `observe_nsid.rs`).
    pub foreign_parent: Option<crate::state::LinkRef>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    pub master: Option<u32>,
    pub up: bool,
    pub alias: Option<String>,
    /// IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace).
    pub link: Option<u32>,
    /// IFLA_LINK_NETNSID: present when IFLA_LINK refers to another namespace.
    pub link_netnsid: Option<i32>,
    /// IPv6 on the device (its `disable_ipv6` inverted); `None` without IPv6 on the device.
    pub ipv6: Option<bool>,
}

pub(crate) fn link(msg: &LinkMessage) -> Option<RawLink> {
    let mut raw = RawLink {
        index: msg.header.index,
        up: msg.header.flags.contains(LinkFlags::Up),
        ..RawLink::default()
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => raw.name = name.clone(),
            LinkAttribute::Address(bytes) => raw.mac = Mac::from_slice(bytes),
            LinkAttribute::Mtu(mtu) => raw.mtu = Some(*mtu),
            LinkAttribute::Controller(index) if *index != 0 => raw.master = Some(*index),
            LinkAttribute::IfAlias(alias) => raw.alias = Some(alias.clone()),
            LinkAttribute::Link(index) if *index != 0 => raw.link = Some(*index),
            LinkAttribute::LinkNetNsId(id) => raw.link_netnsid = Some(*id),
            LinkAttribute::AfSpecUnspec(families) => raw.ipv6 = ipv6_enabled(families),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => raw.kind = Some(kind_name(kind)),
                        LinkInfo::Data(InfoData::Vxlan(data)) => raw.vxlan = data.clone(),
                        LinkInfo::Data(InfoData::MacVlan(data)) => raw.macvlan = data.clone(),
                        LinkInfo::Data(InfoData::Vlan(data)) => raw.vlan = data.clone(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if raw.name.is_empty() { None } else { Some(raw) }
}

/// Whether IPv6 is on, from IFLA_AF_SPEC's AF_INET6 device configuration.
fn ipv6_enabled(families: &[AfSpecUnspec]) -> Option<bool> {
    families.iter().find_map(|family| match family {
        AfSpecUnspec::Inet6(attrs) => attrs.iter().find_map(|attr| match attr {
            AfSpecInet6::DevConf(conf) => Some(conf.disable_ipv6 == 0),
            _ => None,
        }),
        _ => None,
    })
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        InfoKind::Vxlan => "vxlan".into(),
        InfoKind::MacVlan => "macvlan".into(),
        InfoKind::Vlan => "vlan".into(),
        other => other.to_string(),
    }
}

pub(crate) struct RawAddress {
    pub index: u32,
    pub cidr: IpNet,
    pub proto: Option<u8>,
}

pub(crate) fn address(msg: &AddressMessage) -> Option<RawAddress> {
    let mut local = None;
    let mut address = None;
    let mut proto = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Protocol(p) => proto = Some(u8::from(*p)),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
    let ip = local.or(address)?;
    let cidr = IpNet::new(ip, msg.header.prefix_len).ok()?;
    Some(RawAddress {
        index: msg.header.index,
        cidr,
        proto,
    })
}

pub(crate) struct RawRoute {
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub onlink: bool,
    pub proto: u8,
    pub table: u32,
    pub unicast: bool,
}

fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(crate) fn route(msg: &RouteMessage) -> Option<RawRoute> {
    let header = &msg.header;
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    // RTA_TABLE wins over the 8-bit header field (tables above 255 only fit there).
    let mut table = u32::from(header.table);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_ip(a),
            RouteAttribute::Gateway(a) => gateway = route_ip(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    let dst = match (dst, header.address_family) {
        (Some(ip), _) => ip,
        (None, AddressFamily::Inet) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AddressFamily::Inet6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (None, _) => return None,
    };
    Some(RawRoute {
        dst: IpNet::new(dst, header.destination_prefix_length).ok()?,
        gateway,
        oif,
        onlink: header.flags.contains(RouteFlags::Onlink),
        proto: u8::from(header.protocol),
        table,
        unicast: header.kind == RouteType::Unicast,
    })
}

/// The main routing table's id.
pub(crate) const MAIN_TABLE: u32 = RouteHeader::RT_TABLE_MAIN as u32;

pub(crate) struct RawNeighbour {
    pub index: u32,
    pub ip: Option<IpAddr>,
    pub mac: Option<Mac>,
    pub permanent: bool,
    pub self_flag: bool,
}

/// Decode a neighbour address by length: FDB dumps (AF_BRIDGE) deliver NDA_DST as raw bytes.
fn neighbour_ip(addr: &NeighbourAddress) -> Option<IpAddr> {
    match addr {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        NeighbourAddress::Other(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(bytes.as_slice())
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            16 => <[u8; 16]>::try_from(bytes.as_slice())
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn neighbour(msg: &NeighbourMessage) -> RawNeighbour {
    let mut ip = None;
    let mut mac = None;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::Destination(a) => ip = neighbour_ip(a),
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = Mac::from_slice(bytes),
            _ => {}
        }
    }
    RawNeighbour {
        index: msg.header.ifindex,
        ip,
        mac,
        permanent: msg.header.state == NeighbourState::Permanent,
        self_flag: msg.header.flags.contains(NeighbourFlags::Own),
    }
}
