//! Tests of `plan::diff` as a whole: the diff rules, cascade pruning and step order.

use super::testutil::*;
use crate::plan::*;
use crate::state::{Object, ObjectKey, State};
use std::collections::HashSet;

fn actions(plan: &Plan) -> Vec<(Action, String)> {
    plan.steps
        .iter()
        .map(|s| (s.action(), s.key().to_string()))
        .collect()
}

fn position(plan: &Plan, address: &str) -> usize {
    plan.steps
        .iter()
        .position(|s| s.key().to_string() == address)
        .unwrap_or_else(|| panic!("no step for {address} in {:#?}", actions(plan)))
}

fn step<'a>(plan: &'a Plan, address: &str) -> &'a Step {
    &plan.steps[position(plan, address)]
}

fn has_step(plan: &Plan, address: &str) -> bool {
    plan.steps.iter().any(|s| s.key().to_string() == address)
}

const VTEP_MAC: &str = "0e:e6:e6:5d:c2:da";

/// A routed-VXLAN host: bridge, vxlan port, one remote host's neighbour/FDB/route.
fn routed(vni: u32) -> Vec<Object> {
    vec![
        sysctl("host", "net.ipv4.ip_forward", "1"),
        bridge("br0"),
        address("host", "br0", "10.244.10.1/24"),
        vxlan("vx0", vni, "br0"),
        address("host", "vx0", "10.244.10.0/32"),
        neighbour("host", "vx0", "10.244.20.0", VTEP_MAC),
        fdb("host", "vx0", VTEP_MAC, "192.168.31.192"),
        onlink(route_via("host", "10.244.20.0/24", "10.244.20.0", "vx0")),
    ]
}

#[test]
fn missing_objects_are_created() {
    let plan = diff(&state([bridge("br0")]), &State::default());
    assert_eq!(
        actions(&plan),
        vec![(Action::Create, "link host/br0".into())]
    );
    assert!(plan.steps[0].current().is_none());
    assert_eq!(plan.summary(), (1, 0, 0));
}

#[test]
fn matching_state_is_an_empty_plan() {
    let mut observed = routed(200);
    // The vxlan's underlay device, which a real host always has.
    observed.push(unowned(other_link("host", "eth0", "ether")));
    let plan = diff(&state(routed(200)), &state(observed));
    assert!(plan.is_empty(), "{:#?}", actions(&plan));
    assert!(plan.conflicts.is_empty());
}

#[test]
fn changed_mtu_is_updated_in_place() {
    let mut have = bridge("br0");
    set_mtu(&mut have, 1500);
    let plan = diff(&state([bridge("br0")]), &state([have]));
    let s = step(&plan, "link host/br0");
    assert_eq!(s.action(), Action::Update);
    assert_eq!(s.changes().len(), 1);
    assert_eq!(s.changes()[0].attribute, "mtu");
}

#[test]
fn changed_fdb_dst_is_updated_in_place() {
    let want = fdb("host", "vx0", VTEP_MAC, "192.168.31.192");
    let have = fdb("host", "vx0", VTEP_MAC, "192.168.31.9");
    let plan = diff(&state([want]), &state([have]));
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].action(), Action::Update);
    assert_eq!(
        plan.steps[0].changes()[0].from.as_deref(),
        Some("192.168.31.9")
    );
}

#[test]
fn changed_vni_replaces_and_recreates_everything_on_the_link() {
    let plan = diff(&state(routed(200)), &state(routed(100)));
    let vx = step(&plan, "link host/vx0");
    assert_eq!(vx.action(), Action::Replace);
    assert_eq!(vx.reason(), Some("vni cannot change in place"));
    // The kernel deletes the old device's address, entries and routes: they must be created
    // again, after the device, even though they match today.
    let after = position(&plan, "link host/vx0");
    for address in [
        "address host/vx0 10.244.10.0/32",
        "neighbour host/vx0 10.244.20.0",
        &format!("fdb host/vx0 {VTEP_MAC}"),
        "route host/10.244.20.0/24",
    ] {
        let s = step(&plan, address);
        assert_eq!(s.action(), Action::Create, "{address}");
        assert!(s.current().is_none(), "{address}");
        assert!(position(&plan, address) > after, "{address}");
    }
    // The bridge and its address are untouched.
    assert!(!has_step(&plan, "link host/br0"));
    assert!(!has_step(&plan, "address host/br0 10.244.10.1/24"));
    assert_eq!(plan.summary(), (5, 0, 1));
}

