//! Completions, man pages and `--help` examples, from the real binary (no root needed).

mod common;

use common::*;

#[test]
fn completions_for_every_shell_mention_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = np(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.len() > 500, "{shell}: {script}");
        for sub in [
            "validate", "plan", "apply", "destroy", "rollback", "lab", "verify",
        ] {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
    }
    // An unknown shell is a usage error naming the choices.
    let bad = np(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("bash"), "{}", stderr(&bad));
}

#[test]
fn man_prints_one_page_or_writes_one_per_command() {
    let out = np(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(page.contains(".TH netplan-rs 1"), "{page}");
    for sub in [
        "validate",
        "schema",
        "plan",
        "apply",
        "destroy",
        "rollback",
        "confirm",
        "show",
        "lab",
        "completions",
        "man",
    ] {
        assert!(
            page.contains(&format!("netplan\\-rs\\-{sub}(1)")),
            "man page lacks {sub}"
        );
    }

    let dir = std::env::temp_dir().join(format!("npv-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = np(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for page in [
        "netplan-rs.1",
        "netplan-rs-plan.1",
        "netplan-rs-lab-verify.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page} missing or empty");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn main_commands_show_examples_in_their_help() {
    for cmd in [
        &["--help"][..],
        &["validate", "--help"],
        &["plan", "--help"],
        &["apply", "--help"],
        &["destroy", "--help"],
        &["lab", "--help"],
    ] {
        let out = np(cmd);
        assert_eq!(out.status.code(), Some(0));
        let help = stdout(&out);
        assert!(help.contains("Examples:\n  netplan-rs "), "{cmd:?}: {help}");
    }
    // The positional FILE explains itself.
    let help = stdout(&np(&["plan", "--help"]));
    // (short help puts the text beside it, long help on the next line)
    let described = help
        .split("<FILE>")
        .skip(1)
        .any(|rest| rest.trim_start().starts_with("Topology file"));
    assert!(described, "{help}");
}
