//! Plans for the nftables objects (bridge NAT and published ports): creation order, drift made
//! by hand (a rule deleted, a rule edited, strangers in our table), destroy in one step, and a
//! table of the same name that netplan-rs does not own. Golden files as in `golden.rs`.

use super::golden::check;
use super::testutil::*;
use crate::plan::*;
use crate::state::{
    L4Proto, NFT_TABLE, NatRule, NftChain, NftHook, NftRule, NftTable, Ns, Object, ObjectKey, State,
};

fn table(owned: bool) -> Object {
    Object::NftTable(NftTable {
        ns: Ns::Host,
        name: NFT_TABLE.into(),
        owned,
    })
}

fn chain(hook: NftHook, priority: i32) -> Object {
    Object::NftChain(NftChain {
        ns: Ns::Host,
        table: NFT_TABLE.into(),
        name: hook.name().into(),
        chain_type: "nat".into(),
        hook: Some(hook),
        priority,
        owned: true,
    })
}

fn rule(chain: &str, id: &str, rule: NatRule, handle: Option<u64>) -> Object {
    Object::NftRule(NftRule {
        ns: Ns::Host,
        table: NFT_TABLE.into(),
        chain: chain.into(),
        id: id.into(),
        rule,
        handle,
        owned: true,
    })
}

fn masq() -> NatRule {
    NatRule::Masquerade {
        source: "192.168.200.0/24".parse().unwrap(),
        not_out: "br-local".into(),
    }
}

fn dnat() -> NatRule {
    NatRule::Dnat {
        proto: L4Proto::Tcp,
        daddr: "192.168.31.183".parse().unwrap(),
        dport: 8080,
        to: "192.168.200.2".parse().unwrap(),
        to_port: 80,
    }
}

const DNAT_ID: &str = "dnat tcp 8080 -> 192.168.200.2:80";
const MASQ_ID: &str = "masquerade 192.168.200.0/24 from br-local";

/// A bridge host with NAT and one published port, as compile makes it (observed: with handles).
fn nat_host(observed: bool) -> Vec<Object> {
    let h = |n| observed.then_some(n);
    vec![
        sysctl("host", "net.ipv4.ip_forward", "1"),
        table(true),
        chain(NftHook::Prerouting, -100),
        chain(NftHook::Output, -100),
        chain(NftHook::Postrouting, 100),
        rule("prerouting", DNAT_ID, dnat(), h(2)),
        rule("output", DNAT_ID, dnat(), h(4)),
        rule("postrouting", MASQ_ID, masq(), h(6)),
    ]
}

#[test]
fn golden_nat_create() {
    check(
        "nat_create",
        &state(nat_host(false)),
        &state([sysctl("host", "net.ipv4.ip_forward", "0")]),
    );
}

#[test]
fn golden_nat_no_changes_despite_handles() {
    check(
        "nat_no_changes",
        &state(nat_host(false)),
        &state(nat_host(true)),
    );
}

/// A rule deleted by hand, a rule edited by hand (decoded as unrecognised), a rule without our
/// id and a chain we never made: create, replace, delete, delete (the stranger chain's rule goes
/// with it).
#[test]
fn golden_nat_drift() {
    let mut observed = nat_host(true);
    observed.retain(|o| !matches!(o, Object::NftRule(r) if r.chain == "output"));
    for o in &mut observed {
        if let Object::NftRule(r) = o
            && r.chain == "postrouting"
        {
            r.rule = NatRule::Unrecognised {
                exprs: "[ counter ] [ masq ]".into(),
            };
        }
    }
    observed.push(rule(
        "prerouting",
        "handle 9",
        NatRule::Unrecognised {
            exprs: "[ counter ]".into(),
        },
        Some(9),
    ));
    let mut stray = chain(NftHook::Input, 0);
    if let Object::NftChain(c) = &mut stray {
        c.name = "extra".into();
        c.chain_type = "filter".into();
    }
    observed.push(stray);
    observed.push(rule(
        "extra",
        "handle 11",
        NatRule::Unrecognised {
            exprs: "[ counter ]".into(),
        },
        Some(11),
    ));
    check("nat_drift", &state(nat_host(false)), &state(observed));
}

#[test]
fn golden_nat_destroy() {
    check("nat_destroy", &State::default(), &state(nat_host(true)));
}

#[test]
fn a_table_we_do_not_own_is_a_conflict_and_never_deleted() {
    let observed = state([table(false)]);
    let plan = diff(&state(nat_host(false)), &observed);
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(
        plan.conflicts[0].key,
        ObjectKey::NftTable {
            ns: Ns::Host,
            name: NFT_TABLE.into()
        }
    );
    assert!(diff(&State::default(), &observed).is_empty());
}

#[test]
fn creation_goes_table_chain_rule_and_deletion_the_other_way() {
    let plan = diff(&state(nat_host(false)), &State::default());
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.key().kind()).collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    let last = |k: &str| kinds.iter().rposition(|x| *x == k).unwrap();
    assert!(last("nft_table") < first("nft_chain"));
    assert!(last("nft_chain") < first("nft_rule"));

    // Deleting a stray chain and its rules without the table: rules are swept with the chain
    // (it is flushed first), so only the chain is deleted.
    let mut observed = nat_host(true);
    let mut stray = chain(NftHook::Input, 0);
    if let Object::NftChain(c) = &mut stray {
        c.name = "extra".into();
    }
    observed.push(stray);
    observed.push(rule("extra", "handle 11", masq(), Some(11)));
    let plan = diff(&state(nat_host(false)), &state(observed));
    assert_eq!(plan.steps.len(), 1, "{:?}", plan.steps);
    assert_eq!(plan.steps[0].key().kind(), "nft_chain");
}

#[test]
fn a_rule_deleted_without_its_chain_is_deleted_before_the_chain() {
    // The file drops the published port entirely: prerouting/output chains and their rules go.
    let mut desired = nat_host(false);
    desired.retain(|o| match o {
        Object::NftChain(c) => c.name == "postrouting",
        Object::NftRule(r) => r.chain == "postrouting",
        _ => true,
    });
    let plan = diff(&state(desired), &state(nat_host(true)));
    let keys: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
    assert_eq!(
        keys,
        vec![
            "nft_chain host/netplan-rs/output",
            "nft_chain host/netplan-rs/prerouting"
        ]
    );
}

#[test]
fn a_chain_with_another_priority_is_replaced_and_its_rules_recreated_after_it() {
    let mut observed = nat_host(true);
    for o in &mut observed {
        if let Object::NftChain(c) = o
            && c.name == "postrouting"
        {
            c.priority = 0;
        }
    }
    let plan = diff(&state(nat_host(false)), &state(observed));
    let steps: Vec<(Action, String)> = plan
        .steps
        .iter()
        .map(|s| (s.action(), s.key().to_string()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (
                Action::Replace,
                "nft_chain host/netplan-rs/postrouting".to_string()
            ),
            (
                Action::Create,
                format!("nft_rule host/netplan-rs/postrouting \"{MASQ_ID}\"")
            ),
        ]
    );
    assert_eq!(
        plan.steps[0].reason(),
        Some("priority cannot change in place")
    );
}
