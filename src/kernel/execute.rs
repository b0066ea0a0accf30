//! execute: carry out one plan [`Step`]. This file dispatches by action and object kind and holds
//! what the object kinds share (name -> ifindex lookup, error context); links are in
//! `exec_link.rs`, addresses/routes/neighbours/FDB in `exec_entries.rs`.

use super::blocking::RouteSocket;
use super::exec_entries::Change;
use super::{Kernel, KernelError, exec_entries, exec_link, netns, nft, sysctl};
use crate::plan::Step;
use crate::state::{LinkKind, Namespace, Ns, Object, ObjectKey, Sysctl};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkExtentMask, LinkFlags, LinkMessage};
use std::io;
use std::time::Duration;

pub(super) async fn execute(kernel: &Kernel, step: &Step) -> Result<(), KernelError> {
    // An nftables step is a transaction of one, on the same path as a run of them (see
    // `nft/batch.rs`: a replace is one transaction, a delete of something gone is done).
    if step.object().key().is_nft() {
        let result = nft::execute_batch(kernel, std::slice::from_ref(step)).await;
        return result.map_err(|e| e.source);
    }
    forget_ifindexes(kernel, step);
    let result = match step {
        Step::Create(c) => create(kernel, &c.object, c.peer.as_ref()).await,
        Step::Update(u) => update(kernel, &u.current, &u.desired).await,
        Step::Delete(d) => delete(kernel, &d.current).await,
        Step::Replace(r) => {
            delete(kernel, &r.current).await?;
            forget_ifindexes(kernel, step);
            create(kernel, &r.desired, r.peer.as_ref()).await
        }
    };
    // Also after: a lookup made while the step ran (by the step itself) saw the old link.
    forget_ifindexes(kernel, step);
    result
}

/// nftables objects never reach the per-kind functions below (see [`execute`]).
fn nft_outside_transaction(kernel: &Kernel, object: &Object) -> KernelError {
    KernelError::Invalid {
        op: "executing",
        object: object.key().to_string(),
        ns: kernel.target.label(&object.key().ns()),
        message: "nftables objects are executed as a transaction".into(),
    }
}

async fn create(
    kernel: &Kernel,
    desired: &Object,
    peer: Option<&Object>,
) -> Result<(), KernelError> {
    match desired {
        Object::Namespace(n) => create_namespace(kernel, n).await,
        Object::Sysctl(s) => write_sysctl(kernel, s).await,
        Object::Link(l) => exec_link::create(kernel, l, peer).await,
        Object::Address(_) | Object::Route(_) | Object::Neighbour(_) | Object::Fdb(_) => {
            exec_entries::run(kernel, Change::Create, desired).await
        }
        Object::NftTable(_) | Object::NftChain(_) | Object::NftSet(_) | Object::NftRule(_) => {
            Err(nft_outside_transaction(kernel, desired))
        }
    }
}

async fn update(kernel: &Kernel, current: &Object, desired: &Object) -> Result<(), KernelError> {
    match desired {
        // A namespace has no attributes to change.
        Object::Namespace(_) => Ok(()),
        Object::Sysctl(s) => write_sysctl(kernel, s).await,
        Object::Link(l) => {
            let current = match current {
                Object::Link(c) => Some(c),
                _ => None,
            };
            exec_link::update(kernel, l, current).await
        }
        Object::Address(_) | Object::Route(_) | Object::Neighbour(_) | Object::Fdb(_) => {
            exec_entries::run(kernel, Change::Update, desired).await
        }
        Object::NftTable(_) | Object::NftChain(_) | Object::NftSet(_) | Object::NftRule(_) => {
            Err(nft_outside_transaction(kernel, desired))
        }
    }
}

async fn delete(kernel: &Kernel, current: &Object) -> Result<(), KernelError> {
    match current {
        Object::Namespace(n) => delete_namespace(kernel, n).await,
        // Sysctls are shared host settings: never reverted.
        Object::Sysctl(_) => Ok(()),
        Object::Link(l) => exec_link::delete(kernel, l).await,
        Object::Address(_) | Object::Route(_) | Object::Neighbour(_) | Object::Fdb(_) => {
            exec_entries::run(kernel, Change::Delete, current).await
        }
        Object::NftTable(_) | Object::NftChain(_) | Object::NftSet(_) | Object::NftRule(_) => {
            Err(nft_outside_transaction(kernel, current))
        }
    }
}

/// Error context for a request about `key` in its namespace.
pub(super) fn nl_error(
    kernel: &Kernel,
    op: &'static str,
    key: &ObjectKey,
    e: io::Error,
) -> KernelError {
    KernelError::from_io(op, key.to_string(), kernel.target.label(&key.ns()), e)
}

