//! One apply converges: every change a topology can express reaches the desired state in a single
//! `apply --auto-approve` per host, on the real kernel.
//!
//! For each example topology (`topologies/*.yaml`; a test below fails when an example has no
//! sweep), a lab is brought up, then a chain of edited files is applied, each exactly once on
//! every host: change a container's address, a network's and the hosts' MTU, a VNI, a VXLAN mode
//! and port, a gateway, a subnet, NAT and published ports, add a network and remove it again,
//! move a container to another network and to another host, attach it to a second network,
//! remove it; each followed by the way back to the original file. After each file every apply must exit 0 and
//! `plan --detailed-exitcode` must exit 0 on every host, and the plan must have foreseen every
//! kernel side effect (apply's repair round had nothing to do); after a few of them `lab verify`
//! pings every pair of containers (real traffic, checked against the reachability model).
//!
//! Edits are made on the parsed YAML, so the sweep follows the examples as they change; an edit
//! that does not apply to a topology (no VXLAN network, a single host) is skipped, and every file
//! the sweep produces must pass `validate` (a broken edit fails the test instead of skipping).
//! All failures of a topology are collected and reported together.

mod common;

use common::*;
use serde_norway::{Mapping, Value};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One edited file of the chain.
struct Transition {
    name: String,
    yaml: String,
    /// Run `lab verify` (real traffic) after it.
    traffic: bool,
}

fn key(s: &str) -> Value {
    Value::String(s.to_string())
}

fn map(v: &Value) -> &Mapping {
    v.as_mapping().expect("mapping")
}

fn map_mut(v: &mut Value) -> &mut Mapping {
    v.as_mapping_mut().expect("mapping")
}

fn section<'a>(doc: &'a Value, name: &str) -> &'a Mapping {
    map(doc.get(name).unwrap_or_else(|| panic!("no {name}")))
}

fn section_mut<'a>(doc: &'a mut Value, name: &str) -> &'a mut Mapping {
    map_mut(doc.get_mut(name).unwrap_or_else(|| panic!("no {name}")))
}

