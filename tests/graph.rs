//! `netplan-rs graph`: the binary prints the golden DOT/Mermaid text, Graphviz parses what it
//! prints for every example (skipped, saying why, when `dot` is not installed), bad input fails
//! with one message, and `--plan --lab` draws a simulated host's real plan without changing it.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn golden(name: &str) -> String {
    std::fs::read_to_string(repo_file(&format!("tests/golden/graph/{name}"))).unwrap()
}

fn example(name: &str) -> String {
    repo_file(&format!("topologies/{name}.yaml"))
        .display()
        .to_string()
}

#[test]
fn prints_the_golden_files() {
    let file = example("vxlan-bridged");
    let out = np(&["graph", &file]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), golden("vxlan-bridged.dot"));
    let out = np(&["graph", &file, "--format", "mermaid"]);
    assert_eq!(stdout(&out), golden("vxlan-bridged.mmd"));
    let out = np(&["graph", &example("host-gw"), "--format", "dot"]);
    assert_eq!(stdout(&out), golden("host-gw.dot"));
    let out = np(&["graph", &file, "--plan", "--offline", "--host", "node-1"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), golden("plan-vxlan-bridged-node-1.dot"));
    // From stdin, the title says so.
    let text = std::fs::read(&file).unwrap();
    let out = np_stdin(&["graph", "-", "--format", "mermaid"], &text);
    assert_eq!(
        stdout(&out),
        golden("vxlan-bridged.mmd").replace("%% topology vxlan-bridged", "%% topology stdin")
    );
}

#[test]
fn bad_input_fails_with_one_message_and_no_output() {
    let file = example("vxlan-bridged");
    let cases: [(&[&str], &str); 4] = [
        (&["--host", "node-9"], "unknown host \"node-9\""),
        (&["--lab", "x"], "--lab only applies to `graph --plan`"),
        (&["--plan", "--offline"], "needs --host NAME"),
        (&["--format", "svg"], "invalid value 'svg'"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["graph", file.as_str()];
        args.extend_from_slice(extra);
        let out = np(&args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(stdout(&out).is_empty(), "{extra:?}");
        assert!(
            stderr(&out).contains(message),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
    let out = np(&["graph", "/nonexistent/npg.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
}

/// Whether Graphviz accepts `dot_text` (`dot -Tsvg`), returning the SVG.
fn render_svg(dot_text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running dot");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot_text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot rejected:\n{dot_text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn have_dot() -> bool {
    Command::new("dot").arg("-V").output().is_ok()
}

#[test]
fn graphviz_parses_every_example_and_every_offline_plan() {
    if !have_dot() {
        eprintln!("SKIPPED: Graphviz `dot` is not installed (.ci/run installs graphviz)");
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(repo_file("topologies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in &files {
        let path = file.display().to_string();
        let out = np(&["graph", &path]);
        assert!(out.status.success(), "{path}");
        let svg = render_svg(&stdout(&out));
        assert!(svg.contains("<svg"), "{path}");
        let topo = netplan_rs::topology::load(file).unwrap();
        for host in topo.hosts.keys() {
            for args in [
                vec!["graph", &path, "--host", host],
                vec!["graph", &path, "--plan", "--offline", "--host", host],
            ] {
                let out = np(&args);
                assert!(out.status.success(), "{args:?}");
                render_svg(&stdout(&out));
            }
        }
    }
}

#[test]
fn hostile_names_survive_both_formats() {
    // A file name and an existing-namespace path are the free-form texts a topology puts in a
    // picture: quotes, backslashes, HTML and Mermaid's entity and comment syntax.
    let dir = std::env::temp_dir().join(format!("npg{}-we\"ird", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a \"b\" \\n #1; %% <i>.yaml");
    std::fs::write(
        &file,
        r#"version: 1
hosts:
  n1: { underlay: 192.168.31.183/24, interface: enp0s5 }
networks:
  local: { driver: bridge, subnet: 10.0.0.0/24 }
containers:
  c1: { host: n1, network: local, netns: { path: '/run/netns/x"y\z<b>#9;|end' } }
"#,
    )
    .unwrap();
    let path = file.display().to_string();
    let dot_out = np(&["graph", &path]);
    let mermaid_out = np(&["graph", &path, "--format", "mermaid"]);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    assert!(dot_out.status.success() && mermaid_out.status.success());
    let mermaid = stdout(&mermaid_out);
    assert!(
        mermaid.contains("existing netns: /run/netns/x#34;y#92;z#60;b#62;#35;9#59;#124;end"),
        "{mermaid}"
    );
    if !have_dot() {
        eprintln!("SKIPPED the Graphviz half: `dot` is not installed");
        return;
    }
    let svg = render_svg(&stdout(&dot_out));
    // Graphviz shows the texts as they are (XML-escaped in the SVG).
    assert!(
        svg.contains("topology a &quot;b&quot; \\n #1; %% &lt;i&gt;"),
        "{svg}"
    );
    assert!(
        svg.contains("/run/netns/x&quot;y\\z&lt;b&gt;#9;|end"),
        "{svg}"
    );
}

#[test]
fn plan_of_a_lab_host_is_drawn_without_changing_it() {
    let lab = Lab::new("npg", &repo_file("topologies/vxlan-bridged.yaml"));
    lab.up_hosts_only();
    let out = lab.on_host("graph", "node-1", &["--plan"]);
    assert!(out.status.success());
    let dot = stdout(&out);
    assert!(dot.contains(&format!(
        "label=\"plan for simulated host node-1 of lab {}\"",
        lab.name
    )));
    for step in [
        "+ namespace docker1",
        "+ link host/br-overlay",
        "+ link host/vx-overlay",
        "+ fdb host/vx-overlay 02:42:ac:12:14:02",
    ] {
        assert!(dot.contains(step), "{step} missing:\n{dot}");
    }
    // One node per step of the same host's `plan`, and arrows between them.
    let json = lab.on_host("plan", "node-1", &["--json"]);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let steps = plan["steps"].as_array().unwrap().len();
    let nodes = dot.lines().filter(|l| l.contains("shape=box")).count();
    assert_eq!(nodes, steps);
    assert!(dot.lines().filter(|l| l.contains("\" -> \"")).count() > 0);
    // Read only: the bridge it plans is still missing (checked with ip, not netplan-rs).
    let host_ns = lab.host_ns("node-1");
    assert!(!link_names(&host_ns).contains(&"br-overlay".to_string()));
    // Once applied, the DAG is empty.
    lab.up();
    let out = lab.on_host("graph", "node-1", &["--plan", "--format", "mermaid"]);
    assert!(
        stdout(&out).contains("n_none>\"No changes.\"]"),
        "{}",
        stdout(&out)
    );
}
