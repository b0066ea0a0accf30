//! Tests of loading and validation: each rule has a test that fails if the rule is dropped.

use super::test_support::{assert_problem, problems};
use crate::topology::*;

const HOSTS: &str = "
hosts:
  node-1: { underlay: 192.168.31.183/24, interface: enp0s5 }
  node-2: { underlay: 192.168.31.192/24, interface: enp0s5 }
";

fn topo(networks: &str, containers: &str) -> String {
    format!("version: 1\n{HOSTS}networks:\n{networks}\ncontainers:\n{containers}\n")
}

const OVERLAY: &str =
    "  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }";
const FLANNEL: &str = "  flannel: { driver: vxlan, mode: routed, vni: 200, subnet: 10.244.0.0/16 }";
const LOCAL: &str = "  local: { driver: bridge, subnet: 192.168.200.0/24 }";

#[test]
fn example_files_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    for name in [
        "vxlan-bridged.yaml",
        "vxlan-routed.yaml",
        "bridge.yaml",
        "host-gw.yaml",
    ] {
        if let Err(e) = load(&dir.join(name)) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn valid_topology_has_no_problems() {
    let text = topo(
        &format!("{OVERLAY}\n{FLANNEL}\n{LOCAL}"),
        "  a: { host: node-1, network: overlay }\n  b: { host: node-2, networks: { flannel: {}, local: {} } }",
    );
    assert_eq!(problems(&text), Vec::<String>::new());
}

#[test]
fn parse_errors_carry_file_line_column() {
    let text = "version: 1\nhosts:\n  node-1:\n    underlay: 10.0.0.1/24\n    colour: blue\n";
    let err = load_str(text, "topo.yaml").unwrap_err().to_string();
    assert!(err.starts_with("topo.yaml:5:5: "), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");
    assert!(!err.contains(" at line "), "location printed twice: {err}");
}

#[test]
fn unknown_keys_are_rejected_everywhere() {
    for text in [
        topo(&format!("{OVERLAY}\n    foo: 1"), "").replace(" }\n    foo: 1", ", foo: 1 }"),
        topo(LOCAL, "  a: { host: node-1, network: local, colour: red }"),
        topo(
            LOCAL,
            "  a: { host: node-1, networks: { local: { mac: x } } }",
        ),
        format!("version: 1\nextra: 1\n{HOSTS}"),
    ] {
        assert!(
            matches!(load_str(&text, "t"), Err(TopologyError::Parse { .. })),
            "accepted: {text}"
        );
    }
}

#[test]
fn wrong_family_is_a_clear_parse_error() {
    // Dual stack: `subnet` takes either family, but `address` is IPv4 and `address6` IPv6.
    let text = topo(
        "  v6: { driver: bridge, subnet: 'fd00::/64' }",
        "  a: { host: node-1, network: v6, address: 'fd00::5' }",
    );
    let err = load_str(&text, "t.yaml").unwrap_err().to_string();
    assert!(err.contains("IPv6") && err.contains("fd00::5"), "{err}");
    assert!(err.starts_with("t.yaml:"), "{err}");
    let text = topo(
        "  v6: { driver: bridge, subnet: 10.1.0.0/24, subnet6: 10.2.0.0/24 }",
        "",
    );
    let err = load_str(&text, "t.yaml").unwrap_err().to_string();
    assert!(err.contains("IPv4") && err.contains("10.2.0.0/24"), "{err}");
}

#[test]
fn version_must_be_1() {
    let text = topo(LOCAL, "").replace("version: 1", "version: 2");
    assert_problem(&text, "version", "unsupported version 2");
}

#[test]
fn all_problems_are_reported_one_per_line() {
    let text = topo(
        LOCAL,
        "  a: { host: nope, network: local }\n  b: { host: node-1, network: nope }",
    );
    let err = load_str(&text, "topo.yaml").unwrap_err();
    assert_eq!(err.diagnostics().len(), 2, "{err}");
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 2);
    assert!(
        shown
            .lines()
            .all(|l| l.starts_with("topo.yaml:9:14: containers.a.host")
                || l.starts_with("topo.yaml:10:31: containers.b.network")),
        "{shown}"
    );
}

#[test]
fn unknown_host_and_network() {
    assert_problem(
        &topo(LOCAL, "  a: { host: nope, network: local }"),
        "containers.a.host",
        "unknown host",
    );
    assert_problem(
        &topo(LOCAL, "  a: { host: node-1, network: nope }"),
        "containers.a.network",
        "unknown network",
    );
    assert_problem(
        &topo(LOCAL, "  a: { host: node-1, networks: { nope: {} } }"),
        "containers.a.networks.nope",
        "unknown network",
    );
}

#[test]
fn container_needs_exactly_one_form() {
    assert_problem(
        &topo(LOCAL, "  a: { host: node-1 }"),
        "containers.a",
        "has no network",
    );
    assert_problem(
        &topo(
            LOCAL,
            "  a: { host: node-1, network: local, networks: { local: {} } }",
        ),
        "containers.a",
        "not both",
    );
    assert_problem(
        &topo(
            LOCAL,
            "  a: { host: node-1, address: 192.168.200.5, networks: { local: {} } }",
        ),
        "containers.a.address",
        "short form",
    );
}

#[test]
fn duplicate_addresses() {
    let text = topo(
        LOCAL,
        "  a: { host: node-1, network: local, address: 192.168.200.5 }\n  b: { host: node-1, network: local, address: 192.168.200.5 }",
    );
    assert_problem(&text, "containers.b.address", "already used by container a");
    // An explicit address that an earlier container got automatically is a duplicate too.
    let text = topo(
        LOCAL,
        "  a: { host: node-1, network: local }\n  b: { host: node-1, network: local, address: 192.168.200.2 }",
    );
    assert_problem(&text, "containers.b.address", "already used by container a");
}

#[test]
fn address_outside_subnet_or_special() {
    let t = |addr: &str| {
        topo(
            LOCAL,
            &format!("  a: {{ host: node-1, network: local, address: {addr} }}"),
        )
    };
    assert_problem(
        &t("172.18.20.2"),
        "containers.a.address",
        "172.18.20.2 is outside 192.168.200.0/24",
    );
    assert_problem(
        &t("192.168.200.0"),
        "containers.a.address",
        "network address",
    );
    assert_problem(&t("192.168.200.255"), "containers.a.address", "broadcast");
    assert_problem(&t("192.168.200.1"), "containers.a.address", "gateway");
}

#[test]
fn routed_address_must_be_in_its_hosts_slice() {
    // Slices by host order: node-1 10.244.0.0/24, node-2 10.244.1.0/24.
    let t = |addr: &str| {
        topo(
            FLANNEL,
            &format!("  a: {{ host: node-1, network: flannel, address: {addr} }}"),
        )
    };
    assert!(problems(&t("10.244.0.7")).is_empty());
    assert_problem(
        &t("10.244.1.7"),
        "containers.a.address",
        "outside 10.244.0.0/24 (the slice of host node-1)",
    );
    assert_problem(&t("10.244.0.0"), "containers.a.address", "network address");
    assert_problem(&t("10.244.0.1"), "containers.a.address", "gateway");
}

#[test]
fn overlapping_subnets() {
    let text = topo(
        &format!("{LOCAL}\n  other: {{ driver: bridge, subnet: 192.168.0.0/16 }}"),
        "",
    );
    assert_problem(
        &text,
        "networks.other.subnet",
        "overlaps the subnet of network local",
    );
}

#[test]
fn subnet_with_host_bits() {
    let text = topo("  local: { driver: bridge, subnet: 192.168.200.1/24 }", "");
    assert_problem(
        &text,
        "networks.local.subnet",
        "did you mean 192.168.200.0/24",
    );
}

#[test]
fn duplicate_vni_and_port() {
    let dup = "  o2: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.19.0.0/16 }";
    assert_problem(
        &topo(&format!("{OVERLAY}\n{dup}"), ""),
        "networks.o2.vni",
        "already used by network overlay",
    );
    // Same VNI on another port is fine.
    let other_port =
        "  o2: { driver: vxlan, mode: bridged, vni: 100, port: 4790, subnet: 172.19.0.0/16 }";
    assert!(problems(&topo(&format!("{OVERLAY}\n{other_port}"), "")).is_empty());
}

#[test]
fn vni_range() {
    let text = topo(
        "  o: { driver: vxlan, mode: bridged, vni: 16777216, subnet: 172.18.0.0/16 }",
        "",
    );
    assert_problem(&text, "networks.o.vni", "is not a VNI");
}

#[test]
fn network_names_longer_than_12_characters() {
    let text = topo(
        "  abcdefghijklm: { driver: bridge, subnet: 192.168.200.0/24 }",
        "",
    );
    assert_problem(&text, "networks.abcdefghijklm", "at most 12 characters");
    let ok = topo(
        "  abcdefghijkl: { driver: bridge, subnet: 192.168.200.0/24 }",
        "",
    );
    assert!(problems(&ok).is_empty());
}

#[test]
fn network_names_with_invalid_characters() {
    let text = topo("  'a b': { driver: bridge, subnet: 192.168.200.0/24 }", "");
    assert_problem(&text, "networks.a b", "cannot be used in interface names");
}

#[test]
fn explicit_interface_names() {
    let text = topo(
        LOCAL,
        "  a: { host: node-1, networks: { local: { interface: averyveryverylongname } } }",
    );
    assert_problem(&text, "containers.a.networks.local.interface", "at most 15");
    let text = topo(
        LOCAL,
        "  a: { host: node-1, networks: { local: { interface: 'e/0' } } }",
    );
    assert_problem(
        &text,
        "containers.a.networks.local.interface",
        "contains '/'",
    );
    let text = "version: 1\nhosts:\n  n: { underlay: 10.0.0.1/24, interface: 'en p0' }\n";
    assert_problem(text, "hosts.n.interface", "whitespace");
    let text = topo(
        &format!("{LOCAL}\n{OVERLAY}"),
        "  a: { host: node-1, networks: { local: { interface: eth1 }, overlay: {} } }",
    );
    assert_problem(
        &text,
        "containers.a.networks.overlay.interface",
        "already used for network local",
    );
}

#[test]
fn container_names_are_namespace_names() {
    assert_problem(
        &topo(LOCAL, "  'a/b': { host: node-1, network: local }"),
        "containers.a/b",
        "only A-Z",
    );
    let long = "x".repeat(65);
    assert_problem(
        &topo(
            LOCAL,
            &format!("  {long}: {{ host: node-1, network: local }}"),
        ),
        &format!("containers.{long}"),
        "1 to 64",
    );
}

#[test]
fn routed_slices_must_fit() {
    let net = |extra: &str| {
        format!(
            "  flannel: {{ driver: vxlan, mode: routed, vni: 200, subnet: 10.244.0.0/16{extra} }}"
        )
    };
    assert_problem(
        &topo(&net(", host_prefix: 8"), ""),
        "networks.flannel.host_prefix",
        "do not fit",
    );
    assert_problem(
        &topo(&net(", slices: { node-1: 10.0.0.0/24 }"), ""),
        "networks.flannel.slices.node-1",
        "outside subnet",
    );
    assert_problem(
        &topo(
            &net(", slices: { node-1: 10.244.0.0/24, node-2: 10.244.0.0/25 }"),
            "",
        ),
        "networks.flannel.slices.node-2",
        "overlaps 10.244.0.0/24, the slice of node-1",
    );
    assert_problem(
        &topo(&net(", slices: { nope: 10.244.0.0/24 }"), ""),
        "networks.flannel.slices.nope",
        "unknown host",
    );
    // Two hosts, but a /16 holds only one /16 slice.
    assert_problem(
        &topo(&net(", host_prefix: 16"), ""),
        "networks.flannel",
        "no free /16 slice left for host node-2",
    );
    // Slice options make no sense in bridged mode.
    let bridged =
        "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16, host_prefix: 24 }";
    assert_problem(
        &topo(bridged, ""),
        "networks.o.host_prefix",
        "only applies to mode routed",
    );
}

#[test]
fn mtu_must_fit_the_underlay() {
    let net = "  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16, mtu: 1460 }";
    let text = topo(net, "  a: { host: node-2, network: o }");
    assert_problem(&text, "networks.o.mtu", "underlay MTU 1500 of host node-2");
    // Hosts without containers on the network do not carry it.
    assert!(!problems(&text).iter().any(|p| p.contains("node-1")));
    let fits = topo(
        &net.replace("1460", "1450"),
        "  a: { host: node-2, network: o }",
    );
    assert!(problems(&fits).is_empty());
}

#[test]
fn default_vxlan_mtu_follows_smallest_underlay() {
    let text = format!(
        "version: 1\nhosts:\n  a: {{ underlay: 10.0.0.1/24, mtu: 9000 }}\n  b: {{ underlay: 10.0.0.2/24, mtu: 1400 }}\n\
         networks:\n{OVERLAY}\ncontainers:\n  x: {{ host: a, network: overlay }}\n  y: {{ host: b, network: overlay }}\n"
    );
    let t = load_str(&text, "t").unwrap();
    assert_eq!(membership::network_mtu(&t, "overlay"), Some(1350));
}

#[test]
fn bridge_gateway_outside_subnet() {
    let text = topo(
        "  local: { driver: bridge, subnet: 192.168.200.0/24, gateway: 10.0.0.1 }",
        "",
    );
    assert_problem(&text, "networks.local.gateway", "outside 192.168.200.0/24");
}

#[test]
fn invalid_fixtures_are_rejected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let expected = std::fs::read_to_string(path.with_extension("expected"));
        if path.extension().is_some_and(|e| e == "yaml") {
            count += 1;
            let err = load(&path)
                .expect_err(&path.display().to_string())
                .to_string();
            let expected =
                expected.unwrap_or_else(|_| panic!("{} has no .expected", path.display()));
            let expected = expected
                .trim_end()
                .replace("FILE", &path.display().to_string());
            assert_eq!(err, expected, "{}", path.display());
        }
    }
    assert!(count > 0, "no fixtures found in {}", dir.display());
}

