//! Plans for a host with two bridge networks (`tests/fixtures/bridge-isolation.yaml`, node-1): the
//! filter forward chain and its isolation rules are created after the table and beside the NAT
//! chain; an isolation rule deleted by hand is recreated, one edited by hand (decoded as
//! unrecognised) is replaced. Golden files as in `golden.rs`.

use super::golden::check;
use crate::plan::*;
use crate::state::{NatRule, Object, State};

/// node-1 of the example, as compile makes it.
fn desired() -> State {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bridge-isolation.yaml");
    let topo = crate::topology::load(&path).unwrap_or_else(|e| panic!("{e}"));
    crate::compile::compile(&topo, "node-1").expect("compile node-1")
}

/// What the kernel reports once applied: the same objects, rules with handles.
fn observed() -> State {
    let mut state = desired();
    for (n, o) in state.objects.values_mut().enumerate() {
        if let Object::NftRule(r) = o {
            r.handle = Some(n as u64);
        }
    }
    state
}

#[test]
fn golden_isolation_create() {
    check("isolation_create", &desired(), &State::default());
}

#[test]
fn golden_isolation_no_changes() {
    let plan = diff(&desired(), &observed());
    assert!(plan.is_empty(), "{}", render_text(&plan));
}

#[test]
fn golden_isolation_drift() {
    let mut observed = observed();
    observed
        .objects
        .retain(|_, o| !matches!(o, Object::NftRule(r) if r.id == "isolate br-back -> br-front"));
    for o in observed.objects.values_mut() {
        if let Object::NftRule(r) = o
            && r.id == "isolate br-front -> br-back"
        {
            // `nft` changed the verdict to accept: not one of our rules any more.
            r.rule = NatRule::Unrecognised {
                exprs: "[ meta load iifname => reg 1 ] [ cmp eq reg 1 0x62722d66726f6e740000000000000000 ] [ meta load oifname => reg 1 ] [ cmp eq reg 1 0x62722d6261636b000000000000000000 ] [ immediate reg 0 accept ]".into(),
            };
        }
    }
    let plan = diff(&desired(), &observed);
    let keys: Vec<String> = plan.steps.iter().map(|s| s.key().to_string()).collect();
    assert_eq!(
        keys,
        [
            "nft_rule host/netplan-rs/forward \"isolate br-back -> br-front\"",
            "nft_rule host/netplan-rs/forward \"isolate br-front -> br-back\"",
        ],
        "{}",
        render_text(&plan)
    );
    check("isolation_drift", &desired(), &observed);
}
