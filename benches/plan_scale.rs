//! Benchmark of the pure pipeline at fleet scale. Prints numbers; asserts nothing about speed
//! (docs/architecture.md: speed is measured in benchmarks, never in timed tests).
//!
//! 1. A bridged VXLAN overlay (the worst case for per-host objects: every host carries a
//!    neighbour and an FDB entry per remote container): load + validate, compile for one host,
//!    diff against an empty kernel (first apply) and against itself (the no-op plan CI runs for
//!    drift), render; `overlay6`: the same overlay dual-stack.
//! 2. Fleet scaling of host-gw and dual-stack routed VXLAN: compile + diff for one host at 100,
//!    500 and 1000 hosts. A host's objects grow linearly with the fleet (one route per peer), so
//!    a linear cost shows as time ratios close to the host ratios (5x, 10x); a quadratic one as
//!    their squares (25x, 100x).
//! 3. NAT: one host with a bridge network, `nat: true` and 2000 published ports (4000 DNAT rules
//!    plus masquerade): compile, and diff against an observed table with drift (rules missing,
//!    changed, stale and hand-made ones).
//! 4. `lab verify`'s expectations (the reach model, every ordered container pair against every
//!    address) for a 50-host fleet with host-gw, dual-stack routed VXLAN and per-host bridges:
//!    O(pairs x path x routes per node), so it grows with the cube of the fleet; it must stay
//!    far below the pings it predicts (seconds, not minutes).
//!
//! 5. The offline fleet plan (`plan --all-hosts --offline --base OLD`, `diff OLD NEW`): every
//!    host compiled from both versions and diffed, for 1000 hosts x 20 containers by default
//!    (`fleet HOSTS PER_HOST` after `--` resize parts 1 and 5 alike), on one thread and on every
//!    core, plus rendering. The new version moves a container, adds one, publishes a port,
//!    removes a host and adds one. Designs: host-gw + dual-stack routed VXLAN + a per-host NAT
//!    bridge (routes grow with the fleet, one per peer host), and the bridged overlay alone
//!    (every host carries an entry per remote container: objects grow with hosts x containers).
//!    `fleet-small-pr`: the first design with one container added (one host changes).
//!
//! 6. Network policy: host h0 with 500 containers on a routed network (of a 10-host fleet of 500
//!    containers each) and 50 policies selecting by label, with peers by label (resolved to
//!    addresses on every host) and by CIDR: compile and diff (first apply and no-op) with and
//!    without the policies, and the nftables objects they add.
//!
//! Not measured: encoding/decoding nftables netlink messages (`kernel::nft` is private to the
//! crate; the public entry points need a kernel).
//!
//! Run: `cargo bench --bench plan_scale`; after `--`, `HOSTS CONTAINERS_PER_HOST REACH_HOSTS`
//! size parts 1 and 4 (default 100 x 20, and 50) and words pick parts: `overlay`, `overlay6`, `host-gw`, `dual-stack`, `nat`, `reach`, `fleet`, `policy`,
//! `fleet-small-pr`,
//! `fleet-overlay` (not run by default: minutes at 1000 hosts, see part 5).

use netplan_rs::lab::reach::Fabric;
use netplan_rs::state::{NatRule, Object, State};
use netplan_rs::topology::Topology;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn hosts_yaml(y: &mut String, hosts: usize) {
    y.push_str("version: 1\nhosts:\n");
    for h in 0..hosts {
        let _ = writeln!(
            y,
            "  h{h}: {{underlay: 10.0.{}.{}/16, interface: eth0}}",
            h / 250,
            h % 250 + 1
        );
    }
}

fn topology(hosts: usize, per_host: usize, dual: bool) -> String {
    let mut y = String::new();
    hosts_yaml(&mut y, hosts);
    let subnet6 = if dual {
        ", subnet6: \"fd00:16::/64\""
    } else {
        ""
    };
    let _ = writeln!(
        y,
        "networks:\n  overlay: {{driver: vxlan, mode: bridged, vni: 100, subnet: 172.16.0.0/12{subnet6}}}\ncontainers:"
    );
    for h in 0..hosts {
        for c in 0..per_host {
            let _ = writeln!(y, "  c{h}-{c}: {{host: h{h}, network: overlay}}");
        }
    }
    y
}

