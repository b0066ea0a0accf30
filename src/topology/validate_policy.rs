//! Validation of `policies:` and of container `labels:`: unknown networks, containers and
//! label keys; selections that match nothing; policies selecting interfaces where policy is not
//! enforced; bad ports and ranges; `icmp` with a port; address blocks of a family the selected
//! interfaces do not have.

use super::error::Diagnostic;
use super::ipam::Attachment;
use super::model::Topology;
use super::policy::{
    Direction, MAX_POLICY_NAME, Match, Policy, Protocol, SelectionIndex, driver_name, enforced,
};
use std::collections::BTreeSet;

/// The longest label key or value.
const MAX_LABEL: usize = 63;

/// Every problem of the file's labels and policies. `all` is every attachment; when
/// `allocated` is false (address allocation failed, and was reported), selections are not
/// checked, since attachments may be missing.
pub(super) fn validate(
    topo: &Topology,
    all: &[Attachment],
    allocated: bool,
    diags: &mut Vec<Diagnostic>,
) {
    labels(topo, diags);
    if topo.policies.is_empty() {
        return;
    }
    let index = SelectionIndex::new(topo, all);
    for (name, policy) in &topo.policies {
        let check = Check {
            topo,
            all,
            index: &index,
            allocated,
            name,
        };
        check.policy(policy, diags);
    }
}

fn labels(topo: &Topology, diags: &mut Vec<Diagnostic>) {
    for (name, c) in &topo.containers {
        for (key, value) in &c.labels {
            let path = format!("containers.{name}.labels.{key}");
            let bad_key = key.is_empty()
                || key.len() > MAX_LABEL
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
            if bad_key {
                diags.push(Diagnostic::new(
                    &path,
                    format!("label key {key:?} must be 1 to {MAX_LABEL} characters of A-Z a-z 0-9 _ . - /"),
                ));
            }
            let bad_value = value.len() > MAX_LABEL
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if bad_value {
                diags.push(Diagnostic::new(
                    &path,
                    format!("label value {value:?} must be at most {MAX_LABEL} characters of A-Z a-z 0-9 _ . -"),
                ));
            }
        }
    }
}

/// Why a policy name cannot be used in nftables chain and set names, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    (name.len() > MAX_POLICY_NAME || !ok_chars || !starts_ok).then(|| {
        format!(
            "policy name {name:?} must be 1 to {MAX_POLICY_NAME} characters of A-Z a-z 0-9 _ . -, \
             starting with a letter or digit (it is part of nftables chain and set names)"
        )
    })
}

/// The address families of some attachments: (IPv4, IPv6).
fn families<'a>(atts: impl Iterator<Item = &'a Attachment>) -> (bool, bool) {
    atts.fold((false, false), |(v4, v6), a| {
        (v4 || a.v4.is_some(), v6 || a.v6.is_some())
    })
}

fn family_name(v4: bool) -> &'static str {
    if v4 { "IPv4" } else { "IPv6" }
}

/// "web, api and 3 more": names for a message, at most four.
fn names(mut list: Vec<String>) -> String {
    list.dedup();
    if list.len() > 4 {
        let more = list.len() - 3;
        list.truncate(3);
        return format!("{} and {more} more", list.join(", "));
    }
    list.join(", ")
}

struct Check<'a> {
    topo: &'a Topology,
    all: &'a [Attachment],
    index: &'a SelectionIndex<'a>,
    allocated: bool,
    name: &'a str,
}