#[test]
fn owned_objects_not_wanted_are_deleted_unowned_ignored() {
    let observed = state([
        route_via("host", "10.244.30.0/24", "10.244.30.0", "eth0"),
        unowned(route_via("host", "10.9.0.0/16", "10.0.0.1", "eth0")),
        unowned(other_link("host", "eth0", "ether")),
    ]);
    let plan = diff(&State::default(), &observed);
    assert_eq!(
        actions(&plan),
        vec![(Action::Delete, "route host/10.244.30.0/24".into())]
    );
    assert!(plan.conflicts.is_empty());
}

#[test]
fn unowned_name_is_a_conflict_not_a_step() {
    let plan = diff(
        &state([bridge("br-overlay"), bridge("br1")]),
        &state([unowned(bridge("br-overlay"))]),
    );
    assert_eq!(
        actions(&plan),
        vec![(Action::Create, "link host/br1".into())]
    );
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(
        plan.conflicts[0].message,
        "link host/br-overlay exists and is not managed by netplan-rs under this scope (made by \
         hand, by another tool, or by another topology scope or lab); rename or remove it, or \
         change the topology"
    );
}

#[test]
fn unowned_namespace_is_a_conflict() {
    let mut ns = namespace("c1");
    if let Object::Namespace(n) = &mut ns {
        n.owned = false;
    }
    let plan = diff(&state([namespace("c1")]), &state([ns]));
    assert!(plan.steps.is_empty());
    assert!(plan.conflicts[0].message.starts_with("namespace c1 exists"));
}

#[test]
fn sysctls_are_set_but_never_deleted() {
    let plan = diff(
        &state([sysctl("host", "net.ipv4.ip_forward", "1")]),
        &state([
            sysctl("host", "net.ipv4.ip_forward", "0"),
            sysctl("host", "net.ipv4.conf.all.rp_filter", "1"),
        ]),
    );
    assert_eq!(
        actions(&plan),
        vec![(Action::Update, "sysctl host/net.ipv4.ip_forward".into())]
    );
    let destroy = diff(
        &State::default(),
        &state([sysctl("host", "net.ipv4.ip_forward", "1")]),
    );
    assert!(destroy.is_empty());
}

#[test]
fn veth_pair_is_created_by_one_step_on_the_host_end() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let desired = state([
        namespace("c1"),
        bridge("br0"),
        host.clone(),
        inner.clone(),
        address("c1", "eth0", "10.0.0.2/24"),
    ]);
    let plan = diff(&desired, &State::default());
    let s = step(&plan, "link host/veth1");
    assert_eq!(s.action(), Action::Create);
    assert_eq!(s.peer(), Some(&inner));
    assert!(!has_step(&plan, "link c1/eth0"));
    let pair = position(&plan, "link host/veth1");
    assert!(position(&plan, "namespace c1") < pair);
    assert!(
        position(&plan, "link host/br0") < pair,
        "master before port"
    );
    assert!(pair < position(&plan, "address c1/eth0 10.0.0.2/24"));
    assert_eq!(plan.summary(), (4, 0, 0));
}

#[test]
fn veth_pair_between_two_containers_steps_on_the_lesser_key() {
    let (mut a, mut b) = veth_pair("c1", "x", "unused");
    // Move the "host" end into container c0 and drop the master: a container-to-container pair.
    if let (Object::Link(a), Object::Link(b)) = (&mut a, &mut b) {
        a.ns = ns("c0");
        a.master = None;
        if let crate::state::LinkKind::Veth { peer: Some(p) } = &mut b.kind {
            p.ns = ns("c0");
        }
    }
    let plan = diff(&state([a, b]), &State::default());
    assert_eq!(actions(&plan), vec![(Action::Create, "link c0/x".into())]);
}

