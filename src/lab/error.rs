//! The lab's error type. The library speaks thiserror types (anyhow is the CLI's): a lab error
//! says in words what the lab was doing ("reading lab demo", "creating netns demo.switch") and
//! keeps the kernel, namespace or lock error under it as its source, so the CLI prints the
//! chain ("reading lab demo: ...") the way it prints any other.

use std::error::Error;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Something the lab did failed; `source` says how.
    #[error("{what}")]
    Failed {
        what: String,
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
    /// A kernel request of the lab's own (reading or changing a simulated host) failed.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// A simulated host (or the lab) is locked by another run; the message names it.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The lab refuses to go on (a plan with conflicts, a host that did not converge, a
    /// namespace it may not remove); the message says why and what to do.
    #[error("{0}")]
    Refused(String),
}

/// `.or_lab(|| "what the lab was doing")` on any result whose error is a std error: the lab's
/// `with_context`.
pub(crate) trait OrLab<T> {
    fn or_lab(self, what: impl FnOnce() -> String) -> Result<T, LabError>;
}

impl<T, E: Error + Send + Sync + 'static> OrLab<T> for Result<T, E> {
    fn or_lab(self, what: impl FnOnce() -> String) -> Result<T, LabError> {
        self.map_err(|e| LabError::Failed {
            what: what(),
            source: Box::new(e),
        })
    }
}

/// A lab result.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
