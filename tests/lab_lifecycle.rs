//! End-to-end lifecycle of each example topology in a lab, on the real kernel: up, traffic,
//! no-op plan, drift made by hand (detected exactly, repaired by apply), unowned objects left
//! alone, a container removed from the file removed everywhere, destroy leaves nothing owned.
//! Kernel state is read with `ip -j` / `bridge -j` and traffic checked with `ping`.

mod common;

use common::*;

/// A container of an example file: (host, container, address).
type Member = (&'static str, &'static str, &'static str);

/// Drift made by hand on one host, and the plan lines that must name it.
struct Drift {
    host: &'static str,
    /// Commands run to cause it: (tool, args) with `{ns}` replaced by the host namespace and
    /// `{lab}` by the lab name.
    commands: Vec<(&'static str, Vec<&'static str>)>,
    /// Resource addresses the plan must name.
    expect: Vec<&'static str>,
    summary: &'static str,
}

fn host_of(members: &[Member], container: &str) -> &'static str {
    members
        .iter()
        .find(|m| m.1 == container)
        .map(|m| m.0)
        .expect("member")
}

fn assert_all_pairs_reach(lab: &Lab, members: &[Member]) {
    for a in members {
        for b in members {
            if a.1 != b.1 {
                let ns = lab.container_ns(a.0, a.1);
                assert!(ping(&ns, b.2), "{} cannot reach {} ({})", a.1, b.1, b.2);
            }
        }
    }
}

fn hosts(members: &[Member]) -> Vec<&'static str> {
    let mut hosts: Vec<&str> = members.iter().map(|m| m.0).collect();
    hosts.dedup();
    hosts
}

fn assert_no_changes(lab: &Lab, members: &[Member]) {
    for host in hosts(members) {
        lab.assert_no_changes(host);
    }
}

fn make_drift(lab: &Lab, drift: &Drift) {
    let ns = lab.host_ns(drift.host);
    for (tool, args) in &drift.commands {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{ns}", &ns).replace("{lab}", &lab.name))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(tool, &args);
    }
    let out = lab.on_host("plan", drift.host, &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    for key in &drift.expect {
        assert!(text.contains(key), "plan does not name {key}:\n{text}");
    }
    assert!(
        text.contains(drift.summary),
        "plan summary is not {:?}:\n{text}",
        drift.summary
    );
    // Exactly those objects: one `#` headline per step.
    let headlines = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("# ") && (l.contains(" will be ") || l.contains(" must be ")))
        .count();
    assert_eq!(
        headlines,
        drift.expect.len(),
        "plan has other steps:\n{text}"
    );
}

/// Objects made by hand inside a host namespace; they must survive apply and destroy.
fn make_unowned(lab: &Lab, host: &str) {
    let ns = lab.host_ns(host);
    run(
        "ip",
        &["-n", &ns, "link", "add", "handmade0", "type", "bridge"],
    );
    run(
        "ip",
        &["-n", &ns, "addr", "add", "10.99.0.1/24", "dev", "handmade0"],
    );
    run("ip", &["-n", &ns, "link", "set", "handmade0", "up"]);
    run(
        "ip",
        &[
            "-n",
            &ns,
            "route",
            "add",
            "10.98.0.0/24",
            "via",
            "10.99.0.2",
            "dev",
            "handmade0",
        ],
    );
}

fn assert_unowned_survive(lab: &Lab, host: &str) {
    let ns = lab.host_ns(host);
    assert!(
        link(&ns, "handmade0").is_some(),
        "hand-made link was removed"
    );
    let addrs = ip_json(&ns, &["addr", "show", "dev", "handmade0"]);
    let has_addr = addrs.iter().any(|l| {
        l["addr_info"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["local"] == "10.99.0.1"))
    });
    assert!(has_addr, "hand-made address was removed");
    let routes = ip_json(&ns, &["route", "show", "10.98.0.0/24"]);
    assert_eq!(routes.len(), 1, "hand-made route was removed");
}

fn apply_all(lab: &Lab, hosts: &[&str]) {
    for host in hosts {
        let out = lab.on_host("apply", host, &["--auto-approve"]);
        assert!(out.status.success(), "apply on {host} failed");
    }
}

