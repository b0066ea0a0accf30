//! A run of consecutive nftables plan steps in one namespace as ONE nf_tables transaction
//! (BATCH_BEGIN ... BATCH_END in a single `sendmsg`): the kernel applies all of it or rolls all
//! of it back, so the ruleset never shows half a change, and 4000 rules cost one round trip
//! instead of 4000.
//!
//! Each step becomes one or more requests, in plan order (a replace: delete then create;
//! deleting a chain: flush then delete; creating a set: the set then its elements; changing a
//! set's elements: flush then add), and each request remembers its step, so the sequence
//! number of a request the kernel rejects names the step. Deleting something already gone
//! counts as done, as it does for other kinds; but the kernel rejects such a request (ENOENT)
//! and rolls the whole batch back, so the batch is sent again without those deletes.

use super::socket::TxError;
use super::{
    Kernel, KernelError, create_messages, delete_messages, error, lock, open, socket,
    update_messages,
};
use crate::plan::Step;
use crate::state::Object;

/// What a request does (for the error message and for "already gone").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Delete,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Create => "creating",
            Op::Delete => "deleting",
        }
    }
}

/// The requests of a batch, in order, and for each the step (index in the batch) it belongs to.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    pub messages: Vec<Vec<u8>>,
    pub origin: Vec<(usize, Op)>,
}

impl Encoded {
    fn push(&mut self, step: usize, op: Op, message: Vec<u8>) {
        self.messages.push(message);
        self.origin.push((step, op));
    }

    /// The same batch without the requests at `drop` (sorted indices).
    fn without(self, drop: &[usize]) -> Encoded {
        let mut gone = vec![false; self.messages.len()];
        for i in drop {
            if let Some(g) = gone.get_mut(*i) {
                *g = true;
            }
        }
        let mut out = Encoded::default();
        for ((message, origin), gone) in self.messages.into_iter().zip(self.origin).zip(gone) {
            if !gone {
                out.push(origin.0, origin.1, message);
            }
        }
        out
    }
}

/// A step that cannot be turned into requests: (its index, operation, why).
type Unencodable = (usize, &'static str, String);

/// The requests for `steps` (a single step from `Kernel::execute` too): create; update and
/// replace delete the current object and create the desired one; delete removes the current
/// object.
pub(crate) fn encode(steps: &[Step], mark: &str) -> Result<Encoded, Unencodable> {
    let mut out = Encoded::default();
    for (i, step) in steps.iter().enumerate() {
        let not_nft = |op| (i, op, "not an nftables object".to_string());
        let create = |out: &mut Encoded, desired: &Object| {
            let messages = create_messages(desired, mark).map_err(|m| (i, "creating", m))?;
            if messages.is_empty() {
                return Err(not_nft("creating"));
            }
            for message in messages {
                out.push(i, Op::Create, message);
            }
            Ok::<(), Unencodable>(())
        };
        let delete = |out: &mut Encoded, current: &Object| {
            let messages = delete_messages(current).map_err(|m| (i, "deleting", m.to_string()))?;
            if messages.is_empty() {
                return Err(not_nft("deleting"));
            }
            for message in messages {
                out.push(i, Op::Delete, message);
            }
            Ok(())
        };
        match step {
            Step::Create(c) => create(&mut out, &c.object)?,
            Step::Delete(d) => delete(&mut out, &d.current)?,
            // A set's elements change in place: rules refer to the set, so it cannot be
            // deleted and created again under them.
            Step::Update(crate::plan::Update { desired, .. })
                if let Some(messages) = update_messages(desired) =>
            {
                for message in messages.map_err(|m| (i, "updating", m))? {
                    out.push(i, Op::Create, message);
                }
            }
            Step::Update(crate::plan::Update {
                current, desired, ..
            })
            | Step::Replace(crate::plan::Replace {
                current, desired, ..
            }) => {
                delete(&mut out, current)?;
                create(&mut out, desired)?;
            }
        }
    }
    Ok(out)
}

/// An nftables transaction that failed.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct NftBatchError {
    /// The step (index in the batch) whose request the kernel rejected first, or that could not
    /// be encoded; the first step when the batch failed as a whole.
    pub step: usize,
    /// Whether the kernel is known to have applied none of the batch: it rejected a request
    /// (and rolled the whole transaction back), refused the batch, or nothing was sent. `false`
    /// only when the replies were lost after sending.
    pub nothing_applied: bool,
    #[source]
    pub source: KernelError,
}

