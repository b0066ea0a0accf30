//! `lab verify`: probe every ordered pair of distinct containers, against every address of the
//! target, and compare each reply (or its absence) with what the topology expects:
//!
//! - reachable: the routing model ([`super::reach`]) delivers the ping and its reply; shown as
//!   `ok` when the two containers share the address's network, `ok*` when the path is routed
//!   between networks (it crosses at least one forwarding host);
//! - isolated: the model drops the request or the reply, so a reply is a leak.
//!
//! With `policies:` in the file, the file's policies ([`super::policy`]) then decide per
//! protocol: a probe the routing delivers but policy denies is expected isolated. Besides the
//! ping, each pair gets a TCP or UDP probe per port the policies selecting either side name,
//! against a listener netplan-rs opens in the target's namespace ([`super::transport`]).
//!
//! Probes are sent from inside the sender's namespace, run concurrently (one thread each, in
//! batches of [`MAX_THREADS`]). The expectations ([`expectations`]) need no kernel (only a
//! container naming an existing namespace is looked up, for its namespace file), so they are
//! unit-tested without root; the matrix ([`Matrix`]) is built from expectations and outcomes,
//! also testable without a kernel.

use super::policy::{PolicyModel, Service};
use super::reach::{Fabric, Place, Reach};
use super::{container_netns, ping, transport};
use crate::topology::{Attachment, Topology, attachments};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Echo requests per probe, and how long to wait for each reply. Both families get the same:
/// netplan-rs creates its bridges with IPv6 DAD off (`kernel::dad`), so a fresh bridge resolves
/// neighbours for forwarded IPv6 packets at once instead of after about 2 s.
const ATTEMPTS: u16 = 3;
const TIMEOUT: Duration = Duration::from_secs(1);
/// Probes in flight at once (one thread each): an isolated pair costs the whole timeout, so they
/// run concurrently, but a large fleet must not spawn thousands of threads.
const MAX_THREADS: usize = 128;

/// What the topology says about one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Reachable on a network both containers are attached to.
    Reachable,
    /// Reachable, routed between networks (through the forwarding hosts named).
    Routed(Vec<String>),
    /// Must not be reachable; the model says where the packet is dropped.
    Isolated(String),
}

/// One probe to send: from a container's namespace to one address of another container, a
/// ping or a TCP/UDP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Indexes into the container list (topology order).
    pub from: usize,
    pub to: usize,
    /// The sender's namespace.
    pub netns: PathBuf,
    /// The target's namespace (where a TCP/UDP probe's listener is opened).
    pub target_netns: PathBuf,
    /// The network of the target address.
    pub network: String,
    pub address: IpAddr,
    pub service: Service,
    pub expect: Expect,
}

/// The addresses a container answers on for one attachment: its IPv4 and IPv6 addresses,
/// whichever the network carries.
pub fn addresses(att: &Attachment) -> Vec<IpAddr> {
    let v4 = att.ipv4().map(IpAddr::V4);
    let v6 = att.ipv6().map(IpAddr::V6);
    v4.into_iter().chain(v6).collect()
}

/// The namespace a probe from `att`'s container is sent from: its lab namespace, or the file
/// of the existing namespace it names (`netns:`), or its stand-in (see `standin`). The only place
/// verify learns where a container's namespace lives. An existing namespace that cannot be found
/// falls back to the lab name, so the ping fails with a message naming a missing namespace.
fn netns_path(topo: &Topology, lab: &str, att: &Attachment) -> PathBuf {
    let lab_name =
        || PathBuf::from("/run/netns").join(container_netns(lab, &att.host, &att.container));
    let Some(netns) = topo
        .containers
        .get(&att.container)
        .and_then(|c| c.netns.as_ref())
    else {
        return lab_name();
    };
    crate::external::namespace_file(netns)
        .ok()
        .or_else(|| {
            let standin = super::standin::standin_netns(lab, &att.host, &att.container);
            crate::kernel::netns::is_namespace(&standin)
                .then(|| PathBuf::from("/run/netns").join(standin))
        })
        .unwrap_or_else(lab_name)
}

