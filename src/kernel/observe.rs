//! observe: dump the live kernel objects of every namespace of a target into a [`State`].
//!
//! One dump per object kind per namespace, the namespaces read a few at a time on threads of
//! their own (`snapshot.rs`); no per-object requests. Kernel-made objects are skipped: `lo` and
//! its addresses, IPv6 link-local addresses without our mark, routes made by the kernel
//! (protocol 2) or outside the main table, non-permanent neighbours, and FDB entries that are
//! not `self` remote (NDA_DST) entries on a device.

use super::blocking::RouteSocket;
use super::conn::{Conn, Limits};
use super::observe_links::{convert_link, index_names, pair_veths};
use super::parse::{self, MAIN_TABLE, RawLink};
use super::{Kernel, KernelError, Target, netns, sysctl};
use crate::state::{
    Address, Fdb, Namespace, Neighbour, Ns, Object, Route, State, Sysctl, ownership,
};
use ipnet::IpNet;
use rtnetlink::packet_route::address::AddressMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use rtnetlink::packet_route::neighbour::NeighbourMessage;
use rtnetlink::packet_route::route::{RouteHeader, RouteMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::HashMap;
use std::fs::File;
use std::net::IpAddr;

/// Route protocol the kernel uses for routes it makes itself (connected, link-local).
const RTPROT_KERNEL: u8 = 2;
/// The sysctls netplan-rs manages on hosts.
const IP_FORWARD: &str = "net.ipv4.ip_forward";
/// IPv6 forwarding (dual-stack routed networks). Absent when IPv6 is disabled in the kernel.
const IP6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

/// Everything dumped from one namespace, before links are converted (veth pairing needs all
/// namespaces first).
pub(super) struct Dumped {
    pub(super) ns: Ns,
    pub(super) links: Vec<RawLink>,
    /// Non-link objects, already converted.
    objects: Vec<Object>,
    /// The id this namespace gives the host namespace, when a foreign macvlan needs it.
    pub(super) host_nsid: Option<i32>,
}

pub(super) async fn observe(kernel: &mut Kernel) -> Result<State, KernelError> {
    let mut state = State::default();

    let names = netns::list().map_err(|source| KernelError::Namespace {
        op: "listing",
        ns: netns::NETNS_DIR.to_string(),
        source,
    })?;
    let mut spaces = vec![Ns::Host];
    for name in &names {
        let Some(logical) = name.strip_prefix(kernel.target.container_prefix.as_str()) else {
            continue;
        };
        if logical.is_empty() || kernel.target.host_netns.as_deref() == Some(name.as_str()) {
            continue;
        }
        spaces.push(Ns::Container(logical.to_string()));
    }
    // Existing namespaces the target wires (not under /run/netns with our prefix). One that is
    // also listed above (a /run/netns path) is the same logical namespace, observed once.
    for name in kernel.target.external.keys() {
        let ns = Ns::Container(name.clone());
        if !spaces.contains(&ns) {
            spaces.push(ns);
        }
    }

    // Every namespace is read on the snapshot's own threads (see `snapshot.rs`), beside the
    // host's sysctls.
    let target = std::sync::Arc::new(kernel.target.clone());
    let host_file = target
        .netns_file(&Ns::Host)
        .map_err(|source| KernelError::Namespace {
            op: "opening",
            ns: target.label(&Ns::Host),
            source,
        })?;
    let paths = spaces.iter().map(|ns| target.netns_path(ns)).collect();
    let reading = {
        let (target, spaces) = (target.clone(), spaces.clone());
        super::snapshot::read_each(paths, Limits::from_env().timeout, move |i, sock| {
            read_ns(&target, sock, &spaces[i], &host_file)
        })
    };
    let forward = sysctl::read(target.netns_path(&Ns::Host), IP_FORWARD);
    let forward6 = sysctl::read(target.netns_path(&Ns::Host), IP6_FORWARD);
    let (forward, forward6, reads) = tokio::join!(forward, forward6, reading);
    let reads = reads.map_err(|source| KernelError::Namespace {
        op: "reading",
        ns: target.label(&Ns::Host),
        source,
    })?;

    let mut dumps = Vec::new();
    for (ns, read) in spaces.into_iter().zip(reads) {
        match read {
            Ok(read) => dumps.push(read),
            // A /run/netns entry of ours to list, not one the target names (the host, an
            // existing namespace a container needs): skipped, never fatal.
            Err(source) if ns != Ns::Host && target.external_path(&ns).is_none() => {
                if let Some(namespace) = unreadable_namespace(kernel, &ns, &source) {
                    state.insert(namespace);
                }
            }
            Err(source) => {
                return Err(KernelError::Namespace {
                    op: "opening",
                    ns: target.label(&ns),
                    source,
                });
            }
        }
    }

    let forward = forward.map_err(|source| KernelError::Namespace {
        op: "reading net.ipv4.ip_forward in",
        ns: target.label(&Ns::Host),
        source,
    })?;
    state.insert(Sysctl {
        ns: Ns::Host,
        key: IP_FORWARD.to_string(),
        value: forward,
    });
    match forward6 {
        Ok(value) => state.insert(Sysctl {
            ns: Ns::Host,
            key: IP6_FORWARD.to_string(),
            value,
        }),
        // No IPv6 in this kernel: nothing to observe (an IPv6 plan then fails when it sets it).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(KernelError::Namespace {
                op: "reading net.ipv6.conf.all.forwarding in",
                ns: target.label(&Ns::Host),
                source,
            });
        }
    }

    let mut dumped = Vec::new();
    for result in dumps {
        let (namespace, space) = result?;
        if let Some(namespace) = namespace {
            state.insert(namespace);
        }
        dumped.extend(space);
    }

    super::observe_nsid::resolve_foreign_parents(&mut dumped);
    let peers = pair_veths(&dumped);
    for (i, space) in dumped.into_iter().enumerate() {
        let names = index_names(&space.links);
        for raw in &space.links {
            if raw.name == "lo" {
                continue;
            }
            let peer = peers.get(&(i, raw.index)).cloned();
            state.insert(convert_link(&target, &space.ns, raw, &names, peer));
        }
        for object in space.objects {
            state.insert(object);
        }
    }
    super::nft::observe(kernel, &mut state).await?;
    Ok(state)
}

