//! Try and revert (`apply --confirm-timeout`, `netplan-rs confirm`) on the real kernel.
//!
//! Each test builds its own one-host lab (prefix `npc`, run directory of its own through
//! `NETPLAN_RS_RUN_DIR`), then tries a change to node-1 (adding a container; for `no` and the
//! signals, one that also deletes a container and changes the bridge's MTU). Confirmed by
//! `netplan-rs confirm` from another process or by `yes` typed on a pseudo-terminal, the change
//! stays and the rollback journal is gone; not confirmed in time, rejected with `no`, or
//! interrupted by SIGTERM or SIGINT, node-1 is as it was before (links, addresses, routes and
//! namespaces compared with `ip -j`). The tests wait for the apply to announce that it waits
//! (its pending file) and for output lines, with deadlines, never for a fixed time.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Generous: a loaded 2-core machine; only reached when something hangs.
const DEADLINE: Duration = Duration::from_secs(120);

const BEFORE: &str = "\
version: 1
hosts:
  node-1: { underlay: 10.78.0.1/24, interface: eth0 }
networks:
  local: { driver: bridge, subnet: 192.168.210.0/24, gateway: 192.168.210.1 }
containers:
  c1: { host: node-1, network: local, address: 192.168.210.11 }
";

/// The change tried: a second container on node-1.
fn after_yaml() -> String {
    format!("{BEFORE}  c2: {{ host: node-1, network: local, address: 192.168.210.12 }}\n")
}

/// A change that deletes, updates and creates: c1 goes, the bridge's MTU changes, c2 comes.
fn swap_yaml() -> String {
    let without_c1 = BEFORE.replace(
        "  c1: { host: node-1, network: local, address: 192.168.210.11 }\n",
        "",
    );
    format!(
        "{}  c2: {{ host: node-1, network: local, address: 192.168.210.12 }}\n",
        without_c1.replace(
            "gateway: 192.168.210.1 }",
            "gateway: 192.168.210.1, mtu: 1400 }"
        )
    )
}