#[test]
fn veth_with_missing_container_end_replaces_the_pair() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let desired = state([bridge("br0"), host.clone(), inner.clone()]);
    let mut have = host.clone();
    clear_peer(&mut have);
    let plan = diff(&desired, &state([bridge("br0"), have]));
    assert_eq!(
        actions(&plan),
        vec![(Action::Replace, "link host/veth1".into())]
    );
    let s = &plan.steps[0];
    assert_eq!(s.peer(), Some(&inner));
    assert_eq!(s.reason(), Some("veth peer c1/eth0 missing"));
    assert_eq!(s.current().map(Object::key), Some(host.key()));
}

#[test]
fn veth_with_missing_host_end_is_replaced_from_the_container_end() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let desired = state([
        bridge("br0"),
        host.clone(),
        inner.clone(),
        address("c1", "eth0", "10.0.0.2/24"),
    ]);
    let mut have = inner.clone();
    clear_peer(&mut have);
    let observed = state([bridge("br0"), have, address("c1", "eth0", "10.0.0.2/24")]);
    let plan = diff(&desired, &observed);
    let s = step(&plan, "link host/veth1");
    assert_eq!(s.action(), Action::Replace);
    assert_eq!(s.current().map(Object::key), Some(inner.key()));
    assert!(
        !has_step(&plan, "link c1/eth0"),
        "no separate delete of the other end"
    );
    // The container end's address goes with it and comes back after the pair.
    let addr = step(&plan, "address c1/eth0 10.0.0.2/24");
    assert_eq!(addr.action(), Action::Create);
    assert!(position(&plan, "link host/veth1") < position(&plan, "address c1/eth0 10.0.0.2/24"));
}

#[test]
fn renamed_host_end_deletes_old_pair_and_creates_new_one() {
    let (old_host, old_inner) = veth_pair("c1", "vethold", "br0");
    let (host, inner) = veth_pair("c1", "vethnew", "br0");
    let addr = address("c1", "eth0", "10.0.0.2/24");
    let desired = state([bridge("br0"), host, inner.clone(), addr.clone()]);
    let observed = state([bridge("br0"), old_host, old_inner, addr]);
    let plan = diff(&desired, &observed);
    assert_eq!(
        actions(&plan),
        vec![
            (Action::Delete, "link host/vethold".into()),
            (Action::Create, "link host/vethnew".into()),
            (Action::Create, "address c1/eth0 10.0.0.2/24".into()),
        ]
    );
    assert_eq!(plan.steps[1].peer(), Some(&inner));
}

#[test]
fn deleted_link_takes_its_dependents_without_steps() {
    let observed = state(routed(200));
    let plan = diff(
        &state([bridge("br0"), address("host", "br0", "10.244.10.1/24")]),
        &observed,
    );
    // vx0 goes, and with it its address, neighbour, FDB entry and route.
    assert_eq!(
        actions(&plan),
        vec![(Action::Delete, "link host/vx0".into())]
    );
}

#[test]
fn deleted_namespace_takes_everything_in_it_and_the_host_veth_end() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let observed = state([
        namespace("c1"),
        bridge("br0"),
        host,
        inner,
        address("c1", "eth0", "10.0.0.2/24"),
        route_via("c1", "0.0.0.0/0", "10.0.0.1", "eth0"),
    ]);
    let plan = diff(&state([bridge("br0")]), &observed);
    assert_eq!(
        actions(&plan),
        vec![(Action::Delete, "namespace c1".into())]
    );
}

#[test]
fn destroy_deletes_every_owned_object_in_dependency_order() {
    let mut observed = routed(200);
    observed.push(unowned(other_link("host", "eth0", "ether")));
    let plan = diff(&State::default(), &state(observed));
    // vx0 is not swept away by deleting br0 (a port survives its bridge), so both are deleted,
    // the port first. Everything else goes with them; the sysctl and eth0 stay.
    assert_eq!(
        actions(&plan),
        vec![
            (Action::Delete, "link host/vx0".into()),
            (Action::Delete, "link host/br0".into()),
        ]
    );
}

