//! The fleet plan for people (the text of `plan` per host, then the fleet summary) and for
//! programs (a documented, versioned JSON document embedding `plan --json`'s per host).

use super::{FleetPlan, HostStatus};
use serde::Serialize;
use std::fmt::Write;

/// Hosts without changes are named on one line; past this many, the rest are counted.
const NAMED_UNCHANGED: usize = 20;

/// Render `fleet` as text: for each host that changes, in name order, `Plan for host NAME:`
/// (saying when the host is new or removed) and its plan as `plan` prints it; then one line
/// naming the hosts without changes; then the fleet summary, always the last line:
/// `Fleet: 3 of 10 hosts change; 40 to add, 2 to change, 5 to destroy.`
pub fn render_text(fleet: &FleetPlan) -> String {
    let mut out = String::new();
    for host in fleet.hosts.iter().filter(|h| h.changes()) {
        let note = match host.status {
            HostStatus::Kept => "",
            HostStatus::Added => " (new host)",
            HostStatus::Removed => {
                " (removed from the file: everything netplan-rs owns there is destroyed)"
            }
        };
        let _ = writeln!(out, "Plan for host {}{note}:\n", host.host);
        out.push_str(&crate::plan::render_text(&host.plan));
        out.push('\n');
    }
    let unchanged: Vec<&str> = fleet
        .hosts
        .iter()
        .filter(|h| !h.changes())
        .map(|h| h.host.as_str())
        .collect();
    if !unchanged.is_empty() {
        let mut names = unchanged
            .iter()
            .take(NAMED_UNCHANGED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if unchanged.len() > NAMED_UNCHANGED {
            let _ = write!(names, " and {} more", unchanged.len() - NAMED_UNCHANGED);
        }
        let hosts = if unchanged.len() == 1 {
            "host"
        } else {
            "hosts"
        };
        let _ = writeln!(out, "No changes on {} {hosts}: {names}.\n", unchanged.len());
    }
    let sum = fleet.summary();
    let hosts = if sum.hosts == 1 { "host" } else { "hosts" };
    let verb = if sum.changing == 1 {
        "changes"
    } else {
        "change"
    };
    let _ = writeln!(
        out,
        "Fleet: {} of {} {hosts} {verb}; {} to add, {} to change, {} to destroy.",
        sum.changing, sum.hosts, sum.add, sum.change, sum.destroy
    );
    out
}

/// Render `fleet` as pretty-printed JSON (with a trailing newline).
///
/// # Format, version 1
///
/// ```json
/// {
///   "format_version": "1",
///   "hosts": [
///     {
///       "host": "h1",
///       "status": "kept",
///       "changes": true,
///       "plan": {"format_version": "1", "steps": [], "conflicts": [], "summary": {"add": 0, "change": 0, "destroy": 0}}
///     }
///   ],
///   "summary": {"hosts": 10, "changing": 3, "add": 40, "change": 2, "destroy": 5}
/// }
/// ```
///
/// - `format_version`: `"1"`. Fields may be added within a version; none are removed or renamed.
/// - `hosts`: every host of either version, in name order, unchanged ones too.
///   - `status`: `kept` (in both versions), `added` (only in the new one, or no base given) or
///     `removed` (only in the base: its plan destroys everything netplan-rs owns there).
///   - `changes`: whether the plan has any step (or conflict).
///   - `plan`: the document `netplan-rs plan --json` prints for that host (its own
///     `format_version`, `steps`, `conflicts`, `side_effects`, `summary`), planned from the base's
///     desired state of the host instead of its kernel.
/// - `summary`: `hosts` (all of them), `changing` (hosts with changes) and the steps of all hosts
///   counted like `plan`'s summary (a replace adds one and destroys one).
pub fn render_json(fleet: &FleetPlan) -> String {
    let sum = fleet.summary();
    let document = Document {
        format_version: "1",
        hosts: fleet
            .hosts
            .iter()
            .map(|h| JsonHost {
                host: &h.host,
                status: h.status.as_str(),
                changes: h.changes(),
                plan: crate::plan::json_document(&h.plan),
            })
            .collect(),
        summary: Summary {
            hosts: sum.hosts,
            changing: sum.changing,
            add: sum.add,
            change: sum.change,
            destroy: sum.destroy,
        },
    };
    // Serializing these plain structs cannot fail; fall back to an empty object rather than panic.
    let mut out = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".to_string());
    out.push('\n');
    out
}

/// Private structs rather than `serde_json::Value`, so the field order is the one written here.
#[derive(Serialize)]
struct Document<'a> {
    format_version: &'static str,
    hosts: Vec<JsonHost<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct JsonHost<'a> {
    host: &'a str,
    status: &'static str,
    changes: bool,
    plan: crate::plan::JsonDocument<'a>,
}

#[derive(Serialize)]
struct Summary {
    hosts: usize,
    changing: usize,
    add: usize,
    change: usize,
    destroy: usize,
}