fn str_of(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

fn names(m: &Mapping) -> Vec<String> {
    m.keys()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn driver(doc: &Value, network: &str) -> String {
    str_of(&section(doc, "networks")[network], "driver").unwrap_or_default()
}

/// Containers that are plain to move around: on one network, no published ports.
/// A container the edits may move or remove: no published ports, one network, and no labels (a
/// labelled container may be all a policy selects, or be selected onto a network where policy is
/// refused).
fn movable(doc: &Value) -> Option<String> {
    section(doc, "containers")
        .iter()
        .find(|(_, c)| {
            c.get("ports").is_none() && c.get("network").is_some() && c.get("labels").is_none()
        })
        .and_then(|(k, _)| k.as_str().map(str::to_string))
}

fn bump4(a: Ipv4Addr) -> Ipv4Addr {
    let mut o = a.octets();
    o[3] = if o[3] < 200 { o[3] + 50 } else { o[3] - 50 };
    Ipv4Addr::from(o)
}

fn bump6(a: Ipv6Addr) -> Ipv6Addr {
    let mut s = a.segments();
    s[7] = s[7].wrapping_add(0x50);
    Ipv6Addr::from(s)
}

/// Change one container's addresses: the first with an explicit IPv4 address (both families),
/// else give the first container on a bridge or macvlan network an explicit one.
fn change_address(doc: &mut Value) -> Option<()> {
    let containers = section_mut(doc, "containers");
    if let Some((_, c)) = containers
        .iter_mut()
        .find(|(_, c)| c.get("address").is_some())
    {
        let m = map_mut(c);
        let a: Ipv4Addr = m[&key("address")].as_str()?.parse().ok()?;
        m.insert(key("address"), key(&bump4(a).to_string()));
        if let Some(a6) = m.get(key("address6")).and_then(Value::as_str) {
            let a6: Ipv6Addr = a6.parse().ok()?;
            m.insert(key("address6"), key(&bump6(a6).to_string()));
        }
        return Some(());
    }
    let snapshot = doc.clone();
    let (name, subnet) = section(&snapshot, "containers").iter().find_map(|(k, c)| {
        let net = str_of(c, "network")?;
        if !matches!(driver(&snapshot, &net).as_str(), "bridge" | "macvlan") {
            return None;
        }
        let subnet = str_of(&section(&snapshot, "networks")[net.as_str()], "subnet")?;
        Some((k.as_str()?.to_string(), subnet))
    })?;
    let base: Ipv4Addr = subnet.split('/').next()?.parse().ok()?;
    let mut o = base.octets();
    o[3] = 77;
    map_mut(&mut section_mut(doc, "containers")[name.as_str()])
        .insert(key("address"), key(&Ipv4Addr::from(o).to_string()));
    Some(())
}

fn change_mtu(doc: &mut Value) -> Option<()> {
    let networks = section_mut(doc, "networks");
    let (_, net) = networks.iter_mut().next()?;
    map_mut(net).insert(key("mtu"), Value::from(1400));
    Some(())
}

/// The underlay MTU of every host (overlay MTUs derive from it).
fn change_host_mtu(doc: &mut Value) -> Option<()> {
    for (_, host) in section_mut(doc, "hosts").iter_mut() {
        map_mut(host).insert(key("mtu"), Value::from(1400));
    }
    Some(())
}

fn first_vxlan(doc: &Value) -> Option<String> {
    names(section(doc, "networks"))
        .into_iter()
        .find(|n| driver(doc, n) == "vxlan")
}

fn change_vni(doc: &mut Value) -> Option<()> {
    let name = first_vxlan(doc)?;
    let net = map_mut(&mut section_mut(doc, "networks")[name.as_str()]);
    let vni = net[&key("vni")].as_u64()?;
    net.insert(key("vni"), Value::from(vni + 1));
    Some(())
}

/// Toggle the first VXLAN network between bridged and routed, dropping what the other mode does
/// not accept (slices; explicit addresses and IPv6, which would not fit the allocated slices).
fn change_mode(doc: &mut Value) -> Option<()> {
    let name = first_vxlan(doc)?;
    let net = map_mut(&mut section_mut(doc, "networks")[name.as_str()]);
    let routed = net.get(key("mode")).and_then(Value::as_str) == Some("routed");
    // An IPv6 `subnet` has no routed/bridged choice that keeps the examples' addresses valid.
    if net[&key("subnet")].as_str()?.contains(':') {
        return None;
    }
    if routed {
        net.insert(key("mode"), key("bridged"));
        for k in ["host_prefix", "slices", "host_prefix6", "slices6"] {
            net.remove(key(k));
        }
    } else {
        net.insert(key("mode"), key("routed"));
        net.remove(key("subnet6"));
        for (_, c) in section_mut(doc, "containers").iter_mut() {
            if c.get("network").and_then(Value::as_str) == Some(name.as_str()) {
                map_mut(c).remove(key("address"));
                map_mut(c).remove(key("address6"));
            }
        }
    }
    Some(())
}

/// Move the first bridge or macvlan network's IPv4 gateway to .254 of its subnet.
fn change_gateway(doc: &mut Value) -> Option<()> {
    let networks = section_mut(doc, "networks");
    let (_, net) = networks.iter_mut().find(|(_, n)| {
        matches!(
            n.get("driver").and_then(Value::as_str),
            Some("bridge" | "macvlan")
        ) && !n
            .get("subnet")
            .and_then(Value::as_str)
            .unwrap_or(":")
            .contains(':')
    })?;
    let net = map_mut(net);
    let base: Ipv4Addr = net[&key("subnet")]
        .as_str()?
        .split('/')
        .next()?
        .parse()
        .ok()?;
    let mut o = base.octets();
    o[3] = 254;
    net.insert(key("gateway"), key(&Ipv4Addr::from(o).to_string()));
    Some(())
}

/// A new bridge network with a new container on the first host.
fn add_network(doc: &mut Value) -> Option<()> {
    let host = names(section(doc, "hosts")).into_iter().next()?;
    let net: Value =
        serde_norway::from_str("{driver: bridge, subnet: 10.199.0.0/24, gateway: 10.199.0.1}")
            .ok()?;
    section_mut(doc, "networks").insert(key("extra"), net);
    let c: Value = serde_norway::from_str(&format!("{{host: {host}, network: extra}}")).ok()?;
    section_mut(doc, "containers").insert(key("extra1"), c);
    Some(())
}

/// After [`add_network`]: move a container of the original file onto the new network.
fn move_to_network(doc: &mut Value) -> Option<()> {
    add_network(doc)?;
    let name = movable(doc)?;
    let c = map_mut(&mut section_mut(doc, "containers")[name.as_str()]);
    c.insert(key("network"), key("extra"));
    c.remove(key("address"));
    c.remove(key("address6"));
    Some(())
}

/// Move a container to another host. Its addresses are allocated again there, unless a
/// container already there on the same network has an explicit one: then the moved container
/// takes a neighbouring explicit address (which also stays inside a per-host slice).
fn move_to_host(doc: &mut Value) -> Option<()> {
    let hosts = names(section(doc, "hosts"));
    let name = movable(doc)?;
    let c = &section(doc, "containers")[name.as_str()];
    let now = str_of(c, "host")?;
    let network = str_of(c, "network")?;
    let other = hosts.into_iter().find(|h| *h != now)?;
    let neighbour = section(doc, "containers").values().find_map(|o| {
        (str_of(o, "host").as_deref() == Some(other.as_str())
            && str_of(o, "network").as_deref() == Some(network.as_str()))
        .then(|| str_of(o, "address"))
        .flatten()
    });
    let c = map_mut(&mut section_mut(doc, "containers")[name.as_str()]);
    c.insert(key("host"), key(&other));
    c.remove(key("address"));
    c.remove(key("address6"));
    if let Some(a) = neighbour.and_then(|a| a.parse::<Ipv4Addr>().ok()) {
        c.insert(key("address"), key(&bump4(a).to_string()));
    }
    Some(())
}

/// Move the first network's IPv4 subnet to the next block of its size, with everything written
/// inside it (gateway, addresses, slices): a text edit of every prefix the subnet covers.
fn change_subnet(doc: &mut Value) -> Option<()> {
    let (_, net) = section(doc, "networks").iter().next()?;
    let subnet: ipnet::Ipv4Net = str_of(net, "subnet")?.parse().ok()?;
    let o = subnet.network().octets();
    let n = subnet.prefix_len();
    let mut swaps: Vec<(String, String)> = Vec::new();
    match n {
        8..=16 => {
            let k = 1u16 << (16 - n);
            for x in u16::from(o[1])..u16::from(o[1]) + k {
                swaps.push((format!("{}.{x}.", o[0]), format!("{}.{}.", o[0], x + k)));
            }
        }
        17..=24 => {
            let k = 1u16 << (24 - n);
            for x in u16::from(o[2])..u16::from(o[2]) + k {
                swaps.push((
                    format!("{}.{}.{x}.", o[0], o[1]),
                    format!("{}.{}.{}.", o[0], o[1], x + k),
                ));
            }
        }
        _ => return None,
    }
    if swaps.iter().any(|(_, to)| {
        to.split('.')
            .any(|p| p.parse::<u16>().is_ok_and(|v| v > 255))
    }) {
        return None;
    }
    let mut text = serde_norway::to_string(doc).ok()?;
    // Through placeholders, so a block moved onto the next one is not moved twice.
    for (i, (from, _)) in swaps.iter().enumerate() {
        text = text.replace(&format!(" {from}"), &format!(" @{i}@"));
    }
    for (i, (_, to)) in swaps.iter().enumerate() {
        text = text.replace(&format!(" @{i}@"), &format!(" {to}"));
    }
    *doc = serde_norway::from_str(&text).ok()?;
    Some(())
}

fn change_port(doc: &mut Value) -> Option<()> {
    let name = first_vxlan(doc)?;
    let net = map_mut(&mut section_mut(doc, "networks")[name.as_str()]);
    net.insert(key("port"), Value::from(4790));
    Some(())
}

/// Turn NAT on (or off) on the first bridge network, when no container publishes ports on it.
fn toggle_nat(doc: &mut Value) -> Option<()> {
    if section(doc, "containers")
        .values()
        .any(|c| c.get("ports").is_some())
    {
        return None;
    }
    let (_, net) = section_mut(doc, "networks")
        .iter_mut()
        .find(|(_, n)| n.get("driver").and_then(Value::as_str) == Some("bridge"))?;
    let net = map_mut(net);
    let on = net.get(key("nat")).and_then(Value::as_bool) == Some(true);
    net.insert(key("nat"), Value::from(!on));
    Some(())
}

/// Change the published ports of the first container that has some.
fn change_ports(doc: &mut Value) -> Option<()> {
    let (_, c) = section_mut(doc, "containers")
        .iter_mut()
        .find(|(_, c)| c.get("ports").is_some())?;
    let ports: Value = serde_norway::from_str("[\"8081:80/tcp\", \"6000:6000/udp\"]").ok()?;
    map_mut(c).insert(key("ports"), ports);
    Some(())
}

/// Attach a container to a second network (the long form, `networks:`), its first one kept.
fn second_network(doc: &mut Value) -> Option<()> {
    add_network(doc)?;
    let name = movable(doc)?;
    let c = map_mut(&mut section_mut(doc, "containers")[name.as_str()]);
    let first = c.remove(key("network"))?;
    let mut attachment = Mapping::new();
    for k in ["address", "address6"] {
        if let Some(v) = c.remove(key(k)) {
            attachment.insert(key(k), v);
        }
    }
    let mut networks = Mapping::new();
    networks.insert(first, Value::Mapping(attachment));
    networks.insert(key("extra"), Value::Mapping(Mapping::new()));
    c.insert(key("networks"), Value::Mapping(networks));
    Some(())
}

fn remove_container(doc: &mut Value) -> Option<()> {
    let name = movable(doc)?;
    section_mut(doc, "containers").remove(key(&name))?;
    Some(())
}

/// The chain of files for `base`: each edit, then the way back to the original.
fn transitions(base: &str) -> Vec<Transition> {
    let doc: Value = serde_norway::from_str(base).expect("parsing topology");
    type Edit = fn(&mut Value) -> Option<()>;
    let edits: [(&str, Edit, bool); 15] = [
        ("address", change_address, true),
        ("mtu", change_mtu, false),
        ("host-mtu", change_host_mtu, false),
        ("vni", change_vni, false),
        ("mode", change_mode, true),
        ("gateway", change_gateway, false),
        ("add-network", add_network, false),
        ("move-network", move_to_network, true),
        ("move-host", move_to_host, true),
        ("subnet", change_subnet, true),
        ("port", change_port, false),
        ("nat", toggle_nat, false),
        ("ports", change_ports, false),
        ("second-network", second_network, true),
        ("remove-container", remove_container, false),
    ];
    let mut out = Vec::new();
    for (name, edit, traffic) in edits {
        let mut edited = doc.clone();
        if edit(&mut edited).is_none() {
            continue;
        }
        out.push(Transition {
            name: name.to_string(),
            yaml: serde_norway::to_string(&edited).expect("writing topology"),
            traffic,
        });
        out.push(Transition {
            name: format!("undo {name}"),
            yaml: base.to_string(),
            traffic: false,
        });
    }
    out
}

fn hosts_of(yaml: &str) -> Vec<String> {
    let doc: Value = serde_norway::from_str(yaml).expect("parsing topology");
    names(section(&doc, "hosts"))
}

/// Bring a lab up for `example` and apply every transition once per host. Returns one line per
/// transition that did not converge in one apply (empty: all converged).
fn sweep(example: &str) -> Vec<String> {
    let path = repo_file(&format!("topologies/{example}"));
    let base = std::fs::read_to_string(&path).expect("reading example");
    let file: PathBuf = temp_topology("hcv", &base);
    let n = file
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('-').next())
        .unwrap_or("0")
        .to_string();
    let name = format!("hcv{}x{n}", std::process::id() % 100_000);
    must_root();
    // Existing namespaces (`netns:`) become named namespaces made here, removed on drop.
    let (base, _existing) = with_own_namespaces(&base, &name);
    std::fs::write(&file, &base).expect("writing topology");
    let lab = Lab {
        name,
        file: file.clone(),
    };
    let hosts = hosts_of(&base);
    let up = lab.cmd(&["lab", "up"], &[]);
    if !up.status.success() {
        let err = String::from_utf8_lossy(&up.stderr).into_owned();
        let missing = err.contains("not available in this kernel") || err.contains("not supported");
        if example == "macvlan-vlan.yaml" && missing && !kernel_has_vlan(&lab) {
            eprintln!("SKIPPED sweep of {example}: this kernel has no 802.1Q VLAN support");
            return Vec::new();
        }
        panic!("{example}: lab up failed: {err}");
    }
    for h in &hosts {
        lab.assert_no_changes(h);
    }
    let mut failures = Vec::new();
    let all = transitions(&base);
    assert!(
        all.len() >= 6,
        "{example}: only {} transitions apply; the sweep lost its edits",
        all.len()
    );
    for t in all {
        std::fs::write(&file, &t.yaml).expect("writing edited topology");
        let valid = np(&["validate", &lab.file_str()]);
        assert!(
            valid.status.success(),
            "{example} {}: the edited file is invalid:\n{}",
            t.name,
            t.yaml
        );
        let mut failed = Vec::new();
        for h in &hosts {
            let out = lab.on_host("apply", h, &["--auto-approve"]);
            if out.status.code() != Some(0) {
                failed.push(format!("apply on {h} exit {:?}", out.status.code()));
            }
            // The plan the user reviewed must be the truth: apply's safety net (observing again
            // after the plan) must have had nothing to do.
            if stdout(&out).contains("Repaired") {
                failed.push(format!("apply on {h} needed a repair round"));
            }
        }
        for h in &hosts {
            let out = lab.on_host("plan", h, &["--detailed-exitcode"]);
            if out.status.code() != Some(0) {
                failed.push(format!("plan on {h} exit {:?}", out.status.code()));
            }
        }
        if failed.is_empty() && t.traffic && !traffic_flows(&lab) {
            failed.push("lab verify failed".to_string());
        }
        if !failed.is_empty() {
            failures.push(format!("{example}: {}: {}", t.name, failed.join("; ")));
            // Converge before the next transition, so each one is judged on its own.
            for _ in 0..2 {
                for h in &hosts {
                    lab.on_host("apply", h, &["--auto-approve"]);
                }
            }
        }
        eprintln!(
            "SWEEP {example} {}: {}",
            t.name,
            if failed.is_empty() { "ok" } else { "FAILED" }
        );
    }
    drop(lab);
    let _ = std::fs::remove_file(&file);
    failures
}

/// `lab verify` passes, tried again until a deadline: right after an apply, neighbour and bridge
/// learning can take a moment on a loaded machine; a real break fails every try.
fn traffic_flows(lab: &Lab) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if lab.cmd(&["lab", "verify"], &[]).status.success() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Named namespaces made for a sweep (`ip netns add`), deleted on drop.
struct OwnNamespaces(Vec<String>);

impl Drop for OwnNamespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", name])
                .output();
        }
    }
}

