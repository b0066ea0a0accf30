//! Tests of address allocation: determinism, order, and stability under appends.

use super::test_support::{addr, parse};
use crate::topology::*;
use std::net::Ipv4Addr;

const BASE: &str = "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24 }
  node-2: { underlay: 192.168.31.192/24 }
networks:
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
  flannel: { driver: vxlan, mode: routed, vni: 200, subnet: 10.244.0.0/16, slices: { node-2: 10.244.0.0/24 } }
  local: { driver: bridge, subnet: 192.168.200.0/24 }
containers:
  a: { host: node-1, network: local }
  b: { host: node-1, network: local, address: 192.168.200.3 }
  c: { host: node-1, network: local }
  d: { host: node-1, network: overlay }
  e: { host: node-2, network: overlay, address: 172.18.0.3 }
  f: { host: node-2, network: overlay }
  g: { host: node-1, network: flannel }
  h: { host: node-2, network: flannel }
  i: { host: node-2, network: flannel }
";

fn addresses(topo: &Topology) -> Vec<(String, String, Ipv4Addr)> {
    attachments(topo)
        .into_iter()
        .filter_map(|a| Some((a.container.clone(), a.network.clone(), a.ipv4()?)))
        .collect()
}

#[test]
fn allocation_in_declaration_order() {
    let t = parse(BASE);
    let got: Vec<(String, Ipv4Addr)> = addresses(&t).into_iter().map(|(c, _, a)| (c, a)).collect();
    let want = [
        ("a", "192.168.200.2"), // first after the gateway .1
        ("b", "192.168.200.3"),
        ("c", "192.168.200.4"), // skips b's explicit .3
        ("d", "172.18.0.2"),    // bridged: from .2
        ("e", "172.18.0.3"),
        ("f", "172.18.0.4"),
        ("g", "10.244.1.2"), // node-1 gets the first slice not pinned by node-2
        ("h", "10.244.0.2"), // node-2's pinned slice, from .2
        ("i", "10.244.0.3"),
    ];
    let want: Vec<(String, Ipv4Addr)> =
        want.iter().map(|(c, a)| (c.to_string(), addr(a))).collect();
    assert_eq!(got, want);
}

#[test]
fn slices_in_host_order_skipping_pinned() {
    let t = parse(BASE);
    assert_eq!(
        slice(&t, "flannel", "node-1"),
        Some("10.244.1.0/24".parse().unwrap())
    );
    assert_eq!(
        slice(&t, "flannel", "node-2"),
        Some("10.244.0.0/24".parse().unwrap())
    );
    assert_eq!(slice(&t, "overlay", "node-1"), None);
    assert_eq!(slice(&t, "flannel", "nope"), None);
}

#[test]
fn gateways_prefixes_and_default_routes() {
    let t = parse(BASE);
    let all = attachments(&t);
    let find = |c: &str| all.iter().find(|a| a.container == c).unwrap();
    let a = find("a");
    assert_eq!(
        (
            a.v4.unwrap().prefix_len,
            a.v4.unwrap().gateway,
            a.default_route
        ),
        (24, Some(addr("192.168.200.1")), true)
    );
    let d = find("d");
    assert_eq!(
        (
            d.v4.unwrap().prefix_len,
            d.v4.unwrap().gateway,
            d.default_route
        ),
        (16, None, false)
    );
    let g = find("g");
    assert_eq!(
        (
            g.v4.unwrap().prefix_len,
            g.v4.unwrap().gateway,
            g.default_route
        ),
        (24, Some(addr("10.244.1.1")), true)
    );
    assert_eq!((g.host.as_str(), g.interface.as_str()), ("node-1", "eth0"));
}

#[test]
fn several_networks_get_eth_n_and_one_default_route() {
    let text = BASE.to_string()
        + "  m: { host: node-1, networks: { overlay: {}, local: { address: 192.168.200.50 }, flannel: { interface: fl0 } } }\n";
    let t = parse(&text);
    let m: Vec<Attachment> = attachments(&t)
        .into_iter()
        .filter(|a| a.container == "m")
        .collect();
    let summary: Vec<(&str, &str, bool)> = m
        .iter()
        .map(|a| (a.network.as_str(), a.interface.as_str(), a.default_route))
        .collect();
    // overlay has no gateway, so the default route goes via the first network that has one.
    assert_eq!(
        summary,
        [
            ("overlay", "eth0", false),
            ("local", "eth1", true),
            ("flannel", "fl0", false)
        ]
    );
    assert_eq!(m[1].ipv4().unwrap(), addr("192.168.200.50"));
}

#[test]
fn appending_never_moves_existing_allocations() {
    let before = parse(BASE);
    // A host appended to `hosts`, containers appended to `containers`.
    let after = parse(
        &(BASE.replace(
            "networks:",
            "  node-3: { underlay: 192.168.31.200/24 }\nnetworks:",
        ) + "  j: { host: node-3, network: flannel }\n  k: { host: node-1, network: local }\n  l: { host: node-1, network: overlay, address: 172.18.0.9 }\n"),
    );
    let old = addresses(&before);
    let new = addresses(&after);
    assert_eq!(&new[..old.len()], &old[..], "an existing container moved");
    for host in ["node-1", "node-2"] {
        assert_eq!(
            slice(&before, "flannel", host),
            slice(&after, "flannel", host)
        );
    }
    assert_eq!(
        slice(&after, "flannel", "node-3"),
        Some("10.244.2.0/24".parse().unwrap())
    );
    assert_eq!(new[old.len()].2, addr("10.244.2.2"));
    assert_eq!(new[old.len() + 1].2, addr("192.168.200.5"));
}