#[test]
fn replaced_bridge_gets_its_ports_back() {
    let want = state([bridge("br0"), vxlan("vx0", 1, "br0")]);
    let have = state([other_link("host", "br0", "dummy"), vxlan("vx0", 1, "br0")]);
    let plan = diff(&want, &have);
    let br = step(&plan, "link host/br0");
    assert_eq!(br.action(), Action::Replace);
    assert_eq!(br.reason(), Some("type cannot change in place"));
    let vx = step(&plan, "link host/vx0");
    assert_eq!(vx.action(), Action::Update);
    assert_eq!(vx.changes()[0].attribute, "master");
    assert!(position(&plan, "link host/br0") < position(&plan, "link host/vx0"));
}

#[test]
fn creation_order_follows_kernel_dependencies() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let mut want = routed(200);
    want.extend([
        namespace("c1"),
        host,
        inner,
        address("c1", "eth0", "10.244.10.2/24"),
        route_via("c1", "0.0.0.0/0", "10.244.10.1", "eth0"),
    ]);
    let plan = diff(&state(want), &State::default());
    let p = |a: &str| position(&plan, a);
    assert_eq!(p("sysctl host/net.ipv4.ip_forward"), 0, "sysctl first");
    assert!(
        p("link host/br0") < p("link host/vx0"),
        "master before port"
    );
    assert!(p("link host/vx0") < p("address host/vx0 10.244.10.0/32"));
    let route = p("route host/10.244.20.0/24");
    for before in [
        "address host/br0 10.244.10.1/24",
        "address host/vx0 10.244.10.0/32",
        "neighbour host/vx0 10.244.20.0",
        &format!("fdb host/vx0 {VTEP_MAC}"),
    ] {
        assert!(p(before) < route, "{before} before the route");
    }
    assert!(p("namespace c1") < p("link host/veth1"));
    assert!(p("address c1/eth0 10.244.10.2/24") < p("route c1/0.0.0.0/0"));
}

#[test]
fn deletions_come_before_creations() {
    let plan = diff(
        &state([bridge("br1")]),
        &state([
            bridge("br0"),
            route_via("host", "10.1.0.0/16", "10.0.0.1", "eth0"),
        ]),
    );
    assert_eq!(
        actions(&plan),
        vec![
            (Action::Delete, "link host/br0".into()),
            (Action::Delete, "route host/10.1.0.0/16".into()),
            (Action::Create, "link host/br1".into()),
        ]
    );
}

#[test]
fn deleted_routes_go_before_deleted_addresses_and_entries() {
    // Both on an unowned link, so neither is swept away: route first (reverse of creation).
    // The link keeps an IPv4 address of its own, so deleting ours flushes nothing.
    let observed = state([
        unowned(other_link("host", "eth0", "ether")),
        unowned(address("host", "eth0", "10.0.0.4/24")),
        address("host", "eth0", "10.0.0.5/24"),
        neighbour("host", "eth0", "10.0.0.9", VTEP_MAC),
        route_via("host", "10.1.0.0/16", "10.0.0.9", "eth0"),
    ]);
    let plan = diff(&State::default(), &observed);
    assert_eq!(position(&plan, "route host/10.1.0.0/16"), 0);
    assert_eq!(plan.steps.len(), 3);
}

#[test]
fn output_is_deterministic_and_independent_of_step_order() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let mut want = routed(200);
    want.extend([namespace("c1"), host, inner]);
    let desired = state(want);
    let a = diff(&desired, &state(routed(100)));
    let b = diff(&desired, &state(routed(100)));
    assert_eq!(a, b);
    let mut reversed = a.steps.clone();
    reversed.reverse();
    let unordered = diff::diff_unordered(&desired, &state(routed(100)));
    assert_eq!(order::order(reversed, &unordered.swept).0, a.steps);
}

