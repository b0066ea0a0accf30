//! Deterministic mutation sweep over topology files (test-only).
//!
//! Starts from every `topologies/*.yaml` (read at test time, so new examples are swept too) and a
//! few hand-written edge files, applies structured mutations chosen by a seeded xorshift PRNG
//! (no dependency, same inputs every run) and checks the project's input contract on each:
//! loading and validating never panic; every error names a place (a YAML path, or file:line:col
//! for parse errors) with a non-empty message, once; a valid file compiles for every host, and
//! the plans against an empty state and against itself never panic, the self-plan is empty, and
//! every creation comes after what it depends on. A failure prints the exact input.

use crate::compile::compile;
use crate::lab::reach::{Fabric, Place};
use crate::plan::{Action, Plan, diff, render_text};
use crate::state::{LinkKind, Object, ObjectKey, State};
use crate::topology::{TopologyError, attachments, load_str};
use serde_norway::{Mapping, Value};
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Mutated inputs per seed file; `NETPLAN_SWEEP_PER_SEED` raises it for a longer exploratory run
/// (the inputs of a shorter run are a prefix of a longer one).
const PER_SEED: usize = 300;

fn per_seed() -> usize {
    std::env::var("NETPLAN_SWEEP_PER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PER_SEED)
}

/// Edge files written by hand: near-empty documents, every optional key at once, odd YAML.
const EDGE_FILES: &[&str] = &[
    "",
    "version: 1\n",
    "version: 1\nhosts: {}\nnetworks: {}\ncontainers: {}\n",
    "---\n...\n",
    "[1, 2, 3]\n",
    "version: 1\nhosts:\n  h1: { underlay: 10.0.0.1/24 }\n",
    // Every kind of network and container form on one pair of hosts.
    r#"version: 1
hosts:
  h1: { underlay: 10.0.0.1/24, interface: eth0, mtu: 1500 }
  h2: { underlay: 10.0.0.2/24 }
networks:
  br: { driver: bridge, subnet: 192.168.10.0/24, subnet6: "fd00:10::/64", gateway: 192.168.10.1, gateway6: "fd00:10::1", nat: true, mtu: 1400 }
  vb: { driver: vxlan, mode: bridged, vni: 10, port: 4789, subnet: 172.20.0.0/16, subnet6: "fd00:20::/64" }
  vr: { driver: vxlan, mode: routed, vni: 11, subnet: 10.240.0.0/16, host_prefix: 24, slices: { h2: 10.240.7.0/24 }, subnet6: "fd00:240::/56", host_prefix6: 64, slices6: { h1: "fd00:240:0:9::/64" } }
  hg: { driver: host-gw, subnet: 10.250.0.0/16, host_prefix: 24, slices: { h1: 10.250.3.0/24 } }
  mv: { driver: macvlan, subnet: 10.0.0.0/24, gateway: 10.0.0.254, parent: eth0, mode: private, vlan: 7, host_interface: true }
containers:
  a: { host: h1, networks: { br: { address: 192.168.10.5, address6: "fd00:10::5", interface: eth0 }, vb: {}, vr: {}, hg: {} }, default_route: hg, ports: ["8080:80/tcp", "53:53/udp", "22:22"] }
  b: { host: h2, networks: { vb: { address: 172.20.0.9 }, vr: {}, hg: {}, mv: { address: 10.0.0.50 } }, default_route: false }
  c: { host: h1, network: br, address6: "fd00:10::77", netns: { pid: 1 } }
  d: { host: h2, network: mv, netns: { path: /run/netns/d } }
  e: { host: h1, network: vb, netns: { docker: web } }
"#,
    // IPv6 underlays and IPv6-only networks.
    r#"version: 1
hosts:
  h1: { underlay: "fd00:1::1/64" }
  h2: { underlay: "fd00:1::2/64" }
networks:
  six: { driver: vxlan, mode: bridged, vni: 6, subnet: "fd00:6::/64" }
  sixr: { driver: vxlan, mode: routed, vni: 7, subnet: "fd00:7::/48", host_prefix6: 64 }
  b6: { driver: bridge, subnet: "fd00:8::/64" }
containers:
  a: { host: h1, networks: { six: {}, sixr: {}, b6: {} } }
  b: { host: h2, networks: { six: { address6: "fd00:6::99" }, sixr: {} }, default_route: sixr }
"#,
];

/// xorshift64*: deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone)]
enum Seg {
    Key(Value),
    Index(usize),
}

/// Every node of the document with its path (the root excluded).
fn paths(value: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                prefix.push(Seg::Key(k.clone()));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                prefix.push(Seg::Index(i));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(value: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut at = value;
    for seg in path {
        at = match (seg, at) {
            (Seg::Key(k), Value::Mapping(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Sequence(s)) => s.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(at)
}

/// The key name a node sits under (the nearest string key on its path).
fn key_name(path: &[Seg]) -> String {
    path.iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(Value::String(k)) => Some(k.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn s(text: impl AsRef<str>) -> Value {
    Value::String(text.as_ref().to_string())
}

fn n(number: i64) -> Value {
    Value::Number(number.into())
}

fn u(number: u64) -> Value {
    Value::Number(number.into())
}

fn long_name(len: usize) -> String {
    "n".repeat(len)
}

/// A value of a different type than expected anywhere.
fn wrong_type(rng: &mut Rng) -> Value {
    match rng.below(13) {
        0 => n(0),
        1 => n(-1),
        2 => u(u64::MAX),
        3 => u(4_294_967_296),
        4 => Value::Number(1e300.into()),
        5 => Value::Bool(true),
        6 => Value::Bool(false),
        7 => Value::Null,
        8 => s(""),
        9 => Value::Sequence(Vec::new()),
        10 => Value::Mapping(Mapping::new()),
        11 => Value::Sequence(vec![n(1), s("x")]),
        _ => s("x"),
    }
}

/// Names: the document's own names (so references can point at the wrong kind of thing),
/// unknown ones, and names that break length and character rules.
fn name(rng: &mut Rng, known: &[String]) -> String {
    if !known.is_empty() && rng.chance(40) {
        return rng.pick(known).clone();
    }
    let fixed = [
        "nope",
        "eth0",
        "lo",
        "a b",
        "../x",
        "",
        "true",
        "false",
        "-",
        ".",
        "κόμβος",
        "ñ",
        "a/b",
        "br-x",
        "0",
    ];
    match rng.below(6) {
        0 => long_name(16),
        1 => long_name(64),
        2 => long_name(300),
        3 => long_name(13),
        _ => rng.pick(&fixed).to_string(),
    }
}

/// Address-ish values derived from every address and prefix in the document: network,
/// broadcast, first and last addresses, the other family, odd prefix lengths.
fn address_pool(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_strings(doc, &mut found);
    let mut pool: Vec<String> = vec![
        "0.0.0.0".into(),
        "255.255.255.255".into(),
        "::".into(),
        "::1".into(),
        "fe80::1".into(),
        "1.2.3.4".into(),
        "fd00::1".into(),
        "10.0.0.1/33".into(),
        "10.0.0.0/8".into(),
        "fd00::/129".into(),
        "::ffff:10.0.0.1".into(),
        "not-an-ip".into(),
        "300.1.1.1".into(),
    ];
    for text in found {
        if let Ok(net) = text.parse::<ipnet::IpNet>() {
            let (first, last) = (net.network(), net.broadcast());
            pool.push(first.to_string());
            pool.push(last.to_string());
            pool.push(net.addr().to_string());
            for len in [0u8, 1, 8, 30, 31, 32, 48, 64, 120, 126, 127, 128] {
                pool.push(format!("{}/{len}", net.addr()));
                if let Ok(other) = ipnet::IpNet::new(net.addr(), len) {
                    pool.push(other.trunc().to_string());
                }
            }
            if let Ok(sub) =
                net.subnets(net.prefix_len().saturating_add(1).min(net.max_prefix_len()))
            {
                pool.extend(sub.take(2).map(|s| s.to_string()));
            }
            pool.push(swap_family(&net.addr().to_string()));
            pool.push(format!(
                "{}/{}",
                swap_family(&net.addr().to_string()),
                net.prefix_len()
            ));
            if let Ok(super_) = net.supernet().ok_or(()) {
                pool.push(super_.to_string());
            }
        } else if text.parse::<std::net::IpAddr>().is_ok() {
            pool.push(swap_family(&text));
            pool.push(format!("{text}/24"));
        }
    }
    pool
}

fn swap_family(addr: &str) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!(
                "fd00::{:x}:{:x}",
                u16::from(o[0]) << 8 | u16::from(o[1]),
                u16::from(o[2]) << 8 | u16::from(o[3])
            )
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let o = v6.octets();
            format!("10.{}.{}.{}", o[13], o[14], o[15])
        }
        Err(_) => addr.to_string(),
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Mapping(m) => {
            for (k, v) in m {
                collect_strings(k, out);
                collect_strings(v, out);
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Names declared in the document's top-level maps.
fn declared(doc: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for section in ["hosts", "networks", "containers"] {
        if let Some(Value::Mapping(m)) = doc.get(section) {
            names.extend(m.keys().filter_map(|k| k.as_str().map(str::to_string)));
        }
    }
    names
}

/// A value fitting the key `key` but likely wrong: the interesting boundary cases per key.
fn value_for(key: &str, rng: &mut Rng, addrs: &[String], names: &[String]) -> Value {
    let pick_num = |rng: &mut Rng, nums: &[i64]| n(*rng.pick(nums));
    match key {
        "address" | "address6" | "gateway" | "gateway6" | "underlay" | "subnet" | "subnet6" => {
            s(rng.pick(addrs))
        }
        "host_prefix" | "host_prefix6" => pick_num(
            rng,
            &[
                0, 1, 8, 16, 23, 24, 30, 31, 32, 33, 48, 64, 120, 126, 127, 128, 255, 256,
            ],
        ),
        "vni" => pick_num(rng, &[0, 1, 16_777_215, 16_777_216, 4_294_967_295, -1]),
        "port" => pick_num(rng, &[0, 1, 4789, 65_535, 65_536, -1]),
        "vlan" => pick_num(rng, &[0, 1, 4094, 4095, 65_535, 65_536, -1]),
        "mtu" => pick_num(
            rng,
            &[0, 1, 67, 68, 1280, 1450, 1500, 9000, 65_536, 4_294_967_295],
        ),
        "pid" => pick_num(rng, &[0, 1, 4_294_967_295, -5]),
        "version" => pick_num(rng, &[0, 1, 2, -1]),
        "mode" => s(rng.pick(&[
            "bridged", "routed", "bridge", "private", "vepa", "passthru", "bogus", "",
        ])),
        "driver" => s(rng.pick(&["vxlan", "bridge", "host-gw", "macvlan", "host_gw", "bogus"])),
        "nat" | "host_interface" => {
            if rng.chance(70) {
                Value::Bool(rng.chance(50))
            } else {
                s("yes")
            }
        }
        "default_route" => match rng.below(4) {
            0 => Value::Bool(rng.chance(50)),
            _ => s(name(rng, names)),
        },
        "path" => s(rng.pick(&["relative/ns", "/proc/1/ns/net", "", "/", "/run/netns/κ"])),
        "ports" => {
            let specs = [
                "0:80",
                "80:0",
                "65536:80",
                "80:65536",
                "a:b",
                "80:80/sctp",
                "80",
                "",
                ":",
                "8080:80/tcp",
                "8080:80/udp",
                "8080:80/",
                "80:80/TCP",
                "99999999999999999999:1",
                "1:2:3",
                "-1:80",
                " 80:80",
                "8080:80/tcp/udp",
            ];
            let count = 1 + rng.below(3);
            Value::Sequence((0..count).map(|_| s(rng.pick(&specs))).collect())
        }
        "slices" | "slices6" => {
            let mut m = Mapping::new();
            for _ in 0..1 + rng.below(3) {
                m.insert(s(name(rng, names)), s(rng.pick(addrs)));
            }
            Value::Mapping(m)
        }
        _ => s(name(rng, names)),
    }
}

/// Every key of the topology model.
const FIELDS: &[&str] = &[
    "version",
    "underlay",
    "interface",
    "mtu",
    "driver",
    "mode",
    "vni",
    "port",
    "subnet",
    "subnet6",
    "gateway",
    "gateway6",
    "host_prefix",
    "host_prefix6",
    "slices",
    "slices6",
    "nat",
    "parent",
    "vlan",
    "host_interface",
    "host",
    "network",
    "address",
    "address6",
    "networks",
    "default_route",
    "ports",
    "netns",
    "pid",
    "path",
    "docker",
];

/// An entry of a map keyed by names: hosts, networks, containers, a container's networks,
/// slices.
fn is_named_entry(path: &[Seg]) -> bool {
    matches!(path, [.., Seg::Key(Value::String(map)), Seg::Key(_)]
        if ["hosts", "networks", "containers", "slices", "slices6"].contains(&map.as_str()))
}

/// One structured mutation of `doc`.
fn mutate(doc: &mut Value, rng: &mut Rng) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    if all.is_empty() {
        *doc = wrong_type(rng);
        return;
    }
    let addrs = address_pool(doc);
    let names = declared(doc);
    // Renaming and duplicating make sense for entries of the name-keyed maps; anywhere else
    // they only give an unknown-key parse error, which the other mutations already cover.
    let kind = rng.below(20);
    let named: Vec<&Vec<Seg>> = all.iter().filter(|p| is_named_entry(p)).collect();
    // Boundary values go to keys of the model (a host's name is not a place for a VNI).
    let fields: Vec<&Vec<Seg>> = all
        .iter()
        .filter(|p| {
            matches!(p.last(), Some(Seg::Key(Value::String(k))) if FIELDS.contains(&k.as_str()))
                && !is_named_entry(p)
        })
        .collect();
    let path = match kind {
        3..=9 if !fields.is_empty() => (*rng.pick(&fields)).clone(),
        10..=15 if !named.is_empty() => (*rng.pick(&named)).clone(),
        _ => rng.pick(&all).clone(),
    };
    let key = key_name(&path);
    let (parent_path, last) = path.split_at(path.len() - 1);
    match kind {
        // Delete the node.
        0 | 1 => {
            if let Some(parent) = get_mut(doc, parent_path) {
                match (parent, &last[0]) {
                    (Value::Mapping(m), Seg::Key(k)) => {
                        m.shift_remove(k);
                    }
                    (Value::Sequence(seq), Seg::Index(i)) if *i < seq.len() => {
                        seq.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        // Another type entirely.
        2 => {
            if let Some(node) = get_mut(doc, &path) {
                *node = wrong_type(rng);
            }
        }
        // A boundary value for this key.
        3..=9 => {
            let value = value_for(&key, rng, &addrs, &names);
            if let Some(node) = get_mut(doc, &path) {
                *node = value;
            }
        }
        // Rename a map key (host, network, container, slice, attachment names).
        10..=12 => {
            let new = name(rng, &names);
            if let (Some(Value::Mapping(m)), Seg::Key(k)) = (get_mut(doc, parent_path), &last[0])
                && let Some(v) = m.shift_remove(k)
            {
                m.insert(s(&new), v);
            }
        }
        // Duplicate an entry under another name (same subnet, VNI, addresses, ports...).
        13..=15 => {
            let new = format!("{}{}", name(rng, &names), rng.below(3));
            if let (Some(Value::Mapping(m)), Seg::Key(k)) = (get_mut(doc, parent_path), &last[0])
                && let Some(v) = m.get(k).cloned()
            {
                m.insert(s(&new), v);
            }
        }
        // Copy another node's value here (a subnet as an address, a name as a number...).
        16 | 17 => {
            let other = rng.pick(&all).clone();
            let value = get_mut(doc, &other).map(|v| v.clone());
            if let (Some(value), Some(node)) = (value, get_mut(doc, &path)) {
                *node = value;
            }
        }
        // Add a key that may or may not belong here.
        _ => {
            let keys = [
                "address",
                "address6",
                "gateway",
                "gateway6",
                "subnet6",
                "host_prefix",
                "host_prefix6",
                "slices",
                "slices6",
                "vlan",
                "parent",
                "mode",
                "host_interface",
                "nat",
                "ports",
                "netns",
                "default_route",
                "interface",
                "mtu",
                "port",
                "pid",
                "path",
                "docker",
                "bogus",
            ];
            let new_key = rng.pick(&keys).to_string();
            let value = if new_key == "netns" {
                let mut m = Mapping::new();
                for k in ["pid", "path", "docker"] {
                    if rng.chance(50) {
                        m.insert(s(k), value_for(k, rng, &addrs, &names));
                    }
                }
                Value::Mapping(m)
            } else {
                value_for(&new_key, rng, &addrs, &names)
            };
            let target = if matches!(get_mut(doc, &path), Some(Value::Mapping(_))) {
                &path[..]
            } else {
                parent_path
            };
            if let Some(Value::Mapping(m)) = get_mut(doc, target) {
                m.insert(s(&new_key), value);
            }
        }
    }
}

/// Byte-level damage: truncation, a line duplicated (duplicate keys) or dropped, a stray
/// character, a huge number.
fn damage(text: &str, rng: &mut Rng) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match rng.below(5) {
        0 => {
            let mut cut = rng.below(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        1 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let mut out: Vec<&str> = lines.clone();
            out.insert(i, lines[i]);
            out.join("\n")
        }
        2 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let mut out = lines.clone();
            out.remove(i);
            out.join("\n")
        }
        3 => {
            let mut out: Vec<char> = text.chars().collect();
            let stray = *rng.pick(&[
                ':', '{', '}', '[', ']', '-', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
                '`', '\t', '\n', ' ', '\u{0}', 'é',
            ]);
            let at = rng.below(out.len() + 1);
            out.insert(at, stray);
            out.into_iter().collect()
        }
        _ => {
            // A huge number after the first ": " of a random line.
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if !out.is_empty() {
                let i = rng.below(out.len());
                if let Some(pos) = out[i].find(": ") {
                    out[i].truncate(pos + 2);
                    let number: &&str = rng.pick(&[
                        "99999999999999999999999",
                        "-99999999999999999999",
                        "1e999",
                        ".nan",
                        "0x1F",
                        "0o17",
                    ]);
                    out[i].push_str(number);
                }
            }
            out.join("\n")
        }
    }
}

/// What a run found wrong with one input.
fn check(text: &str) -> Result<Outcome, String> {
    let loaded = catch_unwind(AssertUnwindSafe(|| load_str(text, "sweep.yaml")))
        .map_err(|_| "load_str panicked".to_string())?;
    let topo = match loaded {
        Err(TopologyError::Parse {
            line,
            column,
            message,
            ..
        }) => {
            if message.trim().is_empty() {
                return Err("parse error with an empty message".into());
            }
            if line.is_none() || column.is_none() {
                return Err(format!("parse error without line:column: {message}"));
            }
            return Ok(Outcome::Parse);
        }
        Err(TopologyError::Invalid { diagnostics, .. }) => {
            if diagnostics.is_empty() {
                return Err("invalid with no diagnostics".into());
            }
            let mut seen = HashSet::new();
            for d in &diagnostics {
                if d.path.trim().is_empty() || d.message.trim().is_empty() {
                    return Err(format!("diagnostic without path or message: {d:?}"));
                }
                if d.message.contains("Some(") || d.message.contains("None") {
                    return Err(format!("debug formatting in a message: {d}"));
                }
                if !seen.insert((d.path.clone(), d.message.clone())) {
                    return Err(format!("the same diagnostic twice: {d}"));
                }
            }
            return Ok(Outcome::Invalid);
        }
        Err(TopologyError::Io { .. } | TopologyError::Input { .. }) => {
            return Err("I/O error from a string".into());
        }
        Ok(topo) => topo,
    };
    // A valid topology round-trips through its own serialisation.
    let again = serde_norway::to_string(&topo).map_err(|e| format!("serialise: {e}"))?;
    match catch_unwind(AssertUnwindSafe(|| load_str(&again, "again.yaml"))) {
        Ok(Ok(reloaded)) if reloaded == topo => {}
        Ok(Ok(_)) => return Err(format!("round trip changed the topology:\n{again}")),
        Ok(Err(e)) => return Err(format!("round trip is invalid: {e}\n{again}")),
        Err(_) => return Err(format!("round trip panicked:\n{again}")),
    }
    if catch_unwind(AssertUnwindSafe(|| compile(&topo, "no-such-host").is_ok())).unwrap_or(true) {
        return Err("compile for an undeclared host did not fail cleanly".into());
    }
    for host in topo.hosts.keys() {
        let compiled = catch_unwind(AssertUnwindSafe(|| compile(&topo, host)))
            .map_err(|_| format!("compile panicked for host {host}"))?
            .map_err(|e| format!("compile failed for declared host {host}: {e}"))?;
        let empty = State::default();
        let plans = catch_unwind(AssertUnwindSafe(|| {
            let create = diff(&compiled, &empty);
            let destroy = diff(&empty, &compiled);
            let same = diff(&compiled, &compiled);
            let _ = render_text(&create);
            let _ = render_text(&destroy);
            (create, destroy, same)
        }))
        .map_err(|_| format!("plan panicked for host {host}"))?;
        let (create, destroy, same) = plans;
        if !same.is_empty() {
            return Err(format!(
                "self-diff not empty for host {host}:\n{}",
                render_text(&same)
            ));
        }
        dependencies_first(&compiled, &create).map_err(|e| format!("host {host}: {e}"))?;
        kernel_names(&compiled).map_err(|e| format!("host {host}: {e}"))?;
        if destroy.steps.iter().any(|s| s.action() != Action::Delete) {
            return Err(format!("destroy plan creates something on {host}"));
        }
    }
    // `lab up` plumbing and the reachability model `lab verify` expects from.
    catch_unwind(AssertUnwindSafe(|| {
        let _ = crate::lab::plumbing(&topo);
        let fabric = Fabric::new(&topo);
        let all = attachments(&topo);
        for from in &all {
            for to in &all {
                for address in crate::lab::addresses(to) {
                    let _ = fabric.reach(&Place::container(&from.host, &from.container), address);
                }
            }
        }
    }))
    .map_err(|_| "the lab's plumbing or reachability model panicked".to_string())?;
    Ok(Outcome::Valid)
}

/// Validation passed, so the kernel must accept every name compile derived: interface names
/// of 1 to 15 bytes without '/', ':' or whitespace (a longer one fails only at apply time).
fn kernel_names(state: &State) -> Result<(), String> {
    let bad = |name: &str| {
        name.is_empty()
            || name.len() > 15
            || name
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace())
    };
    for object in state.iter() {
        let mut names: Vec<&str> = Vec::new();
        if let Object::Link(l) = object {
            names.push(&l.name);
            names.extend(l.master.as_deref());
            match &l.kind {
                LinkKind::Veth { peer: Some(p) } => names.push(&p.name),
                LinkKind::Macvlan(m) => names.extend(m.parent.as_ref().map(|p| p.name.as_str())),
                LinkKind::Vlan(v) => names.extend(v.parent.as_deref()),
                LinkKind::Vxlan(v) => names.extend(v.dev.as_deref()),
                _ => {}
            }
        }
        if let Some(name) = names.into_iter().find(|n| bad(n)) {
            return Err(format!(
                "{} names interface {name:?}, which the kernel refuses",
                object.key()
            ));
        }
    }
    Ok(())
}

/// Every object a creation depends on (and that the state wants) is created earlier.
fn dependencies_first(desired: &State, plan: &Plan) -> Result<(), String> {
    let mut created: HashMap<ObjectKey, usize> = HashMap::new();
    for (i, step) in plan.steps.iter().enumerate() {
        for object in step.desired().iter().chain(step.peer().iter()) {
            created.insert(object.key(), i);
        }
    }
    for (i, step) in plan.steps.iter().enumerate() {
        for object in step.desired().iter().chain(step.peer().iter()) {
            for dep in crate::plan::dependencies(object) {
                if desired.get(&dep).is_none() {
                    continue;
                }
                match created.get(&dep) {
                    Some(&j) if j <= i => {}
                    Some(_) => {
                        return Err(format!(
                            "{} is created before its dependency {dep}",
                            step.key()
                        ));
                    }
                    None => {
                        return Err(format!(
                            "{} depends on {dep}, which the plan never creates",
                            step.key()
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    Parse,
    Invalid,
    Valid,
}

fn seeds() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("topologies/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(p).expect("readable"),
            )
        })
        .collect();
    out.extend(
        EDGE_FILES
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("edge file {i}"), t.to_string())),
    );
    out
}

/// The mutated inputs of the sweep, deterministic.
fn inputs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (seed_index, (origin, text)) in seeds().into_iter().enumerate() {
        out.push((origin.clone(), text.clone()));
        let mut rng =
            Rng(0x9e37_79b9_7f4a_7c15 ^ (seed_index as u64 + 1).wrapping_mul(0x1000_0000_01b3));
        let doc: Value = serde_norway::from_str(&text).unwrap_or(Value::Null);
        for i in 0..per_seed() {
            let mutated = if rng.chance(20) {
                damage(&text, &mut rng)
            } else {
                let mut d = doc.clone();
                for _ in 0..1 + rng.below(3) {
                    mutate(&mut d, &mut rng);
                }
                let serialised = serde_norway::to_string(&d).unwrap_or_default();
                if rng.chance(15) {
                    damage(&serialised, &mut rng)
                } else {
                    serialised
                }
            };
            out.push((format!("{origin} #{i}"), mutated));
        }
    }
    out
}

#[test]
fn mutated_topologies_never_panic_and_always_explain() {
    let inputs = inputs();
    let mut outcomes: HashMap<Outcome, usize> = HashMap::new();
    let mut failures = Vec::new();
    for (origin, text) in &inputs {
        match check(text) {
            Ok(o) => *outcomes.entry(o).or_default() += 1,
            Err(problem) => failures.push(format!(
                "{origin}: {problem}\n--- input ---\n{text}\n-------------"
            )),
        }
    }
    eprintln!("sweep: {} inputs, {outcomes:?}", inputs.len());
    assert!(
        failures.is_empty(),
        "{} of {} inputs broke the contract; first ones:\n{}",
        failures.len(),
        inputs.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The sweep must exercise every outcome, or it tests less than it claims.
    for o in [Outcome::Parse, Outcome::Invalid, Outcome::Valid] {
        assert!(
            outcomes.get(&o).copied().unwrap_or(0) > 50,
            "too few {o:?}: {outcomes:?}"
        );
    }
}