/// Every probe of lab `lab`, with its expectation, plus notes on addresses left unprobed
/// (`(from, to, text)`: a sender holding the same address would answer itself).
pub fn expectations(topo: &Topology, lab: &str) -> (Vec<Probe>, Vec<(usize, usize, String)>) {
    let fabric = Fabric::new(topo);
    let all = attachments(topo);
    let policy = PolicyModel::new(topo, &all);
    let containers: Vec<&String> = topo.containers.keys().collect();
    // Each container's attachments (indices into `all`), grouped once: scanning every
    // attachment for every pair would make this cubic in the fleet size.
    let mut on: Vec<Vec<usize>> = vec![Vec::new(); containers.len()];
    for (i, att) in all.iter().enumerate() {
        if let Some(c) = topo.containers.get_index_of(&att.container) {
            on[c].push(i);
        }
    }
    // Resolved once per container: an existing namespace may cost a Docker API call.
    let netns: Vec<Option<PathBuf>> = on
        .iter()
        .map(|atts| atts.first().map(|&i| netns_path(topo, lab, &all[i])))
        .collect();
    let mut probes = Vec::new();
    let mut notes = Vec::new();
    for (from, a) in containers.iter().enumerate() {
        let (Some(&first), Some(sender_ns)) = (on[from].first(), &netns[from]) else {
            continue; // a container on no network sends nothing
        };
        let place = Place::container(&all[first].host, a);
        for (to, b) in containers.iter().enumerate() {
            if from == to {
                continue;
            }
            let Some(target_ns) = &netns[to] else {
                continue;
            };
            for &ti in &on[to] {
                let target = &all[ti];
                let shared = on[from].iter().any(|&i| all[i].network == target.network);
                for address in addresses(target) {
                    let routed = match fabric.reach(&place, address) {
                        Reach::Local => {
                            notes.push((from, to, format!("{address} is also {a}'s own")));
                            continue;
                        }
                        Reach::Delivered { to: got, .. }
                            if got != Place::container(&target.host, b) =>
                        {
                            notes.push((from, to, format!("{address} is answered by {got}")));
                            continue;
                        }
                        Reach::Delivered { .. } if shared => Expect::Reachable,
                        Reach::Delivered { forwarded_by, .. } => {
                            Expect::Routed(forwarded_by.iter().map(|p| p.host.clone()).collect())
                        }
                        Reach::Dropped { why } => Expect::Isolated(why),
                    };
                    // What policy adds, for a packet the routing delivers: the sender's
                    // interface (its egress side) and source address (the target's peer).
                    let route = match (&routed, policy.is_empty()) {
                        (Expect::Isolated(_), _) | (_, true) => None,
                        _ => fabric.sender_route(&place, address),
                    };
                    let sender = route.as_ref().and_then(|(dev, _)| {
                        on[from].iter().copied().find(|&i| all[i].interface == *dev)
                    });
                    let expect = |service| match &route {
                        Some((_, src)) => match policy.allows(sender, *src, ti, address, service) {
                            Ok(()) => routed.clone(),
                            Err(why) => Expect::Isolated(format!("policy denies it: {why}")),
                        },
                        None => routed.clone(),
                    };
                    let services = match route {
                        Some(_) => policy.services(sender, ti),
                        None => Vec::new(),
                    };
                    for service in std::iter::once(Service::Icmp).chain(services) {
                        probes.push(Probe {
                            from,
                            to,
                            netns: sender_ns.clone(),
                            target_netns: target_ns.clone(),
                            network: target.network.clone(),
                            address,
                            service,
                            expect: expect(service),
                        });
                    }
                }
            }
        }
    }
    (probes, notes)
}

/// Send one probe: Ok(whether it was answered).
fn send(p: &Probe) -> Result<bool, String> {
    let at = |port| SocketAddr::new(p.address, port);
    match p.service {
        Service::Icmp => ping(&p.netns, p.address, ATTEMPTS, TIMEOUT),
        Service::Tcp(port) => transport::tcp(&p.netns, at(port), ATTEMPTS, TIMEOUT),
        Service::Udp(port) => transport::udp(&p.netns, at(port), ATTEMPTS, TIMEOUT),
    }
    .map_err(|e| e.to_string())
}

