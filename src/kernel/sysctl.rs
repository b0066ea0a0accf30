//! Sysctls inside a namespace. /proc/sys/net shows the network namespace of the thread that
//! opens the file, so reads and writes happen on a thread that has joined the namespace.

use super::netns;
use std::io;
use std::path::PathBuf;

/// `net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`, refusing keys that could leave
/// /proc/sys.
pub(crate) fn proc_path(key: &str) -> io::Result<PathBuf> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.contains('/') || p.contains('\0'))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid sysctl key {key:?}"),
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(parts.join("/")))
}

/// Read a sysctl value (trimmed) inside the namespace at `ns`.
pub(crate) async fn read(ns: Option<PathBuf>, key: &str) -> io::Result<String> {
    let path = proc_path(key)?;
    netns::run_in_async(ns, move || {
        Ok(std::fs::read_to_string(path)?.trim().to_string())
    })
    .await
}

/// Write a sysctl value inside the namespace at `ns`.
pub(crate) async fn write(ns: Option<PathBuf>, key: &str, value: &str) -> io::Result<()> {
    let path = proc_path(key)?;
    let value = format!("{value}\n");
    netns::run_in_async(ns, move || std::fs::write(path, value)).await
}
