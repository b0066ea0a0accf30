//! Shared helpers for the integration tests: a lab guard that always tears down, the binary
//! under test, and independent readers of kernel state (`ip -j`, `bridge -j`, `ping`) so the
//! tests never check netplan-rs only with its own reader.

#![allow(dead_code)] // each test file uses a different subset

pub mod golden;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netplan-rs")
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Run netplan-rs with `args`; returns the output (stdout, stderr, status).
pub fn np(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("running netplan-rs");
    eprintln!(
        "$ netplan-rs {}\n[exit {:?}]\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run netplan-rs with `input` on stdin; prints the command and its output like [`np`].
pub fn np_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running netplan-rs");
    let mut stdin = child.stdin.take().expect("stdin");
    // A refused input may close stdin early: a broken pipe here is the binary's business.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().expect("waiting for netplan-rs");
    eprintln!(
        "$ netplan-rs {} < input\n[exit {:?}]\n{}{}",
        args.join(" "),
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Run a tool (ip, bridge) and fail the test when it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -j -n NS <args>` parsed as JSON (an empty output is an empty array).
/// `sysctl -n KEY` inside namespace `ns`, trimmed.
pub fn sysctl(ns: &str, key: &str) -> String {
    run("ip", &["netns", "exec", ns, "sysctl", "-n", key])
        .trim()
        .to_string()
}

pub fn ip_json(ns: &str, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-j", "-d", "-n", ns];
    full.extend_from_slice(args);
    let text = run("ip", &full);
    parse_array(&text)
}

/// `bridge -j -n NS fdb show dev DEV` parsed as JSON.
pub fn fdb_json(ns: &str, dev: &str) -> Vec<Value> {
    let text = run("bridge", &["-j", "-n", ns, "fdb", "show", "dev", dev]);
    parse_array(&text)
}

fn parse_array(text: &str) -> Vec<Value> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str(text) {
        Ok(Value::Array(items)) => items,
        other => panic!("unexpected JSON {other:?} from {text}"),
    }
}

/// One `ping -c COUNT -W 1` from namespace `ns` (IPv4 or IPv6 by the address): whether it got a
/// reply. Panics when `ip netns exec` itself fails (exit 255: the namespace is missing or ping
/// cannot run), so a ping expected to fail cannot pass for an unrelated reason.
fn ping_count(ns: &str, addr: &str, count: &str) -> bool {
    let family = if addr.contains(':') { "-6" } else { "-4" };
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", family, "-c", count, "-W", "1", addr,
        ])
        .output()
        .expect("running ip netns exec ping");
    assert_ne!(
        out.status.code(),
        Some(255),
        "ip netns exec {ns} ping {addr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

/// Exactly one echo request with a 1 s timeout: no retries.
pub fn ping_once(ns: &str, addr: &str) -> bool {
    ping_count(ns, addr, "1")
}

/// Whether `ping` from namespace `ns` to `addr` gets a reply (one try of 1 packet, then one of 2).
pub fn ping(ns: &str, addr: &str) -> bool {
    ping_count(ns, addr, "1") || ping_count(ns, addr, "2")
}

/// Up to `tries` one-packet pings of 1 s each, only to ride out a loaded machine.
pub fn ping_tries(ns: &str, addr: &str, tries: usize) -> bool {
    (0..tries).any(|_| ping_once(ns, addr))
}

/// [`ping`] until it answers or `secs` pass (a fresh bridge's IPv6 addresses can be "tentative"
/// for a moment, which delays the first IPv6 packets).
pub fn ping_within(ns: &str, addr: &str, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if ping(ns, addr) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
    }
}

/// Wait (up to 30 s) until the kernel has finished bringing up the links of `namespaces`, so that
/// the first packet of a test finds the path that a settled host has. The kernel does part of
/// this after `ip link set up` / RTM_NEWLINK has returned, in work items that need the RTNL lock
/// (and so wait behind other namespaces being built or torn down on a loaded machine):
/// - carrier: a link that is up with carrier (`LOWER_UP`) still drops every packet until the
///   link watcher activates its queue (`qdisc` stays `noop`, `operstate` stays `DOWN`); a bridge
///   port forwards only from then on;
/// - a bridge's IPv6 link-local address is made only then, and is "tentative" until the
///   address work item runs, even with `accept_dad = 0`; the kernel solicits neighbours for
///   forwarded IPv6 packets only from a non-tentative link-local address, so an IPv6 packet
///   routed into the bridge before that waits for the next solicitation, 1 s later.
///
/// Checked with `ip -j` (an independent reader). Panics naming what never settled.
pub fn wait_settled(namespaces: &[String]) {
    let start = std::time::Instant::now();
    let deadline = start + std::time::Duration::from_secs(30);
    let mut first: Option<Vec<String>> = None;
    loop {
        let pending: Vec<String> = namespaces.iter().flat_map(|ns| unsettled(ns)).collect();
        if pending.is_empty() {
            // Said in the test's output: how often the race this avoids is really there.
            if let Some(first) = first {
                eprintln!("wait_settled: waited {:?} for {first:?}", start.elapsed());
            }
            return;
        }
        first.get_or_insert(pending.clone());
        assert!(
            std::time::Instant::now() < deadline,
            "links never settled: {pending:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// What is not settled yet in `ns` (see [`wait_settled`]), as "ns/link: reason".
fn unsettled(ns: &str) -> Vec<String> {
    let mut pending = Vec::new();
    let flag = |l: &Value, f: &str| {
        l["flags"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == f))
    };
    let addrs = ip_json(ns, &["-6", "addr", "show"]);
    for link in ip_json(ns, &["link", "show"]) {
        let name = link["ifname"].as_str().unwrap_or_default();
        if !flag(&link, "UP") || !flag(&link, "LOWER_UP") {
            continue;
        }
        if link["qdisc"] == "noop" || link["operstate"] == "DOWN" {
            pending.push(format!("{ns}/{name}: carrier not processed yet"));
            continue;
        }
        // Only bridges with IPv6 on (no `inet6_addr_gen_mode` without it, e.g. below MTU 1280)
        // that make a link-local address.
        let gen_mode = link["inet6_addr_gen_mode"].as_str();
        if link["linkinfo"]["info_kind"] != "bridge" || gen_mode.is_none_or(|m| m == "none") {
            continue;
        }
        let link_local = addrs
            .iter()
            .filter(|a| a["ifname"] == name)
            .flat_map(|a| a["addr_info"].as_array().cloned().unwrap_or_default())
            .find(|i| i["scope"] == "link" && i["family"] == "inet6");
        match link_local {
            None => pending.push(format!("{ns}/{name}: no IPv6 link-local address yet")),
            Some(ll) if ll.get("tentative").is_some() => {
                pending.push(format!("{ns}/{name}: IPv6 link-local address tentative"))
            }
            Some(_) => {}
        }
    }
    pending
}

/// `ip netns exec NS nft <args>`, failing the test when it fails; returns stdout.
pub fn nft(ns: &str, args: &[&str]) -> String {
    let mut full = vec!["netns", "exec", ns, "nft"];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// `nft -j list table inet netplan-rs` in `ns`: the objects of the listing (None if absent).
pub fn nft_table(ns: &str) -> Option<Vec<Value>> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-j", "list", "table"])
        .args(["inet", "netplan-rs"])
        .output()
        .expect("running nft");
    if !out.status.success() {
        return None;
    }
    let doc: Value = serde_json::from_slice(&out.stdout).expect("nft json");
    doc["nftables"].as_array().cloned()
}

pub fn netns_list() -> Vec<String> {
    let text = run("ip", &["-j", "netns", "list"]);
    parse_array(&text)
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

pub fn netns_exists(name: &str) -> bool {
    netns_list().iter().any(|n| n == name)
}

/// Names of links in `ns` (the `ifname` of `ip -j link`).
pub fn link_names(ns: &str) -> Vec<String> {
    ip_json(ns, &["link", "show"])
        .iter()
        .filter_map(|l| l.get("ifname").and_then(Value::as_str).map(str::to_string))
        .collect()
}

pub fn link(ns: &str, name: &str) -> Option<Value> {
    ip_json(ns, &["link", "show"])
        .into_iter()
        .find(|l| l.get("ifname").and_then(Value::as_str) == Some(name))
}

/// Whether a link alias is a netplan-rs ownership mark: `netplan-rs` (the default scope),
/// `netplan-rs scope=...` or `netplan-rs lab=... host=...` (not the lab plumbing's
/// `netplan-rs-lab ...`).
pub fn is_owner_alias(alias: Option<&str>) -> bool {
    alias.is_some_and(|a| a == "netplan-rs" || a.starts_with("netplan-rs "))
}

/// Links in `ns` carrying a netplan-rs ownership alias (any scope or lab).
pub fn owned_links(ns: &str) -> Vec<String> {
    ip_json(ns, &["link", "show"])
        .iter()
        .filter(|l| is_owner_alias(l.get("ifalias").and_then(Value::as_str)))
        .filter_map(|l| l.get("ifname").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Routes in `ns` with netplan-rs's protocol number (78).
pub fn owned_routes(ns: &str) -> Vec<Value> {
    ip_json(ns, &["route", "show", "proto", "78"])
}

pub fn must_root() {
    assert!(
        nix_is_root(),
        "integration tests need root: they create network namespaces (run `sudo cargo test`)"
    );
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A lab under test. Dropping it runs `lab down` and then deletes any namespace left with the
/// lab's prefix, so a failing test never leaves namespaces behind.
pub struct Lab {
    pub name: String,
    pub file: PathBuf,
}

impl Lab {
    /// A lab with a unique name for topology `file` (relative to the repository).
    pub fn new(tag: &str, file: &Path) -> Lab {
        must_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}{}{}", std::process::id() % 100_000, tag, n);
        Lab {
            name,
            file: file.to_path_buf(),
        }
    }

    pub fn host_ns(&self, host: &str) -> String {
        format!("{}-{host}", self.name)
    }

    /// The ownership mark netplan-rs writes on what it creates on simulated host `host`.
    pub fn mark(&self, host: &str) -> String {
        format!("netplan-rs lab={} host={host}", self.name)
    }

    pub fn container_ns(&self, host: &str, container: &str) -> String {
        format!("{}-{host}-{container}", self.name)
    }

    /// The container namespaces that exist for `host` (named as in [`Lab::container_ns`]).
    pub fn container_namespaces(&self, host: &str) -> Vec<String> {
        let prefix = format!("{}-", self.host_ns(host));
        netns_list()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    pub fn file_str(&self) -> String {
        self.file.display().to_string()
    }

    /// Every namespace of the lab (switch, hosts, containers) as `ip netns list` sees it.
    pub fn namespaces(&self) -> Vec<String> {
        let prefix = format!("{}-", self.name);
        let switch = format!("{}.switch", self.name);
        netns_list()
            .into_iter()
            .filter(|n| n.starts_with(&prefix) || *n == switch)
            .collect()
    }

    /// [`wait_settled`] for every namespace of the lab: call after `lab up` / `apply`, before
    /// the first packet.
    pub fn wait_settled(&self) {
        wait_settled(&self.namespaces());
    }

    /// `netplan-rs <cmd> FILE --lab NAME [extra...]`
    pub fn cmd(&self, cmd: &[&str], extra: &[&str]) -> Output {
        let file = self.file_str();
        let mut args: Vec<&str> = cmd.to_vec();
        args.push(&file);
        args.extend_from_slice(&["--lab", &self.name]);
        args.extend_from_slice(extra);
        np(&args)
    }

    /// `netplan-rs <cmd> FILE --lab NAME --host HOST [extra...]`
    pub fn on_host(&self, cmd: &str, host: &str, extra: &[&str]) -> Output {
        let mut all = vec!["--host", host];
        all.extend_from_slice(extra);
        self.cmd(&[cmd], &all)
    }

    /// `lab up` of the file without its containers: the simulated hosts exist (so a later `lab up`
    /// of the whole file that fails leaves them, as a lab that was up before, for inspection).
    pub fn up_hosts_only(&self) {
        let text = std::fs::read_to_string(&self.file).expect("reading topology");
        let mut doc: serde_norway::Value = serde_norway::from_str(&text).expect("parsing topology");
        if let Some(map) = doc.as_mapping_mut() {
            map.insert(
                serde_norway::Value::from("containers"),
                serde_norway::Value::Mapping(Default::default()),
            );
        }
        let hosts_only = temp_topology("hosts-only", &serde_norway::to_string(&doc).unwrap());
        let out = np(&[
            "lab",
            "up",
            hosts_only.to_str().unwrap(),
            "--lab",
            &self.name,
        ]);
        let _ = std::fs::remove_file(&hosts_only);
        assert!(out.status.success(), "lab up of the hosts failed");
    }

    pub fn up(&self) {
        let out = self.cmd(&["lab", "up"], &[]);
        assert!(out.status.success(), "lab up failed");
    }

    /// `plan --detailed-exitcode` on `host` exits 0 and says "No changes.".
    pub fn assert_no_changes(&self, host: &str) {
        let out = self.on_host("plan", host, &["--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "plan on {host} is not empty");
        assert!(stdout(&out).contains("No changes."));
    }

    /// Nothing of netplan-rs's is left on simulated host `host`: no owned link, no owned
    /// (protocol 78) IPv4 route, no container namespace. Callers add what their scheme adds.
    pub fn assert_host_clean(&self, host: &str) {
        let ns = self.host_ns(host);
        assert_eq!(
            owned_links(&ns),
            Vec::<String>::new(),
            "owned links left on {host}"
        );
        assert_eq!(
            owned_routes(&ns),
            Vec::<Value>::new(),
            "owned routes left on {host}"
        );
        let left = self.container_namespaces(host);
        assert!(
            left.is_empty(),
            "container namespaces left on {host}: {left:?}"
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(bin())
            .args(["lab", "down", &self.file_str(), "--lab", &self.name])
            .output();
        let prefix = format!("{}-", self.name);
        let switch = format!("{}.switch", self.name);
        if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let name = line.split_whitespace().next().unwrap_or("");
                if name.starts_with(&prefix) || name == switch {
                    let _ = Command::new("ip").args(["netns", "delete", name]).output();
                }
            }
        }
    }
}

/// Write `yaml` to a fresh temporary file and return its path (removed by the OS tmp cleaner;
/// small and uniquely named).
pub fn temp_topology(tag: &str, yaml: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "netplan-rs-test-{}-{tag}-{n}.yaml",
        std::process::id()
    ));
    std::fs::write(&path, yaml).expect("writing temp topology");
    path
}

/// The example topology with container `name` removed from `containers:`.
pub fn without_container(file: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(file).expect("reading topology");
    let mut doc: serde_norway::Value = serde_norway::from_str(&text).expect("parsing topology");
    let containers = doc
        .get_mut("containers")
        .and_then(|c| c.as_mapping_mut())
        .expect("containers mapping");
    assert!(containers.remove(name).is_some(), "no container {name}");
    serde_norway::to_string(&doc).expect("writing topology")
}

/// A process in its own network namespace (`unshare --net sleep 300`), the stand-in for a
/// container netplan-rs did not create; killed (and reaped) on drop.
pub struct NetnsProcess {
    child: std::process::Child,
}

impl NetnsProcess {
    /// Start it and wait until it has left our namespace (unshare then execs sleep).
    pub fn start() -> NetnsProcess {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "300"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("starting unshare --net sleep 300");
        let process = NetnsProcess { child };
        let mine = std::fs::read_link("/proc/self/ns/net").expect("own netns");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let theirs = std::fs::read_link(process.ns_path());
            if theirs.as_ref().is_ok_and(|t| *t != mine) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process never left our netns"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        process
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid()))
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `nsenter -t PID -n <tool> <args>`, failing the test when it fails.
    pub fn run(&self, tool: &str, args: &[&str]) -> String {
        let pid = self.pid().to_string();
        let mut full = vec!["-t", pid.as_str(), "-n", tool];
        full.extend_from_slice(args);
        run("nsenter", &full)
    }

    /// `ip -j -d <args>` inside the process's namespace, parsed.
    pub fn ip_json(&self, args: &[&str]) -> Vec<Value> {
        let mut full = vec!["-j", "-d"];
        full.extend_from_slice(args);
        parse_array(&self.run("ip", &full))
    }

    /// One-packet pings from inside its namespace, IPv4 or IPv6 by the address, up to 3 tries
    /// (room for a loaded machine, not for a slow network).
    pub fn ping(&self, addr: &str) -> bool {
        let pid = self.pid().to_string();
        let family = if addr.contains(':') { "-6" } else { "-4" };
        (0..3).any(|_| {
            Command::new("nsenter")
                .args(["-t", &pid, "-n", "ping", family, "-c", "1", "-W", "1", addr])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }
}

impl Drop for NetnsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The handle of the rule in `chain` whose comment is `comment`, from an [`nft_table`] listing.
pub fn nft_rule_handle(listing: &[Value], chain: &str, comment: &str) -> String {
    listing
        .iter()
        .filter_map(|o| o.get("rule"))
        .find(|r| r["chain"] == chain && r["comment"] == comment)
        .map(|r| r["handle"].to_string())
        .expect("rule in listing")
}

/// A bare namespace standing for a host, for tests that drive the library's `Kernel` directly
/// (`<tag>-<pid>-<n>`); deleted on drop.
pub struct NetnsHost {
    pub name: String,
}

impl NetnsHost {
    pub fn new(tag: &str) -> NetnsHost {
        must_root();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{tag}-{}-{n}", std::process::id());
        netplan_rs::kernel::netns::create(&name).expect("create netns");
        NetnsHost { name }
    }

    /// The target of a `Kernel` working in this namespace (containers prefixed `<name>-c-`).
    pub fn target(&self) -> netplan_rs::kernel::Target {
        netplan_rs::kernel::Target {
            host_netns: Some(self.name.clone()),
            container_prefix: format!("{}-c-", self.name),
            ..netplan_rs::kernel::Target::local()
        }
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        let _ = netplan_rs::kernel::netns::delete(&self.name);
        // A failed step leaves the crash journal (and a transaction its before-image) for this
        // namespace-host in the run directory; it names a host that is gone now.
        let target = self.target();
        let _ = netplan_rs::apply::journal::clear(&target);
        let _ = netplan_rs::apply::transaction::confirm(&target);
    }
}

/// Run netplan-rs as user and group 65534 (nobody) with no supplementary groups (and so no
/// capabilities).
pub fn np_nobody(args: &[&str]) -> Output {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
        .args(args)
        .output()
        .expect("running setpriv");
    eprintln!(
        "$ setpriv ... netplan-rs {}\n[exit {:?}]\n{}{}",
        args.join(" "),
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    out
}
