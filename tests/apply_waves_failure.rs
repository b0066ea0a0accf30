//! A failure in a wave of concurrent steps, on the real kernel (a namespace of its own): the
//! steps of the failing step's wave complete and are reported as applied, even those after it in
//! plan order; the next wave is not started; the error names the failing step and lists exactly
//! what was applied. Checked with `ip -j`.

mod common;

use common::*;
use netplan_rs::apply;
use netplan_rs::kernel::Kernel;
use netplan_rs::plan::Step;
use netplan_rs::state::{Address, Link, LinkKind, Ns, Object};
use serde_json::Value;
use std::process::Command;

/// `ip -j addr show dev NAME` in `ns`: the link with its `addr_info` (None if it does not exist).
fn link_addrs(ns: &str, name: &str) -> Option<Value> {
    let out = Command::new("ip")
        .args(["-n", ns, "-j", "addr", "show", "dev", name])
        .output()
        .expect("running ip");
    if !out.status.success() {
        return None;
    }
    let links: Vec<Value> = serde_json::from_slice(&out.stdout).expect("ip json");
    links.into_iter().next()
}

fn bridge(name: &str, master: Option<&str>) -> Object {
    Object::Link(Link {
        ns: Ns::Host,
        name: name.into(),
        kind: LinkKind::Bridge,
        mac: None,
        mtu: None,
        master: master.map(str::to_string),
        up: true,
        ipv6: None,
        owned: true,
    })
}

fn create(object: Object) -> Step {
    Step::create(object, None)
}

#[tokio::test]
async fn a_failure_lets_its_wave_finish_reports_what_was_applied_and_stops() {
    let host = NetnsHost::new("npwave");
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    let address = Object::Address(Address {
        ns: Ns::Host,
        link: "br-a".into(),
        cidr: "10.93.0.1/24".parse().expect("cidr"),
        owned: true,
    });
    // Wave 1: the three bridges (br-bad's master is not in the plan, so nothing orders it);
    // wave 2: the address on br-a.
    let plan = netplan_rs::plan::sorted(vec![
        create(bridge("br-a", None)),
        create(bridge("br-bad", Some("nowhere"))),
        create(bridge("br-z", None)),
        create(address),
    ]);
    let waves = apply::waves(&plan);
    assert_eq!(waves.len(), 2, "{waves:?}");
    let mut progress = Vec::new();
    let err = apply::execute(&mut kernel, &plan, |s| progress.push(s.key().to_string()))
        .await
        .expect_err("br-bad's master does not exist")
        .into_step()
        .expect("a failed step");
    eprintln!("{err}; {}", err.applied_note());
    assert_eq!((err.index, err.total), (2, 4));
    assert_eq!(err.step.key().to_string(), "link host/br-bad");
    assert_eq!(err.applied, vec![1, 3]);
    assert_eq!(err.done, 2);
    assert!(err.also_failed.is_empty());
    assert_eq!(err.applied_note(), "2 of 4 steps were applied (steps 1, 3)");
    assert!(err.to_string().starts_with("step 2 of 4 failed: "), "{err}");
    // Every applied step reported, in plan order; nothing else.
    assert_eq!(progress, vec!["link host/br-a", "link host/br-z"]);
    // The kernel agrees: br-a and br-z exist, br-bad does not, the next wave never ran.
    let br_a = link_addrs(&host.name, "br-a").expect("br-a created");
    assert!(link_addrs(&host.name, "br-z").is_some(), "br-z created");
    assert!(link_addrs(&host.name, "br-bad").is_none(), "br-bad exists");
    let addrs = br_a["addr_info"].as_array().cloned().unwrap_or_default();
    assert!(
        addrs.iter().all(|a| a["local"] != "10.93.0.1"),
        "the address (next wave) was added: {addrs:?}"
    );
}