/// A /run/netns entry that could not be opened. Deleted between listing and opening: it no
/// longer exists. A leftover of a run of ours that was killed while creating it (named in its
/// journal): absent, apply removes it. Anything else (another tool creating a namespace at this
/// moment, a stale file): a warning, and an unowned namespace, so that it is never deleted and a
/// wanted one with that name is a conflict.
fn unreadable_namespace(
    kernel: &mut Kernel,
    ns: &Ns,
    source: &std::io::Error,
) -> Option<Namespace> {
    let Ns::Container(name) = ns else {
        return None;
    };
    if source.kind() == std::io::ErrorKind::NotFound {
        return None;
    }
    let key = crate::state::ObjectKey::Namespace { name: name.clone() };
    if kernel.target.adopt.contains(&key) {
        return None;
    }
    let label = kernel.target.label(ns);
    kernel
        .warnings
        .push(format!("cannot open {label} ({source}); not reading it"));
    Some(Namespace {
        name: name.clone(),
        owned: false,
        ipv6_default: None,
    })
}

/// One namespace, on a snapshot thread inside it: its links, then (for the host and for
/// container namespaces carrying our mark) everything else. A container namespace also yields
/// its `Namespace` object. `host_file` is the target's host namespace (the thread is not in it).
fn read_ns(
    target: &Target,
    sock: &mut RouteSocket,
    ns: &Ns,
    host_file: &File,
) -> Result<(Option<Namespace>, Option<Dumped>), KernelError> {
    let _span = tracing::info_span!("dump", ns = %target.label(ns)).entered();
    let links = read_links(sock).map_err(|e| dump_error(target, ns, "links", e))?;
    // The host, and existing namespaces we wire: no Namespace object (an external one is not
    // ours to create or delete); everything in them is read, and ownership is per object.
    let Some(name) = (match ns {
        Ns::Container(name) if target.external_path(ns).is_none() => Some(name),
        _ => None,
    }) else {
        if target.external_path(ns).is_some() {
            super::external_check::not_managed(target, ns, &links)?;
        }
        return Ok((None, Some(read_rest(target, sock, ns.clone(), links)?)));
    };
    let mark = target.marks.netns_mark.as_str();
    let adopted = target
        .adopt
        .contains(&crate::state::ObjectKey::Namespace { name: name.clone() });
    let owned = links.iter().any(|l| {
        l.name == "lo" && (l.alias.as_deref() == Some(mark) || (adopted && l.alias.is_none()))
    });
    let namespace = Namespace {
        name: name.clone(),
        owned,
        ipv6_default: None,
    };
    // Never look inside a namespace we did not create: it is someone else's container.
    if !owned {
        return Ok((Some(namespace), None));
    }
    // Only a macvlan whose parent is elsewhere needs the host's namespace id.
    let host_nsid = match super::observe_nsid::has_foreign_macvlan(&links) {
        true => super::observe_nsid::host_nsid(sock, host_file),
        false => None,
    };
    let mut space = read_rest(target, sock, ns.clone(), links)?;
    space.host_nsid = host_nsid;
    Ok((Some(namespace), Some(space)))
}

