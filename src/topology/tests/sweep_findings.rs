//! What the mutation sweep (`src/tests_sweep.rs`) found, pinned: parse errors that reported the
//! enclosing map's path and line instead of the key's (a bad address; any mistake inside a
//! network was reported at plain `networks`), and follow-on diagnostics that repeated a problem
//! already reported.

use crate::topology::load_str;

fn error(text: &str) -> String {
    load_str(text, "t.yaml").expect_err(text).to_string()
}

const HOSTS: &str = "version: 1\nhosts:\n  h1: { underlay: 10.0.0.1/24 }\n";

#[test]
fn a_bad_address_is_reported_at_its_key_and_value() {
    let text = format!(
        "{HOSTS}networks:\n  br: {{ driver: bridge, subnet: 192.168.1.0/24 }}\ncontainers:\n  a:\n    host: h1\n    network: br\n    address: fd00::1\n"
    );
    let err = error(&text);
    assert!(
        err.starts_with("t.yaml:10:14: containers.a.address: fd00::1 is IPv6"),
        "{err}"
    );

    let err = error("version: 1\nhosts:\n  h1:\n    underlay: nope\n");
    assert!(
        err.starts_with("t.yaml:4:15: hosts.h1.underlay: \"nope\" is not an address/prefix"),
        "{err}"
    );

    let err = error(&format!(
        "{HOSTS}containers:\n  a: {{ host: h1, network: br, address6: 10.0.0.9 }}\n"
    ));
    assert!(
        err.contains("containers.a.address6: 10.0.0.9 is IPv4"),
        "{err}"
    );
}

#[test]
fn a_mistake_inside_a_network_names_the_network_and_key() {
    let err = error(&format!(
        "{HOSTS}networks:\n  br: {{ driver: bridge, subnet: x }}\n"
    ));
    assert!(
        err.starts_with("t.yaml:5:33: networks.br.subnet: \"x\" is not an address/prefix"),
        "{err}"
    );

    let err = error(&format!(
        "{HOSTS}networks:\n  vx: {{ driver: vxlan, mode: bridged, vni: 1, subnet: 10.9.0.0/16, subnet6: 10.8.0.0/16 }}\n"
    ));
    assert!(
        err.contains("networks.vx.subnet6: 10.8.0.0/16 is IPv4"),
        "{err}"
    );

    let err = error(&format!(
        "{HOSTS}networks:\n  vx: {{ driver: vxlan, mode: bridged, vni: -1, subnet: 10.9.0.0/16 }}\n"
    ));
    assert!(
        err.contains("networks.vx.vni: invalid value: integer `-1`"),
        "{err}"
    );

    let err = error(&format!(
        "{HOSTS}networks:\n  br: {{ driver: bridge, subnet: 10.9.0.0/16, nat: yes please }}\n"
    ));
    assert!(
        err.contains("networks.br.nat: invalid type: string"),
        "{err}"
    );

    // Unknown keys name themselves; the path names the network.
    let err = error(&format!(
        "{HOSTS}networks:\n  mv: {{ driver: macvlan, subnet: 10.9.0.0/16, vlna: 5 }}\n"
    ));
    assert!(err.contains("networks.mv: unknown field `vlna`"), "{err}");
}

#[test]
fn the_driver_key_is_checked_where_it_is() {
    let err = error(&format!(
        "{HOSTS}networks:\n  br: {{ driver: brudge, subnet: 10.9.0.0/16 }}\n"
    ));
    assert!(
        err.starts_with("t.yaml:5:17: networks.br.driver: unknown variant `brudge`"),
        "{err}"
    );
    let err = error(&format!(
        "{HOSTS}networks:\n  br: {{ subnet: 10.9.0.0/16 }}\n"
    ));
    assert!(err.contains("networks.br: missing field `driver`"), "{err}");
    let err = error(&format!(
        "{HOSTS}networks:\n  br: {{ driver: bridge, driver: vxlan, subnet: 10.9.0.0/16 }}\n"
    ));
    assert!(
        err.contains("networks.br: duplicate field `driver`"),
        "{err}"
    );
    let err = error(&format!(
        "{HOSTS}networks:\n  br: {{ driver: bridge, subnet: 10.9.0.0/16, subnet: 10.8.0.0/16 }}\n"
    ));
    assert!(
        err.contains("networks.br: duplicate field `subnet`"),
        "{err}"
    );
    let err = error(&format!("{HOSTS}networks:\n  br: bridge\n"));
    assert!(
        err.contains("networks.br: invalid type: string \"bridge\", expected a network"),
        "{err}"
    );
}

