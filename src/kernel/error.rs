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

    /// Whether the kernel reported the operation as unsupported.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, KernelError::Unsupported { .. })
    }

    /// The OS error number behind this error, if any (e.g. `libc::EEXIST`).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            KernelError::Netlink { source, .. }
            | KernelError::Unsupported { source, .. }
            | KernelError::Namespace { source, .. } => source.raw_os_error(),
            KernelError::Invalid { .. } => None,
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
}