impl<'a> Check<'a> {
    fn policy(&self, policy: &Policy, diags: &mut Vec<Diagnostic>) {
        let base = format!("policies.{}", self.name);
        if let Some(problem) = name_problem(self.name) {
            diags.push(Diagnostic::new(&base, problem));
        }
        let path = format!("{base}.selector");
        let selected = self.selection(policy.selector.as_match(), &path, diags);
        if let Some(selected) = &selected {
            self.enforcement(selected, &path, diags);
        }
        if policy.ingress.is_none() && policy.egress.is_none() {
            diags.push(Diagnostic::new(
                &base,
                "has neither `ingress` nor `egress`, so it changes nothing; add one \
                 (`ingress: []` denies all incoming traffic to the selected containers)",
            ));
        }
        let targets = selected.as_deref().map(|s| families(s.iter().copied()));
        for dir in Direction::BOTH {
            for (i, rule) in policy.rules(dir).unwrap_or_default().iter().enumerate() {
                let path = format!("{base}.{}[{i}]", dir.name());
                let key = dir.peers_key();
                match rule.peers {
                    Some([]) => diags.push(Diagnostic::new(
                        format!("{path}.{key}"),
                        format!("is empty; leave `{key}` out to allow every peer"),
                    )),
                    Some(peers) => {
                        for (j, peer) in peers.iter().enumerate() {
                            let path = format!("{path}.{key}[{j}]");
                            self.peer(peer, &path, targets, diags);
                        }
                    }
                    None => {}
                }
                match rule.ports {
                    Some([]) => diags.push(Diagnostic::new(
                        format!("{path}.ports"),
                        "is empty; leave `ports` out to allow every protocol and port",
                    )),
                    Some(ports) => {
                        for (k, port) in ports.iter().enumerate() {
                            let path = format!("{path}.ports[{k}].port");
                            let Some(value) = &port.port else { continue };
                            if port.protocol == Protocol::Icmp {
                                diags.push(Diagnostic::new(
                                    path,
                                    "icmp has no ports; leave `port` out to allow ICMP",
                                ));
                            } else if let Err(problem) = value.range() {
                                diags.push(Diagnostic::new(path, problem).expecting_form());
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// Check a selector's keys and return the attachments it picks (`None`: its keys are
    /// wrong, or selections are not checked). An empty selection is a problem.
    fn selection(
        &self,
        m: Match<'_>,
        path: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Vec<&'a Attachment>> {
        let topo = self.topo;
        if m.is_empty() {
            diags.push(Diagnostic::new(
                path,
                "selects nothing: give `network`, `containers` or `labels`",
            ));
            return None;
        }
        let mut ok = true;
        if let Some(network) = m.network
            && !topo.networks.contains_key(network)
        {
            ok = false;
            diags.push(
                Diagnostic::new(
                    format!("{path}.network"),
                    format!("unknown network {network:?}"),
                )
                .suggesting(network, topo.networks.keys().map(String::as_str)),
            );
        }
        for (i, c) in m.containers.iter().enumerate() {
            if !topo.containers.contains_key(c) {
                ok = false;
                diags.push(
                    Diagnostic::new(
                        format!("{path}.containers[{i}]"),
                        format!("unknown container {c:?}"),
                    )
                    .suggesting(c, topo.containers.keys().map(String::as_str)),
                );
            }
        }
        for key in m.labels.keys() {
            if !topo.containers.values().any(|c| c.labels.contains_key(key)) {
                ok = false;
                let known: BTreeSet<&str> = topo
                    .containers
                    .values()
                    .flat_map(|c| c.labels.keys().map(String::as_str))
                    .collect();
                diags.push(
                    Diagnostic::new(
                        format!("{path}.labels.{key}"),
                        format!("no container has the label {key:?}"),
                    )
                    .suggesting(key, known),
                );
            }
        }
        if !ok || !self.allocated {
            return None;
        }
        let selected: Vec<&Attachment> = self
            .index
            .select(m)
            .into_iter()
            .map(|i| &self.all[i])
            .collect();
        if selected.is_empty() {
            diags.push(Diagnostic::new(
                path,
                "selects no container interface: no container matches all of its keys",
            ));
            return None;
        }
        Some(selected)
    }

    /// The selected interfaces must be on networks where policy is enforced.
    fn enforcement(&self, selected: &[&Attachment], path: &str, diags: &mut Vec<Diagnostic>) {
        let mut by_network: Vec<(&str, Vec<String>)> = Vec::new();
        for a in selected {
            let Some(net) = self.topo.networks.get(&a.network) else {
                continue;
            };
            if enforced(net) {
                continue;
            }
            match by_network.iter_mut().find(|(n, _)| *n == a.network) {
                Some((_, list)) => list.push(a.container.clone()),
                None => by_network.push((&a.network, vec![a.container.clone()])),
            }
        }
        for (network, containers) in by_network {
            let driver = self
                .topo
                .networks
                .get(network)
                .map(driver_name)
                .unwrap_or_default();
            diags.push(Diagnostic::new(
                path,
                format!(
                    "selects {} on network {network} (driver {driver}), where policies are not \
                     enforced: traffic between containers of a bridged or macvlan network does \
                     not pass the host's forward path; policies apply to `driver: routed` \
                     networks (narrow the selector, e.g. with `network:`)",
                    names(containers)
                ),
            ));
        }
    }

    /// One peer: exactly one of `cidr` and selector keys, and a family the policy's
    /// interfaces have (`targets`: their (IPv4, IPv6), when known).
    fn peer(
        &self,
        peer: &super::policy::Peer,
        path: &str,
        targets: Option<(bool, bool)>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let policy = self.name;
        match (peer.cidr, peer.as_match()) {
            (Some(_), Some(_)) => diags.push(Diagnostic::new(
                path,
                "gives both `cidr` and selector keys (`network`, `containers`, `labels`); a \
                 peer is one or the other (write two peers to allow both)",
            )),
            (None, None) => diags.push(Diagnostic::new(
                path,
                "is empty: give `cidr` or selector keys (`network`, `containers`, `labels`)",
            )),
            (Some(cidr), None) => {
                let v4 = cidr.addr().is_ipv4();
                if let Some((t4, t6)) = targets
                    && !(if v4 { t4 } else { t6 })
                {
                    diags.push(Diagnostic::new(
                        format!("{path}.cidr"),
                        format!(
                            "{cidr} is {} but the interfaces policy {policy} selects have no {} address",
                            family_name(v4),
                            family_name(v4)
                        ),
                    ));
                }
            }
            (None, Some(m)) => {
                let Some(selected) = self.selection(m, path, diags) else {
                    return;
                };
                let (p4, p6) = families(selected.iter().copied());
                if let Some((t4, t6)) = targets
                    && !(p4 && t4 || p6 && t6)
                {
                    diags.push(Diagnostic::new(
                        path,
                        format!(
                            "selects only {} interfaces but the interfaces policy {policy} \
                             selects have no {} address, so this peer can never match",
                            family_name(p4),
                            family_name(p4)
                        ),
                    ));
                }
            }
        }
    }
}
