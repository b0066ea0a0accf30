//! `apply --json`: the apply's events as JSON lines on stdout, one object a line, in a
//! documented, versioned format (docs/cli.md, "apply --json"). Every line starts with
//! `"format_version"` and `"event"`, so a reader can dispatch on the prefix; the other fields
//! follow. Prose (errors, the rollback's words) goes to stderr as without `--json`.

use super::output::outln;
use crate::apply::{ApplyFailure, ApplyReport, RollbackReport};
use crate::plan::{Action, Plan, Step, render_json};
use serde_json::{Value, json};

/// The version of the event format. Fields may be added within a version; none are removed or
/// renamed.
pub const FORMAT_VERSION: &str = "1";

/// One event line: `{"format_version":"1","event":EVENT, ...fields}` (no newline).
pub fn line(event: &str, fields: Value) -> String {
    let head = format!(
        "{{\"format_version\":{},\"event\":{}",
        json!(FORMAT_VERSION),
        json!(event)
    );
    match fields {
        Value::Object(map) if !map.is_empty() => {
            let rest = Value::Object(map).to_string();
            // `rest` is `{...}`: splice its members after the head.
            format!("{head},{}", &rest[1..])
        }
        _ => format!("{head}}}"),
    }
}

/// Print one event line on stdout.
pub fn emit(event: &str, fields: Value) -> anyhow::Result<()> {
    outln!("{}", line(event, fields))
}

/// The `plan` event: the target and the plan in `plan --json`'s format.
pub fn plan(target: &str, plan: &Plan) -> Value {
    let doc: Value = serde_json::from_str(&render_json(plan)).unwrap_or(Value::Null);
    json!({ "target": target, "plan": doc })
}

/// The `step_applied` event's fields: the step's 1-based index in the plan (`null` with
/// `"repair": true` for a step of a repair round, which is not in the plan).
pub fn step_applied(plan: &Plan, step: &Step) -> Value {
    let index = plan.steps.iter().position(|s| s == step).map(|i| i + 1);
    json!({
        "index": index,
        "total": plan.steps.len(),
        "address": step.key().to_string(),
        "action": action(step.action()),
        "repair": index.is_none(),
    })
}

fn action(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Replace => "replace",
    }
}

/// The event for why an apply stopped: `step_failed`, `interrupted`, `not_converged` or
/// `failed`.
pub fn failure(failure: &ApplyFailure) -> (&'static str, Value) {
    match failure {
        ApplyFailure::Step(e) | ApplyFailure::Repair(e) => (
            "step_failed",
            json!({
                "index": e.index,
                "total": e.total,
                "address": e.step.key().to_string(),
                "action": action(e.step.action()),
                "error": e.source.to_string(),
                "repair": matches!(failure, ApplyFailure::Repair(_)),
                "also_failed": e.also_failed,
                "applied": e.applied,
            }),
        ),
        ApplyFailure::Interrupted(i) => (
            "interrupted",
            json!({
                "signal": i.signal.to_string(),
                "waves_done": i.waves_done,
                "waves": i.waves,
                "total": i.total,
                "applied": i.applied,
            }),
        ),
        ApplyFailure::NotConverged(report) => ("not_converged", remaining(report)),
        other => ("failed", json!({ "error": other.to_string() })),
    }
}

/// The steps still needed after an apply that did not converge.
pub fn remaining(report: &ApplyReport) -> Value {
    let doc: Value = serde_json::from_str(&render_json(&report.remaining)).unwrap_or(Value::Null);
    json!({ "remaining": doc })
}

/// The `rollback` event: what the rollback did (`done: false` when none was done, with where
/// the state before the apply is kept).
pub fn rollback(report: Option<&RollbackReport>, kept: &std::path::Path) -> Value {
    match report {
        Some(r) => json!({
            "done": true,
            "as_it_was": r.as_it_was,
            "steps": r.steps,
            "not_restored": r.not_restored,
            "summary": r.summary(),
            "kept": (!r.as_it_was).then(|| kept.display().to_string()),
        }),
        None => json!({
            "done": false,
            "as_it_was": false,
            "kept": kept.display().to_string(),
        }),
    }
}

/// The last event: the outcome (`applied`, `no_changes`, `conflicts`, `failed`,
/// `not_converged`, `interrupted`), the counts and the exit code.
pub fn summary(result: &str, report: Option<&ApplyReport>, exit_code: u8) -> Value {
    let (added, changed, destroyed, repaired) = report.map_or((0, 0, 0, 0), |r| {
        (r.added, r.changed, r.destroyed, r.repaired)
    });
    json!({
        "result": result,
        "added": added,
        "changed": changed,
        "destroyed": destroyed,
        "repaired": repaired,
        "exit_code": exit_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_starts_with_the_version_and_the_event() {
        let l = line("summary", json!({"result": "applied", "added": 2}));
        assert!(
            l.starts_with(r#"{"format_version":"1","event":"summary","#),
            "{l}"
        );
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["added"], 2);
        assert_eq!(v["result"], "applied");
        assert_eq!(
            line("x", json!({})),
            r#"{"format_version":"1","event":"x"}"#
        );
        assert!(!l.contains('\n'));
    }
}
