//! Plans that change what the kernel takes along on its own (issue 7: one apply converges),
//! compiled from the example topologies: changing a container's only IPv4 address deletes the
//! old one first, and the kernel then flushes every IPv4 route out of that link, so the plan
//! creates the default route again after the new address and says so; moving a container to
//! another network does the same for a route whose gateway changes; replacing a master link
//! detaches its ports, which the plan enslaves again. Golden files as in `golden.rs`.

use super::golden::check;
use super::testutil::*;
use crate::plan::*;
use crate::state::{Object, ObjectKey, State};

/// `topologies/<file>` with `edit` applied to its text, compiled for node-1.
fn example(file: &str, edit: impl Fn(String) -> String) -> State {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(file);
    let text = edit(std::fs::read_to_string(&path).expect("reading the example"));
    let topo = crate::topology::load_str(&text, file).unwrap_or_else(|e| panic!("{e}"));
    crate::compile::compile(&topo, "node-1").expect("compile node-1")
}

fn bridge_example(edit: impl Fn(String) -> String) -> State {
    example("bridge.yaml", edit)
}

/// Routed VXLAN moved to another subnet: the VXLAN device loses its only IPv4 address, so the
/// kernel flushes its ARP entries too: the old neighbour gets no delete step of its own (it
/// would fail: already gone), and the plan says the address takes it along.
#[test]
fn golden_routed_subnet_change_sweeps_the_vxlan_neighbours() {
    let mut observed = example("vxlan-routed.yaml", |t| t);
    let underlay = unowned(other_link("host", "enp0s3", "ether"));
    observed.objects.insert(underlay.key(), underlay);
    let desired = example("vxlan-routed.yaml", |t| t.replace(" 172.18.", " 172.19."));
    check("converge_routed_subnet", &desired, &observed);
    let plan = diff(&desired, &observed);
    let old = "neighbour host/vx-flannel 172.18.20.0";
    assert!(plan.steps.iter().all(|s| s.key().to_string() != old));
    let text = render_text(&plan);
    assert!(text.contains(old), "the plan names it: {text}");
    assert!(plan.side_effects.iter().any(|e| e.object.to_string() == old
        && e.by.to_string() == "address host/vx-flannel 172.18.10.0/32"
        && !e.recreated));
}

fn position(plan: &Plan, key: &str) -> usize {
    plan.steps
        .iter()
        .position(|s| s.key().to_string() == key)
        .unwrap_or_else(|| panic!("no step for {key}:\n{}", render_text(plan)))
}

#[test]
fn golden_address_change_recreates_default_route() {
    let observed = bridge_example(|t| t);
    let desired = bridge_example(|t| t.replace("192.168.200.10", "192.168.200.60"));
    check("converge_address_change", &desired, &observed);

    let plan = diff(&desired, &observed);
    let route = position(&plan, "route cache/0.0.0.0/0");
    assert_eq!(plan.steps[route].action(), Action::Create);
    assert!(route > position(&plan, "address cache/eth0 192.168.200.60/24"));
    assert!(route > position(&plan, "address cache/eth0 192.168.200.10/24"));
    let text = render_text(&plan);
    assert!(
        text.contains(
            "# (deleting this address also removes route cache/0.0.0.0/0; it is re-created)"
        ),
        "{text}"
    );
}

#[test]
fn golden_move_to_another_network_recreates_the_route_with_its_new_gateway() {
    let extra = "  extra: { driver: bridge, subnet: 10.199.0.0/24, gateway: 10.199.0.1 }\n";
    let add = |t: String| t.replace("networks:\n", &format!("networks:\n{extra}"));
    let observed = bridge_example(add);
    let desired = bridge_example(|t| {
        add(t).replace(
            "web: { host: node-1, network: local }",
            "web: { host: node-1, network: extra }",
        )
    });
    check("converge_move_network", &desired, &observed);
    let plan = diff(&desired, &observed);
    let route = &plan.steps[position(&plan, "route web/0.0.0.0/0")];
    assert_eq!(
        route.action(),
        Action::Create,
        "not an update of a flushed route"
    );
    assert!(matches!(&route.desired(), Some(Object::Route(r))
        if r.gateway == Some("10.199.0.1".parse().unwrap())));
}

#[test]
fn golden_replaced_master_detaches_and_reattaches_its_port() {
    let (port, inner) = veth_pair("c1", "veth1", "br0");
    let desired = state([bridge("br0"), port.clone(), inner.clone()]);
    // The kernel has another kind of link under the bridge's name, with the port in it.
    let observed = state([other_link("host", "br0", "dummy"), port.clone(), inner]);
    check("converge_master_replaced", &desired, &observed);
    let plan = diff(&desired, &observed);
    let effect = plan
        .effects_of(&link_key("host", "br0"))
        .next()
        .expect("an effect of the replace");
    assert_eq!(effect.object, port.key());
    assert!(effect.detached && effect.recreated, "{effect:?}");
}

#[test]
fn renaming_a_container_names_what_its_namespace_takes_along() {
    let observed = bridge_example(|t| t);
    let desired = bridge_example(|t| t.replace("cache: {", "cache2: {"));
    let plan = diff(&desired, &observed);
    let gone: Vec<String> = plan
        .effects_of(&ObjectKey::Namespace {
            name: "cache".into(),
        })
        .map(|e| {
            assert!(!e.recreated && !e.detached, "{e:?}");
            e.object.to_string()
        })
        .collect();
    assert!(
        gone.contains(&"route cache/0.0.0.0/0".to_string()),
        "{gone:?}"
    );
    assert!(gone.contains(&"link cache/eth0".to_string()), "{gone:?}");
    let same = diff(&observed, &observed);
    assert!(same.side_effects.is_empty());
    assert!(!render_json(&same).contains("side_effects"));
}