fn assert_nothing_owned(lab: &Lab, hosts: &[&str]) {
    for host in hosts {
        lab.assert_host_clean(host);
        let out = lab.on_host("show", host, &["--json"]);
        assert!(out.status.success());
        assert_eq!(
            stdout(&out).trim(),
            "{}",
            "show still lists owned objects on {host}"
        );
    }
}

struct Scenario {
    tag: &'static str,
    file: &'static str,
    members: Vec<Member>,
    /// Checks of the kernel objects right after `lab up`.
    check_objects: fn(&Lab),
    drifts: Vec<Drift>,
    /// Container to remove from the file, and a check that it is gone everywhere.
    remove: (&'static str, fn(&Lab)),
}

fn lifecycle(s: Scenario) {
    let lab = Lab::new(s.tag, &repo_file(s.file));
    lab.up();
    let all_hosts = hosts(&s.members);

    assert_all_pairs_reach(&lab, &s.members);
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "lab verify failed");
    // Every pair was probed and answered (the legend alone contains "ok", so check the summary).
    let pairs = s.members.len() * (s.members.len() - 1);
    let summary = format!("All {pairs} pairs as expected: {pairs} reachable");
    assert!(stdout(&verify).contains(&summary), "{}", stdout(&verify));
    (s.check_objects)(&lab);
    assert_no_changes(&lab, &s.members);

    for drift in &s.drifts {
        make_drift(&lab, drift);
    }
    apply_all(&lab, &all_hosts);
    assert_no_changes(&lab, &s.members);
    assert_all_pairs_reach(&lab, &s.members);

    let unowned_host = all_hosts[0];
    make_unowned(&lab, unowned_host);
    assert_no_changes(&lab, &s.members);
    apply_all(&lab, &all_hosts);
    assert_unowned_survive(&lab, unowned_host);

    // Remove a container from the file and apply on every host.
    let (gone, check_gone) = s.remove;
    let reduced = temp_topology(s.tag, &without_container(&lab.file, gone));
    let reduced_lab = Lab {
        name: lab.name.clone(),
        file: reduced.clone(),
    };
    apply_all(&reduced_lab, &all_hosts);
    assert!(!netns_exists(
        &lab.container_ns(host_of(&s.members, gone), gone)
    ));
    check_gone(&lab);
    let remaining: Vec<Member> = s.members.iter().copied().filter(|m| m.1 != gone).collect();
    assert_no_changes(&reduced_lab, &remaining);
    assert_all_pairs_reach(&lab, &remaining);
    std::mem::forget(reduced_lab); // `lab` tears the lab down
    let _ = std::fs::remove_file(&reduced);

    for host in &all_hosts {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
    }
    assert_nothing_owned(&lab, &all_hosts);
    assert_unowned_survive(&lab, unowned_host);
}

const DOCKER2_MAC: &str = "02:42:ac:12:14:02";

