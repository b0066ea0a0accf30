//! A host with many containers, on the real kernel, in a lab: `apply` runs independent steps
//! concurrently (waves, see `src/apply/waves.rs`), so this checks at scale that nothing is lost
//! or misordered by it: 100 containers on one bridge network are created, the progress lines
//! come in plan order, one per step, the kernel holds every container (read back with `ip -j`),
//! traffic flows between containers far apart in the plan, a second plan is empty, and destroy
//! removes everything. The new bridge comes up only after its ports were attached (see
//! `src/apply/bridge_up.rs`), as `ip monitor link` sees it.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONTAINERS: usize = 100;

fn topology(containers: usize) -> String {
    let mut yaml = String::from(
        "version: 1
hosts:
  node-1: { underlay: 192.168.87.1/24 }
networks:
  many: { driver: bridge, subnet: 10.89.0.0/16 }
containers:
",
    );
    if containers == 0 {
        yaml.push_str("  {}\n");
    }
    for i in 0..containers {
        yaml.push_str(&format!("  c{i}: {{ host: node-1, network: many }}\n"));
    }
    yaml
}

/// The IPv4 address (without prefix) of `eth0` in `ns`.
fn eth0_address(ns: &str) -> String {
    let links = ip_json(ns, &["addr", "show", "dev", "eth0"]);
    links
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .find(|a| a["family"] == "inet")
        .and_then(|a| a["local"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no IPv4 address on eth0 in {ns}"))
}

/// `ip monitor link` in a namespace, its lines collected as they come; killed on drop.
struct Monitor {
    ns: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Monitor {
    /// Started, and listening: a marker bridge made after the start has been seen. A marker
    /// made before `ip` has subscribed is never printed, so markers are made until one is.
    fn start(ns: &str) -> Monitor {
        let mut child = Command::new("ip")
            .args(["-n", ns, "monitor", "link"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("ip monitor");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let monitor = Monitor {
            ns: ns.to_string(),
            child,
            lines,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut k = 0;
        while !monitor.mark(&format!("mcstart{k}"), Duration::from_millis(500)) {
            assert!(Instant::now() < deadline, "ip monitor printed no marker");
            k += 1;
        }
        monitor
    }

    /// Make and remove a bridge named `name`; whether the monitor printed it `within` (then
    /// every event before it has been printed too).
    fn mark(&self, name: &str, within: Duration) -> bool {
        run(
            "ip",
            &["-n", &self.ns, "link", "add", name, "type", "bridge"],
        );
        let deadline = Instant::now() + within;
        let needle = format!(": {name}:");
        let seen = loop {
            if self.lines().iter().any(|l| l.contains(&needle)) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        run("ip", &["-n", &self.ns, "link", "del", name]);
        seen
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags of a link event line (`N: NAME: <A,B,C> ...`) when it is about `name`.
fn flags_of<'a>(line: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let (_, rest) = line.split_once(": ")?;
    let (ifname, rest) = rest.split_once(": ")?;
    if ifname.split('@').next() != Some(name) {
        return None;
    }
    let flags = rest.strip_prefix('<')?.split_once('>')?.0;
    Some(flags.split(',').collect())
}

#[test]
fn a_hundred_containers_apply_concurrently_verify_and_destroy() {
    let full = temp_topology("many", &topology(CONTAINERS));
    let empty = temp_topology("many0", &topology(0));
    let lab = Lab::new("mc", &full);
    // The simulated host only (the same host, no containers), then the real apply.
    let up = np(&[
        "lab",
        "up",
        &empty.display().to_string(),
        "--lab",
        &lab.name,
    ]);
    assert!(up.status.success(), "lab up: {}", stdout(&up));

    let plan = lab.on_host("plan", "node-1", &["--json"]);
    let plan: Value = serde_json::from_str(&stdout(&plan)).expect("plan --json");
    let planned: Vec<String> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["address"].as_str().expect("address").to_string())
        .collect();
    assert!(planned.len() >= 4 * CONTAINERS, "{} steps", planned.len());

    let monitor = Monitor::start(&lab.host_ns("node-1"));
    let apply = lab.on_host("apply", "node-1", &["--auto-approve"]);
    let out = stdout(&apply);
    assert_eq!(apply.status.code(), Some(0), "{out}");
    assert!(
        monitor.mark("mcend", Duration::from_secs(30)),
        "ip monitor never printed mcend"
    );
    let events = monitor.lines();
    drop(monitor);
    // One progress line per step, in plan order.
    let progress: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .filter_map(|l| l.strip_suffix(": created"))
        .map(str::to_string)
        .collect();
    assert_eq!(progress, planned);
    assert!(
        out.contains(&format!("{} added, 0 changed, 0 destroyed", planned.len())),
        "{out}"
    );

    // Read back: every container namespace, every host end enslaved to the bridge.
    let host_ns = lab.host_ns("node-1");
    assert_eq!(lab.container_namespaces("node-1").len(), CONTAINERS);
    let links = ip_json(&host_ns, &["link", "show"]);
    let bridge = links
        .iter()
        .find(|l| l["linkinfo"]["info_kind"] == "bridge" || l["ifname"] == "br-many")
        .and_then(|l| l["ifname"].as_str())
        .expect("the network's bridge")
        .to_string();
    let ports = links
        .iter()
        .filter(|l| l["master"].as_str() == Some(bridge.as_str()))
        .count();
    assert_eq!(ports, CONTAINERS, "ports of {bridge}");
    // The bridge came up after every port was attached to it.
    let bridge_up = events
        .iter()
        .position(|l| flags_of(l, &bridge).is_some_and(|f| f.contains(&"UP")))
        .unwrap_or_else(|| panic!("{bridge} never came up: {events:#?}"));
    let attached: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains(&format!(" master {bridge} ")))
        .map(|(i, _)| i)
        .collect();
    let first_seen: std::collections::BTreeSet<&str> = attached
        .iter()
        .filter(|&&i| i < bridge_up)
        .filter_map(|&i| events[i].split(": ").nth(1))
        .filter_map(|name| name.split('@').next())
        .collect();
    assert_eq!(
        first_seen.len(),
        CONTAINERS,
        "ports attached before {bridge} came up (event {bridge_up})"
    );
    let addresses: Vec<String> = (0..CONTAINERS)
        .map(|i| eth0_address(&lab.container_ns("node-1", &format!("c{i}"))))
        .collect();
    let mut unique = addresses.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), CONTAINERS, "addresses not unique");
    // Traffic between containers at both ends and the middle of the plan.
    for (from, to) in [
        (0, CONTAINERS - 1),
        (CONTAINERS - 1, 0),
        (CONTAINERS / 2, 1),
    ] {
        let ns = lab.container_ns("node-1", &format!("c{from}"));
        assert!(ping(&ns, &addresses[to]), "c{from} cannot reach c{to}");
    }

    let again = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    let destroy = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert_eq!(destroy.status.code(), Some(0), "{}", stdout(&destroy));
    let destroyed = stdout(&destroy)
        .lines()
        .filter(|l| l.starts_with("- ") && l.ends_with(": destroyed"))
        .count();
    assert!(destroyed > CONTAINERS, "{destroyed} destroyed");
    assert!(lab.container_namespaces("node-1").is_empty());
    assert!(
        owned_links(&host_ns).is_empty(),
        "{:?}",
        owned_links(&host_ns)
    );
    let _ = std::fs::remove_file(full);
    let _ = std::fs::remove_file(empty);
}
