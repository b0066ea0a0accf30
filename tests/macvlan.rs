//! `driver: macvlan` on the real kernel, in labs: each simulated host's underlay veth `eth0` is
//! the parent. Containers on two hosts ping each other across hosts; the container interface is
//! named `eth0` like the host's underlay (the name clash the creation must survive); the host
//! reaches its containers only with `host_interface: true` (checked both ways); drift made by
//! hand with `ip -n` is detected (exit 2) and repaired; destroy removes everything owned. The
//! 802.1Q variant needs VLAN support this kernel lacks: its test detects that and skips, saying
//! why. Kernel state is read with `ip -j -d`, traffic checked with `ping`.

mod common;

use common::*;

const HOSTS: [&str; 2] = ["macvlan-01", "macvlan-02"];

fn apply(lab: &Lab, host: &str) {
    let out = lab.on_host("apply", host, &["--auto-approve"]);
    assert!(out.status.success(), "apply on {host} failed");
}

fn plan_exit(lab: &Lab, host: &str) -> (Option<i32>, String) {
    let out = lab.on_host("plan", host, &["--detailed-exitcode"]);
    (out.status.code(), stdout(&out))
}

fn assert_no_changes(lab: &Lab) {
    for host in HOSTS {
        let (code, text) = plan_exit(lab, host);
        assert_eq!(code, Some(0), "plan on {host} is not empty:\n{text}");
    }
}

/// `ip -j -d link show eth0` inside a container: a macvlan of the wanted mode and MAC, marked.
fn assert_container_macvlan(ns: &str, mac: &str) {
    let link = link(ns, "eth0").unwrap_or_else(|| panic!("no eth0 in {ns}"));
    let info = &link["linkinfo"];
    assert_eq!(info["info_kind"], "macvlan", "{link}");
    assert_eq!(info["info_data"]["mode"], "bridge", "{link}");
    assert_eq!(link["address"], mac, "{link}");
    assert!(is_owner_alias(link["ifalias"].as_str()), "{link}");
    // Its parent is in another namespace (the simulated host): `link_netnsid` says so.
    assert!(link.get("link_netnsid").is_some(), "{link}");
    assert!(
        link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP")),
        "{link}"
    );
}

fn has_address(ns: &str, dev: &str, addr: &str) -> bool {
    ip_json(ns, &["addr", "show", "dev", dev]).iter().any(|l| {
        l["addr_info"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["local"] == addr))
    })
}

fn assert_nothing_owned(lab: &Lab) {
    for host in HOSTS {
        let ns = lab.host_ns(host);
        assert_eq!(owned_links(&ns), Vec::<String>::new(), "links on {host}");
        let left = lab.container_namespaces(host);
        assert!(left.is_empty(), "namespaces left on {host}: {left:?}");
        // The parent is the host's, not ours: it stays.
        assert!(
            link(&ns, "eth0").is_some(),
            "underlay eth0 of {host} is gone"
        );
        let out = lab.on_host("show", host, &["--json"]);
        assert!(out.status.success());
        assert_eq!(stdout(&out).trim(), "{}", "show lists objects on {host}");
    }
}

