//! Tests of `default_route: false` (no default route) and `true` (the default), beside the
//! network-name form tested in `tests_host_gw`.

use super::test_support::{parse, problems};
use crate::topology::*;

/// Two hosts; `l` is dual stack with gateways, `f` routed dual stack, `g` host-gw, `o` bridged.
fn topo(containers: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 10.0.0.1/24 }}
  node-2: {{ underlay: 10.0.0.2/24 }}
networks:
  l: {{ driver: bridge, subnet: 192.168.1.0/24, subnet6: 'fd00:1::/64' }}
  f: {{ driver: vxlan, mode: routed, vni: 2, subnet: 10.244.0.0/16, subnet6: 'fd00:244::/56' }}
  g: {{ driver: host-gw, subnet: 10.245.0.0/16 }}
  o: {{ driver: vxlan, mode: bridged, vni: 3, subnet: 172.18.0.0/16 }}
containers:
{containers}
"
    )
}

/// (network, default_route, default_route6) of each attachment of `container`.
fn flags(t: &Topology, container: &str) -> Vec<(String, bool, bool)> {
    attachments(t)
        .into_iter()
        .filter(|a| a.container == container)
        .map(|a| (a.network, a.default_route, a.default_route6))
        .collect()
}

fn f(net: &str, v4: bool, v6: bool) -> (String, bool, bool) {
    (net.to_string(), v4, v6)
}

#[test]
fn false_true_and_a_name_parse_to_their_own_forms() {
    let t = parse(&topo(
        "  a: { host: node-1, network: l, default_route: false }
  b: { host: node-1, network: l, default_route: true }
  c: { host: node-1, network: l, default_route: l }
  d: { host: node-1, network: l }",
    ));
    let form = |c: &str| t.containers[c].default_route.clone();
    assert_eq!(form("a"), Some(DefaultRoute::Off));
    assert_eq!(form("b"), Some(DefaultRoute::Auto));
    assert_eq!(form("c"), Some(DefaultRoute::Network("l".into())));
    assert_eq!(form("d"), None);
    assert!(t.containers["a"].without_default_route());
    assert!(!t.containers["b"].without_default_route());
    assert_eq!(t.containers["c"].default_route_network(), Some("l"));
    assert_eq!(t.containers["b"].default_route_network(), None);
}

#[test]
fn false_means_no_default_route_of_either_family() {
    let t = parse(&topo(
        "  a: { host: node-1, networks: { l: {}, f: {} }, default_route: false }
  b: { host: node-1, network: g, default_route: false }",
    ));
    assert_eq!(flags(&t, "a"), [f("l", false, false), f("f", false, false)]);
    assert_eq!(flags(&t, "b"), [f("g", false, false)]);
}

#[test]
fn true_is_the_default_choice() {
    let with = parse(&topo(
        "  a: { host: node-1, networks: { o: {}, f: {}, l: {} }, default_route: true }",
    ));
    let without = parse(&topo(
        "  a: { host: node-1, networks: { o: {}, f: {}, l: {} } }",
    ));
    assert_eq!(flags(&with, "a"), flags(&without, "a"));
    assert_eq!(
        flags(&with, "a"),
        [
            f("o", false, false),
            f("f", true, true),
            f("l", false, false)
        ]
    );
}

#[test]
fn a_network_named_like_a_boolean_is_chosen_by_quoting() {
    let text = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
networks:
  'false': { driver: bridge, subnet: 192.168.1.0/24 }
  'true': { driver: bridge, subnet: 192.168.2.0/24 }
containers:
  a: { host: node-1, networks: { 'true': {}, 'false': {} }, default_route: 'false' }
  b: { host: node-1, networks: { 'true': {}, 'false': {} }, default_route: \"true\" }
  c: { host: node-1, networks: { 'true': {}, 'false': {} }, default_route: false }
";
    let t = parse(text);
    assert_eq!(
        t.containers["a"].default_route,
        Some(DefaultRoute::Network("false".into()))
    );
    assert_eq!(
        flags(&t, "a"),
        [f("true", false, false), f("false", true, false)]
    );
    assert_eq!(
        flags(&t, "b"),
        [f("true", true, false), f("false", false, false)]
    );
    assert_eq!(
        flags(&t, "c"),
        [f("true", false, false), f("false", false, false)]
    );
}

#[test]
fn a_number_or_a_list_is_a_parse_error_with_its_position() {
    for bad in ["5", "[l]", "{ l: 1 }"] {
        let text = topo(&format!(
            "  a: {{ host: node-1, network: l,\n    default_route: {bad} }}"
        ));
        let err = match load_str(&text, "t.yaml") {
            Ok(_) => panic!("default_route: {bad} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("t.yaml:12:20: containers.a.default_route: invalid type")
                && err.contains("expected a network name of this container, or false"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn false_with_published_ports_needs_an_existing_namespace() {
    let text = topo("  a: { host: node-1, network: l, ports: ['8080:80'], default_route: false }");
    let found = problems(&text);
    assert_eq!(
        found,
        [
            "containers.a.default_route: false leaves no route back to the clients of the published ports (remove `ports`, or keep a default route)"
        ]
    );
    // An existing namespace may route replies itself (a Docker container's own default route).
    let text = topo(
        "  a: { host: node-1, network: l, ports: ['8080:80'], default_route: false, netns: { pid: 1 } }",
    );
    assert!(problems(&text).is_empty(), "{:?}", problems(&text));
}

#[test]
fn false_is_not_checked_as_a_network_name() {
    // The name rules of `default_route: <network>` do not apply to the boolean forms.
    for value in ["false", "true"] {
        let text = topo(&format!(
            "  a: {{ host: node-1, network: o, default_route: {value} }}"
        ));
        assert!(problems(&text).is_empty(), "{value}: {:?}", problems(&text));
    }
    // ...while the quoted string is a name, and `false` is none of a's networks.
    let text = topo("  a: { host: node-1, network: o, default_route: 'false' }");
    assert_eq!(
        problems(&text),
        ["containers.a.default_route: \"false\" is not one of this container's networks (o)"]
    );
}

#[test]
fn serialises_back_to_the_same_forms() {
    for (form, yaml) in [
        (DefaultRoute::Off, "false"),
        (DefaultRoute::Auto, "true"),
        (DefaultRoute::Network("false".into()), "'false'"),
        (DefaultRoute::Network("gw".into()), "gw"),
    ] {
        let text = serde_norway::to_string(&form).unwrap_or_default();
        assert_eq!(text.trim(), yaml);
        let back: DefaultRoute = serde_norway::from_str(&text).unwrap_or(DefaultRoute::Auto);
        assert_eq!(back, form);
    }
}
