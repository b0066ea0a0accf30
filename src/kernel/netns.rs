//! Named network namespaces (`/run/netns/<name>`), created and deleted the way `ip netns` does it
//! but without forking, and a way to run code inside a namespace.
//!
//! Why dedicated threads: a network namespace is a per-thread attribute. `unshare`/`setns` on a
//! tokio worker (or a `spawn_blocking` pool thread, which is reused) would silently move later,
//! unrelated work into the wrong namespace. A fresh std thread that ends right after is the only
//! safe place; objects it creates (sockets, bind mounts) keep their namespace after it exits.

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where named namespaces are bind-mounted (as iproute2 does).
pub const NETNS_DIR: &str = "/run/netns";

/// The path of a named namespace.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Reject names that would escape /run/netns or cannot be file names.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid namespace name {name:?}"),
        ));
    }
    Ok(())
}

/// Make /run/netns a shared mount point so that namespaces mounted later propagate to other mount
/// namespaces (what iproute2 does: make it shared, and if it is not a mount point yet, bind-mount
/// it onto itself first).
fn prepare_dir() -> io::Result<()> {
    // Concurrent creations (an apply wave creates many namespaces at once) must not both find
    // the directory unshared and stack two bind mounts on it: one thread of this process
    // prepares it at a time.
    static PREPARING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = PREPARING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    fs::create_dir_all(NETNS_DIR)?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount::<str, str, str, str>(None, NETNS_DIR, None, shared, None) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            mount::<str, str, str, str>(
                Some(NETNS_DIR),
                NETNS_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(io::Error::from)?;
            mount::<str, str, str, str>(None, NETNS_DIR, None, shared, None)
                .map_err(io::Error::from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Create the named namespace `/run/netns/<name>`. Fails with `AlreadyExists` if the name is taken.
pub fn create(name: &str) -> io::Result<()> {
    create_with(name, None, true)
}

/// Create the named namespace `/run/netns/<name>` with `mark` as the alias of its `lo` (and
/// `lo` up): the namespace is marked before it gets its name, so no one ever sees it unmarked,
/// and a kill before the bind mount leaves nothing behind (the namespace dies with the thread).
/// A kill between creating the mount-point file and mounting it leaves that empty file (see
/// `apply::journal`). `ipv6_default` false turns IPv6 off for the interfaces created in it
/// later (`net.ipv6.conf.default.disable_ipv6 = 1`; `lo` exists already and keeps it). Fails
/// with `AlreadyExists` if the name is taken.
pub fn create_marked(name: &str, mark: &str, ipv6_default: bool) -> io::Result<()> {
    create_with(name, Some(mark), ipv6_default)
}

/// Unshare, mark `lo` when asked, set the IPv6 default, bind to the name: all on one fresh
/// thread.
fn create_with(name: &str, mark: Option<&str>, ipv6_default: bool) -> io::Result<()> {
    check_name(name)?;
    let name = name.to_string();
    let mark = mark.map(str::to_string);
    on_thread(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        if let Some(mark) = &mark {
            super::lo_mark::mark_lo(mark)?;
        }
        if !ipv6_default {
            // The `default` entry takes no lock in the kernel, unlike a device's own (see
            // ipv6_switch.rs). Without IPv6 in the kernel there is no file and nothing to do.
            match fs::write(
                super::ipv6_switch::conf_path("default", "disable_ipv6"),
                "1\n",
            ) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        // thread-self, not self: the new namespace belongs to this thread only.
        let namespace = File::open("/proc/thread-self/ns/net")?;
        attach(&name, &namespace)
    })
    .and_then(|r| r)
}

/// Bind the namespace held by `namespace` to `/run/netns/<name>` (what `ip netns attach`
/// does). Fails with `AlreadyExists` if the name is taken.
fn attach(name: &str, namespace: &File) -> io::Result<()> {
    check_name(name)?;
    prepare_dir()?;
    let target = path(name);
    // The mount point file; O_EXCL makes a concurrent or leftover namespace an error, not a takeover.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o0)
        .open(&target)?;
    let source = format!("/proc/self/fd/{}", namespace.as_raw_fd());
    let result = mount::<str, Path, str, str>(
        Some(source.as_str()),
        &target,
        Some("none"),
        MsFlags::MS_BIND,
        None,
    );
    if result.is_err() {
        let _ = fs::remove_file(&target);
    }
    result.map_err(io::Error::from)
}

/// Delete the named namespace: detach the bind mount and remove the file. The namespace itself
/// lives on while a process or socket still holds it.
pub fn delete(name: &str) -> io::Result<()> {
    check_name(name)?;
    let target = path(name);
    match umount2(&target, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a half-created namespace); still remove the file.
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e.into()),
    }
    fs::remove_file(&target)
}

/// Whether `/run/netns/<name>` exists.
pub fn exists(name: &str) -> bool {
    check_name(name).is_ok() && path(name).exists()
}

/// The names in /run/netns, sorted (empty when the directory does not exist).
pub fn list() -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Run `f` on a fresh thread and wait for it. A panic in `f` becomes an error.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    std::thread::Builder::new()
        .name("netns".into())
        .spawn(f)?
        .join()
        .map_err(|_| io::Error::other("namespace thread panicked"))
}

/// Run `f` inside the namespace at `ns` (a /run/netns path, or `None` for this process's own
/// namespace) on a dedicated thread, and wait for it. Blocking: call it from sync code or use
/// [`run_in_async`].
pub fn run_in<T: Send + 'static>(
    ns: Option<PathBuf>,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    on_thread(move || {
        if let Some(path) = ns {
            let file = File::open(&path)?;
            setns(&file, CloneFlags::CLONE_NEWNET)?;
        }
        f()
    })
    .and_then(|r| r)
}

/// [`run_in`] for async code: the thread reports back through a channel, so no runtime worker
/// blocks while it runs.
pub async fn run_in_async<T: Send + 'static>(
    ns: Option<PathBuf>,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            let result = (|| {
                if let Some(path) = ns {
                    let file = File::open(&path)?;
                    setns(&file, CloneFlags::CLONE_NEWNET)?;
                }
                f()
            })();
            let _ = tx.send(result);
        })?;
    rx.await
        .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// Whether `/run/netns/<name>` is a namespace (an nsfs bind mount), not the bare mount-point
/// file a run killed between creating the file and mounting it leaves behind.
pub fn is_namespace(name: &str) -> bool {
    check_name(name).is_ok()
        && nix::sys::statfs::statfs(&path(name))
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}