#[test]
fn broken_veth_description_is_a_conflict_not_a_panic() {
    let (host, _) = veth_pair("c1", "veth1", "br0");
    let plan = diff(&state([host]), &state([unowned(bridge("br0"))]));
    assert!(plan.steps.is_empty());
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.conflicts[0]
            .message
            .contains("not a veth pointing back")
    );
}

#[test]
fn cycles_in_hand_made_states_do_not_lose_steps() {
    // Two links that are each other's master: nonsense, but planning must not panic or drop.
    let mut a = bridge("a");
    let mut b = bridge("b");
    if let (Object::Link(a), Object::Link(b)) = (&mut a, &mut b) {
        a.master = Some("b".into());
        b.master = Some("a".into());
    }
    let plan = diff(&state([a, b]), &State::default());
    assert_eq!(plan.steps.len(), 2);
}

#[test]
fn empty_plan_text() {
    assert_eq!(
        render_text(&Plan::default()),
        "No changes. The kernel matches the topology.\n"
    );
}

#[test]
fn text_ends_with_summary_and_starts_with_conflicts() {
    let plan = diff(
        &state([bridge("br-overlay"), bridge("br1")]),
        &state([unowned(bridge("br-overlay"))]),
    );
    let text = render_text(&plan);
    assert!(
        text.starts_with("Error: link host/br-overlay exists"),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 1 to add, 0 to change, 0 to destroy.\n"),
        "{text}"
    );
}

#[test]
fn json_is_valid_and_carries_the_summary() {
    let plan = diff(&state(routed(200)), &state(routed(100)));
    let json: serde_json::Value = serde_json::from_str(&render_json(&plan)).expect("valid JSON");
    assert_eq!(json["format_version"], "1");
    assert_eq!(json["summary"]["add"], 5);
    assert_eq!(json["summary"]["destroy"], 1);
    let vx = json["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["address"] == "link host/vx0"))
        .expect("vx0 step");
    assert_eq!(vx["action"], "replace");
    assert_eq!(vx["before"]["vni"], "100");
    assert_eq!(vx["after"]["vni"], "200");
    assert_eq!(vx["key"]["kind"], "link");
    let _: ObjectKey = serde_json::from_value(vx["key"].clone()).expect("key round-trips");
}

#[test]
fn pair_with_unrelated_existing_ends_deletes_the_stray_end_first() {
    // Both names exist, owned, but as the wrong kinds: deleting the host end does not take the
    // container end along, so the latter gets its own delete before the pair is created.
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let desired = state([bridge("br0"), host.clone(), inner.clone()]);
    let mut wrong_host = bridge("veth1");
    if let Object::Link(l) = &mut wrong_host {
        l.master = Some("br0".into());
    }
    let observed = state([bridge("br0"), wrong_host, other_link("c1", "eth0", "dummy")]);
    let plan = diff(&desired, &observed);
    assert_eq!(
        actions(&plan),
        vec![
            (Action::Delete, "link c1/eth0".into()),
            (Action::Replace, "link host/veth1".into()),
        ]
    );
    assert_eq!(plan.steps[1].reason(), Some("type cannot change in place"));
    assert_eq!(plan.steps[1].peer(), Some(&inner));
}

#[test]
fn veth_ends_that_exist_are_updated_in_place_separately() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let (mut old_host, mut old_inner) = (host.clone(), inner.clone());
    set_mtu(&mut old_host, 1500);
    set_mtu(&mut old_inner, 1500);
    let plan = diff(&state([host, inner]), &state([old_host, old_inner]));
    assert_eq!(
        actions(&plan),
        vec![
            (Action::Update, "link host/veth1".into()),
            (Action::Update, "link c1/eth0".into()),
        ]
    );
}

#[test]
fn unowned_veth_end_blocks_the_whole_pair() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let plan = diff(
        &state([host, inner, bridge("br0")]),
        &state([unowned(other_link("c1", "eth0", "dummy")), bridge("br0")]),
    );
    assert!(plan.steps.is_empty(), "{:#?}", actions(&plan));
    assert_eq!(plan.conflicts.len(), 1);
    assert!(plan.conflicts[0].message.starts_with("link c1/eth0 exists"));
}

