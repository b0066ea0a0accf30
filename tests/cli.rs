//! The command line as a user meets it: exit codes, validation output, approval, conflicts with
//! objects netplan-rs does not own, host detection, JSON output, and the lab demo. Runs the real
//! binary; kernel state is checked with `ip -j`.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn usage_errors_exit_1_not_2() {
    assert_eq!(code(&np(&["plan"])), Some(1));
    assert_eq!(code(&np(&["no-such-command"])), Some(1));
    assert_eq!(code(&np(&["plan", "x.yaml", "--no-such-flag"])), Some(1));
    assert_eq!(code(&np(&["--help"])), Some(0));
    assert_eq!(code(&np(&["--version"])), Some(0));
    // A bare `netplan-rs` shows the help on stderr but ran no command: a usage error.
    let bare = np(&[]);
    assert_eq!(code(&bare), Some(1));
    assert!(
        stderr(&bare).contains("Usage: netplan-rs"),
        "{}",
        stderr(&bare)
    );
    assert_eq!(code(&np(&["lab"])), Some(1));
}

#[test]
fn lab_verify_help_says_it_checks_isolation_too() {
    let help = stdout(&np(&["lab", "verify", "--help"]));
    assert!(help.contains("isolation"), "{help}");
    assert!(help.contains("reachability"), "{help}");
    assert!(help.contains("LEAK"), "{help}");
}

#[test]
fn validate_summarises_or_lists_every_error() {
    let ok = np(&[
        "validate",
        &repo_file("topologies/vxlan-bridged.yaml")
            .display()
            .to_string(),
    ]);
    assert_eq!(code(&ok), Some(0));
    assert!(stdout(&ok).contains("valid topology: 2 hosts, 1 network, 2 containers"));

    let bad = np(&[
        "validate",
        &repo_file("tests/fixtures/invalid/many-problems.yaml")
            .display()
            .to_string(),
    ]);
    assert_eq!(code(&bad), Some(1));
    let text = stderr(&bad);
    assert!(
        text.lines().count() >= 4,
        "every error on its own line:\n{text}"
    );
    assert!(text.contains("containers.docker2.host: unknown host \"node-9\""));

    let parse = np(&[
        "validate",
        &repo_file("tests/fixtures/invalid/unknown-key.yaml")
            .display()
            .to_string(),
    ]);
    assert_eq!(code(&parse), Some(1));
    assert!(
        stderr(&parse).contains("unknown-key.yaml:5:5:"),
        "file:line:column"
    );

    let missing = np(&["validate", "/nonexistent/topo.yaml"]);
    assert_eq!(code(&missing), Some(1));
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = np(&["schema"]);
    assert_eq!(code(&out), Some(0));
    let checked_in = std::fs::read_to_string(repo_file("schema/topology.schema.json")).unwrap();
    assert_eq!(stdout(&out), checked_in);
}

#[test]
fn unknown_host_and_lab_without_host_are_errors() {
    let file = repo_file("topologies/vxlan-bridged.yaml")
        .display()
        .to_string();
    let out = np(&["plan", &file, "--host", "node-9"]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("host \"node-9\" is not in the topology"));
    let out = np(&["plan", &file, "--lab", "nosuchlab"]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("--lab needs --host"));
    let out = np(&["plan", &file, "--lab", "nosuchlab", "--host", "node-1"]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("lab up"));
}