/// `yaml` with every container's `netns:` (a Docker name, a pid, a path) replaced by the path of
/// a fresh named namespace: the sweep is about transitions, not about finding namespaces.
fn with_own_namespaces(yaml: &str, lab: &str) -> (String, OwnNamespaces) {
    let mut doc: Value = serde_norway::from_str(yaml).expect("parsing topology");
    let mut made = OwnNamespaces(Vec::new());
    for (name, c) in section_mut(&mut doc, "containers").iter_mut() {
        let Some(m) = c.as_mapping_mut() else {
            continue;
        };
        if !m.contains_key(key("netns")) {
            continue;
        }
        let ns = format!("{lab}n{}", name.as_str().unwrap_or("c"));
        run("ip", &["netns", "add", &ns]);
        made.0.push(ns.clone());
        let path: Value =
            serde_norway::from_str(&format!("{{path: /run/netns/{ns}}}")).expect("netns");
        m.insert(key("netns"), path);
    }
    let text = serde_norway::to_string(&doc).expect("writing topology");
    (text, made)
}

/// Whether the kernel can make a VLAN device (checked in a scratch namespace of the lab).
fn kernel_has_vlan(lab: &Lab) -> bool {
    let ns = format!("{}vl", lab.name);
    run("ip", &["netns", "add", &ns]);
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(["-n", &ns])
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let made = ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        && ip(&[
            "link", "add", "link", "v0", "name", "v0.5", "type", "vlan", "id", "5",
        ]);
    let _ = std::process::Command::new("ip")
        .args(["netns", "delete", &ns])
        .output();
    made
}

