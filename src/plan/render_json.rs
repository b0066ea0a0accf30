//! Machine-readable plans: a documented, stable JSON format (see [`render_json`]).
//!
//! The document is built from private `Serialize` structs rather than `serde_json::Value`, so the
//! field order is the order written here (serde_json sorts `Value` maps) and cannot drift.

use super::step::{Action, Change, Plan, Step};
use crate::state::{Object, ObjectKey};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// Render `plan` as pretty-printed JSON (with a trailing newline).
///
/// # Format, version 1
///
/// ```json
/// {
///   "format_version": "1",
///   "steps": [
///     {
///       "action": "replace",
///       "kind": "link",
///       "address": "link host/vx-overlay",
///       "key": {"kind": "link", "ns": "host", "name": "vx-overlay"},
///       "before_address": "link host/vx-overlay",
///       "before": {"type": "vxlan", "vni": "100", "...": "..."},
///       "after": {"type": "vxlan", "vni": "200", "...": "..."},
///       "changes": [{"attribute": "vni", "from": "100", "to": "200"}],
///       "reason": "vni cannot change in place",
///       "peer": null
///     }
///   ],
///   "conflicts": [{"address": "link host/br-overlay", "message": "link host/br-overlay exists ..."}],
///   "summary": {"add": 1, "change": 0, "destroy": 1}
/// }
/// ```
///
/// - `format_version`: `"1"`. Fields may be added within a version; none are removed or renamed.
/// - `steps`: in execution order (dependencies first, deletions before creations).
///   - `action`: `create`, `update` (in place), `delete` or `replace` (delete, then create).
///   - `kind`: `namespace`, `sysctl`, `link`, `address`, `neighbour`, `fdb`, `route`,
///     `nft_table`, `nft_chain` or `nft_rule`.
///   - `address`: the object's terraform-like address, as in the text output.
///   - `key`: the object's identity: `kind` plus its identifying fields (`ns` is `"host"` or
///     `{"container": NAME}`; see `state::ObjectKey`).
///   - `before` / `after`: the object's managed attributes, name to string value, in the order
///     the text output lists them, as the kernel has it / as the topology wants it; `null` for a
///     create / a delete. `after` lists only what the topology sets (unset means "the kernel's
///     choice").
///   - `before_address`: the address of the object `before` describes, `null` when `before` is.
///     It differs from `address` only for a veth pair replaced from its peer end (the kernel
///     has only the other end; deleting it deletes both).
///   - `changes`: attributes that differ (update, replace); `from` / `to` are `null` when a side
///     does not report the attribute.
///   - `reason`: why a replace is needed (e.g. `"vni cannot change in place"`), else `null`.
///   - `peer`: for a step creating a veth pair (create or replace), the other end, created by the
///     same request and with no step of its own: `{"address", "key", "after"}`; else `null`.
/// - `conflicts`: wanted objects whose name is taken by something netplan-rs does not own, or
///   that name a link (vxlan `dev`, macvlan/VLAN `parent`, `master`, route `dev`) that is neither
///   in the topology nor on the host (`address` is the wanting object, `message` names the
///   missing link). A plan with conflicts must not be applied.
/// - `side_effects` (only when there are any): what the kernel removes on its own when a step
///   runs, `{"by": ADDRESS, "object": ADDRESS, "effect": "removed" | "detached", "recreated":
///   BOOL}`: the step with address `by` (a delete or replace) also removes `object` (or detaches
///   that port from it); `recreated` when a later step of the plan puts it back. The steps
///   already account for these; they are listed for the reader.
/// - `summary`: counted like terraform; a replace adds one and destroys one.
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
