//! The CI recipes in examples/ci run as written: the commands of the steps that call netplan-rs
//! (GitHub Actions `run:`, GitLab CI `script:`) are taken from the YAML files and run in order,
//! in a temporary directory, with the file paths the recipes define (TOPOLOGY, BASE_TOPOLOGY,
//! PLAN_ARGS) pointed at two versions of a small fleet (tests/fixtures/fleet). Setup steps
//! (checkout, install, `git show` of the base version) are left out: the test lays the base
//! file where the recipe expects it. The drift jobs run against a lab (namespaces named with
//! `npq` and the pid, removed by the lab guard).

mod common;

use common::*;
use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn recipe(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_file(&format!("examples/ci/{name}"))).expect("recipe");
    serde_norway::from_str(&text).expect("recipe is YAML")
}

fn calls_netplan(command: &str) -> bool {
    command.contains("netplan-rs ") && !command.contains("cargo install")
}

/// The `run:` commands of GitHub job `job` that call netplan-rs, in order.
fn github_runs(doc: &Value, job: &str) -> Vec<String> {
    doc["jobs"][job]["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|step| step.get("run").and_then(Value::as_str))
        .filter(|run| calls_netplan(run))
        .map(str::to_string)
        .collect()
}

/// The `script:` lines of GitLab job `job`, in order.
fn gitlab_script(doc: &Value, job: &str) -> Vec<String> {
    doc[job]["script"]
        .as_sequence()
        .expect("script")
        .iter()
        .map(|line| line.as_str().expect("script line").to_string())
        .collect()
}

/// A scratch directory (the job's working directory) with the two versions in it, removed on drop.
struct Workdir {
    dir: PathBuf,
    shims: PathBuf,
}

impl Workdir {
    fn new(tag: &str) -> Workdir {
        let dir =
            std::env::temp_dir().join(format!("netplan-rs-test-npq{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("workdir");
        for v in ["v1.yaml", "v2.yaml"] {
            std::fs::copy(repo_file(&format!("tests/fixtures/fleet/{v}")), dir.join(v))
                .expect("copy fixture");
        }
        // netplan-rs on PATH, and a `sudo` that just runs its command (the test runs as root).
        let shims = dir.join("bin");
        std::fs::create_dir_all(&shims).expect("bin");
        std::os::unix::fs::symlink(bin(), shims.join("netplan-rs")).expect("symlink");
        let sudo = shims.join("sudo");
        std::fs::write(&sudo, "#!/bin/sh\nexec \"$@\"\n").expect("sudo shim");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Workdir { dir, shims }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Run `script` with bash -e (as both CI systems do) in the workdir with `env`.
    fn run(&self, script: &str, env: &[(&str, &Path)], plan_args: &str) -> Output {
        let path = format!(
            "{}:{}",
            self.shims.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.args(["-e", "-c", script])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("PLAN_ARGS", plan_args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("bash");
        eprintln!(
            "$ {script}\n[exit {:?}]\n{}{}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        out
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn recipes_define_the_paths_they_use() {
    let gh = recipe("github-actions.yml");
    let gl = recipe("gitlab-ci.yml");
    for var in ["TOPOLOGY", "BASE_TOPOLOGY", "PLAN_ARGS"] {
        assert!(
            gh["env"].get(var).is_some(),
            "github-actions.yml env lacks {var}"
        );
        assert!(
            gl["variables"].get(var).is_some(),
            "gitlab-ci.yml variables lack {var}"
        );
    }
    assert!(gh["on"].get("pull_request").is_some() && gh["on"].get("schedule").is_some());
    assert_eq!(
        gl["fleet-plan"]["allow_failure"]["exit_codes"],
        serde_norway::from_str::<Value>("[2]").unwrap(),
        "GitLab marks a changing plan (exit 2) as a warning"
    );
}

#[test]
fn github_pull_request_job_posts_the_fleet_plan_and_marks_changes() {
    let gh = recipe("github-actions.yml");
    let runs = github_runs(&gh, "fleet-plan");
    assert!(
        runs.iter().any(|r| r.contains("netplan-rs validate")),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("netplan-rs diff --detailed-exitcode")),
        "{runs:?}"
    );
    let wd = Workdir::new("gh");
    for (new, changes) in [("v2.yaml", true), ("v1.yaml", false)] {
        let (summary, output) = (wd.path("summary.md"), wd.path("output"));
        let _ = std::fs::remove_file(&summary);
        let _ = std::fs::remove_file(&output);
        let env = [
            ("TOPOLOGY", wd.path(new)),
            ("BASE_TOPOLOGY", wd.path("v1.yaml")),
            ("GITHUB_STEP_SUMMARY", summary.clone()),
            ("GITHUB_OUTPUT", output.clone()),
        ];
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let mut log = String::new();
        for run in &runs {
            let out = wd.run(run, &env, "");
            assert_eq!(out.status.code(), Some(0), "step failed: {run}");
            log.push_str(&stdout(&out));
        }
        let summary = std::fs::read_to_string(&summary).expect("step summary");
        let output = std::fs::read_to_string(&output).expect("step output");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(wd.path("fleet-plan.json")).expect("JSON artifact"),
        )
        .expect("JSON");
        if changes {
            let fleet = "Fleet: 4 of 4 hosts change; 17 to add, 0 to change, 6 to destroy.";
            assert!(
                log.contains(fleet) && summary.contains(fleet),
                "{log}\n{summary}"
            );
            assert!(summary.contains("Plan for host db-1 (removed"), "{summary}");
            assert!(
                log.contains("::notice title=netplan-rs::Fleet: 4 of 4"),
                "{log}"
            );
            assert_eq!(output, "changes=true\n");
            assert_eq!(json["summary"]["changing"], 4);
        } else {
            assert!(summary.contains("Fleet: 0 of 3 hosts change;"), "{summary}");
            assert_eq!(output, "changes=false\n");
            assert_eq!(json["summary"]["changing"], 0);
        }
    }
    // A broken PR fails the job at validate, naming the file.
    std::fs::write(wd.path("broken.yaml"), "version: 1\nhosts: [\n").expect("write");
    let env = [
        ("TOPOLOGY", wd.path("broken.yaml")),
        ("BASE_TOPOLOGY", wd.path("v1.yaml")),
        ("GITHUB_STEP_SUMMARY", wd.path("summary.md")),
        ("GITHUB_OUTPUT", wd.path("output")),
    ];
    let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let out = wd.run(&runs[0], &env, "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("broken.yaml"), "{}", stderr(&out));
}

#[test]
fn gitlab_merge_request_job_prints_the_plan_and_exits_2_on_changes() {
    let gl = recipe("gitlab-ci.yml");
    let script = gitlab_script(&gl, "fleet-plan").join("\n");
    assert!(script.contains("netplan-rs validate"), "{script}");
    let wd = Workdir::new("gl");
    for (new, code) in [("v2.yaml", 2), ("v1.yaml", 0)] {
        let env = [
            ("TOPOLOGY", wd.path(new)),
            ("BASE_TOPOLOGY", wd.path("v1.yaml")),
        ];
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let out = wd.run(&script, &env, "");
        assert_eq!(out.status.code(), Some(code), "fleet-plan with {new}");
        let log = stdout(&out);
        assert!(log.contains("valid topology"), "{log}");
        let changing = if code == 2 { "4 of 4" } else { "0 of 3" };
        assert!(
            log.contains(&format!("Fleet: {changing} hosts change")),
            "{log}"
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(wd.path("fleet-plan.json")).expect("artifact"),
        )
        .expect("JSON");
        assert_eq!(json["format_version"], "1");
    }
}

#[test]
fn drift_jobs_pass_on_a_converged_host_and_fail_when_it_drifted() {
    let wd = Workdir::new("drift");
    let lab = Lab::new("npq", &wd.path("v1.yaml"));
    lab.up();
    let plan_args = format!("--lab {} --host web-1", lab.name);
    let gh = github_runs(&recipe("github-actions.yml"), "drift");
    let gl = gitlab_script(&recipe("gitlab-ci.yml"), "drift").join("\n");
    assert_eq!(gh.len(), 1, "{gh:?}");
    for script in [&gh[0], &gl] {
        // The host runs v1: no drift.
        let env = [("TOPOLOGY", wd.path("v1.yaml"))];
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let out = wd.run(script, &env, &plan_args);
        assert_eq!(out.status.code(), Some(0), "{script}");
        assert!(stdout(&out).contains("No changes."));
        // The file moved on to v2 (a new published port on web-1) but the host did not.
        let env = [("TOPOLOGY", wd.path("v2.yaml"))];
        let env: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let out = wd.run(script, &env, &plan_args);
        assert_eq!(out.status.code(), Some(2), "{script}");
        assert!(stdout(&out).contains("dnat tcp 8443"), "{}", stdout(&out));
    }
}