#[test]
fn vxlan_bridged() {
    lifecycle(Scenario {
        tag: "vb",
        file: "topologies/vxlan-bridged.yaml",
        members: vec![
            ("node-1", "docker1", "172.18.10.2"),
            ("node-2", "docker2", "172.18.20.2"),
        ],
        check_objects: |lab| {
            let ns = lab.host_ns("node-1");
            let vx = link(&ns, "vx-overlay").expect("vx-overlay");
            let info = &vx["linkinfo"]["info_data"];
            assert_eq!(vx["linkinfo"]["info_kind"], "vxlan");
            assert_eq!(info["id"], 100);
            assert_eq!(info["port"], 4789);
            assert_eq!(info["local"], "192.168.31.183");
            assert_eq!(info["learning"], false);
            assert_eq!(info["proxy"], true);
            assert_eq!(vx["master"], "br-overlay");
            let fdb = fdb_json(&ns, "vx-overlay");
            assert!(
                fdb.iter()
                    .any(|e| e["mac"] == DOCKER2_MAC && e["dst"] == "192.168.31.192"),
                "no FDB entry for docker2: {fdb:?}"
            );
            let neigh = ip_json(&ns, &["neigh", "show", "dev", "vx-overlay"]);
            assert!(
                neigh
                    .iter()
                    .any(|n| n["dst"] == "172.18.20.2" && n["lladdr"] == DOCKER2_MAC)
            );
            let c = lab.container_ns("node-1", "docker1");
            let eth0 = link(&c, "eth0").expect("eth0 in docker1");
            assert_eq!(eth0["address"], "02:42:ac:12:0a:02");
        },
        drifts: vec![
            Drift {
                host: "node-1",
                commands: vec![(
                    "bridge",
                    vec![
                        "-n",
                        "{ns}",
                        "fdb",
                        "del",
                        DOCKER2_MAC,
                        "dev",
                        "vx-overlay",
                        "dst",
                        "192.168.31.192",
                        "self",
                    ],
                )],
                expect: vec!["fdb host/vx-overlay 02:42:ac:12:14:02"],
                summary: "Plan: 1 to add, 0 to change, 0 to destroy.",
            },
            Drift {
                host: "node-2",
                // Taking a device down also flushes its neighbour entries (permanent ones too),
                // so the plan must bring the neighbour back as well.
                commands: vec![(
                    "ip",
                    vec!["-n", "{ns}", "link", "set", "vx-overlay", "down"],
                )],
                expect: vec![
                    "link host/vx-overlay",
                    "neighbour host/vx-overlay 172.18.10.2",
                ],
                summary: "Plan: 1 to add, 1 to change, 0 to destroy.",
            },
        ],
        remove: ("docker2", |lab| {
            let ns = lab.host_ns("node-1");
            let fdb = fdb_json(&ns, "vx-overlay");
            assert!(
                // Only the VXLAN's own (`self`, with a remote `dst`) entry is ours; the bridge
                // may still hold a learned entry for the MAC until it ages out.
                !fdb.iter()
                    .any(|e| e["mac"] == DOCKER2_MAC && e.get("dst").is_some()),
                "FDB entry for docker2 left: {fdb:?}"
            );
            let neigh = ip_json(&ns, &["neigh", "show", "dev", "vx-overlay"]);
            assert!(
                !neigh.iter().any(|n| n["dst"] == "172.18.20.2"),
                "neighbour for docker2 left"
            );
        }),
    });
}

#[test]
fn vxlan_routed() {
    lifecycle(Scenario {
        tag: "vr",
        file: "topologies/vxlan-routed.yaml",
        members: vec![
            ("node-1", "docker1", "172.18.10.2"),
            ("node-2", "docker2", "172.18.20.2"),
        ],
        check_objects: |lab| {
            let ns = lab.host_ns("node-1");
            let routes = ip_json(&ns, &["route", "show", "172.18.20.0/24"]);
            assert_eq!(routes.len(), 1, "no route to node-2's slice");
            assert_eq!(routes[0]["gateway"], "172.18.20.0");
            assert_eq!(routes[0]["dev"], "vx-flannel");
            let vx = link(&ns, "vx-flannel").expect("vx-flannel");
            assert!(
                vx.get("master").is_none(),
                "routed vxlan must not be in a bridge"
            );
            let addrs = ip_json(&ns, &["addr", "show", "dev", "vx-flannel"]);
            assert!(addrs[0]["addr_info"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|i| i["local"] == "172.18.10.0" && i["prefixlen"] == 32)
            }));
            let n2 = lab.host_ns("node-2");
            let vtep2 = link(&n2, "vx-flannel").expect("vx-flannel on node-2")["address"].clone();
            let fdb = fdb_json(&ns, "vx-flannel");
            assert!(
                fdb.iter()
                    .any(|e| e["mac"] == vtep2 && e["dst"] == "192.168.31.192"),
                "{fdb:?}"
            );
            let neigh = ip_json(&ns, &["neigh", "show", "dev", "vx-flannel"]);
            assert!(
                neigh
                    .iter()
                    .any(|n| n["dst"] == "172.18.20.0" && n["lladdr"] == vtep2)
            );
        },
        drifts: vec![
            Drift {
                host: "node-1",
                commands: vec![
                    ("ip", vec!["-n", "{ns}", "route", "del", "172.18.20.0/24"]),
                    // The routed VTEP must stay out of the bridge.
                    (
                        "ip",
                        vec![
                            "-n",
                            "{ns}",
                            "link",
                            "set",
                            "vx-flannel",
                            "master",
                            "br-flannel",
                        ],
                    ),
                ],
                expect: vec!["route host/172.18.20.0/24", "link host/vx-flannel"],
                summary: "Plan: 1 to add, 1 to change, 0 to destroy.",
            },
            Drift {
                host: "node-2",
                commands: vec![(
                    "ip",
                    vec!["-n", "{ns}", "link", "set", "br-flannel", "down"],
                )],
                expect: vec!["link host/br-flannel"],
                summary: "Plan: 0 to add, 1 to change, 0 to destroy.",
            },
        ],
        remove: ("docker2", |lab| {
            let ns = lab.host_ns("node-1");
            let routes = ip_json(&ns, &["route", "show", "172.18.20.0/24"]);
            assert!(
                routes.is_empty(),
                "route to removed host slice left: {routes:?}"
            );
            let neigh = ip_json(&ns, &["neigh", "show", "dev", "vx-flannel"]);
            assert!(
                !neigh.iter().any(|n| n["dst"] == "172.18.20.0"),
                "neighbour left"
            );
            assert!(
                fdb_json(&ns, "vx-flannel")
                    .iter()
                    .all(|e| e["dst"] != "192.168.31.192"),
                "FDB entry to node-2 left"
            );
        }),
    });
}

