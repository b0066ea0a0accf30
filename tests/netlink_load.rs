//! Netlink under load, on the real kernel (a namespace of its own): applying thousands of
//! neighbour and FDB entries at once (one wave, every request in flight together) and removing
//! them again, round after round, never hangs and always converges. Each round has a deadline,
//! so a hang (a lost acknowledgement nobody waits out) fails the test instead of blocking CI.
//! The entries are counted with `ip -j neigh` and `bridge -j fdb`, not with our own reader.

mod common;

use common::*;
use netplan_rs::apply;
use netplan_rs::kernel::Kernel;
use netplan_rs::plan;
use netplan_rs::state::{Fdb, Link, LinkKind, Mac, Neighbour, Ns, State, Vxlan};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Entries of each kind: neighbours and FDB entries together make ~5000 requests in one wave.
const ENTRIES: usize = 2500;
const ROUNDS: usize = 10;
/// Far above what a round needs on a loaded machine (seconds), far below "forever".
const ROUND_DEADLINE: Duration = Duration::from_secs(180);

fn vxlan() -> Link {
    Link {
        ns: Ns::Host,
        name: "vx-load".into(),
        kind: LinkKind::Vxlan(Vxlan {
            vni: 4242,
            local: None,
            dev: None,
            port: 4789,
            learning: false,
            proxy: true,
        }),
        mac: None,
        mtu: None,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    }
}

/// The vxlan device with `ENTRIES` neighbours (10.77.x.y) and FDB entries (one per remote MAC,
/// towards 192.168.77.1-250).
fn desired() -> State {
    let mut state = State::default();
    state.insert(vxlan());
    for i in 0..ENTRIES {
        let (hi, lo) = ((i / 250) as u8, (i % 250) as u8 + 1);
        let ip = Ipv4Addr::new(10, 77, hi, lo);
        let mac = Mac::docker(ip);
        state.insert(Neighbour {
            ns: Ns::Host,
            link: "vx-load".into(),
            ip: IpAddr::V4(ip),
            mac,
            owned: true,
        });
        state.insert(Fdb {
            ns: Ns::Host,
            link: "vx-load".into(),
            mac,
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 77, lo)),
            owned: true,
        });
    }
    state
}

/// Permanent entries on vx-load, counted by iproute2: (neighbours, FDB entries with a dst).
fn kernel_entries(ns: &str) -> (usize, usize) {
    let neigh = ip_json(ns, &["neigh", "show", "dev", "vx-load"])
        .iter()
        .filter(|n| n["state"].to_string().contains("PERMANENT"))
        .count();
    let fdb = fdb_json(ns, "vx-load")
        .iter()
        .filter(|f| f.get("dst").is_some())
        .count();
    (neigh, fdb)
}

/// Observe, diff against `want`, apply (execute + verify); panics when anything fails or the
/// kernel did not converge.
async fn converge(kernel: &mut Kernel, want: &State) -> usize {
    let observed = kernel.observe().await.expect("observe");
    let plan = plan::diff(want, &observed);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    let steps = plan.steps.len();
    let report = apply::apply(kernel, &plan, want, |_| {})
        .await
        .unwrap_or_else(|e| panic!("apply of {steps} steps: {e}"));
    assert!(
        report.remaining.is_empty(),
        "did not converge: {} step(s) remain",
        report.remaining.steps.len()
    );
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_neighbour_and_fdb_entries_apply_and_remove_without_hanging() {
    let host = NetnsHost::new("hnl-load");
    let want = desired();
    let mut without = State::default();
    without.insert(vxlan());
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    // The device alone first, so every round is ~5000 entry requests in one wave.
    converge(&mut kernel, &without).await;
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let added = tokio::time::timeout(ROUND_DEADLINE, converge(&mut kernel, &want))
            .await
            .unwrap_or_else(|_| panic!("round {round}: adding hung ({ROUND_DEADLINE:?})"));
        let adding = started.elapsed();
        assert_eq!(added, 2 * ENTRIES, "round {round}: steps to add");
        assert_eq!(
            kernel_entries(&host.name),
            (ENTRIES, ENTRIES),
            "round {round}: entries in the kernel after adding"
        );
        let started = Instant::now();
        let removed = tokio::time::timeout(ROUND_DEADLINE, converge(&mut kernel, &without))
            .await
            .unwrap_or_else(|_| panic!("round {round}: removing hung ({ROUND_DEADLINE:?})"));
        let removing = started.elapsed();
        assert_eq!(removed, 2 * ENTRIES, "round {round}: steps to remove");
        assert_eq!(
            kernel_entries(&host.name),
            (0, 0),
            "round {round}: entries in the kernel after removing"
        );
        eprintln!("round {round}: adding {adding:?}, removing {removing:?}");
    }
}