/// The ifindex of link `name` in `ns`, looked up once per apply (see [`Kernel::ifindex_cell`]):
/// thousands of neighbour and FDB entries on one VXLAN device would otherwise each cost a
/// RTM_GETLINK, whose reply is the device's whole description.
pub(super) async fn ifindex(kernel: &Kernel, ns: &Ns, name: &str) -> Result<u32, KernelError> {
    let cell = kernel.ifindex_cell(ns, name);
    cell.get_or_try_init(|| lookup_ifindex(kernel, ns, name))
        .await
        .copied()
}

async fn lookup_ifindex(kernel: &Kernel, ns: &Ns, name: &str) -> Result<u32, KernelError> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    let reply = kernel
        .conn(ns)
        .await?
        .call(RouteNetlinkMessage::GetLink(msg), 0)
        .await;
    let key = ObjectKey::Link {
        ns: ns.clone(),
        name: name.to_string(),
    };
    let reply = reply.map_err(|e| match e.raw_os_error() {
        Some(libc::ENODEV) => KernelError::Invalid {
            op: "looking up",
            object: key.to_string(),
            ns: kernel.target.label(ns),
            message: "no such link".into(),
        },
        _ => nl_error(kernel, "looking up", &key, e),
    })?;
    reply
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) if l.header.index != 0 => Some(l.header.index),
            _ => None,
        })
        .ok_or_else(|| KernelError::Invalid {
            op: "looking up",
            object: key.to_string(),
            ns: kernel.target.label(ns),
            message: "the kernel returned no link".into(),
        })
}

/// Forget the ifindexes a step may change: a link's own (and its veth peer's), or every one
/// when a namespace comes or goes (deleting one takes links of other namespaces with it).
fn forget_ifindexes(kernel: &Kernel, step: &Step) {
    for object in [step.current(), step.desired(), step.peer()]
        .into_iter()
        .flatten()
    {
        match object {
            Object::Namespace(_) => kernel.forget_ifindexes(None),
            Object::Link(link) => {
                kernel.forget_ifindexes(Some((&link.ns, &link.name)));
                if let LinkKind::Veth { peer: Some(peer) } = &link.kind {
                    kernel.forget_ifindexes(Some((&peer.ns, &peer.name)));
                }
            }
            _ => {}
        }
    }
}

/// RTM_SETLINK addressed by name (ifindex 0 + IFLA_IFNAME, which the kernel resolves).
pub(super) fn setlink_by_name(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg
}

/// Add "administratively up/down" to a SETLINK message.
pub(super) fn set_up(msg: &mut LinkMessage, up: bool) {
    if up {
        msg.header.flags |= LinkFlags::Up;
    } else {
        msg.header.flags.remove(LinkFlags::Up);
    }
    msg.header.change_mask |= LinkFlags::Up;
}

/// Create a container namespace, marked before anyone can see it: see
/// [`netns::create_marked`] (one thread: unshare, mark and bring up `lo`, bind to the name).
async fn create_namespace(kernel: &Kernel, ns: &Namespace) -> Result<(), KernelError> {
    let logical = Ns::Container(ns.name.clone());
    refuse_external(kernel, &logical, "creating")?;
    let real = kernel.target.netns_name(&logical).unwrap_or_default();
    let mark = kernel.target.marks.netns_mark.clone();
    let ipv6_default = ns.ipv6_default.unwrap_or(true);
    tokio::task::spawn_blocking(move || netns::create_marked(&real, &mark, ipv6_default))
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(|source| KernelError::Namespace {
            op: "creating",
            ns: kernel.target.label(&logical),
            source,
        })?;
    kernel.created_with_ipv6_default(logical, ipv6_default);
    Ok(())
}

async fn delete_namespace(kernel: &Kernel, ns: &Namespace) -> Result<(), KernelError> {
    let logical = Ns::Container(ns.name.clone());
    refuse_external(kernel, &logical, "deleting")?;
    let pairs = release_macvlans(kernel, &logical).await?;
    kernel.forget(&logical);
    let name = kernel.target.netns_name(&logical).unwrap_or_default();
    let label = kernel.target.label(&logical);
    tokio::task::spawn_blocking(move || netns::delete(&name))
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(|source| KernelError::Namespace {
            op: "deleting",
            ns: label.clone(),
            source,
        })?;
    wait_for_teardown(kernel, &label, &pairs).await
}

/// A namespace the target maps to an existing file is someone else's: compile never asks to
/// create or delete it, and this guard keeps a hand-made plan from doing so either.
fn refuse_external(kernel: &Kernel, logical: &Ns, op: &'static str) -> Result<(), KernelError> {
    match kernel.target.external_path(logical) {
        Some(_) => Err(KernelError::Namespace {
            op,
            ns: kernel.target.label(logical),
            source: io::Error::other(
                "netplan-rs never creates or deletes a namespace it did not create",
            ),
        }),
        None => Ok(()),
    }
}

