//! Loading, validation and address allocation of `driver: macvlan`: each rule has a test that
//! fails if the rule is dropped, and every message names its YAML path.

use super::test_support::{assert_problem, parse, problems};
use crate::topology::*;

/// Two hosts (the second with a long underlay name), one macvlan network `mv` with `extra`
/// keys, and `containers`.
fn topo(extra: &str, containers: &str) -> String {
    format!(
        "version: 1
hosts:
  h1: {{ underlay: 192.168.1.198/24 }}
  h2: {{ underlay: 192.168.1.199/24, interface: enp0s31f6abcd }}
networks:
  mv: {{ driver: macvlan, subnet: 172.100.1.0/24{extra} }}
containers:
{containers}
"
    )
}

/// The macvlan network `mv` of `t`.
fn mv(t: &Topology) -> &MacvlanNetwork {
    match t.networks.get("mv") {
        Some(Network::Macvlan(m)) => m,
        other => panic!("not macvlan: {other:?}"),
    }
}

const TWO: &str = "  a: { host: h1, network: mv }\n  b: { host: h2, network: mv }";

#[test]
fn defaults_docker_like_gateway_and_addresses() {
    let t = parse(&topo("", TWO));
    let m = mv(&t);
    assert_eq!(m.mode, MacvlanMode::Bridge);
    assert!(!m.host_interface);
    assert_eq!(m.gateway().to_string(), "172.100.1.1");
    let atts = attachments(&t);
    // .1 is the gateway (reserved); containers from .2 with a default route via it.
    let v4 = |i: usize| atts[i].v4.expect("IPv4 attachment");
    assert_eq!(v4(0).address.to_string(), "172.100.1.2");
    assert_eq!(v4(1).address.to_string(), "172.100.1.3");
    assert!(atts.iter().all(|a| a.default_route && a.v6.is_none()));
    assert!(
        atts.iter()
            .all(|a| a.v4.is_some_and(|v| v.prefix_len == 24))
    );
    assert_eq!(
        v4(0).gateway.map(|g| g.to_string()).as_deref(),
        Some("172.100.1.1")
    );
    // Docker's MAC scheme.
    assert_eq!(atts[0].mac.to_string(), "02:42:ac:64:01:02");
}

#[test]
fn host_interface_addresses_come_from_the_top_and_are_reserved() {
    let t = parse(&topo(", host_interface: true", TWO));
    let m = mv(&t);
    let addr = |h: &str| macvlan::host_address(&t, m, h).map(|a| a.to_string());
    assert_eq!(addr("h1").as_deref(), Some("172.100.1.254"));
    assert_eq!(addr("h2").as_deref(), Some("172.100.1.253"));
    assert_problem(
        &topo(
            ", host_interface: true",
            "  a: { host: h1, network: mv, address: 172.100.1.253 }",
        ),
        "containers.a.address",
        "reserved for host h2's own interface",
    );
    // Without host_interface the address is a container's like any other.
    assert!(
        problems(&topo(
            "",
            "  a: { host: h1, network: mv, address: 172.100.1.253 }"
        ))
        .is_empty()
    );
}

#[test]
fn host_interface_addresses_skip_a_gateway_at_the_top() {
    let t = parse(&topo(", host_interface: true, gateway: 172.100.1.253", TWO));
    let m = mv(&t);
    let addr = |h: &str| macvlan::host_address(&t, m, h).map(|a| a.to_string());
    assert_eq!(addr("h1").as_deref(), Some("172.100.1.254"));
    assert_eq!(addr("h2").as_deref(), Some("172.100.1.252"));
    // A /30 has room for the gateway and one host address only.
    assert_problem(
        &topo(", host_interface: true", TWO).replace("172.100.1.0/24", "172.100.1.0/30"),
        "networks.mv.host_interface",
        "no room for host h2's address",
    );
}

#[test]
fn host_interface_addresses_never_move_when_hosts_or_containers_are_appended() {
    let before = parse(&topo(", host_interface: true", TWO));
    let more = topo(", host_interface: true", TWO).replace(
        "networks:",
        "  h3: { underlay: 192.168.1.200/24 }\nnetworks:",
    ) + "  c: { host: h3, network: mv }\n";
    let after = parse(&more);
    let get = |t: &Topology, h: &str| match t.networks.get("mv") {
        Some(Network::Macvlan(m)) => macvlan::host_address(t, m, h),
        _ => None,
    };
    assert_eq!(get(&before, "h1"), get(&after, "h1"));
    assert_eq!(get(&before, "h2"), get(&after, "h2"));
    assert_eq!(
        get(&after, "h3").map(|a| a.to_string()).as_deref(),
        Some("172.100.1.252")
    );
    assert_eq!(attachments(&before)[..2], attachments(&after)[..2]);
}