#[test]
fn approval_json_show_and_second_apply() {
    let lab = Lab::new("ap", &repo_file("topologies/vxlan-bridged.yaml"));
    lab.up();
    let host_ns = lab.host_ns("node-1");

    // Destroy without approval and without a terminal: refused, nothing changed.
    let links_before = link_names(&host_ns);
    let refused = Command::new(bin())
        .args([
            "destroy",
            &lab.file_str(),
            "--lab",
            &lab.name,
            "--host",
            "node-1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&refused), Some(1));
    assert!(
        stderr(&refused).contains("pass --auto-approve to destroy without asking"),
        "the refusal names destroy, not apply: {}",
        stderr(&refused)
    );
    assert_eq!(link_names(&host_ns), links_before);

    // A second apply right after the first changes nothing and says so.
    let again = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert_eq!(code(&again), Some(0));
    assert!(stdout(&again).contains("Nothing to do"));

    // show --json lists the owned objects per namespace.
    let show = lab.on_host("show", "node-1", &["--json"]);
    let json: Value = serde_json::from_str(&stdout(&show)).expect("show --json is JSON");
    let host_objects = json["host"].as_array().expect("host namespace listed");
    assert!(
        host_objects
            .iter()
            .any(|o| o["object"] == "link" && o["name"] == "vx-overlay")
    );
    assert!(json["docker1"].as_array().is_some_and(|a| !a.is_empty()));

    // plan --json after drift: the documented format.
    run(
        "bridge",
        &[
            "-n",
            &host_ns,
            "fdb",
            "del",
            "02:42:ac:12:14:02",
            "dev",
            "vx-overlay",
            "dst",
            "192.168.31.192",
            "self",
        ],
    );
    let plan = lab.on_host("plan", "node-1", &["--json", "--detailed-exitcode"]);
    assert_eq!(code(&plan), Some(2));
    let json: Value = serde_json::from_str(&stdout(&plan)).expect("plan --json is JSON");
    assert_eq!(json["format_version"], "1");
    assert_eq!(json["summary"]["add"], 1);
    assert_eq!(json["steps"][0]["action"], "create");
    assert_eq!(json["steps"][0]["kind"], "fdb");
    assert_eq!(json["steps"][0]["after"]["dst"], "192.168.31.192");
}

#[test]
fn wanted_name_taken_by_unowned_object_is_a_plan_error() {
    let lab = Lab::new("cf", &repo_file("topologies/vxlan-bridged.yaml"));
    lab.up();
    let out = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert_eq!(code(&out), Some(0));
    let host_ns = lab.host_ns("node-1");
    run(
        "ip",
        &[
            "-n",
            &host_ns,
            "link",
            "add",
            "br-overlay",
            "type",
            "bridge",
        ],
    );

    let plan = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(code(&plan), Some(1));
    assert!(
        stdout(&plan).contains("link host/br-overlay exists and is not managed by netplan-rs"),
        "conflict names the object"
    );
    let apply = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert_eq!(code(&apply), Some(1));
    // Nothing applied: no container namespace, the hand-made bridge untouched and unmarked.
    assert!(!netns_exists(&lab.container_ns("node-1", "docker1")));
    let br = link(&host_ns, "br-overlay").expect("hand-made bridge kept");
    assert!(br.get("ifalias").is_none());
    assert!(owned_links(&host_ns).is_empty());
}

#[test]
fn host_is_detected_from_the_underlay_address() {
    let lab = Lab::new("hd", &repo_file("topologies/vxlan-bridged.yaml"));
    lab.up();
    // Inside node-2's namespace, node-2's underlay address is local: plan picks node-2.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.host_ns("node-2"),
            bin(),
            "plan",
            &lab.file_str(),
        ])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("Plan for host node-2"),
        "{}",
        stdout(&out)
    );
    // Run as a real host there, it acts in the default scope: the lab's objects carry the lab's
    // marks, so they are foreign (conflicts for the names it wants), never destroyed.
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("is not managed by netplan-rs under this scope"));
    assert!(!stdout(&out).contains("will be destroyed"));
    // Inside a container namespace no underlay address is local: a clear error.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.container_ns("node-1", "docker1"),
            bin(),
            "plan",
            &lab.file_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("pass --host NAME"));
}

#[test]
fn lab_demo_runs_and_cleans_up() {
    let lab = Lab::new("dm", &repo_file("topologies/vxlan-routed.yaml"));
    let out = lab.cmd(&["lab", "demo"], &[]);
    assert_eq!(code(&out), Some(0));
    let text = stdout(&out);
    assert!(text.contains("=== plan for simulated host node-1 ==="));
    assert!(text.contains("Plan: "));
    assert!(text.contains("All 2 pairs as expected: 2 reachable, 0 isolated."));
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&lab.name))
        .collect();
    assert!(left.is_empty(), "demo left namespaces: {left:?}");
}
