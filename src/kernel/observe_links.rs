//! Links of an observation: conversion of dumped links into [`Link`] objects, including vxlan
//! parameters and the pairing of veth ends across the observed namespaces.

use super::Target;
use super::observe::Dumped;
use super::parse::RawLink;
use crate::state::{Link, LinkKind, Ns, VethPeer, Vxlan};
use rtnetlink::packet_route::link::InfoVxlan;
use std::collections::HashMap;
use std::net::IpAddr;

pub(super) fn index_names(links: &[RawLink]) -> HashMap<u32, String> {
    links.iter().map(|l| (l.index, l.name.clone())).collect()
}

/// Pair veth ends: A and B are peers when each one's IFLA_LINK is the other's ifindex and they
/// sit in different namespaces exactly when IFLA_LINK_NETNSID is present. Ifindexes repeat across
/// namespaces, so a match is only trusted when it is the only candidate.
pub(super) fn pair_veths(spaces: &[Dumped]) -> HashMap<(usize, u32), VethPeer> {
    let veths: Vec<(usize, &RawLink)> = spaces
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.links.iter().map(move |l| (i, l)))
        .filter(|(_, l)| l.kind.as_deref() == Some("veth"))
        .collect();
    let mut peers = HashMap::new();
    for &(i, a) in &veths {
        let Some(a_link) = a.link else { continue };
        let candidates: Vec<&(usize, &RawLink)> = veths
            .iter()
            .filter(|(j, b)| {
                let other_ns = a.link_netnsid.is_some();
                (*j != i) == other_ns
                    && b.link_netnsid.is_some() == other_ns
                    && b.index == a_link
                    && b.link == Some(a.index)
                    && !(*j == i && b.index == a.index)
                    // Ifindexes repeat across namespaces, and the peer's namespace may not be
                    // among those observed: a veth of a simulated host whose peer is in a
                    // container would match the host's underlay end by index alone. Both ends
                    // of a pair netplan-rs made carry the same mark, so two different marks
                    // are never a pair.
                    && !matches!((&a.alias, &b.alias), (Some(x), Some(y)) if x != y)
            })
            .collect();
        if let [(j, b)] = candidates.as_slice() {
            peers.insert(
                (i, a.index),
                VethPeer {
                    ns: spaces[*j].ns.clone(),
                    name: b.name.clone(),
                },
            );
        }
    }
    peers
}

pub(super) fn convert_link(
    target: &Target,
    ns: &Ns,
    raw: &RawLink,
    names: &HashMap<u32, String>,
    peer: Option<VethPeer>,
) -> Link {
    let kind = match raw.kind.as_deref() {
        Some("bridge") => LinkKind::Bridge,
        Some("veth") => LinkKind::Veth { peer },
        Some("vxlan") => LinkKind::Vxlan(convert_vxlan(&raw.vxlan, names)),
        Some("macvlan") => LinkKind::Macvlan(super::observe_nsid::convert_macvlan(ns, raw, names)),
        Some("vlan") => LinkKind::Vlan(super::observe_nsid::convert_vlan(raw, names)),
        Some(other) => LinkKind::Other {
            name: other.to_string(),
        },
        // Devices without IFLA_INFO_KIND are physical NICs (or similar): not ours to model.
        None => LinkKind::Other {
            name: "device".to_string(),
        },
    };
    Link {
        ns: ns.clone(),
        name: raw.name.clone(),
        kind,
        mac: raw.mac,
        mtu: raw.mtu,
        master: raw.master.and_then(|i| names.get(&i).cloned()),
        up: raw.up,
        ipv6: raw.ipv6,
        owned: super::observe::Owner::of(target, ns, raw) == super::observe::Owner::Us,
    }
}

fn convert_vxlan(data: &[InfoVxlan], names: &HashMap<u32, String>) -> Vxlan {
    // Defaults are the kernel's, used only if an attribute is missing from the dump.
    let mut vxlan = Vxlan {
        vni: 0,
        local: None,
        dev: None,
        port: 4789,
        learning: true,
        proxy: false,
    };
    for info in data {
        match info {
            InfoVxlan::Id(id) => vxlan.vni = *id,
            InfoVxlan::Local(ip) if !ip.is_unspecified() => vxlan.local = Some(IpAddr::V4(*ip)),
            InfoVxlan::Local6(ip) if !ip.is_unspecified() => vxlan.local = Some(IpAddr::V6(*ip)),
            InfoVxlan::Link(index) => vxlan.dev = names.get(index).cloned(),
            InfoVxlan::Port(port) => vxlan.port = *port,
            InfoVxlan::Learning(b) => vxlan.learning = *b,
            InfoVxlan::Proxy(b) => vxlan.proxy = *b,
            _ => {}
        }
    }
    vxlan
}
