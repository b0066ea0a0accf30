//! IPv6 on container interfaces, on the real kernel in lab namespaces: off on interfaces to
//! networks without IPv6 (as Docker does), on where the network has IPv6 or the container asks
//! for link-local IPv6 (`ipv6_link_local`). Read back with `sysctl` inside the namespace and
//! `ip -j`; drift made by hand is detected and repaired; a network that gains IPv6 turns it on
//! and gets its addresses in one apply.

mod common;

use common::*;
use serde_json::Value;

const TOPOLOGY: &str = r#"
version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24 }
networks:
  four: { driver: bridge, subnet: 10.31.0.0/24 }
  dual: { driver: bridge, subnet: 10.32.0.0/24, subnet6: "fd00:32::/64" }
containers:
  a: { host: node-1, network: four }
  b: { host: node-1, network: dual }
  c: { host: node-1, network: four, ipv6_link_local: true }
  d: { host: node-1, networks: { four: {}, dual: {} } }
"#;

fn disable_ipv6(ns: &str, dev: &str) -> String {
    sysctl(ns, &format!("net.ipv6.conf.{dev}.disable_ipv6"))
}

/// The IPv6 addresses on `dev` in `ns`.
fn addrs6(ns: &str, dev: &str) -> Vec<String> {
    ip_json(ns, &["-6", "addr", "show", "dev", dev])
        .into_iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i["local"].as_str().map(str::to_string))
        .collect()
}

/// `dev` in `ns` has IPv6 off and not a single IPv6 address, or on with a link-local one.
fn assert_ipv6(ns: &str, dev: &str, on: bool) {
    let addrs = addrs6(ns, dev);
    if on {
        assert_eq!(disable_ipv6(ns, dev), "0", "IPv6 off on {ns}/{dev}");
        // The kernel adds the link-local address once the carrier is up: poll for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !addrs6(ns, dev).iter().any(|a| a.starts_with("fe80:")) {
            assert!(
                std::time::Instant::now() < deadline,
                "no link-local address on {ns}/{dev}: {:?}",
                addrs6(ns, dev)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    } else {
        assert_eq!(disable_ipv6(ns, dev), "1", "IPv6 on on {ns}/{dev}");
        assert_eq!(addrs, Vec::<String>::new(), "IPv6 addresses on {ns}/{dev}");
    }
}

#[test]
fn ipv4_only_interfaces_have_no_ipv6_and_the_rest_keep_it() {
    let file = temp_topology("ipv6", TOPOLOGY);
    let lab = Lab::new("v6", &file);
    lab.up();
    let (a, b, c, d) = (
        lab.container_ns("node-1", "a"),
        lab.container_ns("node-1", "b"),
        lab.container_ns("node-1", "c"),
        lab.container_ns("node-1", "d"),
    );
    assert_ipv6(&a, "eth0", false);
    assert_ipv6(&b, "eth0", true);
    assert_ipv6(&c, "eth0", true);
    assert_ipv6(&d, "eth0", false);
    assert_ipv6(&d, "eth1", true);
    // A namespace whose interfaces all go without IPv6 is created with IPv6 off for new
    // interfaces, so they are born that way; one with an IPv6 interface keeps the default.
    let default_off = |ns: &str| disable_ipv6(ns, "default") == "1";
    assert!(default_off(&a));
    assert!(!default_off(&b) && !default_off(&c) && !default_off(&d));
    // The host end of every pair is left as the kernel made it.
    let host = lab.host_ns("node-1");
    let ports: Vec<Value> = ip_json(&host, &["link", "show", "type", "veth"])
        .into_iter()
        .filter(|l| l.get("master").is_some())
        .collect();
    assert_eq!(ports.len(), 5, "{ports:?}");
    for port in &ports {
        let name = port["ifname"].as_str().unwrap();
        assert_eq!(disable_ipv6(&host, name), "0", "IPv6 off on host/{name}");
    }
    // IPv4 works on an interface without IPv6, and IPv6 where it is on.
    lab.wait_settled();
    assert!(ping_tries(&a, "10.31.0.1", 5), "a cannot reach its gateway");
    assert!(
        ping_tries(&d, "10.32.0.1", 5),
        "d cannot reach dual's gateway"
    );
    assert!(
        ping_tries(&b, "fd00:32::1", 5),
        "b cannot reach its IPv6 gateway"
    );
    // `lo` keeps IPv6 where the interfaces have none: `::1` still answers.
    assert!(
        addrs6(&a, "lo").iter().any(|x| x == "::1"),
        "{:?}",
        addrs6(&a, "lo")
    );
    assert!(ping_tries(&a, "::1", 5), "a cannot reach ::1");
    lab.assert_no_changes("node-1");

    // Drift: IPv6 turned back on by hand is named and turned off again.
    run(
        "ip",
        &[
            "netns",
            "exec",
            &a,
            "sysctl",
            "-w",
            "net.ipv6.conf.eth0.disable_ipv6=0",
        ],
    );
    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    assert!(
        text.contains("a/eth0") && text.contains("ipv6") && text.contains("\"off\""),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "repair failed: {}", stderr(&out));
    assert_ipv6(&a, "eth0", false);
    lab.assert_no_changes("node-1");

    // `four` gains IPv6: one apply turns IPv6 on on its interfaces (before their new IPv6
    // addresses, which the kernel refuses on an interface with IPv6 off) and converges.
    let gained = TOPOLOGY.replace(
        "four: { driver: bridge, subnet: 10.31.0.0/24 }",
        "four: { driver: bridge, subnet: 10.31.0.0/24, subnet6: \"fd00:31::/64\" }",
    );
    std::fs::write(&file, gained).unwrap();
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed: {}", stderr(&out));
    assert_ipv6(&a, "eth0", true);
    assert!(
        addrs6(&a, "eth0")
            .iter()
            .any(|x| x.starts_with("fd00:31::")),
        "{:?}",
        addrs6(&a, "eth0")
    );
    assert_ipv6(&d, "eth0", true);
    lab.assert_no_changes("node-1");

    let out = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "destroy failed");
    lab.assert_host_clean("node-1");
}
