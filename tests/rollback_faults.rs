//! Fault injection proves rollback (issue 8, point 3). In-process: the same engine the CLI runs
//! (`lab::host_target`, `apply::prepare_change`, then apply), on simulated host node-1 of a lab
//! whose hosts only are up, with the kernel test seam (`kernel::fault`) failing the k-th step
//! request, for every k of the plan in turn:
//! - scenario A (create): fault-a.yaml on an empty host: namespaces, veth pairs, bridges, VXLAN,
//!   addresses, routes, neighbours, FDB, nftables (masquerade + published ports), a sysctl;
//! - scenario B (delete/replace/update): fault-b.yaml over fault-a.yaml applied: a container
//!   (namespace with contents, veth pair, its published port) and a whole routed VXLAN network
//!   (container, bridge, VXLAN with neighbour, FDB and route) deleted, the overlay VXLAN
//!   replaced (VNI change), an address replaced and a MAC and MTUs updated, a published port
//!   removed.
//!
//! After each failed apply, the rollback report must say the host is as it was, and the state
//! read by independent readers (`ip -j -d link/addr/route/neigh` in every namespace of the host,
//! `bridge -j fdb`, `nft -j list ruleset`, `ip netns list`, the sysctls the plans set) must equal
//! the state before the apply, once normalised (see [`normalise`]). Between two k the host is
//! cleaned only by the product's rollback: that is the point.
//!
//! Both scenarios also run with the k-th request carried out and then reported failed (a lost
//! reply), and a rollback is itself failed at each of its own requests j in turn. A third plan
//! (fault-bulk.yaml) has a wave of 24 neighbour and FDB entries, which go to the kernel in bulk:
//! a fault at its first, a middle and its last request rolls back the same way. Further tests:
//! the seam's numbering on a real kernel, and the comparison failing when rollback is off.

mod common;

use common::*;
use netplan_rs::apply;
use netplan_rs::kernel::fault::{FailAt, When};
use netplan_rs::kernel::{Kernel, KernelError, Target};
use netplan_rs::plan::Plan;
use netplan_rs::state::{Ns, ObjectKey, State};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const HOST: &str = "node-1";
const FILE_A: &str = "tests/fixtures/fault-a.yaml";
const FILE_B: &str = "tests/fixtures/fault-b.yaml";
const FILE_BULK: &str = "tests/fixtures/fault-bulk.yaml";
/// After this many failing k a scenario stops: later k would start from a host that a failed
/// rollback left changed, and each failing k waits out the settle deadline.
const MAX_FAILURES: usize = 6;

/// A lab named `npf<pid><tag>` (the test's prefix), torn down on drop.
fn lab(tag: &str) -> Lab {
    must_root();
    Lab {
        name: format!("npf{}{tag}", std::process::id()),
        file: repo_file(FILE_A),
    }
}

/// What the CLI's `apply FILE --lab L --host node-1` acts on and wants.
fn target_and_desired(lab: &Lab, file: &str) -> (Target, State) {
    let topo = netplan_rs::topology::load(&repo_file(file)).expect("topology");
    let mut target = netplan_rs::lab::host_target(&lab.name, HOST);
    target.claimed = Some(topo.claimed_prefixes());
    let desired = netplan_rs::compile::compile(&topo, HOST).expect("compile");
    let desired = target.localize(desired);
    (target, desired)
}

/// How one apply ended, in the terms the checks need.
#[derive(Debug, Default)]
struct Outcome {
    /// The failed step: its number in the plan (from 1), its object, the error, and whether the
    /// error is the injected fault.
    failed: Option<(usize, String, String, bool)>,
    /// A failure that is not a failed step (verify, interruption, ...).
    other: Option<String>,
    /// The rollback report: (as_it_was, not_restored, summary).
    rollback: Option<(bool, Vec<String>, String)>,
}

/// The apply entry point the CLI runs (`apply::run`), with rollback on (its default).
async fn run_apply(kernel: &mut Kernel, plan: &Plan, desired: &State) -> Outcome {
    let options = apply::Options::default();
    match apply::run(kernel, plan, desired, &options, |_| {}).await {
        Ok(report) => Outcome {
            other: (!report.remaining.is_empty()).then(|| {
                format!(
                    "not converged: {} step(s) left",
                    report.remaining.steps.len()
                )
            }),
            ..Outcome::default()
        },
        Err(apply::TransactionFailure { failure, rollback }) => {
            let rollback = rollback.map(|r| (r.as_it_was, r.not_restored.clone(), r.summary()));
            match failure {
                apply::ApplyFailure::Step(e) => Outcome {
                    failed: Some((
                        e.index,
                        e.step.key().to_string(),
                        e.to_string(),
                        matches!(e.source, KernelError::Injected { .. }),
                    )),
                    other: None,
                    rollback,
                },
                other => Outcome {
                    failed: None,
                    other: Some(other.to_string()),
                    rollback,
                },
            }
        }
    }
}

