//! Which groups of a plan may run at the same time: the plan is cut into waves, and a group (one
//! step, or one nftables transaction, see [`groups`]) joins the first wave after every group it
//! depends on. The steps of a wave are independent of each other, so `apply` sends them to the
//! kernel concurrently (docs/architecture.md, Performance principles: a wave's requests in flight together).
//!
//! Dependencies are the edges of the ordering DAG the plan carries (`Plan::deps`, computed by
//! `plan::order` when it sorted the steps), plus what the order guarantees without an edge, kept
//! here conservatively:
//! - deletions and the rest are never mixed: a group waits for every earlier group of the other
//!   kind (deletes first frees names a create may reuse, and the DAG has no edge for that);
//! - a replace waits for every earlier group and every later group waits for it (the DAG orders
//!   what a replace creates, not what it deletes first; replaces are rare);
//! - nftables transactions keep their order among themselves;
//! - a plan without a consistent DAG (hand-made) runs one group per wave.

use super::groups::{Group, groups};
use crate::plan::{Action, Plan, Step};

/// The waves of `plan`, in order; each wave's groups in plan order. Together they cover every
/// step exactly once.
pub fn waves(plan: &Plan) -> Vec<Vec<Group>> {
    let steps = &plan.steps;
    let groups = groups(steps);
    let mut group_of = vec![0; steps.len()];
    for (g, group) in groups.iter().enumerate() {
        for i in group.members() {
            group_of[i] = g;
        }
    }
    if !plan.has_dag() {
        return groups.into_iter().map(|g| vec![g]).collect();
    }
    let deps = &plan.deps;
    let n = steps.len();
    // The wave of a barrier's last member, found at its first use (every member comes before
    // every step waiting behind it, see `Plan::has_dag`).
    let mut barrier_wave: Vec<Option<usize>> = vec![None; plan.barriers.len()];

    let mut wave_of: Vec<usize> = Vec::with_capacity(groups.len());
    // The highest wave so far of: any group, deleting groups, other groups, nft groups.
    let (mut any, mut deleting, mut other, mut nft) = (None, None, None, None);
    // Every group from here on waits for a replace: the wave after it.
    let mut floor = 0;
    let after = |w: Option<usize>| w.map_or(0, |w| w + 1);
    for (g, group) in groups.iter().enumerate() {
        let member_steps: Vec<&Step> = group.members().map(|i| &steps[i]).collect();
        let deletes = member_steps.iter().any(|s| s.action() == Action::Delete);
        let others = member_steps.iter().any(|s| s.action() != Action::Delete);
        let replaces = member_steps.iter().any(|s| s.action() == Action::Replace);
        let mut wave = floor;
        for i in group.members() {
            for &j in &deps[i] {
                match j.checked_sub(n) {
                    None if group_of[j] != g => wave = wave.max(wave_of[group_of[j]] + 1),
                    None => {}
                    Some(b) => {
                        let last = *barrier_wave[b].get_or_insert_with(|| {
                            plan.barriers[b]
                                .iter()
                                .filter(|&&m| group_of[m] < g)
                                .map(|&m| wave_of[group_of[m]])
                                .max()
                                .unwrap_or(0)
                        });
                        wave = wave.max(last + 1);
                    }
                }
            }
        }
        if deletes {
            wave = wave.max(after(other));
        }
        if others {
            wave = wave.max(after(deleting));
        }
        if replaces {
            wave = wave.max(after(any));
            floor = wave + 1;
        }
        let is_nft = matches!(group, Group::Nft(_));
        if is_nft {
            wave = wave.max(after(nft));
            nft = Some(wave);
        }
        if deletes {
            deleting = deleting.max(Some(wave));
        }
        if others {
            other = other.max(Some(wave));
        }
        any = any.max(Some(wave));
        wave_of.push(wave);
    }

    let mut out: Vec<Vec<Group>> = vec![Vec::new(); after(any)];
    for (group, wave) in groups.into_iter().zip(wave_of) {
        out[wave].push(group);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::state::{ObjectKey, State};

    fn compile(path: &str, host: &str) -> State {
        let file = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&file).expect("topology file");
        let topo = crate::topology::load_str(&text, &file).expect("topology");
        crate::compile::compile(&topo, host).expect("compile")
    }

    /// Every step in exactly one wave; every dependency (DAG edge) of a step in an earlier wave
    /// (or in the same nftables transaction); deletes and the rest never share a wave.
    fn check(plan: &Plan) -> Vec<Vec<Group>> {
        let waves = waves(plan);
        let mut wave_of = vec![None; plan.steps.len()];
        for (w, wave) in waves.iter().enumerate() {
            assert!(!wave.is_empty(), "empty wave {w}");
            for group in wave {
                for i in group.members() {
                    assert_eq!(wave_of[i], None, "step {i} twice");
                    wave_of[i] = Some(w);
                }
            }
        }
        let wave_of: Vec<usize> = wave_of
            .into_iter()
            .map(|w| w.expect("every step in a wave"))
            .collect();
        // The plan's DAG is the one order sorted by (rebuilt here from the steps alone, minus
        // the sweep edges, which need the observed state).
        let rebuilt = crate::plan::step_dependencies(&plan.steps);
        let deps: Vec<Vec<usize>> = (0..plan.steps.len()).map(|i| plan.waits_for(i)).collect();
        for (i, d) in rebuilt.iter().enumerate() {
            assert!(
                d.iter().all(|j| deps[i].contains(j)),
                "step {i}: {d:?} not in {:?}",
                deps[i]
            );
        }
        let same_group = |i: usize, j: usize| {
            groups(&plan.steps)
                .iter()
                .any(|g| g.members().contains(&i) && g.members().contains(&j))
        };
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                assert!(
                    wave_of[j] < wave_of[i] || same_group(i, j),
                    "{} (wave {}) depends on {} (wave {})",
                    plan.steps[i].key(),
                    wave_of[i],
                    plan.steps[j].key(),
                    wave_of[j]
                );
            }
        }
        for wave in &waves {
            let actions: Vec<bool> = wave
                .iter()
                .flat_map(Group::members)
                .map(|i| plan.steps[i].action() == Action::Delete)
                .collect();
            assert!(
                actions.iter().all(|&d| d) || actions.iter().all(|&d| !d),
                "a wave mixes deletes and the rest"
            );
        }
        waves
    }

    fn position(plan: &Plan, waves: &[Vec<Group>], pred: impl Fn(&ObjectKey) -> bool) -> usize {
        let i = plan
            .steps
            .iter()
            .position(|s| pred(&s.key()))
            .expect("such a step");
        waves
            .iter()
            .position(|w| w.iter().any(|g| g.members().contains(&i)))
            .expect("in a wave")
    }

    #[test]
    fn a_first_apply_of_vxlan_routed_has_far_fewer_waves_than_steps() {
        let desired = compile("topologies/vxlan-routed.yaml", "node-1");
        let plan = crate::plan::diff(&desired, &State::default());
        let waves = check(&plan);
        eprintln!("{} steps in {} waves", plan.steps.len(), waves.len());
        assert!(plan.steps.len() >= 10, "{}", plan.steps.len());
        assert!(
            waves.len() * 2 < plan.steps.len(),
            "{} waves for {} steps",
            waves.len(),
            plan.steps.len()
        );
        // Namespaces first (nothing before them), routes after the links they use.
        assert_eq!(
            position(&plan, &waves, |k| matches!(k, ObjectKey::Namespace { .. })),
            0
        );
        let route = position(&plan, &waves, |k| matches!(k, ObjectKey::Route { .. }));
        assert!(route >= 2, "a route in wave {route}");
        // The destroy plan too.
        let destroy = crate::plan::diff(&State::default(), &desired);
        let destroy_waves = check(&destroy);
        assert!(destroy_waves.len() < destroy.steps.len());
    }

    #[test]
    fn every_example_topology_gives_consistent_waves_for_apply_destroy_and_repair() {
        let dir = format!("{}/topologies", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("topologies") {
            let path = entry.expect("entry").path();
            let name = format!("topologies/{}", path.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&path).expect("read");
            let topo = crate::topology::load_str(&text, &name).expect("topology");
            for host in topo.hosts.keys() {
                let desired = crate::compile::compile(&topo, host).expect("compile");
                check(&crate::plan::diff(&desired, &State::default()));
                check(&crate::plan::diff(&State::default(), &desired));
                seen += 1;
            }
        }
        assert!(seen >= 10, "{seen}");
    }

    #[test]
    fn a_hundred_containers_on_a_bridge_take_a_handful_of_waves() {
        let mut yaml = String::from(
            "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24, interface: eth0 }
networks:
  local: { driver: bridge, subnet: 10.77.0.0/16 }
containers:
",
        );
        for i in 0..100 {
            yaml.push_str(&format!("  c{i}: {{ host: node-1, network: local }}\n"));
        }
        let topo = crate::topology::load_str(&yaml, "t.yaml").expect("topology");
        let desired = crate::compile::compile(&topo, "node-1").expect("compile");
        let plan = crate::plan::diff(&desired, &State::default());
        let waves = check(&plan);
        assert!(plan.steps.len() >= 400, "{}", plan.steps.len());
        eprintln!("{} steps in {} waves", plan.steps.len(), waves.len());
        assert!(waves.len() <= 8, "{} waves", waves.len());
    }

    #[test]
    fn a_replace_is_alone_in_its_wave_and_a_plan_without_dag_is_serial() {
        let desired = compile("topologies/vxlan-routed.yaml", "node-1");
        let mut plan = crate::plan::diff(&desired, &State::default());
        // Make one step a replace (as a drift repair would).
        let k = plan.steps.len() / 2;
        let made = plan.steps[k].object().clone();
        plan.steps[k] = Step::from_parts(Action::Replace, Some(made.clone()), Some(made));
        let waves = check(&plan);
        let w = position(&plan, &waves, |key| *key == plan.steps[k].key());
        assert_eq!(waves[w].len(), 1, "the replace shares its wave");
        for (v, wave) in waves.iter().enumerate() {
            for i in wave.iter().flat_map(Group::members) {
                assert_eq!(v < w, i < k, "step {i} on the wrong side of the replace");
            }
        }
        // Without its DAG (hand-made), a plan runs one group per wave, in order.
        let mut reversed = crate::plan::diff(&desired, &State::default());
        reversed.steps.reverse();
        reversed.deps.clear();
        reversed.barriers.clear();
        assert!(!reversed.has_dag());
        let serial = super::waves(&reversed);
        assert_eq!(serial.len(), groups(&reversed.steps).len());
        assert!(serial.iter().all(|w| w.len() == 1));
    }
}
