//! Tests of `policies:` and container `labels:` (loading and validation).

use super::test_support::{assert_problem, parse, problems};
use crate::topology::policy::{Direction, Protocol};
use crate::topology::policy::{PortRange, PortValue};

/// Two hosts, a routed network (`pods`, where policies apply) and a bridge network (`front`).
fn topo(policies: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 10.0.0.1/24 }}
  node-2: {{ underlay: 10.0.0.2/24 }}
networks:
  pods: {{ driver: routed, subnet: 10.244.0.0/16 }}
  front: {{ driver: bridge, subnet: 192.168.1.0/24 }}
containers:
  web: {{ host: node-1, network: pods, labels: {{ role: web }} }}
  api: {{ host: node-2, network: pods, labels: {{ role: api }} }}
  db: {{ host: node-2, network: pods, labels: {{ role: db, tier: data }} }}
  lb: {{ host: node-1, network: front, labels: {{ role: lb }} }}
policies:
{policies}
"
    )
}

#[test]
fn port_values_parse_to_ranges() {
    let r = |first, last| Ok(PortRange { first, last });
    assert_eq!(PortValue::Number(80).range(), r(80, 80));
    assert_eq!(PortValue::Text("8000-8080".into()).range(), r(8000, 8080));
    assert_eq!(PortValue::Text("443".into()).range(), r(443, 443));
    for bad in ["0", "70000", "9-1", "a-b", "80-", ""] {
        assert!(PortValue::Text(bad.into()).range().is_err(), "{bad}");
    }
    assert!(PortValue::Number(0).range().is_err());
    assert!(PortValue::Number(65536).range().is_err());
}

#[test]
fn unknown_network_container_and_label_are_named() {
    let yaml = topo(
        "  p:
    selector: { network: podz }
    ingress: []
  q:
    selector: { containers: [web, wbe] }
    ingress: []
  r:
    selector: { labels: { rol: web } }
    ingress: []",
    );
    assert_problem(
        &yaml,
        "policies.p.selector.network",
        "unknown network \"podz\"",
    );
    assert_problem(
        &yaml,
        "policies.q.selector.containers[1]",
        "unknown container \"wbe\"",
    );
    assert_problem(
        &yaml,
        "policies.r.selector.labels.rol",
        "no container has the label \"rol\"",
    );
}

#[test]
fn empty_selectors_and_selections_are_errors() {
    let yaml = topo(
        "  p:
    selector: {}
    ingress: []
  q:
    selector: { network: pods, labels: { role: lb } }
    egress: []",
    );
    assert_problem(&yaml, "policies.p.selector", "selects nothing");
    assert_problem(
        &yaml,
        "policies.q.selector",
        "selects no container interface",
    );
}

#[test]
fn a_policy_needs_a_direction() {
    let yaml = topo("  p:\n    selector: { containers: [web] }");
    assert_problem(&yaml, "policies.p", "neither `ingress` nor `egress`");
}

#[test]
fn policy_names_must_fit_nftables_names() {
    let yaml = topo("  \"-bad name\":\n    selector: { containers: [web] }\n    ingress: []");
    assert_problem(&yaml, "policies.-bad name", "must be 1 to 32 characters");
}

#[test]
fn bridged_networks_are_refused_with_the_reason() {
    let yaml = topo("  p:\n    selector: { labels: { role: lb } }\n    ingress: []");
    assert_problem(
        &yaml,
        "policies.p.selector",
        "selects lb on network front (driver bridge), where policies are not enforced",
    );
}

#[test]
fn bad_ports_ranges_and_icmp_ports() {
    let yaml = topo(
        "  p:
    selector: { containers: [db] }
    ingress:
      - ports: [{ port: 0 }, { protocol: udp, port: \"90-80\" }, { protocol: icmp, port: 8 }, { port: \"x\" }]
      - ports: []",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].ports[0].port",
        "port 0 is not in 1..65535",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].ports[1].port",
        "\"90-80\" is empty",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].ports[2].port",
        "icmp has no ports",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].ports[3].port",
        "\"x\" is not a port",
    );
    assert_problem(&yaml, "policies.p.ingress[1].ports", "is empty");
}

