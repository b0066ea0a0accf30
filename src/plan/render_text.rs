//! Human-readable plans in terraform's vocabulary: one block per step, `+` create, `~` update in
//! place, `-` destroy, `-/+` replace (with the reason), then the `Plan: ...` summary line.
//!
//! Attribute names are padded within each block so the `=` signs line up, and values are quoted
//! with Rust's escaping, so a strange interface name from the kernel cannot break the layout.

use super::compare::forces_replacement;
use super::step::{Action, Plan, Step};
use crate::state::{LinkKind, Object};
use std::fmt::Write;

/// Render `plan` as text. Conflicts come first (`Error: ...`, one line each); the last line is
/// always the summary, except for an empty plan, which is one line saying so.
pub fn render_text(plan: &Plan) -> String {
    if plan.steps.is_empty() && plan.conflicts.is_empty() {
        return "No changes. The kernel matches the topology.\n".to_string();
    }
    let mut out = String::new();
    for conflict in &plan.conflicts {
        let _ = writeln!(out, "Error: {}", conflict.message);
    }
    if !plan.conflicts.is_empty() {
        out.push('\n');
    }
    for step in &plan.steps {
        render_step(&mut out, step, plan);
        out.push('\n');
    }
    let (add, change, destroy) = plan.summary();
    let _ = writeln!(
        out,
        "Plan: {add} to add, {change} to change, {destroy} to destroy."
    );
    out
}

/// One attribute line before alignment.
struct Line {
    symbol: &'static str,
    name: String,
    value: String,
}

fn render_step(out: &mut String, step: &Step, plan: &Plan) {
    let key = step.key();
    let mut title = key.to_string();
    // A pair being created names its peer; so does a veth being destroyed, because the kernel
    // destroys its peer with it.
    let peer = match (step.peer(), step.action(), step.current()) {
        (Some(peer), _, _) => link_path(peer),
        (None, Action::Delete, Some(Object::Link(link))) => match &link.kind {
            LinkKind::Veth { peer: Some(p) } => Some(format!("{}/{}", p.ns, p.name)),
            _ => None,
        },
        _ => None,
    };
    if let Some(peer) = peer {
        let _ = write!(title, " (veth pair with {peer})");
    }
    let (symbol, header) = match step.action() {
        Action::Create => (
            "+",
            match plan.removed_by(&key) {
                // It exists now: say why it is created anyway.
                Some(effect) => format!(
                    "will be created again ({} removes it)",
                    cause(plan, &effect.by)
                ),
                None => "will be created".to_string(),
            },
        ),
        Action::Update => ("~", "will be updated in place".to_string()),
        Action::Delete => ("-", "will be destroyed".to_string()),
        Action::Replace => (
            "-/+",
            match step.reason() {
                Some(reason) => format!("must be replaced ({reason})"),
                None => "must be replaced".to_string(),
            },
        ),
    };
    let _ = writeln!(out, "  # {key} {header}");
    let _ = writeln!(out, "{symbol:>3} {title}");
    write_lines(out, 6, &lines(step));
    if let Step::Update(update) = step {
        // Like terraform: say how much stayed the same without listing it.
        let unchanged = update
            .desired
            .attributes()
            .iter()
            .filter(|(name, _)| !update.changes.iter().any(|c| c.attribute == *name))
            .count();
        match unchanged {
            0 => {}
            1 => out.push_str("        # (1 unchanged attribute hidden)\n"),
            n => {
                let _ = writeln!(out, "        # ({n} unchanged attributes hidden)");
            }
        }
    }
    if let Some(peer) = step.peer() {
        let _ = writeln!(out, "      + peer {{");
        write_lines(out, 10, &all(peer, "+"));
        let _ = writeln!(out, "        }}");
    }
    if matches!(step.action(), Action::Delete | Action::Replace) {
        write_effects(out, step, plan);
    }
}

/// At most this many objects are named in one side-effect note (a namespace takes everything in
/// it along); the rest are counted.
const NAMED_EFFECTS: usize = 4;