/// `hosts` hosts with `per_host` containers each on one sliced network.
fn routed(hosts: usize, per_host: usize, network: &str) -> String {
    let mut y = String::new();
    hosts_yaml(&mut y, hosts);
    let _ = writeln!(y, "networks:\n  net: {network}\ncontainers:");
    for h in 0..hosts {
        for c in 0..per_host {
            let _ = writeln!(y, "  c{h}-{c}: {{host: h{h}, network: net}}");
        }
    }
    y
}

const HOST_GW: &str = "{driver: host-gw, subnet: 10.128.0.0/12, host_prefix: 24}";
const DUAL_ROUTED: &str = "{driver: vxlan, mode: routed, vni: 200, subnet: 10.128.0.0/12, \
                           host_prefix: 24, subnet6: \"fd00:244::/48\"}";

/// One host carrying `containers` containers with `ports_each` published ports each, on a
/// bridge network with egress NAT; a second host so the fleet is not trivial.
fn nat(containers: usize, ports_each: usize) -> String {
    let mut y = String::new();
    hosts_yaml(&mut y, 2);
    y.push_str(
        "networks:\n  local: {driver: bridge, subnet: 172.20.0.0/16, subnet6: \"fd00:20::/64\", nat: true}\ncontainers:\n",
    );
    for c in 0..containers {
        let ports: Vec<String> = (0..ports_each)
            .map(|p| {
                let host_port = 10000 + c * ports_each + p;
                let proto = if p % 2 == 0 { "tcp" } else { "udp" };
                format!("\"{host_port}:{}/{proto}\"", 80 + p)
            })
            .collect();
        let _ = writeln!(
            y,
            "  c{c}: {{host: h0, network: local, ports: [{}]}}",
            ports.join(", ")
        );
    }
    y.push_str("  other: {host: h1, network: local}\n");
    y
}

/// `hosts` hosts; on each, one container on a host-gw network, one on a dual-stack routed VXLAN
/// network and one on the host's own bridge (unreachable from other hosts: isolation probes).
fn lab(hosts: usize) -> String {
    let mut y = String::new();
    hosts_yaml(&mut y, hosts);
    let _ = writeln!(
        y,
        "networks:\n  hostgw: {{driver: host-gw, subnet: 10.64.0.0/12, host_prefix: 24}}\n  flannel: {DUAL_ROUTED}\n  local: {{driver: bridge, subnet: 192.168.0.0/24, nat: true}}\ncontainers:"
    );
    for h in 0..hosts {
        for net in ["hostgw", "flannel", "local"] {
            let _ = writeln!(y, "  {net}{h}: {{host: h{h}, network: {net}}}");
        }
    }
    y
}

fn load(text: &str) -> Topology {
    netplan_rs::topology::load_str(text, "bench.yaml").expect("valid benchmark topology")
}

/// Run `f` repeatedly for about `budget` (at least 3 times); print and return the mean time.
fn bench_for<T>(name: &str, budget: Duration, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < budget || runs < 3 {
        black_box(f());
        runs += 1;
    }
    let per = start.elapsed() / runs;
    println!("{name:<48} {per:>12.3?} per run ({runs} runs)");
    per
}

fn bench<T>(name: &str, f: impl FnMut() -> T) -> Duration {
    bench_for(name, Duration::from_secs(1), f)
}

/// Time loading `text` and compiling it for host h0; h0's desired state.
fn load_and_compile(text: &str) -> State {
    bench("load + validate", || {
        netplan_rs::topology::load_str(text, "bench.yaml").map(|t| t.containers.len())
    });
    let topo = load(text);
    bench("compile host h0", || {
        netplan_rs::compile::compile(&topo, "h0").map(|s| s.len())
    });
    netplan_rs::compile::compile(&topo, "h0").expect("compile")
}

