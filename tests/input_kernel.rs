//! Input and error messages that need the kernel: a topology from stdin drives plan and apply in
//! a lab; an unowned vxlan holding a wanted VNI and port is a plan conflict naming it (apply
//! refuses before changing anything); a user without privileges gets one line saying root is
//! needed; `lab verify` on a lab that is not up is one error. Labs are named with `hin`.

mod common;

use common::*;
use std::process::Command;

/// A copy of an example topology in a file anyone may read (the unprivileged run must be able
/// to read it, so that it fails on the kernel, not on the file).
fn readable_copy(rel: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_file(rel)).expect("example");
    let path = temp_topology("hin", &text);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}

#[test]
fn plan_and_apply_read_the_topology_from_stdin() {
    let lab = Lab::new("hin", &repo_file("topologies/bridge.yaml"));
    lab.up();
    let out = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "destroy failed");
    let ns = lab.host_ns("node-1");
    assert_eq!(owned_links(&ns), Vec::<String>::new());

    let text = std::fs::read(&lab.file).expect("topology");
    let args = |cmd: &'static str, extra: &'static str| {
        vec![cmd, "-", "--lab", &lab.name, "--host", "node-1", extra]
    };
    let out = np_stdin(&args("plan", "--detailed-exitcode"), &text);
    assert_eq!(out.status.code(), Some(2), "changes planned from stdin");
    let out = np_stdin(&args("apply", "--auto-approve"), &text);
    assert_eq!(out.status.code(), Some(0), "apply from stdin");
    // Checked with ip: the bridge and the three containers' veths are there and marked.
    assert_eq!(owned_links(&ns).len(), 4, "{:?}", owned_links(&ns));
    let out = np_stdin(&args("plan", "--detailed-exitcode"), &text);
    assert_eq!(out.status.code(), Some(0), "nothing left to do");
}

#[test]
fn an_unowned_vxlan_with_the_vni_and_port_is_a_plan_conflict() {
    let lab = Lab::new("hin", &repo_file("topologies/vxlan-bridged.yaml"));
    lab.up();
    let out = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "destroy failed");
    let ns = lab.host_ns("node-1");
    // Another tool's vxlan with the topology's VNI (100) and port (4789), under its own name.
    run(
        "ip",
        &[
            "-n", &ns, "link", "add", "hinvx", "type", "vxlan", "id", "100", "dstport", "4789",
        ],
    );

    let out = lab.on_host("plan", "node-1", &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("vni 100 on port 4789 is already used by link host/hinvx"),
        "the conflict names the foreign vxlan:\n{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !stderr(&out).contains("File exists"),
        "apply reached the kernel: {}",
        stderr(&out)
    );
    // Refused before any step: nothing of netplan-rs's on the host, the foreign link intact.
    assert_eq!(owned_links(&ns), Vec::<String>::new());
    let foreign = link(&ns, "hinvx").expect("hinvx still there");
    assert_eq!(foreign["linkinfo"]["info_data"]["id"], 100, "{foreign}");

    // Without it, the same apply succeeds.
    run("ip", &["-n", &ns, "link", "del", "hinvx"]);
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(
        out.status.success(),
        "apply after removing the foreign vxlan"
    );
    lab.assert_no_changes("node-1");
}

#[test]
fn without_privileges_the_error_is_one_line_saying_root_is_needed() {
    must_root();
    let file = readable_copy("topologies/bridge.yaml");
    let name = format!("hin{}np", std::process::id() % 100_000);
    // Guard first: should the unprivileged run build anything, it is torn down.
    let lab = Lab {
        name: name.clone(),
        file: file.clone(),
    };
    let up = np_nobody(&["lab", "up", &s(&file), "--lab", &name]);
    assert_eq!(up.status.code(), Some(1));
    let err = stderr(&up);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("Error: ")
            && err.contains("must run as root")
            && err.contains("CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(!netns_exists(&format!("{name}.switch")), "nothing built");

    // On a lab that is up (built as root), a kernel operation in its namespace is refused the
    // same way.
    lab.up();
    for cmd in [&["plan"][..], &["apply", "--auto-approve"]] {
        let file = s(&file);
        let mut args = cmd.to_vec();
        args.extend([file.as_str(), "--lab", &name, "--host", "node-1"]);
        let out = np_nobody(&args);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{cmd:?}: one line: {err}");
        assert!(
            err.contains("must run as root") && err.contains("CAP_NET_ADMIN"),
            "{cmd:?}: {err}"
        );
        assert!(!err.contains("os error"), "{cmd:?}: raw OS error: {err}");
    }
    // Root without CAP_NET_ADMIN: the namespace opens, the netlink dump is refused, same line.
    let out = Command::new("setpriv")
        .args(["--bounding-set=-net_admin", "--inh-caps=-net_admin", bin()])
        .args(["plan", &s(&file), "--lab", &name, "--host", "node-1"])
        .output()
        .expect("running setpriv");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("must run as root") && err.contains("CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(!err.contains("os error"), "raw OS error: {err}");
    lab.assert_no_changes("node-1");
    drop(lab);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn lab_verify_on_a_lab_that_is_not_up_is_one_error() {
    let lab = Lab::new("hin", &repo_file("topologies/bridge.yaml"));
    let out = lab.cmd(&["lab", "verify"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "", "no matrix");
    let name = &lab.name;
    assert_eq!(
        stderr(&out),
        format!(
            "Error: simulated host node-1 of lab {name} does not exist (no netns {name}-node-1); run `netplan-rs lab up FILE --lab {name}` first\n"
        )
    );
}

fn s(path: &std::path::Path) -> String {
    path.display().to_string()
}
