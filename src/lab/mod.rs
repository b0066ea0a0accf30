//! The lab: every host of a topology simulated in network namespaces on one machine.
//!
//! Layout (docs/architecture.md, "Namespaces and the lab"): a switch namespace `<lab>.switch` holds a bridge
//! `switch`; each host is a namespace `<lab>-<host>` holding its underlay interface (a veth whose
//! other end is a port of the switch bridge) with the host's underlay address; the host's
//! containers are `<lab>-<host>-<container>`. The lab's own plumbing is planned and applied by the
//! same engine as everything else, through a target whose "host" is the switch namespace and whose
//! "containers" are the simulated hosts. It carries different ownership marks than netplan-rs
//! proper, so a host's plan never sees the underlay as its own. Nothing here touches the
//! machine's root namespace.

mod error;
mod lifecycle;
mod ping;
pub mod policy;
pub mod reach;
pub mod standin;
#[cfg(test)]
mod tests;
mod transport;
mod verify;
pub mod verify_json;

pub use error::LabError;
pub use lifecycle::{build_hosts, converge, down, lock_lab, plan_host};
pub use ping::ping;
pub use verify::{Expect, Matrix, Probe, ProbeResult, Verdict, addresses, expectations, verify};

use crate::kernel::{Marks, Target};
use crate::state::{Address, Link, LinkKind, Mac, Namespace, Ns, State, VethPeer};
use crate::topology::Topology;

/// Name of the bridge inside the switch namespace.
const SWITCH_BRIDGE: &str = "switch";
/// Alias / protocol marks of the lab's plumbing (distinct from netplan-rs's own).
const LAB_LINK_ALIAS: &str = "netplan-rs-lab";
const LAB_PROTO: u8 = 79;

/// Check a lab name: it becomes part of namespace names.
pub fn check_name(lab: &str) -> Result<(), String> {
    let valid = !lab.is_empty()
        && lab.len() <= 64
        && lab
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "lab name {lab:?} must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
        ))
    }
}

/// The default lab name: the topology file's stem (`topologies/vxlan-bridged.yaml` ->
/// `vxlan-bridged`), with characters a namespace name can't carry replaced.
pub fn default_name(file: &std::path::Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lab".to_string());
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "lab".to_string()
    } else {
        name
    }
}

/// `Err` naming the first simulated host of `topo` whose namespace is missing in lab `lab` (the
/// same words as `plan --lab` uses).
pub fn check_up(topo: &Topology, lab: &str) -> Result<(), String> {
    for host in topo.hosts.keys() {
        let ns = host_netns(lab, host);
        if !crate::kernel::netns::exists(&ns) {
            return Err(format!(
                "simulated host {host} of lab {lab} does not exist (no netns {ns}); run `netplan-rs lab up FILE --lab {lab}` first"
            ));
        }
    }
    Ok(())
}

pub fn switch_netns(lab: &str) -> String {
    format!("{lab}.switch")
}

pub fn host_netns(lab: &str, host: &str) -> String {
    format!("{lab}-{host}")
}

pub fn container_netns(lab: &str, host: &str, container: &str) -> String {
    format!("{lab}-{host}-{container}")
}

/// Whether `mark` (the alias of a namespace's `lo`) says the namespace belongs to lab `lab`: a
/// simulated host (the plumbing's mark) or a container of one.
pub fn is_lab_mark(mark: &str, lab: &str) -> bool {
    mark == format!("{LAB_LINK_ALIAS} lab={lab}")
        || mark
            .strip_prefix(&format!(
                "{} lab={lab} host=",
                crate::state::ownership::LINK_ALIAS
            ))
            .is_some_and(|host| !host.is_empty() && !host.contains(' '))
}

/// The target that plans and applies the lab's plumbing: "host" = switch, "containers" = hosts.
pub fn switch_target(lab: &str) -> Target {
    Target {
        host_netns: Some(switch_netns(lab)),
        container_prefix: format!("{lab}-"),
        marks: Marks {
            link_alias: LAB_LINK_ALIAS.to_string(),
            proto: LAB_PROTO,
            netns_mark: format!("{LAB_LINK_ALIAS} lab={lab}"),
        },
        external: Default::default(),
        claimed: None,
        adopt: Default::default(),
        nft_table: crate::state::NFT_TABLE.to_string(),
    }
}

/// The target for simulated host `host`: what `plan --lab L --host H` acts on. Its objects
/// carry the lab's and host's mark, so a namespace of another lab, of a real-host scope or of
/// the machine itself never reads as this host's.
pub fn host_target(lab: &str, host: &str) -> Target {
    let mut target = Target::local();
    target.host_netns = Some(host_netns(lab, host));
    target.container_prefix = format!("{}-", host_netns(lab, host));
    let mark = crate::state::ownership::lab_host_mark(lab, host);
    target.marks.link_alias = mark.clone();
    target.marks.netns_mark = mark;
    target
}

/// The lab's plumbing as desired state of the switch target: one namespace per host, each with
/// its underlay interface and address, cabled to the switch bridge.
pub fn plumbing(topo: &Topology) -> State {
    let mut state = State::default();
    state.insert(Link {
        ns: Ns::Host,
        name: SWITCH_BRIDGE.to_string(),
        kind: LinkKind::Bridge,
        mac: None,
        mtu: None,
        master: None,
        up: true,
        ipv6: None,
        owned: true,
    });
    for (host_name, host) in &topo.hosts {
        let host_ns = Ns::Container(host_name.clone());
        let underlay_if = crate::topology::underlay_interface(host).to_string();
        let port = switch_port_name(host_name);
        state.insert(Namespace {
            name: host_name.clone(),
            owned: true,
            ipv6_default: None,
        });
        state.insert(Link {
            ns: Ns::Host,
            name: port.clone(),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: host_ns.clone(),
                    name: underlay_if.clone(),
                }),
            },
            mac: None,
            mtu: Some(host.mtu.unwrap_or(crate::topology::DEFAULT_UNDERLAY_MTU)),
            master: Some(SWITCH_BRIDGE.to_string()),
            up: true,
            ipv6: None,
            owned: true,
        });
        state.insert(Link {
            ns: host_ns.clone(),
            name: underlay_if.clone(),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: Ns::Host,
                    name: port,
                }),
            },
            mac: None,
            mtu: Some(host.mtu.unwrap_or(crate::topology::DEFAULT_UNDERLAY_MTU)),
            master: None,
            up: true,
            ipv6: None,
            owned: true,
        });
        state.insert(Address {
            ns: host_ns,
            link: underlay_if,
            cidr: host.underlay,
            owned: true,
        });
    }
    state
}

/// Switch-side port for a host: `sw-` + 8 hex digits hashed from the host name (fits 15 chars).
fn switch_port_name(host: &str) -> String {
    let m = Mac::hashed(&["lab-switch-port", host]).0;
    format!("sw-{:02x}{:02x}{:02x}{:02x}", m[2], m[3], m[4], m[5])
}

#[cfg(test)]
mod mark_tests {
    #[test]
    fn lab_marks_are_told_apart_from_other_labs() {
        use super::is_lab_mark;
        assert!(is_lab_mark("netplan-rs-lab lab=demo", "demo"));
        assert!(is_lab_mark("netplan-rs lab=demo host=node-1", "demo"));
        assert!(!is_lab_mark("netplan-rs lab=demo-x host=node-1", "demo"));
        assert!(!is_lab_mark("netplan-rs-lab lab=demo-x", "demo"));
        assert!(!is_lab_mark("netplan-rs", "demo"));
        assert!(!is_lab_mark("netplan-rs lab=demo host=", "demo"));
    }
}
