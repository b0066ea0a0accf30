//! Every entry that does not fit the model, not only the first: serde stops at the first error
//! of a document, so after one the text is read again as plain YAML and each entry of `hosts`,
//! `networks` and `containers` (and the top level without them) is read on its own. Each error
//! comes back as serde words it, "PATH: MESSAGE" with the full YAML path, for
//! [`super::load`] to place like the first one.
//!
//! A syntax error (the text is not YAML) has nothing to read again: it stays the only error.

use super::model::{Container, Host, Network, Topology};
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

/// The sections read entry by entry.
pub(super) const SECTIONS: [&str; 3] = ["hosts", "networks", "containers"];

/// One entry's first error: the entry (`hosts.h1`; empty for the top level) and the message.
pub(super) struct EntryError {
    pub entry: String,
    pub message: String,
}

/// Every entry's first error, in the order of the text (top level last); empty when the text
/// is not YAML.
pub(super) fn entry_errors(text: &str) -> Vec<EntryError> {
    let Ok(Value::Mapping(top)) = serde_norway::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = Mapping::new();
    for (key, value) in top {
        match key.as_str().filter(|k| SECTIONS.contains(k)) {
            Some("hosts") => entries::<Host>("hosts", value, &mut out),
            Some("networks") => entries::<Network>("networks", value, &mut out),
            Some(_) => entries::<Container>("containers", value, &mut out),
            None => {
                rest.insert(key, value);
            }
        }
    }
    // Version, name and unknown top-level keys, with the sections left out (they default).
    if let Err(err) = serde_path_to_error::deserialize::<_, Topology>(Value::Mapping(rest)) {
        let message = match path_within(&err, "") {
            path if path.is_empty() => err.inner().to_string(),
            path => format!("{path}: {}", err.inner()),
        };
        out.push(EntryError {
            entry: String::new(),
            message,
        });
    }
    out
}

/// The YAML path of `err` below `entry`, as the document's own errors give it: an unknown key
/// is named by its entry (the message names the key), as serde_norway does.
fn path_within(err: &serde_path_to_error::Error<serde_norway::Error>, entry: &str) -> String {
    let mut segments: Vec<String> = err.path().iter().map(|s| s.to_string()).collect();
    let unknown = err.inner().to_string();
    if let Some(key) = unknown
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(key, _)| key)
        && segments.last().is_some_and(|last| last == key)
    {
        segments.pop();
    }
    let mut path = entry.to_string();
    for segment in segments {
        if !path.is_empty() && !segment.starts_with('[') {
            path.push('.');
        }
        path.push_str(&segment);
    }
    path
}

/// Read each entry of one section as a `T`. A section that is not a map is the document's
/// first error already; it has no entries to read.
fn entries<T: DeserializeOwned>(section: &str, value: Value, out: &mut Vec<EntryError>) {
    let Value::Mapping(map) = value else { return };
    for (name, entry) in map {
        let Some(name) = name.as_str() else { continue };
        let Err(err) = serde_path_to_error::deserialize::<_, T>(entry) else {
            continue;
        };
        let entry = format!("{section}.{name}");
        let path = path_within(&err, &entry);
        out.push(EntryError {
            entry,
            message: format!("{path}: {}", err.inner()),
        });
    }
}