/// Run every probe of `topo` in lab `lab` and build the matrix.
pub fn verify(topo: &Topology, lab: &str) -> Matrix {
    let (probes, notes) = expectations(topo, lab);
    // One listener per (target namespace, protocol, port) that a probe needs.
    let mut specs: Vec<transport::ListenerSpec> = probes
        .iter()
        .filter_map(|p| match p.service {
            Service::Icmp => None,
            Service::Tcp(port) => Some((p.target_netns.as_path(), true, port)),
            Service::Udp(port) => Some((p.target_netns.as_path(), false, port)),
        })
        .collect();
    specs.sort_unstable();
    specs.dedup();
    let (listeners, errors) = transport::Listeners::open(&specs);
    let unserved = |p: &Probe| -> Option<String> {
        let key = (
            p.target_netns.as_path(),
            matches!(p.service, Service::Tcp(_)),
            p.service.port()?,
        );
        let i = specs.binary_search(&key).ok()?;
        errors[i]
            .as_ref()
            .map(|e| format!("cannot listen on {} in the target: {e}", p.service))
    };
    let mut outcomes: Vec<Result<bool, String>> = Vec::with_capacity(probes.len());
    for batch in probes.chunks(MAX_THREADS) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|p| {
                    let unserved = unserved(p);
                    scope.spawn(move || match unserved {
                        Some(why) => Err(why),
                        None => send(p),
                    })
                })
                .collect();
            outcomes.extend(handles.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("probe thread panicked".to_string()))
            }));
        });
    }
    drop(listeners);
    let containers = topo.containers.keys().cloned().collect();
    Matrix::new(containers, probes, outcomes, notes)
}

/// The verdict of one cell (one ordered pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Reachable as expected, on a shared network.
    Ok,
    /// Reachable as expected, routed between networks.
    Routed,
    /// Isolated as expected.
    Isolated,
    /// Expected reachable, no reply (or the probe could not run).
    Fail,
    /// Expected isolated, got a reply.
    Leak,
    /// Nothing could be probed.
    Untested,
}

impl Verdict {
    pub fn symbol(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Routed => "ok*",
            Verdict::Isolated => "x",
            Verdict::Fail => "FAIL",
            Verdict::Leak => "LEAK",
            Verdict::Untested => "?",
        }
    }
}

/// Verdicts for every ordered pair of containers, in topology order, with the reasons behind
/// every FAIL and LEAK.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub containers: Vec<String>,
    /// `cells[i][j]`: from container i to container j (`None` on the diagonal).
    pub cells: Vec<Vec<Option<Verdict>>>,
    /// One line per probe that went against its expectation, and per address not probed.
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    /// Every probe sent, with what was expected and what happened (for `lab verify --json`).
    pub probes: Vec<ProbeResult>,
}

/// One probe as sent and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub from: String,
    pub to: String,
    pub network: String,
    pub address: IpAddr,
    pub service: Service,
    pub expect: Expect,
    pub verdict: Verdict,
    /// Why it is a FAIL or a LEAK (or why the probe could not run); `None` when as expected.
    pub reason: Option<String>,
}