#[test]
fn vlan_id_range() {
    assert_problem(&topo(", vlan: 0", TWO), "networks.mv.vlan", "not a VLAN id");
    assert_problem(&topo(", vlan: 4095", TWO), "networks.mv.vlan", "1 to 4094");
    assert!(problems(&topo(", vlan: 4094, parent: eth1", TWO)).is_empty());
}

#[test]
fn vlan_interface_name_must_fit() {
    // h2's underlay `enp0s31f6abcd` + `.50` is 16 characters.
    assert_problem(
        &topo(", vlan: 50", TWO),
        "networks.mv.vlan",
        "\"enp0s31f6abcd.50\" (host h2) is 16 characters",
    );
    assert_problem(
        &topo(", parent: eth0/x", TWO),
        "networks.mv.parent",
        "contains '/'",
    );
}

#[test]
fn gateway_inside_the_subnet_and_never_a_container_address() {
    assert_problem(
        &topo(", gateway: 10.0.0.1", TWO),
        "networks.mv.gateway",
        "outside 172.100.1.0/24",
    );
    assert_problem(
        &topo(", gateway: 172.100.1.255", TWO),
        "networks.mv.gateway",
        "broadcast",
    );
    assert_problem(
        &topo("", "  a: { host: h1, network: mv, address: 172.100.1.1 }"),
        "containers.a.address",
        "is the gateway",
    );
}

#[test]
fn passthru_rules() {
    assert_problem(
        &topo(
            ", mode: passthru",
            "  a: { host: h1, network: mv }\n  b: { host: h1, network: mv }",
        ),
        "networks.mv.mode",
        "host h1 has a, b",
    );
    assert!(problems(&topo(", mode: passthru", TWO)).is_empty());
    assert_problem(
        &topo(", mode: passthru, host_interface: true", TWO),
        "networks.mv.host_interface",
        "passthru",
    );
}

#[test]
fn mtu_must_fit_the_underlay_parent() {
    assert_problem(
        &topo(", mtu: 9000", TWO),
        "networks.mv.mtu",
        "exceeds the MTU 1500 of host h1",
    );
    assert_problem(
        &topo(", mtu: 60", TWO),
        "networks.mv.mtu",
        "below the IPv4 minimum",
    );
    // An explicit parent's MTU is unknown: only the kernel's range is checked.
    assert!(problems(&topo(", mtu: 9000, parent: bond0", TWO)).is_empty());
    assert_problem(
        &topo(", mtu: 70000, parent: bond0", TWO),
        "networks.mv.mtu",
        "MTU 70000 is above 65535",
    );
}

#[test]
fn shared_vlan_or_passthru_parent_is_rejected() {
    let text = "version: 1
hosts:
  h1: { underlay: 192.168.1.198/24 }
networks:
  a: { driver: macvlan, subnet: 10.1.0.0/24, vlan: 50 }
  b: { driver: macvlan, subnet: 10.2.0.0/24, vlan: 50 }
  c: { driver: macvlan, subnet: 10.3.0.0/24, parent: eth1 }
  d: { driver: macvlan, subnet: 10.4.0.0/24, parent: eth1, mode: passthru }
  e: { driver: macvlan, subnet: 10.5.0.0/24 }
containers:
  x: { host: h1, networks: { a: {}, b: {}, c: {}, d: {}, e: {} } }
";
    assert_problem(
        text,
        "networks.b",
        "the VLAN interface eth0.50 on host h1 already belongs to network a",
    );
    assert_problem(text, "networks.d", "passthru needs the parent to itself");
    // e shares eth0 with nobody but VLAN sub-interfaces: fine.
    assert!(!problems(text).iter().any(|p| p.starts_with("networks.e")));
}

#[test]
fn unknown_keys_and_modes_are_parse_errors() {
    for bad in [", mode: trunk", ", hostinterface: true"] {
        match load_str(&topo(bad, TWO), "t.yaml") {
            Err(TopologyError::Parse { line: Some(_), .. }) => {}
            other => panic!("{bad}: expected a parse error with a line, got {other:?}"),
        }
    }
}

#[test]
fn example_files_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    for name in ["macvlan.yaml", "macvlan-vlan.yaml"] {
        if let Err(e) = load(&dir.join(name)) {
            panic!("{name}: {e}");
        }
    }
}
