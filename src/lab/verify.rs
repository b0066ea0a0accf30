//! `lab verify`: probe every ordered pair of distinct containers, against every address of the
//! target, and compare each reply (or its absence) with what the topology expects:
//!
//! - reachable: the routing model ([`super::reach`]) delivers the ping and its reply; shown as
//!   `ok` when the two containers share the address's network, `ok*` when the path is routed
//!   between networks (it crosses at least one forwarding host);
//! - isolated: the model drops the request or the reply, so a reply is a leak.
//!
//! Probes are pings from inside the sender's namespace, run concurrently (one thread each, in
//! batches of [`MAX_THREADS`]). The expectations ([`expectations`]) need no kernel (only a
//! container naming an existing namespace is looked up, for its namespace file), so they are
//! unit-tested without root; the matrix ([`Matrix`]) is built from expectations and outcomes,
//! also testable without a kernel.

use super::reach::{Fabric, Place, Reach};
use super::{container_netns, ping};
use crate::topology::{Attachment, Topology, attachments};
use std::fmt::{self, Write as _};
use std::net::IpAddr;
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

/// One ping to send: from a container's namespace to one address of another container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Indexes into the container list (topology order).
    pub from: usize,
    pub to: usize,
    pub netns: PathBuf,
    /// The network of the target address.
    pub network: String,
    pub address: IpAddr,
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
    let containers: Vec<&String> = topo.containers.keys().collect();
    // Each container's attachments, grouped once: scanning every attachment for every pair
    // would make this cubic in the fleet size.
    let on: Vec<Vec<&Attachment>> = containers
        .iter()
        .map(|c| all.iter().filter(|att| &att.container == *c).collect())
        .collect();
    let mut probes = Vec::new();
    let mut notes = Vec::new();
    for (from, a) in containers.iter().enumerate() {
        let Some(first) = on[from].first() else {
            continue; // a container on no network sends nothing
        };
        let place = Place::container(&first.host, a);
        // Resolved once per sender: an existing namespace may cost a Docker API call.
        let netns = netns_path(topo, lab, first);
        for (to, b) in containers.iter().enumerate() {
            if from == to {
                continue;
            }
            for target in &on[to] {
                let shared = on[from].iter().any(|att| att.network == target.network);
                for address in addresses(target) {
                    let expect = match fabric.reach(&place, address) {
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
                    probes.push(Probe {
                        from,
                        to,
                        netns: netns.clone(),
                        network: target.network.clone(),
                        address,
                        expect,
                    });
                }
            }
        }
    }
    (probes, notes)
}

/// Run every probe of `topo` in lab `lab` and build the matrix.
pub fn verify(topo: &Topology, lab: &str) -> Matrix {
    let (probes, notes) = expectations(topo, lab);
    let mut outcomes: Vec<Result<bool, String>> = Vec::with_capacity(probes.len());
    for batch in probes.chunks(MAX_THREADS) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|p| {
                    scope.spawn(|| {
                        ping(&p.netns, p.address, ATTEMPTS, TIMEOUT).map_err(|e| e.to_string())
                    })
                })
                .collect();
            outcomes.extend(handles.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("ping thread panicked".to_string()))
            }));
        });
    }
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
            let pair = format!(
                "{} -> {} {} ({})",
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
