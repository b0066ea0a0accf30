//! Reading a topology file: parse (errors with file:line:column) then validate (errors with YAML
//! paths). A `Topology` returned from here is valid; nothing downstream re-checks it.

use super::error::TopologyError;
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
        });
    }
    let topo: Topology =
        serde_norway::from_str(text).map_err(|err| parse_error(&err, text, file_name))?;
    let diagnostics = validate(&topo);
    if diagnostics.is_empty() {
        Ok(topo)
    } else {
        Err(TopologyError::Invalid {
            file: file_name.to_string(),
            diagnostics,
        })
    }
}

fn parse_error(err: &serde_norway::Error, text: &str, file: &str) -> TopologyError {
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
    if location.is_none()
        && message.contains("more than one document")
        && let Some(line) = second_document_line(text)
    {
        location = Some((line, 1));
        message = "a topology file holds one YAML document; a second one starts here".to_string();
    }
    // serde_norway appends " at line L column C"; we print the location in front instead.
    if let Some((line, column)) = location {
        let suffix = format!(" at line {line} column {column}");
        if let Some(pos) = message.find(&suffix) {
            message.replace_range(pos..pos + suffix.len(), "");
        }
    }
    TopologyError::Parse {
        file: file.to_string(),
        line: location.map(|(line, _)| line),
        column: location.map(|(_, column)| column),
        message,
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