#[test]
fn duplicate_keys_are_errors_not_overrides() {
    for text in [
        "version: 1\nhosts:\n  a: { underlay: 10.0.0.1/24 }\n  a: { underlay: 10.0.0.2/24 }\n",
        &topo(&format!("{LOCAL}\n{LOCAL}"), ""),
        &topo(
            LOCAL,
            "  x: { host: node-1, network: local }\n  x: { host: node-2, network: local }",
        ),
        &topo(
            FLANNEL
                .replace(
                    " }",
                    ", slices: { node-1: 10.244.0.0/24, node-1: 10.244.1.0/24 } }",
                )
                .as_str(),
            "",
        ),
        &topo(
            LOCAL,
            "  x: { host: node-1, networks: { local: {}, local: {} } }",
        ),
    ] {
        let err = load_str(text, "t.yaml").expect_err(text).to_string();
        assert!(err.contains("duplicate key"), "{err}");
        assert!(err.starts_with("t.yaml:"), "{err}");
    }
}

#[test]
fn odd_inputs_do_not_panic() {
    for text in [
        "",
        "~",
        "[]",
        "version: 1",
        "version: -1",
        "version: 1\nhosts: ~\n",
        "version: 1\nhosts: { a: { underlay: 10.0.0.1/0 } }\nnetworks: { n: { driver: bridge, subnet: 0.0.0.0/0 } }\ncontainers: { c: { host: a, network: n } }",
        "version: 1\nhosts: { a: { underlay: 10.0.0.1/32 } }\nnetworks: { n: { driver: bridge, subnet: 10.1.1.1/32 } }\ncontainers: { c: { host: a, network: n } }",
        "version: 1\nhosts: { a: { underlay: 10.0.0.1/32 } }\nnetworks: { n: { driver: vxlan, mode: routed, vni: 1, subnet: 10.1.0.0/16, host_prefix: 32 } }\ncontainers: { c: { host: a, network: n } }",
        "version: 1\nhosts: { a: { underlay: 10.0.0.1/32 } }\nnetworks: { n: { driver: vxlan, mode: routed, vni: 1, subnet: 10.1.0.0/31, host_prefix: 31 } }\ncontainers: { c: { host: a, network: n } }",
        "version: 1\nnetworks: { n: { driver: nope } }",
        "version: 1\ncontainers: { c: { host: a, network: n, address: 'x' } }",
    ] {
        if let Ok(topo) = load_str(text, "t") {
            for host in topo.hosts.keys() {
                let _ = crate::compile::compile(&topo, host);
            }
        }
    }
}

