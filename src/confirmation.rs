//! Try and revert: an `apply --confirm-timeout` that waits to be confirmed, and the
//! `netplan-rs confirm` that confirms it from another shell.
//!
//! The waiting apply holds the host's lock (nobody may change the host under a change that may
//! still be rolled back), so the two processes meet through files in the run directory instead:
//! `<run dir>/confirm/<host id>.<mark>.pending` says who waits (pid and start time, command,
//! deadline; see [`Pending`]). The decision is one atomic file operation, so both sides always
//! agree on it, even when a confirmation and the deadline cross:
//! - `confirm` renames `.pending` to `.confirmed` ([`confirm`]): if the rename succeeds, the
//!   change stays; if the file is gone, the apply already decided otherwise;
//! - the waiting apply polls for `.confirmed` every [`POLL`]; when it times out, is signalled,
//!   or hears `yes`/`no` on its terminal, it unlinks `.pending` ([`Waiting::decide`]): if the
//!   unlink succeeds its decision stands, if the file is gone a `confirm` won the race.
//!
//! The apply removes `.confirmed` once it has acted on it (dropped its rollback journal), which
//! is the acknowledgement `confirm` waits for ([`acknowledged`]). A pending file whose process is
//! gone (pid dead, or reused by another process: the start time differs) is stale: `confirm`
//! says so and removes it ([`find_in`]).

use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How often the waiting apply looks for a confirmation (and the signal flag). Short enough that
/// `confirm` gets its acknowledgement at once, long enough to cost nothing.
pub const POLL: Duration = Duration::from_millis(100);

/// The largest `--confirm-timeout`: a try holds the host's lock while it waits, and a change
/// nobody confirmed within an hour is not going to be.
pub const MAX_SECS: u64 = 3600;

/// Parse and check a `--confirm-timeout` value (whole seconds, 1 to [`MAX_SECS`]).
pub fn parse_secs(text: &str) -> Result<u64, String> {
    let secs: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))?;
    if secs == 0 || secs > MAX_SECS {
        return Err(format!(
            "must be between 1 and {MAX_SECS} seconds (got {secs}): the change is rolled back unless confirmed within that time"
        ));
    }
    Ok(secs)
}

/// What a pending file holds: who waits for a confirmation, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub version: u32,
    pub pid: i32,
    /// The process's start time (clock ticks since boot): a reused pid is not the waiter.
    pub start_ticks: u64,
    pub command: String,
    /// The host, as messages name it ("simulated host node-1 of lab demo").
    pub describe: String,
    /// The owner mark of the scope being applied (which topology, on a shared host).
    pub mark: String,
    /// The deadline, in seconds since the epoch.
    pub deadline: u64,
}

impl Pending {
    /// Whether the process that wrote this is still running.
    pub fn alive(&self) -> bool {
        self.pid > 0
            && crate::lock::start_ticks(self.pid) == Some(self.start_ticks)
            && !zombie(self.pid)
    }

    /// Seconds left until the deadline (0 once it passed).
    pub fn remaining_secs(&self) -> u64 {
        self.deadline.saturating_sub(crate::clock::now_unix())
    }

    /// "apply of simulated host node-1 of lab demo (pid 1234, 87 s left): netplan-rs apply ..."
    pub fn summary(&self) -> String {
        format!(
            "apply on {} (pid {}, {} s left, until {}): {}",
            self.describe,
            self.pid,
            self.remaining_secs(),
            clock(self.deadline),
            self.command
        )
    }
}

/// Whether `pid` has ended and only waits to be reaped (state `Z` or `X` in `/proc/<pid>/stat`):
/// it keeps its pid and start time until then, but will never act on a confirmation.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        matches!(state, Some("Z" | "X"))
    })
}

/// `22:45:21 UTC`: a deadline as an operator reconnecting from elsewhere can read it.
pub fn clock(unix_secs: u64) -> String {
    crate::clock::time_of_day(unix_secs)
}