#[test]
fn many_containers_plan_without_blowup() {
    // Not a timing test: a quadratic step here would make `cargo test` visibly slow.
    let mut want = vec![bridge("br0")];
    for i in 0..3000 {
        let c = format!("c{i}");
        let (host, inner) = veth_pair(&c, &format!("veth{i}"), "br0");
        want.extend([namespace(&c), host, inner]);
        want.push(address(
            &c,
            "eth0",
            &format!("10.{}.{}.2/8", i / 256, i % 256),
        ));
        want.push(route_via(&c, "0.0.0.0/0", "10.0.0.1", "eth0"));
    }
    let desired = state(want);
    let plan = diff(&desired, &State::default());
    assert_eq!(plan.summary(), (1 + 3000 * 4, 0, 0));
    assert!(diff(&desired, &desired).is_empty());
    let destroy = diff(&State::default(), &desired);
    // Namespaces take their veth pairs (and so the host ends) along; only the bridge remains.
    assert_eq!(destroy.summary(), (0, 0, 3001));
}

#[test]
fn recreated_object_waits_for_the_replace_that_sweeps_the_old_one() {
    // The route keeps its key (destination) but moves from vx0, which is replaced, to br0: the
    // new route must not be created before the replace deletes the old one with vx0.
    let mut want = routed(200);
    want.retain(|o| !matches!(o, Object::Route(_)));
    want.push(route_via("host", "10.244.20.0/24", "10.244.10.9", "br0"));
    let plan = diff(&state(want), &state(routed(100)));
    let route = step(&plan, "route host/10.244.20.0/24");
    assert_eq!(route.action(), Action::Create);
    assert!(position(&plan, "link host/vx0") < position(&plan, "route host/10.244.20.0/24"));
}

#[test]
fn destroyed_veth_names_the_peer_that_goes_with_it() {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    // Only the host end's namespace was read: the container end is not in observed state.
    let _ = inner;
    let plan = diff(&State::default(), &state([host]));
    let text = render_text(&plan);
    assert!(
        text.contains("  - link host/veth1 (veth pair with c1/eth0)\n"),
        "{text}"
    );
}

/// A pool of objects, including conflicting variants of the same keys, for randomized checks.
fn pool() -> Vec<Object> {
    let (host, inner) = veth_pair("c1", "veth1", "br0");
    let (host2, inner2) = veth_pair("c1", "veth2", "br0");
    let mut big_mtu = bridge("br0");
    set_mtu(&mut big_mtu, 9000);
    let mut objects = routed(200);
    objects.extend(routed(100));
    objects.extend([
        namespace("c1"),
        host.clone(),
        inner.clone(),
        host2,
        inner2,
        big_mtu,
        address("c1", "eth0", "10.244.10.2/24"),
        route_via("c1", "0.0.0.0/0", "10.244.10.1", "eth0"),
        other_link("host", "br0", "dummy"),
        other_link("c1", "eth0", "dummy"),
        fdb("host", "vx0", VTEP_MAC, "192.168.31.9"),
        sysctl("host", "net.ipv4.ip_forward", "0"),
        // vxlan devices sit on eth0: deleting it (when owned) sweeps them away.
        other_link("host", "eth0", "dummy"),
    ]);
    // Ends as observe reports them when it could not pair them.
    for mut end in [host, inner] {
        clear_peer(&mut end);
        objects.push(end);
    }
    let unowned_copies: Vec<Object> = objects.iter().cloned().map(unowned).collect();
    objects.extend(unowned_copies);
    objects
}

/// A random state from the pool (later objects win on equal keys).
fn random_state(pool: &[Object], seed: &mut u64) -> State {
    let mut out = State::default();
    for object in pool {
        // xorshift64: deterministic, no dependency.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        if seed.is_multiple_of(3) {
            out.insert(object.clone());
        }
    }
    out
}

