//! SIGKILL at many points of `apply`, `destroy`, `lab up` and `lab down`, on the real kernel:
//! one more run of the same command always converges, nothing netplan-rs created is ever
//! reported as unowned, and `lab down` leaves no namespace of the lab behind.
//!
//! Kill instants are spread over the duration of an uninterrupted run of the same command
//! (measured first, in this process), so kills land in every phase: namespace creation, links,
//! addresses, routes, neighbour/FDB entries, and the same phases of teardown. How far each
//! killed run got is read from the progress lines it printed, and the test checks that the
//! kills did spread (the interval of a kill is fault injection, not a wait for a condition).

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONTAINERS: usize = 24;
const TRIALS: usize = 10;

/// Two hosts, a bridged VXLAN overlay and a local bridge; node-1 gets most containers (so its
/// apply has many namespaces, veths, addresses, routes), node-2 two (neighbour and FDB entries
/// on node-1).
fn topology() -> String {
    let mut yaml = String::from(
        "version: 1\nhosts:\n  node-1: { underlay: 192.168.31.183/24, interface: enp0s5 }\n  \
         node-2: { underlay: 192.168.31.192/24, interface: enp0s5 }\nnetworks:\n  \
         overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }\n  \
         local: { driver: bridge, subnet: 192.168.200.0/24 }\ncontainers:\n",
    );
    for i in 0..CONTAINERS {
        let network = if i % 2 == 0 { "overlay" } else { "local" };
        yaml.push_str(&format!("  c{i}: {{ host: node-1, network: {network} }}\n"));
    }
    yaml.push_str(
        "  r0: { host: node-2, network: overlay }\n  r1: { host: node-2, network: overlay }\n",
    );
    yaml
}

/// A running netplan-rs whose stdout lines are collected.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// netplan-rs `args` with stdout piped (stderr discarded).
fn launch(args: &[String]) -> Child {
    Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning netplan-rs")
}

fn spawn(args: &[String]) -> Running {
    let mut child = launch(args);
    let stdout = child.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Running {
        child,
        lines,
        reader: Some(reader),
    }
}

impl Running {
    /// SIGKILL after `after` (the injected fault's instant, not a wait for a condition; a run
    /// that ended before is simply reaped); the number of progress lines ("+ ...: created" and
    /// the like) printed before.
    fn kill_after(mut self, after: Duration) -> usize {
        std::thread::sleep(after);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| is_progress(l)).count()
    }
}

fn is_progress(line: &str) -> bool {
    [": created", ": destroyed", ": updated", ": replaced"]
        .iter()
        .any(|s| line.ends_with(s))
}

/// One uninterrupted run, which must succeed: when it started executing (its plan summary
/// line, "Plan: ..." or the lab's first host line; zero when it prints none) and when it ended.
fn timed(args: &[String]) -> (Duration, Duration) {
    let start = Instant::now();
    let mut child = launch(args);
    let mut executing = None;
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if executing.is_none() && (line.starts_with("Plan: ") || line.starts_with("Lab ")) {
            executing = Some(start.elapsed());
        }
    }
    assert!(child.wait().unwrap().success(), "{args:?} failed");
    (executing.unwrap_or_default(), start.elapsed())
}

/// The kill instant of trial `k` of `trials`: spread evenly from just before execution starts
/// to the end of the run.
fn instant((executing, end): (Duration, Duration), k: usize, trials: usize) -> Duration {
    let from = executing.mul_f64(0.9);
    from + (end.saturating_sub(from)).mul_f64(k as f64 / trials as f64)
}

/// One more run must converge without ever calling our own objects unowned; then the plan is
/// empty.
fn converges(lab: &Lab, verb: &str, args: &[String], host: &str) {
    let out = np(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{verb} after a kill failed:\n{text}"
    );
    assert!(
        !text.contains("not managed"),
        "{verb} called ours unowned:\n{text}"
    );
    if verb == "apply" {
        lab.assert_no_changes(host);
    }
}

/// How far a killed run got: its progress lines, and node-1's container namespaces and owned
/// links as `ip` reads them.
type Progress = (usize, usize, usize);

fn progress(lab: &Lab, lines: usize) -> Progress {
    (
        lines,
        lab.container_namespaces("node-1").len(),
        owned_links(&lab.host_ns("node-1")).len(),
    )
}

fn spread(label: &str, progress: &[Progress]) {
    let mut distinct = progress.to_vec();
    distinct.sort();
    distinct.dedup();
    eprintln!("{label}: (progress lines, namespaces, owned links) at each kill: {progress:?}");
    assert!(
        distinct.len() >= 3,
        "{label}: kills did not spread over the run: {progress:?}"
    );
}

#[test]
fn sigkill_during_apply_and_destroy_then_one_more_run_converges() {
    let file = temp_topology("crash", &topology());
    let lab = Lab::new("crash", &file);
    // The simulated hosts, with node-2's containers: node-1 starts empty.
    let only_node2 = temp_topology(
        "crash-base",
        &topology()
            .lines()
            .filter(|l| !l.contains("host: node-1"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let base = Lab {
        name: lab.name.clone(),
        file: only_node2,
    };
    base.up();
    std::mem::forget(base); // `lab` tears the lab down
    let args = |verb: &str| -> Vec<String> {
        vec![
            verb.to_string(),
            lab.file_str(),
            "--lab".into(),
            lab.name.clone(),
            "--host".into(),
            "node-1".into(),
            "--auto-approve".into(),
        ]
    };
    let (apply, destroy) = (args("apply"), args("destroy"));
    let apply_time = timed(&apply);
    let destroy_time = timed(&destroy);

    let mut apply_progress = Vec::new();
    let mut destroy_progress = Vec::new();
    for k in 0..TRIALS {
        // Kill apply at some point of its usual run, from an empty host.
        let lines = spawn(&apply).kill_after(instant(apply_time, k, TRIALS));
        apply_progress.push(progress(&lab, lines));
        converges(&lab, "apply", &apply, "node-1");
        // Kill destroy likewise, from a full host.
        let lines = spawn(&destroy).kill_after(instant(destroy_time, k, TRIALS));
        destroy_progress.push(progress(&lab, lines));
        converges(&lab, "destroy", &destroy, "node-1");
        lab.assert_host_clean("node-1");
    }
    spread("apply", &apply_progress);
    spread("destroy", &destroy_progress);
}

#[test]
fn sigkill_during_lab_up_and_down_then_one_more_run_cleans_up() {
    let file = temp_topology("crashlab", &topology());
    let lab = Lab::new("crashlab", &file);
    let up: Vec<String> = vec![
        "lab".into(),
        "up".into(),
        lab.file_str(),
        "--lab".into(),
        lab.name.clone(),
    ];
    let mut down = up.clone();
    down[1] = "down".into();
    let up_time = timed(&up);
    let down_time = timed(&down);
    let left = || -> Vec<String> {
        netns_list()
            .into_iter()
            .filter(|n| {
                n.starts_with(&format!("{}-", lab.name)) || *n == format!("{}.switch", lab.name)
            })
            .collect()
    };
    let trials = TRIALS / 2;
    for k in 0..trials {
        spawn(&up).kill_after(instant(up_time, k, trials));
        converges(&lab, "lab up", &up, "node-1");
        lab.assert_no_changes("node-1");
        lab.assert_no_changes("node-2");
        spawn(&down).kill_after(instant(down_time, k, trials));
        converges(&lab, "lab down", &down, "node-1");
        assert_eq!(left(), Vec::<String>::new(), "lab down left namespaces");
    }
}
