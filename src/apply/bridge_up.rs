//! A new bridge comes up after its ports. When a wave creates a bridge that is to be up and the
//! next wave attaches at least [`MIN_PORTS`] new ports to it, the bridge is created down and
//! brought up as soon as that next wave is done (or stops). The plan does not change: its step
//! still creates the bridge up, and is reported applied once the bridge is.
//!
//! Why: a port of an up bridge whose carrier comes on makes the kernel's link watcher, under
//! RTNL, walk every port of the bridge (`br_port_state_selection`) and enable multicast on the
//! port, so wiring N containers costs N walks over up to N ports, while the apply's own
//! requests wait for RTNL. A bridge that comes up after its ports enables them all in one pass
//! under its own lock. Measured with 1000 containers, 4 interleaved runs: the apply took
//! 2.10-2.52 s instead of 2.22-2.91 s, faster in each pair (docs/performance.md); with `ip`
//! alone, 1000 ports took 7.1 and 6.5 s instead of 11.3 and 9.4 s.
//!
//! Nothing else in that next wave needs the bridge up: an address can be added to a bridge that
//! is down, and a route through the bridge waits for the addresses of its namespace, so it comes
//! a wave later. A run killed while the bridge is down leaves it down and marked: the next plan
//! shows it brought up, as an update.

use super::groups::Group;
use crate::plan::Step;
use crate::state::{Link, LinkKind, Object};

/// The fewest new ports that make it worth creating their bridge down.
pub(super) const MIN_PORTS: usize = 16;

/// A bridge's create step run as two: its bridge created down, then brought up.
pub(super) struct Deferred {
    /// The plan's step (its index).
    pub step: usize,
    /// What runs in its wave: the bridge created down.
    pub create_down: Step,
    /// What runs after the next wave: the bridge brought up.
    pub bring_up: Step,
}

/// The steps of `wave` that create a bridge to be brought up after `next` (the following
/// wave), which attaches at least [`MIN_PORTS`] new ports to it.
pub(super) fn to_defer(steps: &[Step], wave: &[Group], next: Option<&[Group]>) -> Vec<Deferred> {
    let Some(next) = next else {
        return Vec::new();
    };
    wave.iter()
        .flat_map(Group::members)
        .filter_map(|i| {
            let bridge = new_bridge(&steps[i])?;
            let ports = next
                .iter()
                .flat_map(Group::members)
                .filter(|&j| creates_port_of(&steps[j], bridge))
                .count();
            (ports >= MIN_PORTS).then(|| {
                let down = Link {
                    up: false,
                    ..bridge.clone()
                };
                Deferred {
                    step: i,
                    create_down: Step::create(Object::Link(down.clone()), None),
                    bring_up: Step::update(
                        Object::Link(down),
                        Object::Link(bridge.clone()),
                        vec![],
                    ),
                }
            })
        })
        .collect()
}

/// The bridge `step` creates up, if it creates one (a bridge has no peer).
fn new_bridge(step: &Step) -> Option<&Link> {
    match step {
        Step::Create(c) => match &c.object {
            Object::Link(l) if l.kind == LinkKind::Bridge && l.up => Some(l),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `step` creates a link attached to `bridge` (either end of a veth pair).
fn creates_port_of(step: &Step, bridge: &Link) -> bool {
    matches!(step, Step::Create(_))
        && step.made().any(|o| {
            matches!(o, Object::Link(l)
                if l.ns == bridge.ns && l.master.as_deref() == Some(bridge.name.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use crate::state::State;

    fn plan_for(containers: usize) -> Plan {
        let mut yaml = String::from(
            "version: 1\nhosts: { h0: { underlay: 10.200.0.1/16, interface: eth0 } }\n\
             networks: { net: { driver: bridge, subnet: 10.100.0.0/16 } }\ncontainers:\n",
        );
        for i in 0..containers {
            yaml.push_str(&format!("  c{i}: {{ host: h0, network: net }}\n"));
        }
        let topo = crate::topology::load_str(&yaml, "t.yaml").expect("topology");
        let desired = crate::compile::compile(&topo, "h0").expect("compile");
        crate::plan::diff(&desired, &State::default())
    }

    /// The bridges deferred in each wave, by name.
    fn deferred(plan: &Plan) -> Vec<Vec<String>> {
        let waves = super::super::waves(plan);
        (0..waves.len())
            .map(|w| {
                to_defer(&plan.steps, &waves[w], waves.get(w + 1).map(Vec::as_slice))
                    .into_iter()
                    .map(|d| plan.steps[d.step].key().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_new_bridge_waits_for_its_ports_only_when_they_are_many() {
        let many = plan_for(MIN_PORTS);
        let d = deferred(&many);
        assert_eq!(d[0], vec!["link host/br-net".to_string()], "{d:?}");
        assert!(d[1..].iter().all(Vec::is_empty), "{d:?}");
        let few = plan_for(MIN_PORTS - 1);
        assert!(deferred(&few).iter().all(Vec::is_empty));
    }

    #[test]
    fn the_bridge_is_created_down_then_updated_to_up() {
        let plan = plan_for(MIN_PORTS);
        let waves = super::super::waves(&plan);
        let d = to_defer(&plan.steps, &waves[0], Some(&waves[1]));
        let [d] = d.as_slice() else {
            panic!("one bridge deferred")
        };
        let Step::Create(create) = &d.create_down else {
            panic!("{:?}", d.create_down)
        };
        let mut up = create.object.clone();
        let Object::Link(l) = &mut up else {
            panic!("{up:?}")
        };
        assert!(!l.up);
        l.up = true;
        assert_eq!(Some(&up), plan.steps[d.step].desired());
        match &d.bring_up {
            Step::Update(u) => {
                assert_eq!(u.current, create.object);
                assert_eq!(Some(&u.desired), plan.steps[d.step].desired());
            }
            other => panic!("{other:?}"),
        }
    }
}
