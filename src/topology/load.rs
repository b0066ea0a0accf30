//! Reading a topology file: parse (errors with file:line:column) then validate (errors with YAML
//! paths). A `Topology` returned from here is valid; nothing downstream re-checks it.
//!
//! Every error is placed on the exact key or value it concerns: when there is an error, the text
//! is indexed by YAML path ([`super::locate`]) and each diagnostic gets the span of its path;
//! a parse error whose path serde knows is moved from where serde noticed it (often the start of
//! the enclosing entry) to that path's key or value.

use super::error::{Diagnostic, ParseContext, TopologyError};
use super::expected;
use super::locate::{Index, Span};
use super::model::Topology;
use super::validate::validate;
use std::path::Path;

/// Read, parse and validate the topology file at `path` (`-`: stdin); see [`super::source`] for
/// what may be read.
pub fn load(path: &Path) -> Result<Topology, TopologyError> {
    let text = super::source::read(path)?;
    load_str(&text, &super::source::display_name(path))
}

/// Parse and validate topology text; `file_name` is only used in error messages.
pub fn load_str(text: &str, file_name: &str) -> Result<Topology, TopologyError> {
    if let Err(deep) = super::depth::check(text) {
        return Err(TopologyError::Parse {
            file: file_name.to_string(),
            line: Some(deep.line),
            column: Some(deep.column),
            message: format!(
                "nested deeper than {} levels, the most a topology may have",
                super::depth::MAX_DEPTH
            ),
            context: None,
        });
    }
    let topo: Topology =
        serde_norway::from_str(text).map_err(|err| parse_errors(&err, text, file_name))?;
    let mut diagnostics = validate(&topo);
    if !diagnostics.is_empty() {
        place(&mut diagnostics, &Index::build(text));
    }
    if diagnostics.is_empty() {
        Ok(topo)
    } else {
        Err(TopologyError::Invalid {
            file: file_name.to_string(),
            diagnostics,
        })
    }
}

/// Gives each diagnostic the span of its path (or of its nearest written ancestor).
fn place(diagnostics: &mut [Diagnostic], index: &Index) {
    for d in diagnostics {
        if d.span.is_none() {
            d.span = index.nearest(&d.path).map(|(spot, _)| spot.value_or_key());
        }
    }
}

/// A parse error split into the YAML path it concerns, its own words, and what was expected,
/// placed on the key or value at that path when the text has it.
struct Located {
    path: Option<String>,
    message: String,
    expected: Option<String>,
    span: Option<Span>,
    help: Option<String>,
}

/// serde_norway writes "PATH: MESSAGE" (path absent at the document's top) and our network
/// reader adds "KEY: " for a key inside a network (`network_de.rs`); a prefix counts as a path
/// only when the text really has it, so a message's own colons ("invalid type: ...") are kept.
fn locate_parse(message: &str, index: &Index) -> Located {
    let mut path: Option<String> = None;
    let mut rest = message;
    while let Some((head, tail)) = rest.split_once(": ") {
        let candidate = match &path {
            Some(p) => format!("{p}.{head}"),
            None => head.to_string(),
        };
        if index.get(&candidate).is_none() {
            break;
        }
        path = Some(candidate);
        rest = tail;
    }
    let (message, serde_expected) = match rest.split_once(", expected ") {
        Some((message, expected)) => (message.to_string(), Some(expected)),
        None => (rest.to_string(), None),
    };
    // An unknown key is shown by the key itself, whatever its value.
    let unknown_key = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
        .map(|(key, _)| key);
    let within = |key: &str| match &path {
        Some(p) => format!("{p}.{key}"),
        None => key.to_string(),
    };
    let span = if let Some(key) = unknown_key {
        index.get(&within(key)).and_then(|s| s.key)
    } else if let Some(key) = duplicate_key(&message) {
        // The second occurrence is the one to remove or rename.
        index.repeated(&within(&key))
    } else if message.starts_with("missing field") {
        // Shown at the key of the entry that lacks it.
        path.as_deref()
            .and_then(|p| index.get(p))
            .and_then(|s| s.key)
    } else {
        // A value of the wrong type or form: the value itself, a list or map included.
        path.as_deref().and_then(|p| index.get(p)).map(|s| s.value)
    };
    // Our words for a key's form beat serde's bare type name ("u32"); serde's own sentences
    // (a list of keys or values, a custom "expecting") are kept.
    let expected = serde_expected.map(|e| {
        let human = expected::humanize(e);
        match path.as_deref().and_then(expected::for_path) {
            Some(ours) if human != e => ours.to_string(),
            _ => human,
        }
    });
    let help = unknown_key
        .zip(serde_expected)
        .and_then(|(key, list)| expected::similar(key, expected::listed(list)))
        .map(|k| format!("did you mean `{k}`?"));
    Located {
        path,
        message,
        expected,
        span,
        help,
    }
}

/// The key a duplicate-key message names: ``duplicate field `k` `` (serde and our network
/// reader) or `duplicate key "k"` (`unique_keys.rs`, quoted as a Rust string).
fn duplicate_key(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        return rest.split_once('`').map(|(key, _)| key.to_string());
    }
    let quoted = message.strip_prefix("duplicate key \"")?;
    let key = quoted.strip_suffix('"')?;
    // Escaped names (quotes, control characters) are left where serde put them.
    (!key.contains('\\')).then(|| key.to_string())
}

