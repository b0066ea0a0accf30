//! Golden tests: the desired state of every host of every example topology, rendered with
//! `State::render_text()`, must equal `tests/golden/<stem>.<host>.state`. `UPDATE_GOLDEN=1`
//! rewrites the files (inspect the diff before committing it).

use super::compile;
use crate::topology::load;
use std::path::PathBuf;

const EXAMPLES: &[&str] = &[
    "vxlan-bridged",
    "vxlan-routed",
    "bridge",
    "dual-stack",
    "vxlan-ipv6-underlay",
    "host-gw",
    "macvlan",
    "macvlan-vlan",
    "bridge-nat",
    "existing-netns",
];

#[test]
fn examples_match_golden_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    // Plus a two-bridge host (its isolation rules), kept out of topologies/ (see the fixture).
    let files = EXAMPLES
        .iter()
        .map(|stem| (*stem, root.join("topologies").join(format!("{stem}.yaml"))))
        .chain([(
            "bridge-isolation",
            root.join("tests/fixtures/bridge-isolation.yaml"),
        )]);
    for (stem, file) in files {
        let topo = match load(&file) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        for host in topo.hosts.keys() {
            let got = match compile(&topo, host) {
                Ok(state) => state.render_text(),
                Err(e) => panic!("{stem}/{host}: {e}"),
            };
            let path = root
                .join("tests/golden")
                .join(format!("{stem}.{host}.state"));
            if update {
                std::fs::create_dir_all(root.join("tests/golden")).expect("create tests/golden");
                std::fs::write(&path, &got).expect("write golden file");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if got != want {
                let diff = similar::TextDiff::from_lines(&want, &got)
                    .unified_diff()
                    .header("golden", "compiled")
                    .to_string();
                mismatches.push(format!("{}:\n{diff}", path.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatch (UPDATE_GOLDEN=1 cargo test examples_match_golden_files rewrites):\n{}",
        mismatches.join("\n")
    );
}
