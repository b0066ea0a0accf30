//! Unit tests of the per-host lock: messages, backoff, and real flocks in a temporary run
//! directory (flock conflicts between two open file descriptions even inside one process, so
//! no second process and no root are needed).

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary run directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("netplan-rs-lock-test-{}-{n}", std::process::id()));
        // Not created here: acquire must create it.
        TempDir(dir.join("run"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

const WHAT: &str = "simulated host node-1 of lab demo";

async fn take(dir: &TempDir, mode: Mode, timeout: Duration) -> Result<HostLock, LockError> {
    acquire_in(&dir.0, "netns-demo-node-1", WHAT, mode, timeout).await
}

fn busy(result: Result<HostLock, LockError>) -> (Vec<Holder>, Duration, String) {
    match result {
        Err(e @ LockError::Busy { .. }) => {
            let message = e.to_string();
            let LockError::Busy {
                holders, waited, ..
            } = e
            else {
                unreachable!()
            };
            (holders, waited, message)
        }
        Err(e) => panic!("expected a busy lock, got {e}"),
        Ok(lock) => panic!("expected a busy lock, got {lock:?}"),
    }
}

fn me() -> i32 {
    std::process::id() as i32
}

#[test]
fn message_names_the_holder_and_the_flag() {
    let holder = Holder {
        pid: 1234,
        command: "netplan-rs apply topo.yaml --lab demo --host node-1".into(),
    };
    assert_eq!(
        busy_message(
            "host node-1 of lab demo",
            std::slice::from_ref(&holder),
            Duration::ZERO
        ),
        "host node-1 of lab demo is locked by pid 1234 (netplan-rs apply topo.yaml --lab demo \
         --host node-1); retry, or pass --lock-timeout SECS to wait"
    );
    assert_eq!(
        busy_message("this host", &[holder], Duration::from_secs(60)),
        "this host is still locked by pid 1234 (netplan-rs apply topo.yaml --lab demo --host \
         node-1) after waiting 60 s; retry, or pass a longer --lock-timeout SECS"
    );
}

#[test]
fn message_lists_every_shared_holder_or_says_another_process() {
    let holders = [
        Holder {
            pid: 1,
            command: "netplan-rs plan a.yaml".into(),
        },
        Holder {
            pid: 2,
            command: "netplan-rs show".into(),
        },
    ];
    assert_eq!(
        busy_message("host h", &holders, Duration::from_millis(1500)),
        "host h is still locked by pid 1 (netplan-rs plan a.yaml) and pid 2 (netplan-rs show) \
         after waiting 1.5 s; retry, or pass a longer --lock-timeout SECS"
    );
    assert_eq!(
        busy_message("host h", &[], Duration::ZERO),
        "host h is locked by another process; retry, or pass --lock-timeout SECS to wait"
    );
}

#[test]
fn zero_timeout_means_one_attempt() {
    let start = Instant::now();
    let mut backoff = Backoff::new(start, Duration::ZERO);
    assert_eq!(backoff.next_delay(start), None);
    assert_eq!(backoff.next_delay(start), None);
}

#[test]
fn backoff_doubles_to_a_cap_and_ends_exactly_at_the_deadline() {
    let start = Instant::now();
    let timeout = Duration::from_secs(1);
    let mut backoff = Backoff::new(start, timeout);
    // A clock that advances by exactly the delays asked for.
    let mut now = start;
    let mut delays = Vec::new();
    while let Some(delay) = backoff.next_delay(now) {
        delays.push(delay.as_millis());
        now += delay;
    }
    assert_eq!(delays, [10, 20, 40, 80, 160, 200, 200, 200, 90]);
    assert_eq!(now, start + timeout, "the last attempt is at the deadline");
    // Once given up, it stays given up.
    assert_eq!(backoff.next_delay(start), None);
}

#[test]
fn backoff_gives_up_when_an_attempt_overran_the_deadline() {
    let start = Instant::now();
    let mut backoff = Backoff::new(start, Duration::from_millis(50));
    assert_eq!(backoff.next_delay(start), Some(Duration::from_millis(10)));
    // The process was descheduled past the deadline: no sleep, give up.
    assert_eq!(backoff.next_delay(start + Duration::from_secs(5)), None);
}

#[tokio::test]
async fn exclusive_excludes_everyone_and_names_the_holder() {
    let dir = TempDir::new();
    let held = take(&dir, Mode::Exclusive, Duration::ZERO).await.unwrap();
    assert_eq!(held.path(), dir.0.join("netns-demo-node-1.lock"));
    let mode = std::fs::metadata(&dir.0).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o755, "run directory mode");

    let text = std::fs::read_to_string(held.path()).unwrap();
    assert!(text.starts_with(&format!("pid: {}\n", me())), "{text}");
    assert!(text.contains("\nstarted: 20"), "{text}");

    for mode in [Mode::Exclusive, Mode::Shared] {
        let (holders, waited, message) = busy(take(&dir, mode, Duration::ZERO).await);
        assert_eq!(waited, Duration::ZERO);
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, me());
        let program = std::env::args().next().unwrap();
        let program = Path::new(&program).file_name().unwrap().to_string_lossy();
        assert!(
            holders[0].command.starts_with(program.as_ref()),
            "{holders:?}"
        );
        assert!(
            message.starts_with(&format!("{WHAT} is locked by pid {} (", me())),
            "{message}"
        );
        assert!(
            message.ends_with("; retry, or pass --lock-timeout SECS to wait"),
            "{message}"
        );
    }
    drop(held);
    assert_eq!(
        std::fs::read_to_string(dir.0.join("netns-demo-node-1.lock")).unwrap(),
        "",
        "a released lock leaves no holder text"
    );
    let again = take(&dir, Mode::Exclusive, Duration::ZERO).await;
    assert!(again.is_ok(), "released lock not free: {:?}", again.err());
}

