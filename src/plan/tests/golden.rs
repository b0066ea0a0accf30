//! Golden-file tests: hand-built desired and observed states, planned, rendered as text and
//! JSON, compared with `tests/golden/plan/<name>.{txt,json}`. `UPDATE_GOLDEN=1 cargo test`
//! rewrites the files; review the diff before committing them.

use super::testutil::*;
use crate::plan::*;
use crate::state::{Object, State};

pub(super) fn check(name: &str, desired: &State, observed: &State) {
    let plan = diff(desired, observed);
    compare_file(&format!("{name}.txt"), &render_text(&plan));
    compare_file(&format!("{name}.json"), &render_json(&plan));
}

fn compare_file(file: &str, actual: &str) {
    crate::golden::assert_golden(&format!("plan/{file}"), actual);
}

const REMOTE_MAC: &str = "02:42:ac:12:14:02";
const VTEP_MAC: &str = "0e:e6:e6:5d:c2:da";

/// Docker-overlay style host: bridge + vxlan with proxy, one local
/// container on a veth pair, one remote container's neighbour and FDB entry.
fn overlay() -> Vec<Object> {
    let (host, inner) = veth_pair("docker1", "veth1234567", "br-overlay");
    let mut inner = inner;
    set_mac(&mut inner, "02:42:ac:12:0a:02");
    vec![
        namespace("docker1"),
        bridge("br-overlay"),
        vxlan("vx-overlay", 100, "br-overlay"),
        host,
        inner,
        address("docker1", "eth0", "172.18.10.2/16"),
        neighbour("host", "vx-overlay", "172.18.20.2", REMOTE_MAC),
        fdb("host", "vx-overlay", REMOTE_MAC, "192.168.31.192"),
    ]
}

/// Flannel style host.
fn routed() -> Vec<Object> {
    vec![
        sysctl("host", "net.ipv4.ip_forward", "1"),
        bridge("cni0"),
        address("host", "cni0", "10.244.10.1/24"),
        vxlan("flannel.1", 1, "cni0"),
        address("host", "flannel.1", "10.244.10.0/32"),
        neighbour("host", "flannel.1", "10.244.20.0", VTEP_MAC),
        fdb("host", "flannel.1", VTEP_MAC, "192.168.31.192"),
        onlink(route_via(
            "host",
            "10.244.20.0/24",
            "10.244.20.0",
            "flannel.1",
        )),
    ]
}

#[test]
fn golden_overlay_create() {
    check(
        "overlay_create",
        &state(overlay()),
        &state([unowned(other_link("host", "eth0", "ether"))]),
    );
}

#[test]
fn golden_overlay_no_changes() {
    let mut observed = overlay();
    observed.push(unowned(other_link("host", "eth0", "ether")));
    check("overlay_no_changes", &state(overlay()), &state(observed));
}

#[test]
fn golden_overlay_destroy() {
    let mut observed = overlay();
    observed.push(unowned(other_link("host", "eth0", "ether")));
    observed.push(sysctl("host", "net.ipv4.ip_forward", "1"));
    check("overlay_destroy", &State::default(), &state(observed));
}

/// The VNI changed (so everything on the vxlan device is created again, including an FDB entry
/// whose destination also moved), a veth pair lost its container end, flannel leftovers are no
/// longer in the file, and a bridge name is taken by something netplan-rs does not own.
#[test]
fn golden_mixed_changes() {
    let mut desired = overlay();
    desired.retain(|o| !matches!(o, Object::Link(l) if l.name == "vx-overlay"));
    desired.push(vxlan("vx-overlay", 200, "br-overlay"));
    desired.push(bridge("br-extra"));
    let (host3, inner3) = veth_pair("docker3", "veth7654321", "br-overlay");
    desired.extend([namespace("docker3"), host3.clone(), inner3]);
    desired.push(address("docker3", "eth0", "172.18.10.3/16"));

    let mut observed = overlay();
    observed.retain(|o| !matches!(o, Object::Fdb(_)));
    observed.push(fdb("host", "vx-overlay", REMOTE_MAC, "192.168.31.9"));
    observed.push(unowned(bridge("br-extra")));
    observed.extend([namespace("docker3"), host3]);
    observed.push(unowned(other_link("host", "eth0", "ether")));
    // Flannel leftovers the file no longer wants.
    observed.extend(routed());
    check("mixed_changes", &state(desired), &state(observed));
}

#[test]
fn golden_routed_updates() {
    let desired = state(routed());
    let mut observed = routed();
    observed.push(unowned(other_link("host", "eth0", "ether")));
    for object in &mut observed {
        match object {
            Object::Sysctl(s) => s.value = "0".into(),
            Object::Route(r) => r.gateway = Some("10.244.30.0".parse().unwrap()),
            Object::Link(l) if l.name == "cni0" => l.mtu = Some(1500),
            Object::Fdb(e) => e.dst = "192.168.31.9".parse().unwrap(),
            _ => {}
        }
    }
    check("routed_updates", &desired, &state(observed));
}
