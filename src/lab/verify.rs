//! `lab verify`: ping every ordered pair of containers that share a network, from inside the
//! sender's namespace to the receiver's address on that network, and lay the results out as a
//! matrix. Pings run concurrently, one thread each.

use super::{ping, probe_netns};
use crate::topology::{Topology, attachments};
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairResult {
    /// Every shared network answered.
    Reachable,
    /// At least one shared network did not; the text says which.
    Unreachable(String),
    /// The two containers share no network: not tested in this version.
    NotShared,
}

/// Results for every ordered pair of containers, in topology order.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub containers: Vec<String>,
    /// `results[i][j]`: from container i to container j (`None` on the diagonal).
    pub results: Vec<Vec<Option<PairResult>>>,
}

impl Matrix {
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, row) in self.results.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                if let Some(PairResult::Unreachable(why)) = cell {
                    out.push(format!(
                        "{} -> {}: {why}",
                        self.containers[i], self.containers[j]
                    ));
                }
            }
        }
        out
    }

    pub fn tested_pairs(&self) -> usize {
        self.results
            .iter()
            .flatten()
            .filter(|c| matches!(c, Some(PairResult::Reachable | PairResult::Unreachable(_))))
            .count()
    }
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
        write!(f, "{corner:<width$}")?;
        for name in &self.containers {
            write!(f, "  {name:<width$}")?;
        }
        writeln!(f)?;
        for (i, row) in self.results.iter().enumerate() {
            write!(f, "{:<width$}", self.containers[i])?;
            for cell in row {
                let text = match cell {
                    None => "-",
                    Some(PairResult::Reachable) => "ok",
                    Some(PairResult::Unreachable(_)) => "FAIL",
                    Some(PairResult::NotShared) => ".",
                };
                write!(f, "  {text:<width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// One ping to run: from a container's namespace to an address.
struct Probe {
    from: usize,
    to: usize,
    netns: String,
    network: String,
    address: Ipv4Addr,
}

/// Ping every pair of containers of `topo` that share a network in lab `lab`.
pub fn verify(topo: &Topology, lab: &str) -> Matrix {
    let all = attachments(topo);
    let containers: Vec<String> = topo.containers.keys().cloned().collect();
    let index = |name: &str| containers.iter().position(|c| c == name);

    let mut probes = Vec::new();
    for a in &all {
        for b in &all {
            if a.network != b.network || a.container == b.container {
                continue;
            }
            // The ICMP prober is IPv4-only: IPv6-only attachments are not probed here.
            let (Some(from), Some(to), Some(address)) =
                (index(&a.container), index(&b.container), b.ipv4())
            else {
                continue;
            };
            probes.push(Probe {
                from,
                to,
                netns: probe_netns(topo, lab, &a.host, &a.container),
                network: a.network.clone(),
                address,
            });
        }
    }

    let outcomes: Vec<Result<bool, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|p| {
                scope.spawn(|| {
                    ping(&p.netns, p.address, 3, Duration::from_secs(1)).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("ping thread panicked".to_string()))
            })
            .collect()
    });

    let n = containers.len();
    let mut results: Vec<Vec<Option<PairResult>>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (i != j).then_some(PairResult::NotShared))
                .collect()
        })
        .collect();
    for (probe, outcome) in probes.iter().zip(outcomes) {
        let cell = &mut results[probe.from][probe.to];
        let failure = match outcome {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "no reply from {} on {}",
                probe.address, probe.network
            )),
            Err(e) => Some(format!("ping {} on {}: {e}", probe.address, probe.network)),
        };
        *cell = match (cell.take(), failure) {
            (Some(PairResult::Unreachable(prev)), Some(why)) => {
                Some(PairResult::Unreachable(format!("{prev}; {why}")))
            }
            (Some(PairResult::Unreachable(prev)), None) => Some(PairResult::Unreachable(prev)),
            (_, Some(why)) => Some(PairResult::Unreachable(why)),
            (_, None) => Some(PairResult::Reachable),
        };
    }
    Matrix {
        containers,
        results,
    }
}