#[tokio::test]
async fn shared_holders_coexist_keep_the_text_and_are_named_by_the_kernel() {
    let dir = TempDir::new();
    let path = dir.0.join("netns-demo-node-1.lock");
    let a = take(&dir, Mode::Shared, Duration::ZERO).await.unwrap();
    let b = take(&dir, Mode::Shared, Duration::ZERO).await.unwrap();
    // Text of a writer that was SIGKILLed: pid 1 did not start at tick 1, so it is not trusted.
    std::fs::write(
        &path,
        holder_text(1, "netplan-rs apply old.yaml", UNIX_EPOCH, 1),
    )
    .unwrap();
    let (holders, _, message) = busy(take(&dir, Mode::Exclusive, Duration::ZERO).await);
    // Both shared locks are this process's: /proc/locks lists the pid twice, named once.
    assert_eq!(holders.iter().map(|h| h.pid).collect::<Vec<_>>(), [me()]);
    assert!(!message.contains("old.yaml"), "{message}");
    drop(a);
    drop(b);
    assert!(
        std::fs::read_to_string(&path).unwrap().contains("old.yaml"),
        "a shared holder must not touch the file"
    );
    let writer = take(&dir, Mode::Exclusive, Duration::ZERO).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&format!("pid: {}\n", me())), "{text}");
    drop(writer);
}

#[tokio::test]
async fn a_waiter_gets_the_lock_when_the_holder_lets_go() {
    let dir = TempDir::new();
    let held = take(&dir, Mode::Exclusive, Duration::ZERO).await.unwrap();
    // join! polls the waiter first, so its first attempt meets the held lock and it has to
    // retry; the release comes later, whenever the other branch runs.
    let (waited, ()) = tokio::join!(
        take(&dir, Mode::Exclusive, Duration::from_secs(60)),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(held);
        }
    );
    let lock = waited.expect("the waiter should get the lock once it is released");
    let text = std::fs::read_to_string(lock.path()).unwrap();
    assert!(text.starts_with(&format!("pid: {}\n", me())), "{text}");
}

#[tokio::test]
async fn a_waiter_gives_up_at_the_deadline() {
    let dir = TempDir::new();
    let _held = take(&dir, Mode::Exclusive, Duration::ZERO).await.unwrap();
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let (holders, waited, message) = busy(take(&dir, Mode::Shared, timeout).await);
    assert!(start.elapsed() >= timeout, "gave up before the deadline");
    assert_eq!(waited, timeout);
    assert_eq!(holders.len(), 1);
    assert!(
        message.contains(") after waiting 0.3 s; retry, or pass a longer --lock-timeout SECS"),
        "{message}"
    );
}

#[tokio::test]
async fn separate_hosts_do_not_wait_for_each_other() {
    let dir = TempDir::new();
    let _a = acquire_in(
        &dir.0,
        "netns-a-node-1",
        "a",
        Mode::Exclusive,
        Duration::ZERO,
    )
    .await
    .unwrap();
    let b = acquire_in(
        &dir.0,
        "netns-b-node-1",
        "b",
        Mode::Exclusive,
        Duration::ZERO,
    )
    .await;
    assert!(b.is_ok(), "{:?}", b.err());
}