#[test]
fn macvlan_across_hosts_drift_and_destroy() {
    let lab = Lab::new("mv", &repo_file("topologies/macvlan.yaml"));
    lab.up();
    let c1 = lab.container_ns("macvlan-01", "c1");
    let c2 = lab.container_ns("macvlan-02", "c2");
    let h1 = lab.host_ns("macvlan-01");

    // The host keeps its own eth0 (the parent); the container's eth0 is a macvlan child.
    let underlay = link(&h1, "eth0").expect("underlay");
    assert!(!is_owner_alias(underlay["ifalias"].as_str()), "{underlay}");
    assert_eq!(underlay["linkinfo"]["info_kind"], "veth", "{underlay}");
    assert_container_macvlan(&c1, "02:42:ac:64:01:0a");
    assert_container_macvlan(&c2, "02:42:ac:64:01:0b");
    // The clash netplan-rs avoids: creating the child in the host namespace under its final
    // name fails there, because the host's own `eth0` holds that name.
    let naive = std::process::Command::new("ip")
        .args(["-n", &h1, "link", "add", "link", "eth0", "name", "eth0"])
        .args(["type", "macvlan", "mode", "bridge"])
        .output()
        .expect("running ip");
    assert!(
        !naive.status.success(),
        "eth0 could be created twice in {h1}"
    );
    assert!(has_address(&c1, "eth0", "172.100.1.10"));
    let routes = ip_json(&c1, &["route", "show", "default"]);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["gateway"], "172.100.1.1");
    assert_eq!(routes[0]["protocol"], "78");

    // Across hosts, both ways.
    assert!(ping(&c1, "172.100.1.11"), "c1 cannot reach c2");
    assert!(ping(&c2, "172.100.1.10"), "c2 cannot reach c1");

    // Observe names the parent in the host namespace (resolved through the namespace id).
    let out = lab.on_host("show", "macvlan-01", &[]);
    assert!(
        stdout(&out).contains("link c1/eth0 type=macvlan mode=bridge parent=host/eth0"),
        "{}",
        stdout(&out)
    );
    assert_no_changes(&lab);

    // Without a host interface the host cannot reach its own container, even with a route
    // out of the parent: a macvlan child never talks to its parent.
    run(
        "ip",
        &["-n", &h1, "route", "add", "172.100.1.0/24", "dev", "eth0"],
    );
    assert!(!ping(&h1, "172.100.1.10"), "host reached its container");
    run(
        "ip",
        &["-n", &h1, "route", "del", "172.100.1.0/24", "dev", "eth0"],
    );

    // Drift 1: the container's macvlan deleted by hand. Its address and route go with it.
    run("ip", &["-n", &c1, "link", "del", "eth0"]);
    let (code, text) = plan_exit(&lab, "macvlan-01");
    assert_eq!(code, Some(2), "{text}");
    for key in [
        "link c1/eth0",
        "address c1/eth0 172.100.1.10/24",
        "route c1/0.0.0.0/0",
    ] {
        assert!(text.contains(key), "plan does not name {key}:\n{text}");
    }
    assert!(
        text.contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    apply(&lab, "macvlan-01");
    assert_container_macvlan(&c1, "02:42:ac:64:01:0a");
    assert!(ping(&c2, "172.100.1.10"), "c1 not repaired");

    // Drift 2: its address removed by hand (the kernel drops the default route with it).
    run(
        "ip",
        &["-n", &c1, "addr", "del", "172.100.1.10/24", "dev", "eth0"],
    );
    let (code, text) = plan_exit(&lab, "macvlan-01");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("address c1/eth0 172.100.1.10/24 will be created"),
        "{text}"
    );
    apply(&lab, "macvlan-01");
    assert!(has_address(&c1, "eth0", "172.100.1.10"));
    assert!(ping(&c1, "172.100.1.11"), "c1 not repaired");

    // Drift 3: the mode changed by hand cannot change in place: replace, with the reason.
    run(
        "ip",
        &[
            "-n", &c2, "link", "set", "eth0", "type", "macvlan", "mode", "private",
        ],
    );
    let (code, text) = plan_exit(&lab, "macvlan-02");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("mode cannot change in place"), "{text}");
    apply(&lab, "macvlan-02");
    assert_eq!(
        link(&c2, "eth0").expect("eth0")["linkinfo"]["info_data"]["mode"],
        "bridge"
    );
    assert!(ping(&c2, "172.100.1.10"), "c2 not repaired");
    assert_no_changes(&lab);

    for host in HOSTS {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
    }
    assert_nothing_owned(&lab);
}

const HOST_INTERFACE: &str = r#"
version: 1
hosts:
  macvlan-01: { underlay: 192.168.1.198/24 }
  macvlan-02: { underlay: 192.168.1.199/24 }
networks:
  mvnet:
    driver: macvlan
    subnet: 10.77.0.0/24
    host_interface: true
containers:
  c1: { host: macvlan-01, network: mvnet }
  c2: { host: macvlan-02, network: mvnet }
"#;