#[test]
fn an_unknown_protocol_is_a_parse_error() {
    let yaml = topo(
        "  p:\n    selector: { containers: [db] }\n    ingress: [{ ports: [{ protocol: sctp }] }]",
    );
    let err = crate::topology::load_str(&yaml, "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sctp"), "{err}");
}

#[test]
fn peers_are_a_selector_or_a_cidr_of_a_family_the_targets_have() {
    let yaml = topo(
        "  p:
    selector: { containers: [db] }
    ingress:
      - from: [{ cidr: 10.0.0.0/8, labels: { role: api } }, {}, { cidr: \"fd00::/8\" }, { labels: { role: nope } }]
      - from: []
    egress:
      - to: [{ network: nets }]",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].from[0]",
        "gives both `cidr` and selector keys",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].from[1]",
        "is empty: give `cidr`",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].from[2].cidr",
        "fd00::/8 is IPv6 but the interfaces policy p selects have no IPv6 address",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[0].from[3]",
        "selects no container interface",
    );
    assert_problem(
        &yaml,
        "policies.p.ingress[1].from",
        "is empty; leave `from` out",
    );
    assert_problem(
        &yaml,
        "policies.p.egress[0].to[0].network",
        "unknown network \"nets\"",
    );
}

#[test]
fn cidrs_with_host_bits_are_parse_errors() {
    let yaml = topo(
        "  p:\n    selector: { containers: [db] }\n    ingress: [{ from: [{ cidr: 10.0.0.1/8 }] }]",
    );
    let err = crate::topology::load_str(&yaml, "t.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("host bits set"), "{err}");
}

#[test]
fn label_keys_and_values_are_checked() {
    let yaml = topo("  p:\n    selector: { containers: [db] }\n    ingress: []").replace(
        "labels: { role: web }",
        "labels: { \"ro le\": web, x: \"a b\" }",
    );
    let found = problems(&yaml);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("containers.web.labels.ro le: label key")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("containers.web.labels.x: label value")),
        "{found:#?}"
    );
}

#[test]
fn a_web_api_db_policy_loads() {
    let t = parse(&topo(
        "  web:
    selector: { network: pods, labels: { role: web } }
    ingress:
      - ports: [{ port: 80 }, { protocol: icmp }]
  db:
    selector: { containers: [db] }
    ingress:
      - from: [{ labels: { role: api } }, { cidr: 10.0.0.0/8 }]
        ports: [{ protocol: tcp, port: \"5432-5433\" }]
    egress: []",
    ));
    let web = &t.policies["web"];
    assert!(web.egress.is_none());
    let rules = web.rules(Direction::Ingress).unwrap();
    assert!(rules[0].peers.is_none(), "no `from`: any source");
    let ports = rules[0].ports.unwrap();
    assert_eq!(ports[0].protocol, Protocol::Tcp, "tcp is the default");
    assert_eq!(ports[1].protocol, Protocol::Icmp);
    let db = &t.policies["db"];
    assert_eq!(db.rules(Direction::Egress).unwrap().len(), 0);
    assert_eq!(t.containers["db"].labels["tier"], "data");
}

#[test]
fn a_network_selector_narrows_a_multi_network_container_to_its_routed_interface() {
    // lb is on the bridge network and on pods: selecting it by label alone includes its
    // bridged interface (refused); adding `network: pods` leaves only the routed one.
    let two = |selector: &str| {
        topo(&format!("  p:\n    selector: {selector}\n    ingress: []")).replace(
            "lb: { host: node-1, network: front, labels: { role: lb } }",
            "lb: { host: node-1, networks: { front: {}, pods: {} }, labels: { role: lb } }",
        )
    };
    assert_problem(
        &two("{ labels: { role: lb } }"),
        "policies.p.selector",
        "selects lb on network front (driver bridge)",
    );
    assert!(problems(&two("{ network: pods, labels: { role: lb } }")).is_empty());
}