/// Carry out `steps` (nftables steps, all in one namespace) as one transaction.
pub(crate) async fn execute_batch(kernel: &Kernel, steps: &[Step]) -> Result<(), NftBatchError> {
    let Some(first) = steps.first() else {
        return Ok(());
    };
    let ns = first.key().ns();
    let label = kernel.target.label(&ns);
    let failed = |step: usize, source: KernelError| NftBatchError {
        step,
        nothing_applied: true,
        source,
    };
    if let Some(i) = steps.iter().position(|s| s.key().ns() != ns) {
        return Err(failed(
            i,
            KernelError::Invalid {
                op: "batching",
                object: steps[i].key().to_string(),
                ns: kernel.target.label(&steps[i].key().ns()),
                message: format!("one nftables transaction covers one namespace ({label})"),
            },
        ));
    }
    let mark = kernel.target.marks.link_alias.clone();
    let mut encoded = encode(steps, &mark).map_err(|(i, op, message)| {
        failed(
            i,
            KernelError::Invalid {
                op,
                object: steps[i].key().to_string(),
                ns: label.clone(),
                message,
            },
        )
    })?;
    open(kernel, &ns).await.map_err(|e| failed(0, e))?;
    loop {
        if encoded.messages.is_empty() {
            return Ok(());
        }
        let sock = socket(kernel, &ns).map_err(|e| failed(0, e))?;
        let result = lock(&sock).transaction(&encoded.messages);
        let whole = || {
            format!(
                "the nftables transaction of {}",
                crate::plural::count(steps.len(), "step")
            )
        };
        let rejected = match result {
            Ok(()) => return Ok(()),
            Err(TxError::Refused(e)) => {
                return Err(failed(
                    0,
                    KernelError::from_io("sending", whole(), label, e),
                ));
            }
            Err(TxError::Lost(e)) => {
                return Err(NftBatchError {
                    step: 0,
                    nothing_applied: false,
                    source: KernelError::from_io("reading the replies to", whole(), label, e),
                });
            }
            Err(TxError::Rejected(rejected)) => rejected,
        };
        let gone: Vec<usize> = rejected
            .iter()
            .filter(|(i, e)| {
                encoded.origin[*i].1 == Op::Delete && e.raw_os_error() == Some(libc::ENOENT)
            })
            .map(|(i, _)| *i)
            .collect();
        if gone.is_empty() {
            // The first rejected request is the cause; later ones may only follow from it.
            let Some((i, e)) = rejected.into_iter().next() else {
                return Ok(());
            };
            let (step, op) = encoded.origin[i];
            return Err(failed(
                step,
                error(kernel, op.verb(), &steps[step].key(), e),
            ));
        }
        // Already gone: done. The kernel rolled the batch back, so send it again without them
        // (each round drops at least one request, so this ends).
        encoded = encoded.without(&gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::nft::msg::*;
    use crate::kernel::nft::socket::{frame_batch, reply_index};
    use crate::kernel::nft::wire::*;
    use crate::plan::Action;
    use crate::state::{L4Proto, NatRule, NftChain, NftHook, NftRule, NftTable, Ns};

    fn table() -> Object {
        Object::NftTable(NftTable {
            ns: Ns::Host,
            name: "netplan-rs".into(),
            owned: true,
        })
    }

    fn chain() -> Object {
        Object::NftChain(NftChain {
            ns: Ns::Host,
            table: "netplan-rs".into(),
            name: "prerouting".into(),
            chain_type: "nat".into(),
            hook: Some(NftHook::Prerouting),
            priority: -100,
            owned: true,
        })
    }

    fn rule(port: u16, handle: Option<u64>) -> Object {
        Object::NftRule(NftRule {
            ns: Ns::Host,
            table: "netplan-rs".into(),
            chain: "prerouting".into(),
            id: format!("dnat tcp {port} -> 10.0.0.2:80"),
            rule: NatRule::Dnat {
                proto: L4Proto::Tcp,
                daddr: "1.2.3.4".parse().unwrap(),
                dport: port,
                to: "10.0.0.2".parse().unwrap(),
                to_port: 80,
            },
            handle,
            owned: true,
        })
    }

    fn step(action: Action, desired: Option<Object>, current: Option<Object>) -> Step {
        Step::from_parts(action, desired, current)
    }

    #[test]
    fn steps_become_requests_in_plan_order_each_naming_its_step() {
        let steps = vec![
            step(Action::Delete, None, Some(rule(1, Some(7)))),
            step(Action::Create, Some(table()), None),
            step(Action::Delete, None, Some(chain())),
            step(Action::Replace, Some(rule(2, None)), Some(rule(2, Some(9)))),
            step(Action::Create, Some(rule(3, None)), None),
        ];
        let encoded = encode(&steps, "mark").unwrap();
        let types: Vec<u16> = encoded
            .messages
            .iter()
            .map(|m| messages(m).unwrap()[0].msg_type)
            .collect();
        let t = msg_type;
        assert_eq!(
            types,
            vec![
                t(NFT_MSG_DELRULE),
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_DELRULE), // the chain's flush
                t(NFT_MSG_DELCHAIN),
                t(NFT_MSG_DELRULE),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
            ]
        );
        assert_eq!(
            encoded.origin,
            vec![
                (0, Op::Delete),
                (1, Op::Create),
                (2, Op::Delete),
                (2, Op::Delete),
                (3, Op::Delete),
                (3, Op::Create),
                (4, Op::Create),
            ]
        );
        // The replace deletes the observed rule by its handle.
        let body = &messages(&encoded.messages[4]).unwrap()[0].body[NFGENMSG_LEN..];
        assert_eq!(get_u64(body, 3), Some(9));
    }

    #[test]
    fn the_whole_batch_is_one_frame_and_sequence_numbers_lead_back_to_steps() {
        let steps: Vec<Step> = std::iter::once(step(Action::Create, Some(table()), None))
            .chain(std::iter::once(step(Action::Create, Some(chain()), None)))
            .chain((0..50).map(|p| step(Action::Create, Some(rule(1000 + p, None)), None)))
            .collect();
        let encoded = encode(&steps, "mark").unwrap();
        // Near the top of the sequence space, to cover wrapping.
        let first = u32::MAX - 10;
        let (bytes, seqs) = frame_batch(&encoded.messages, first);
        let msgs = messages(&bytes).unwrap();
        assert_eq!(msgs.len(), 52 + 2);
        assert_eq!(msgs[0].msg_type, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(msgs[53].msg_type, NFNL_MSG_BATCH_END);
        assert_eq!(msgs[53].seq, first.wrapping_add(53));
        for (i, m) in msgs[1..53].iter().enumerate() {
            assert_eq!(m.seq, seqs[i]);
            assert_eq!(m.seq, first.wrapping_add(1 + i as u32));
            assert_eq!(
                m.flags & NLM_F_ACK,
                NLM_F_ACK,
                "every request is acknowledged"
            );
            // The reply to this request maps back to request i, and so to its step.
            let back = reply_index(first, m.seq, encoded.messages.len()).unwrap();
            assert_eq!(back, i);
            assert_eq!(encoded.origin[back].0, i);
        }
        // Rule 17 is step 19.
        let body = &msgs[20].body[NFGENMSG_LEN..];
        let parsed = parse_rule(&Ns::Host, body).unwrap();
        assert_eq!(parsed.id, "dnat tcp 1017 -> 10.0.0.2:80");
        assert_eq!(
            reply_index(first, msgs[20].seq, 52).map(|i| encoded.origin[i].0),
            Some(19)
        );
        // The delimiters' replies and stale replies map to no request.
        assert_eq!(reply_index(first, first, 52), None);
        assert_eq!(reply_index(first, first.wrapping_add(53), 52), None);
        assert_eq!(reply_index(first, first.wrapping_sub(3), 52), None);
    }

    #[test]
    fn dropping_already_gone_deletes_keeps_the_rest_in_order() {
        let steps = vec![
            step(Action::Delete, None, Some(rule(1, Some(7)))),
            step(Action::Create, Some(rule(2, None)), None),
            step(Action::Delete, None, Some(rule(3, Some(8)))),
            step(Action::Create, Some(rule(4, None)), None),
        ];
        let encoded = encode(&steps, "mark").unwrap().without(&[0, 2]);
        assert_eq!(encoded.origin, vec![(1, Op::Create), (3, Op::Create)]);
        assert_eq!(encoded.messages.len(), 2);
    }

    #[test]
    fn unencodable_steps_are_named() {
        let no_handle = step(Action::Delete, None, Some(rule(1, None)));
        let steps = vec![step(Action::Create, Some(table()), None), no_handle];
        assert_eq!(
            encode(&steps, "m").unwrap_err(),
            (1, "deleting", "the observed rule has no handle".to_string())
        );
        let link = Object::Namespace(crate::state::Namespace {
            name: "c".into(),
            owned: true,
            ipv6_default: None,
        });
        let err = encode(&[step(Action::Create, Some(link), None)], "m").unwrap_err();
        assert_eq!(err, (0, "creating", "not an nftables object".to_string()));
    }
}
