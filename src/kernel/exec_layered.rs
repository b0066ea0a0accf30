//! Creating links layered on a parent: macvlan children and 802.1Q VLAN sub-interfaces.
//!
//! A macvlan child that belongs in a container namespace is created by ONE RTM_NEWLINK sent on
//! the socket of its parent's namespace, carrying IFLA_LINK = the parent's ifindex (resolved in
//! the sending namespace) and IFLA_NET_NS_FD = the container namespace, with its final name, MAC
//! and MTU: the kernel registers it directly in the container namespace (`ip link add link eth0
//! name eth0 netns C type macvlan`). It never exists in the host namespace, so a host interface
//! with the same name (the container's `eth0` next to the host's underlay `eth0`) cannot clash.
//! netavark reaches the same with a temporary name and a move; one request needs no cleanup.

use super::exec_link::invalid;
use super::execute::ifindex;
use super::{Kernel, KernelError};
use crate::state::{Link, LinkKind, Ns};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVlan, LinkAttribute, LinkInfo, LinkMessage, MacVlanMode,
};
use std::fs::File;
use std::os::fd::AsRawFd;

/// What `exec_link::create` needs to send a layered link's RTM_NEWLINK.
pub(super) struct Layered {
    /// IFLA_LINKINFO content.
    pub info: Vec<LinkInfo>,
    /// The namespace whose socket sends the request.
    pub send_ns: Ns,
    /// The target namespace, open until the request is answered (IFLA_NET_NS_FD refers to it).
    pub ns_file: Option<File>,
}

/// The state mode names of the kernel's macvlan modes (the names `ip -d link` prints).
const MODES: [(&str, MacVlanMode); 5] = [
    ("private", MacVlanMode::Private),
    ("vepa", MacVlanMode::Vepa),
    ("bridge", MacVlanMode::Bridge),
    ("passthru", MacVlanMode::Passthrough),
    ("source", MacVlanMode::Source),
];

/// The kernel's macvlan mode for a state mode name.
pub(super) fn mode_from_name(name: &str) -> Option<MacVlanMode> {
    MODES.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// The state mode name of a kernel macvlan mode.
pub(super) fn mode_name(mode: &MacVlanMode) -> String {
    match MODES.iter().find(|(_, m)| m == mode) {
        Some((name, _)) => name.to_string(),
        None => match mode {
            MacVlanMode::Other(n) => format!("mode-{n}"),
            _ => "unknown".into(),
        },
    }
}

/// Add IFLA_LINK to `msg` and return the link info, the sending namespace and the target
/// namespace's file for a macvlan or VLAN `link`.
pub(super) async fn prepare(
    kernel: &Kernel,
    link: &Link,
    msg: &mut LinkMessage,
) -> Result<Layered, KernelError> {
    match &link.kind {
        LinkKind::Macvlan(m) => {
            let Some(parent) = &m.parent else {
                return Err(invalid(kernel, link, "a macvlan needs its parent".into()));
            };
            let Some(mode) = mode_from_name(&m.mode) else {
                return Err(invalid(
                    kernel,
                    link,
                    format!("unknown macvlan mode {:?}", m.mode),
                ));
            };
            let index = ifindex(kernel, &parent.ns, &parent.name).await?;
            msg.attributes.push(LinkAttribute::Link(index));
            let mut ns_file = None;
            if parent.ns != link.ns {
                let file = kernel.open_netns_file(&link.ns)?;
                msg.attributes
                    .push(LinkAttribute::NetNsFd(file.as_raw_fd()));
                ns_file = Some(file);
            }
            Ok(Layered {
                info: vec![
                    LinkInfo::Kind(InfoKind::MacVlan),
                    LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
                ],
                send_ns: parent.ns.clone(),
                ns_file,
            })
        }
        LinkKind::Vlan(v) => {
            let Some(parent) = &v.parent else {
                return Err(invalid(kernel, link, "a VLAN needs its parent".into()));
            };
            let index = ifindex(kernel, &link.ns, parent).await?;
            msg.attributes.push(LinkAttribute::Link(index));
            Ok(Layered {
                info: vec![
                    LinkInfo::Kind(InfoKind::Vlan),
                    LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(v.id)])),
                ],
                send_ns: link.ns.clone(),
                ns_file: None,
            })
        }
        other => Err(invalid(
            kernel,
            link,
            format!("{} is not a layered link", other.type_name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip() {
        for name in ["private", "vepa", "bridge", "passthru", "source"] {
            let mode = mode_from_name(name).expect(name);
            assert_eq!(mode_name(&mode), name);
        }
        assert!(mode_from_name("trunk").is_none());
        assert_eq!(mode_name(&MacVlanMode::Other(64)), "mode-64");
    }
}
