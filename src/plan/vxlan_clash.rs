//! VXLAN identity clashes: the kernel allows one vxlan per VNI and UDP port (and address family)
//! in a namespace, whatever its name. A wanted vxlan whose VNI and port an unowned vxlan of
//! another name already holds cannot be created ("File exists" at apply time, after earlier
//! steps ran), so it is a plan conflict naming that link. An owned one is netplan-rs's own and
//! is deleted or replaced by the plan; the same name is an ordinary name conflict (`diff`).

use super::step::Conflict;
use crate::state::{Link, LinkKind, Ns, Object, State, Vxlan};
use std::collections::HashMap;

/// What the kernel keys a vxlan on within its namespace (besides the address family).
type Identity<'a> = (&'a Ns, u32, u16);

/// Conflicts for wanted vxlans whose VNI and port an unowned vxlan of another name holds in the
/// same namespace, in desired-key order.
pub(super) fn conflicts(desired: &State, observed: &State) -> Vec<Conflict> {
    let mut held: HashMap<Identity<'_>, Vec<(&Link, &Vxlan)>> = HashMap::new();
    for (link, vxlan) in vxlans(observed).filter(|(link, _)| !link.owned) {
        held.entry((&link.ns, vxlan.vni, vxlan.port))
            .or_default()
            .push((link, vxlan));
    }
    if held.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (want, vxlan) in vxlans(desired) {
        let Some(holders) = held.get(&(&want.ns, vxlan.vni, vxlan.port)) else {
            continue;
        };
        for (have, theirs) in holders {
            if have.name == want.name || !same_family(vxlan, theirs) {
                continue;
            }
            let key = Object::Link(want.clone()).key();
            out.push(Conflict {
                message: format!(
                    "{key}: vni {} on port {} is already used by link {}/{}, which netplan-rs does not manage (the kernel allows one vxlan per VNI and port); remove it or change the network's vni or port",
                    vxlan.vni, vxlan.port, have.ns, have.name
                ),
                key,
            });
        }
    }
    out
}

fn vxlans(state: &State) -> impl Iterator<Item = (&Link, &Vxlan)> {
    state.objects.values().filter_map(|object| match object {
        Object::Link(link) => match &link.kind {
            LinkKind::Vxlan(vxlan) => Some((link, vxlan)),
            _ => None,
        },
        _ => None,
    })
}

/// IPv4 and IPv6 vxlans do not clash (the kernel keys on the family too); an unknown local
/// address could be either.
fn same_family(a: &Vxlan, b: &Vxlan) -> bool {
    match (a.local, b.local) {
        (Some(x), Some(y)) => x.is_ipv4() == y.is_ipv4(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::*;

    fn renamed(object: Object, name: &str) -> Object {
        let Object::Link(mut link) = object else {
            panic!("a link");
        };
        link.name = name.to_string();
        Object::Link(link)
    }

    #[test]
    fn an_unowned_vxlan_with_the_vni_and_port_is_a_conflict_naming_it() {
        let desired = state([bridge("br-o"), vxlan("vx-o", 100, "br-o")]);
        let observed = state([
            unowned(other_link("host", "eth0", "veth")),
            unowned(renamed(vxlan("vx-o", 100, "br-o"), "vx-other")),
        ]);
        let plan = crate::plan::diff(&desired, &observed);
        let messages: Vec<&str> = plan.conflicts.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "link host/vx-o: vni 100 on port 4789 is already used by link host/vx-other, which netplan-rs does not manage (the kernel allows one vxlan per VNI and port); remove it or change the network's vni or port"
            ]
        );
    }

    #[test]
    fn no_conflict_for_other_vnis_owned_links_or_other_namespaces() {
        let desired = state([bridge("br-o"), vxlan("vx-o", 100, "br-o")]);
        for observed in [
            // Another VNI.
            state([unowned(renamed(vxlan("vx-o", 101, "br-o"), "vx-other"))]),
            // Owned: netplan-rs deletes it first.
            state([renamed(vxlan("vx-o", 100, "br-o"), "vx-old")]),
        ] {
            assert!(conflicts(&desired, &observed).is_empty());
        }
        let Object::Link(mut elsewhere) = unowned(renamed(vxlan("vx-o", 100, "br-o"), "vx-x"))
        else {
            unreachable!()
        };
        elsewhere.ns = ns("other");
        assert!(conflicts(&desired, &state([Object::Link(elsewhere)])).is_empty());
        let Object::Link(mut v6) = unowned(renamed(vxlan("vx-o", 100, "br-o"), "vx-6")) else {
            unreachable!()
        };
        if let LinkKind::Vxlan(v) = &mut v6.kind {
            v.local = Some("fd00::1".parse().unwrap());
        }
        assert!(conflicts(&desired, &state([Object::Link(v6)])).is_empty());
    }
}
