//! The run directory: where netplan-rs keeps per-host runtime files (locks, crash journals).
//!
//! `/run/netplan-rs` by default: /run is a tmpfs emptied at boot, which is exactly the lifetime
//! these files need (a lock or journal from before a reboot describes a kernel state that is
//! gone). `NETPLAN_RS_RUN_DIR` moves it, for tests and for hosts that keep /run elsewhere.

use std::path::PathBuf;

/// Environment variable that overrides the run directory.
pub const ENV: &str = "NETPLAN_RS_RUN_DIR";

/// The run directory (not created here; writers create it on first use).
pub fn dir() -> PathBuf {
    match std::env::var_os(ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/run/netplan-rs"),
    }
}