#[test]
fn networks_still_load_in_every_form() {
    for name in [
        "bridge",
        "vxlan-routed",
        "host-gw",
        "macvlan-vlan",
        "dual-stack",
    ] {
        let path = format!("{}/topologies/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("example exists");
        let topo = load_str(&text, &path).unwrap_or_else(|e| panic!("{e}"));
        // The hand-written reader agrees with the serialiser.
        let again = serde_norway::to_string(&topo).expect("serialises");
        assert_eq!(load_str(&again, "again.yaml").expect("reloads"), topo);
    }
}

/// All diagnostics of a file that parses, as `path: message` lines.
fn diagnostics(text: &str) -> Vec<String> {
    match load_str(text, "t.yaml") {
        Err(crate::topology::TopologyError::Invalid { diagnostics, .. }) => {
            diagnostics.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

const BRIDGE: &str = "networks:\n  local: { driver: bridge, subnet: 10.9.0.0/24 }\n";

#[test]
fn ports_on_an_unknown_network_get_one_message() {
    let found = diagnostics(&format!(
        "{HOSTS}{BRIDGE}containers:\n  web: {{ host: h1, network: lcoal, ports: [\"8080:80\"] }}\n"
    ));
    assert_eq!(
        found,
        vec!["containers.web.network: unknown network \"lcoal\""]
    );
}

#[test]
fn ports_without_any_network_get_one_message() {
    let found = diagnostics(&format!(
        "{HOSTS}{BRIDGE}containers:\n  web: {{ host: h1, ports: [\"8080:80\"] }}\n"
    ));
    assert_eq!(
        found,
        vec!["containers.web: has no network (set `network` or `networks`)"]
    );
}

#[test]
fn an_address_without_any_network_gets_one_message() {
    let found = diagnostics(&format!(
        "{HOSTS}{BRIDGE}containers:\n  web: {{ host: h1, address: 10.9.0.5 }}\n"
    ));
    assert_eq!(
        found,
        vec!["containers.web: has no network (set `network` or `networks`)"]
    );
    // With the long form the short-form address is its own mistake.
    let found = diagnostics(&format!(
        "{HOSTS}{BRIDGE}containers:\n  web: {{ host: h1, address: 10.9.0.5, networks: {{ local: {{}} }} }}\n"
    ));
    assert_eq!(
        found,
        vec![
            "containers.web.address: `address` belongs to the short form (`network`); in `networks`, set it per network"
        ]
    );
}

#[test]
fn an_ipv6_underlay_on_host_gw_gets_one_message() {
    let found = diagnostics(
        "version: 1\nhosts:\n  h1: { underlay: \"fd00:1::1/64\" }\n  h2: { underlay: 10.0.0.2/24 }\nnetworks:\n  hg: { driver: host-gw, subnet: 10.8.0.0/16 }\ncontainers:\n  a: { host: h1, network: hg }\n  b: { host: h2, network: hg }\n",
    );
    assert_eq!(
        found,
        vec![
            "networks.hg: host-gw routes IPv4 via the peers' underlay addresses, which must be IPv4; IPv6 underlay on: h1"
        ]
    );
    // IPv4 hosts on different subnets are still reported, without the IPv6 one.
    let found = diagnostics(
        "version: 1\nhosts:\n  h1: { underlay: \"fd00:1::1/64\" }\n  h2: { underlay: 10.0.0.2/24 }\n  h3: { underlay: 10.1.0.3/24 }\nnetworks:\n  hg: { driver: host-gw, subnet: 10.8.0.0/16 }\ncontainers:\n  a: { host: h1, network: hg }\n  b: { host: h2, network: hg }\n  c: { host: h3, network: hg }\n",
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].ends_with("but: h2 on 10.0.0.0/24, h3 on 10.1.0.0/24"),
        "{found:#?}"
    );
}

/// Top-level keys indented unlike the first one make the YAML reader see several documents with
/// no `---` marker and no location of its own: the error still has a line and column.
#[test]
fn several_documents_without_a_marker_are_located() {
    let err = error(" version: 1\nhosts: {}\ncontainers: {}\n");
    assert!(err.starts_with("t.yaml:1:1: "), "{err}");
    assert!(err.contains("reads as several"), "{err}");
}
