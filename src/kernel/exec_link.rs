//! Creating, updating and deleting links (bridge, vxlan, veth pairs; macvlan and VLAN through
//! `exec_layered.rs`).
//!
//! Creation is two requests: RTM_NEWLINK with everything the kernel takes at creation (kind,
//! MAC, MTU, master, and for a veth the peer born directly in its namespace), then RTM_SETLINK
//! with the ownership alias and the up flag, because the kernel ignores IFLA_IFALIAS on newlink.
//! A vxlan is always created in the namespace that keeps it: VNI+port uniqueness is checked in
//! the namespace of creation, so moving one later can collide.

use super::execute::{ifindex, nl_error, set_up, setlink_by_name};
use super::{Kernel, KernelError};
use crate::state::{Link, LinkKind, Mac, Object, ObjectKey};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

pub(super) fn key(link: &Link) -> ObjectKey {
    ObjectKey::Link {
        ns: link.ns.clone(),
        name: link.name.clone(),
    }
}

pub(super) fn invalid(kernel: &Kernel, link: &Link, message: String) -> KernelError {
    KernelError::Invalid {
        op: "creating",
        object: key(link).to_string(),
        ns: kernel.target.label(&link.ns),
        message,
    }
}

/// IFLA_ADDRESS / IFLA_MTU as the desired object sets them.
fn common_attributes(link: &Link) -> Vec<LinkAttribute> {
    let mut attrs = vec![LinkAttribute::IfName(link.name.clone())];
    if let Some(mac) = link.mac {
        attrs.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(mtu) = link.mtu {
        attrs.push(LinkAttribute::Mtu(mtu));
    }
    attrs
}

/// A veth end with one transmit and one receive queue, as Calico creates them. The kernel gives
/// a veth as many queues as the machine has possible CPUs, registers a sysfs object for each,
/// and then, when no count was asked for, takes all but one away again (`veth_init_queues`,
/// about a tenth of the kernel's samples when creating pairs on 2 CPUs; more with more CPUs).
/// Measured on 2 CPUs, the veth wave of 1000 containers: 1.18-1.41 s instead of 1.39-1.73 s (5
/// interleaved runs). One queue each way is what a veth carries traffic on by default anyway;
/// only `ethtool -L` can no longer raise it later.
fn one_queue_each_way(attributes: &mut Vec<LinkAttribute>) {
    attributes.push(LinkAttribute::NumTxQueues(1));
    attributes.push(LinkAttribute::NumRxQueues(1));
}

pub(super) async fn create(
    kernel: &Kernel,
    link: &Link,
    peer: Option<&Object>,
) -> Result<(), KernelError> {
    let mut msg = LinkMessage::default();
    msg.attributes = common_attributes(link);
    if let Some(master) = &link.master {
        let index = ifindex(kernel, &link.ns, master).await?;
        msg.attributes.push(LinkAttribute::Controller(index));
    }
    // Keeps the peer namespace's file open until the request is answered.
    let mut _peer_ns_file: Option<File> = None;
    let mut peer_link: Option<&Link> = None;
    // The namespace whose socket sends the request (a macvlan's parent's: see exec_layered).
    let mut send_ns = link.ns.clone();
    let info = match &link.kind {
        LinkKind::Bridge => vec![LinkInfo::Kind(InfoKind::Bridge)],
        LinkKind::Vxlan(v) => {
            let mut data = vec![InfoVxlan::Id(v.vni)];
            if let Some(dev) = &v.dev {
                // IFLA_VXLAN_LINK (what `.dev()` sets), not IFLA_LINK.
                data.push(InfoVxlan::Link(ifindex(kernel, &link.ns, dev).await?));
            }
            match v.local {
                Some(IpAddr::V4(ip)) => data.push(InfoVxlan::Local(ip)),
                Some(IpAddr::V6(ip)) => data.push(InfoVxlan::Local6(ip)),
                None => {}
            }
            data.push(InfoVxlan::Port(v.port));
            data.push(InfoVxlan::Learning(v.learning));
            data.push(InfoVxlan::Proxy(v.proxy));
            vec![
                LinkInfo::Kind(InfoKind::Vxlan),
                LinkInfo::Data(InfoData::Vxlan(data)),
            ]
        }
        LinkKind::Veth { .. } => {
            let Some(Object::Link(p)) = peer else {
                return Err(invalid(
                    kernel,
                    link,
                    "a veth needs its peer link in the step".into(),
                ));
            };
            let mut peer_msg = LinkMessage::default();
            peer_msg.attributes = common_attributes(p);
            one_queue_each_way(&mut msg.attributes);
            one_queue_each_way(&mut peer_msg.attributes);
            if p.ns != link.ns {
                let file = kernel.open_netns_file(&p.ns)?;
                peer_msg
                    .attributes
                    .push(LinkAttribute::NetNsFd(file.as_raw_fd()));
                _peer_ns_file = Some(file);
            }
            peer_link = Some(p);
            vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            ]
        }
        LinkKind::Macvlan(_) | LinkKind::Vlan(_) => {
            let layered = super::exec_layered::prepare(kernel, link, &mut msg).await?;
            send_ns = layered.send_ns;
            _peer_ns_file = layered.ns_file;
            layered.info
        }
        LinkKind::Other { name } => {
            return Err(invalid(
                kernel,
                link,
                format!("cannot create links of type {name}"),
            ));
        }
    };
    msg.attributes.push(LinkAttribute::LinkInfo(info));
    let result = kernel
        .conn(&send_ns)
        .await?
        .request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
        .await;
    drop(_peer_ns_file);
    result.map_err(|e| {
        nl_error(kernel, "creating", &key(link), e).name_link_type(link.kind.type_name())
    })?;
    if matches!(link.kind, LinkKind::Bridge) {
        // Before the up flag (in `mark`): the link-local address the kernel makes at carrier
        // is then never tentative, so forwarded IPv6 is not held back (see dad.rs).
        super::dad::disable(kernel, link).await;
    }

    // Before the up flag (in `mark`), so an interface that should not have IPv6 never starts it.
    let mut marked = ipv6_before_up(kernel, link).await;
    if let (Ok(()), Some(p)) = (&marked, peer_link) {
        marked = ipv6_before_up(kernel, p).await;
    }
    if marked.is_ok() {
        marked = mark(kernel, link).await;
    }
    if let (Ok(()), Some(p)) = (&marked, peer_link) {
        // The peer's master lives in the peer's namespace; newlink only applies IFLA_MASTER to
        // the main device, so the peer is enslaved here.
        marked = mark(kernel, p).await;
    }
    if marked.is_err() {
        // An unmarked link would read as someone else's and block every later plan: undo it
        // (for a veth this removes both ends).
        let _ = delete(kernel, link).await;
    }
    marked
}