fn confirm_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("confirm")
}

/// `<host id>.<mark>` with the mark made file-name safe (it holds spaces and `=`).
fn stem(host_id: &str, mark: &str) -> String {
    let mark: String = mark
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{host_id}.{mark}")
}

/// The waiting side: the pending file of one apply, removed when dropped whatever happened.
#[derive(Debug)]
pub struct Waiting {
    pending: PathBuf,
    confirmed: PathBuf,
    pub deadline: Instant,
    /// The same deadline in seconds since the epoch (what the pending file says).
    pub deadline_unix: u64,
    pub secs: u64,
}

/// Who decided, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `yes` typed on the apply's terminal.
    ConfirmedHere,
    /// `netplan-rs confirm` from another process.
    ConfirmedElsewhere,
    /// `no` typed on the apply's terminal: roll back now.
    Rejected,
    TimedOut,
    Interrupted(crate::signals::Signal),
}

impl Outcome {
    pub fn confirmed(self) -> bool {
        matches!(self, Outcome::ConfirmedHere | Outcome::ConfirmedElsewhere)
    }
}

impl Waiting {
    /// Announce that this process waits `secs` for a confirmation of its change on `host_id`
    /// (scope `mark`). A `.confirmed` left from an earlier run is removed first: it confirmed
    /// that run's change, not this one. Callers hold the host's lock, so no other apply on
    /// the host writes the same file meanwhile.
    pub fn announce(
        run_dir: &Path,
        host_id: &str,
        mark: &str,
        describe: &str,
        secs: u64,
    ) -> io::Result<Waiting> {
        let dir = confirm_dir(run_dir);
        std::fs::create_dir_all(&dir)?;
        let stem = stem(host_id, mark);
        let pending = dir.join(format!("{stem}.pending"));
        let confirmed = dir.join(format!("{stem}.confirmed"));
        remove_if_there(&confirmed)?;
        let pid = std::process::id() as i32;
        let deadline_unix = crate::clock::now_unix() + secs;
        let record = Pending {
            version: 1,
            pid,
            start_ticks: crate::lock::start_ticks(pid).unwrap_or(0),
            command: crate::lock::command_line(&std::env::args().collect::<Vec<_>>()),
            describe: describe.to_string(),
            mark: mark.to_string(),
            deadline: deadline_unix,
        };
        // Temporary file + rename: `confirm` never reads half a record.
        let temporary = dir.join(format!(".{stem}.{pid}"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&serde_json::to_vec(&record).map_err(io::Error::other)?)?;
        drop(file);
        std::fs::rename(&temporary, &pending)?;
        Ok(Waiting {
            pending,
            confirmed,
            deadline: Instant::now() + Duration::from_secs(secs),
            deadline_unix,
            secs,
        })
    }

    pub fn pending_path(&self) -> &Path {
        &self.pending
    }

    /// Whether a `confirm` has renamed our pending file to `.confirmed`.
    fn confirmed_elsewhere(&self) -> bool {
        self.confirmed.exists()
    }

    /// Make `wanted` the decision by unlinking the pending file; if it is already gone, a
    /// `confirm` took it first and the change was confirmed (the file operation is the
    /// decision, see the module comment).
    pub fn decide(&self, wanted: Outcome) -> io::Result<Outcome> {
        match std::fs::remove_file(&self.pending) {
            Ok(()) => Ok(wanted),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.confirmed_elsewhere() => {
                Ok(Outcome::ConfirmedElsewhere)
            }
            Err(e) => Err(e),
        }
    }

    /// Wait until the change is confirmed or rejected (a `netplan-rs confirm`, or a line on
    /// `lines`: the terminal's, when there is one), the deadline passes, or SIGINT/SIGTERM
    /// arrives. `on_other` hears every line that is neither `yes` nor `no`, so the caller can
    /// say what is accepted.
    pub async fn wait(
        &self,
        mut lines: Option<UnboundedReceiver<String>>,
        mut on_other: impl FnMut(&str),
    ) -> io::Result<Outcome> {
        loop {
            if self.confirmed_elsewhere() {
                return Ok(Outcome::ConfirmedElsewhere);
            }
            if let Some(signal) = crate::signals::pending() {
                return self.decide(Outcome::Interrupted(signal));
            }
            let now = Instant::now();
            if now >= self.deadline {
                return self.decide(Outcome::TimedOut);
            }
            let tick = tokio::time::sleep(POLL.min(self.deadline - now));
            let line = match lines.as_mut() {
                Some(rx) => tokio::select! {
                    line = rx.recv() => Some(line),
                    () = tick => None,
                },
                None => {
                    tick.await;
                    None
                }
            };
            match line {
                None => {}
                // The terminal closed (EOF): only `confirm` can confirm from now on.
                Some(None) => lines = None,
                Some(Some(text)) => match answer(&text) {
                    Some(true) => return self.decide(Outcome::ConfirmedHere),
                    Some(false) => return self.decide(Outcome::Rejected),
                    None => on_other(text.trim()),
                },
            }
        }
    }

    /// Tell a `confirm` waiting for it that its confirmation was acted on.
    pub fn acknowledge(&self) -> io::Result<()> {
        remove_if_there(&self.confirmed)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // An error between announce and decide (or a decision already made) leaves nothing for
        // a later `confirm` to find.
        let _ = remove_if_there(&self.pending);
        let _ = remove_if_there(&self.confirmed);
    }
}

/// A typed answer: `yes` confirms, `no` rejects, anything else is no answer.
pub fn answer(line: &str) -> Option<bool> {
    match line.trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Lines typed on this process's stdin, read on a thread of their own so that waiting for the
/// deadline never blocks on the terminal. The thread ends at EOF (the receiver then reports
/// the end) or with the process. A read error (EIO: this is a background job of the terminal,
/// with SIGTTIN ignored) is retried every 200 ms: after `fg`, typing works again.
pub fn stdin_lines() -> UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        // std's shared, buffered stdin: whatever the approval prompt read ahead is not lost.
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
                Ok(_) => {
                    if tx.send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// One waiting apply found by `confirm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub pending: Pending,
}

/// What `confirm` found on a host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Search {
    /// Live waiters (several: one per scope).
    pub waiting: Vec<Found>,
    /// Pending files whose process is gone; already removed.
    pub stale: Vec<Found>,
}

/// The applies waiting on `host_id` (of scope `mark`, or of any scope when `None`). Stale
/// files are removed and reported; a file that cannot be parsed is an error naming it.
pub fn find_in(run_dir: &Path, host_id: &str, mark: Option<&str>) -> io::Result<Search> {
    let dir = confirm_dir(run_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Search::default()),
        Err(e) => return Err(e),
    };
    let prefix = format!("{host_id}.");
    let mut search = Search::default();
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".pending"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // Decided (renamed or removed) since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let pending: Pending = serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}; remove it", path.display()),
            )
        })?;
        if mark.is_some_and(|m| m != pending.mark) {
            continue;
        }
        let found = Found { path, pending };
        if found.pending.alive() {
            search.waiting.push(found);
        } else {
            remove_if_there(&found.path)?;
            search.stale.push(found);
        }
    }
    Ok(search)
}