impl Matrix {
    /// Fold probe outcomes (`Ok(replied)` or the probe's error) into cells.
    pub fn new(
        containers: Vec<String>,
        probes: Vec<Probe>,
        outcomes: Vec<Result<bool, String>>,
        notes: Vec<(usize, usize, String)>,
    ) -> Matrix {
        let n = containers.len();
        let mut per_cell: Vec<Vec<Vec<Verdict>>> = vec![vec![Vec::new(); n]; n];
        let mut problems = Vec::new();
        let mut results = Vec::new();
        for (p, outcome) in probes.iter().zip(outcomes) {
            // A ping reads as before policies existed: `a -> b 10.0.0.2 (net)`.
            let service = match p.service {
                Service::Icmp => String::new(),
                other => format!(" {other}"),
            };
            let pair = format!(
                "{} -> {} {}{service} ({})",
                containers[p.from], containers[p.to], p.address, p.network
            );
            let verdict = match (&p.expect, outcome) {
                (Expect::Reachable, Ok(true)) => Verdict::Ok,
                (Expect::Routed(_), Ok(true)) => Verdict::Routed,
                (Expect::Isolated(_), Ok(false)) => Verdict::Isolated,
                (Expect::Reachable, Ok(false)) => {
                    problems.push(format!("FAIL {pair}: no reply"));
                    Verdict::Fail
                }
                (Expect::Routed(via), Ok(false)) => {
                    let via = via.join(", ");
                    problems.push(format!("FAIL {pair}: no reply (routed via {via})"));
                    Verdict::Fail
                }
                (Expect::Isolated(why), Ok(true)) => {
                    problems.push(format!("LEAK {pair}: got a reply, expected none: {why}"));
                    Verdict::Leak
                }
                (_, Err(e)) => {
                    problems.push(format!("FAIL {pair}: probe failed: {e}"));
                    Verdict::Fail
                }
            };
            per_cell[p.from][p.to].push(verdict);
            let reason = matches!(verdict, Verdict::Fail | Verdict::Leak)
                .then(|| problems.last().map(|line| reason_of(line, &pair)))
                .flatten();
            results.push(ProbeResult {
                from: containers[p.from].clone(),
                to: containers[p.to].clone(),
                network: p.network.clone(),
                address: p.address,
                service: p.service,
                expect: p.expect.clone(),
                verdict,
                reason,
            });
        }
        let cells = per_cell
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                row.into_iter()
                    .enumerate()
                    .map(|(j, vs)| (i != j).then(|| fold(&vs)))
                    .collect()
            })
            .collect();
        let notes = notes
            .into_iter()
            .map(|(i, j, text)| {
                format!("{} -> {}: not probed, {text}", containers[i], containers[j])
            })
            .collect();
        Matrix {
            containers,
            cells,
            problems,
            notes,
            probes: results,
        }
    }

    fn count(&self, wanted: &[Verdict]) -> usize {
        self.cells
            .iter()
            .flatten()
            .flatten()
            .filter(|v| wanted.contains(v))
            .count()
    }

    /// No FAIL and no LEAK.
    pub fn passed(&self) -> bool {
        self.count(&[Verdict::Fail, Verdict::Leak]) == 0
    }

    /// The last line: `All 6 pairs as expected: 2 reachable, 4 isolated.` or what went wrong.
    pub fn summary(&self) -> String {
        let tested = self.count(&[
            Verdict::Ok,
            Verdict::Routed,
            Verdict::Isolated,
            Verdict::Fail,
            Verdict::Leak,
        ]);
        let (fail, leak) = (self.count(&[Verdict::Fail]), self.count(&[Verdict::Leak]));
        if fail + leak > 0 {
            return format!(
                "{} of {} not as expected: {fail} FAIL, {leak} LEAK.",
                fail + leak,
                crate::plural::count(tested, "pair")
            );
        }
        let routed = self.count(&[Verdict::Routed]);
        let reachable = self.count(&[Verdict::Ok]) + routed;
        let routed = if routed > 0 {
            format!(" ({routed} routed)")
        } else {
            String::new()
        };
        let all = match tested {
            1 => "1 pair".to_string(),
            n => format!("All {n} pairs"),
        };
        format!(
            "{all} as expected: {reachable} reachable{routed}, {} isolated.",
            self.count(&[Verdict::Isolated])
        )
    }

    /// Matrix, legend, problems, notes and summary: what `lab verify` prints.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        out.push('\n');
        out.push_str(&legend());
        if !self.problems.is_empty() || !self.notes.is_empty() {
            out.push('\n');
        }
        for line in self.problems.iter().chain(&self.notes) {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }
}

/// The reason in a problem line `"FAIL {pair}: {reason}"` / `"LEAK {pair}: {reason}"`.
fn reason_of(line: &str, pair: &str) -> String {
    line.split_once(pair)
        .map(|(_, rest)| rest.trim_start_matches(": ").to_string())
        .unwrap_or_else(|| line.to_string())
}

/// Symbol and meaning, laid out in two columns under the matrix.
const LEGEND: [(&str, &str); 6] = [
    ("ok", "reachable, as expected (same network)"),
    ("ok*", "reachable, as expected (routed between networks)"),
    ("x", "isolated, as expected"),
    ("FAIL", "expected reachable, no reply"),
    ("LEAK", "expected isolated, got a reply"),
    ("?", "not probed (see notes)"),
];

fn legend() -> String {
    let mut out = String::new();
    for pair in LEGEND.chunks(2) {
        let cells: Vec<String> = pair
            .iter()
            .map(|(symbol, meaning)| format!("{symbol:<4} {meaning:<40}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// A cell's verdict from its probes' verdicts: a LEAK or FAIL anywhere wins, then reachability.
fn fold(verdicts: &[Verdict]) -> Verdict {
    [
        Verdict::Leak,
        Verdict::Fail,
        Verdict::Ok,
        Verdict::Routed,
        Verdict::Isolated,
    ]
    .into_iter()
    .find(|v| verdicts.contains(v))
    .unwrap_or(Verdict::Untested)
}

impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let corner = "from \\ to";
        let width = self
            .containers
            .iter()
            .map(String::len)
            .chain([corner.len(), 4])
            .max()
            .unwrap_or(4);
        let mut header = format!("{corner:<width$}");
        for name in &self.containers {
            let _ = write!(header, "  {name:<width$}");
        }
        writeln!(f, "{}", header.trim_end())?;
        for (i, row) in self.cells.iter().enumerate() {
            let mut line = format!("{:<width$}", self.containers[i]);
            for cell in row {
                let text = cell.map_or("-", Verdict::symbol);
                let _ = write!(line, "  {text:<width$}");
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
