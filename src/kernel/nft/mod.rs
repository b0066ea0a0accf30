//! nftables over netlink (NETLINK_NETFILTER), written by hand: the table netplan-rs owns, its
//! chains, named sets and rules. No `nft` process, no C library.
//!
//! Why hand-written: the pure-Rust netlink nftables crate (`rustables`) is GPL-3.0, which would
//! relicense the binary; `nftnl` binds the C libraries libnftnl/libmnl (not on a fresh machine);
//! the `nftables` crate drives the `nft` program over JSON; `netlink-packet-netfilter` has no
//! nf_tables messages. The subset needed here is small: batches, NEW/DEL/GET of tables, chains
//! and rules, and seven expressions.
//!
//! - [`wire`]: netlink/nfnetlink framing and attributes;
//! - [`expr`]: the expressions; [`rule`]: `NatRule` <-> expressions;
//! - [`msg`]: table/chain/rule messages; [`socket`]: batches and dumps;
//! - [`batch`]: a run of plan steps (or a single one) as one transaction;
//! - this file: observe against a [`Kernel`], and the requests creating/deleting an object.
//!
//! Ownership: netplan-rs only reads inside its target's table (`Target::nft_table`: [`NFT_TABLE`],
//! or `netplan-rs-<scope>` for a named scope on a real host) in family inet, and owns
//! it only when the table's userdata comment is the target's link alias mark (set at creation).
//! Every chain and rule in an owned table is owned (unknown ones are deleted); tables it does not
//! own are never read into or changed. A rule's identity is its userdata comment; a set's is its
//! name (anonymous sets belong to the hand-made rule that uses them and are not objects).

mod batch;
mod expr;
mod msg;
mod rule;
mod socket;
mod wire;

pub use batch::NftBatchError;
pub(crate) use batch::execute_batch;
pub(crate) use socket::NftSocket;

use super::lock;
use super::{Kernel, KernelError, netns};
use crate::state::{NftChain, NftRule, NftSet, NftTable, Ns, Object, ObjectKey, State};
use msg::*;
use std::io;
use std::sync::{Arc, Mutex};

/// Open the nftables socket of `ns` (on a thread inside the namespace) unless it is cached.
async fn open(kernel: &Kernel, ns: &Ns) -> Result<(), KernelError> {
    if !lock(&kernel.nft).contains_key(ns) {
        let path = kernel.target.netns_path(ns);
        let sock = netns::run_in_async(path, NftSocket::open).await;
        let sock = sock.map_err(|source| KernelError::Namespace {
            op: "opening an nftables socket in",
            ns: kernel.target.label(ns),
            source,
        })?;
        lock(&kernel.nft)
            .entry(ns.clone())
            .or_insert_with(|| Arc::new(Mutex::new(sock)));
    }
    Ok(())
}

/// The socket of `ns`, opened before by [`open`]. Requests are synchronous: the kernel answers
/// nf_tables requests within the send call, so they never wait on the network and its lock is
/// never held across an await.
fn socket(kernel: &Kernel, ns: &Ns) -> Result<Arc<Mutex<NftSocket>>, KernelError> {
    lock(&kernel.nft)
        .get(ns)
        .cloned()
        .ok_or_else(|| KernelError::Namespace {
            op: "opening an nftables socket in",
            ns: kernel.target.label(ns),
            source: io::Error::other("socket vanished"),
        })
}

/// The errors of a kernel built without nf_tables (no netfilter netlink family or subsystem).
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::EOPNOTSUPP)
    )
}

fn error(kernel: &Kernel, op: &'static str, key: &ObjectKey, e: io::Error) -> KernelError {
    KernelError::from_io(op, key.to_string(), kernel.target.label(&key.ns()), e)
}

