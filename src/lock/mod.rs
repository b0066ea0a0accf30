//! The per-host lock: one `flock(2)` on `<run dir>/<host id>.lock` per host a command acts on.
//!
//! Commands that change a host (`apply`, `destroy`, `lab up/down/demo`) hold it exclusively from
//! before they observe the kernel until after they verified it; readers (`plan`, `show`) hold it
//! shared, so a plan never reads a half-applied host and never races an apply's netlink
//! requests. A simulated host, a lab's switch and the machine itself each have their own file
//! ([`Target::host_id`]), so unrelated labs never wait for each other.
//!
//! flock rather than a pid file: the kernel drops the lock when the holder dies, however it
//! dies, so a file left by a killed process means nothing and there is nothing to clean up. The
//! file of a host that is gone (a lab torn down) is deleted by its exclusive holder; a waiter
//! that opened it before checks, once it has the lock, that the path still names the file it
//! locked, and starts over if not (the classic race of deleting a lock file).
//!
//! Who holds it: an exclusive holder writes its pid, command line and start time into the file
//! after acquiring, and empties it before releasing. A waiter trusts that text only if the pid
//! is alive and started at the recorded moment (a SIGKILLed holder leaves its text behind, and
//! pids are reused); otherwise, and for shared holders (which must not overwrite the exclusive
//! holder's text, and may be many), it asks the kernel which processes hold a lock on the file's
//! inode (`/proc/locks`).
//!
//! Waiting polls `LOCK_NB` with a short backoff until the deadline: unlike a blocking flock on a
//! helper thread, giving up leaves nothing behind that could still take the lock later.

use crate::kernel::Target;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fmt;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How a command holds a host: readers share, writers exclude everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct HostLock {
    /// `None`: a reader that could not create the lock file, which proves that no writer
    /// holds it (writers create it); see [`acquire_in`].
    flock: Option<Flock<File>>,
    mode: Mode,
    path: PathBuf,
}

impl HostLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Release the lock and delete its file, for a host that no longer exists (`lab down`), so
    /// labs leave no files behind. Deleted while still held exclusively: a process waiting on the
    /// old file finds, once it gets the lock, that the path names another file or none, and
    /// starts over on the path ([`acquire_in`]), so two processes never both hold a host.
    pub fn remove(self) -> io::Result<()> {
        if self.mode == Mode::Exclusive && self.flock.is_some() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // Empty the holder text while still holding the lock, so the next reader of the file
        // does not find a finished command in it. The lock itself goes with the Flock.
        if self.mode == Mode::Exclusive
            && let Some(flock) = &self.flock
        {
            let _ = flock.set_len(0);
        }
    }
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it (past the deadline, if there was one).
    #[error("{}", busy_message(what, holders, *waited))]
    Busy {
        what: String,
        holders: Vec<Holder>,
        waited: Duration,
    },
    /// (`error`, not `source`: the message already carries it, and the CLI prints sources too.)
    #[error("lock file {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

/// A process holding the lock, as the waiter's message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.command)
    }
}

/// "host node-1 of lab demo is locked by pid 1234 (netplan-rs apply ...); retry, or pass
/// --lock-timeout SECS to wait", or after a wait "... is still locked by ... after waiting 5 s".
fn busy_message(what: &str, holders: &[Holder], waited: Duration) -> String {
    let by = if holders.is_empty() {
        // The holder let go between our attempt and our look, or lives in another pid namespace.
        "another process".to_string()
    } else {
        holders
            .iter()
            .map(Holder::to_string)
            .collect::<Vec<_>>()
            .join(" and ")
    };
    if waited.is_zero() {
        format!("{what} is locked by {by}; retry, or pass --lock-timeout SECS to wait")
    } else {
        format!(
            "{what} is still locked by {by} after waiting {}; retry, or pass a longer --lock-timeout SECS",
            human_secs(waited)
        )
    }
}