fn overlay(hosts: usize, per_host: usize, dual: bool) {
    let text = topology(hosts, per_host, dual);
    let stack = if dual { "dual-stack " } else { "" };
    println!(
        "== {stack}bridged VXLAN overlay: {hosts} hosts x {per_host} containers, {} bytes",
        text.len()
    );
    let desired = load_and_compile(&text);
    println!("host h0 desired objects: {}", desired.len());
    let empty = State::default();
    bench("diff vs empty kernel (first apply)", || {
        netplan_rs::plan::diff(&desired, &empty).steps.len()
    });
    bench("diff vs converged kernel (no-op)", || {
        netplan_rs::plan::diff(&desired, &desired).steps.len()
    });
    let plan = netplan_rs::plan::diff(&desired, &empty);
    bench("render text", || netplan_rs::plan::render_text(&plan).len());
}

/// Compile + diff (first apply and no-op) for one host at several fleet sizes; prints each
/// size's cost and its ratio to the smallest.
fn scaling(label: &str, network: &str, per_host: usize) {
    println!("== {label}: compile + diff for host h0, {per_host} containers per host");
    let sizes = [100usize, 500, 1000];
    let mut base: Option<(usize, Duration, Duration)> = None;
    for hosts in sizes {
        let topo = load(&routed(hosts, per_host, network));
        let budget = Duration::from_millis(500);
        let compile = bench_for(&format!("{hosts} hosts: compile h0"), budget, || {
            netplan_rs::compile::compile(&topo, "h0").map(|s| s.len())
        });
        let desired = netplan_rs::compile::compile(&topo, "h0").expect("compile");
        let empty = State::default();
        let diff = bench_for(
            &format!("{hosts} hosts: diff first apply + no-op"),
            budget,
            || {
                netplan_rs::plan::diff(&desired, &empty).steps.len()
                    + netplan_rs::plan::diff(&desired, &desired).steps.len()
            },
        );
        let (h0, c0, d0) = *base.get_or_insert((hosts, compile, diff));
        println!(
            "{hosts} hosts: {} objects on h0; x{:.0} hosts -> compile x{:.1}, diff x{:.1}",
            desired.len(),
            hosts as f64 / h0 as f64,
            compile.as_secs_f64() / c0.as_secs_f64(),
            diff.as_secs_f64() / d0.as_secs_f64(),
        );
    }
}

/// The observed state of a host whose table drifted from `desired`: every 20th rule missing,
/// every 20th (offset 7) pointing at another port, every 50th with a hand-made twin (no
/// comment), and 100 stale rules of containers that are gone. Observed rules carry handles.
fn drifted(desired: &State) -> State {
    let mut observed = State::default();
    let mut handle = 0u64;
    for (i, object) in desired.iter().enumerate() {
        let mut object = object.clone();
        if let Object::NftRule(r) = &mut object {
            handle += 1;
            r.handle = Some(handle);
            if i % 20 == 0 {
                continue;
            }
            if i % 20 == 7
                && let NatRule::Dnat { to_port, .. } = &mut r.rule
            {
                *to_port = to_port.wrapping_add(1);
            }
            if i % 50 == 3 {
                let mut twin = r.clone();
                handle += 1;
                twin.id = format!("handle {handle}");
                twin.handle = Some(handle);
                observed.insert(twin);
            }
            if i % 40 == 5 {
                let mut stale = r.clone();
                handle += 1;
                stale.id = format!("{} (gone)", r.id);
                stale.handle = Some(handle);
                observed.insert(stale);
            }
        }
        observed.insert(object);
    }
    observed
}