/// Independent dumps of node-1 and its containers, by section ("host link", "web addr", ...):
/// each a sorted list of normalised JSON objects, one per line.
type Dump = BTreeMap<String, Vec<String>>;

/// Remove what legitimately changes when an object is deleted and made again, or with time:
/// ifindex and the peer's ifindex/netnsid (kernel-allocated numbers), bridge port numbers (the
/// same), statistics, timers, nftables handles.
fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| {
                !matches!(
                    key.as_str(),
                    "ifindex" | "link_index" | "link_netnsid" | "stats" | "stats64" | "handle"
                ) && !key.ends_with("_timer")
            });
            map.values_mut().for_each(normalise);
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn lines(items: Vec<Value>) -> Vec<String> {
    let mut lines: Vec<String> = items
        .into_iter()
        .map(|mut v| {
            normalise(&mut v);
            v.to_string()
        })
        .collect();
    lines.sort();
    lines
}

fn state_is(v: &Value, wanted: &[&str]) -> bool {
    let is = |s: &Value| s.as_str().is_some_and(|s| wanted.contains(&s));
    match &v["state"] {
        Value::Array(states) => states.iter().any(is),
        s => is(s),
    }
}

fn json_array(text: &str) -> Vec<Value> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str(text) {
        Ok(Value::Array(items)) => items,
        other => panic!("unexpected JSON {other:?}"),
    }
}

/// The namespaces of node-1: the host's, then its containers'.
fn host_namespaces(lab: &Lab) -> Vec<String> {
    let mut all = vec![lab.host_ns(HOST)];
    let mut containers = lab.container_namespaces(HOST);
    containers.sort();
    all.extend(containers);
    all
}

/// The sections of one namespace (see [`dump`]).
fn dump_namespace(ns: &str, label: &str) -> Vec<(String, Vec<String>)> {
    let mut sections = Vec::new();
    let mut put = |what: &str, items: Vec<Value>| {
        sections.push((format!("{label} {what}"), lines(items)));
    };
    put("link", ip_json(ns, &["link", "show"]));
    put("addr", ip_json(ns, &["addr", "show"]));
    // Without a family: IPv4 and IPv6 routes, every table.
    put("route", ip_json(ns, &["route", "show", "table", "all"]));
    // Entries the kernel learns from traffic come and go; the configured ones are compared.
    let neigh = ip_json(ns, &["neigh", "show"]);
    put(
        "neigh",
        neigh
            .into_iter()
            .filter(|n| state_is(n, &["PERMANENT", "NOARP"]))
            .collect(),
    );
    let fdb = json_array(&run("bridge", &["-j", "-d", "-n", ns, "fdb", "show"]));
    put(
        "fdb",
        fdb.into_iter()
            .filter(|f| state_is(f, &["permanent", "static"]))
            .collect(),
    );
    let ruleset: Value =
        serde_json::from_str(&nft(ns, &["-j", "list", "ruleset"])).expect("nft -j list ruleset");
    put(
        "nft",
        ruleset["nftables"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o.get("metainfo").is_none())
            .collect(),
    );
    sections
}