fn human_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Lock the host `target` acts on; `what` names it in the error ("simulated host node-1 of lab
/// demo"). Waits up to `timeout` (zero: one attempt).
pub async fn acquire(
    target: &Target,
    what: &str,
    mode: Mode,
    timeout: Duration,
) -> Result<HostLock, LockError> {
    acquire_in(
        &crate::rundir::dir(),
        &target.host_id(),
        what,
        mode,
        timeout,
    )
    .await
}

/// [`acquire`] with an explicit directory and host id (tests use a temporary directory).
pub async fn acquire_in(
    dir: &Path,
    id: &str,
    what: &str,
    mode: Mode,
    timeout: Duration,
) -> Result<HostLock, LockError> {
    let path = dir.join(format!("{id}.lock"));
    let io_err = |error| LockError::Io {
        path: path.clone(),
        error,
    };
    let arg = match mode {
        Mode::Shared => FlockArg::LockSharedNonblock,
        Mode::Exclusive => FlockArg::LockExclusiveNonblock,
    };
    let mut backoff = Backoff::new(Instant::now(), timeout);
    let mut unnamed = 0;
    let mut file = open(dir, &path, mode).map_err(io_err)?;
    let flock = loop {
        let Some(f) = file.take() else {
            return Ok(HostLock {
                flock: None,
                mode,
                path,
            });
        };
        match Flock::lock(f, arg) {
            Ok(flock) => {
                if is_current(&flock, &path).map_err(io_err)? {
                    break flock;
                }
                // Its holder removed the file (the host is gone, see `HostLock::remove`) after
                // we opened it: a lock on it excludes nobody who opens the path now. Start over.
                drop(flock);
                file = open(dir, &path, mode).map_err(io_err)?;
                continue;
            }
            Err((f, Errno::EWOULDBLOCK)) => file = Some(f),
            Err((f, Errno::EINTR)) => {
                file = Some(f);
                continue;
            }
            Err((_, errno)) => return Err(io_err(io::Error::from(errno))),
        }
        if let Some(delay) = backoff.next_delay(Instant::now()) {
            tokio::time::sleep(delay).await;
            continue;
        }
        let found = file.as_mut().map(holders).unwrap_or_default();
        // Nobody to name: the holder is letting go between our attempt and our look (it
        // empties its text just before it unlocks). Try again shortly rather than fail on a
        // lock about to be free; a few times only, as a holder in another pid namespace is
        // invisible for good.
        if found.is_empty() && unnamed < 3 {
            unnamed += 1;
            tokio::time::sleep(Backoff::FIRST).await;
            continue;
        }
        return Err(LockError::Busy {
            what: what.to_string(),
            holders: found,
            waited: timeout,
        });
    };
    if mode == Mode::Exclusive {
        write_holder(&flock).map_err(io_err)?;
    }
    Ok(HostLock {
        flock: Some(flock),
        mode,
        path,
    })
}

/// Whether the locked file is still the one at `path`.
fn is_current(file: &File, path: &Path) -> io::Result<bool> {
    let locked = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == locked.dev() && now.ino() == locked.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Open (creating) the lock file. A reader without the right to create it (not root) and
/// whose file does not exist yet gets `None`: writers create the file before locking it, so
/// none holds it and reading unlocked is what the lock would have allowed anyway.
fn open(dir: &Path, path: &Path, mode: Mode) -> io::Result<Option<File>> {
    let created = make_dir(dir).and_then(|()| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        // Readable by everyone whatever the umask, so a `plan` without root can take a shared
        // lock (and read the holder); best effort, as the file may be someone else's.
        if file.metadata()?.mode() & 0o777 != 0o644 {
            let _ = file.set_permissions(Permissions::from_mode(0o644));
        }
        Ok(file)
    });
    match created {
        Ok(file) => Ok(Some(file)),
        Err(e) if mode == Mode::Shared && denied(&e) => match File::open(path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(_) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The run directory, 0755 whatever the umask (created by the first writer; usually root).
fn make_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o755))
}

fn denied(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EROFS)
}

