//! Machine-readable plans: a documented, stable JSON format (see [`render_json`]).
//!
//! The document is built from private `Serialize` structs rather than `serde_json::Value`, so the
//! field order is the order written here (serde_json sorts `Value` maps) and cannot drift.

use super::step::{Action, Change, Plan, Step};
use crate::state::{Object, ObjectKey};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// Render `plan` as pretty-printed JSON (with a trailing newline), in the format documented in
/// docs/commands.md ("`plan --json`, format version 1"): fields may be added within a version,
/// none removed or renamed, so a change here is a change to that document.
pub fn render_json(plan: &Plan) -> String {
    let document = json_document(plan);
    // Serializing these plain structs cannot fail; fall back to an empty object rather than panic.
    let mut out = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".to_string());
    out.push('\n');
    out
}

/// The document [`render_json`] prints, for formats that embed a plan (the fleet plan's hosts).
pub(crate) fn json_document(plan: &Plan) -> Document<'_> {
    let (add, change, destroy) = plan.summary();
    Document {
        format_version: "1",
        steps: plan.steps.iter().map(JsonStep::from).collect(),
        conflicts: plan
            .conflicts
            .iter()
            .map(|c| JsonConflict {
                address: c.key.to_string(),
                message: &c.message,
            })
            .collect(),
        side_effects: plan
            .side_effects
            .iter()
            .map(|e| JsonEffect {
                by: e.by.to_string(),
                object: e.object.to_string(),
                effect: if e.detached { "detached" } else { "removed" },
                recreated: e.recreated,
            })
            .collect(),
        summary: Summary {
            add,
            change,
            destroy,
        },
    }
}

#[derive(Serialize)]
pub(crate) struct Document<'a> {
    format_version: &'static str,
    steps: Vec<JsonStep<'a>>,
    conflicts: Vec<JsonConflict<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    side_effects: Vec<JsonEffect>,
    summary: Summary,
}

#[derive(Serialize)]
struct JsonEffect {
    by: String,
    object: String,
    effect: &'static str,
    recreated: bool,
}

#[derive(Serialize)]
struct JsonStep<'a> {
    action: &'static str,
    kind: &'static str,
    address: String,
    key: ObjectKey,
    before_address: Option<String>,
    before: Option<Attributes>,
    after: Option<Attributes>,
    changes: &'a [Change],
    reason: Option<&'a str>,
    peer: Option<JsonPeer>,
}

impl<'a> From<&'a Step> for JsonStep<'a> {
    fn from(step: &'a Step) -> Self {
        JsonStep {
            action: match step.action() {
                Action::Create => "create",
                Action::Update => "update",
                Action::Delete => "delete",
                Action::Replace => "replace",
            },
            kind: step.key().kind(),
            address: step.key().to_string(),
            key: step.key(),
            before_address: step.current().map(|o| o.key().to_string()),
            before: step.current().map(Attributes::of),
            after: step.desired().map(Attributes::of),
            changes: step.changes(),
            reason: step.reason(),
            peer: step.peer().map(|p| JsonPeer {
                address: p.key().to_string(),
                key: p.key(),
                after: Attributes::of(p),
            }),
        }
    }
}

#[derive(Serialize)]
struct JsonPeer {
    address: String,
    key: ObjectKey,
    after: Attributes,
}

#[derive(Serialize)]
struct JsonConflict<'a> {
    address: String,
    message: &'a str,
}

#[derive(Serialize)]
struct Summary {
    add: usize,
    change: usize,
    destroy: usize,
}

/// An object's attributes as a JSON object, keeping `Object::attributes` order.
struct Attributes(Vec<(&'static str, String)>);

impl Attributes {
    fn of(object: &Object) -> Self {
        Attributes(object.attributes())
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}
