//! The kernel side effects the plan models (`plan::cascade`), pinned on the real kernel so that a
//! kernel that behaves differently is noticed: a link that loses its last IPv4 address loses
//! every IPv4 route out of it and its ARP entries, permanent ones included, while its IPv6
//! routes and neighbours stay; a link that keeps another IPv4 address keeps its routes. Each
//! test runs in a namespace of its own; checked with `ip -j`.

mod common;

use common::*;

/// `ip -n NS ARGS`, failing the test on error.
fn ip(ns: &str, args: &[&str]) {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    run("ip", &full);
}

/// A namespace with veth pair d0/p0 (both ends here, up).
fn host() -> NetnsHost {
    let host = NetnsHost::new("hcvfx");
    ip(
        &host.name,
        &["link", "add", "d0", "type", "veth", "peer", "name", "p0"],
    );
    ip(&host.name, &["link", "set", "d0", "up"]);
    ip(&host.name, &["link", "set", "p0", "up"]);
    host
}

fn routes(ns: &str, family: &str) -> Vec<String> {
    ip_json(ns, &[family, "route", "show", "dev", "d0"])
        .iter()
        .filter(|r| r["protocol"] != "kernel")
        .map(|r| r["dst"].as_str().unwrap_or("").to_string())
        .collect()
}

fn permanent_neighbours(ns: &str, family: &str) -> Vec<String> {
    ip_json(
        ns,
        &[family, "neigh", "show", "dev", "d0", "nud", "permanent"],
    )
    .iter()
    .map(|n| n["dst"].as_str().unwrap_or("").to_string())
    .collect()
}

#[test]
fn the_last_ipv4_address_takes_ipv4_routes_and_arp_entries_along() {
    let host = host();
    let ns = host.name.as_str();
    ip(ns, &["addr", "add", "10.0.0.2/24", "dev", "d0"]);
    ip(
        ns,
        &["-6", "addr", "add", "fd00::2/64", "dev", "d0", "nodad"],
    );
    ip(
        ns,
        &["route", "add", "default", "via", "10.0.0.1", "dev", "d0"],
    );
    ip(
        ns,
        &[
            "route",
            "add",
            "10.5.0.0/16",
            "via",
            "10.9.0.1",
            "dev",
            "d0",
            "onlink",
        ],
    );
    ip(
        ns,
        &[
            "-6",
            "route",
            "add",
            "fd99::/64",
            "via",
            "fd00::1",
            "dev",
            "d0",
        ],
    );
    ip(
        ns,
        &[
            "neigh",
            "add",
            "10.0.0.7",
            "lladdr",
            "02:00:00:00:00:07",
            "dev",
            "d0",
            "nud",
            "permanent",
        ],
    );
    ip(
        ns,
        &[
            "-6",
            "neigh",
            "add",
            "fd00::7",
            "lladdr",
            "02:00:00:00:00:07",
            "dev",
            "d0",
            "nud",
            "permanent",
        ],
    );
    assert_eq!(routes(ns, "-4"), ["default", "10.5.0.0/16"]);
    assert_eq!(permanent_neighbours(ns, "-4"), ["10.0.0.7"]);

    ip(ns, &["addr", "del", "10.0.0.2/24", "dev", "d0"]);
    assert_eq!(
        routes(ns, "-4"),
        Vec::<String>::new(),
        "IPv4 routes flushed"
    );
    assert_eq!(
        permanent_neighbours(ns, "-4"),
        Vec::<String>::new(),
        "ARP flushed"
    );
    assert_eq!(routes(ns, "-6"), ["fd99::/64"], "IPv6 routes stay");
    assert_eq!(
        permanent_neighbours(ns, "-6"),
        ["fd00::7"],
        "NDP entries stay"
    );
    assert!(link(ns, "d0").is_some(), "the link stays");
}

#[test]
fn another_ipv4_address_keeps_the_routes() {
    let host = host();
    let ns = host.name.as_str();
    ip(ns, &["addr", "add", "10.0.0.2/24", "dev", "d0"]);
    ip(ns, &["addr", "add", "10.1.0.2/24", "dev", "d0"]);
    ip(
        ns,
        &["route", "add", "default", "via", "10.0.0.1", "dev", "d0"],
    );
    ip(
        ns,
        &[
            "neigh",
            "add",
            "10.0.0.7",
            "lladdr",
            "02:00:00:00:00:07",
            "dev",
            "d0",
            "nud",
            "permanent",
        ],
    );
    ip(ns, &["addr", "del", "10.0.0.2/24", "dev", "d0"]);
    assert_eq!(routes(ns, "-4"), ["default"]);
    assert_eq!(permanent_neighbours(ns, "-4"), ["10.0.0.7"]);
}