#[test]
fn exhausted_range_is_an_error_not_a_panic() {
    let text = "version: 1
hosts: { n: { underlay: 10.0.0.1/24 } }
networks: { tiny: { driver: bridge, subnet: 10.9.0.0/30 } }
containers:
  a: { host: n, network: tiny }
  b: { host: n, network: tiny }
";
    let err = load_str(text, "t").unwrap_err().to_string();
    assert!(
        err.contains("containers.b: no free address left in 10.9.0.0/30"),
        "{err}"
    );
}

#[test]
fn nth_stays_inside_the_network() {
    let net: ipnet::Ipv4Net = "10.0.0.0/30".parse().unwrap();
    assert_eq!(ipam::nth(net, 3), Some(addr("10.0.0.3")));
    assert_eq!(ipam::nth(net, 4), None);
    let top: ipnet::Ipv4Net = "255.255.255.252/30".parse().unwrap();
    assert_eq!(ipam::nth(top, 9), None);
}

#[test]
fn first_container_on_a_host_does_not_shift_other_slices() {
    let base = "version: 1
hosts:
  n1: { underlay: 10.0.0.1/24 }
  n2: { underlay: 10.0.0.2/24 }
  n3: { underlay: 10.0.0.3/24 }
networks:
  flannel: { driver: vxlan, mode: routed, vni: 1, subnet: 10.244.0.0/16 }
containers:
  c3: { host: n3, network: flannel }
";
    let before = parse(base);
    let after = parse(&(base.to_string() + "  c1: { host: n1, network: flannel }\n"));
    // Slices belong to every declared host, so n3 keeps the third one either way.
    let want = Some("10.244.2.0/24".parse().unwrap());
    assert_eq!(slice(&before, "flannel", "n3"), want);
    assert_eq!(slice(&after, "flannel", "n3"), want);
    assert_eq!(addresses(&after)[0], addresses(&before)[0]);
}

#[test]
fn automatic_allocation_resumes_per_network_and_slice() {
    // Autos fill a /29 (.2-.6) around an explicit address declared between them, hosts
    // alternate on a routed network (each slice counts on its own), the sixth auto finds the
    // /29 full, and an explicit address declared after the autos still conflicts.
    let t: Topology = serde_norway::from_str(
        "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24 }
  node-2: { underlay: 192.168.31.192/24 }
networks:
  small: { driver: bridge, subnet: 192.168.5.0/29 }
  flannel: { driver: vxlan, mode: routed, vni: 200, subnet: 10.244.0.0/16 }
containers:
  a: { host: node-1, network: small }
  r1: { host: node-1, network: flannel }
  x: { host: node-1, network: small, address: 192.168.5.4 }
  r2: { host: node-2, network: flannel }
  b: { host: node-1, network: small }
  r3: { host: node-1, network: flannel }
  c: { host: node-1, network: small }
  r4: { host: node-2, network: flannel }
  d: { host: node-1, network: small }
  e: { host: node-1, network: small }
  y: { host: node-1, network: small, address: 192.168.5.3 }
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (got, diags) = crate::topology::ipam::allocate(&t);
    let got: Vec<(String, Ipv4Addr)> = got
        .into_iter()
        .filter_map(|a| Some((a.container.clone(), a.ipv4()?)))
        .collect();
    let want: Vec<(String, Ipv4Addr)> = [
        ("a", "192.168.5.2"),
        ("r1", "10.244.0.2"),
        ("x", "192.168.5.4"),
        ("r2", "10.244.1.2"),
        ("b", "192.168.5.3"),
        ("r3", "10.244.0.3"),
        ("c", "192.168.5.5"), // skips x's explicit .4
        ("r4", "10.244.1.3"),
        ("d", "192.168.5.6"),
    ]
    .iter()
    .map(|(c, a)| (c.to_string(), addr(a)))
    .collect();
    assert_eq!(got, want);
    let messages: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("containers.e") && messages[0].contains("no free address left"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("192.168.5.3 is already used by container b"),
        "{messages:#?}"
    );
}

#[test]
fn automatic_ipv6_allocation_resumes_past_explicit_addresses() {
    // IPv6-only bridged VXLAN: autos from ::2, around an explicit ::4 declared between them;
    // an explicit address declared after the autos still conflicts.
    let t: Topology = serde_norway::from_str(
        "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24 }
  node-2: { underlay: 192.168.31.192/24 }
networks:
  six: { driver: vxlan, mode: bridged, vni: 300, subnet: \"fd00:300::/125\" }
containers:
  a: { host: node-1, network: six }
  x: { host: node-2, network: six, address6: \"fd00:300::4\" }
  b: { host: node-2, network: six }
  c: { host: node-1, network: six }
  y: { host: node-1, network: six, address6: \"fd00:300::3\" }
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (got, diags) = crate::topology::ipam::allocate(&t);
    let got: Vec<(String, String)> = got
        .into_iter()
        .filter_map(|a| Some((a.container.clone(), a.ipv6()?.to_string())))
        .collect();
    let want: Vec<(String, String)> = [
        ("a", "fd00:300::2"),
        ("x", "fd00:300::4"),
        ("b", "fd00:300::3"),
        ("c", "fd00:300::5"), // skips x's explicit ::4
    ]
    .iter()
    .map(|(c, a)| (c.to_string(), a.to_string()))
    .collect();
    assert_eq!(got, want);
    let messages: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].contains("fd00:300::3 is already used by container b"),
        "{messages:#?}"
    );
}