fn dump_error(target: &Target, ns: &Ns, what: &str, source: std::io::Error) -> KernelError {
    KernelError::from_io("dumping", what.to_string(), target.label(ns), source)
}

pub(super) async fn dump_links(
    target: &Target,
    conn: &Conn,
    ns: &Ns,
) -> Result<Vec<RawLink>, KernelError> {
    let messages = conn.dump(link_dump_request()).await;
    let messages = messages.map_err(|e| dump_error(target, ns, "links", e))?;
    Ok(parse_links(&messages))
}

/// A link dump without the statistics (never looked at).
pub(super) fn link_dump_request() -> RouteNetlinkMessage {
    let mut request = LinkMessage::default();
    request
        .attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    RouteNetlinkMessage::GetLink(request)
}

/// A dump of the main routing table of one family (the filter needs strict checking, see
/// `blocking.rs`; without it the other tables come too and are skipped when converting).
fn main_routes(family: AddressFamily) -> RouteNetlinkMessage {
    let mut request = RouteMessage::default();
    request.header.address_family = family;
    request.header.table = RouteHeader::RT_TABLE_MAIN;
    RouteNetlinkMessage::GetRoute(request)
}

/// The links of the namespace `sock` is in, parsed as they are read.
pub(super) fn read_links(sock: &mut RouteSocket) -> std::io::Result<Vec<RawLink>> {
    let mut links = Vec::new();
    sock.dump_each(link_dump_request(), |m| {
        if let RouteNetlinkMessage::NewLink(link) = &m {
            links.extend(parse::link(link));
        }
    })?;
    Ok(links)
}

pub(super) fn parse_links(messages: &[RouteNetlinkMessage]) -> Vec<RawLink> {
    messages
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => parse::link(link),
            _ => None,
        })
        .collect()
}

/// Dump addresses, routes, neighbours and FDB entries of one namespace and convert them with
/// the namespace's links. FDB entries are only kept for VXLAN devices (the only ones with a
/// remote, NDA_DST), so a namespace without one skips that dump.
fn read_rest(
    target: &Target,
    sock: &mut RouteSocket,
    ns: Ns,
    links: Vec<RawLink>,
) -> Result<Dumped, KernelError> {
    let convert = Convert::new(target, &ns, &links);
    let mut objects = Vec::new();
    // Each reply is converted as it arrives: a host with a thousand neighbours or routes never
    // holds them all as netlink messages.
    sock.dump_each(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        |m| objects.extend(convert.address(&m)),
    )
    .map_err(|e| dump_error(target, &ns, "addresses", e))?;
    // Per family and main table only: the kernel then skips the local table (several routes
    // per address) and, on recent kernels, dumps without taking RTNL, which AF_UNSPEC takes.
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        match sock.dump_each(main_routes(family), |m| objects.extend(convert.route(&m))) {
            Ok(()) => {}
            // The kernel makes a family's main table with its first route: none yet.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(dump_error(target, &ns, "routes", e)),
        }
    }
    // AF_UNSPEC walks the ARP and NDP tables (IPv4 and IPv6 neighbours).
    sock.dump_each(
        RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
        |m| objects.extend(convert.neighbour(&m)),
    )
    .map_err(|e| dump_error(target, &ns, "neighbours", e))?;
    // The bridge FDB is only dumped for AF_BRIDGE, as its own request.
    if links.iter().any(|l| l.kind.as_deref() == Some("vxlan")) {
        let mut fdb = NeighbourMessage::default();
        fdb.header.family = AddressFamily::Bridge;
        sock.dump_each(RouteNetlinkMessage::GetNeighbour(fdb), |m| {
            objects.extend(convert.fdb(&m))
        })
        .map_err(|e| dump_error(target, &ns, "fdb entries", e))?;
    }
    Ok(Dumped {
        ns,
        links,
        objects,
        host_nsid: None,
    })
}

/// Turns the dumped addresses, routes, neighbours and FDB entries of one namespace into
/// objects, with the namespace's links to name devices and tell ownership.
struct Convert<'a> {
    target: &'a Target,
    ns: &'a Ns,
    names: HashMap<u32, String>,
    owners: HashMap<u32, Owner>,
}

