//! Tests of link references (`refs`): a wanted object naming a link that neither the file nor
//! the host provides is a conflict of the plan, rendered in text and JSON like the others.

use super::golden::check;
use super::testutil::*;
use crate::plan::*;
use crate::state::{Link, LinkKind, LinkRef, Macvlan, Ns, Object, Route, State, Vlan};

/// A macvlan child `name` in namespace `ns_name` of the host link `parent`.
fn macvlan(ns_name: &str, name: &str, parent: &str) -> Object {
    Object::Link(Link {
        ns: ns(ns_name),
        name: name.to_string(),
        kind: LinkKind::Macvlan(Macvlan {
            mode: "bridge".to_string(),
            parent: Some(LinkRef {
                ns: Ns::Host,
                name: parent.to_string(),
            }),
        }),
        mac: Some("02:42:ac:64:01:0a".parse().unwrap()),
        mtu: None,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    })
}

/// An 802.1Q sub-interface `parent.id` of host link `parent`.
fn vlan(parent: &str, id: u16) -> Object {
    Object::Link(Link {
        ns: Ns::Host,
        name: format!("{parent}.{id}"),
        kind: LinkKind::Vlan(Vlan {
            id,
            parent: Some(parent.to_string()),
        }),
        mac: None,
        mtu: None,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    })
}

/// A plain route (host-gw style): `dst via gw dev dev`.
fn route(dst: &str, via: &str, dev: &str) -> Object {
    Object::Route(Route {
        ns: Ns::Host,
        dst: dst.parse().unwrap(),
        gateway: Some(via.parse().unwrap()),
        dev: dev.to_string(),
        onlink: false,
        owned: true,
    })
}

/// The host's own interface, which netplan-rs does not own.
fn device(name: &str) -> Object {
    unowned(other_link("host", name, "ether"))
}

fn messages(plan: &Plan) -> Vec<String> {
    plan.conflicts.iter().map(|c| c.message.clone()).collect()
}

#[test]
fn missing_vxlan_dev_is_a_conflict() {
    let desired = state([bridge("br0"), vxlan("vx0", 100, "br0")]);
    let plan = diff(&desired, &State::default());
    assert_eq!(
        messages(&plan),
        vec!["link host/vx0: dev link host/eth0 does not exist on this host"]
    );
    assert_eq!(plan.conflicts[0].key, link_key("host", "vx0"));
}

#[test]
fn missing_macvlan_parent_is_a_conflict() {
    let desired = state([namespace("c1"), macvlan("c1", "eth0", "eth1")]);
    let plan = diff(&desired, &state([device("eth0")]));
    assert_eq!(
        messages(&plan),
        vec!["link c1/eth0: parent link host/eth1 does not exist on this host"]
    );
}

#[test]
fn missing_vlan_parent_is_a_conflict() {
    let plan = diff(&state([vlan("eth9", 50)]), &state([device("eth0")]));
    assert_eq!(
        messages(&plan),
        vec!["link host/eth9.50: parent link host/eth9 does not exist on this host"]
    );
}

#[test]
fn missing_route_dev_is_a_conflict() {
    let desired = state([route("10.244.2.0/24", "192.168.31.192", "eth1")]);
    let plan = diff(&desired, &state([device("eth0")]));
    assert_eq!(
        messages(&plan),
        vec!["route host/10.244.2.0/24: dev link host/eth1 does not exist on this host"]
    );
}

#[test]
fn missing_master_is_a_conflict() {
    let (host, inner) = veth_pair("c1", "veth1", "br-gone");
    let plan = diff(&state([namespace("c1"), host, inner]), &State::default());
    assert_eq!(
        messages(&plan),
        vec!["link host/veth1: master link host/br-gone does not exist on this host"]
    );
}

#[test]
fn references_present_in_observed_are_satisfied() {
    let desired = state([
        bridge("br0"),
        vxlan("vx0", 100, "br0"),
        namespace("c1"),
        macvlan("c1", "eth0", "eth1"),
        route("10.244.2.0/24", "192.168.31.192", "eth0"),
    ]);
    let plan = diff(&desired, &state([device("eth0"), device("eth1")]));
    assert!(plan.conflicts.is_empty(), "{:#?}", plan.conflicts);
    assert_eq!(plan.steps.len(), 5);
}

#[test]
fn references_present_in_desired_are_satisfied() {
    // The VLAN parent of the children is created by the same plan, the bridge is the veth's
    // master, the route leaves through the desired bridge; the veth's peer in c1 is no
    // reference to a pre-existing link. Only the vlan's own parent must be on the host.
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let desired = state([
        vlan("eth1", 50),
        namespace("c1"),
        namespace("c2"),
        macvlan("c2", "eth0", "eth1.50"),
        bridge("br0"),
        host,
        inner,
        route("10.244.2.0/24", "10.244.1.254", "br0"),
    ]);
    let plan = diff(&desired, &state([device("eth1")]));
    assert!(plan.conflicts.is_empty(), "{:#?}", plan.conflicts);
    // Without the host's eth1, exactly the vlan's reference is left unsatisfied.
    let plan = diff(&desired, &State::default());
    assert_eq!(
        messages(&plan),
        vec!["link host/eth1.50: parent link host/eth1 does not exist on this host"]
    );
}

#[test]
fn loopback_is_always_there() {
    let plan = diff(
        &state([route("10.9.9.9/32", "127.0.0.1", "lo")]),
        &State::default(),
    );
    assert!(plan.conflicts.is_empty(), "{:#?}", plan.conflicts);
}

#[test]
fn owned_link_the_plan_deletes_does_not_satisfy_a_reference() {
    // eth1.50 is ours and no longer wanted: the plan deletes it, so a child cannot hang off it.
    let desired = state([namespace("c1"), macvlan("c1", "eth0", "eth1.50")]);
    let observed = state([device("eth1"), vlan("eth1", 50)]);
    let plan = diff(&desired, &observed);
    assert_eq!(
        messages(&plan),
        vec![
            "link c1/eth0: parent link host/eth1.50 is managed by netplan-rs but no longer in \
             the topology, so this plan deletes it"
        ]
    );
}

#[test]
fn golden_refs_missing_parent() {
    // A macvlan network with an explicit `parent: eth1` on a host that only has eth0.
    let desired = state([
        namespace("c1"),
        macvlan("c1", "eth0", "eth1"),
        address("c1", "eth0", "172.100.1.10/24"),
        route_via("c1", "0.0.0.0/0", "172.100.1.1", "eth0"),
    ]);
    check("refs_missing_parent", &desired, &state([device("eth0")]));
}
