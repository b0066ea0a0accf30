//! The command line on the worst inputs of the mutation sweep (`src/tests_sweep.rs`): `validate`
//! and `plan` exit 1 with one clear line per problem, each naming the file, the line:column of the
//! key or value and its YAML path, followed by the source snippet. No root needed: a file that fails to
//! load stops before the kernel is read.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Output;

/// A scratch directory removed even when the test fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("netplan-rs-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `validate` and `plan` both reject `file` with exactly `expected` problems, in order: each a
/// line starting with the file name and containing its expected text, and each located one
/// followed by its source snippet (the line with a `^` under the place).
fn rejected_with(file: &str, expected: &[&str]) {
    for command in ["validate", "plan"] {
        let out = np(&[command, file]);
        assert_eq!(out.status.code(), Some(1), "{command} {file}");
        assert!(out.stdout.is_empty(), "{command}: nothing but the errors");
        let lines = err_lines(&out);
        let headers: Vec<(usize, &String)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with(&format!("{file}:")))
            .collect();
        assert_eq!(
            headers.len(),
            expected.len(),
            "{command}: one header line per problem: {lines:#?}"
        );
        for ((at, line), want) in headers.iter().zip(expected) {
            assert!(line.contains(want), "{line:?} should contain {want:?}");
            let located = line[file.len()..]
                .split(':')
                .nth(1)
                .is_some_and(|n| n.parse::<usize>().is_ok());
            if located {
                let snippet: Vec<&String> = lines[at + 1..]
                    .iter()
                    .take_while(|l| !l.starts_with(&format!("{file}:")) && !l.is_empty())
                    .collect();
                assert!(
                    snippet.iter().any(|l| l.contains('^')),
                    "{command}: {line:?} has no snippet with a caret: {lines:#?}"
                );
            }
        }
        // Only headers, snippet lines (indented or numbered) and blank separators.
        for line in &lines {
            assert!(
                line.starts_with(&format!("{file}:"))
                    || line.is_empty()
                    || line.starts_with(' ')
                    || line.starts_with(|c: char| c.is_ascii_digit()),
                "{command}: stray line {line:?}"
            );
        }
    }
}

#[test]
fn every_problem_of_the_worst_file_gets_one_line() {
    let file = repo_file("tests/fixtures/invalid/sweep-worst.yaml")
        .display()
        .to_string();
    rejected_with(
        &file,
        &[
            "hosts.κόμβος: name \"κόμβος\" contains 'κ'",
            "networks.overlay.vni: 16777216 is not a VNI (1 to 16777215)",
            "networks.mvlan.subnet: 172.18.50.0/24 overlaps the subnet of network overlay",
            "networks.mvlan.vlan: 4095 is not a VLAN id (1 to 4094)",
            "is 86 characters, the kernel allows at most 15; use at most 12 characters",
            "containers.db.host: unknown host \"node-9\"",
            "containers.c1.networks.nope: unknown network \"nope\"",
            "containers.db.netns: give exactly one of pid, path or docker (found: pid and docker)",
            "containers.web.ports[0]: \"0:80\": host port 0 is not in 1..65535",
            "containers.web.ports[1]: \"8080:80/sctp\": protocol \"sctp\" is not tcp or udp",
            "containers.web.ports[2]: \"a:b\": host port \"a\" is not a number",
            "containers.web.ports[3]: \"65536:80\": host port 65536 is not in 1..65535",
            "containers.web.address: 192.168.201.4 is outside 192.168.200.0/24",
            "containers.c2.address: 172.18.50.255 is the broadcast address of 172.18.50.0/24",
            "containers.c1.default_route: \"local\" is not one of this container's networks",
        ],
    );
}

#[test]
fn damaged_files_get_one_located_line() {
    let scratch = Scratch::new("cli-mutations");
    let base = std::fs::read_to_string(repo_file("topologies/bridge-nat.yaml")).expect("example");
    // Truncated in the middle of a flow mapping.
    let cut = base.rfind("ports: [\"8080").expect("ports in the example") + 12;
    let truncated = scratch.file("truncated.yaml", &base[..cut]);
    let control = scratch.file(
        "control.yaml",
        "version: 1\nhosts:\n  h1: { underlay: 10.0.0.1/24 \u{1}}\n",
    );
    let huge = scratch.file(
        "huge.yaml",
        "version: 1\nnetworks:\n  o: { driver: vxlan, mode: bridged, vni: 99999999999999999999, subnet: 10.1.0.0/16 }\n",
    );
    let in_network = scratch.file(
        "in-network.yaml",
        "version: 1\nnetworks:\n  local:\n    driver: bridge\n    subnet: 300.1.1.0/24\n",
    );
    let address = scratch.file(
        "address.yaml",
        "version: 1\nhosts:\n  h1: { underlay: 10.0.0.1/24 }\nnetworks:\n  local: { driver: bridge, subnet: 10.9.0.0/24 }\ncontainers:\n  c: { host: h1, network: local, address: \"fd00::5\" }\n",
    );
    let duplicate = scratch.file(
        "duplicate.yaml",
        "version: 1\nhosts:\n  h1: { underlay: 10.0.0.1/24 }\n  h1: { underlay: 10.0.0.2/24 }\n",
    );
    let cases: [(&str, &str); 6] = [
        (&truncated, ":23:52: found unexpected end of stream"),
        (&control, ":3:31: control characters are not allowed"),
        (
            &huge,
            ":3:43: networks.o.vni: 99999999999999999999 is out of range",
        ),
        (
            &in_network,
            ":5:13: networks.local.subnet: \"300.1.1.0/24\" is not an address/prefix",
        ),
        (&address, ":7:43: containers.c.address: fd00::5 is IPv6"),
        (&duplicate, "hosts: duplicate key \"h1\""),
    ];
    for (file, want) in cases {
        rejected_with(file, &[want]);
    }
}