async fn write_sysctl(kernel: &Kernel, s: &Sysctl) -> Result<(), KernelError> {
    sysctl::write(kernel.target.netns_path(&s.ns), &s.key, &s.value)
        .await
        .map_err(|source| KernelError::Namespace {
            op: "setting sysctl",
            ns: format!("{} in {}", s.key, kernel.target.label(&s.ns)),
            source,
        })
}

/// A veth pair reaching out of a namespace being deleted: the end inside (its ifindex there) and
/// the other end (its ifindex in the host namespace).
struct Pair {
    inside: u32,
    outside: u32,
}

/// Before a namespace is deleted: delete its macvlan children (until the namespace is gone they
/// hold their parent, and a passthru parent refuses a new child meanwhile) and list its veth
/// pairs, which the kernel removes with the namespace. Deleting the veths one by one instead
/// costs an RCU grace period each under the RTNL lock (about 20 ms a container, serialized),
/// where the kernel tears many namespaces down in one batch (docs/performance.md).
async fn release_macvlans(kernel: &Kernel, ns: &Ns) -> Result<Vec<Pair>, KernelError> {
    let path = kernel.target.netns_path(ns);
    let timeout = super::conn::Limits::from_env().timeout;
    let label = kernel.target.label(ns);
    // A blocking socket on a thread inside the namespace, not a connection of its own: a
    // destroy of 1000 containers would otherwise open 1000 connections for one dump each.
    let released = tokio::task::spawn_blocking(move || {
        netns::run_in(path, move || Ok(release_in_namespace(timeout)))
    })
    .await
    .map_err(|e| io::Error::other(e.to_string()))
    .and_then(|r| r);
    match released {
        Ok(Ok(pairs)) => Ok(pairs),
        Ok(Err((what, source))) => Err(KernelError::from_io("deleting", what, label, source)),
        Err(source) => Err(KernelError::from_io(
            "dumping",
            "links".to_string(),
            label,
            source,
        )),
    }
}

/// [`release_macvlans`] on a thread inside the namespace; a failed delete names its link.
fn release_in_namespace(timeout: Duration) -> Result<Vec<Pair>, (String, io::Error)> {
    let dumping = |e| ("links".to_string(), e);
    let mut sock = RouteSocket::open(timeout).map_err(dumping)?;
    let links = super::observe::read_links(&mut sock).map_err(dumping)?;
    let mut pairs = Vec::new();
    for link in &links {
        match link.kind.as_deref() {
            Some("veth") => {
                if let (Some(outside), Some(_)) = (link.link, link.link_netnsid) {
                    pairs.push(Pair {
                        inside: link.index,
                        outside,
                    });
                }
            }
            Some("macvlan") => {
                let mut msg = LinkMessage::default();
                msg.header.index = link.index;
                match sock.request(RouteNetlinkMessage::DelLink(msg), 0) {
                    Err(e) if e.raw_os_error() != Some(libc::ENODEV) => {
                        return Err((format!("link {}", link.name), e));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(pairs)
}

/// How long a namespace's deletion lets the kernel remove its veth pairs with it, before it
/// deletes what is left itself: a process still in the namespace keeps it (and its veths)
/// alive, and the host must not keep the host ends of a container it no longer has.
const TEARDOWN_GRACE: Duration = Duration::from_secs(5);

/// Wait until the host-side ends of a deleted namespace's veth pairs are gone. The kernel tears
/// a namespace down asynchronously (in a worker that takes every namespace deleted meanwhile in
/// one batch), and until then the host ends linger in the host namespace: the step ends only
/// when they are gone, so that what comes next (a veth of the same name, verification) sees the
/// namespace's end. Polls each end by ifindex with a growing pause; after [`TEARDOWN_GRACE`]
/// deletes the ends still there (the namespace lives on: something still holds it).
async fn wait_for_teardown(
    kernel: &Kernel,
    label: &str,
    pairs: &[Pair],
) -> Result<(), KernelError> {
    if pairs.is_empty() {
        return Ok(());
    }
    let host = kernel.conn(&Ns::Host).await?;
    let failed = |source: io::Error| KernelError::Namespace {
        op: "waiting for the teardown of",
        ns: label.to_string(),
        source,
    };
    let grace = tokio::time::Instant::now() + TEARDOWN_GRACE;
    let mut pause = Duration::from_millis(2);
    // Every reading must be newer than the unmount; later ones newer than the last pause.
    let mut since = tokio::time::Instant::now();
    for pair in pairs {
        while kernel
            .host_veths(&host, since)
            .await
            .map_err(failed)?
            .contains(&(pair.outside, pair.inside))
        {
            if tokio::time::Instant::now() >= grace {
                let mut msg = LinkMessage::default();
                msg.header.index = pair.outside;
                match host.request(RouteNetlinkMessage::DelLink(msg), 0).await {
                    Err(e) if e.raw_os_error() != Some(libc::ENODEV) => return Err(failed(e)),
                    _ => break,
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
            since = tokio::time::Instant::now();
        }
    }
    Ok(())
}
