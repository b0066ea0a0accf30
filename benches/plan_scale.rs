//! Benchmark of the pure pipeline at fleet scale: load + validate, compile for one host, diff
//! against an empty kernel (first apply) and against itself (the no-op plan CI runs for drift).
//! Per-host cost should grow with that host's objects; a bridged overlay is the worst case, since
//! every host carries a neighbour and an FDB entry per remote container.
//!
//! Run: `cargo bench --bench plan_scale` (optionally `-- HOSTS CONTAINERS_PER_HOST`).

use netplan_rs::state::State;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn topology(hosts: usize, per_host: usize) -> String {
    let mut y = String::from("version: 1\nhosts:\n");
    for h in 0..hosts {
        let _ = writeln!(
            y,
            "  h{h}: {{underlay: 10.0.{}.{}/16, interface: eth0}}",
            h / 250,
            h % 250 + 1
        );
    }
    y.push_str(
        "networks:\n  overlay: {driver: vxlan, mode: bridged, vni: 100, subnet: 172.16.0.0/12}\ncontainers:\n",
    );
    for h in 0..hosts {
        for c in 0..per_host {
            let _ = writeln!(y, "  c{h}-{c}: {{host: h{h}, network: overlay}}");
        }
    }
    y
}

/// Run `f` repeatedly for about a second; report the mean time per run.
fn bench<T>(name: &str, mut f: impl FnMut() -> T) {
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < Duration::from_secs(1) || runs < 3 {
        black_box(f());
        runs += 1;
    }
    let per = start.elapsed() / runs;
    println!("{name:<40} {per:>12.3?} per run ({runs} runs)");
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let hosts = args.first().copied().unwrap_or(100);
    let per_host = args.get(1).copied().unwrap_or(20);
    let text = topology(hosts, per_host);
    println!(
        "topology: {hosts} hosts x {per_host} containers, {} bytes",
        text.len()
    );

    bench("load + validate", || {
        netplan_rs::topology::load_str(&text, "bench.yaml").map(|t| t.containers.len())
    });
    let topo =
        netplan_rs::topology::load_str(&text, "bench.yaml").expect("valid benchmark topology");
    bench("compile host h0", || {
        netplan_rs::compile::compile(&topo, "h0").map(|s| s.len())
    });
    let desired = netplan_rs::compile::compile(&topo, "h0").expect("compile");
    println!("host h0 desired objects: {}", desired.len());
    let empty = State::default();
    bench("diff vs empty kernel (first apply)", || {
        netplan_rs::plan::diff(&desired, &empty).steps.len()
    });
    bench("diff vs converged kernel (no-op)", || {
        netplan_rs::plan::diff(&desired, &desired).steps.len()
    });
    let plan = netplan_rs::plan::diff(&desired, &empty);
    bench("render text", || netplan_rs::plan::render_text(&plan).len());
}
