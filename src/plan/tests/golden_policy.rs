//! Plans for the policy rules of `tests/fixtures/policy.yaml` (node-1): creation order (chains and
//! sets before the rules that use them; in a base chain the jumps before `established`, which
//! is therefore inserted on top of them, and the drop appended last), a set's elements changed
//! in place, drift of rules and sets repaired, and deletion in reverse. Golden files as in
//! `golden.rs`.

use super::golden::check;
use crate::plan::*;
use crate::state::{NatRule, NftRule, Object, SetElement, State};

/// node-1 of the fixture, as compile makes it.
fn desired() -> State {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy.yaml");
    let topo = crate::topology::load(&path).unwrap_or_else(|e| panic!("{e}"));
    crate::compile::compile(&topo, "node-1").expect("compile node-1")
}

/// Only the nftables objects (the plans below are about them).
fn nft(state: State) -> State {
    state.iter().filter(|o| o.key().is_nft()).cloned().collect()
}

/// What the kernel reports once applied: the same objects, rules with handles.
fn observed() -> State {
    let mut state = nft(desired());
    for (n, o) in state.objects.values_mut().enumerate() {
        if let Object::NftRule(r) = o {
            r.handle = Some(n as u64);
        }
    }
    state
}

/// Replays the creation of `plan`'s rules in `chain` as the kernel does it (`at_head` rules
/// inserted at the top, the others appended) and returns the chain's rules in kernel order.
fn chain_after_create(plan: &Plan, chain: &str) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    for step in &plan.steps {
        if let Step::Create(c) = step
            && let Object::NftRule(NftRule {
                chain: ch,
                id,
                rule,
                ..
            }) = &c.object
            && ch == chain
        {
            if rule.at_head() {
                rules.insert(0, id.clone());
            } else {
                rules.push(id.clone());
            }
        }
    }
    rules
}

#[test]
fn golden_policy_create() {
    let want = nft(desired());
    check("policy_create", &want, &State::default());
    let plan = diff(&want, &State::default());
    let keys: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
    let at = |prefix: &str| {
        keys.iter()
            .position(|k| k.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {keys:#?}"))
    };
    let first_rule = at("nft_rule");
    assert!(at("nft_set") < first_rule && at("nft_chain host/netplan-rs/ingress-web") < first_rule);
    assert_eq!(
        chain_after_create(&plan, "policy-ingress"),
        [
            "established",
            "allowed by web",
            "allowed by api",
            "isolated"
        ]
    );
}

#[test]
fn golden_policy_no_changes() {
    let plan = diff(&nft(desired()), &observed());
    assert!(plan.is_empty(), "{}", render_text(&plan));
}

#[test]
fn golden_policy_drift() {
    let mut observed = observed();
    // By hand: a jump deleted, an allow rule's port changed (no longer ours), a member removed
    // from a set.
    observed
        .objects
        .retain(|_, o| !matches!(o, Object::NftRule(r) if r.id == "allowed by web"));
    for o in observed.objects.values_mut() {
        match o {
            Object::NftRule(r) if r.id == "rule 0 from any tcp/80" => {
                r.rule = NatRule::Unrecognised {
                    exprs: "[ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x06 ] [ payload load 2b @ transport header + 2 => reg 1 ] [ cmp eq reg 1 0x0051 ] [ immediate reg 0 accept ]".into(),
                };
            }
            Object::NftSet(s) if s.name == "isolated-ingress" => {
                s.elements.pop();
            }
            _ => {}
        }
    }
    let plan = diff(&nft(desired()), &observed);
    let summary: Vec<String> = plan
        .steps
        .iter()
        .map(|s| format!("{:?} {}", s.action(), s.key()))
        .collect();
    assert_eq!(
        summary,
        [
            "Update nft_set host/netplan-rs/@isolated-ingress",
            "Replace nft_rule host/netplan-rs/ingress-web \"rule 0 from any tcp/80\"",
            "Create nft_rule host/netplan-rs/policy-ingress \"allowed by web\"",
        ],
        "{}",
        render_text(&plan)
    );
    check("policy_drift", &nft(desired()), &observed);
}

#[test]
fn golden_policy_destroy() {
    let plan = diff(&State::default(), &observed());
    // Deleting the table takes its chains, sets and rules: one step.
    assert_eq!(plan.steps.len(), 1, "{}", render_text(&plan));
    // A policy removed from the file: its rules go before the chain and set they use.
    let mut without_web = nft(desired());
    without_web.objects.retain(|k, o| {
        let s = k.to_string();
        let web = s.contains("ingress-web") || s.contains("members-web");
        !(web || matches!(o, Object::NftRule(r) if r.id == "allowed by web"))
    });
    if let Some(Object::NftSet(s)) = without_web
        .objects
        .values_mut()
        .find(|o| matches!(o, Object::NftSet(s) if s.name == "isolated-ingress"))
    {
        s.elements
            .retain(|e| *e != SetElement::Name("vethb520918".into()));
    }
    check("policy_remove_one", &without_web, &observed());
    let plan = diff(&without_web, &observed());
    let keys: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
    let at = |k: &str| keys.iter().position(|x| x.contains(k)).expect(k);
    assert!(at("\"allowed by web\"") < at("nft_chain host/netplan-rs/ingress-web"));
    assert!(at("\"allowed by web\"") < at("@members-web"));
}