/// Confirm the waiting apply `found`: true when the confirmation is what decided, false when
/// the apply decided first (it timed out, was interrupted or answered on its terminal).
pub fn confirm(found: &Found) -> io::Result<bool> {
    match std::fs::rename(&found.path, confirmed_path(found)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn confirmed_path(found: &Found) -> PathBuf {
    found.path.with_extension("confirmed")
}

/// Wait up to `timeout` for the apply to act on a confirmation (it removes `.confirmed`); false
/// when it did not in time, or died first.
pub fn acknowledged(found: &Found, timeout: Duration) -> bool {
    let marker = confirmed_path(found);
    let deadline = Instant::now() + timeout;
    loop {
        if !marker.exists() {
            return true;
        }
        if !found.pending.alive() || Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "np-confirm-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn timeout_values_are_checked() {
        assert_eq!(parse_secs("120"), Ok(120));
        assert_eq!(parse_secs("1"), Ok(1));
        assert_eq!(parse_secs("3600"), Ok(3600));
        assert!(parse_secs("0").unwrap_err().contains("between 1 and 3600"));
        assert!(
            parse_secs("3601")
                .unwrap_err()
                .contains("between 1 and 3600")
        );
        assert!(parse_secs("-5").unwrap_err().contains("not a whole number"));
        assert!(parse_secs("2m").unwrap_err().contains("not a whole number"));
    }

    #[test]
    fn an_ended_process_is_not_a_waiter() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Ended but not reaped: same pid and start time, state Z.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !zombie(pid) {
            assert!(Instant::now() < deadline, "child never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        let pending = Pending {
            version: 1,
            pid,
            start_ticks: crate::lock::start_ticks(pid).unwrap(),
            command: "true".into(),
            describe: "host".into(),
            mark: "netplan-rs".into(),
            deadline: 0,
        };
        assert!(!pending.alive());
        child.wait().unwrap();
        assert!(!pending.alive());
        let me = std::process::id() as i32;
        let alive = Pending {
            pid: me,
            start_ticks: crate::lock::start_ticks(me).unwrap(),
            ..pending
        };
        assert!(alive.alive());
    }

    #[test]
    fn deadlines_read_as_utc_clock_times() {
        assert_eq!(clock(0), "00:00:00 UTC");
        // 2026-12-03T22:45:21Z
        assert_eq!(clock(1_796_337_921), "22:45:21 UTC");
    }

    #[test]
    fn answers_are_yes_and_no_only() {
        assert_eq!(answer("yes\n"), Some(true));
        assert_eq!(answer("  no "), Some(false));
        assert_eq!(answer("y"), None);
        assert_eq!(answer("YES"), None);
        assert_eq!(answer(""), None);
    }

    #[test]
    fn the_mark_is_file_name_safe() {
        assert_eq!(
            stem("netns-l-node-1", "netplan-rs lab=l host=node-1"),
            "netns-l-node-1.netplan-rs_lab_l_host_node-1"
        );
    }

    #[test]
    fn confirm_finds_the_waiter_and_decides_once() {
        let dir = run_dir("decide");
        let waiting = Waiting::announce(&dir, "host", "netplan-rs", "host a", 60).unwrap();
        let search = find_in(&dir, "host", None).unwrap();
        assert_eq!(search.stale, vec![]);
        let [found] = search.waiting.as_slice() else {
            panic!("one waiter expected: {search:?}")
        };
        assert_eq!(found.pending.pid, std::process::id() as i32);
        assert!((59..=60).contains(&found.pending.remaining_secs()));
        assert!(confirm(found).unwrap());
        // Nothing is left to confirm, and the waiter's own decision (say, its deadline) loses.
        assert!(!confirm(found).unwrap());
        assert_eq!(find_in(&dir, "host", None).unwrap(), Search::default());
        assert_eq!(
            waiting.decide(Outcome::TimedOut).unwrap(),
            Outcome::ConfirmedElsewhere
        );
        assert!(!acknowledged(found, Duration::ZERO));
        waiting.acknowledge().unwrap();
        assert!(acknowledged(found, Duration::ZERO));
        drop(waiting);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_decision_made_first_makes_confirm_fail() {
        let dir = run_dir("first");
        let waiting = Waiting::announce(&dir, "host", "netplan-rs", "host a", 60).unwrap();
        let found = find_in(&dir, "host", None).unwrap().waiting.remove(0);
        assert_eq!(
            waiting.decide(Outcome::TimedOut).unwrap(),
            Outcome::TimedOut
        );
        assert!(!confirm(&found).unwrap());
        drop(waiting);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scopes_and_hosts_are_told_apart_and_dead_waiters_are_stale() {
        let dir = run_dir("scopes");
        let a = Waiting::announce(&dir, "host", "netplan-rs scope=a", "host a", 60).unwrap();
        let b = Waiting::announce(&dir, "host", "netplan-rs scope=b", "host b", 60).unwrap();
        let lab = Waiting::announce(&dir, "netns-l-h", "netplan-rs lab=l", "lab", 60).unwrap();
        assert_eq!(find_in(&dir, "host", None).unwrap().waiting.len(), 2);
        let only_b = find_in(&dir, "host", Some("netplan-rs scope=b")).unwrap();
        assert_eq!(only_b.waiting.len(), 1);
        assert_eq!(only_b.waiting[0].pending.describe, "host b");
        assert_eq!(find_in(&dir, "netns-l-h", None).unwrap().waiting.len(), 1);
        assert_eq!(find_in(&dir, "netns-l", None).unwrap(), Search::default());
        // A waiter that died (here: a record whose start time is not this process's).
        let path = a.pending_path().to_path_buf();
        let mut record: Pending = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record.start_ticks += 1;
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
        let search = find_in(&dir, "host", None).unwrap();
        assert_eq!(search.waiting.len(), 1);
        assert_eq!(search.stale.len(), 1);
        assert_eq!(search.stale[0].pending.describe, "host a");
        assert!(!path.exists(), "a stale file is removed");
        drop((a, b, lab));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_pending_file_is_named() {
        let dir = run_dir("garbage");
        std::fs::create_dir_all(confirm_dir(&dir)).unwrap();
        std::fs::write(confirm_dir(&dir).join("host.x.pending"), "{").unwrap();
        let err = find_in(&dir, "host", None).unwrap_err();
        assert!(err.to_string().contains("host.x.pending"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn typed_lines_confirm_or_reject_and_other_lines_are_heard() {
        let dir = run_dir("lines");
        let rt = runtime();
        for (typed, expected) in [
            (vec!["maybe", "yes"], Outcome::ConfirmedHere),
            (vec!["", "no"], Outcome::Rejected),
        ] {
            let waiting = Waiting::announce(&dir, "host", "netplan-rs", "host", 60).unwrap();
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            for line in &typed {
                tx.send(format!("{line}\n")).unwrap();
            }
            let mut heard = Vec::new();
            let outcome = rt
                .block_on(waiting.wait(Some(rx), |l| heard.push(l.to_string())))
                .unwrap();
            assert_eq!(outcome, expected);
            assert_eq!(heard, [typed[0]]);
            assert!(!waiting.pending_path().exists(), "the decision removed it");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_deadline_rolls_back_and_a_closed_terminal_is_not_an_answer() {
        let dir = run_dir("deadline");
        let rt = runtime();
        let waiting = Waiting::announce(&dir, "host", "netplan-rs", "host", 1).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        drop(tx);
        let outcome = rt.block_on(waiting.wait(Some(rx), |_| {})).unwrap();
        assert_eq!(outcome, Outcome::TimedOut);
        assert!(Instant::now() >= waiting.deadline);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_confirm_from_elsewhere_ends_the_wait() {
        let dir = run_dir("elsewhere");
        let rt = runtime();
        let waiting = Waiting::announce(&dir, "host", "netplan-rs", "host", 60).unwrap();
        let found = find_in(&dir, "host", None).unwrap().waiting.remove(0);
        let confirmer = std::thread::spawn(move || confirm(&found).unwrap());
        let outcome = rt.block_on(waiting.wait(None, |_| {})).unwrap();
        assert!(confirmer.join().unwrap());
        assert_eq!(outcome, Outcome::ConfirmedElsewhere);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
