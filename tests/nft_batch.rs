//! nftables steps as one transaction, on the real kernel, in fresh namespaces (named
//! `npnft-<pid>-<n>`, deleted by a Drop guard even when a test fails). `nft -j` is the
//! independent reader:
//! - 2000 published ports (4001 rules) applied in one go all exist afterwards;
//! - a batch with a rule the kernel rejects (its chain does not exist) applies none of the
//!   batch, not even the deletion of an existing rule in it; the error names the step, says the
//!   transaction was rolled back, and the step before the batch (a bridge) did run;
//! - deleting a rule that is already gone still counts as done inside a batch.

mod common;

use common::*;
use netplan_rs::apply::{self, NftBatch};
use netplan_rs::kernel::Kernel;
use netplan_rs::plan::{Plan, Step};
use netplan_rs::state::{
    L4Proto, Link, LinkKind, NatRule, NftChain, NftHook, NftRule, NftTable, Ns, Object, State,
};
use serde_json::Value;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

/// Every table in `ns`, as `nft -j list tables` names them.
fn nft_tables(ns: &str) -> Vec<String> {
    let doc: Value = serde_json::from_str(&nft(ns, &["-j", "list", "tables"])).expect("nft json");
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("table"))
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn has_link(ns: &str, name: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", "dev", name])
        .output()
        .expect("running ip")
        .status
        .success()
}

