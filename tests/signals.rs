//! Signals and closed pipes, on real processes and the real kernel.
//!
//! SIGINT/SIGTERM during `lab demo` and `lab up` tear the lab down (exit 130/143, no namespace of
//! the lab left, checked with `ip netns list`); during `apply`/`destroy` they stop the run between
//! waves and report what was applied; a closed stdout ends `plan` and `lab demo` quietly (exit
//! 141, no panic) after the same cleanup as an error; a failed `lab up` removes what it built,
//! or, when the lab was up before, says that `lab down` removes it.
//!
//! The signals are sent when a condition holds (a line was printed, a namespace appeared), never
//! after a sleep. Where the command must not be able to finish before the signal lands, its
//! stdout is a 4 KiB pipe that the test stops reading at the checkpoint: with more than that
//! still to print, the command cannot get past it before the test reads on, after signalling.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Generous: a loaded 2-core machine; only reached when something hangs.
const DEADLINE: Duration = Duration::from_secs(180);

/// A topology of `per_host` containers on `hosts` simulated hosts (1 or 2), on one network.
fn topology(hosts: usize, per_host: usize, network: &str) -> String {
    let mut yaml = format!(
        "version: 1
hosts:
  node-1: {{ underlay: 192.168.87.1/24 }}
  node-2: {{ underlay: 192.168.87.2/24 }}
networks:
  many: {network}
containers:
"
    );
    if per_host == 0 {
        yaml.push_str("  {}\n");
    }
    for h in 1..=hosts {
        for i in 0..per_host {
            yaml.push_str(&format!(
                "  h{h}c{i}: {{ host: node-{h}, network: many }}\n"
            ));
        }
    }
    yaml
}

const BRIDGE: &str = "{ driver: bridge, subnet: 10.89.0.0/16 }";
const VXLAN: &str = "{ driver: vxlan, mode: bridged, vni: 77, subnet: 10.89.0.0/16 }";

/// A lab named with this file's prefix (`hsg`), torn down by the guard whatever happens.
fn lab(tag: &str, yaml: &str) -> Lab {
    must_root();
    let file = temp_topology(&format!("hsg{tag}"), yaml);
    Lab {
        name: format!("hsg{}{tag}", std::process::id() % 100_000),
        file,
    }
}

/// Every namespace of lab `name`, as `ip netns list` sees it.
fn lab_namespaces(name: &str) -> Vec<String> {
    let prefix = format!("{name}-");
    let switch = format!("{name}.switch");
    netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix) || *n == switch)
        .collect()
}

/// Wait until namespace `name` exists. Reads /run/netns directly (no process per poll), so the
/// signal follows the namespace's creation closely.
fn wait_netns(name: &str) {
    let path = std::path::Path::new("/run/netns").join(name);
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "namespace {name} never appeared"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "?",
    }
}

/// netplan-rs running with its stdout on a small pipe that the test reads one line at a time.
struct Running {
    child: Child,
    lines: Receiver<String>,
    reader: JoinHandle<()>,
    stderr: JoinHandle<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let (read, write) = std::io::pipe().expect("pipe");
        // SAFETY: fcntl on a pipe descriptor we own; F_SETPIPE_SZ only sets its capacity (the
        // kernel rounds it up to a page).
        let set = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
        assert!(set > 0, "F_SETPIPE_SZ: {}", std::io::Error::last_os_error());
        let mut child = Command::new(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(write)
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting netplan-rs");
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        });
        // A rendezvous channel and a small buffer: the thread reads at most a few hundred bytes
        // ahead of what the test has taken, so the pipe fills when the test stops taking lines.
        let (tx, lines) = sync_channel(0);
        let reader = std::thread::spawn(move || {
            for line in BufReader::with_capacity(128, read).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            reader,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Take lines until one contains `text`.
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

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child, which is not reaped yet (so the pid is still its).
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Read the rest and wait for the exit: (exit code, stdout lines, stderr).
    fn finish(mut self) -> (Option<i32>, Vec<String>, String) {
        let start = Instant::now();
        loop {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if start.elapsed() > DEADLINE {
                        let _ = self.child.kill();
                        panic!("netplan-rs did not exit in time");
                    }
                }
            }
        }
        let status = self.child.wait().expect("waiting for netplan-rs");
        self.reader.join().expect("reader thread");
        let stderr = self.stderr.join().expect("stderr thread");
        eprintln!(
            "[exit {:?}]\n{}\n{stderr}",
            status.code(),
            self.seen.join("\n")
        );
        (status.code(), self.seen, stderr)
    }
}

