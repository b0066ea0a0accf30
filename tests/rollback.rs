//! Rollback through the CLI, on a lab host: a failed apply puts the host back as it was (checked
//! with `ip -j` / `bridge -j` dumps taken before and after, not with netplan-rs itself);
//! `--no-rollback` leaves it and `netplan-rs rollback` restores it; an apply killed with SIGKILL
//! half-way leaves its before-image, which `rollback` restores.
//!
//! The failure is a real kernel refusal: the file claims a 9000-byte underlay, the lab's `eth0`
//! still has 1500, so the vxlan device's MTU update fails with EINVAL after the bridge, veths
//! and a new container were already changed.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24, interface: eth0 }
  node-2: { underlay: 192.168.31.192/24, interface: eth0 }
networks:
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
  local: { driver: bridge, subnet: 192.168.200.0/24, nat: true }
containers:
  docker1: { host: node-1, network: overlay, address: 172.18.10.2 }
  web: { host: node-1, network: local, ports: [\"8080:80/tcp\"] }
  docker2: { host: node-2, network: overlay, address: 172.18.20.2 }
";

/// The base file, changed so that applying it fails half-way on node-1: a bigger underlay MTU
/// (every overlay link's MTU changes; the kernel refuses the vxlan's), a container more, the
/// published port moved.
fn failing() -> String {
    BASE.replace("interface: eth0 }", "interface: eth0, mtu: 9000 }")
        .replace("8080:80/tcp", "9090:80/tcp")
        .replace(
            "  docker2:",
            "  docker3: { host: node-1, network: overlay, address: 172.18.10.3 }\n  docker2:",
        )
}

/// `key` removed from every object of a JSON tree.
fn strip(value: &mut Value, drop: &dyn Fn(&str) -> bool) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !drop(k));
            map.values_mut().for_each(|v| strip(v, drop));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip(v, drop)),
        _ => {}
    }
}

/// What changes when an identical object is made again, or with time: indices, counters,
/// timers, lifetimes, carrier state, nftables handles.
fn volatile(key: &str) -> bool {
    matches!(
        key,
        "ifindex"
            | "link_index"
            | "link_netnsid"
            | "stats"
            | "stats64"
            | "operstate"
            | "handle"
            | "preferred_life_time"
            | "valid_life_time"
            | "carrier_changes"
            | "carrier_up_count"
            | "carrier_down_count"
            | "info_slave_data"
            | "promiscuity"
            | "flags"
            | "expires"
            | "tentative"
    ) || key.ends_with("_timer")
}

/// Everything observable about one namespace, normalised: links, addresses (but IPv6
/// link-local ones, which the kernel makes), main-table routes, permanent neighbours, FDB
/// entries with a remote, the nftables ruleset.
fn dump(ns: &str) -> Value {
    let mut links = Value::Array(ip_json(ns, &["-d", "link", "show"]));
    let mut addrs: Vec<Value> = ip_json(ns, &["addr", "show"]);
    for a in &mut addrs {
        if let Some(info) = a.get_mut("addr_info").and_then(Value::as_array_mut) {
            info.retain(|i| i["scope"] != "link");
        }
    }
    let mut routes = Value::Array(
        ip_json(ns, &["route", "show"])
            .into_iter()
            .chain(ip_json(ns, &["-6", "route", "show"]))
            .filter(|r| !r["dst"].as_str().unwrap_or("").starts_with("fe80"))
            .collect(),
    );
    let mut neigh = Value::Array(ip_json(ns, &["neigh", "show", "nud", "permanent"]));
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "bridge", "-j", "fdb", "show"])
        .output()
        .expect("bridge fdb");
    let fdb: Vec<Value> = serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.get("dst").is_some())
        .collect();
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-j", "list", "ruleset"])
        .output()
        .expect("nft");
    let mut nft: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut addrs = Value::Array(addrs);
    for v in [&mut links, &mut addrs, &mut routes, &mut neigh, &mut nft] {
        strip(v, &volatile);
    }
    let mut links_sorted = links.as_array().cloned().unwrap_or_default();
    links_sorted.sort_by_key(|l| l["ifname"].to_string());
    let mut addrs_sorted = addrs.as_array().cloned().unwrap_or_default();
    addrs_sorted.sort_by_key(|l| l["ifname"].to_string());
    serde_json::json!({
        "links": links_sorted,
        "addresses": addrs_sorted,
        "routes": routes,
        "neighbours": neigh,
        "fdb": fdb,
        "nft": nft,
    })
}

/// The host's namespace and its containers', by name, plus the host's IPv4 forwarding.
fn host_dump(lab: &Lab, host: &str) -> Value {
    let mut spaces = vec![lab.host_ns(host)];
    spaces.extend(lab.container_namespaces(host));
    spaces.sort();
    let forward = run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.host_ns(host),
            "sysctl",
            "-n",
            "net.ipv4.ip_forward",
        ],
    );
    let mut all = serde_json::Map::new();
    for ns in spaces {
        all.insert(ns.clone(), dump(&ns));
    }
    all.insert("ip_forward".into(), Value::String(forward.trim().into()));
    Value::Object(all)
}