#[test]
fn holder_text_is_trusted_only_from_the_same_live_process() {
    let ticks = start_ticks(me()).expect("own start time");
    let text = holder_text(me(), "netplan-rs apply x.yaml", SystemTime::now(), ticks);
    assert_eq!(
        parse_holder(&text),
        Some(Holder {
            pid: me(),
            command: "netplan-rs apply x.yaml".into()
        })
    );
    // Same pid, other start time: the pid was reused after the writer died.
    let reused = holder_text(
        me(),
        "netplan-rs apply x.yaml",
        SystemTime::now(),
        ticks + 1,
    );
    assert_eq!(parse_holder(&reused), None);
    assert_eq!(parse_holder(""), None);
    assert_eq!(parse_holder("pid: 12"), None, "a torn write");
}

#[test]
fn proc_locks_lines_of_holders_not_waiters() {
    let dev = nix::sys::stat::makedev(0, 0x1a);
    let locks = "\
1: FLOCK  ADVISORY  WRITE 4242 00:1a:5678 0 EOF
1: -> FLOCK  ADVISORY  WRITE 999 00:1a:5678 0 EOF
2: FLOCK  ADVISORY  READ 77 00:1a:5678 0 EOF
3: FLOCK  ADVISORY  READ 88 00:1a:56789 0 EOF
4: POSIX  ADVISORY  WRITE 55 00:1a:5678 0 EOF
5: FLOCK  ADVISORY  WRITE 66 08:01:5678 0 EOF
";
    assert_eq!(flock_holders(locks, dev, 5678), [4242, 77]);
}

#[test]
fn command_lines_are_short_and_quoted() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        command_line(&args(&[
            "/usr/local/bin/netplan-rs",
            "apply",
            "my topo.yaml",
            "--host",
            "it's",
            "",
            "a\nb"
        ])),
        r"netplan-rs apply 'my topo.yaml' --host 'it'\''s' '' 'a?b'"
    );
    let long = command_line(&args(&["netplan-rs", &"x".repeat(1000)]));
    assert_eq!(long.chars().count(), 303);
    assert!(long.ends_with("..."));
}

#[test]
fn start_times_are_utc() {
    let at = |s: u64| utc(UNIX_EPOCH + Duration::from_secs(s));
    assert_eq!(at(0), "1970-01-01T00:00:00Z");
    assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(at(1_796_329_318), "2026-12-03T20:21:58Z");
    assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
}

/// `remove` deletes the file while holding it; a waiter that opened the old file must not end
/// up holding a lock nobody else sees: it moves to the new file, so a third process is kept out.
#[tokio::test]
async fn a_removed_lock_file_is_not_held_twice() {
    let dir = TempDir::new();
    let path = dir.0.join("netns-demo-node-1.lock");
    let held = take(&dir, Mode::Exclusive, Duration::ZERO).await.unwrap();
    // join! polls the waiter first: it opens the old file and finds it locked.
    let (waiter, ()) = tokio::join!(
        take(&dir, Mode::Exclusive, Duration::from_secs(60)),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            held.remove().expect("removing the lock file");
        }
    );
    let waiter = waiter.expect("the waiter gets the lock");
    let (locked, now) = (
        waiter.flock.as_ref().unwrap().metadata().unwrap(),
        std::fs::metadata(&path).expect("the waiter made a new file"),
    );
    assert_eq!((locked.dev(), locked.ino()), (now.dev(), now.ino()));
    let (holders, _, _) = busy(take(&dir, Mode::Exclusive, Duration::ZERO).await);
    assert_eq!(holders.iter().map(|h| h.pid).collect::<Vec<_>>(), [me()]);
    waiter.remove().unwrap();
    assert!(!path.exists(), "removed");
}

#[tokio::test]
async fn a_shared_lock_never_removes_the_file() {
    let dir = TempDir::new();
    let reader = take(&dir, Mode::Shared, Duration::ZERO).await.unwrap();
    let path = reader.path().to_path_buf();
    reader.remove().unwrap();
    assert!(path.exists(), "a reader removed the lock file");
}

#[tokio::test]
async fn an_unusable_run_directory_is_one_clear_error() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.0.parent().unwrap()).unwrap();
    std::fs::write(&dir.0, "a file where the run directory should be").unwrap();
    let err = take(&dir, Mode::Exclusive, Duration::ZERO)
        .await
        .expect_err("no directory, no lock");
    // As the CLI prints it: the chain of sources too.
    let message = format!("{:#}", anyhow::Error::from(err));
    let path = dir.0.join("netns-demo-node-1.lock");
    assert!(
        message.starts_with(&format!("lock file {}: ", path.display())),
        "{message}"
    );
    assert_eq!(message.matches("os error").count(), 1, "{message}");
}