fn nat_bench(containers: usize, ports_each: usize) {
    let text = nat(containers, ports_each);
    println!(
        "== bridge NAT: {} published ports on host h0 ({containers} containers x {ports_each})",
        containers * ports_each
    );
    let desired = load_and_compile(&text);
    let rules = desired
        .iter()
        .filter(|o| matches!(o, Object::NftRule(_)))
        .count();
    println!(
        "host h0 desired objects: {}, nft rules: {rules}",
        desired.len()
    );
    let observed = drifted(&desired);
    let plan = netplan_rs::plan::diff(&desired, &observed);
    println!(
        "drifted kernel: {} objects; plan: {} steps, {} conflicts",
        observed.len(),
        plan.steps.len(),
        plan.conflicts.len()
    );
    bench("diff vs drifted table", || {
        netplan_rs::plan::diff(&desired, &observed).steps.len()
    });
    bench("diff vs converged table (no-op)", || {
        netplan_rs::plan::diff(&desired, &desired).steps.len()
    });
    bench("render text (drift plan)", || {
        netplan_rs::plan::render_text(&plan).len()
    });
}

fn reach_bench(hosts: usize) {
    let topo = load(&lab(hosts));
    println!(
        "== lab verify expectations: {hosts} hosts, {} containers",
        topo.containers.len()
    );
    let budget = Duration::from_secs(2);
    bench_for("build the reach model (compile every host)", budget, || {
        black_box(Fabric::new(&topo));
    });
    let (probes, notes) = netplan_rs::lab::expectations(&topo, "bench");
    let isolated = probes
        .iter()
        .filter(|p| matches!(p.expect, netplan_rs::lab::Expect::Isolated(_)))
        .count();
    println!(
        "{} probes ({isolated} expected isolated), {} notes",
        probes.len(),
        notes.len()
    );
    bench_for("expectations (every pair, every address)", budget, || {
        netplan_rs::lab::expectations(&topo, "bench").0.len()
    });
    let containers: Vec<String> = topo.containers.keys().cloned().collect();
    let outcomes: Vec<Result<bool, String>> = probes
        .iter()
        .map(|p| Ok(!matches!(p.expect, netplan_rs::lab::Expect::Isolated(_))))
        .collect();
    bench_for("matrix from outcomes + report", budget, || {
        let m = netplan_rs::lab::Matrix::new(
            containers.clone(),
            probes.clone(),
            outcomes.clone(),
            notes.clone(),
        );
        m.report().len()
    });
}

/// A fleet of `hosts` x `per_host` containers over host-gw, dual-stack routed VXLAN and a
/// per-host NAT bridge (a third each); with `changed`, the reviewed version: a container moved
/// to another host, one added, a published port, the last host removed and a new host added.
fn fleet_topology(hosts: usize, per_host: usize, changed: bool) -> String {
    let mut y = String::new();
    let kept = if changed { hosts - 1 } else { hosts };
    hosts_yaml(&mut y, kept);
    if changed {
        let _ = writeln!(y, "  new0: {{underlay: 10.0.250.1/16, interface: eth0}}");
    }
    let _ = writeln!(
        y,
        "networks:\n  hostgw: {HOST_GW}\n  flannel: {{driver: vxlan, mode: routed, vni: 200, subnet: 10.192.0.0/12, host_prefix: 24, subnet6: \"fd00:244::/48\"}}\n  local: {{driver: bridge, subnet: 172.20.0.0/16, nat: true}}\ncontainers:"
    );
    for h in 0..kept {
        for c in 0..per_host {
            let net = ["hostgw", "flannel", "local"][c % 3];
            let host = if changed && h == 1 && c == 0 { 2 } else { h };
            let ports = if changed && h == 3 && c == 2 {
                ", ports: [\"8080:80/tcp\"]"
            } else {
                ""
            };
            let _ = writeln!(y, "  c{h}-{c}: {{host: h{host}, network: {net}{ports}}}");
        }
    }
    if changed {
        let _ = writeln!(y, "  extra: {{host: h5, network: flannel}}");
        let _ = writeln!(y, "  fresh: {{host: new0, network: hostgw}}");
    }
    y
}