/// A lab of its own (up with [`BEFORE`]), the tried files beside it (adding c2, or
/// [`swap_yaml`]), and a run directory.
struct Fixture {
    lab: Lab,
    after: PathBuf,
    swap: PathBuf,
    run_dir: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        must_root();
        let lab = Lab {
            name: format!("npc{}{tag}", std::process::id() % 100_000),
            file: temp_topology(&format!("npc{tag}-before"), BEFORE),
        };
        let after = temp_topology(&format!("npc{tag}-after"), &after_yaml());
        let swap = temp_topology(&format!("npc{tag}-swap"), &swap_yaml());
        let run_dir = std::env::temp_dir().join(format!("npc-run-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        let fx = Fixture {
            lab,
            after,
            swap,
            run_dir,
        };
        let file = fx.lab.file_str();
        let out = fx.run(&["lab", "up", &file, "--lab", &fx.lab.name]);
        assert!(out.status.success(), "lab up failed");
        fx
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).env("NETPLAN_RS_RUN_DIR", &self.run_dir);
        cmd
    }

    /// Run netplan-rs to its end with this fixture's run directory.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("running netplan-rs");
        eprintln!(
            "$ netplan-rs {}\n[exit {:?}]\n{}{}",
            args.join(" "),
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        out
    }

    fn host_ns(&self) -> String {
        self.lab.host_ns("node-1")
    }

    /// `apply AFTER --lab L --host node-1 --auto-approve --confirm-timeout SECS`, running.
    fn try_apply(&self, secs: &str, stdin: Stdio) -> Running {
        self.try_file(&self.after, secs, stdin)
    }

    /// `apply FILE --lab L --host node-1 --auto-approve --confirm-timeout SECS`, running.
    fn try_file(&self, file: &Path, secs: &str, stdin: Stdio) -> Running {
        self.try_with(file, secs, stdin, &["--auto-approve"])
    }

    /// `apply FILE --lab L --host node-1 --confirm-timeout SECS [extra...]`, running.
    fn try_with(&self, file: &Path, secs: &str, stdin: Stdio, extra: &[&str]) -> Running {
        let after = file.display().to_string();
        let mut args = vec![
            "apply",
            &after,
            "--lab",
            &self.lab.name,
            "--host",
            "node-1",
            "--confirm-timeout",
            secs,
        ];
        args.extend_from_slice(extra);
        Running::spawn(self.command(&args), stdin)
    }

    /// `confirm --lab L --host node-1`.
    fn confirm(&self) -> Output {
        self.run(&["confirm", "--lab", &self.lab.name, "--host", "node-1"])
    }

    /// Files in `<run dir>/<sub>` about node-1 (named `<host id>.<mark>...`).
    fn host_files(&self, sub: &str) -> Vec<String> {
        let prefix = format!("netns-{}.", self.host_ns());
        std::fs::read_dir(self.run_dir.join(sub))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until the apply announced that it waits for a confirmation.
    fn wait_pending(&self, run: &mut Running) {
        let start = Instant::now();
        while !self
            .host_files("confirm")
            .iter()
            .any(|f| f.ends_with(".pending"))
        {
            if let Ok(Some(status)) = run.child.try_wait() {
                panic!("apply ended ({status}) before it waited for a confirmation");
            }
            assert!(start.elapsed() < DEADLINE, "no pending file in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// node-1 as `ip -j` sees it: its namespace and those of its containers, each with its links
    /// (name, kind, master, MTU, MAC, alias, up), addresses and routes; timers and counters left
    /// out, since they move on their own.
    fn snapshot(&self) -> Vec<(String, Value)> {
        let mut namespaces = vec![self.host_ns()];
        namespaces.extend(self.lab.container_namespaces("node-1"));
        namespaces.sort();
        namespaces
            .into_iter()
            .map(|ns| {
                let links: Vec<Value> = ip_json(&ns, &["link", "show"])
                    .iter()
                    .map(|l| {
                        serde_json::json!([
                            l["ifname"],
                            l["linkinfo"]["info_kind"],
                            l["master"],
                            l["mtu"],
                            l["address"],
                            l["ifalias"],
                            l["flags"]
                                .as_array()
                                .is_some_and(|f| f.iter().any(|x| x == "UP")),
                        ])
                    })
                    .collect();
                let addrs: Vec<Value> = ip_json(&ns, &["addr", "show"])
                    .iter()
                    .flat_map(|l| {
                        let name = l["ifname"].clone();
                        l["addr_info"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|a| a["scope"] != "link")
                            .map(move |a| serde_json::json!([name, a["local"], a["prefixlen"]]))
                    })
                    .collect();
                let routes = ip_json(&ns, &["route", "show", "table", "all"]);
                let mut routes: Vec<Value> = routes
                    .into_iter()
                    .filter(|r| r["table"] != "local")
                    .collect();
                // The kernel lists routes of one prefix in the order they were made.
                routes.sort_by_key(|r| r.to_string());
                (
                    ns,
                    serde_json::json!({"links": links, "addrs": addrs, "routes": routes}),
                )
            })
            .collect()
    }

    fn c2_exists(&self) -> bool {
        netns_exists(&self.lab.container_ns("node-1", "c2"))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.run_dir);
        let _ = std::fs::remove_file(&self.after);
        let _ = std::fs::remove_file(&self.swap);
    }
}

/// netplan-rs running, its stdout read line by line; killed on drop if it is still running.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut cmd: Command, stdin: Stdio) -> Running {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting netplan-rs");
        let out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        });
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            stderr: Some(stderr),
            seen: Vec::new(),
        }
    }

    /// Take stdout lines until one contains `text`.
    fn wait_line(&mut self, text: &str) {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no line with {text:?} in time"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("output ended without {text:?}:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Wait for the exit: (exit code, stdout, stderr).
    fn finish(mut self) -> (Option<i32>, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for netplan-rs") {
                break status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "netplan-rs did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        let stderr = self.stderr.take().unwrap().join().expect("stderr thread");
        let stdout = self.seen.join("\n");
        eprintln!("[exit {:?}]\n{stdout}\n{stderr}", status.code());
        (status.code(), stdout, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failing test leaves no apply waiting on the lab (it holds the host's lock).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn confirmed_from_another_process_the_change_stays() {
    let fx = Fixture::new("ok");
    let mut run = fx.try_apply("600", Stdio::null());
    fx.wait_pending(&mut run);
    // While it waits, the way back is kept: the before-image in the journal.
    let journal = fx.host_files("journal");
    assert!(
        journal.iter().any(|f| f.ends_with(".before.json")),
        "{journal:?}"
    );
    let hint = format!(
        "run `netplan-rs confirm --lab {} --host node-1` from another shell",
        fx.lab.name
    );
    run.wait_line(&hint);
    let out = fx.confirm();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains(&format!(
            "Confirmed the apply on simulated host node-1 of lab {} (pid {}",
            fx.lab.name,
            run.child.id()
        )),
        "{said}"
    );
    assert!(said.contains("The change stays"), "{said}");
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Confirmed by `netplan-rs confirm`: the change stays."),
        "{stdout}"
    );
    // The change is there (independent reader), the plan of the tried file is empty, and
    // nothing of the transaction is left: no journal, no pending or confirmed file.
    assert!(fx.c2_exists());
    let c2 = fx.lab.container_ns("node-1", "c2");
    let addrs = ip_json(&c2, &["-4", "addr", "show", "dev", "eth0"]);
    assert_eq!(addrs[0]["addr_info"][0]["local"], "192.168.210.12");
    assert_eq!(fx.host_files("journal"), Vec::<String>::new());
    assert_eq!(fx.host_files("confirm"), Vec::<String>::new());
    // Nothing waits any more.
    let out = fx.confirm();
    assert_eq!(out.status.code(), Some(1));
    // A try with nothing to change has nothing to wait for.
    let (code, stdout, stderr) = fx.try_apply("600", Stdio::null()).finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Apply complete! Nothing to do."),
        "{stdout}"
    );
    assert!(!stdout.contains("The change stays only if"), "{stdout}");
    assert_eq!(fx.host_files("confirm"), Vec::<String>::new());
}

