//! A wave's steps at once ([`execute_all`]), with the entries of a busy namespace in bulk: the
//! address, route, neighbour and FDB steps of one wave that share a namespace, when there are
//! at least [`BULK_MIN`] of them, go [`BULK_CHUNK`](super::blocking::BULK_CHUNK) to a datagram
//! on a blocking socket opened in that namespace ([`RouteSocket::send_all`]), instead of one
//! acknowledged request each on the namespace's connection.
//!
//! A VXLAN host's first apply writes a neighbour and an FDB entry for every remote container:
//! thousands of requests to one namespace in one wave. On the connection, each one is a trip
//! through its task and channels, a timer, and a reply to read and route. In bulk the kernel
//! does the same work (it handles a datagram's requests one after the other) and writes replies
//! only for the requests it refuses, so a few system calls carry the whole wave (3990 entries:
//! 39 ms one by one, 10 ms in bulk). Below [`BULK_MIN`] entries the thread that enters the
//! namespace costs more than it saves: measured as the wave's time, median of 6 runs, 8 entries
//! took 343 us in bulk and 301 us one by one; 16 took 306 against 425 us; 64, 553 against 1142.
//!
//! What a step's result means does not change: `Ok` when the kernel carried it out, the kernel's
//! error naming the step otherwise, and an unknown outcome said as such (see
//! [`RouteSocket::send_all`]).

use super::blocking::RouteSocket;
use super::exec_entries::{self, Change};
use super::execute::nl_error;
use super::fault::When;
use super::{Kernel, KernelError, conn, execute, netns};
use crate::plan::Step;
use crate::state::{Ns, Object};
use std::collections::BTreeMap;

/// The fewest entry steps of one namespace in one wave that go in bulk.
pub(super) const BULK_MIN: usize = 16;

/// The fault the test seam injects into one step (see `fault.rs`), if any.
pub(super) type Injected = Option<(KernelError, When)>;

/// Carry out `steps`, which depend on nothing among them, concurrently; one result per step,
/// in order. `injected` holds each step's test fault (counted by the caller in step order).
pub(super) async fn execute_all(
    kernel: &Kernel,
    steps: &[&Step],
    mut injected: Vec<Injected>,
) -> Vec<Result<(), KernelError>> {
    // The entry steps of each namespace that the test seam lets through to the kernel: index,
    // change and object.
    let mut by_ns: BTreeMap<Ns, Vec<(usize, Change, &Object)>> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        let fails_before = matches!(injected[i], Some((_, When::BeforeSending)));
        if let (Some((change, object)), false) = (entry_change(step), fails_before) {
            by_ns
                .entry(object.key().ns())
                .or_default()
                .push((i, change, object));
        }
    }
    by_ns.retain(|_, members| members.len() >= BULK_MIN);
    let mut in_bulk = vec![false; steps.len()];
    for &(i, _, _) in by_ns.values().flatten() {
        in_bulk[i] = true;
    }

    let one_by_one = (0..steps.len())
        .filter(|&i| !in_bulk[i])
        .map(|i| (i, injected[i].take()))
        .map(|(i, fault)| async move { (i, execute_one(kernel, steps[i], fault).await) });
    let bulks = by_ns.iter().map(|(ns, members)| async move {
        let entries: Vec<(Change, &Object)> = members.iter().map(|&(_, c, o)| (c, o)).collect();
        let results = execute_bulk(kernel, ns, &entries).await;
        members.iter().map(|&(i, _, _)| i).zip(results)
    });
    let (singles, bulks) = futures::join!(
        futures::future::join_all(one_by_one),
        futures::future::join_all(bulks)
    );

    let mut results: Vec<Option<Result<(), KernelError>>> =
        std::iter::repeat_with(|| None).take(steps.len()).collect();
    for (i, result) in singles {
        results[i] = Some(result);
    }
    for (i, result) in bulks.into_iter().flatten() {
        results[i] = Some(with_fault(injected[i].take(), result));
    }
    results
        .into_iter()
        .map(|r| r.expect("every step is run one by one or in bulk"))
        .collect()
}

/// One step on its own, with its test fault: never sent when it fails before sending.
pub(super) async fn execute_one(
    kernel: &Kernel,
    step: &Step,
    fault: Injected,
) -> Result<(), KernelError> {
    match fault {
        Some((e, When::BeforeSending)) => Err(e),
        fault => with_fault(fault, execute::execute(kernel, step).await),
    }
}

/// A step's outcome with its test fault applied: one that fails before sending was never run;
/// one that fails after sending is reported failed unless the kernel refused it first.
fn with_fault(fault: Injected, result: Result<(), KernelError>) -> Result<(), KernelError> {
    match fault {
        None => result,
        Some((e, When::BeforeSending)) => Err(e),
        Some((e, When::AfterSending)) => result.and(Err(e)),
    }
}

/// The change an entry step makes and the object it makes it to; `None` for other steps (a
/// replace is a delete then a create, which cannot share a datagram's unordered company).
fn entry_change(step: &Step) -> Option<(Change, &Object)> {
    let (change, object) = match step {
        Step::Create(c) => (Change::Create, &c.object),
        Step::Update(u) => (Change::Update, &u.desired),
        Step::Delete(d) => (Change::Delete, &d.current),
        Step::Replace(_) => return None,
    };
    exec_entries::is_entry(object).then_some((change, object))
}

/// Make each change to its entry, all in namespace `ns`, in bulk; one result per entry, in
/// order.
async fn execute_bulk(
    kernel: &Kernel,
    ns: &Ns,
    entries: &[(Change, &Object)],
) -> Vec<Result<(), KernelError>> {
    let mut results: Vec<Result<(), KernelError>> = Vec::with_capacity(entries.len());
    let mut requests = Vec::with_capacity(entries.len());
    // For each request sent: its entry's index and the verb its error names.
    let mut sent = Vec::with_capacity(entries.len());
    for (i, &(change, object)) in entries.iter().enumerate() {
        match exec_entries::request(kernel, change, object).await {
            Ok(request) => {
                requests.push((request.message, request.flags));
                sent.push((i, request.op));
                // Replaced by the kernel's answer below; never a success without one.
                results.push(Err(KernelError::Invalid {
                    op: request.op,
                    object: object.key().to_string(),
                    ns: kernel.target.label(ns),
                    message: "no outcome was reported".into(),
                }));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    let timeout = conn::Limits::from_env().timeout;
    let replies = netns::run_in_async(kernel.target.netns_path(ns), move || {
        let mut sock = RouteSocket::open_bulk(timeout)?;
        Ok(sock.send_all(requests))
    })
    .await;
    match replies {
        Ok(replies) => {
            for ((i, op), reply) in sent.into_iter().zip(replies) {
                let key = entries[i].1.key();
                results[i] = reply.map_err(|e| nl_error(kernel, op, &key, e));
            }
        }
        Err(e) => {
            for (i, _) in sent {
                results[i] = Err(KernelError::Namespace {
                    op: "opening a socket in",
                    ns: kernel.target.label(ns),
                    source: std::io::Error::new(e.kind(), e.to_string()),
                });
            }
        }
    }
    results
}
