//! The fleet plan for people (the text of `plan` per host, then the fleet summary) and for
//! programs (a documented, versioned JSON document embedding `plan --json`'s per host).

use super::{FleetPlan, FleetSummary, HostPlan, HostStatus};
use serde::Serialize;
use std::fmt::Write;

/// Hosts without changes are named on one line; past this many, the rest are counted.
const NAMED_UNCHANGED: usize = 20;

/// Render `fleet` as text: for each host that changes, in name order, `Plan for host NAME:`
/// (saying when the host is new or removed) and its plan as `plan` prints it; then one line
/// naming the hosts without changes; then the fleet summary, always the last line:
/// `Fleet: 3 of 10 hosts change; 40 to add, 2 to change, 5 to destroy.`
pub fn render_text(fleet: &FleetPlan) -> String {
    let mut writer = TextWriter::default();
    let mut out = String::new();
    for host in &fleet.hosts {
        out.push_str(&writer.host(host));
    }
    out.push_str(&writer.finish());
    out
}

/// [`render_text`] one host at a time, for plans streamed by [`super::for_each_host`].
#[derive(Debug, Default)]
pub struct TextWriter {
    unchanged: Vec<String>,
    summary: FleetSummary,
}

impl TextWriter {
    /// The text of one host (hosts come in name order): its plan if it changes, else nothing
    /// yet (it is named in [`TextWriter::finish`]).
    pub fn host(&mut self, host: &HostPlan) -> String {
        self.summary.count(host);
        if !host.changes() {
            self.unchanged.push(host.host.clone());
            return String::new();
        }
        let note = match host.status {
            HostStatus::Kept => "",
            HostStatus::Added => " (new host)",
            HostStatus::Removed => {
                " (removed from the file: everything netplan-rs owns there is destroyed)"
            }
        };
        let mut out = format!("Plan for host {}{note}:\n\n", host.host);
        out.push_str(&crate::plan::render_text(&host.plan));
        out.push('\n');
        out
    }

    /// The line naming the unchanged hosts, then the fleet summary.
    pub fn finish(self) -> String {
        let mut out = String::new();
        let unchanged = &self.unchanged;
        if !unchanged.is_empty() {
            let mut names = unchanged
                .iter()
                .take(NAMED_UNCHANGED)
                .map(String::as_str)
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
        let sum = self.summary;
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
}

/// Render `fleet` as pretty-printed JSON (with a trailing newline), in the format documented in
/// docs/fleet-plan.md ("JSON, format version 1"): each host's `plan` is exactly `plan --json`'s
/// document for that host.
pub fn render_json(fleet: &FleetPlan) -> String {
    let mut writer = JsonWriter::default();
    let mut out = writer.begin().to_string();
    for host in &fleet.hosts {
        out.push_str(&writer.host(host));
    }
    out.push_str(&writer.finish());
    out
}

/// [`render_json`] one host at a time, for plans streamed by [`super::for_each_host`]: the same
/// bytes as serializing the whole document with `serde_json::to_string_pretty`.
#[derive(Debug, Default)]
pub struct JsonWriter {
    summary: FleetSummary,
}

impl JsonWriter {
    /// The document up to the first host.
    pub fn begin(&self) -> &'static str {
        "{\n  \"format_version\": \"1\",\n  \"hosts\": ["
    }

    /// One element of `hosts` (with the separator before it).
    pub fn host(&mut self, host: &HostPlan) -> String {
        let first = self.summary.hosts == 0;
        self.summary.count(host);
        let json = JsonHost {
            host: &host.host,
            status: host.status.as_str(),
            changes: host.changes(),
            plan: crate::plan::json_document(&host.plan),
        };
        let mut out = String::from(if first { "\n" } else { ",\n" });
        out.push_str(&indent(&pretty(&json), "    "));
        out
    }

    /// The end of `hosts`, the summary, the end of the document (with a trailing newline).
    pub fn finish(self) -> String {
        let sum = self.summary;
        let summary = Summary {
            hosts: sum.hosts,
            changing: sum.changing,
            add: sum.add,
            change: sum.change,
            destroy: sum.destroy,
        };
        let close = if sum.hosts == 0 { "]" } else { "\n  ]" };
        let summary = indent(&pretty(&summary), "  ");
        format!("{close},\n  \"summary\": {}\n}}\n", summary.trim_start())
    }
}

/// Pretty JSON of one of the private structs below (their serialization cannot fail; an empty
/// object rather than a panic all the same).
fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string())
}

/// Every line of `text` prefixed with `prefix`, as nesting it in the document indents it.
fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// Private structs rather than `serde_json::Value`, so the field order is the one written here.

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
