//! Turning IPv6 on or off on one interface (`net.ipv6.conf.<dev>.disable_ipv6`), for the
//! container interfaces whose desired `Link::ipv6` says so.
//!
//! Written between creation and up when the interface was not born in the wanted state (its
//! namespace's default, `Namespace::ipv6_default`, differs or is unknown), so an interface that
//! should not have IPv6 never gets a link-local address and never starts duplicate address
//! detection, router solicitations or MLD reports: on a bridge those are flooded to every other
//! port, which made wiring many containers superlinear (docs/performance.md). Written in place
//! when it drifts. There is no netlink request for it (IFLA_AF_SPEC's inet6 part takes only the
//! token and the address generation mode), so it is a write under /proc/sys on a thread inside
//! the namespace, as Docker's libnetwork does. The kernel takes RTNL for it with a trylock that
//! restarts the system call, so it spins under load: the namespace default avoids it in bulk.

use super::{Kernel, KernelError, netns};
use crate::state::Link;
use std::io;
use std::path::PathBuf;

/// `/proc/sys/net/ipv6/conf/<dev>/<leaf>`. Device names never contain `/` (the kernel refuses
/// them), and a `.` in a name (VLAN `eth0.100`) is literal here, unlike in sysctl keys.
pub(super) fn conf_path(dev: &str, leaf: &str) -> PathBuf {
    PathBuf::from("/proc/sys/net/ipv6/conf")
        .join(dev)
        .join(leaf)
}

/// Set IPv6 on `link` (in its namespace) to `on`. A kernel without IPv6, or a device without
/// it, has no conf directory: nothing to switch, not an error (observe reports `ipv6: None`
/// there, which compares as satisfied).
pub(super) async fn set(kernel: &Kernel, link: &Link, on: bool) -> Result<(), KernelError> {
    let value = if on { "0" } else { "1" };
    write_conf(kernel, link, "disable_ipv6", value)
        .await
        .map_err(|source| KernelError::Namespace {
            op: if on {
                "turning on IPv6 on"
            } else {
                "turning off IPv6 on"
            },
            ns: format!(
                "{} in {}",
                super::exec_link::key(link),
                kernel.target.label(&link.ns)
            ),
            source,
        })
}

/// Write `value` to `link`'s IPv6 conf entry `leaf`, on a thread inside its namespace. No conf
/// directory (no IPv6 in the kernel or on the device) means nothing to write: `Ok`.
pub(super) async fn write_conf(
    kernel: &Kernel,
    link: &Link,
    leaf: &str,
    value: &'static str,
) -> io::Result<()> {
    let path = conf_path(&link.name, leaf);
    let ns = kernel.target.netns_path(&link.ns);
    netns::run_in_async(ns, move || {
        match std::fs::write(&path, format!("{value}\n")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keeps_dots_and_names_the_device() {
        assert_eq!(
            conf_path("eth0", "disable_ipv6"),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth0/disable_ipv6")
        );
        assert_eq!(
            conf_path("eth0.100", "accept_dad"),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth0.100/accept_dad")
        );
    }
}