#[test]
fn host_interface_lets_the_host_reach_its_containers() {
    let file = temp_topology("mv-host", HOST_INTERFACE);
    let lab = Lab::new("mh", &file);
    lab.up();
    let h1 = lab.host_ns("macvlan-01");
    let h2 = lab.host_ns("macvlan-02");
    let c1 = lab.container_ns("macvlan-01", "c1");
    // Defaults: gateway .1 reserved, containers from .2; hosts from the top of the subnet.
    assert!(has_address(&c1, "eth0", "10.77.0.2"));
    let routes = ip_json(&c1, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "10.77.0.1", "{routes:?}");
    let mv = link(&h1, "mv-mvnet").expect("host interface mv-mvnet");
    assert_eq!(mv["linkinfo"]["info_kind"], "macvlan", "{mv}");
    assert_eq!(mv["linkinfo"]["info_data"]["mode"], "bridge", "{mv}");
    assert_eq!(mv["link"], "eth0", "{mv}");
    assert!(is_owner_alias(mv["ifalias"].as_str()), "{mv}");
    assert!(has_address(&h1, "mv-mvnet", "10.77.0.254"));
    assert!(has_address(&h2, "mv-mvnet", "10.77.0.253"));

    assert!(ping(&h1, "10.77.0.2"), "host cannot reach its container");
    assert!(ping(&c1, "10.77.0.254"), "container cannot reach its host");
    // And across hosts: host 1 to the container on host 2.
    assert!(ping(&h1, "10.77.0.3"), "host 1 cannot reach c2");
    assert_no_changes(&lab);

    // Drift: the host interface deleted by hand is detected and made again.
    run("ip", &["-n", &h1, "link", "del", "mv-mvnet"]);
    let (code, text) = plan_exit(&lab, "macvlan-01");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("link host/mv-mvnet will be created"),
        "{text}"
    );
    apply(&lab, "macvlan-01");
    assert!(ping(&h1, "10.77.0.2"), "host interface not repaired");

    for host in HOSTS {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
    }
    assert_nothing_owned(&lab);
}

/// The 802.1Q variant. This kernel has no VLAN support: the test proves that with `ip` and
/// checks that netplan-rs reports it cleanly, then skips the traffic checks, saying so. On a
/// kernel with 802.1Q it runs them.
#[test]
fn vlan_variant_or_skip_without_8021q() {
    let lab = Lab::new("mq", &repo_file("topologies/macvlan-vlan.yaml"));
    // Hosts first: a failed `lab up` of a lab that was up before leaves it for the probe below.
    lab.up_hosts_only();
    let out = lab.cmd(&["lab", "up"], &[]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // Independent check that the kernel really lacks 802.1Q.
        let probe = std::process::Command::new("ip")
            .args([
                "-n",
                &lab.host_ns("macvlan-01"),
                "link",
                "add",
                "link",
                "eth0",
                "name",
                "eth0.51",
                "type",
                "vlan",
                "id",
                "51",
            ])
            .output()
            .expect("running ip");
        let probe_err = String::from_utf8_lossy(&probe.stderr).into_owned();
        let unsupported = !probe.status.success()
            && (probe_err.contains("Unknown device type") || probe_err.contains("not supported"));
        assert!(
            unsupported,
            "lab up failed although the kernel supports VLANs: {err}"
        );
        assert!(
            err.contains("link host/eth0.50")
                && err.contains("802.1Q VLAN (module 8021q) is not available in this kernel"),
            "netplan-rs did not name the VLAN link and the missing support: {err}"
        );
        assert!(
            !err.contains("Unknown device type") && !err.contains("Operation not supported"),
            "the kernel's bare words are still there: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("Error")).count(),
            1,
            "one error line: {err}"
        );
        eprintln!(
            "SKIPPED vlan_variant_or_skip_without_8021q: this kernel has no 802.1Q VLAN support \
             (ip: {}); netplan-rs reported it as expected; the plan is pinned by golden tests",
            probe_err.trim()
        );
        return;
    }
    let h1 = lab.host_ns("macvlan-01");
    let vlan = link(&h1, "eth0.50").expect("eth0.50");
    assert_eq!(vlan["linkinfo"]["info_kind"], "vlan", "{vlan}");
    assert_eq!(vlan["linkinfo"]["info_data"]["id"], 50, "{vlan}");
    let c1 = lab.container_ns("macvlan-01", "c1");
    let c2 = lab.container_ns("macvlan-02", "c2");
    assert!(ping(&c1, "172.18.50.11"), "c1 cannot reach c2 over VLAN 50");
    assert!(ping(&c2, "172.18.50.10"), "c2 cannot reach c1 over VLAN 50");
    assert_no_changes(&lab);
    for host in HOSTS {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
    }
    assert_nothing_owned(&lab);
}

const PASSTHRU: &str = r#"
version: 1
hosts:
  macvlan-01: { underlay: 192.168.1.198/24 }
  macvlan-02: { underlay: 192.168.1.199/24 }