/// The bridged overlay fleet, and the same with one container added on h0.
fn overlay_versions(hosts: usize, per_host: usize) -> (String, String) {
    let base = topology(hosts, per_host, false);
    let new = format!("{base}  extra: {{host: h0, network: overlay}}\n");
    (base, new)
}

/// Plan the fleet as the CLI does (streamed a batch at a time, each host rendered as text or
/// JSON and dropped); the length of the output and its last line.
fn fleet_run(
    base: Option<&Topology>,
    new: &Topology,
    threads: usize,
    json: bool,
) -> (usize, String) {
    let mut text = netplan_rs::fleet::TextWriter::default();
    let mut js = netplan_rs::fleet::JsonWriter::default();
    let mut len = 0;
    netplan_rs::fleet::for_each_host(base, new, threads, |host| {
        len += if json {
            js.host(&host).len()
        } else {
            text.host(&host).len()
        };
        std::ops::ControlFlow::Continue(())
    })
    .expect("fleet plan");
    let tail = if json { js.finish() } else { text.finish() };
    let last = tail.lines().last().unwrap_or_default().to_string();
    (len + tail.len(), last)
}

fn fleet_bench(label: &str, base: &str, new: &str) {
    let (base, new) = (load(base), load(new));
    println!(
        "== offline fleet plan, {label}: {} hosts, {} containers",
        new.hosts.len(),
        new.containers.len()
    );
    let cores = netplan_rs::fleet::default_threads();
    let budget = Duration::from_secs(2);
    println!("{}", fleet_run(Some(&base), &new, cores, false).1);
    bench_for("fleet plan + text, 1 thread", budget, || {
        fleet_run(Some(&base), &new, 1, false).0
    });
    bench_for(
        &format!("fleet plan + text, {cores} threads"),
        budget,
        || fleet_run(Some(&base), &new, cores, false).0,
    );
    bench_for(
        &format!("fleet plan + JSON, {cores} threads"),
        budget,
        || fleet_run(Some(&base), &new, cores, true).0,
    );
    println!("first rollout: {}", fleet_run(None, &new, cores, false).1);
    bench_for(
        &format!("first rollout (no base) + text, {cores} threads"),
        budget,
        || fleet_run(None, &new, cores, false).0,
    );
}

/// `hosts` hosts of `per_host` containers on one routed network, each labelled `app: a<i % 50>`
/// and `tier: t<i % 5>`; with `policies`, that many policies: p<k> selects app a<k>, allows
/// tcp/80 and tcp/443 from app a<k+1> and tcp/22 from 10.0.0.0/8, and egress to tier t<k % 5>
/// on udp/53.
fn policy_topology(hosts: usize, per_host: usize, policies: usize) -> String {
    let mut y = String::new();
    hosts_yaml(&mut y, hosts);
    let _ = writeln!(
        y,
        "networks:\n  pods: {{driver: routed, subnet: 10.64.0.0/12, block_prefix: 22}}\ncontainers:"
    );
    for h in 0..hosts {
        for c in 0..per_host {
            let _ = writeln!(
                y,
                "  c{h}-{c}: {{host: h{h}, network: pods, labels: {{app: a{}, tier: t{}}}}}",
                c % 50,
                c % 5
            );
        }
    }
    if policies > 0 {
        y.push_str("policies:\n");
    }
    for k in 0..policies {
        let _ = writeln!(
            y,
            "  p{k}:\n    selector: {{labels: {{app: a{k}}}}}\n    ingress:\n      - from: [{{labels: {{app: a{}}}}}]\n        ports: [{{port: 80}}, {{port: 443}}]\n      - from: [{{cidr: 10.0.0.0/8}}]\n        ports: [{{port: 22}}]\n    egress:\n      - to: [{{labels: {{tier: t{}}}}}]\n        ports: [{{protocol: udp, port: 53}}]",
            (k + 1) % 50,
            k % 5
        );
    }
    y
}