#[test]
fn confirm_with_nothing_waiting_fails_and_names_the_host() {
    let fx = Fixture::new("none");
    let out = fx.confirm();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "Error: no apply is waiting for confirmation on simulated host node-1 of lab {}",
            fx.lab.name
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn yes_typed_on_the_terminal_confirms() {
    let fx = Fixture::new("tty");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut master = std::fs::File::from(pty.master);
    // Without --auto-approve: the first `yes` approves the plan, as for any apply (typed
    // ahead: the terminal hands out one line per read), and the wait reads the lines after it.
    let mut run = fx.try_with(&fx.after, "600", Stdio::from(pty.slave), &[]);
    master.write_all(b"yes\n").expect("typing");
    run.wait_line("type 'yes' here");
    // Anything else is no answer: the apply says what it accepts and keeps waiting.
    master.write_all(b"maybe\n").expect("typing");
    run.wait_line("Type 'yes' to keep the change or 'no' to roll it back now");
    master.write_all(b"yes\n").expect("typing");
    let (code, stdout, stderr) = run.finish();
    drop(master);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Confirmed on the terminal: the change stays."),
        "{stdout}"
    );
    assert!(fx.c2_exists());
    assert_eq!(fx.host_files("journal"), Vec::<String>::new());
    assert_eq!(fx.host_files("confirm"), Vec::<String>::new());
}