#[test]
fn tiny_subnets_are_rejected() {
    let text = topo("  local: { driver: bridge, subnet: 192.168.200.0/31 }", "");
    assert_problem(&text, "networks.local.subnet", "too small");
}

#[test]
fn mtu_below_ipv4_minimum() {
    let text = topo(
        "  local: { driver: bridge, subnet: 192.168.200.0/24, mtu: 60 }",
        "",
    );
    assert_problem(&text, "networks.local.mtu", "below the IPv4 minimum 68");
    let text = "version: 1\nhosts:\n  n: { underlay: 10.0.0.1/24, mtu: 100 }\nnetworks:\n  o: { driver: vxlan, mode: bridged, vni: 1, subnet: 10.1.0.0/16 }\ncontainers:\n  c: { host: n, network: o }\n";
    // 100 - 50 = 50: the derived VXLAN MTU is too small.
    assert_problem(text, "networks.o.mtu", "MTU 50 is below");
}

#[test]
fn mtu_above_what_the_kernel_accepts() {
    let text = topo(
        "  local: { driver: bridge, subnet: 192.168.200.0/24, mtu: 70000 }",
        "",
    );
    assert_eq!(
        problems(&text),
        vec!["networks.local.mtu: MTU 70000 is above 65535, the largest the kernel accepts"]
    );
    let text = topo(
        "  gw: { driver: host-gw, subnet: 10.50.0.0/16, mtu: 65536 }",
        "",
    );
    assert_problem(&text, "networks.gw.mtu", "above 65535");
    // One problem per path: the underlay comparison does not repeat it.
    let text = topo(
        "  o: { driver: vxlan, mode: bridged, vni: 5, subnet: 172.18.0.0/16, mtu: 70000 }",
        "  a: { host: node-1, network: o }",
    );
    assert_eq!(
        problems(&text),
        vec!["networks.o.mtu: MTU 70000 is above 65535, the largest the kernel accepts"]
    );
    let text = "version: 1\nhosts:\n  n: { underlay: 10.0.0.1/24, mtu: 70000 }\n";
    assert_problem(text, "hosts.n.mtu", "MTU 70000 is above 65535");
    // The largest MTU is accepted where the underlay allows it.
    let text = topo(
        "  local: { driver: bridge, subnet: 192.168.200.0/24, mtu: 65535 }",
        "",
    );
    assert!(problems(&text).is_empty());
}