/// Give a new link the IPv6 state it wants, unless it was born with it: a new interface takes
/// its namespace's default, known for the namespaces this run created (`Namespace::
/// ipv6_default`). In any other namespace the default is unknown (an older run, another
/// tool), so the wish is written.
async fn ipv6_before_up(kernel: &Kernel, link: &Link) -> Result<(), KernelError> {
    match link.ipv6 {
        Some(want) if kernel.ipv6_default(&link.ns) != Some(want) => {
            super::ipv6_switch::set(kernel, link, want).await
        }
        _ => Ok(()),
    }
}

/// Post-creation RTM_SETLINK: alias mark, the peer's master, and the up flag (last, so a port
/// comes up already enslaved).
async fn mark(kernel: &Kernel, link: &Link) -> Result<(), KernelError> {
    let mut msg = setlink_by_name(&link.name);
    msg.attributes.push(LinkAttribute::IfAlias(
        kernel.target.marks.link_alias.clone(),
    ));
    if let Some(master) = &link.master {
        let index = ifindex(kernel, &link.ns, master).await?;
        msg.attributes.push(LinkAttribute::Controller(index));
    }
    if link.up {
        set_up(&mut msg, true);
    }
    let result = kernel
        .conn(&link.ns)
        .await?
        .request(RouteNetlinkMessage::SetLink(msg), 0)
        .await;
    result.map_err(|e| nl_error(kernel, "marking", &key(link), e))
}

/// Change MTU, master, MAC and up/down in place. Only attributes that differ from `current`
/// (all of them when it is unknown) are sent, so an unchanged MAC never trips EBUSY.
pub(super) async fn update(
    kernel: &Kernel,
    link: &Link,
    current: Option<&Link>,
) -> Result<(), KernelError> {
    let differs = |f: &dyn Fn(&Link) -> bool| current.is_none_or(|c| !f(c));
    let mut msg = setlink_by_name(&link.name);
    if let Some(mtu) = link.mtu.filter(|m| differs(&|c| c.mtu == Some(*m))) {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if differs(&|c| c.master == link.master) {
        let index = match &link.master {
            Some(master) => ifindex(kernel, &link.ns, master).await?,
            // IFLA_MASTER 0 releases the port.
            None => 0,
        };
        msg.attributes.push(LinkAttribute::Controller(index));
    }
    let new_mac = link.mac.filter(|m| differs(&|c| c.mac == Some(*m)));
    if differs(&|c| c.up == link.up) || current.is_none() {
        set_up(&mut msg, link.up);
    }
    if let Some(mac) = new_mac {
        set_mac(kernel, link, mac).await?;
    }
    // Before the SETLINK, which may bring the link up. A device the kernel has no IPv6 on
    // (`ipv6: None` observed) has nothing to switch.
    let switch_ipv6 = match (link.ipv6, current) {
        (Some(want), Some(c)) => c.ipv6.is_some_and(|have| have != want),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if let (true, Some(want)) = (switch_ipv6, link.ipv6) {
        super::ipv6_switch::set(kernel, link, want).await?;
    }
    let result = kernel
        .conn(&link.ns)
        .await?
        .request(RouteNetlinkMessage::SetLink(msg), 0)
        .await;
    result.map_err(|e| nl_error(kernel, "updating", &key(link), e))
}

/// Set a MAC address; devices without live address change answer EBUSY while up, so retry
/// with the link down (the caller's SETLINK then restores the desired up state).
async fn set_mac(kernel: &Kernel, link: &Link, mac: Mac) -> Result<(), KernelError> {
    let with_mac = |down: bool| {
        let mut msg = setlink_by_name(&link.name);
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        if down {
            set_up(&mut msg, false);
        }
        RouteNetlinkMessage::SetLink(msg)
    };
    let conn = kernel.conn(&link.ns).await?;
    let mut result = conn.request(with_mac(false), 0).await;
    if result.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EBUSY) {
        result = conn.request(with_mac(true), 0).await;
    }
    result.map_err(|e| nl_error(kernel, "setting the MAC of", &key(link), e))
}

/// Delete by name (RTM_DELLINK without CREATE/EXCL). Deleting one end of a veth deletes both.
pub(super) async fn delete(kernel: &Kernel, link: &Link) -> Result<(), KernelError> {
    let msg = setlink_by_name(&link.name);
    let result = kernel
        .conn(&link.ns)
        .await?
        .request(RouteNetlinkMessage::DelLink(msg), 0)
        .await;
    match result {
        // Already gone: the other end of a veth pair was deleted first, which takes this end
        // with it. The goal of the step is reached.
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        other => other.map_err(|e| nl_error(kernel, "deleting", &key(link), e)),
    }
}