/// `# (deleting this address also removes route web/0.0.0.0/0; it is re-created)`: what the
/// kernel does on its own when this step runs, and whether the plan puts it back.
fn write_effects(out: &mut String, step: &Step, plan: &Plan) {
    let (removed, detached): (Vec<_>, Vec<_>) =
        plan.effects_of(&step.key()).partition(|e| !e.detached);
    let verb = if step.action() == Action::Delete {
        "deleting"
    } else {
        "replacing"
    };
    let this = format!("{verb} this {}", step.key().kind());
    for (list, what) in [(removed, "removes"), (detached, "detaches")] {
        let back = if what == "removes" {
            "re-created"
        } else {
            "attached again"
        };
        match list.as_slice() {
            [] => {}
            [one] => {
                let tail = if one.recreated {
                    format!("; it is {back}")
                } else {
                    String::new()
                };
                let _ = writeln!(out, "        # ({this} also {what} {}{tail})", one.object);
            }
            many => {
                let mut names: Vec<String> = many
                    .iter()
                    .take(NAMED_EFFECTS)
                    .map(|e| {
                        if e.recreated {
                            format!("{} ({back})", e.object)
                        } else {
                            e.object.to_string()
                        }
                    })
                    .collect();
                if many.len() > NAMED_EFFECTS {
                    let rest = &many[NAMED_EFFECTS..];
                    let again = rest.iter().filter(|e| e.recreated).count();
                    names.push(match again {
                        0 => format!("and {} more", rest.len()),
                        n => format!("and {} more ({n} of them {back})", rest.len()),
                    });
                }
                let _ = writeln!(
                    out,
                    "        # ({this} also {what} {} objects: {})",
                    many.len(),
                    names.join(", ")
                );
            }
        }
    }
}

/// "deleting address web/eth0 10.0.0.2/24", for the step with key `by`.
fn cause(plan: &Plan, by: &crate::state::ObjectKey) -> String {
    let verb = match plan.steps.iter().find(|s| s.key() == *by).map(Step::action) {
        Some(Action::Replace) => "replacing",
        _ => "deleting",
    };
    format!("{verb} {by}")
}

/// The attribute lines of one step.
fn lines(step: &Step) -> Vec<Line> {
    match step {
        Step::Create(c) => all(&c.object, "+"),
        Step::Delete(d) => all(&d.current, "-"),
        Step::Update(u) => u
            .changes
            .iter()
            .map(|c| change_line(&c.attribute, c.from.as_deref(), c.to.as_deref(), ""))
            .collect(),
        Step::Replace(r) => {
            // All desired attributes: changed ones marked (and flagged when they force the
            // replace), unchanged ones plain. When the kernel only has the other end of a veth
            // pair, this end is new: every attribute is an addition.
            let same_object = r.current.key() == r.desired.key();
            r.desired
                .attributes()
                .into_iter()
                .map(
                    |(name, value)| match r.changes.iter().find(|c| c.attribute == name) {
                        Some(c) => {
                            let note = if forces_replacement(&r.desired, name) {
                                "   # forces replacement"
                            } else {
                                ""
                            };
                            change_line(name, c.from.as_deref(), c.to.as_deref(), note)
                        }
                        None => Line {
                            symbol: if same_object { " " } else { "+" },
                            name: name.to_string(),
                            value: quote(&value),
                        },
                    },
                )
                .collect()
        }
    }
}

fn all(object: &Object, symbol: &'static str) -> Vec<Line> {
    object
        .attributes()
        .into_iter()
        .map(|(name, value)| Line {
            symbol,
            name: name.to_string(),
            value: quote(&value),
        })
        .collect()
}

fn change_line(name: &str, from: Option<&str>, to: Option<&str>, note: &str) -> Line {
    let (symbol, value) = match (from, to) {
        (Some(from), Some(to)) => ("~", format!("{} -> {}", quote(from), quote(to))),
        (None, Some(to)) => ("+", quote(to)),
        (Some(from), None) => ("-", quote(from)),
        (None, None) => ("~", "(unknown)".to_string()),
    };
    Line {
        symbol,
        name: name.to_string(),
        value: format!("{value}{note}"),
    }
}

fn write_lines(out: &mut String, indent: usize, lines: &[Line]) {
    let width = lines.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for line in lines {
        let _ = writeln!(
            out,
            "{:indent$}{} {:width$} = {}",
            "", line.symbol, line.name, line.value
        );
    }
}

fn quote(value: &str) -> String {
    format!("{value:?}")
}

/// `ns/name` of a link object (how a veth peer is named in titles).
fn link_path(object: &Object) -> Option<String> {
    match object {
        Object::Link(l) => Some(format!("{}/{}", l.ns, l.name)),
        _ => None,
    }
}