/// Add our table (if present), its chains, sets and rules in the host namespace to `state`: one
/// dump of tables, and chains, rules and sets only when the table is there and ours, then one
/// dump of elements per set (the kernel dumps elements set by set).
pub(crate) async fn observe(kernel: &Kernel, state: &mut State) -> Result<(), KernelError> {
    let ns = Ns::Host;
    match open(kernel, &ns).await {
        // A kernel without nf_tables has no table of ours: nothing to observe (creating one
        // will report the error).
        Err(KernelError::Namespace { source, .. }) if unsupported(&source) => return Ok(()),
        other => other?,
    }
    let mark = kernel.target.marks.link_alias.clone();
    let table_name = kernel.target.nft_table.as_str();
    let table_key = ObjectKey::NftTable {
        ns: ns.clone(),
        name: table_name.to_string(),
    };
    let sock = socket(kernel, &ns)?;
    let tables = lock(&sock).dump(&dump(NFT_MSG_GETTABLE, None), msg_type(NFT_MSG_NEWTABLE));
    let tables = match tables {
        Err(e) if unsupported(&e) => return Ok(()),
        other => other.map_err(|e| error(kernel, "dumping", &table_key, e))?,
    };
    let Some((_, comment)) = tables
        .iter()
        .filter_map(|t| parse_table(t))
        .find(|(name, _)| name == table_name)
    else {
        return Ok(());
    };
    let owned = comment.as_deref() == Some(mark.as_str());
    state.insert(NftTable {
        ns: ns.clone(),
        name: table_name.to_string(),
        owned,
    });
    // Never look inside a table we do not own.
    if !owned {
        return Ok(());
    }
    let sock = socket(kernel, &ns)?;
    let mut sock = lock(&sock);
    let chains = sock.dump(&dump(NFT_MSG_GETCHAIN, None), msg_type(NFT_MSG_NEWCHAIN));
    let rules = chains.and_then(|chains| {
        let rules = sock.dump(
            &dump(NFT_MSG_GETRULE, Some(table_name)),
            msg_type(NFT_MSG_NEWRULE),
        )?;
        Ok((chains, rules))
    });
    let sets = rules.and_then(|(chains, rules)| {
        let sets = sock.dump(
            &dump(NFT_MSG_GETSET, Some(table_name)),
            msg_type(NFT_MSG_NEWSET),
        )?;
        let mut out = Vec::new();
        for mut set in sets.iter().filter_map(|s| parse_set(&ns, s)) {
            if set.table != table_name {
                continue;
            }
            let replies = sock.dump(
                &dump_elements(table_name, &set.name),
                msg_type(NFT_MSG_NEWSETELEM),
            )?;
            let elements = replies.iter().flat_map(|r| parse_elements(set.key, r));
            set = NftSet::new(ns.clone(), &set.table, &set.name, set.key, elements);
            out.push(set);
        }
        Ok((chains, rules, out))
    });
    let (chains, rules, sets) = sets.map_err(|e| error(kernel, "dumping", &table_key, e))?;
    for set in sets {
        state.insert(set);
    }
    for chain in chains.iter().filter_map(|c| parse_chain(&ns, c)) {
        if chain.table == table_name {
            state.insert(chain);
        }
    }
    for rule in rules.iter().filter_map(|r| parse_rule(&ns, r)) {
        if rule.table != table_name {
            continue;
        }
        let mut rule = rule;
        let key = Object::NftRule(rule.clone()).key();
        // Two rules claiming one id (a copy made by hand): the later one is a stranger.
        if state.objects.contains_key(&key) {
            rule.id = format!("handle {}", rule.handle.unwrap_or(0));
        }
        state.insert(rule);
    }
    Ok(())
}

/// The requests creating `object` (empty: not an nftables object): a set comes with its
/// elements. `Err`: an element that does not fit its set's type.
fn create_messages(object: &Object, mark: &str) -> Result<Vec<Vec<u8>>, String> {
    Ok(match object {
        Object::NftTable(t) => vec![new_table(&t.name, mark)],
        Object::NftChain(c) => vec![new_chain(c)],
        Object::NftSet(s) => std::iter::once(new_set(s))
            .chain(new_elements(s)?)
            .collect(),
        Object::NftRule(r) => vec![new_rule(r)],
        _ => Vec::new(),
    })
}

/// The requests changing a set's elements in place: flush, then add the wanted ones (in one
/// transaction, so no packet sees the set empty). `None`: not a set (it is replaced instead).
fn update_messages(desired: &Object) -> Option<Result<Vec<Vec<u8>>, String>> {
    let Object::NftSet(s) = desired else {
        return None;
    };
    Some(new_elements(s).map(|add| {
        std::iter::once(flush_set(&s.table, &s.name))
            .chain(add)
            .collect()
    }))
}

/// The requests deleting `object`. Deleting a table deletes its chains and rules; a chain is
/// flushed first in the same transaction (the kernel refuses to delete a chain that holds
/// rules). `Err`: why it cannot be deleted.
fn delete_messages(object: &Object) -> Result<Vec<Vec<u8>>, &'static str> {
    Ok(match object {
        Object::NftTable(NftTable { name, .. }) => vec![del_table(name)],
        Object::NftChain(NftChain { table, name, .. }) => {
            vec![del_rule(table, name, None), del_chain(table, name)]
        }
        Object::NftSet(NftSet { table, name, .. }) => vec![del_set(table, name)],
        Object::NftRule(NftRule {
            table,
            chain,
            handle: Some(h),
            ..
        }) => vec![del_rule(table, chain, Some(*h))],
        Object::NftRule(_) => return Err("the observed rule has no handle"),
        _ => Vec::new(),
    })
}