#[test]
fn vxlan_port_zero() {
    let text = topo(
        "  o: { driver: vxlan, mode: bridged, vni: 7, port: 0, subnet: 172.18.0.0/16 }",
        "",
    );
    assert_eq!(
        problems(&text),
        vec!["networks.o.port: 0 is not a UDP port (1 to 65535; default 4789)"]
    );
    // Above 65535 does not fit the port's type: a parse error with a location.
    let text = text.replace("port: 0", "port: 70000");
    let err = load_str(&text, "t.yaml").unwrap_err().to_string();
    assert!(err.starts_with("t.yaml:"), "{err}");
}

#[test]
fn unknown_key_in_a_network_has_a_location() {
    let text = "version: 1\nnetworks:\n  local:\n    driver: bridge\n    subnet: 10.0.0.0/24\n    gatway: 10.0.0.1\n";
    let err = load_str(text, "t.yaml").unwrap_err().to_string();
    // The network is read whole to find its `driver` (network_de.rs), so serde places the
    // error at the network's mapping; load.rs moves it to the bad key itself (line 6).
    assert!(err.starts_with("t.yaml:6:5: networks.local: "), "{err}");
    assert!(err.contains("unknown field `gatway`"), "{err}");
}

#[test]
fn host_veth_name_collisions() {
    // Found by brute force: both hash to veth595dd18 on network `local`.
    assert_eq!(
        naming::host_veth_name("c198878", "local"),
        naming::host_veth_name("c255542", "local")
    );
    let text = topo(
        LOCAL,
        "  c198878: { host: node-1, network: local }\n  c255542: { host: node-1, network: local }",
    );
    assert_problem(&text, "containers.c255542", "veth595dd18");
    // On different hosts the names do not meet.
    let text = topo(
        LOCAL,
        "  c198878: { host: node-1, network: local }\n  c255542: { host: node-2, network: local }",
    );
    assert!(problems(&text).is_empty());
}

