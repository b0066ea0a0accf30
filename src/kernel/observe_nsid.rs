//! Observing macvlan and VLAN links, including a macvlan whose parent lives in another
//! namespace.
//!
//! A macvlan inside a container namespace reports IFLA_LINK = its parent's ifindex *in the
//! parent's namespace*, plus IFLA_LINK_NETNSID = the id the container namespace gives that
//! namespace. Ifindexes repeat across namespaces, so that index is never resolved against the
//! container's own links. Instead one RTM_GETNSID on the container's socket asks which id the
//! container gives the target's host namespace (NETNSA_FD = the host namespace); only when the
//! reported id equals it is the index resolved against the host's links. Anything else leaves
//! the parent unobserved (`None`, not compared), like an unpaired veth peer.

use super::blocking::RouteSocket;
use super::exec_layered::mode_name;
use super::observe::Dumped;
use super::parse::RawLink;
use crate::state::{LinkRef, Macvlan, Ns, Vlan};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{InfoMacVlan, InfoVlan};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;

/// Whether `links` hold a macvlan whose parent is in another namespace.
pub(super) fn has_foreign_macvlan(links: &[RawLink]) -> bool {
    links
        .iter()
        .any(|l| l.kind.as_deref() == Some("macvlan") && l.link_netnsid.is_some())
}

/// The id the namespace of `sock` gives the target's host namespace (`host`), if it has one.
/// Failures only mean "unknown": the parent then stays unobserved.
pub(super) fn host_nsid(sock: &mut RouteSocket, host: &File) -> Option<i32> {
    let mut msg = NsidMessage::default();
    let fd = u32::try_from(host.as_raw_fd()).ok()?;
    msg.attributes.push(NsidAttribute::Fd(fd));
    let replies = sock.get(RouteNetlinkMessage::GetNsId(msg)).ok()?;
    replies.iter().find_map(|m| match m {
        RouteNetlinkMessage::NewNsId(reply) => reply.attributes.iter().find_map(|a| match a {
            NsidAttribute::Id(id) if *id >= 0 => Some(*id),
            _ => None,
        }),
        _ => None,
    })
}

/// Fill `foreign_parent` of the container namespaces' macvlans whose IFLA_LINK_NETNSID is the
/// host namespace's id there, from the host namespace's links.
pub(super) fn resolve_foreign_parents(spaces: &mut [Dumped]) {
    let host: HashMap<u32, String> = spaces
        .iter()
        .find(|s| s.ns == Ns::Host)
        .map(|s| s.links.iter().map(|l| (l.index, l.name.clone())).collect())
        .unwrap_or_default();
    for space in spaces.iter_mut() {
        let Some(host_id) = space.host_nsid else {
            continue;
        };
        for raw in &mut space.links {
            if raw.kind.as_deref() != Some("macvlan") || raw.link_netnsid != Some(host_id) {
                continue;
            }
            raw.foreign_parent = raw.link.and_then(|i| host.get(&i)).map(|name| LinkRef {
                ns: Ns::Host,
                name: name.clone(),
            });
        }
    }
}

pub(super) fn convert_macvlan(ns: &Ns, raw: &RawLink, names: &HashMap<u32, String>) -> Macvlan {
    let mode = raw
        .macvlan
        .iter()
        .find_map(|i| match i {
            InfoMacVlan::Mode(m) => Some(mode_name(m)),
            _ => None,
        })
        // The kernel's default when IFLA_MACVLAN_MODE is absent.
        .unwrap_or_else(|| "vepa".to_string());
    let parent = if raw.link_netnsid.is_some() {
        raw.foreign_parent.clone()
    } else {
        raw.link.and_then(|i| names.get(&i)).map(|name| LinkRef {
            ns: ns.clone(),
            name: name.clone(),
        })
    };
    Macvlan { mode, parent }
}

pub(super) fn convert_vlan(raw: &RawLink, names: &HashMap<u32, String>) -> Vlan {
    let id = raw
        .vlan
        .iter()
        .find_map(|i| match i {
            InfoVlan::Id(id) => Some(*id),
            _ => None,
        })
        .unwrap_or(0);
    // A parent in another namespace cannot be named from this one's links.
    let parent = match raw.link_netnsid {
        Some(_) => None,
        None => raw.link.and_then(|i| names.get(&i)).cloned(),
    };
    Vlan { id, parent }
}