#[test]
fn bridge() {
    lifecycle(Scenario {
        tag: "br",
        file: "topologies/bridge.yaml",
        members: vec![
            ("node-1", "web", "192.168.200.2"),
            ("node-1", "db", "192.168.200.3"),
            ("node-1", "cache", "192.168.200.10"),
        ],
        check_objects: |lab| {
            let ns = lab.host_ns("node-1");
            let br = link(&ns, "br-local").expect("br-local");
            assert_eq!(br["linkinfo"]["info_kind"], "bridge");
            assert_eq!(
                ip_json(&ns, &["link", "show", "master", "br-local"]).len(),
                3
            );
            let web = lab.container_ns("node-1", "web");
            let routes = ip_json(&web, &["route", "show", "default"]);
            assert_eq!(routes.len(), 1);
            assert_eq!(routes[0]["gateway"], "192.168.200.1");
            assert_eq!(routes[0]["protocol"], "78");
        },
        drifts: vec![Drift {
            host: "node-1",
            commands: vec![
                (
                    "ip",
                    vec!["-n", "{lab}-node-1-web", "route", "del", "default"],
                ),
                ("ip", vec!["-n", "{ns}", "link", "set", "br-local", "down"]),
            ],
            expect: vec!["route web/0.0.0.0/0", "link host/br-local"],
            summary: "Plan: 1 to add, 1 to change, 0 to destroy.",
        }],
        remove: ("db", |lab| {
            let ns = lab.host_ns("node-1");
            assert_eq!(
                ip_json(&ns, &["link", "show", "master", "br-local"]).len(),
                2,
                "db's host-side veth is still in the bridge"
            );
        }),
    });
}

/// Deleting a container's namespace leaves its veth pair to the kernel, which removes it with
/// the namespace (in bulk: docs/performance.md). A process still in the namespace keeps the
/// namespace, and so the pair, alive: destroy must still leave no host end behind, and a
/// container planned again must come back whole.
#[test]
fn destroy_removes_veths_of_a_namespace_a_process_still_holds() {
    must_root();
    let file = temp_topology(
        "held-netns",
        "version: 1\nhosts: { node-1: { underlay: 10.203.0.1/16, interface: eth0 } }\nnetworks: { net: { driver: bridge, subnet: 10.103.0.0/16 } }\ncontainers:\n  held: { host: node-1, network: net }\n  free: { host: node-1, network: net }\n",
    );
    let lab = Lab::new("held", &file);
    lab.up();
    let held_ns = lab.container_ns("node-1", "held");
    // A process that keeps the namespace after its /run/netns entry is gone.
    let mut holder = std::process::Command::new("ip")
        .args(["netns", "exec", &held_ns, "sleep", "120"])
        .spawn()
        .expect("ip netns exec");
    // Wait (with a deadline) until the process has entered the namespace.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let inside = |pid: u32| {
        let ours = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
        let theirs = std::fs::metadata(format!("/run/netns/{held_ns}")).ok();
        use std::os::unix::fs::MetadataExt;
        match (ours, theirs) {
            (Some(link), Some(meta)) => link.to_string_lossy().contains(&meta.ino().to_string()),
            _ => false,
        }
    };
    while !inside(holder.id()) {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep never entered {held_ns}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    lab.assert_host_clean("node-1");
    // Planned again, both containers come back (the held one's host end name is free).
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    lab.assert_no_changes("node-1");
}