fn dump(lab: &Lab, sysctls: &[(Ns, String)]) -> Dump {
    let host = lab.host_ns(HOST);
    let spaces = host_namespaces(lab);
    let mut d = Dump::new();
    d.insert("netns list".into(), spaces[1..].to_vec());
    // One reader thread per namespace: the readers are processes, mostly waiting to start.
    let per_namespace: Vec<Vec<(String, Vec<String>)>> = std::thread::scope(|scope| {
        let readers: Vec<_> = spaces
            .iter()
            .map(|ns| {
                let label = match ns.strip_prefix(&format!("{host}-")) {
                    Some(container) => container.to_string(),
                    None => "host".to_string(),
                };
                scope.spawn(move || dump_namespace(ns, &label))
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("reader thread"))
            .collect()
    });
    d.extend(per_namespace.into_iter().flatten());
    for (ns, key) in sysctls {
        let name = match ns {
            Ns::Host => host.clone(),
            Ns::Container(c) => lab.container_ns(HOST, c),
        };
        let value = if spaces.contains(&name) {
            let out = Command::new("ip")
                .args(["netns", "exec", &name, "sysctl", "-n", key])
                .output()
                .expect("sysctl");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        } else {
            "(no namespace)".to_string()
        };
        d.insert(format!("sysctl {ns}/{key}"), vec![value]);
    }
    d
}

/// Wait (up to 30 s) until the kernel has settled in the namespaces of node-1: links' carrier
/// processed (see `common::wait_settled`) and no IPv6 address tentative any more. A link made
/// again by a rollback gets its link-local address back only after duplicate address detection
/// (1-2 s of kernel timers; its local route appears then), which is not a difference.
fn settle(lab: &Lab) {
    let namespaces = host_namespaces(lab);
    wait_settled(&namespaces);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tentative: Vec<String> = namespaces
            .iter()
            .flat_map(|ns| {
                ip_json(ns, &["-6", "addr", "show", "tentative"])
                    .into_iter()
                    .filter(|l| l["addr_info"].as_array().is_some_and(|a| !a.is_empty()))
                    .map(move |l| format!("{ns}/{}", l["ifname"].as_str().unwrap_or("?")))
            })
            .collect();
        if tentative.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "IPv6 addresses still tentative: {tentative:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`dump`] once the kernel has [`settle`]d, and, if it differs from `expected`, again until it
/// matches or a short deadline passes (a kernel work item may still be on its way), so that only
/// lasting differences count.
fn settled_dump(lab: &Lab, sysctls: &[(Ns, String)], expected: &Dump) -> Dump {
    settle(lab);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let d = dump(lab, sysctls);
        if d == *expected || Instant::now() > deadline {
            return d;
        }
        std::thread::sleep(Duration::from_millis(100));
        settle(lab);
    }
}

/// The state to compare with: [`dump`] once settled.
fn baseline(lab: &Lab, sysctls: &[(Ns, String)]) -> Dump {
    settle(lab);
    dump(lab, sysctls)
}

/// The lines that differ, by section: "- " only before, "+ " only after; an object on both
/// sides (same name, destination, MAC, rule...) as its changed fields only ("~ ").
fn differences(before: &Dump, after: &Dump) -> Vec<String> {
    let empty = Vec::new();
    let mut out = Vec::new();
    let sections: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for section in sections {
        let b = before.get(section).unwrap_or(&empty);
        let a = after.get(section).unwrap_or(&empty);
        let gone: Vec<&String> = b.iter().filter(|l| !a.contains(l)).collect();
        let mut new: Vec<&String> = a.iter().filter(|l| !b.contains(l)).collect();
        for line in gone {
            let old = flatten(line);
            let id = identity(&old);
            match new
                .iter()
                .position(|n| !id.is_empty() && identity(&flatten(n)) == id)
            {
                Some(i) => {
                    let now = flatten(new.remove(i));
                    let fields: Vec<String> = old
                        .keys()
                        .chain(now.keys())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .filter(|k| old.get(*k) != now.get(*k))
                        .map(|k| {
                            let show =
                                |v: Option<&String>| v.map_or("(none)", |s| s.as_str()).to_string();
                            format!("{k}: {} -> {}", show(old.get(k)), show(now.get(k)))
                        })
                        .collect();
                    out.push(format!("{section}: ~ {id}: {}", fields.join(", ")));
                }
                None => out.push(format!("{section}: - {line}")),
            }
        }
        for line in new {
            out.push(format!("{section}: + {line}"));
        }
    }
    out
}

/// A dump line as `path = value` pairs (`linkinfo.info_data.vni`, `addr_info.0.local`, ...).
fn flatten(line: &str) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        let join = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match v {
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(&join(k), v, out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(&join(&i.to_string()), v, out)),
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        "",
        &serde_json::from_str(line).unwrap_or(Value::Null),
        &mut out,
    );
    out
}