fn check(example: &str) {
    let failures = sweep(example);
    assert!(
        failures.is_empty(),
        "{} transition(s) did not converge in one apply:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const SWEPT: &[&str] = &[
    "bridge-nat.yaml",
    "bridge.yaml",
    "calico.yaml",
    "dual-stack.yaml",
    "existing-netns.yaml",
    "host-gw.yaml",
    "macvlan-vlan.yaml",
    "macvlan.yaml",
    "routed.yaml",
    "vxlan-bridged.yaml",
    "vxlan-ipv6-underlay.yaml",
    "vxlan-routed.yaml",
];

#[test]
fn every_example_topology_is_swept() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .expect("topologies/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    found.sort();
    assert_eq!(found, SWEPT, "add a sweep test for each new example");
}

#[test]
fn edits_apply_to_every_example() {
    // No root: the edit chain is built for each example and keeps its shape.
    for example in SWEPT {
        let base = std::fs::read_to_string(repo_file(&format!("topologies/{example}"))).unwrap();
        let chain = transitions(&base);
        assert!(chain.len() >= 6, "{example}: {} transitions", chain.len());
        assert!(chain.iter().any(|t| t.name == "address"), "{example}");
        assert!(chain.iter().any(|t| t.name == "add-network"), "{example}");
    }
}

macro_rules! sweep_tests {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check($file);
            }
        )*
    };
}

sweep_tests! {
    sweep_bridge_nat => "bridge-nat.yaml",
    sweep_bridge => "bridge.yaml",
    sweep_calico => "calico.yaml",
    sweep_dual_stack => "dual-stack.yaml",
    sweep_existing_netns => "existing-netns.yaml",
    sweep_host_gw => "host-gw.yaml",
    sweep_macvlan_vlan => "macvlan-vlan.yaml",
    sweep_macvlan => "macvlan.yaml",
    sweep_routed => "routed.yaml",
    sweep_vxlan_bridged => "vxlan-bridged.yaml",
    sweep_vxlan_ipv6_underlay => "vxlan-ipv6-underlay.yaml",
    sweep_vxlan_routed => "vxlan-routed.yaml",
}
