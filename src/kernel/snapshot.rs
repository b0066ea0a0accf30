//! Reading many namespaces at once: a blocking reader runs in each namespace, on a few threads
//! of its own that step from namespace to namespace.
//!
//! Observing a host with a thousand containers reads a thousand and one namespaces. A runtime
//! connection per namespace (`conn.rs`) costs a thread to create its socket, two tasks, and a
//! wake-up per reply; a no-op `plan` spent most of its time there. Here one thread per core
//! enters each namespace in turn with `setns`, opens a blocking socket there and runs the
//! reader, which sends its dumps one after the other. The kernel serialises the dumps of a
//! namespace anyway, and more threads than cores only contend for RTNL.
//!
//! A thread's network namespace is its own attribute: these threads are fresh and end with the
//! reading, so no runtime thread ever changes namespace (see `netns.rs`).

use super::blocking::RouteSocket;
use nix::sched::{CloneFlags, setns};
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Run `read` in each namespace of `paths` (`None`: the caller's own namespace), with a socket
/// opened there whose reads wait at most `timeout`. One result per path, in order; an `Err` is
/// a namespace that could not be entered (or its socket opened), so `read` never ran there.
pub(super) async fn read_each<T, F>(
    paths: Vec<Option<PathBuf>>,
    timeout: Duration,
    read: F,
) -> io::Result<Vec<io::Result<T>>>
where
    T: Send + 'static,
    F: Fn(usize, &mut RouteSocket) -> T + Send + Sync + 'static,
{
    // A pool thread of the runtime never changes namespace, so it is the caller's: the
    // readers start from it and come back to it through `own` for the `None` paths.
    tokio::task::spawn_blocking(move || {
        let own = File::open("/proc/thread-self/ns/net")?;
        Ok(read_on_threads(&paths, &own, timeout, &read))
    })
    .await
    .map_err(io::Error::other)?
}

fn read_on_threads<T: Send>(
    paths: &[Option<PathBuf>],
    own: &File,
    timeout: Duration,
    read: &(impl Fn(usize, &mut RouteSocket) -> T + Sync),
) -> Vec<io::Result<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(paths.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<T>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(paths.len()).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let result = enter(path.as_ref(), own)
                        .and_then(|()| RouteSocket::open(timeout))
                        .map(|mut sock| read(i, &mut sock));
                    super::lock(&results)[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("namespace reader stopped"))))
        .collect()
}

/// Move the calling thread into the namespace at `path` (`None`: the one `own` holds).
fn enter(path: Option<&PathBuf>, own: &File) -> io::Result<()> {
    match path {
        Some(path) => setns(File::open(path)?, CloneFlags::CLONE_NEWNET)?,
        None => setns(own, CloneFlags::CLONE_NEWNET)?,
    }
    Ok(())
}
