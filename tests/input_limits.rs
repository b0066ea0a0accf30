//! Input limits as a user meets them through the binary: `-` reads the topology from stdin;
//! devices, directories and FIFOs are refused at once by name; deep nesting, invalid UTF-8 and
//! values the kernel would refuse (MTU, VXLAN port) fail `validate` with a location or a YAML
//! path. No root needed: nothing here reaches the kernel.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run netplan-rs, failing the test (instead of hanging) if it takes longer than a minute.
fn np_deadline(args: &[&str]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running netplan-rs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netplan-rs {} did not return", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("hin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn validate_reads_stdin_with_a_dash() {
    let text = std::fs::read(repo_file("topologies/vxlan-bridged.yaml")).expect("example");
    let out = np_stdin(&["validate", "-"], &text);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "<stdin>: valid topology: 2 hosts, 1 network, 2 containers\n"
    );
    // Errors from stdin are located too.
    let out = np_stdin(
        &["validate", "-"],
        b"version: 1\nhosts:\n  n: { colour: red }\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("<stdin>:3:"), "{}", stderr(&out));
}

#[test]
fn stdin_is_read_with_the_size_cap() {
    // 17 MiB of comment lines: refused after reading at most 16 MiB + 1 byte.
    let line = format!("#{}\n", "x".repeat(1023));
    let big = line.repeat(17 * 1024);
    let out = np_stdin(&["validate", "-"], big.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "<stdin>: is larger than 16 MiB, the most a topology may be\n"
    );
}

#[test]
fn devices_directories_and_fifos_are_refused_at_once() {
    for (path, what) in [("/dev/zero", "a character device"), ("/", "a directory")] {
        for cmd in ["validate", "plan", "apply"] {
            let out = np_deadline(&[cmd, path]);
            assert_eq!(out.status.code(), Some(1), "{cmd} {path}");
            assert_eq!(
                stderr(&out).trim_end(),
                format!(
                    "{}{path}: is {what}; a topology must be a regular file (or - for stdin)",
                    if cmd == "validate" { "" } else { "Error: " }
                ),
                "{cmd} {path}"
            );
        }
    }
    let dir = TempDir::new("fifo");
    let fifo = dir.0.join("topo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // No writer ever opens the FIFO: reading it would block forever.
    let out = np_deadline(&["validate", &s(&fifo)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: is a FIFO; a topology must be a regular file (or - for stdin)\n",
            fifo.display()
        )
    );
}

#[test]
fn deep_nesting_fails_quickly_with_a_location() {
    let dir = TempDir::new("deep");
    let levels = 65_536;
    let text = format!(
        "version: 1\nhosts: {}{}\n",
        "[".repeat(levels),
        "]".repeat(levels)
    );
    let path = dir.file("deep.yaml", text.as_bytes());
    let out = np_deadline(&["validate", &s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    // The header line, then the snippet: the 131k-character line cut short around the caret.
    let text = stderr(&out);
    assert!(
        text.starts_with(&format!(
            "{}:2:71: nested deeper than 64 levels, the most a topology may have\n  |\n2 | hosts: [[[",
            path.display()
        )),
        "{text}"
    );
    assert!(
        text.len() < 1000,
        "the long line is cut: {} bytes",
        text.len()
    );
    assert!(
        text.trim_end().ends_with(&format!("{}^", " ".repeat(71))),
        "{text}"
    );
}

#[test]
fn invalid_utf8_has_line_and_column() {
    let dir = TempDir::new("utf8");
    let path = dir.file(
        "bad.yaml",
        b"version: 1\nhosts:\n  n\xc3\xa9: { underlay: 10.0.0.1/24 }\n  m\xff: {}\n",
    );
    let out = np_deadline(&["validate", &s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "{}:4:4: invalid UTF-8 (byte 0xff); a topology file must be UTF-8\n",
            path.display()
        )
    );
}

#[test]
fn kernel_limits_fail_validate_with_the_yaml_path() {
    let dir = TempDir::new("mtu");
    let path = dir.file(
        "mtu.yaml",
        b"version: 1
hosts:
  n: { underlay: 10.0.0.1/24 }
networks:
  local: { driver: bridge, subnet: 192.168.200.0/24, mtu: 70000 }
  over: { driver: vxlan, mode: bridged, vni: 16777216, port: 0, subnet: 10.9.0.0/16 }
",
    );
    let out = np_deadline(&["validate", &s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    let file = path.display();
    assert_eq!(
        stderr(&out),
        format!(
            "{file}:5:59: networks.local.mtu: MTU 70000 is above 65535, the largest the kernel accepts
  |
5 |   local: {{ driver: bridge, subnet: 192.168.200.0/24, mtu: 70000 }}
  |                                                           ^^^^^ expected an integer 68..65535

{file}:6:46: networks.over.vni: 16777216 is not a VNI (1 to 16777215)
  |
6 |   over: {{ driver: vxlan, mode: bridged, vni: 16777216, port: 0, subnet: 10.9.0.0/16 }}
  |                                              ^^^^^^^^ expected an integer 1..16777215

{file}:6:62: networks.over.port: 0 is not a UDP port (1 to 65535; default 4789)
  |
6 |   over: {{ driver: vxlan, mode: bridged, vni: 16777216, port: 0, subnet: 10.9.0.0/16 }}
  |                                                              ^ expected a UDP port, an integer 1..65535
"
        )
    );
}

#[test]
fn a_lab_from_stdin_needs_a_name() {
    let text = std::fs::read(repo_file("topologies/bridge.yaml")).expect("example");
    let out = np_stdin(&["lab", "verify", "-"], &text);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: the topology comes from stdin, so it cannot name the lab; pass --lab NAME\n"
    );
}
