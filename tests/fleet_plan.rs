//! The offline fleet plan from the command line: `diff OLD NEW` and `plan NEW --all-hosts
//! --offline --base OLD` run as an unprivileged user (nobody, no capabilities) and print the
//! same plan; exit codes with and without --detailed-exitcode; the JSON document; the errors for
//! --all-hosts without --offline and for a bad file; and (with strace) that no netlink socket is
//! opened. Needs no namespaces.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

/// A world-readable copy of a fleet fixture (so that nobody can read it).
fn fixture(name: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo_file(&format!("tests/fixtures/fleet/{name}")))
        .expect("fixture");
    let path = temp_topology("npq", &text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}

fn s(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn diff_runs_unprivileged_and_matches_plan_all_hosts_offline() {
    let (v1, v2) = (fixture("v1.yaml"), fixture("v2.yaml"));
    let diff = np_nobody(&["diff", s(&v1), s(&v2)]);
    assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
    let text = stdout(&diff);
    assert!(text.contains("Plan for host cache-1 (new host):"), "{text}");
    assert!(
        text.contains("Plan for host db-1 (removed from the file"),
        "{text}"
    );
    assert!(text.contains("  + namespace api-3\n"), "{text}");
    assert!(
        text.ends_with("Fleet: 4 of 4 hosts change; 17 to add, 0 to change, 6 to destroy.\n"),
        "{text}"
    );
    // Host order is by name.
    let at = |h: &str| text.find(&format!("Plan for host {h}")).expect(h);
    assert!(at("cache-1") < at("db-1") && at("db-1") < at("web-1") && at("web-1") < at("web-2"));
    let plan = np_nobody(&["plan", s(&v2), "--all-hosts", "--offline", "--base", s(&v1)]);
    assert_eq!(plan.status.code(), Some(0));
    assert_eq!(stdout(&plan), text);
    assert!(stderr(&plan).is_empty(), "{}", stderr(&plan));
}

#[test]
fn detailed_exitcode_is_2_when_some_host_changes_and_0_when_none_does() {
    let (v1, v2) = (fixture("v1.yaml"), fixture("v2.yaml"));
    let changed = np_nobody(&["diff", "--detailed-exitcode", s(&v1), s(&v2)]);
    assert_eq!(changed.status.code(), Some(2));
    let same = np_nobody(&["diff", "--detailed-exitcode", s(&v1), s(&v1)]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(
        stdout(&same),
        "No changes on 3 hosts: db-1, web-1, web-2.\n\n\
         Fleet: 0 of 3 hosts change; 0 to add, 0 to change, 0 to destroy.\n"
    );
    let plan = np_nobody(&[
        "plan",
        s(&v2),
        "--all-hosts",
        "--offline",
        "--detailed-exitcode",
    ]);
    assert_eq!(plan.status.code(), Some(2));
}

#[test]
fn without_a_base_every_host_is_new() {
    let v1 = fixture("v1.yaml");
    let out = np_nobody(&["plan", s(&v1), "--all-hosts", "--offline"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for host in ["db-1", "web-1", "web-2"] {
        assert!(
            text.contains(&format!("Plan for host {host} (new host):")),
            "{text}"
        );
    }
    assert!(text.contains("Fleet: 3 of 3 hosts change;"), "{text}");
    assert!(text.contains(" 0 to change, 0 to destroy.\n"), "{text}");
}

#[test]
fn json_is_the_documented_document() {
    let (v1, v2) = (fixture("v1.yaml"), fixture("v2.yaml"));
    let out = np_nobody(&["diff", "--json", s(&v1), s(&v2)]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(doc["format_version"], "1");
    let hosts: Vec<(&str, &str)> = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| {
            (
                h["host"].as_str().expect("host"),
                h["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        [
            ("cache-1", "added"),
            ("db-1", "removed"),
            ("web-1", "kept"),
            ("web-2", "kept")
        ]
    );
    let web1 = &doc["hosts"][2]["plan"];
    assert_eq!(web1["format_version"], "1");
    let actions: Vec<&str> = web1["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["delete", "create", "create", "create"]);
    assert_eq!(
        doc["summary"],
        serde_json::json!({"hosts": 4, "changing": 4, "add": 17, "change": 0, "destroy": 6})
    );
}

#[test]
fn all_hosts_without_offline_is_one_clear_error() {
    let v1 = fixture("v1.yaml");
    let out = np_nobody(&["plan", s(&v1), "--all-hosts"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("--all-hosts is only supported with --offline"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = np_nobody(&["plan", s(&v1), "--offline"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("add --all-hosts"), "{}", stderr(&out));
    let out = np_nobody(&[
        "plan",
        s(&v1),
        "--all-hosts",
        "--offline",
        "--host",
        "web-1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--host makes no sense for every host"
    );
}

#[test]
fn a_bad_version_is_named_with_its_place_and_nothing_is_printed() {
    let v1 = fixture("v1.yaml");
    let text = std::fs::read_to_string(&v1).expect("read");
    let bad = temp_topology(
        "npq",
        &text.replace("host: web-2, network: pods", "host: web-9, network: pods"),
    );
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for (old, new, blamed) in [(&v1, &bad, "new"), (&bad, &v1, "base")] {
        let out = np_nobody(&["diff", "--detailed-exitcode", s(old), s(new)]);
        assert_eq!(out.status.code(), Some(1), "bad {blamed} version");
        assert!(stdout(&out).is_empty());
        let err = stderr(&out);
        assert!(err.contains(s(&bad)) && err.contains("web-9"), "{err}");
        assert_eq!(blamed == "base", err.contains("base version"), "{err}");
    }
}

#[test]
fn no_netlink_socket_is_opened() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace is not installed: the unprivileged runs above are the check");
        return;
    }
    let (v1, v2) = (fixture("v1.yaml"), fixture("v2.yaml"));
    let log = temp_topology("npq-strace", "");
    let out = Command::new("strace")
        .args(["-f", "-e", "trace=socket", "-o", s(&log), bin(), "diff"])
        .args([s(&v1), s(&v2)])
        .output()
        .expect("strace");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let trace = std::fs::read_to_string(&log).expect("strace log");
    assert!(!trace.contains("AF_NETLINK"), "{trace}");
    assert!(!trace.contains("PF_NETLINK"), "{trace}");
}
