//! How a failed command's error is printed: one line, each cause once, and a refused privilege
//! said plainly.
//!
//! Why: kernel errors carry their OS error as a source *and* in their own text (so they read well
//! alone), which printed the OS error twice in a chain; and "Operation not permitted" does not
//! tell a user without root what to do. Every EPERM/EACCES from a kernel operation (netlink,
//! namespaces, sysctls, the run directory) is turned into [`NEEDS_PRIVILEGE`] here, in one place.

use crate::kernel::KernelError;
use std::error::Error;

/// What a refused kernel operation means for the user.
pub const NEEDS_PRIVILEGE: &str = "permission denied: netplan-rs must run as root (it needs CAP_NET_ADMIN, and CAP_SYS_ADMIN for namespaces)";

/// The error as one line: causes joined by ": ", a cause already at the end of the previous one
/// left out, and a privilege error ending the line with [`NEEDS_PRIVILEGE`].
pub fn render(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if let Some(errno) = privilege_errno(cause) {
            // Drop the OS's own words ("Operation not permitted (os error 1)") from the text.
            let os = std::io::Error::from_raw_os_error(errno).to_string();
            let nix = nix::errno::Errno::from_raw(errno).to_string();
            let mut text = text.as_str();
            for words in [os.as_str(), nix.as_str()] {
                text = text.strip_suffix(words).unwrap_or(text);
            }
            let text = text.trim_end_matches([':', ' ']);
            if !text.is_empty() && !parts.last().is_some_and(|p| p.ends_with(text)) {
                parts.push(text.to_string());
            }
            parts.push(NEEDS_PRIVILEGE.to_string());
            break;
        }
        if parts.last().is_some_and(|p| p.ends_with(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// EPERM or EACCES when `cause` is an OS-level error that carries it.
fn privilege_errno(cause: &(dyn Error + 'static)) -> Option<i32> {
    let errno = if let Some(e) = cause.downcast_ref::<KernelError>() {
        e.raw_os_error()
    } else if let Some(e) = cause.downcast_ref::<std::io::Error>() {
        e.raw_os_error()
    } else if let Some(crate::lock::LockError::Io { error, .. }) =
        cause.downcast_ref::<crate::lock::LockError>()
    {
        // The per-host lock file lives in /run/netplan-rs, which only root may write.
        error.raw_os_error()
    } else if let Some(lab) = cause.downcast_ref::<crate::lab::LabError>() {
        // The lab's kernel and lock errors are transparent: they stand for the error itself.
        match lab {
            crate::lab::LabError::Kernel(e) => e.raw_os_error(),
            crate::lab::LabError::Lock(crate::lock::LockError::Io { error, .. }) => {
                error.raw_os_error()
            }
            _ => None,
        }
    } else {
        cause.downcast_ref::<nix::errno::Errno>().map(|e| *e as i32)
    };
    errno.filter(|e| matches!(*e, libc::EPERM | libc::EACCES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use std::io;

    fn namespace_error(errno: i32) -> anyhow::Error {
        let err: Result<(), KernelError> = Err(KernelError::Namespace {
            op: "opening netns",
            ns: "lab-node-1".into(),
            source: io::Error::from_raw_os_error(errno),
        });
        err.context("reading the kernel state of host node-1")
            .unwrap_err()
    }

    #[test]
    fn a_permission_error_is_one_line_saying_what_is_needed() {
        assert_eq!(
            render(&namespace_error(libc::EPERM)),
            format!(
                "reading the kernel state of host node-1: opening netns lab-node-1: {NEEDS_PRIVILEGE}"
            )
        );
        assert_eq!(
            render(&namespace_error(libc::EACCES)),
            format!(
                "reading the kernel state of host node-1: opening netns lab-node-1: {NEEDS_PRIVILEGE}"
            )
        );
        let bare = anyhow::Error::new(io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(render(&bare), NEEDS_PRIVILEGE);
        // Through the lab's transparent errors too (the lab locks its switch first).
        let lab = anyhow::Error::new(crate::lab::LabError::Lock(crate::lock::LockError::Io {
            path: "/run/netplan-rs/netns-l.switch.lock".into(),
            error: io::Error::from_raw_os_error(libc::EACCES),
        }));
        assert!(render(&lab).ends_with(NEEDS_PRIVILEGE), "{}", render(&lab));
        let lab = anyhow::Error::new(crate::lab::LabError::Kernel(KernelError::Namespace {
            op: "opening netns",
            ns: "l-node-1".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        }));
        assert!(render(&lab).ends_with(NEEDS_PRIVILEGE), "{}", render(&lab));
        let from_nix = anyhow::Error::new(nix::errno::Errno::EPERM).context("creating netns x");
        assert_eq!(
            render(&from_nix),
            format!("creating netns x: {NEEDS_PRIVILEGE}")
        );
    }

    #[test]
    fn a_cause_already_in_the_text_is_not_repeated() {
        assert_eq!(
            render(&namespace_error(libc::EINVAL)),
            "reading the kernel state of host node-1: opening netns lab-node-1: Invalid argument (os error 22)"
        );
        let plain = anyhow::anyhow!("first").context("second");
        assert_eq!(render(&plain), "second: first");
    }
}
