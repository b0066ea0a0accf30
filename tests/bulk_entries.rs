//! Entries in bulk, on the real kernel (a namespace of its own): a wave's many address, route,
//! neighbour and FDB steps in one namespace go many to a datagram (`kernel/exec_bulk.rs`). These
//! tests hold the bulk path to what one request per step guaranteed: each refusal is reported on
//! its own step (across datagram boundaries), the other steps are carried out, the test fault
//! seam numbers and fails steps in bulk as it does one by one, and deletes go in bulk too.
//! Checked with `ip -j` and `bridge -j`, not with our own reader.

mod common;

use common::*;
use netplan_rs::kernel::fault::{FailAt, When};
use netplan_rs::kernel::{Kernel, KernelError};
use netplan_rs::plan::Step;
use netplan_rs::state::{Fdb, Link, LinkKind, Mac, Neighbour, Ns, Object, Route, Vxlan};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

const DEV: &str = "vx-bulk";

fn vxlan() -> Link {
    Link {
        ns: Ns::Host,
        name: DEV.into(),
        kind: LinkKind::Vxlan(Vxlan {
            vni: 4343,
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

fn ip_of(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 66, (i / 250) as u8, (i % 250) as u8 + 1)
}

fn neighbour(i: usize) -> Object {
    Object::Neighbour(Neighbour {
        ns: Ns::Host,
        link: DEV.into(),
        ip: IpAddr::V4(ip_of(i)),
        mac: Mac::docker(ip_of(i)),
        owned: true,
    })
}

fn fdb(i: usize) -> Object {
    Object::Fdb(Fdb {
        ns: Ns::Host,
        link: DEV.into(),
        mac: Mac::docker(ip_of(i)),
        dst: IpAddr::V4(Ipv4Addr::new(192, 168, 66, (i % 250) as u8 + 1)),
        owned: true,
    })
}

/// Route `i`'s destination: a /24 under 10.100.0.0/14.
fn route_dst(i: usize) -> String {
    format!("10.{}.{}.0/24", 100 + i / 256, i % 256)
}

/// Route `i`: [`route_dst`] on the device.
fn route(i: usize) -> Object {
    Object::Route(Route {
        ns: Ns::Host,
        dst: route_dst(i).parse().expect("cidr"),
        gateway: None,
        dev: DEV.into(),
        onlink: false,
        owned: true,
    })
}

async fn kernel_with_vxlan(host: &NetnsHost) -> Kernel {
    let kernel = Kernel::connect(host.target()).await.expect("connect");
    kernel
        .execute(&Step::create(Object::Link(vxlan()), None))
        .await
        .expect("create the vxlan device");
    kernel
}

/// The permanent neighbours' addresses and the FDB entries' MACs (with a dst) on the device.
fn kernel_entries(ns: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let neighbours = ip_json(ns, &["neigh", "show", "dev", DEV])
        .iter()
        .filter(|n| n["state"].to_string().contains("PERMANENT"))
        .map(|n| n["dst"].as_str().unwrap_or_default().to_string())
        .collect();
    let fdb = fdb_json(ns, DEV)
        .iter()
        .filter(|f| f.get("dst").is_some())
        .map(|f| f["mac"].as_str().unwrap_or_default().to_string())
        .collect();
    (neighbours, fdb)
}

/// Route destinations in the main table with their protocol.
fn kernel_routes(ns: &str) -> Vec<(String, String)> {
    ip_json(ns, &["route", "show", "table", "main"])
        .iter()
        .map(|r| {
            (
                r["dst"].as_str().unwrap_or_default().to_string(),
                r["protocol"].to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_in_bulk_names_its_own_step_and_the_rest_are_applied() {
    let host = NetnsHost::new("npbulk");
    let kernel = kernel_with_vxlan(&host).await;
    // 300 neighbours, 300 FDB entries and 30 routes: more than one datagram (512 requests).
    // Four routes already exist, made by hand, so their exclusive creates are refused: the
    // first request, the last of the first datagram, the first of the second, and the last.
    let mut objects: Vec<Object> = Vec::new();
    let mut route_at = Vec::new();
    for i in 0..630 {
        objects.push(match i {
            0 | 511 | 512 | 629 => {
                route_at.push(i);
                route(i)
            }
            i if i % 21 == 7 => {
                route_at.push(i);
                route(i)
            }
            i if i % 2 == 0 => neighbour(i),
            i => fdb(i),
        });
    }
    let refused = [0, 511, 512, 629];
    for &i in &refused {
        let dst = route_dst(i);
        run(
            "ip",
            &[
                "-n", &host.name, "route", "add", &dst, "dev", DEV, "proto", "static",
            ],
        );
    }
    let steps: Vec<Step> = objects
        .iter()
        .map(|o| Step::create(o.clone(), None))
        .collect();
    let step_refs: Vec<&Step> = steps.iter().collect();
    let results = kernel.execute_all(&step_refs).await;
    assert_eq!(results.len(), steps.len());
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(()) => assert!(!refused.contains(&i), "step {i} was not refused"),
            Err(e) => {
                assert!(refused.contains(&i), "step {i} failed: {e}");
                let KernelError::Netlink { object, source, .. } = e else {
                    panic!("step {i}: not the kernel's refusal: {e}");
                };
                assert_eq!(*object, objects[i].key().to_string(), "step {i}");
                assert_eq!(source.raw_os_error(), Some(libc::EEXIST), "step {i}");
            }
        }
    }
    // Every other entry is in the kernel; the refused routes are still the hand-made ones.
    let (neighbours, fdb) = kernel_entries(&host.name);
    let want_neighbours: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Neighbour(n) => Some(n.ip.to_string()),
            _ => None,
        })
        .collect();
    let want_fdb: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Fdb(f) => Some(f.mac.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(neighbours, want_neighbours);
    assert_eq!(fdb, want_fdb);
    let routes = kernel_routes(&host.name);
    for &i in &route_at {
        let dst = route_dst(i);
        let protocol = routes
            .iter()
            .find(|(d, _)| *d == dst)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("route {dst} missing: {routes:?}"));
        assert_eq!(
            protocol.contains("static"),
            refused.contains(&i),
            "{dst}: {protocol}"
        );
    }

    // Deletes go in bulk too; an entry already gone is the kernel's refusal of that step only.
    run(
        "ip",
        &[
            "-n",
            &host.name,
            "neigh",
            "del",
            &ip_of(2).to_string(),
            "dev",
            DEV,
        ],
    );
    let deletes: Vec<Step> = objects
        .iter()
        .enumerate()
        .filter(|(i, _)| !refused.contains(i))
        .map(|(_, o)| Step::delete(o.clone(), None))
        .collect();
    let delete_refs: Vec<&Step> = deletes.iter().collect();
    let results = kernel.execute_all(&delete_refs).await;
    for (step, result) in deletes.iter().zip(&results) {
        let gone_before = step.key() == neighbour(2).key();
        assert_eq!(result.is_err(), gone_before, "{}: {result:?}", step.key());
    }
    let (neighbours, fdb) = kernel_entries(&host.name);
    assert!(
        neighbours.is_empty() && fdb.is_empty(),
        "{neighbours:?} {fdb:?}"
    );
    let left: Vec<_> = kernel_routes(&host.name)
        .into_iter()
        .filter(|(d, _)| route_at.iter().any(|&i| route_dst(i) == *d))
        .collect();
    assert_eq!(
        left.len(),
        refused.len(),
        "only the hand-made routes: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_fault_fails_steps_in_bulk_as_it_does_one_by_one() {
    for when in [When::BeforeSending, When::AfterSending] {
        let host = NetnsHost::new("npbulkf");
        let mut kernel = kernel_with_vxlan(&host).await;
        let objects: Vec<Object> = (0..40).map(neighbour).collect();
        let steps: Vec<Step> = objects
            .iter()
            .map(|o| Step::create(o.clone(), None))
            .collect();
        let step_refs: Vec<&Step> = steps.iter().collect();
        // The 7th request from now: the 7th step handed over.
        kernel.inject_when(FailAt(7), when);
        let results = kernel.execute_all(&step_refs).await;
        for (i, result) in results.iter().enumerate() {
            match result {
                Err(KernelError::Injected { k, object, .. }) => {
                    assert_eq!((i, *k), (6, 7), "{when:?}");
                    assert_eq!(*object, objects[6].key().to_string());
                }
                Err(e) => panic!("{when:?}: step {i}: {e}"),
                Ok(()) => assert_ne!(i, 6, "{when:?}: the faulted step succeeded"),
            }
        }
        assert_eq!(kernel.requests(), 40, "every step counted once");
        let (neighbours, _) = kernel_entries(&host.name);
        // Before sending: the kernel never saw it; after: it did, and was told it failed.
        let sent = when == When::AfterSending;
        assert_eq!(neighbours.contains(&ip_of(6).to_string()), sent, "{when:?}");
        assert_eq!(neighbours.len(), if sent { 40 } else { 39 }, "{when:?}");
    }
}