/// (chain, comment, handle) of every rule in a listing.
fn rules(listing: &[Value]) -> Vec<(String, String, u64)> {
    listing
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| {
            (
                r["chain"].as_str().unwrap_or_default().to_string(),
                r["comment"].as_str().unwrap_or_default().to_string(),
                r["handle"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// One host, a bridge network with `nat: true`, `containers` x `ports_each` published ports.
fn nat_topology(containers: usize, ports_each: usize) -> String {
    let mut y = String::from(
        "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24, interface: eth0 }
networks:
  local: { driver: bridge, subnet: 10.88.0.0/16, nat: true }
containers:
",
    );
    for c in 0..containers {
        let ports: Vec<String> = (0..ports_each)
            .map(|p| format!("\"{}:80/tcp\"", 10000 + c * ports_each + p))
            .collect();
        let _ = writeln!(
            y,
            "  c{c}: {{ host: node-1, network: local, ports: [{}] }}",
            ports.join(", ")
        );
    }
    y
}

#[tokio::test]
async fn two_thousand_published_ports_in_one_transaction() {
    let host = NetnsHost::new("npnft");
    let topo = netplan_rs::topology::load_str(&nat_topology(20, 100), "t.yaml").expect("load");
    let compiled = netplan_rs::compile::compile(&topo, "node-1").expect("compile");
    // Only the table: the rules need no links (they match names and addresses).
    let mut desired = State::default();
    for object in compiled.iter() {
        if matches!(
            object,
            Object::NftTable(_) | Object::NftChain(_) | Object::NftRule(_)
        ) {
            desired.insert(object.clone());
        }
    }
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    let observed = kernel.observe().await.expect("observe");
    let plan = netplan_rs::plan::diff(&desired, &observed);
    assert_eq!(plan.steps.len(), 1 + 3 + 4001);
    let mut progress = 0;
    let started = Instant::now();
    let report = apply::apply(&mut kernel, &plan, &desired, |_| progress += 1)
        .await
        .expect("apply");
    eprintln!(
        "applied {} nft steps (with verification) in {:?}",
        plan.steps.len(),
        started.elapsed()
    );
    assert_eq!(progress, plan.steps.len(), "one progress line per step");
    assert_eq!(report.added, plan.steps.len());
    assert!(report.remaining.is_empty(), "{:?}", report.remaining.steps);

    let listing = nft_table(&host.name).expect("table");
    let rules = rules(&listing);
    assert_eq!(rules.len(), 4001);
    let dnat = |chain: &str| {
        rules
            .iter()
            .filter(|(c, comment, _)| c == chain && comment.starts_with("dnat tcp "))
            .count()
    };
    assert_eq!(dnat("prerouting"), 2000);
    assert_eq!(dnat("output"), 2000);
    assert!(
        rules
            .iter()
            .any(|(_, comment, _)| comment.starts_with("masquerade 10.88.0.0/16"))
    );
    assert!(
        rules
            .iter()
            .any(|(_, comment, _)| comment == "dnat tcp 11999 -> 10.88.0.21:80"),
        "last port"
    );

    // Destroy: one step (the table), then nothing is left.
    let empty = State::default();
    let observed = kernel.observe().await.expect("observe");
    let destroy = netplan_rs::plan::diff(&empty, &observed);
    let report = apply::apply(&mut kernel, &destroy, &empty, |_| {})
        .await
        .expect("destroy");
    assert!(report.remaining.is_empty());
    assert!(nft_table(&host.name).is_none());
}

fn table() -> Object {
    Object::NftTable(NftTable {
        ns: Ns::Host,
        name: "netplan-rs".into(),
        owned: true,
    })
}

fn chain(name: &str) -> Object {
    Object::NftChain(NftChain {
        ns: Ns::Host,
        table: "netplan-rs".into(),
        name: name.into(),
        chain_type: "nat".into(),
        hook: Some(NftHook::Prerouting),
        priority: -100,
        owned: true,
    })
}

fn rule(chain: &str, port: u16, handle: Option<u64>) -> Object {
    Object::NftRule(NftRule {
        ns: Ns::Host,
        table: "netplan-rs".into(),
        chain: chain.into(),
        id: format!("dnat tcp {port} -> 10.88.0.2:80"),
        rule: NatRule::Dnat {
            proto: L4Proto::Tcp,
            daddr: "192.168.31.183".parse().unwrap(),
            dport: port,
            to: "10.88.0.2".parse().unwrap(),
            to_port: 80,
        },
        handle,
        owned: true,
    })
}

fn create(object: Object) -> Step {
    Step::create(object, None)
}

/// The steps in the given order, one group at a time (no DAG): what these tests check is the
/// transaction, not the waves.
fn plan(steps: Vec<Step>) -> Plan {
    Plan::from_steps(steps)
}

#[tokio::test]
async fn a_rejected_rule_rolls_back_the_whole_transaction_and_is_named() {
    let host = NetnsHost::new("npnft");
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    let bridge = Object::Link(Link {
        ns: Ns::Host,
        name: "br-nft".into(),
        kind: LinkKind::Bridge,
        mac: None,
        mtu: None,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    });
    let bad = rule("nowhere", 8081, None);
    let steps = vec![
        create(bridge),
        create(table()),
        create(chain("prerouting")),
        create(rule("prerouting", 8080, None)),
        create(bad.clone()),
        create(rule("prerouting", 8082, None)),
    ];
    let mut progress = Vec::new();
    let err = apply::execute(&mut kernel, &plan(steps), |s| {
        progress.push(s.key().to_string())
    })
    .await
    .expect_err("the kernel must reject a rule in a chain that does not exist")
    .into_step()
    .expect("a failed step");
    let message = err.to_string();
    eprintln!("{message}");
    assert_eq!(err.index, 5);
    assert_eq!(err.total, 6);
    assert_eq!(err.step.key(), bad.key());
    assert_eq!(err.done, 1);
    assert_eq!(
        err.batch,
        Some(NftBatch {
            first: 2,
            last: 6,
            nothing_applied: true
        })
    );
    assert!(message.starts_with("step 5 of 6 failed: creating nft_rule host/netplan-rs/nowhere"));
    assert!(message.contains("No such file or directory"), "{message}");
    assert!(
        message.ends_with(
            "the kernel rolled back the whole nftables transaction (steps 2-6): none of it was applied"
        ),
        "{message}"
    );
    // Only the step before the transaction ran and was reported.
    assert_eq!(progress, vec!["link host/br-nft".to_string()]);
    assert!(has_link(&host.name, "br-nft"));
    assert!(
        nft_table(&host.name).is_none(),
        "part of the transaction was applied"
    );
    assert!(
        nft_tables(&host.name).is_empty(),
        "{:?}",
        nft_tables(&host.name)
    );

    // An existing table: a transaction deleting one of its rules and adding a bad one changes
    // nothing (the deletion is rolled back too).
    apply::execute(
        &mut kernel,
        &plan(vec![
            create(table()),
            create(chain("prerouting")),
            create(rule("prerouting", 8080, None)),
            create(rule("prerouting", 8082, None)),
        ]),
        |_| {},
    )
    .await
    .expect("a good transaction");
    let before = rules(&nft_table(&host.name).expect("table"));
    assert_eq!(before.len(), 2);
    let handle = before[0].2;
    let existing = rule("prerouting", 8080, Some(handle));
    let err = apply::execute(
        &mut kernel,
        &plan(vec![
            Step::delete(existing, None),
            create(rule("prerouting", 8083, None)),
            create(bad.clone()),
        ]),
        |_| {},
    )
    .await
    .expect_err("rejected")
    .into_step()
    .expect("a failed step");
    assert_eq!((err.index, err.done), (3, 0));
    assert_eq!(rules(&nft_table(&host.name).expect("table")), before);
}

#[tokio::test]
async fn deleting_a_rule_already_gone_counts_as_done_in_a_transaction() {
    let host = NetnsHost::new("npnft");
    let mut kernel = Kernel::connect(host.target()).await.expect("connect");
    apply::execute(
        &mut kernel,
        &plan(vec![
            create(table()),
            create(chain("prerouting")),
            create(rule("prerouting", 8080, None)),
        ]),
        |_| {},
    )
    .await
    .expect("setup");
    let listed = rules(&nft_table(&host.name).expect("table"));
    let handle = listed[0].2;
    let steps = vec![
        // Gone already (no such handle): the kernel says ENOENT, which must not fail the rest.
        Step::delete(rule("prerouting", 9999, Some(handle + 1000)), None),
        Step::delete(rule("prerouting", 8080, Some(handle)), None),
        create(rule("prerouting", 8081, None)),
    ];
    let mut progress = 0;
    apply::execute(&mut kernel, &plan(steps), |_| progress += 1)
        .await
        .expect("already gone is done");
    assert_eq!(progress, 3);
    let comments: Vec<String> = rules(&nft_table(&host.name).expect("table"))
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(comments, vec!["dnat tcp 8081 -> 10.88.0.2:80".to_string()]);
}

/// `Kernel::execute` on one nftables step takes the transaction path too: each step is applied
/// on its own, and deleting a rule already gone is done.
#[tokio::test]
async fn single_nftables_steps_execute_as_transactions_of_one() {
    let host = NetnsHost::new("npnft");
    let kernel = Kernel::connect(host.target()).await.expect("connect");
    for object in [table(), chain("prerouting"), rule("prerouting", 8080, None)] {
        kernel.execute(&create(object)).await.expect("create");
    }
    let listed = rules(&nft_table(&host.name).expect("table"));
    assert_eq!(listed.len(), 1);
    let handle = listed[0].2;
    let gone = Step::delete(rule("prerouting", 9999, Some(handle + 1000)), None);
    kernel.execute(&gone).await.expect("already gone is done");
    let delete = Step::delete(rule("prerouting", 8080, Some(handle)), None);
    kernel.execute(&delete).await.expect("delete");
    assert!(rules(&nft_table(&host.name).expect("table")).is_empty());
}
