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

/// `count` containers on one bridge network of host node-1.
fn bridge_topology(count: usize) -> String {
    let mut yaml = String::from(
        "version: 1\nhosts:\n  node-1: { underlay: 192.168.88.1/24 }\n\
         networks:\n  wide: { driver: bridge, subnet: 10.88.0.0/16 }\ncontainers:\n",
    );
    for i in 0..count {
        yaml.push_str(&format!("  c{i}: {{ host: node-1, network: wide }}\n"));
    }
    yaml
}

/// The flags of link `name` in `ns` (`ip -j link`).
fn flags(ns: &str, name: &str) -> Vec<String> {
    ip_json(ns, &["link", "show", "dev", name])
        .first()
        .and_then(|l| l["flags"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// A new bridge with many ports is created down and brought up after the wave that attaches
/// them (src/apply/bridge_up.rs). When that wave fails, the bridge is still brought up and
/// reported applied; when bringing it up fails, the error names the bridge's step, which is not
/// counted as applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_created_down_for_its_ports_never_stays_down_unreported() {
    let file = temp_topology("bridgeup", &bridge_topology(20));
    let lab = Lab::new("bu", &file);
    lab.up_hosts_only();
    let topo = netplan_rs::topology::load(&file).expect("topology");
    let target = netplan_rs::lab::host_target(&lab.name, "node-1");
    let desired = target.localize(netplan_rs::compile::compile(&topo, "node-1").expect("compile"));
    let host_ns = lab.host_ns("node-1");
    let (_, plan) = apply::prepare(target.clone(), &desired)
        .await
        .expect("prepare");
    let waves = apply::waves(&plan);
    let bridge = plan
        .steps
        .iter()
        .position(|s| s.key().to_string() == "link host/br-wide")
        .expect("the bridge's step");
    let in_wave = |i: usize| {
        waves
            .iter()
            .position(|w| w.iter().any(|g| g.members().contains(&i)))
    };
    assert_eq!(
        in_wave(bridge),
        Some(0),
        "the bridge is created in the first wave"
    );
    let first_wave = waves[0].iter().map(|g| g.members().len()).sum::<usize>();
    let second_wave = waves[1].iter().map(|g| g.members().len()).sum::<usize>();

    // 1. A port of the second wave fails (the first request of that wave).
    let mut kernel = Kernel::connect(target.clone()).await.expect("connect");
    kernel.inject(netplan_rs::kernel::fault::FailAt(first_wave + 1));
    let err = apply::execute(&mut kernel, &plan, |_| {})
        .await
        .expect_err("a port fails")
        .into_step()
        .expect("a failed step");
    assert_eq!(in_wave(err.index - 1), Some(1), "{err}");
    assert!(
        err.applied.contains(&(bridge + 1)),
        "{err}; {}",
        err.applied_note()
    );
    assert!(
        flags(&host_ns, "br-wide").contains(&"UP".to_string()),
        "left down"
    );
    drop(kernel);
    let destroy = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert_eq!(destroy.status.code(), Some(0), "{}", stdout(&destroy));

    // 2. Bringing the bridge up fails: the request after the second wave's.
    let (mut kernel, plan) = apply::prepare_change(target.clone(), &desired)
        .await
        .expect("prepare");
    kernel.inject(netplan_rs::kernel::fault::FailAt(
        first_wave + second_wave + 1,
    ));
    let err = apply::execute(&mut kernel, &plan, |_| {})
        .await
        .expect_err("bringing the bridge up fails")
        .into_step()
        .expect("a failed step");
    assert_eq!(err.step.key().to_string(), "link host/br-wide", "{err}");
    assert!(
        !err.applied.contains(&(bridge + 1)),
        "{}",
        err.applied_note()
    );
    assert!(!flags(&host_ns, "br-wide").contains(&"UP".to_string()));
    // The next plan brings it up, in place.
    let again = lab.on_host("plan", "node-1", &[]);
    let text = stdout(&again);
    assert!(text.contains("~ link host/br-wide"), "{text}");
    let _ = std::fs::remove_file(file);
}