/// Where to interrupt: after a line with this text, or once this namespace exists.
enum Checkpoint {
    Line(&'static str),
    Netns(String),
}

fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn sigint_and_sigterm_during_lab_demo_tear_the_lab_down() {
    // Six containers a host: several KiB of plan text per host (so the 4 KiB pipe holds the
    // command at each checkpoint) and a matrix that probes quickly.
    let lab = lab("demo", &topology(2, 6, VXLAN));
    let switch = format!("{}.switch", lab.name);
    let checkpoints = [
        (Checkpoint::Netns(switch), libc::SIGTERM),
        (
            Checkpoint::Line("=== plan for simulated host node-1"),
            libc::SIGINT,
        ),
        (Checkpoint::Line("node-1: applied"), libc::SIGTERM),
        (
            Checkpoint::Line("=== plan for simulated host node-2"),
            libc::SIGINT,
        ),
    ];
    let file = lab.file_str();
    for (checkpoint, signal) in checkpoints {
        let mut run = Running::spawn(&["lab", "demo", &file, "--lab", &lab.name]);
        match &checkpoint {
            Checkpoint::Line(text) => run.wait_line(text),
            Checkpoint::Netns(name) => wait_netns(name),
        }
        run.signal(signal);
        let (code, stdout, stderr) = run.finish();
        assert_eq!(code, Some(128 + signal), "{stderr}");
        assert_no_panic(&stderr);
        let name = signal_name(signal);
        assert!(
            stderr.contains(&format!("Interrupted by {name}")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("Lab {} removed.", lab.name)),
            "{stderr}"
        );
        // It stopped: the connectivity matrix of a finished demo was never printed.
        assert!(
            !stdout.iter().any(|l| l.starts_with("Connectivity in lab")),
            "{stdout:?}"
        );
        assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
    }
}

#[test]
fn sigint_and_sigterm_during_lab_up_tear_the_lab_down() {
    // Forty containers a host: the lab takes long enough after each checkpoint for the signal
    // to land before it is up.
    let lab = lab("up", &topology(2, 40, BRIDGE));
    let file = lab.file_str();
    let checkpoints = [
        (format!("{}.switch", lab.name), libc::SIGINT),
        (lab.host_ns("node-1"), libc::SIGTERM),
        (lab.container_ns("node-1", "h1c0"), libc::SIGINT),
        (lab.container_ns("node-2", "h2c0"), libc::SIGTERM),
    ];
    for (netns, signal) in checkpoints {
        let child = Command::new(bin())
            .args(["lab", "up", &file, "--lab", &lab.name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting lab up");
        wait_netns(&netns);
        // SAFETY: kill(2) on our own, not yet reaped child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = child.wait_with_output().expect("lab up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!(
            "[{netns}, exit {:?}]\n{}{stderr}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(out.status.code(), Some(128 + signal), "{stderr}");
        assert_no_panic(&stderr);
        assert!(
            stderr.contains(&format!("Interrupted by {}", signal_name(signal))),
            "{stderr}"
        );
        assert!(stderr.contains("was torn down"), "{stderr}");
        assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
    }
}

/// The interrupted run's report: "... stopped after wave K of N ..." and "M of T steps were
/// applied": (K, N, M).
fn interruption(stderr: &str, verb: &str) -> (usize, usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.contains(&format!("{verb} stopped after wave")))
        .unwrap_or_else(|| panic!("no interruption report in {stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "wave").expect("wave");
    let done: usize = words[at + 1].parse().expect("K");
    let waves: usize = words[at + 3]
        .trim_end_matches(['.', ','])
        .parse()
        .expect("N");
    let applied = stderr
        .lines()
        .find(|l| l.contains(" applied") && (l.contains(" of ") || l.contains("only step")))
        .expect("applied note");
    let applied: usize = if applied.starts_with("None of") || applied.contains("only step") {
        0
    } else {
        applied
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("M")
    };
    (done, waves, applied)
}

#[test]
fn sigint_during_apply_and_sigterm_during_destroy_stop_between_waves() {
    // 300 containers: the test holds the 4 KiB pipe after the first progress line, and apply
    // has far more than that left to print before its last wave (about 40 KiB of progress in 4
    // waves), so it cannot get there before the signal is caught.
    let lab = lab("ap", &topology(1, 0, BRIDGE));
    let full = temp_topology("hsgapfull", &topology(1, 300, BRIDGE));
    let full = full.display().to_string();
    lab.up();
    let host = ["--lab", lab.name.as_str(), "--host", "node-1"];

    for (verb, signal) in [("apply", libc::SIGINT), ("destroy", libc::SIGTERM)] {
        let mut args = vec![verb, full.as_str()];
        args.extend_from_slice(&host);
        args.push("--auto-approve");
        let mut run = Running::spawn(&args);
        // The blank line after the plan, then the first progress line: the handlers are in
        // place (installed before that blank line).
        let progress = if verb == "apply" {
            ": created"
        } else {
            ": destroyed"
        };
        run.wait_line(progress);
        run.signal(signal);
        let (code, stdout, stderr) = run.finish();
        assert_eq!(code, Some(128 + signal), "{stderr}");
        assert_no_panic(&stderr);
        assert!(
            stderr.contains(&format!("Interrupted by {}", signal_name(signal))),
            "{stderr}"
        );
        let reported = stdout.iter().filter(|l| l.ends_with(progress)).count();
        if verb == "apply" {
            let (done, waves, applied) = interruption(&stderr, verb);
            assert!(
                done >= 1 && done < waves,
                "stopped after wave {done} of {waves}"
            );
            // Every applied step was reported, and nothing else.
            assert_eq!(reported, applied, "{stderr}");
            // Then rolled back (shielded from the signal): no container is left.
            assert!(
                stderr.contains("Rolled back: the host is as it was"),
                "{stderr}"
            );
            assert_eq!(lab.container_namespaces("node-1"), Vec::<String>::new());
        } else {
            // Destroying namespaces and the bridge is one wave (nothing orders them): the wave
            // in flight completes, every step is reported, and the exit code still says why
            // it ended.
            assert!(
                stderr.contains("after the last wave: every step was applied"),
                "{stderr}"
            );
            assert_eq!(reported, 301, "{stderr}");
        }
        if verb == "apply" {
            // Steps are left, as the report says.
            let plan = np(&[
                &["plan", full.as_str()][..],
                &host[..],
                &["--detailed-exitcode"],
            ]
            .concat());
            assert_eq!(
                plan.status.code(),
                Some(2),
                "nothing left after an interrupted apply"
            );
        }
        // One more run converges.
        let again = np(&[&[verb, full.as_str()][..], &host[..], &["--auto-approve"]].concat());
        assert_eq!(again.status.code(), Some(0), "second {verb}");
        if verb == "apply" {
            let plan = np(&[
                &["plan", full.as_str()][..],
                &host[..],
                &["--detailed-exitcode"],
            ]
            .concat());
            assert_eq!(
                plan.status.code(),
                Some(0),
                "not converged after the second apply"
            );
        } else {
            lab.assert_host_clean("node-1");
        }
    }
    let down = lab.cmd(&["lab", "down"], &[]);
    assert!(down.status.success());
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
}

#[test]
fn a_closed_stdout_ends_plan_and_lab_demo_quietly_after_cleanup() {
    let lab = lab("pipe", &topology(2, 6, VXLAN));
    let file = lab.file_str();

    // A reader gone before anything was written: the first write fails.
    let (read, write) = std::io::pipe().expect("pipe");
    drop(read);
    let out = Command::new(bin())
        .args(["lab", "demo", &file, "--lab", &lab.name])
        .stdout(write)
        .output()
        .expect("lab demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("[exit {:?}] {stderr}", out.status.code());
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert_no_panic(&stderr);
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());

    // `lab demo | head -3`: the reader closes after three lines, mid-way.
    let run = Running::spawn(&["lab", "demo", &file, "--lab", &lab.name]);
    for _ in 0..3 {
        run.lines.recv_timeout(DEADLINE).expect("a line");
    }
    let Running {
        mut child,
        lines,
        reader,
        stderr,
        ..
    } = run;
    drop(lines);
    reader.join().expect("reader");
    let status = child.wait().expect("lab demo");
    let stderr = stderr.join().expect("stderr");
    eprintln!("[exit {:?}] {stderr}", status.code());
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert_no_panic(&stderr);
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());

    // `plan | head -2` on a lab host with a long plan; then a reader that is gone at once.
    lab.up();
    let big = temp_topology("hsgpipebig", &topology(2, 60, VXLAN));
    let big = big.display().to_string();
    let plan = [
        "plan",
        big.as_str(),
        "--lab",
        lab.name.as_str(),
        "--host",
        "node-1",
    ];
    let run = Running::spawn(&plan);
    for _ in 0..2 {
        run.lines.recv_timeout(DEADLINE).expect("a line");
    }
    let Running {
        mut child,
        lines,
        reader,
        stderr,
        ..
    } = run;
    drop(lines);
    reader.join().expect("reader");
    let status = child.wait().expect("plan");
    let stderr = stderr.join().expect("stderr");
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert_no_panic(&stderr);

    let (read, write) = std::io::pipe().expect("pipe");
    drop(read);
    let out = Command::new(bin())
        .args(plan)
        .stdout(write)
        .output()
        .expect("plan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert_no_panic(&stderr);
    // plan changes nothing: the lab is exactly as it was.
    lab.assert_no_changes("node-1");
    let down = lab.cmd(&["lab", "down"], &[]);
    assert!(down.status.success());
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
}

/// A topology whose `lab up` fails deterministically after node-1 is fully built: node-2 has a
/// container in an existing namespace given by a path that is a regular file, not a namespace
/// (a path that does not exist at all would get a stand-in namespace in the lab).
fn failing_topology(not_a_namespace: &str) -> String {
    let mut yaml = topology(1, 5, BRIDGE);
    yaml.push_str(&format!(
        "  late: {{ host: node-2, network: many, netns: {{ path: {not_a_namespace} }} }}\n"
    ));
    yaml
}

#[test]
fn a_failed_lab_up_removes_what_it_built_or_names_lab_down() {
    let missing = std::env::temp_dir()
        .join(format!("hsg{}notns", std::process::id() % 100_000))
        .display()
        .to_string();
    std::fs::write(&missing, "not a namespace").expect("writing the file");
    let lab = lab("fail", &failing_topology(&missing));

    // A new lab: node-1 is built and applied, node-2 fails; nothing of the lab is left.
    let out = lab.cmd(&["lab", "up"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_no_panic(&stderr);
    assert!(stdout(&out).contains("node-1: applied"), "node-1 was built");
    assert!(
        stderr.contains(&missing),
        "the error names the path: {stderr}"
    );
    assert!(
        stderr.contains(&format!("Lab {} was torn down", lab.name)),
        "{stderr}"
    );
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());

    // A lab that was up before: left as it is, with the command that removes it.
    let good = temp_topology("hsgfailgood", &topology(1, 5, BRIDGE));
    let up = np(&["lab", "up", &good.display().to_string(), "--lab", &lab.name]);
    assert!(up.status.success());
    let out = lab.cmd(&["lab", "up"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("was up before this command"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "netplan-rs lab down {} --lab {}",
            lab.file_str(),
            lab.name
        )),
        "{stderr}"
    );
    assert!(netns_exists(&lab.host_ns("node-1")));
    let down = lab.cmd(&["lab", "down"], &[]);
    assert!(down.status.success());
    assert_eq!(lab_namespaces(&lab.name), Vec::<String>::new());
}