/// The document's first error and, when it concerns an entry of the file, the first error of
/// every other entry too ([`super::entry_errors`]): one run shows every bad entry. A single
/// error stays a [`TopologyError::Parse`]; several become the diagnostics of
/// [`TopologyError::Invalid`], in file order.
fn parse_errors(err: &serde_norway::Error, text: &str, file: &str) -> TopologyError {
    let index = Index::build(text);
    let first = parse_error(err, text, &index);
    let Some(first_path) = first.located.path.clone() else {
        return first.into_error(file);
    };
    let top_level = !super::entry_errors::SECTIONS
        .iter()
        .any(|section| first_path.starts_with(&format!("{section}.")));
    let within = |entry: &str| {
        first_path == entry
            || first_path
                .strip_prefix(entry)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    let mut diagnostics: Vec<Diagnostic> = super::entry_errors::entry_errors(text)
        .into_iter()
        // The first error's own entry (or the top level) is reported by the first error itself.
        .filter(|e| match e.entry.as_str() {
            "" => !top_level,
            entry => !within(entry),
        })
        .filter_map(|e| diagnostic(locate_parse(&e.message, &index)))
        .filter(|d| d.path != first_path)
        .collect();
    if diagnostics.is_empty() {
        return first.into_error(file);
    }
    diagnostics.extend(diagnostic(first.located));
    diagnostics.sort_by_key(|d| d.span.map(|s| (s.line, s.column)));
    TopologyError::Invalid {
        file: file.to_string(),
        diagnostics,
    }
}

/// A located parse error as a diagnostic: one with a path, or an unknown top-level key (whose
/// path is the key itself).
fn diagnostic(located: Located) -> Option<Diagnostic> {
    let path = located.path.or_else(|| {
        let key = located
            .message
            .strip_prefix("unknown field `")?
            .split_once('`')?
            .0;
        Some(key.to_string())
    })?;
    Some(Diagnostic {
        path,
        message: located.message,
        expected: located.expected,
        span: located.span,
        help: located.help,
    })
}

/// The document's first error, located.
struct FirstError {
    /// Where serde noticed it, when the error has no path of the text to point at.
    location: Option<(usize, usize)>,
    located: Located,
}

impl FirstError {
    fn into_error(self, file: &str) -> TopologyError {
        let located = self.located;
        let (location, end) = match located.span {
            Some(span) => (
                Some((span.line, span.column)),
                Some((span.end_line, span.end_column)),
            ),
            None => (self.location, None),
        };
        TopologyError::Parse {
            file: file.to_string(),
            line: location.map(|(line, _)| line),
            column: location.map(|(_, column)| column),
            message: located.message,
            context: Some(Box::new(ParseContext {
                path: located.path,
                end,
                expected: located.expected,
                help: located.help,
            })),
        }
    }
}

fn parse_error(err: &serde_norway::Error, text: &str, index: &Index) -> FirstError {
    let mut location = err.location().map(|l| (l.line(), l.column()));
    let mut message = err.to_string();
    // The YAML reader reports some errors (a control character, invalid UTF-8) as "at position
    // N" (a byte offset) with the location 1:1; point at the offending character instead.
    if let Some(pos) = message.find(" at position ")
        && let Ok(offset) = message[pos + " at position ".len()..]
            .trim()
            .parse::<usize>()
    {
        location = Some(line_column(text, offset));
        message.truncate(pos);
    }
    // A second document comes without a location: point at its `---` marker.
    if location.is_none() && message.contains("more than one document") {
        match second_document_line(text) {
            Some(line) => {
                location = Some((line, 1));
                message =
                    "a topology file holds one YAML document; a second one starts here".to_string();
            }
            // No marker: the reader split the text itself (top-level keys indented
            // differently); the whole file is at fault, from its start.
            None => {
                location = Some((1, 1));
                message = "a topology file holds one YAML document, but this text reads as several (are its top-level keys indented alike?)".to_string();
            }
        }
    }
    // serde_norway appends " at line L column C"; we print the location in front instead.
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        if let Some(pos) = message.find(&suffix) {
            message.replace_range(pos..pos + suffix.len(), "");
        }
    }
    FirstError {
        location,
        located: locate_parse(&message, index),
    }
}

/// The 1-based line of the `---` marker that starts a second YAML document: the first marker
/// after any content (a leading `---` only opens the first document).
fn second_document_line(text: &str) -> Option<usize> {
    let mut seen_content = false;
    for (index, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_marker {
            if seen_content {
                return Some(index + 1);
            }
            // Content may follow the marker on its own line (`--- {version: 1}`).
            seen_content = !line[3..].trim().is_empty() && !line[3..].trim().starts_with('#');
            continue;
        }
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('%') {
            seen_content = true;
        }
    }
    None
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::load_str;

    #[test]
    fn a_control_character_is_reported_where_it_is() {
        let text = "version: 1\nhosts:\n  h1: { underlay: 10.0.0.1/24 \u{1}}\n";
        let err = load_str(text, "t.yaml")
            .expect_err("control character")
            .to_string();
        assert_eq!(err, "t.yaml:3:31: control characters are not allowed");
    }

    #[test]
    fn a_second_document_is_reported_at_its_marker() {
        let text = "# comment\n---\nversion: 1\nhosts: {}\n---\nversion: 1\n";
        let err = load_str(text, "t.yaml")
            .expect_err("two documents")
            .to_string();
        assert_eq!(
            err,
            "t.yaml:5:1: a topology file holds one YAML document; a second one starts here"
        );
        let inline = "--- {version: 1}\n--- {version: 1}\n";
        let err = load_str(inline, "t.yaml")
            .expect_err("two documents")
            .to_string();
        assert!(err.starts_with("t.yaml:2:1: "), "{err}");
    }

    #[test]
    fn one_document_with_markers_is_fine() {
        assert!(load_str("---\nversion: 1\n...\n", "t.yaml").is_ok());
    }
}