/// Wait (with a deadline) until the host's dump equals `before`; the first difference if not.
fn assert_as_before(lab: &Lab, host: &str, before: &Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = host_dump(lab, host);
        if now == *before {
            return;
        }
        if Instant::now() > deadline {
            let before = serde_json::to_string_pretty(before).unwrap();
            let now = serde_json::to_string_pretty(&now).unwrap();
            let diff: Vec<String> = before
                .lines()
                .zip(now.lines())
                .filter(|(a, b)| a != b)
                .take(10)
                .map(|(a, b)| format!("before {a}\n   now {b}"))
                .collect();
            panic!("the host is not as it was:\n{}", diff.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn setup(tag: &str) -> (Lab, String, Value) {
    let base = temp_topology(&format!("rb{tag}"), BASE);
    let lab = Lab::new(&format!("rb{tag}"), &base);
    lab.up();
    lab.wait_settled();
    let failing = temp_topology(&format!("rb{tag}f"), &failing());
    let before = host_dump(&lab, "node-1");
    (lab, failing.display().to_string(), before)
}

fn apply(lab: &Lab, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "apply",
        file,
        "--lab",
        &lab.name,
        "--host",
        "node-1",
        "--auto-approve",
    ];
    args.extend_from_slice(extra);
    np(&args)
}

fn before_images(lab: &Lab) -> Vec<String> {
    let dir = std::path::Path::new("/run/netplan-rs/journal");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&format!("netns-{}-", lab.name)) && n.ends_with(".before.json"))
        .collect()
}

#[test]
fn a_failed_apply_rolls_back_and_the_host_is_as_it_was() {
    let (lab, failing, before) = setup("f");
    let out = apply(&lab, &failing, &[]);
    let err = stderr(&out);
    eprintln!("{}{err}", stdout(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed at step"), "{err}");
    assert!(err.contains("Rolled back: the host is as it was"), "{err}");
    // Something was applied before the failure (else this proves nothing).
    assert!(stdout(&out).contains(": created"), "nothing was applied");
    assert_as_before(&lab, "node-1", &before);
    assert_eq!(before_images(&lab), Vec::<String>::new());
    lab.assert_no_changes("node-1");
}

#[test]
fn no_rollback_leaves_the_host_and_rollback_restores_it() {
    let (lab, failing, before) = setup("n");
    let out = apply(&lab, &failing, &["--no-rollback"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Nothing was rolled back"), "{err}");
    assert_ne!(host_dump(&lab, "node-1"), before, "nothing was applied");
    assert_eq!(before_images(&lab).len(), 1);
    // plan says an apply did not finish and how to go back.
    let plan = lab.on_host("plan", "node-1", &[]);
    assert!(
        stderr(&plan).contains("did not finish; `netplan-rs rollback`"),
        "{}",
        stderr(&plan)
    );
    let back = lab.on_host("rollback", "node-1", &["--auto-approve"]);
    let text = stdout(&back);
    eprintln!("{text}{}", stderr(&back));
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    assert!(text.contains("Rolling back the apply started"), "{text}");
    assert!(
        text.contains("Rolled back: the host is as it was"),
        "{text}"
    );
    assert_as_before(&lab, "node-1", &before);
    assert_eq!(before_images(&lab), Vec::<String>::new());
    let again = lab.on_host("rollback", "node-1", &["--auto-approve"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(stdout(&again).contains("Nothing to roll back"));
    lab.assert_no_changes("node-1");
}

#[test]
fn an_apply_killed_half_way_is_rolled_back_by_the_next_run() {
    // Many containers: the kill lands while later waves are still to come.
    let (lab, _, before) = setup("k");
    let mut yaml = BASE.to_string();
    for i in 0..60 {
        yaml.push_str(&format!("  k{i}: {{ host: node-1, network: local }}\n"));
    }
    let big = temp_topology("rbkbig", &yaml);
    let mut child = Command::new(bin())
        .args([
            "apply",
            big.to_str().unwrap(),
            "--lab",
            &lab.name,
            "--host",
            "node-1",
            "--auto-approve",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // The first applied step: the before-image is on disk, the kernel half-changed.
    for line in lines.by_ref() {
        if line.expect("line").ends_with(": created") {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), None, "killed by a signal");
    assert_eq!(before_images(&lab).len(), 1, "the before-image is left");
    assert_ne!(
        host_dump(&lab, "node-1"),
        before,
        "the kill left nothing to undo"
    );
    let back = lab.on_host("rollback", "node-1", &["--auto-approve"]);
    eprintln!("{}{}", stdout(&back), stderr(&back));
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    assert_as_before(&lab, "node-1", &before);
    lab.assert_no_changes("node-1");
}