/// What names an object in a dump line (empty: nothing does).
fn identity(fields: &BTreeMap<String, String>) -> String {
    const NAMES: [&str; 12] = [
        "ifname",
        "dev",
        "dst",
        "table",
        "type",
        "mac",
        "lladdr",
        "table.name",
        "chain.name",
        "rule.chain",
        "rule.comment",
        "set.name",
    ];
    NAMES
        .iter()
        .filter_map(|k| fields.get(*k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sysctls a plan sets (so they are dumped before and after).
fn sysctls_of(plans: &[&Plan]) -> Vec<(Ns, String)> {
    let mut out: Vec<(Ns, String)> = vec![(Ns::Host, "net.ipv4.ip_forward".into())];
    for plan in plans {
        for step in &plan.steps {
            if let ObjectKey::Sysctl { ns, key } = &step.key() {
                out.push((ns.clone(), key.clone()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Fail the apply of `desired` at every k in turn; after each, check the report and the dumps
/// against the state before. Returns (passed, total k, what failed).
async fn every_k(
    lab: &Lab,
    target: &Target,
    desired: &State,
    sysctls: &[(Ns, String)],
    mut before: Dump,
    when: When,
) -> (usize, usize, Vec<String>) {
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut total = None;
    let mut k = 1;
    loop {
        let (mut kernel, plan) = apply::prepare_change(target.clone(), desired)
            .await
            .expect("prepare");
        let steps = plan.steps.len();
        let total = *total.get_or_insert(steps);
        if steps != total {
            failures.push(format!(
                "k={k}: the plan now has {steps} steps, not {total}: a rollback left the host changed"
            ));
        }
        if k > total || failures.len() >= MAX_FAILURES {
            break;
        }
        assert!(plan.conflicts.is_empty(), "conflicts: {:?}", plan.conflicts);
        kernel.inject_when(FailAt(k), when);
        let outcome = run_apply(&mut kernel, &plan, desired).await;
        let injected = kernel.injected();
        let mut problems = Vec::new();
        let step = match (&injected, &outcome.failed) {
            (Some(fault), Some((index, key, message, is_injected))) => {
                if fault.k != k || *key != fault.object || !is_injected {
                    problems.push(format!(
                        "failed at step {index} ({key}: {message}), not at the injected fault {fault:?}"
                    ));
                }
                format!(
                    "step {index} {key}{}",
                    if fault.in_batch.is_some() {
                        " (nft batch)"
                    } else {
                        ""
                    }
                )
            }
            (None, _) => {
                problems.push(format!("the fault at request {k} never fired: {outcome:?}"));
                "?".to_string()
            }
            (Some(fault), None) => {
                problems.push(format!("the apply did not fail at {fault:?}: {outcome:?}"));
                fault.object.clone()
            }
        };
        if let Some(other) = &outcome.other {
            problems.push(format!("apply also reported: {other}"));
        }
        match &outcome.rollback {
            Some((true, not_restored, summary))
                if not_restored.is_empty()
                    && summary
                        .to_lowercase()
                        .starts_with("rolled back: the host is as it was") =>
            {
                eprintln!("k={k}: {step} failed; {summary}");
            }
            Some((_, _, summary)) => problems.push(format!("rollback report: {summary}")),
            None => problems.push("no rollback report".to_string()),
        }
        drop(kernel);
        let after = settled_dump(lab, sysctls, &before);
        let diff = differences(&before, &after);
        if !diff.is_empty() {
            problems.push(format!(
                "the host differs from before the apply:\n    {}",
                diff.join("\n    ")
            ));
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("k={k} ({step}): {}", problems.join("; ")));
        }
        before = after;
        k += 1;
    }
    (passed, total.unwrap_or(0), failures)
}

/// Apply `desired` without a fault; it must succeed and converge.
async fn apply_clean(target: &Target, desired: &State) {
    let (mut kernel, plan) = apply::prepare_change(target.clone(), desired)
        .await
        .expect("prepare");
    let outcome = run_apply(&mut kernel, &plan, desired).await;
    assert!(
        outcome.failed.is_none() && outcome.other.is_none(),
        "{outcome:?}"
    );
}

fn verdict(name: &str, (passed, total, failures): (usize, usize, Vec<String>)) {
    eprintln!("{name}: {passed}/{total} k");
    assert!(total >= 10, "{name}: a plan of only {total} steps");
    assert!(
        failures.is_empty() && passed == total,
        "{name}: {passed}/{total} k passed; failures:\n{}",
        failures.join("\n")
    );
}

/// Run `jobs` at once, each on its own thread with its own runtime, and fail if any failed
/// (after all ended, so every lab is torn down). Most of a k's time is kernel timers (duplicate
/// address detection), not CPU, so scenarios on different labs overlap well even on 2 cores.
fn concurrently(jobs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>) {
    let results: Vec<std::thread::Result<()>> = std::thread::scope(|scope| {
        let threads: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                scope.spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(job)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join()).collect()
    });
    for result in results {
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Scenario A, the fault failing its request `when` says.
async fn scenario_a(tag: &str, when: When, name: &str) {
    let lab = lab(tag);
    lab.up_hosts_only();
    let (target, desired) = target_and_desired(&lab, FILE_A);
    let (_, plan) = apply::prepare(target.clone(), &desired)
        .await
        .expect("prepare");
    let sysctls = sysctls_of(&[&plan]);
    let kinds: std::collections::BTreeSet<&str> =
        plan.steps.iter().map(|s| s.key().kind()).collect();
    eprintln!("plan: {} steps, kinds {kinds:?}", plan.steps.len());
    for kind in [
        "namespace",
        "link",
        "address",
        "route",
        "neighbour",
        "fdb",
        "nft_table",
        "nft_chain",
        "nft_rule",
        "sysctl",
    ] {
        assert!(kinds.contains(kind), "the plan has no {kind} step");
    }
    let baseline = baseline(&lab, &sysctls);
    let result = every_k(&lab, &target, &desired, &sysctls, baseline, when).await;
    verdict(name, result);
}

/// Scenario A: every k, the k-th request failing before it is sent; and every k, the k-th request
/// carried out and then reported failed (a lost reply: apply does not count it as applied, the
/// rollback must undo it all the same). Two labs, at once.
#[test]
fn a_create_plan_failed_at_every_step_rolls_back_to_the_empty_host() {
    concurrently(vec![
        Box::pin(scenario_a("a", When::BeforeSending, "A")),
        Box::pin(scenario_a("c", When::AfterSending, "A (after sending)")),
    ]);
}

/// The bulk scenario: fault-bulk.yaml on an empty node-1, the fault at the first, a middle and
/// the last request of its wave of neighbour and FDB entries (sent in bulk), failing `when` says.
async fn scenario_bulk(tag: &str, when: When) {
    let lab = Lab {
        name: format!("npf{}{tag}", std::process::id()),
        file: repo_file(FILE_BULK),
    };
    lab.up_hosts_only();
    let (target, desired) = target_and_desired(&lab, FILE_BULK);
    let (_, plan) = apply::prepare(target.clone(), &desired)
        .await
        .expect("prepare");
    // Requests are numbered in hand-over order, wave by wave (the plan has no nftables
    // transaction, so every step of a wave is handed over in plan order).
    let waves = apply::waves(&plan);
    let is_entry = |i: usize| matches!(plan.steps[i].key().kind(), "neighbour" | "fdb");
    let (before_bulk, bulk) = waves
        .iter()
        .scan(0, |handed, wave| {
            let members: Vec<usize> = wave.iter().flat_map(|g| g.members()).collect();
            let first = *handed;
            *handed += members.len();
            Some((first, members))
        })
        .max_by_key(|(_, members)| members.iter().filter(|&&i| is_entry(i)).count())
        .expect("a wave");
    let entries: Vec<usize> = (0..bulk.len()).filter(|&p| is_entry(bulk[p])).collect();
    assert!(entries.len() >= 24, "{} entries in one wave", entries.len());
    let sysctls = sysctls_of(&[&plan]);
    let mut before = baseline(&lab, &sysctls);
    for p in [
        entries[0],
        entries[entries.len() / 2],
        entries[entries.len() - 1],
    ] {
        let k = before_bulk + p + 1;
        let want = plan.steps[bulk[p]].key().to_string();
        let (mut kernel, plan) = apply::prepare_change(target.clone(), &desired)
            .await
            .expect("prepare");
        kernel.inject_when(FailAt(k), when);
        let outcome = run_apply(&mut kernel, &plan, &desired).await;
        let fault = kernel.injected().expect("the fault fired");
        assert_eq!(
            (fault.k, fault.object.as_str()),
            (k, want.as_str()),
            "{when:?}"
        );
        let (_, key, message, injected) = outcome.failed.clone().expect("a failed step");
        assert!(key == want && injected, "{when:?} k={k}: {key}: {message}");
        let (as_it_was, not_restored, summary) = outcome.rollback.clone().expect("rolled back");
        assert!(
            as_it_was && not_restored.is_empty(),
            "{when:?} k={k}: {summary}"
        );
        drop(kernel);
        let after = settled_dump(&lab, &sysctls, &before);
        let diff = differences(&before, &after);
        assert!(
            diff.is_empty(),
            "{when:?} k={k}: the host differs:\n{}",
            diff.join("\n")
        );
        before = after;
    }
}

/// A fault among entries sent in bulk fails that step and rolls back like any other, whether
/// the kernel never saw the request or carried it out (both, on two labs at once).
#[test]
fn a_fault_among_entries_sent_in_bulk_rolls_back_to_the_empty_host() {
    concurrently(vec![
        Box::pin(scenario_bulk("v", When::BeforeSending)),
        Box::pin(scenario_bulk("w", When::AfterSending)),
    ]);
}

/// Scenario B, the fault failing its request `when` says.
async fn scenario_b(tag: &str, when: When, name: &str) {
    let lab = lab(tag);
    lab.up_hosts_only();
    let (target_a, desired_a) = target_and_desired(&lab, FILE_A);
    let (target, desired) = target_and_desired(&lab, FILE_B);
    let (_, plan_a) = apply::prepare(target_a.clone(), &desired_a)
        .await
        .expect("prepare");
    apply_clean(&target_a, &desired_a).await;
    let (_, plan) = apply::prepare(target.clone(), &desired)
        .await
        .expect("prepare");
    let sysctls = sysctls_of(&[&plan_a, &plan]);
    let actions: Vec<String> = plan
        .steps
        .iter()
        .map(|s| format!("{:?} {}", s.action(), s.key()))
        .collect();
    eprintln!("plan B: {} steps: {actions:#?}", plan.steps.len());
    for (what, found) in [
        ("deletes namespace db", "Delete namespace db"),
        ("deletes the flannel VXLAN", "Delete link host/vx-flannel"),
        ("deletes an address", "Delete address docker1/eth0"),
        ("replaces the overlay VXLAN", "Replace link host/vx-overlay"),
        ("updates br-local", "Update link host/br-local"),
        ("deletes a published port", "Delete nft_rule"),
    ] {
        assert!(
            actions.iter().any(|a| a.starts_with(found)),
            "plan B never {what}"
        );
    }
    let baseline = baseline(&lab, &sysctls);
    let result = every_k(&lab, &target, &desired, &sysctls, baseline, when).await;
    verdict(name, result);
}

/// Scenario B, in both modes like scenario A.
#[test]
fn a_delete_replace_update_plan_failed_at_every_step_rolls_back_to_the_previous_topology() {
    concurrently(vec![
        Box::pin(scenario_b("b", When::BeforeSending, "B")),
        Box::pin(scenario_b("d", When::AfterSending, "B (after sending)")),
    ]);
}

fn bridge(name: &str) -> netplan_rs::state::Object {
    netplan_rs::state::Object::Link(netplan_rs::state::Link {
        ns: Ns::Host,
        name: name.into(),
        kind: netplan_rs::state::LinkKind::Bridge,
        mac: None,
        mtu: None,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    })
}

/// Removes the intent journal a failed `apply::execute` leaves for its target (see
/// `apply::journal`), so that the run directory keeps nothing of a test host.
struct JournalGuard(Target);

impl Drop for JournalGuard {
    fn drop(&mut self) {
        let _ = apply::journal::clear(&self.0);
    }
}

/// The seam itself, on a real kernel: three independent bridges and an nftables table and chain,
/// in one wave: the bridges sent concurrently, then the nftables run as one transaction. k numbers the requests in the order they
/// are handed over, whatever order the concurrent ones finish in; a k inside the transaction
/// fails all of it before anything is sent; the fault fires once. After sending, the request is
/// carried out (the whole transaction, for a k inside it) and reported failed. Plain `apply::execute`
/// (no rollback): what was applied stays, and `ip`/`nft` show it.
#[tokio::test]
async fn the_seam_fails_the_kth_request_in_hand_over_order_and_a_batch_whole() {
    use netplan_rs::state::{NftChain, NftHook, NftTable, Object};
    let steps = || {
        let mut steps: Vec<netplan_rs::plan::Step> = ["br-a", "br-b", "br-c"]
            .into_iter()
            .map(|n| netplan_rs::plan::Step::create(bridge(n), None))
            .collect();
        steps.push(netplan_rs::plan::Step::create(
            Object::NftTable(NftTable {
                ns: Ns::Host,
                name: "netplan-rs".into(),
                owned: true,
            }),
            None,
        ));
        steps.push(netplan_rs::plan::Step::create(
            Object::NftChain(NftChain {
                ns: Ns::Host,
                table: "netplan-rs".into(),
                name: "prerouting".into(),
                chain_type: "nat".into(),
                hook: Some(NftHook::Prerouting),
                priority: -100,
                owned: true,
            }),
            None,
        ));
        netplan_rs::plan::sorted(steps)
    };
    let bridges = |ns: &str| -> Vec<String> {
        let mut names: Vec<String> = link_names(ns)
            .into_iter()
            .filter(|n| n.starts_with("br-"))
            .collect();
        names.sort();
        names
    };
    let cases = (1..=6).flat_map(|k| [(k, When::BeforeSending), (k, When::AfterSending)]);
    for (k, when) in cases {
        let after = when == When::AfterSending;
        let host = NetnsHost::new("npfseam");
        let _journal = JournalGuard(host.target());
        let mut kernel = Kernel::connect(host.target()).await.expect("connect");
        let plan = steps();
        assert_eq!(apply::waves(&plan).len(), 1, "one wave");
        let keys: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
        // Hand-over order: the single requests in plan order, then the transaction's steps.
        let (mut order, nft): (Vec<String>, Vec<String>) =
            keys.iter().cloned().partition(|k| k.starts_with("link"));
        order.extend(nft);
        kernel.inject_when(FailAt(k), when);
        let result = apply::execute(&mut kernel, &plan, |_| {}).await;
        // A failed single request stops the run before the transaction (the rest of its wave
        // completes); carried out and reported failed, it stops it all the same.
        assert_eq!(
            kernel.requests(),
            if k <= 3 { 3 } else { 5 },
            "k={k} {when:?}"
        );
        if k > 5 {
            result.expect("no request number 6: nothing fails");
            assert!(kernel.injected().is_none());
            assert_eq!(bridges(&host.name), ["br-a", "br-b", "br-c"]);
            assert!(nft_table(&host.name).is_some());
            continue;
        }
        let fault = kernel.injected().expect("fired");
        assert_eq!((fault.k, fault.when), (k, when));
        assert_eq!(
            fault.object,
            order[k - 1],
            "k={k}: numbered in hand-over order"
        );
        let err = result
            .expect_err("the fault fails the apply")
            .into_step()
            .expect("a failed step");
        let position = keys.iter().position(|key| *key == fault.object).unwrap();
        assert_eq!(err.index, position + 1, "{err}");
        assert!(matches!(err.source, KernelError::Injected { .. }), "{err}");
        assert!(err.to_string().contains("injected fault"), "{err}");
        assert_eq!(err.to_string().contains("was carried out"), after, "{err}");
        if k <= 3 {
            // The rest of the wave was applied, the transaction never started; the failed
            // request itself was carried out only after sending.
            let mut left: Vec<&str> = vec!["br-a", "br-b", "br-c"];
            if !after {
                left.retain(|b| fault.object != format!("link host/{b}"));
                assert_eq!(left.len(), 2);
            }
            assert_eq!(bridges(&host.name), left, "k={k} {when:?}");
            assert!(nft_table(&host.name).is_none());
            assert_eq!(fault.in_batch, None);
            assert!(err.batch.is_none());
        } else {
            let batch = err.batch.clone().expect("the nft transaction");
            assert_eq!(batch.nothing_applied, !after, "k={k} {when:?}");
            let first = keys.iter().position(|key| key.starts_with("nft")).unwrap() + 1;
            assert_eq!((batch.first, batch.last), (first, first + 1));
            assert_eq!(fault.in_batch, Some(k - 4));
            assert_eq!(bridges(&host.name), ["br-a", "br-b", "br-c"]);
            assert_eq!(
                nft_table(&host.name).is_some(),
                after,
                "k={k} {when:?}: the batch was sent {}",
                if after { "not" } else { "in part" }
            );
        }
    }
}

/// The comparison can fail: with rollback off (`--no-rollback`), an apply failed half-way
/// leaves a host whose dumps differ from before in the sections the applied steps touched;
/// `netplan-rs rollback`'s core (`transaction::roll_back`) then restores dumps equal to before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rollback_the_dumps_differ_and_a_later_rollback_restores_them() {
    let lab = lab("n");
    lab.up_hosts_only();
    let (target, desired) = target_and_desired(&lab, FILE_A);
    let (mut kernel, plan) = apply::prepare_change(target.clone(), &desired)
        .await
        .expect("prepare");
    let sysctls = sysctls_of(&[&plan]);
    let before = baseline(&lab, &sysctls);
    // Half-way: the namespaces and links are there, the routes are not.
    let k = plan.steps.len() / 2;
    kernel.inject(FailAt(k));
    let options = apply::Options {
        rollback: false,
        ..apply::Options::default()
    };
    let failure = apply::run(&mut kernel, &plan, &desired, &options, |_| {})
        .await
        .expect_err("the fault fails the apply");
    assert!(failure.rollback.is_none(), "rolled back with rollback off");
    assert!(kernel.injected().is_some());
    let after = settled_dump(&lab, &sysctls, &before);
    let diff = differences(&before, &after);
    for section in ["netns list", "host link", "host addr"] {
        assert!(
            diff.iter().any(|d| d.starts_with(&format!("{section}: "))),
            "no difference in {section}: {diff:#?}"
        );
    }
    let report = apply::transaction::roll_back(&mut kernel)
        .await
        .expect("roll back")
        .expect("an unfinished apply to roll back");
    assert!(report.as_it_was, "{}", report.summary());
    let restored = settled_dump(&lab, &sysctls, &before);
    let diff = differences(&before, &restored);
    assert!(diff.is_empty(), "after rollback:\n{}", diff.join("\n"));
}

/// A rollback that fails at one of its own requests still restores the host: its next round
/// observes again and redoes what failed. For every j: topology B applied in full over A (its
/// last request carried out, then reported failed, rollback off), then `transaction::roll_back`
/// (the core of `netplan-rs rollback`, the same restore apply runs) with a fault at its j-th
/// request; the report must say the host is as it was, and the dumps must equal A's.
#[test]
fn a_rollback_failing_at_any_of_its_own_requests_still_restores_the_host() {
    concurrently(vec![
        Box::pin(rollback_faults("r", 0, 2)),
        Box::pin(rollback_faults("s", 1, 2)),
    ]);
}

/// The j of [`a_rollback_failing_at_any_of_its_own_requests_still_restores_the_host`] with
/// `j % parts == part`, on lab `tag` (and j = 0, which counts the requests).
async fn rollback_faults(tag: &str, part: usize, parts: usize) {
    let lab = lab(tag);
    lab.up_hosts_only();
    let (target_a, desired_a) = target_and_desired(&lab, FILE_A);
    let (target, desired) = target_and_desired(&lab, FILE_B);
    let (_, plan_a) = apply::prepare(target_a.clone(), &desired_a)
        .await
        .expect("prepare");
    apply_clean(&target_a, &desired_a).await;
    let (_, plan_b) = apply::prepare(target.clone(), &desired)
        .await
        .expect("prepare");
    let sysctls = sysctls_of(&[&plan_a, &plan_b]);
    let mut before = baseline(&lab, &sysctls);
    let no_rollback = apply::Options {
        rollback: false,
        ..apply::Options::default()
    };
    let (mut passed, mut tested, mut failures, mut total) = (0, 0, Vec::new(), None);
    let mut j = 0;
    while total.is_none_or(|t| j <= t) && failures.len() < MAX_FAILURES {
        let (mut kernel, plan) = apply::prepare_change(target.clone(), &desired)
            .await
            .expect("prepare");
        assert_eq!(plan.steps.len(), plan_b.steps.len(), "j={j}: not back at A");
        kernel.inject_when(FailAt(plan.steps.len()), When::AfterSending);
        let failure = apply::run(&mut kernel, &plan, &desired, &no_rollback, |_| {})
            .await
            .expect_err("the last request is reported failed");
        assert!(failure.rollback.is_none());
        // j = 0 never fires: it counts the requests of an undisturbed rollback.
        kernel.inject(FailAt(j));
        let report = apply::transaction::roll_back(&mut kernel)
            .await
            .expect("roll back")
            .expect("the before-image of the failed apply");
        let requests = *total.get_or_insert(kernel.requests());
        let mut problems = Vec::new();
        let fired = kernel.injected();
        match (&fired, j) {
            (None, 0) => {}
            (Some(fault), j) if j > 0 => eprintln!(
                "j={j}/{requests}: {} failed; {}",
                fault.object,
                report.summary()
            ),
            _ => problems.push(format!("the fault at {j} fired as {fired:?}")),
        }
        if !report.as_it_was {
            problems.push(report.summary());
        }
        let after = settled_dump(&lab, &sysctls, &before);
        let diff = differences(&before, &after);
        if !diff.is_empty() {
            problems.push(format!("differs from A:\n    {}", diff.join("\n    ")));
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("j={j}: {}", problems.join("; ")));
        }
        before = after;
        tested += 1;
        j += 1;
        while j % parts != part {
            j += 1;
        }
    }
    let total = total.unwrap_or(0);
    eprintln!(
        "rollback faults (j % {parts} == {part}, and j = 0: none): {passed}/{tested} j of {total}"
    );
    assert!(total >= 10, "a rollback of only {total} requests");
    assert!(
        failures.is_empty(),
        "{passed}/{tested} j passed; failures:\n{}",
        failures.join("\n")
    );
}