#[test]
fn deep_nesting_is_refused_at_its_position() {
    let deep = format!(
        "version: 1\nhosts: {}{}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let err = load_str(&deep, "t.yaml").unwrap_err().to_string();
    // The document mapping is level 1, so the 64th `[` (column 7 + 63) is level 65.
    assert_eq!(
        err,
        "t.yaml:2:71: nested deeper than 64 levels, the most a topology may have"
    );
}

#[test]
fn invalid_utf8_in_a_file_has_line_and_column() {
    let dir = std::env::temp_dir().join(format!("hin-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("t.yaml");
    std::fs::write(&path, b"version: 1\nhosts:\n  n\xe9: {}\n").expect("write");
    let err = load(&path).unwrap_err().to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        err,
        format!(
            "{}:3:4: invalid UTF-8 (byte 0xe9); a topology file must be UTF-8",
            path.display()
        )
    );
}

#[test]
fn every_bad_entry_is_reported_not_only_the_first() {
    let text = topo(
        &format!("{OVERLAY}\n  local: {{ driver: bridge, subnet: 192.168.200.0/24, nat: maybe }}"),
        "  a: { host: node-1, network: overlay, adress: 172.18.0.5 }\n  b: { host: node-1, network: overlay }\n  c: { host: node-2, network: local, ports: 80 }",
    ) + "polices: {}\n";
    let Err(TopologyError::Invalid { diagnostics, .. }) = load_str(&text, "t") else {
        panic!("several entries are wrong: {:?}", load_str(&text, "t"));
    };
    let got: Vec<(String, usize)> = diagnostics
        .iter()
        .map(|d| (d.path.clone(), d.span.expect("placed").line))
        .collect();
    assert_eq!(
        got,
        [
            ("networks.local.nat".to_string(), 8),
            ("containers.a".to_string(), 10),
            ("containers.c.ports".to_string(), 12),
            ("polices".to_string(), 13),
        ]
    );
    assert!(diagnostics[1].message.contains("unknown field `adress`"));
    assert_eq!(
        diagnostics[1].help.as_deref(),
        Some("did you mean `address`?")
    );
}

#[test]
fn one_bad_entry_stays_one_parse_error() {
    // The entry's own further errors are not looked for (serde reads an entry up to its first).
    let text = topo(
        LOCAL,
        "  a: { host: node-1, network: local, colour: red, mtu: x }",
    );
    let err = load_str(&text, "t").unwrap_err();
    assert!(matches!(err, TopologyError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
}

#[test]
fn a_syntax_error_is_the_only_error() {
    // Not YAML: there are no entries to read again.
    let text = topo(
        LOCAL,
        "  a: { host: node-1, network: local\n  b: { host: [ }",
    );
    let err = load_str(&text, "t").unwrap_err();
    assert!(matches!(err, TopologyError::Parse { .. }), "{err}");
}
