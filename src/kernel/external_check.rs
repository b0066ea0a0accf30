//! Guards for existing namespaces a topology wires (`netns: {path|pid|docker}`): such a
//! namespace must really be someone else's container. Pointing one at a namespace netplan-rs
//! manages (another lab's simulated host, a container of another scope) or at the host's own
//! namespace would let this run read that namespace's objects as a container's and change them.

use super::parse::RawLink;
use super::{KernelError, Target};
use crate::state::{Ns, ownership};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Refuse an existing namespace that carries a netplan-rs mark on `lo`, or that is the target
/// host's own namespace (or, for a simulated host, the machine's namespace this process runs in).
pub(super) fn not_managed(target: &Target, ns: &Ns, links: &[RawLink]) -> Result<(), KernelError> {
    let Some(path) = target.external_path(ns) else {
        return Ok(());
    };
    let refuse = |message: String| KernelError::Invalid {
        op: "wiring",
        object: format!("container {ns}"),
        ns: target.label(ns),
        message,
    };
    if let Some(alias) = links
        .iter()
        .find(|l| l.name == "lo")
        .and_then(|l| l.alias.as_deref())
        .filter(|alias| ownership::is_any_mark(alias))
    {
        return Err(refuse(format!(
            "that namespace is managed by netplan-rs (its lo is marked {alias:?}: a simulated \
             host or a container of a lab or of another topology scope); `netns:` must name a \
             namespace netplan-rs did not create"
        )));
    }
    let host = target
        .netns_path(&Ns::Host)
        .unwrap_or_else(|| "/proc/self/ns/net".into());
    if same_namespace(path, &host) {
        return Err(refuse(
            "that is the host's own namespace, not a container's".to_string(),
        ));
    }
    if target.host_netns.is_some() && same_namespace(path, Path::new("/proc/self/ns/net")) {
        return Err(refuse(
            "that is the namespace of this machine (the process running netplan-rs), not a \
             container of the simulated host"
                .to_string(),
        ));
    }
    Ok(())
}

/// Whether two namespace files are the same namespace (nsfs device and inode).
fn same_namespace(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
