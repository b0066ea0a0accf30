//! Scoped ownership on the real kernel: what a run marks says who owns it, and objects of
//! another owner are never modified or deleted.
//!
//! "Real host" runs happen inside a test namespace entered with `nsenter --net` (only the
//! network namespace changes, so container namespaces land in the machine's /run/netns under
//! names unique to this test). Two topologies with different `name:` manage disjoint networks
//! side by side; a name one of them wants that the other owns is a conflict; destroying one
//! leaves the other. In a lab, `netns:` may not point at the machine's own namespace or at
//! another lab's simulated host. A /run/netns entry that cannot be opened is a warning, not an
//! error. Checked with `ip -j` and the binary's exit codes.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

/// A namespace standing for a real host, plus the container namespaces its runs create (named
/// in `containers`), all deleted on drop.
struct RealHost {
    name: String,
    containers: Vec<String>,
}

impl RealHost {
    fn new(containers: &[&str]) -> RealHost {
        must_root();
        let name = format!(
            "hsc-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name]);
        RealHost {
            name,
            containers: containers.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// `netplan-rs ARGS` with this namespace as the process's own (a real host).
    fn np(&self, args: &[&str]) -> Output {
        let netns = format!("--net=/run/netns/{}", self.name);
        let out = Command::new("nsenter")
            .arg(&netns)
            .arg(bin())
            .args(args)
            .output()
            .expect("nsenter");
        eprintln!(
            "$ [{}] netplan-rs {}\n[exit {:?}]\n{}{}",
            self.name,
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn link(&self, name: &str) -> Option<Value> {
        link(&self.name, name)
    }
}

impl Drop for RealHost {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("ip").args(["netns", "delete", c]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

/// A one-host topology of scope `scope` (none: the default scope) with one bridge network
/// with NAT (so each scope also has its nftables table).
fn topology(scope: Option<&str>, network: &str, subnet: &str, container: &str) -> String {
    let name = scope.map(|s| format!("name: {s}\n")).unwrap_or_default();
    format!(
        "version: 1\n{name}hosts:\n  h: {{ underlay: 10.99.0.1/24, interface: eth0 }}\n\
         networks:\n  {network}: {{ driver: bridge, subnet: {subnet}, nat: true }}\n\
         containers:\n  {container}: {{ host: h, network: {network} }}\n"
    )
}

/// The names of the inet tables in `ns` (`nft -j list tables`).
fn nft_tables(ns: &str) -> Vec<String> {
    let text = run("ip", &["netns", "exec", ns, "nft", "-j", "list", "tables"]);
    let doc: Value = serde_json::from_str(&text).expect("nft json");
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["table"]["name"].as_str().map(str::to_string))
        .collect()
}

fn alias(link: &Value) -> &str {
    link["ifalias"].as_str().unwrap_or("")
}

#[test]
fn two_scopes_side_by_side_never_touch_each_other() {
    let pid = std::process::id();
    let (ca, cb, cd) = (
        format!("sca{pid}"),
        format!("scb{pid}"),
        format!("scd{pid}"),
    );
    let host = RealHost::new(&[&ca, &cb, &cd]);
    let alpha = temp_topology("alpha", &topology(Some("alpha"), "na", "10.91.0.0/24", &ca));
    let beta = temp_topology("beta", &topology(Some("beta"), "nb", "10.92.0.0/24", &cb));
    let (alpha, beta) = (alpha.to_str().unwrap(), beta.to_str().unwrap());
    let apply = |file: &str| host.np(&["apply", file, "--host", "h", "--auto-approve"]);

    assert_eq!(apply(alpha).status.code(), Some(0));
    assert_eq!(apply(beta).status.code(), Some(0));
    // Each scope marks its own bridge; neither apply destroyed the other's.
    let br_a = host.link("br-na").expect("alpha's bridge");
    let br_b = host.link("br-nb").expect("beta's bridge");
    assert_eq!(alias(&br_a), "netplan-rs scope=alpha");
    assert_eq!(alias(&br_b), "netplan-rs scope=beta");
    // Each named scope has its own nftables table.
    let mut tables = nft_tables(&host.name);
    tables.sort();
    assert_eq!(tables, ["netplan-rs-alpha", "netplan-rs-beta"]);
    for file in [alpha, beta] {
        let out = host.np(&["plan", file, "--host", "h", "--detailed-exitcode"]);
        assert_eq!(out.status.code(), Some(0), "{file} is not converged");
    }

    // Beta wanting alpha's network (same bridge name): a conflict naming it, nothing changed.
    let greedy = temp_topology("greedy", &topology(Some("beta"), "na", "10.91.0.0/24", &cb));
    let out = host.np(&[
        "apply",
        greedy.to_str().unwrap(),
        "--host",
        "h",
        "--auto-approve",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("link host/br-na exists and is not managed by netplan-rs"));
    assert_eq!(
        alias(&host.link("br-na").unwrap()),
        "netplan-rs scope=alpha"
    );
    assert!(
        host.link("br-nb").is_some(),
        "a refused plan changed nothing"
    );

    // The default scope (no name:) sees neither as its own: its plan destroys nothing.
    let default = temp_topology("default", &topology(None, "nd", "10.93.0.0/24", &cd));
    let out = host.np(&["plan", default.to_str().unwrap(), "--host", "h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !stdout(&out).contains("will be destroyed"),
        "{}",
        stdout(&out)
    );

    // Destroying beta leaves alpha whole.
    let out = host.np(&["destroy", beta, "--host", "h", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(host.link("br-nb").is_none());
    assert!(!netns_exists(&cb));
    assert!(host.link("br-na").is_some());
    assert!(netns_exists(&ca));
    assert_eq!(nft_tables(&host.name), ["netplan-rs-alpha"]);
    let out = host.np(&["plan", alpha, "--host", "h", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0));
    let out = host.np(&["destroy", alpha, "--host", "h", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!netns_exists(&ca));
}

#[test]
fn an_unreadable_netns_entry_is_a_warning_not_an_error() {
    let pid = std::process::id();
    let container = format!("scw{pid}");
    let host = RealHost::new(&[&container]);
    // What a run killed between creating the mount point and mounting it leaves: an empty file.
    let debris = format!("/run/netns/hscdebris{pid}");
    std::fs::write(&debris, b"").expect("debris file");
    let file = temp_topology(
        "warn",
        &topology(Some("warn"), "nw", "10.94.0.0/24", &container),
    );
    let out = host.np(&["plan", file.to_str().unwrap(), "--host", "h"]);
    let _ = std::fs::remove_file(&debris);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("warning: cannot open netns hscdebris{pid}")),
        "{stderr}"
    );
}

/// `lab up` of a topology whose container is wired into `path` fails naming the container and
/// the reason, and adds nothing to the namespace behind `path` (`ip -j link` before and after).
fn refused_in_lab(tag: &str, path: &str, ns_of_path: Option<&str>, reason: &str) {
    let yaml = format!(
        "version: 1\nhosts:\n  node-1: {{ underlay: 192.168.31.183/24, interface: enp0s5 }}\n\
         networks:\n  local: {{ driver: bridge, subnet: 192.168.200.0/24 }}\n\
         containers:\n  intruder: {{ host: node-1, network: local, netns: {{ path: {path} }} }}\n"
    );
    let lab = Lab::new(tag, &temp_topology(tag, &yaml));
    let links = |ns: Option<&str>| -> Vec<Value> {
        match ns {
            Some(ns) => ip_json(ns, &["link"]),
            None => serde_json::from_str(&run("ip", &["-j", "link"])).unwrap(),
        }
    };
    let before = links(ns_of_path);
    let out = lab.cmd(&["lab", "up"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("container intruder"), "{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
    assert_eq!(links(ns_of_path).len(), before.len(), "links were added");
}

#[test]
fn a_lab_refuses_the_machines_own_namespace() {
    refused_in_lab(
        "own",
        "/proc/self/ns/net",
        None,
        "that is the namespace of this machine",
    );
}

#[test]
fn a_lab_refuses_another_labs_simulated_host() {
    let other = Lab::new("victim", &repo_file("topologies/bridge.yaml"));
    other.up();
    let victim = other.host_ns("node-1");
    let before = link_names(&victim);
    refused_in_lab(
        "thief",
        &format!("/run/netns/{victim}"),
        Some(&victim),
        "that namespace is managed by netplan-rs",
    );
    assert_eq!(link_names(&victim), before);
    other.assert_no_changes("node-1");
}
