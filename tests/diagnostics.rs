//! Diagnostics as a user sees them: for each bad file in `tests/fixtures/diagnostics/`, the plain
//! text `validate` prints must equal `tests/golden/diagnostics/<name>.txt` (the exact
//! line:column of the bad key or value, the source line with its carets, what is expected);
//! no escape codes when stderr is not a terminal or `NO_COLOR` is set; and the shape of
//! `validate --json`. `UPDATE_GOLDEN=1` rewrites the golden files. No root needed.

mod common;

use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    repo_file("tests/fixtures/diagnostics")
}

/// `netplan-rs ARGS` run in the fixtures folder (so messages name files as `NAME.yaml`), with
/// stderr a pipe; `no_color` sets `NO_COLOR=1`, otherwise it is removed.
fn np_in_fixtures(args: &[&str], no_color: bool) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(fixtures());
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    cmd.output().expect("running netplan-rs")
}

fn bad_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_bad_file_renders_as_its_golden_text() {
    let names = bad_files();
    assert!(names.len() >= 8, "fixtures: {names:?}");
    let mut mismatched = Vec::new();
    for name in &names {
        let out = np_in_fixtures(&["validate", &format!("{name}.yaml")], true);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{name}: errors go to stderr");
        let got = stderr(&out);
        mismatched.extend(golden::mismatch(&format!("diagnostics/{name}.txt"), &got));
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}

/// The header lines (`FILE:LINE:COLUMN: PATH: ...`) of a file's diagnostics.
fn headers(name: &str) -> Vec<String> {
    let out = np_in_fixtures(&["validate", &format!("{name}.yaml")], true);
    stderr(&out)
        .lines()
        .filter(|l| l.starts_with(&format!("{name}.yaml:")))
        .map(str::to_string)
        .collect()
}

#[test]
fn each_error_names_the_exact_key_or_value() {
    // The example: `vni: abc` on line 29 was reported at the network's block (27:5).
    let vni = headers("vni-not-a-number");
    assert_eq!(
        vni,
        ["vni-not-a-number.yaml:29:10: networks.overlay.vni: invalid type: string \"abc\""]
    );
    let cases: [(&str, &[&str]); 8] = [
        ("wrong-type", &[":6:10: hosts.node-1.mtu: invalid type"]),
        (
            "unknown-key",
            &[":9:5: networks.local: unknown field `gatway`"],
        ),
        (
            "bad-cidr",
            &[":8:13: networks.local.subnet: \"10.0.0.0/33\""],
        ),
        (
            "vni-out-of-range",
            &[":9:10: networks.overlay.vni: 16777216"],
        ),
        (
            "duplicate-address",
            &[":12:14: containers.db.address: 10.0.0.5 is already used by container web"],
        ),
        (
            "unknown-network",
            &[":13:7: containers.web.networks.frontend: unknown network \"frontend\""],
        ),
        (
            "several-errors",
            &[
                ":6:49: networks.overlay.vni:",
                ":6:78: networks.overlay.mtu:",
                ":9:11: containers.web.host:",
                ":11:5: containers.web.ports:",
                ":11:24: containers.web.ports[1]:",
                ":12:50: containers.db.address:",
            ],
        ),
        (
            // Serde stops at the first of these; every entry is read again on its own.
            "several-parse-errors",
            &[
                ":6:22: hosts.node-2.underlay:",
                ":10:10: networks.overlay.vni:",
                ":12:55: networks.local.nat:",
                ":14:41: containers.web: unknown field `adress`",
                ":16:1: polices: unknown field `polices`",
            ],
        ),
    ];
    for (name, want) in cases {
        let got = headers(name);
        assert_eq!(got.len(), want.len(), "{name}: {got:#?}");
        for (line, want) in got.iter().zip(want) {
            assert!(
                line.starts_with(&format!("{name}.yaml{want}")),
                "{name}: {line:?} should start with {name}.yaml{want}"
            );
        }
    }
}

#[test]
fn plain_text_without_a_terminal_or_with_no_color() {
    for no_color in [false, true] {
        for name in ["several-errors", "vni-not-a-number"] {
            let out = np_in_fixtures(&["validate", &format!("{name}.yaml")], no_color);
            let text = stderr(&out);
            assert!(!text.contains('\u{1b}'), "escape codes: {text:?}");
            assert!(text.contains('^'), "the snippet is still there: {text}");
        }
    }
    // `plan` prints a topology that does not load the same way.
    let out = np_in_fixtures(&["plan", "vni-not-a-number.yaml"], false);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        text.starts_with("vni-not-a-number.yaml:29:10: networks.overlay.vni:")
            && text.contains("29 |     vni: abc"),
        "{text}"
    );
}

#[test]
fn validate_json_has_the_documented_shape() {
    let out = np_in_fixtures(&["validate", "--json", "several-errors.yaml"], true);
    assert_eq!(out.status.code(), Some(1), "exit code as without --json");
    assert!(
        out.stderr.is_empty(),
        "everything is in the JSON: {}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["format_version"], "1");
    assert_eq!(doc["file"], "several-errors.yaml");
    assert_eq!(doc["valid"], false);
    assert!(doc["summary"].is_null());
    let diags = doc["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diags.len(), 6);
    let keys: Vec<&str> = diags[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "file",
        "line",
        "column",
        "end_line",
        "end_column",
        "path",
        "severity",
        "message",
        "expected",
        "help",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(
        diags[0],
        serde_json::json!({
            "file": "several-errors.yaml",
            "line": 6, "column": 49, "end_line": 6, "end_column": 50,
            "path": "networks.overlay.vni",
            "severity": "error",
            "message": "0 is not a VNI (1 to 16777215)",
            "expected": "an integer 1..16777215",
            "help": null,
        })
    );
    // A near miss gets its likely fix.
    assert_eq!(diags[2]["path"], "containers.web.host");
    assert_eq!(diags[2]["help"], "did you mean `node-1`?");
    // A problem that says nothing more about the form has `expected: null`.
    assert_eq!(diags[5]["path"], "containers.db.address");
    assert!(diags[5]["expected"].is_null());

    // A parse error: one diagnostic, at the value.
    let out = np_in_fixtures(&["validate", "--json", "vni-not-a-number.yaml"], true);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let d = &doc["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(29), Some(10))
    );
    assert_eq!(
        (d["end_line"].as_u64(), d["end_column"].as_u64()),
        (Some(29), Some(13))
    );
    assert_eq!(d["expected"], "an integer 1..16777215");

    // A valid file: exit 0, no diagnostics, the counts.
    let good = repo_file("topologies/vxlan-bridged.yaml");
    let out = np(&["validate", "--json", &good.display().to_string()]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
    assert_eq!(
        doc["summary"],
        serde_json::json!({"hosts": 2, "networks": 1, "containers": 2})
    );

    // A file that cannot be read: one diagnostic without a position.
    let out = np(&["validate", "--json", "/nonexistent/topo.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let d = &doc["diagnostics"][0];
    assert!(d["line"].is_null() && d["path"].is_null(), "{d}");
    assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()));
}