impl<'a> Convert<'a> {
    fn new(target: &'a Target, ns: &'a Ns, links: &[RawLink]) -> Convert<'a> {
        Convert {
            target,
            ns,
            names: index_names(links),
            owners: links
                .iter()
                .map(|l| (l.index, Owner::of(target, ns, l)))
                .collect(),
        }
    }

    fn owned_link(&self, index: u32) -> bool {
        self.owners.get(&index) == Some(&Owner::Us)
    }

    /// An address or route with our protocol mark is ours unless it sits on another owner's
    /// link, or, on a host link nobody owns (the underlay), lies outside the prefixes this
    /// run's topology covers (another scope's host-gw route).
    fn marked_ours(&self, index: u32, prefix: IpNet) -> bool {
        match self.owners.get(&index) {
            Some(Owner::Us) => true,
            Some(Owner::Other) => false,
            _ if *self.ns != Ns::Host => true,
            _ => self
                .target
                .claimed
                .as_ref()
                .is_none_or(|claimed| claimed.iter().any(|c| c.contains(&prefix))),
        }
    }

    fn address(&self, msg: &RouteNetlinkMessage) -> Option<Object> {
        let RouteNetlinkMessage::NewAddress(msg) = msg else {
            return None;
        };
        let raw = parse::address(msg)?;
        let link = self.names.get(&raw.index)?;
        let proto = self.target.marks.proto;
        // The kernel's own link-local addresses are skipped; one carrying our mark (the
        // gateway fe80::1 on a routed network's host end) is ours like any other.
        if link == "lo" || (is_link_local(raw.cidr.addr()) && raw.proto != Some(proto)) {
            return None;
        }
        Some(Object::Address(Address {
            ns: self.ns.clone(),
            link: link.clone(),
            cidr: raw.cidr,
            owned: raw.proto == Some(proto) && self.marked_ours(raw.index, raw.cidr),
        }))
    }

    fn route(&self, msg: &RouteNetlinkMessage) -> Option<Object> {
        let RouteNetlinkMessage::NewRoute(msg) = msg else {
            return None;
        };
        let raw = parse::route(msg)?;
        if raw.table != MAIN_TABLE || raw.proto == RTPROT_KERNEL || !raw.unicast {
            return None;
        }
        // Multipath routes have no single RTA_OIF; netplan-rs never makes them, so they are
        // left out rather than misreported.
        let dev = raw.oif.and_then(|i| self.names.get(&i))?;
        let proto = self.target.marks.proto;
        Some(Object::Route(Route {
            ns: self.ns.clone(),
            dst: raw.dst,
            gateway: raw.gateway,
            dev: dev.clone(),
            onlink: raw.onlink,
            owned: raw.proto == proto && raw.oif.is_some_and(|i| self.marked_ours(i, raw.dst)),
        }))
    }

    fn neighbour(&self, msg: &RouteNetlinkMessage) -> Option<Object> {
        let RouteNetlinkMessage::NewNeighbour(msg) = msg else {
            return None;
        };
        let raw = parse::neighbour(msg);
        let (Some(ip), Some(mac), Some(link)) = (raw.ip, raw.mac, self.names.get(&raw.index))
        else {
            return None;
        };
        if !raw.permanent {
            return None;
        }
        Some(Object::Neighbour(Neighbour {
            ns: self.ns.clone(),
            link: link.clone(),
            ip,
            mac,
            owned: self.owned_link(raw.index),
        }))
    }

    fn fdb(&self, msg: &RouteNetlinkMessage) -> Option<Object> {
        let RouteNetlinkMessage::NewNeighbour(msg) = msg else {
            return None;
        };
        let raw = parse::neighbour(msg);
        let (Some(dst), Some(mac), Some(link)) = (raw.ip, raw.mac, self.names.get(&raw.index))
        else {
            return None;
        };
        if !raw.self_flag || !raw.permanent {
            return None;
        }
        Some(Object::Fdb(Fdb {
            ns: self.ns.clone(),
            link: link.clone(),
            mac,
            dst,
            owned: self.owned_link(raw.index),
        }))
    }
}

/// Who owns a link, by its alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// Our mark, or adopted from an interrupted run of ours (see `Target::adopt`).
    Us,
    /// Another netplan-rs owner's mark (another scope, another lab): foreign.
    Other,
    /// No netplan-rs mark at all.
    Nobody,
}

impl Owner {
    pub(super) fn of(target: &Target, ns: &Ns, link: &RawLink) -> Owner {
        match link.alias.as_deref() {
            Some(alias) if alias == target.marks.link_alias => Owner::Us,
            Some(alias) if ownership::is_owner_mark(alias) => Owner::Other,
            None if target.adopt.contains(&crate::state::ObjectKey::Link {
                ns: ns.clone(),
                name: link.name.clone(),
            }) =>
            {
                Owner::Us
            }
            _ => Owner::Nobody,
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}
