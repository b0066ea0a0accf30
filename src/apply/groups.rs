//! Which steps of a plan run together: each maximal run of consecutive nftables steps in one
//! namespace goes to the kernel as one nf_tables transaction (all or nothing, one round trip);
//! every other step runs on its own.
//!
//! Why runs, and not every nftables step of the plan at the position of the first one: the
//! plan's order is what the user approved and what the progress output follows, and a transaction
//! spanning distant steps would be all-or-nothing across steps the user sees as unrelated (which
//! steps run concurrently is decided per group, see `waves.rs`). In plans made by `diff`
//! the runs are few anyway. nftables steps depend only on each other (table, chain, rule) and
//! on nothing else, and no other step depends on them; the ordering (see `plan/order.rs`) takes
//! deletes first, then sysctls, then the rest, each phase by key, and nftables keys sort after
//! every other kind. So a plan holds at most two runs: its nftables deletes at the end of the
//! deletes, and its nftables creates and replaces at the very end. A first apply, a destroy and
//! a repair of the table alone are one run; only a plan that also adds or changes other objects
//! while deleting a rule has two (the stale rules go in one transaction, the new ones in the
//! next). See the tests below, which check this on real plans.

use crate::plan::Step;
use std::ops::Range;

/// Steps that run together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    /// One step, executed on its own.
    One(usize),
    /// Consecutive nftables steps of one namespace: one transaction.
    Nft(Range<usize>),
}

impl Group {
    /// The step indices of the group.
    pub fn members(&self) -> Range<usize> {
        match self {
            Group::One(i) => *i..*i + 1,
            Group::Nft(range) => range.clone(),
        }
    }
}

fn is_nft(step: &Step) -> bool {
    step.key().is_nft()
}

/// The groups of `steps`, in order; together they cover every step exactly once.
pub fn groups(steps: &[Step]) -> Vec<Group> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        if !is_nft(&steps[i]) {
            out.push(Group::One(i));
            i += 1;
            continue;
        }
        let ns = steps[i].key().ns();
        let start = i;
        while i < steps.len() && is_nft(&steps[i]) && steps[i].key().ns() == ns {
            i += 1;
        }
        out.push(Group::Nft(start..i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Plan};
    use crate::state::{Ns, Object, State};

    fn load(yaml: &str) -> State {
        let topo = crate::topology::load_str(yaml, "t.yaml").expect("topology");
        crate::compile::compile(&topo, "node-1").expect("compile")
    }

    fn topology(port: u16, extra_network: bool) -> String {
        let extra = if extra_network {
            "  other: { driver: bridge, subnet: 192.168.201.0/24 }\n"
        } else {
            ""
        };
        let on_other = if extra_network {
            "  db: { host: node-1, network: other }\n"
        } else {
            ""
        };
        format!(
            "version: 1
hosts:
  node-1: {{ underlay: 192.168.31.183/24, interface: eth0 }}
networks:
  local: {{ driver: bridge, subnet: 192.168.200.0/24, nat: true }}
{extra}containers:
  web: {{ host: node-1, network: local, ports: [\"{port}:80/tcp\", \"5353:53/udp\"] }}
{on_other}"
        )
    }

    /// The groups, as (first, last) step numbers of nft runs and `.` for single steps.
    fn shape(plan: &Plan) -> Vec<Group> {
        let groups = groups(&plan.steps);
        // Every step exactly once, in order; nft runs hold nft steps of one namespace only.
        let mut next = 0;
        for g in &groups {
            match g {
                Group::One(i) => {
                    assert_eq!(*i, next);
                    assert!(!is_nft(&plan.steps[*i]));
                    next += 1;
                }
                Group::Nft(r) => {
                    assert_eq!(r.start, next);
                    assert!(!r.is_empty());
                    assert!(plan.steps[r.clone()].iter().all(is_nft));
                    next = r.end;
                }
            }
        }
        assert_eq!(next, plan.steps.len());
        groups
    }

    fn nft_runs(groups: &[Group]) -> Vec<Range<usize>> {
        groups
            .iter()
            .filter_map(|g| match g {
                Group::Nft(r) => Some(r.clone()),
                Group::One(_) => None,
            })
            .collect()
    }

    #[test]
    fn first_apply_sends_the_whole_table_in_one_transaction_at_the_end() {
        let plan = crate::plan::diff(&load(&topology(8080, false)), &State::default());
        let groups = shape(&plan);
        let runs = nft_runs(&groups);
        // table, 3 chains, masquerade, 2 x 2 DNAT rules.
        assert_eq!(runs, vec![plan.steps.len() - 9..plan.steps.len()]);
    }

    #[test]
    fn destroy_and_table_repair_are_one_transaction() {
        let desired = load(&topology(8080, false));
        let destroy = crate::plan::diff(&State::default(), &desired);
        let runs = nft_runs(&shape(&destroy));
        assert_eq!(runs.len(), 1, "{:?}", destroy.steps);
        // The published port moves: stale rules deleted, new ones created, nothing else.
        let moved = crate::plan::diff(&load(&topology(9090, false)), &desired);
        assert!(moved.steps.iter().all(is_nft));
        assert_eq!(nft_runs(&shape(&moved)), vec![0..moved.steps.len()]);
        assert!(moved.steps.iter().any(|s| s.action() == Action::Delete));
    }

    #[test]
    fn a_plan_changing_other_objects_too_has_two_runs_deletes_then_creates() {
        let observed = load(&topology(8080, false));
        let plan = crate::plan::diff(&load(&topology(9090, true)), &observed);
        let groups = shape(&plan);
        let runs = nft_runs(&groups);
        assert_eq!(runs.len(), 2, "{:#?}", plan.steps);
        assert!(
            plan.steps[runs[0].clone()]
                .iter()
                .all(|s| s.action() == Action::Delete)
        );
        assert!(
            plan.steps[runs[1].clone()]
                .iter()
                .all(|s| s.action() != Action::Delete)
        );
        assert_eq!(runs[1].end, plan.steps.len(), "creates run last");
        // Between them: the new network's objects.
        assert!(runs[1].start > runs[0].end);
    }

    #[test]
    fn a_run_stops_at_another_step_and_at_another_namespace() {
        let desired = load(&topology(8080, false));
        let mut nft: Vec<Step> = crate::plan::diff(&desired, &State::default())
            .steps
            .into_iter()
            .filter(is_nft)
            .collect();
        let other = crate::plan::diff(&desired, &State::default())
            .steps
            .into_iter()
            .find(|s| !is_nft(s))
            .expect("a non-nft step");
        // Hand-made: the same rule in a container namespace.
        let mut elsewhere = nft[4].clone();
        if let Step::Create(crate::plan::Create {
            object: Object::NftRule(r),
            ..
        }) = &mut elsewhere
        {
            r.ns = Ns::Container("c".into());
        }
        let steps = vec![
            nft.remove(0),
            nft.remove(0),
            other.clone(),
            nft.remove(0),
            elsewhere,
            nft.remove(0),
            other,
        ];
        assert_eq!(
            groups(&steps),
            vec![
                Group::Nft(0..2),
                Group::One(2),
                Group::Nft(3..4),
                Group::Nft(4..5),
                Group::Nft(5..6),
                Group::One(6),
            ]
        );
        assert_eq!(groups(&[]), vec![]);
    }
}
