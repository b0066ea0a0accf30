//! Golden plans of the macvlan driver, from the compiled example topologies (the compiled
//! states themselves are pinned by `golden_tests.rs`): the VLAN variant created from scratch
//! (this kernel has no 802.1Q, so its plan is pinned here instead of run), a VLAN id that cannot
//! change in place, and unit checks of what observe may leave unknown.
//! Files: `tests/golden/plan/macvlan_*.{txt,json}`; `UPDATE_GOLDEN=1` rewrites them.

use super::test_support::state;
use crate::plan::{Action, diff, render_json, render_text};
use crate::state::{Link, LinkKind, Ns, Object, State};
use crate::topology::load;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compiled(stem: &str, host: &str) -> State {
    let topo = load(&root().join("topologies").join(format!("{stem}.yaml")))
        .unwrap_or_else(|e| panic!("{e}"));
    state(&topo, host)
}

/// The simulated host's underlay: a device netplan-rs does not own.
fn underlay() -> Object {
    Object::Link(Link {
        ns: Ns::Host,
        name: "eth0".into(),
        kind: LinkKind::Other {
            name: "veth".into(),
        },
        mac: None,
        mtu: Some(1500),
        master: None,
        up: true,
        ipv6: None,
        owned: false,
    })
}

fn check(name: &str, desired: &State, observed: &State) {
    let plan = diff(desired, observed);
    for (file, actual) in [
        (format!("{name}.txt"), render_text(&plan)),
        (format!("{name}.json"), render_json(&plan)),
    ] {
        crate::golden::assert_golden(&format!("plan/{file}"), &actual);
    }
}

fn link_mut<'a>(state: &'a mut State, ns: &Ns, name: &str) -> &'a mut Link {
    let key = crate::state::ObjectKey::Link {
        ns: ns.clone(),
        name: name.into(),
    };
    match state.objects.get_mut(&key) {
        Some(Object::Link(l)) => l,
        _ => panic!("no link {ns}/{name}"),
    }
}

#[test]
fn golden_macvlan_vlan_create() {
    let desired = compiled("macvlan-vlan", "macvlan-01");
    let observed: State = [underlay()].into_iter().collect();
    let plan = diff(&desired, &observed);
    // The VLAN sub-interface comes before the child that hangs off it.
    let order: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
    let vlan = order.iter().position(|k| k == "link host/eth0.50");
    let child = order.iter().position(|k| k == "link c1/eth0");
    assert!(
        matches!((vlan, child), (Some(v), Some(c)) if v < c),
        "{order:?}"
    );
    check("macvlan_vlan_create", &desired, &observed);
}

/// Someone made `eth0.50` with id 51 under our mark: a VLAN id cannot change in place, so the
/// link is replaced, and the macvlan child the kernel deletes with it is created again.
#[test]
fn golden_macvlan_vlan_id_replaced() {
    let desired = compiled("macvlan-vlan", "macvlan-01");
    let mut observed = desired.clone();
    observed.insert(underlay());
    if let LinkKind::Vlan(v) = &mut link_mut(&mut observed, &Ns::Host, "eth0.50").kind {
        v.id = 51;
    }
    let plan = diff(&desired, &observed);
    let replace = plan
        .steps
        .iter()
        .find(|s| s.key().to_string() == "link host/eth0.50")
        .expect("a step for eth0.50");
    assert_eq!(replace.action(), Action::Replace);
    assert_eq!(replace.reason(), Some("vlan_id cannot change in place"));
    assert!(
        plan.steps
            .iter()
            .any(|s| s.key().to_string() == "link c1/eth0" && s.action() == Action::Create),
        "the child swept away with its parent is not created again"
    );
    check("macvlan_vlan_id_replaced", &desired, &observed);
}

#[test]
fn macvlan_mode_change_is_a_replace() {
    let desired = compiled("macvlan", "macvlan-01");
    let mut observed = desired.clone();
    if let LinkKind::Macvlan(m) =
        &mut link_mut(&mut observed, &Ns::Container("c1".into()), "eth0").kind
    {
        m.mode = "private".into();
    }
    let plan = diff(&desired, &observed);
    // The replace takes the address and route along; they are created again.
    let keys: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
    assert_eq!(
        keys,
        [
            "link c1/eth0",
            "address c1/eth0 172.100.1.10/24",
            "route c1/0.0.0.0/0"
        ],
    );
    assert_eq!(plan.steps[0].action(), Action::Replace);
    assert_eq!(plan.steps[0].reason(), Some("mode cannot change in place"));
}

#[test]
fn unobserved_macvlan_parent_is_not_a_change_but_a_different_one_is() {
    let desired = compiled("macvlan", "macvlan-01");
    let c1 = Ns::Container("c1".into());
    let mut observed = desired.clone();
    if let LinkKind::Macvlan(m) = &mut link_mut(&mut observed, &c1, "eth0").kind {
        m.parent = None;
    }
    assert!(diff(&desired, &observed).steps.is_empty());
    if let LinkKind::Macvlan(m) = &mut link_mut(&mut observed, &c1, "eth0").kind {
        m.parent = Some(crate::state::LinkRef {
            ns: Ns::Host,
            name: "eth1".into(),
        });
    }
    let plan = diff(&desired, &observed);
    assert_eq!(plan.steps.len(), 3);
    assert_eq!(plan.steps[0].action(), Action::Replace);
    assert_eq!(
        plan.steps[0].reason(),
        Some("parent cannot change in place")
    );
}

#[test]
fn passthru_children_leave_the_mac_to_the_kernel() {
    let topo = crate::topology::tests::test_support::parse(
        "version: 1\nhosts: {h: {underlay: 10.0.0.1/24}}\nnetworks:\n  pt: {driver: macvlan, mode: passthru, subnet: 10.9.0.0/24}\ncontainers:\n  a: {host: h, network: pt}\n",
    );
    let state = state(&topo, "h");
    let text = state.render_text();
    assert!(
        text.contains("link a/eth0 type=macvlan mode=passthru parent=host/eth0 state=up"),
        "{text}"
    );
    assert!(
        text.contains("route a/0.0.0.0/0 via=10.9.0.1 dev=eth0"),
        "{text}"
    );
}