fn policy_bench() {
    let (hosts, per_host, policies) = (10, 500, 50);
    println!("== policy: host h0 with {per_host} containers, {hosts} hosts, {policies} policies");
    let mut plain: Option<Duration> = None;
    for n in [0, policies] {
        let text = policy_topology(hosts, per_host, n);
        let budget = Duration::from_millis(500);
        bench_for(&format!("{n} policies: load + validate"), budget, || {
            netplan_rs::topology::load_str(&text, "bench.yaml").map(|t| t.containers.len())
        });
        let topo = load(&text);
        let compile = bench_for(&format!("{n} policies: compile h0"), budget, || {
            netplan_rs::compile::compile(&topo, "h0").map(|s| s.len())
        });
        let desired = netplan_rs::compile::compile(&topo, "h0").expect("compile");
        let empty = State::default();
        bench_for(&format!("{n} policies: diff first apply"), budget, || {
            netplan_rs::plan::diff(&desired, &empty).steps.len()
        });
        let noop = bench_for(&format!("{n} policies: diff no-op"), budget, || {
            netplan_rs::plan::diff(&desired, &desired).steps.len()
        });
        let count = |f: fn(&Object) -> bool| desired.iter().filter(|o| f(o)).count();
        let elements: usize = desired
            .iter()
            .map(|o| match o {
                Object::NftSet(s) => s.elements.len(),
                _ => 0,
            })
            .sum();
        println!(
            "{n} policies: {} objects on h0, {} nft rules, {} chains, {} sets ({elements} elements); compile + no-op diff {:.3?}{}",
            desired.len(),
            count(|o| matches!(o, Object::NftRule(_))),
            count(|o| matches!(o, Object::NftChain(_))),
            count(|o| matches!(o, Object::NftSet(_))),
            compile + noop,
            match plain {
                Some(p) => format!(
                    " (x{:.2} of without)",
                    (compile + noop).as_secs_f64() / p.as_secs_f64()
                ),
                None => String::new(),
            }
        );
        plain.get_or_insert(compile + noop);
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    // Words select parts (`overlay`, `host-gw`, `dual-stack`, `nat`, `reach`, `fleet`,
    // `fleet-overlay`); none: all but `fleet-overlay`.
    let parts: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .map(String::as_str)
        .collect();
    let run = |part: &str| parts.contains(&part) || (parts.is_empty() && part != "fleet-overlay");
    let hosts = numbers.first().copied().unwrap_or(100);
    let per_host = numbers.get(1).copied().unwrap_or(20);
    let reach_hosts = numbers.get(2).copied().unwrap_or(50);
    if run("overlay") {
        overlay(hosts, per_host, false);
    }
    if run("overlay6") {
        overlay(hosts, per_host, true);
    }
    if run("host-gw") {
        scaling("host-gw", HOST_GW, 3);
    }
    if run("dual-stack") {
        scaling("dual-stack routed VXLAN", DUAL_ROUTED, 3);
    }
    if run("nat") {
        nat_bench(200, 10);
    }
    if run("fleet") {
        let fleet_hosts = numbers.first().copied().unwrap_or(1000);
        fleet_bench(
            "host-gw + routed VXLAN + NAT bridge",
            &fleet_topology(fleet_hosts, per_host, false),
            &fleet_topology(fleet_hosts, per_host, true),
        );
    }
    if run("fleet-small-pr") {
        let fleet_hosts = numbers.first().copied().unwrap_or(1000);
        let base = fleet_topology(fleet_hosts, per_host, false);
        let new = format!("{base}  extra: {{host: h5, network: flannel}}\n");
        fleet_bench(
            "one container added (host-gw + routed VXLAN + NAT bridge)",
            &base,
            &new,
        );
    }
    if run("fleet-overlay") {
        let fleet_hosts = numbers.first().copied().unwrap_or(1000);
        let (base, new) = overlay_versions(fleet_hosts, per_host);
        fleet_bench("bridged VXLAN overlay", &base, &new);
    }
    if run("reach") {
        reach_bench(reach_hosts);
    }
    if run("policy") {
        policy_bench();
    }
}