#[test]
fn random_states_plan_without_panics_and_keep_invariants() {
    let pool = pool();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..400 {
        let mut desired = random_state(&pool, &mut seed);
        // Desired state is always owned, as compile produces it.
        desired = desired
            .objects
            .into_values()
            .filter(Object::owned)
            .collect();
        let observed = random_state(&pool, &mut seed);
        let plan = diff(&desired, &observed);
        let _ = render_text(&plan);
        let json = render_json(&plan);
        assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
        assert_eq!(plan, diff(&desired, &observed), "deterministic");
        let mut forward = HashSet::new();
        for s in &plan.steps {
            match s.action() {
                Action::Delete => {
                    let current = s.current().expect("delete has current");
                    assert!(
                        current.owned(),
                        "only owned objects are deleted: {}",
                        s.key()
                    );
                }
                _ => {
                    assert!(
                        forward.insert(s.key().clone()),
                        "one step per key: {}",
                        s.key()
                    );
                    assert!(desired.get(&s.key()).is_some(), "{} is desired", s.key());
                }
            }
            if matches!(s.action(), Action::Update | Action::Replace) {
                let current = s.current();
                let settable = current.is_some_and(|c| c.owned() || matches!(c, Object::Sysctl(_)));
                assert!(settable, "{}", s.key());
            }
        }
        // Deletions all come before everything else.
        let first_forward = plan.steps.iter().position(|s| s.action() != Action::Delete);
        if let Some(first) = first_forward {
            assert!(
                plan.steps[first..]
                    .iter()
                    .all(|s| s.action() != Action::Delete)
            );
        }
        // Nothing to do against oneself.
        assert!(diff(&desired, &desired).is_empty());
    }
}

/// Carry out `plan` on a copy of `observed` the way the kernel would (deleting an object sweeps
/// its dependents away), checking that every wanted dependency exists when a step needs it.
fn simulate(desired: &State, observed: &State, plan: &Plan) -> State {
    let mut kernel = observed.clone();
    let remove = |kernel: &mut State, key: &ObjectKey| {
        let snapshot = kernel.clone();
        let cascade = crate::plan::cascade::Cascade::new(desired, &snapshot);
        for swept in cascade.gone(&[key]).keys() {
            kernel.objects.remove(swept);
        }
        kernel.objects.remove(key);
    };
    for s in &plan.steps {
        match s.action() {
            Action::Delete => {
                assert!(kernel.get(&s.key()).is_some(), "{} deleted twice", s.key());
                remove(&mut kernel, &s.key());
            }
            Action::Replace => {
                let current = s.current().map(Object::key).expect("replace has current");
                assert!(kernel.get(&current).is_some(), "{current} already gone");
                remove(&mut kernel, &current);
            }
            Action::Create => {
                for object in s.made() {
                    let key = object.key();
                    assert!(kernel.get(&key).is_none(), "{key} still exists at create");
                }
            }
            Action::Update => assert!(kernel.get(&s.key()).is_some(), "{} missing", s.key()),
        }
        if s.action() != Action::Delete {
            let created: Vec<ObjectKey> = s.made().map(Object::key).collect();
            for object in s.made() {
                for dep in order::dependencies(object) {
                    if desired.get(&dep).is_some() && !created.contains(&dep) {
                        assert!(kernel.get(&dep).is_some(), "{} needs {dep} first", s.key());
                    }
                }
                kernel.insert(object.clone());
            }
        }
    }
    kernel
}

#[test]
fn applying_a_plan_converges() {
    let pool = pool();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut checked = 0;
    for _ in 0..4000 {
        let desired: State = random_state(&pool, &mut seed)
            .objects
            .into_values()
            .filter(Object::owned)
            .collect();
        let observed = random_state(&pool, &mut seed);
        let plan = diff(&desired, &observed);
        if !plan.conflicts.is_empty() {
            continue;
        }
        checked += 1;
        let after = simulate(&desired, &observed, &plan);
        let again = diff(&desired, &after);
        assert!(
            again.is_empty(),
            "not converged:\n{}\nthen:\n{}",
            render_text(&plan),
            render_text(&again)
        );
    }
    assert!(checked > 50, "only {checked} conflict-free cases");
}