/// Bad values are refused before anything is read or changed.
#[test]
fn the_timeout_is_checked() {
    for (value, message) in [
        ("0", "must be between 1 and 3600 seconds (got 0)"),
        ("3601", "must be between 1 and 3600 seconds (got 3601)"),
        ("soon", "\"soon\" is not a whole number of seconds"),
    ] {
        let out = np(&[
            "apply",
            "no-such-file.yaml",
            "--confirm-timeout",
            value,
            "--auto-approve",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let text = stderr(&out);
        assert!(text.contains("--confirm-timeout"), "{text}");
        assert!(text.contains(message), "{text}");
    }
}

/// A fake pending file of a waiter (the test process itself when `alive`).
fn fake_pending(run_dir: &Path, mark: &str, describe: &str, alive: bool) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let ticks: u64 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let record = serde_json::json!({
        "version": 1,
        "pid": std::process::id(),
        "start_ticks": if alive { ticks } else { ticks + 1 },
        "command": format!("netplan-rs apply {describe}.yaml"),
        "describe": describe,
        "mark": mark,
        "deadline": 4_000_000_000u64,
    });
    let dir = run_dir.join("confirm");
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("host.{}.pending", mark.replace([' ', '='], "_"));
    std::fs::write(dir.join(name), record.to_string()).unwrap();
}

/// On a real host without a file, `confirm` cannot tell scopes apart: it lists them. A waiter
/// whose process is gone is stale: reported, removed, and not confirmed. No kernel involved.
#[test]
fn several_waiters_are_listed_and_stale_ones_removed() {
    let run_dir = std::env::temp_dir().join(format!("npc-run-{}-list", std::process::id()));
    let _ = std::fs::remove_dir_all(&run_dir);
    let confirm_cmd = |file: Option<&Path>| {
        let mut cmd = Command::new(bin());
        cmd.arg("confirm").env("NETPLAN_RS_RUN_DIR", &run_dir);
        if let Some(file) = file {
            cmd.arg(file);
        }
        cmd
    };
    let confirm = |file: Option<&Path>| {
        let out = confirm_cmd(file).output().unwrap();
        eprintln!(
            "[exit {:?}]\n{}{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        out
    };
    let scope_file = |scope: &str| {
        temp_topology(
            &format!("npc-scope-{scope}"),
            &format!(
                "version: 1\nname: {scope}\nhosts:\n  h: {{ underlay: 10.78.9.1/24, interface: eth0 }}\n\
                 networks:\n  n: {{ driver: bridge, subnet: 192.168.211.0/24 }}\ncontainers: {{}}\n"
            ),
        )
    };
    let out = confirm(None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Error: no apply is waiting for confirmation on this host"));

    fake_pending(&run_dir, "netplan-rs scope=a", "scope-a", true);
    fake_pending(&run_dir, "netplan-rs scope=b", "scope-b", true);
    fake_pending(&run_dir, "netplan-rs scope=c", "scope-c", false);
    // The file names the scope: only scope c's (stale) waiter is looked at.
    let file_c = scope_file("c");
    let out = confirm(Some(&file_c));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("the apply that waited for confirmation on scope-c"),
        "{text}"
    );
    assert!(text.contains("is gone; removed its stale file"), "{text}");
    assert!(text.contains("(only a stale file, see above)"), "{text}");
    fake_pending(&run_dir, "netplan-rs scope=c", "scope-c", false);
    let out = confirm(None);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("2 applies are waiting for confirmation on this host"),
        "{text}"
    );
    assert!(text.contains("netplan-rs apply scope-a.yaml"), "{text}");
    assert!(text.contains("netplan-rs apply scope-b.yaml"), "{text}");
    assert!(
        text.contains("the apply that waited for confirmation on scope-c"),
        "{text}"
    );
    assert!(text.contains("is gone; removed its stale file"), "{text}");
    let left: Vec<String> = std::fs::read_dir(run_dir.join("confirm"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.iter().any(|f| f.contains("scope_c")), "{left:?}");

    // Scope a's file confirms scope a's waiter; the test plays the waiter and acknowledges.
    let file_a = scope_file("a");
    let mut child = confirm_cmd(Some(&file_a))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let confirmed = run_dir.join("confirm/host.netplan-rs_scope_a.confirmed");
    let start = Instant::now();
    while !confirmed.exists() {
        assert!(start.elapsed() < DEADLINE, "scope a was never confirmed");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("confirm ended ({status}) without confirming");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_file(&confirmed).unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "[exit {:?}]\n{}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Confirmed the apply on scope-a"));
    assert!(stdout(&out).contains("The change stays: the apply has taken the confirmation."));
    assert!(
        run_dir
            .join("confirm/host.netplan-rs_scope_b.pending")
            .exists()
    );
    for file in [file_a, file_c] {
        let _ = std::fs::remove_file(file);
    }
    let _ = std::fs::remove_dir_all(&run_dir);
}

/// What a rolled-back try must leave: exit `code`, the reason, the rollback's report, node-1
/// exactly as before, and no transaction files.
fn assert_rolled_back(
    fx: &Fixture,
    before: &[(String, Value)],
    (code, _stdout, stderr): (Option<i32>, String, String),
    expected_code: i32,
    reason: &str,
) {
    assert_eq!(code, Some(expected_code), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(reason) && l.ends_with(": rolling back.")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Rolled back: the host is as it was"),
        "{stderr}"
    );
    assert!(!fx.c2_exists(), "the tried container is still there");
    assert_eq!(fx.snapshot(), before, "node-1 differs from before the try");
    assert_eq!(fx.host_files("journal"), Vec::<String>::new());
    assert_eq!(fx.host_files("confirm"), Vec::<String>::new());
    fx.lab.assert_no_changes("node-1");
}

#[test]
fn not_confirmed_in_time_the_change_is_rolled_back() {
    let fx = Fixture::new("late");
    let before = fx.snapshot();
    // Without a terminal, typed input does not count: only `netplan-rs confirm` confirms.
    let mut run = fx.try_apply("2", Stdio::piped());
    run.wait_line("The change stays only if it is confirmed within 2 s (until ");
    let mut input = run.child.stdin.take().expect("stdin");
    input.write_all(b"yes\n").expect("writing stdin");
    // Ctrl-Z does not stop the clock: a stopped apply would never roll back.
    // SAFETY: kill(2) on our own child, not reaped yet (so the pid is still its).
    let rc = unsafe { libc::kill(run.child.id() as i32, libc::SIGTSTP) };
    assert_eq!(rc, 0);
    let finished = run.finish();
    assert_rolled_back(&fx, &before, finished, 1, "Not confirmed within 2 s");
    // The deadline decided: a late `confirm` finds nothing.
    assert_eq!(fx.confirm().status.code(), Some(1));
}

#[test]
fn no_on_the_terminal_sigterm_or_sigint_while_waiting_roll_back() {
    let fx = Fixture::new("undo");
    let before = fx.snapshot();

    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut master = std::fs::File::from(pty.master);
    let mut run = fx.try_file(&fx.swap, "600", Stdio::from(pty.slave));
    run.wait_line("type 'yes' here");
    // The change is in place while it waits: c1 gone, the bridge's MTU changed, c2 there.
    assert!(fx.c2_exists());
    assert!(!netns_exists(&fx.lab.container_ns("node-1", "c1")));
    assert_ne!(fx.snapshot(), before);
    master.write_all(b"no\n").expect("typing");
    let finished = run.finish();
    drop(master);
    assert_rolled_back(&fx, &before, finished, 1, "Rejected on the terminal");

    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut run = fx.try_file(&fx.swap, "600", Stdio::null());
        fx.wait_pending(&mut run);
        // SAFETY: kill(2) on our own child, not reaped yet (so the pid is still its).
        let rc = unsafe { libc::kill(run.child.id() as i32, signal) };
        assert_eq!(rc, 0);
        let finished = run.finish();
        assert_rolled_back(
            &fx,
            &before,
            finished,
            128 + signal,
            &format!("Interrupted by {name} while waiting for confirmation"),
        );
    }
}

