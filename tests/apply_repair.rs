//! The safety net of `apply` on the real kernel (a namespace of its own): when the kernel still
//! differs after the plan (a side effect the plan did not model), apply observes again and runs
//! what is left within the same call, at most `REPAIR_ROUNDS` extra rounds, and reports how many
//! steps that took. Checked with `ip -j` and `/proc/sys` read inside the namespace.

mod common;

use common::*;
use netplan_rs::apply::{self, REPAIR_ROUNDS};
use netplan_rs::kernel::Kernel;
use netplan_rs::plan::{self, Plan};
use netplan_rs::state::{Address, Link, LinkKind, Ns, Object, ObjectKey, Route, State, Sysctl};

fn host_state(address: &str) -> State {
    let mut state = State::default();
    let objects = [
        Object::Link(Link {
            ns: Ns::Host,
            name: "br-rep".into(),
            kind: LinkKind::Bridge,
            mac: None,
            mtu: None,
            master: None,
            up: true,
            ipv6: None,
            owned: true,
        }),
        Object::Address(Address {
            ns: Ns::Host,
            link: "br-rep".into(),
            cidr: address.parse().unwrap(),
            owned: true,
        }),
        Object::Route(Route {
            ns: Ns::Host,
            dst: "10.5.0.0/16".parse().unwrap(),
            gateway: Some("10.0.0.1".parse().unwrap()),
            dev: "br-rep".into(),
            onlink: false,
            owned: true,
        }),
    ];
    for object in objects {
        state.objects.insert(object.key(), object);
    }
    state
}

async fn plan_for(kernel: &mut Kernel, desired: &State) -> Plan {
    let observed = kernel.observe().await.expect("observe");
    plan::diff(desired, &observed)
}

fn route_there(ns: &str) -> bool {
    ip_json(ns, &["-4", "route", "show", "10.5.0.0/16"])
        .iter()
        .any(|r| r["gateway"] == "10.0.0.1" && r["dev"] == "br-rep")
}

#[tokio::test]
async fn a_side_effect_the_plan_missed_is_repaired_in_the_same_apply() {
    let host = NetnsHost::new("hcvrep");
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    let first = host_state("10.0.0.2/24");
    let plan = plan_for(&mut kernel, &first).await;
    let report = apply::apply(&mut kernel, &plan, &first, |_| {})
        .await
        .expect("first apply");
    assert!(report.remaining.is_empty() && report.repaired == 0);
    assert!(route_there(&host.name));

    // Changing the only address flushes the route. The plan knows; a plan that does not (the
    // route step removed, as an unmodelled side effect would leave it) is repaired by apply.
    let second = host_state("10.0.0.3/24");
    let mut plan = plan_for(&mut kernel, &second).await;
    let route_key = ObjectKey::Route {
        ns: Ns::Host,
        dst: "10.5.0.0/16".parse().unwrap(),
    };
    let before = plan.steps.len();
    plan.steps.retain(|s| s.key() != route_key);
    assert_eq!(
        plan.steps.len(),
        before - 1,
        "the plan re-creates the route"
    );
    let mut seen = Vec::new();
    let report = apply::apply(&mut kernel, &plan, &second, |s| seen.push(s.key().clone()))
        .await
        .expect("second apply");
    assert!(report.remaining.is_empty(), "{:?}", report.remaining);
    assert_eq!(report.repaired, 1);
    assert_eq!(seen.last(), Some(&route_key), "the repair step is reported");
    assert!(route_there(&host.name), "the route is back");
    let addrs = ip_json(&host.name, &["-4", "addr", "show", "dev", "br-rep"]);
    let local: Vec<&str> = addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["local"].as_str())
        .collect();
    assert_eq!(local, ["10.0.0.3"]);
}

#[tokio::test]
async fn repair_rounds_are_bounded() {
    let host = NetnsHost::new("hcvrep");
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    // The kernel stores "01" as "1": this sysctl never reads back as wanted.
    let mut desired = host_state("10.0.0.2/24");
    let sysctl = Object::Sysctl(Sysctl {
        ns: Ns::Host,
        key: "net.ipv4.ip_forward".into(),
        value: "01".into(),
    });
    desired.objects.insert(sysctl.key(), sysctl.clone());
    let plan = plan_for(&mut kernel, &desired).await;
    let mut writes = 0;
    let report = apply::apply(&mut kernel, &plan, &desired, |s| {
        if s.key() == sysctl.key() {
            writes += 1;
        }
    })
    .await
    .expect("apply");
    assert_eq!(writes, 1 + REPAIR_ROUNDS, "the plan, then each round once");
    assert_eq!(report.repaired, REPAIR_ROUNDS);
    let left: Vec<ObjectKey> = report.remaining.steps.iter().map(|s| s.key()).collect();
    assert_eq!(left, [sysctl.key()], "reported as not converged");
    let value = run(
        "ip",
        &[
            "netns",
            "exec",
            &host.name,
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
        ],
    );
    assert_eq!(value.trim(), "1");
    assert!(route_there(&host.name), "the rest converged");
}
