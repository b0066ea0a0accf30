//! Turning off IPv6 duplicate address detection on the bridges netplan-rs creates.
//!
//! Why: the kernel sends a neighbour solicitation for a *forwarded* IPv6 packet only from a
//! usable (non-tentative) link-local address of the egress device (`ndisc_send_ns` without a
//! local source falls back to `ipv6_get_lladdr(dev, .., IFA_F_TENTATIVE)` and gives up when there
//! is none). A fresh bridge's link-local address is tentative for the length of DAD (1 s plus a
//! random start delay), so the first IPv6 packets routed into a new bridge were held ~2 s (one
//! or two neighbour retransmissions). The global gateway address, added NODAD, does not help:
//! it is only used as the source when the packet itself comes from it.
//!
//! `net.ipv6.conf.<bridge>.accept_dad = 0`, written between creation and up, makes the
//! link-local address usable the moment the kernel makes it. The alternative of creating the
//! bridge without a link-local address (IFLA_INET6_ADDR_GEN_MODE none) was measured to be worse:
//! with no link-local address at all, forwarded packets never trigger a solicitation, so the
//! path stays dead until the container speaks first. Nothing is observed or diffed: the sysctl
//! is a creation-time property, like the kind.

use super::Kernel;
use crate::state::Link;

/// Set `accept_dad = 0` on the freshly created `link`, in its namespace. Best effort: without
/// IPv6 (no conf directory) there is nothing to do, and a read-only /proc/sys only costs the
/// first packets' delay, so neither fails the step.
pub(super) async fn disable(kernel: &Kernel, link: &Link) {
    let result = super::ipv6_switch::write_conf(kernel, link, "accept_dad", "0").await;
    if let Err(e) = result {
        tracing::warn!(
            "cannot turn off IPv6 duplicate address detection on {} in {}: {e}",
            link.name,
            kernel.target.label(&link.ns)
        );
    }
}