/// The change cut the operator's SSH session: the terminal hangs up (SIGHUP), and the apply
/// must go on waiting, so that the operator can reconnect and confirm.
#[test]
fn after_a_hang_up_the_waiting_apply_can_still_be_confirmed() {
    let fx = Fixture::new("hup");
    let mut run = fx.try_apply("600", Stdio::null());
    fx.wait_pending(&mut run);
    // SAFETY: kill(2) on our own child, not reaped yet (so the pid is still its).
    let rc = unsafe { libc::kill(run.child.id() as i32, libc::SIGHUP) };
    assert_eq!(rc, 0);
    let out = fx.confirm();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, stdout, stderr) = run.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Confirmed by `netplan-rs confirm`: the change stays."),
        "{stdout}"
    );
    assert!(fx.c2_exists());
}

/// When the apply cannot announce its wait (here `<run dir>/confirm` is a file, not a
/// directory), nobody could confirm: the change is rolled back at once.
#[test]
fn a_wait_nobody_could_confirm_rolls_back_at_once() {
    let fx = Fixture::new("nowait");
    let before = fx.snapshot();
    std::fs::write(fx.run_dir.join("confirm"), "not a directory").unwrap();
    let run = fx.try_apply("600", Stdio::null());
    let finished = run.finish();
    let _ = std::fs::remove_file(fx.run_dir.join("confirm"));
    assert_rolled_back(
        &fx,
        &before,
        finished,
        1,
        "Cannot wait for a confirmation (announcing the wait in the run directory",
    );
}
