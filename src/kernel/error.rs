//! Errors of the kernel layer. Every message names the operation, the object and the real
//! namespace, because "File exists" alone is useless when a plan touches twenty namespaces.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The kernel refused a request.
    #[error("{op} {object} in {ns}: {source}")]
    Netlink {
        op: &'static str,
        object: String,
        ns: String,
        source: io::Error,
    },
    /// The kernel lacks the feature (EOPNOTSUPP, e.g. "Unknown device type" for a link kind that
    /// is not compiled in or whose module cannot load). Kept apart so callers can skip tests.
    #[error("{op} {object} in {ns}: not supported by this kernel: {source}")]
    Unsupported {
        op: &'static str,
        object: String,
        ns: String,
        source: io::Error,
    },
    /// Creating a link failed because the kernel lacks its type (EOPNOTSUPP, "Unknown device
    /// type": not compiled in, module not loadable). `kind` names the type and its module, so the
    /// user knows what to load; the OS error is kept as a number, not a source, because this
    /// text replaces its useless words.
    #[error("{op} {object} in {ns}: {kind} is not available in this kernel")]
    LinkTypeMissing {
        op: &'static str,
        object: String,
        ns: String,
        kind: &'static str,
        errno: i32,
    },
    /// Opening, creating or deleting a network namespace, or a sysctl file inside it, failed.
    #[error("{op} {ns}: {source}")]
    Namespace {
        op: &'static str,
        ns: String,
        source: io::Error,
    },
    /// The step cannot be carried out as given (missing object, unknown link name, ...).
    #[error("{op} {object} in {ns}: {message}")]
    Invalid {
        op: &'static str,
        object: String,
        ns: String,
        message: String,
    },
    /// A fault injected by the test seam (`kernel::fault`): request `k` failed on purpose
    /// (`carried_out`: after the kernel did it). Never produced by the shipped CLI.
    #[error(
        "injected fault (test seam): step request {k} ({object}) {}failed on purpose",
        if *carried_out { "was carried out, then reported " } else { "" }
    )]
    Injected {
        k: usize,
        object: String,
        carried_out: bool,
    },
}

impl KernelError {
    /// Map an I/O error from the kernel, separating "not supported" from other failures.
    pub(crate) fn from_io(op: &'static str, object: String, ns: String, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => {
                KernelError::Unsupported {
                    op,
                    object,
                    ns,
                    source,
                }
            }
            _ => KernelError::Netlink {
                op,
                object,
                ns,
                source,
            },
        }
    }

    /// `self`, or for an unsupported link creation, an error naming the link type (`type_name`
    /// as the kernel calls it: `vlan`, `vxlan`, ...) and its module.
    pub(crate) fn name_link_type(self, type_name: &str) -> Self {
        let KernelError::Unsupported {
            op,
            object,
            ns,
            source,
        } = self
        else {
            return self;
        };
        let kind = match type_name {
            "vlan" => "802.1Q VLAN (module 8021q)",
            "vxlan" => "VXLAN (module vxlan)",
            "macvlan" => "macvlan (module macvlan)",
            "bridge" => "bridge (module bridge)",
            "veth" => "veth (module veth)",
            _ => {
                return KernelError::Unsupported {
                    op,
                    object,
                    ns,
                    source,
                };
            }
        };
        KernelError::LinkTypeMissing {
            op,
            object,
            ns,
            kind,
            errno: source.raw_os_error().unwrap_or(libc::EOPNOTSUPP),
        }
    }

    /// Whether the kernel reported the operation as unsupported.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            KernelError::Unsupported { .. } | KernelError::LinkTypeMissing { .. }
        )
    }

    /// The OS error number behind this error, if any (e.g. `libc::EEXIST`).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            KernelError::Netlink { source, .. }
            | KernelError::Unsupported { source, .. }
            | KernelError::Namespace { source, .. } => source.raw_os_error(),
            KernelError::LinkTypeMissing { errno, .. } => Some(*errno),
            KernelError::Invalid { .. } | KernelError::Injected { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eopnotsupp_is_unsupported_and_named() {
        let e = KernelError::from_io(
            "creating",
            "link host/vx-overlay".into(),
            "netns lab1-node-1".into(),
            io::Error::from_raw_os_error(libc::EOPNOTSUPP),
        );
        assert!(e.is_unsupported());
        assert!(
            e.to_string()
                .starts_with("creating link host/vx-overlay in netns lab1-node-1: not supported")
        );
        let e = KernelError::from_io(
            "creating",
            "link host/vx-overlay".into(),
            "netns lab1-node-1".into(),
            io::Error::from_raw_os_error(libc::EEXIST),
        );
        assert!(!e.is_unsupported());
        assert_eq!(
            e.to_string(),
            "creating link host/vx-overlay in netns lab1-node-1: File exists (os error 17)"
        );
    }

    #[test]
    fn a_missing_link_type_is_named_with_its_module() {
        let unsupported = |errno| {
            KernelError::from_io(
                "creating",
                "link host/eth0.50".into(),
                "netns lab1-node-1".into(),
                io::Error::from_raw_os_error(errno),
            )
        };
        let e = unsupported(libc::EOPNOTSUPP).name_link_type("vlan");
        assert_eq!(
            e.to_string(),
            "creating link host/eth0.50 in netns lab1-node-1: 802.1Q VLAN (module 8021q) is not available in this kernel"
        );
        assert!(e.is_unsupported());
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
        assert!(
            unsupported(libc::EOPNOTSUPP)
                .name_link_type("vxlan")
                .to_string()
                .ends_with(": VXLAN (module vxlan) is not available in this kernel")
        );
        // Other failures keep their own words.
        let e = unsupported(libc::EEXIST).name_link_type("vlan");
        assert!(e.to_string().ends_with("File exists (os error 17)"), "{e}");
    }
}