networks:
  pt: { driver: macvlan, mode: passthru, subnet: 10.78.0.0/24 }
containers:
  a: { host: macvlan-01, network: pt }
  b: { host: macvlan-02, network: pt }
"#;

/// Passthru: the one child per host takes over the parent, MAC included (so netplan-rs asks
/// for none and a re-plan is still empty); traffic still crosses hosts.
#[test]
fn passthru_child_takes_the_parents_mac() {
    let file = temp_topology("mv-pt", PASSTHRU);
    let lab = Lab::new("mp", &file);
    lab.up();
    let a = lab.container_ns("macvlan-01", "a");
    let child = link(&a, "eth0").expect("eth0 in a");
    assert_eq!(
        child["linkinfo"]["info_data"]["mode"], "passthru",
        "{child}"
    );
    let parent = link(&lab.host_ns("macvlan-01"), "eth0").expect("underlay");
    assert_eq!(child["address"], parent["address"], "{child} vs {parent}");
    assert!(ping(&a, "10.78.0.3"), "a cannot reach b");
    assert_no_changes(&lab);
    for host in HOSTS {
        let out = lab.on_host("destroy", host, &["--auto-approve"]);
        assert!(out.status.success(), "destroy on {host} failed");
    }
    assert_nothing_owned(&lab);
}

fn ifindex(ns: &str, name: &str) -> u64 {
    link(ns, name)
        .and_then(|l| l["ifindex"].as_u64())
        .unwrap_or_else(|| panic!("no ifindex for {name} in {ns}"))
}

/// A macvlan in a container whose parent lives in a third namespace (not the host's): its
/// IFLA_LINK is an ifindex of that third namespace, which here is also the ifindex of a host
/// link. Observe must not name the host's link as the parent; it leaves the parent unknown. The
/// link carries our mark, so the plan deletes it as no longer wanted, and apply does.
#[test]
fn foreign_parent_in_another_namespace_is_not_misread() {
    let lab = Lab::new("mf", &repo_file("topologies/macvlan.yaml"));
    lab.up();
    let h1 = lab.host_ns("macvlan-01");
    let c1 = lab.container_ns("macvlan-01", "c1");
    // Dropped by the lab guard (its name starts with the lab's prefix); not a container of h1.
    let other = format!("{}-xother", lab.name);
    run("ip", &["netns", "add", &other]);
    run(
        "ip",
        &[
            "-n", &other, "link", "add", "xa", "type", "veth", "peer", "name", "xb",
        ],
    );
    run("ip", &["-n", &other, "link", "set", "xa", "up"]);
    // Make the third namespace's parent index one the host namespace also uses.
    let host_index = ifindex(&h1, "eth0");
    let mut parent = "xa";
    if ifindex(&other, "xb") == host_index {
        parent = "xb";
        run("ip", &["-n", &other, "link", "set", "xb", "up"]);
    }
    assert_eq!(
        ifindex(&other, parent),
        host_index,
        "test setup: no shared ifindex"
    );
    run(
        "ip",
        &[
            "-n", &other, "link", "add", "link", parent, "name", "mvx", "type", "macvlan",
        ],
    );
    run("ip", &["-n", &other, "link", "set", "mvx", "netns", &c1]);
    run(
        "ip",
        &[
            "-n",
            &c1,
            "link",
            "set",
            "mvx",
            "alias",
            &lab.mark("macvlan-01"),
        ],
    );

    let out = lab.on_host("show", "macvlan-01", &[]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("link c1/mvx"))
        .unwrap_or_else(|| panic!("show does not list c1/mvx:\n{text}"));
    assert!(line.contains("type=macvlan"), "{line}");
    assert!(!line.contains("parent="), "parent misread: {line}");
    // The container's own child still resolves to the host's eth0.
    assert!(
        text.contains("link c1/eth0 type=macvlan mode=bridge parent=host/eth0"),
        "{text}"
    );

    let (code, plan) = plan_exit(&lab, "macvlan-01");
    assert_eq!(code, Some(2), "{plan}");
    assert!(plan.contains("link c1/mvx will be destroyed"), "{plan}");
    assert!(
        plan.contains("Plan: 0 to add, 0 to change, 1 to destroy."),
        "{plan}"
    );
    apply(&lab, "macvlan-01");
    assert!(link(&c1, "mvx").is_none(), "mvx not deleted");
    assert_no_changes(&lab);
}