/// When to try again: 10 ms, doubling to at most 200 ms, never past the deadline, and one
/// last attempt exactly at it. A pure function of the clock, so the logic is unit-tested.
#[derive(Debug)]
struct Backoff {
    deadline: Instant,
    delay: Duration,
    done: bool,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(200);

    fn new(start: Instant, timeout: Duration) -> Backoff {
        Backoff {
            deadline: start + timeout,
            delay: Self::FIRST,
            done: false,
        }
    }

    /// How long to sleep before the next attempt; `None`: give up (the attempt that just
    /// failed was at or after the deadline).
    fn next_delay(&mut self, now: Instant) -> Option<Duration> {
        if self.done || now >= self.deadline {
            self.done = true;
            return None;
        }
        let delay = self.delay.min(self.deadline - now);
        self.delay = (self.delay * 2).min(Self::MAX);
        Some(delay)
    }
}

/// The text an exclusive holder leaves in the file: one `key: value` per line.
fn holder_text(pid: i32, command: &str, started: SystemTime, start_ticks: u64) -> String {
    format!(
        "pid: {pid}\ncommand: {command}\nstarted: {}\nstart_ticks: {start_ticks}\n",
        utc(started)
    )
}

fn write_holder(file: &File) -> io::Result<()> {
    let pid = std::process::id() as i32;
    let ticks = start_ticks(pid).unwrap_or(0);
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let text = holder_text(pid, &command_line(&args), SystemTime::now(), ticks);
    let mut file = file;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    // One write: a reader sees all of it or (rarely) a torn piece it cannot validate, never a
    // wrong pid that checks out.
    file.write_all(text.as_bytes())
}

/// Who holds the lock on `file`: the exclusive holder's own text when it checks out, else the
/// kernel's list of flock holders of the inode.
fn holders(file: &mut File) -> Vec<Holder> {
    let mut text = String::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    if read.is_ok()
        && let Some(holder) = parse_holder(&text)
    {
        return vec![holder];
    }
    let Ok(meta) = file.metadata() else {
        return Vec::new();
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let mut pids = flock_holders(&locks, meta.dev(), meta.ino());
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some(Holder {
                pid,
                command: command_line(&args),
            })
        })
        .collect()
}

/// The holder text of a live process: the pid must still be the process that wrote it (same
/// start time in clock ticks since boot), since a SIGKILLed holder never empties the file.
fn parse_holder(text: &str) -> Option<Holder> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
    };
    let pid: i32 = field("pid")?.parse().ok()?;
    let ticks: u64 = field("start_ticks")?.parse().ok()?;
    let command = field("command")?.to_string();
    (start_ticks(pid) == Some(ticks)).then_some(Holder { pid, command })
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot.
pub(crate) fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Pids holding (not waiting for) a flock on inode `ino` of device `dev`, from `/proc/locks`:
/// `1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF` (device major:minor in hex); waiters'
/// lines carry `->` after the number.
fn flock_holders(locks: &str, dev: u64, ino: u64) -> Vec<i32> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "FLOCK", _, _, pid, id, ..] if *id == want => pid.parse().ok(),
                _ => None,
            }
        })
        .filter(|pid| *pid > 0)
        .collect()
}

/// A command line for a message: the program's file name, then the arguments, each quoted
/// when a shell would need it; cut at 300 characters (it goes into a one-line error).
pub(crate) fn command_line(args: &[String]) -> String {
    let mut parts = Vec::with_capacity(args.len());
    if let Some(program) = args.first() {
        let name = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.clone());
        parts.push(quote(&name));
    }
    parts.extend(args.iter().skip(1).map(|a| quote(a)));
    let line = parts.join(" ");
    const MAX: usize = 300;
    if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        line
    }
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        // Control characters (a newline would break the file's line format) become '?'.
        let clean: String = arg
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        format!("'{}'", clean.replace('\'', r"'\''"))
    }
}

/// `2026-12-03T19:41:58Z`: when the holder started, as the lock file records it.
fn utc(t: SystemTime) -> String {
    crate::clock::rfc3339(crate::clock::unix(t))
}

#[cfg(test)]
mod tests;
