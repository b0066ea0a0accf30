//! The kernel benchmark script (`benches/kernel.sh`) at tiny sizes, one round, so that it cannot
//! rot: it must run to the end against this build, print the machine and a table with every row
//! filled (no contender failed), leave no namespace behind, and skip the CNI peer with the
//! reason and the install command when the plugins are absent (CI does not install them).
//! Speed is not asserted (docs/architecture.md: speed is measured in benchmarks).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Runs the script with `env` (and this build of netplan-rs); returns stdout, failing the test
/// when the script fails or leaves a namespace with its prefix.
fn run_bench(prefix: &str, env: &[(&str, &str)]) -> String {
    must_root();
    let out = Command::new("bash")
        .arg(repo_file("benches/kernel.sh"))
        .env("NETPLAN_RS", bin())
        .env("KB_PREFIX", prefix)
        .env("ROUNDS", "1")
        // A loaded machine (the rest of the suite) may never look quiet: a few seconds, then
        // the settled rows are measured anyway; this test checks rows, not times.
        .env("SETTLE", "3")
        .envs(env.iter().copied())
        .output()
        .expect("running benches/kernel.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("$ benches/kernel.sh ({env:?})\n{stdout}\n{stderr}");
    assert!(out.status.success(), "kernel.sh failed:\n{stderr}");
    let left: Vec<String> = run("ip", &["netns", "list"])
        .lines()
        .filter(|l| l.starts_with(&format!("{prefix}_")))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    stdout
}

/// The table's row whose first cell is `work`, split into its cells.
fn row(table: &str, work: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {work} |")))
        .unwrap_or_else(|| panic!("no row {work:?} in:\n{table}"));
    let cells: Vec<String> = line
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect();
    assert_eq!(cells.len(), 6, "row {work:?} has 6 cells: {line}");
    cells
}

/// A measured cell: a number with its unit, after an optional label.
fn is_measured(cell: &str) -> bool {
    let value = cell.rsplit(": ").next().unwrap_or(cell);
    let number = value
        .trim_start_matches('x')
        .trim_end_matches(" ms")
        .trim_end_matches(" s")
        .trim_end_matches(" MB");
    number.parse::<f64>().is_ok()
}

/// A CPU cell: "USER + SYSTEM s", after an optional label.
fn is_cpu(cell: &str) -> bool {
    let value = cell.rsplit(": ").next().unwrap_or(cell);
    value.strip_suffix(" s").is_some_and(|v| {
        v.split(" + ").count() == 2 && v.split(" + ").all(|n| n.parse::<f64>().is_ok())
    })
}

fn cni_installed(dir: &str) -> bool {
    Path::new(dir).join("bridge").exists() && Path::new(dir).join("host-local").exists()
}

#[test]
fn tiny_run_prints_machine_and_every_row() {
    let prefix = format!("kb{}t", std::process::id());
    let table = run_bench(
        &prefix,
        &[
            ("SIZES", "3 6"),
            ("VXLAN_HOSTS", "3"),
            ("VXLAN_PER_HOST", "2"),
            ("ROUTED_PEERS", "3"),
        ],
    );
    assert!(table.contains("cores, kernel "), "machine line:\n{table}");
    assert!(table.contains("load average at start: "), "{table}");
    assert!(!table.contains("failed"), "a contender failed:\n{table}");
    let cni = cni_installed("/usr/lib/cni");
    for n in [3, 6] {
        let apply = row(&table, &format!("{n} containers on one bridge: apply"));
        assert!(is_measured(&apply[1]), "{apply:?}");
        assert!(apply[3].starts_with("ip -batch: ") && is_measured(&apply[3]));
        assert!(
            apply[2].starts_with("CNI bridge + host-local: "),
            "{apply:?}"
        );
        if cni {
            assert!(
                is_measured(&apply[2]) && is_measured(&apply[4]),
                "{apply:?}"
            );
        } else {
            assert!(apply[2].contains("apt-get install containernetworking-plugins"));
            assert_eq!(apply[4], "-");
        }
        assert!(is_measured(&apply[5]), "{apply:?}");
        for work in [
            format!("{n} containers: no-op plan, right after the apply"),
            format!("{n} containers: no-op plan, settled host"),
            format!("{n} containers: destroy, to completion"),
        ] {
            let cells = row(&table, &work);
            assert!(cells[1..].iter().all(|c| is_measured(c)), "{cells:?}");
        }
        let rss = row(&table, &format!("{n} containers: max RSS of apply"));
        assert!(
            is_measured(&rss[1]) || rss[1].starts_with("skipped: "),
            "{rss:?}"
        );
    }
    let growth = row(&table, "growth of apply, 3 -> 6 containers (x2.00)");
    assert!(
        is_measured(&growth[1]) && is_measured(&growth[3]),
        "{growth:?}"
    );
    for work in [
        "bridged VXLAN host, 2 local + 4 remote containers: first apply",
        "routed VXLAN host (flannel style), 3 peer hosts: first apply",
    ] {
        let cells = row(&table, work);
        assert!(
            cells[3].starts_with("ip -batch + bridge -batch: "),
            "{cells:?}"
        );
        assert!(
            is_measured(&cells[1]) && is_measured(&cells[3]) && is_measured(&cells[5]),
            "{cells:?}"
        );
    }
    for kind in ["vxlan", "routed"] {
        row(&table, &format!("{kind} host: max RSS of apply"));
        let cpu = row(&table, &format!("{kind} host: CPU of apply, user + system"));
        assert!(is_cpu(&cpu[1]) && is_cpu(&cpu[3]), "{cpu:?}");
    }
    assert!(
        table.contains("Floor: `ip` sending exactly the same objects"),
        "{table}"
    );
}

#[test]
fn without_the_cni_plugins_their_cells_say_why_and_the_rest_runs() {
    let prefix = format!("kb{}u", std::process::id());
    let empty = std::env::temp_dir().join(format!("{prefix}-no-cni"));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let table = run_bench(
        &prefix,
        &[
            ("CASES", "bridge"),
            ("SIZES", "2"),
            ("CNI_DIR", &empty.display().to_string()),
        ],
    );
    let _ = std::fs::remove_dir(&empty);
    let apply = row(&table, "2 containers on one bridge: apply");
    assert_eq!(
        apply[2],
        format!(
            "CNI bridge + host-local: skipped: no CNI bridge and host-local plugins in {} \
             (apt-get install containernetworking-plugins)",
            empty.display()
        )
    );
    assert_eq!(apply[4], "-");
    assert!(
        is_measured(&apply[1]) && is_measured(&apply[3]),
        "{apply:?}"
    );
    assert!(
        !table.lines().any(|l| l.contains("VXLAN host")),
        "CASES=bridge runs the bridge only:\n{table}"
    );
}
