//! Golden tests: the desired state of every host of every example topology, rendered with
//! `State::render_text()`, must equal `tests/golden/<stem>.<host>.state`. `UPDATE_GOLDEN=1`
//! rewrites the files (inspect the diff before committing it).

use crate::compile::compile;
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
    "routed",
];

#[test]
fn examples_match_golden_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut mismatches = Vec::new();
    // Plus a two-bridge host (its isolation rules) and routed VXLAN, kept out of topologies/
    // (see the fixtures).
    let files = EXAMPLES
        .iter()
        .map(|stem| (*stem, root.join("topologies").join(format!("{stem}.yaml"))))
        .chain([
            (
                "bridge-isolation",
                root.join("tests/fixtures/bridge-isolation.yaml"),
            ),
            (
                "routed-vxlan",
                root.join("tests/fixtures/routed-vxlan.yaml"),
            ),
            ("policy", root.join("tests/fixtures/policy.yaml")),
        ]);
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
            mismatches.extend(crate::golden::mismatch(
                &format!("{stem}.{host}.state"),
                &got,
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatch (UPDATE_GOLDEN=1 cargo test examples_match_golden_files rewrites):\n{}",
        mismatches.join("\n")
    );
}
