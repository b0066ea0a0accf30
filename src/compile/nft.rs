//! The objects of the owned nftables table `inet netplan-rs` as compile emits them, shared by
//! the NAT (`nat.rs`) and isolation (`isolation.rs`) rules: both put their chains and rules in
//! the one table, in the host namespace, owned.

use crate::state::{NFT_TABLE, NatRule, NftChain, NftHook, NftRule, NftTable, Ns};

/// The owned table. NAT and isolation may both insert it; it is the same object.
pub fn table() -> NftTable {
    NftTable {
        ns: Ns::Host,
        name: NFT_TABLE.to_string(),
        owned: true,
    }
}

/// The base chain of the owned table on `hook`, named after the hook.
pub fn base_chain(hook: NftHook, chain_type: &str, priority: i32) -> NftChain {
    NftChain {
        ns: Ns::Host,
        table: NFT_TABLE.to_string(),
        name: hook.name().to_string(),
        chain_type: chain_type.to_string(),
        hook: Some(hook),
        priority,
        owned: true,
    }
}

/// A rule with identity `id` in the base chain on `hook`.
pub fn rule(hook: NftHook, id: String, rule: NatRule) -> NftRule {
    NftRule {
        ns: Ns::Host,
        table: NFT_TABLE.to_string(),
        chain: hook.name().to_string(),
        id,
        rule,
        handle: None,
        owned: true,
    }
}
