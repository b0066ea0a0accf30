//! How topology errors are shown: each located problem as a `file:line:column: path: message`
//! line (the form editors and `grep` understand, as gcc and clang print it) followed by the
//! source line with the offending key or value underlined and what was expected; problems
//! without a position (I/O, a file that is not UTF-8 ...) keep their one line. Rendering is done
//! by annotate-snippets (rustc's renderer), in colour only on a terminal without `NO_COLOR`.
//! Also the versioned JSON form of `validate --json` (docs/diagnostics.md).

use crate::topology::{Span, Topology, TopologyError, source};
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use serde::Serialize;
use std::io::IsTerminal;

/// The version of the `validate --json` document; bumped on any incompatible change.
pub const FORMAT_VERSION: &str = "1";

/// A topology that failed to load, with the text it was read from (for the snippets).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    pub error: TopologyError,
    pub text: String,
}

/// Load and validate a topology file, also returning its text. A file that does not load is a
/// [`Failed`] (printed with snippets by the CLI's error path); one that cannot be read is a plain
/// one-line error like any other.
pub fn load(file: &std::path::Path) -> anyhow::Result<(Topology, String)> {
    let text = source::read(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    match crate::topology::load_str(&text, &source::display_name(file)) {
        Ok(topo) => Ok((topo, text)),
        Err(error) => Err(Failed { error, text }.into()),
    }
}

/// Colour on stderr: only when it is a terminal and `NO_COLOR` is unset or empty
/// (https://no-color.org).
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// One located problem, as rendered and as serialised.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Item {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub path: Option<String>,
    pub severity: &'static str,
    pub message: String,
    pub expected: Option<String>,
    /// A likely fix ("did you mean `gateway`?"), when one stands out.
    pub help: Option<String>,
}

/// The problems of `error`, in file order as validation found them.
pub fn items(error: &TopologyError) -> Vec<Item> {
    let plain = |file: &str, message: String| Item {
        file: file.to_string(),
        line: None,
        column: None,
        end_line: None,
        end_column: None,
        path: None,
        severity: "error",
        message,
        expected: None,
        help: None,
    };
    match error {
        TopologyError::Io { file, source } => vec![plain(file, source.to_string())],
        TopologyError::Input { file, message } => vec![plain(file, message.clone())],
        TopologyError::Parse {
            file,
            line,
            column,
            message,
            context,
        } => {
            let context = context.as_deref().cloned().unwrap_or_default();
            vec![Item {
                line: *line,
                column: *column,
                end_line: context.end.map(|(l, _)| l),
                end_column: context.end.map(|(_, c)| c),
                path: context.path,
                expected: context.expected,
                help: context.help,
                ..plain(file, message.clone())
            }]
        }
        TopologyError::Invalid { file, diagnostics } => diagnostics
            .iter()
            .map(|d| Item {
                line: d.span.map(|s| s.line),
                column: d.span.map(|s| s.column),
                end_line: d.span.map(|s| s.end_line),
                end_column: d.span.map(|s| s.end_column),
                path: Some(d.path.clone()),
                expected: d.expected.clone(),
                help: d.help.clone(),
                ..plain(file, d.message.clone())
            })
            .collect(),
    }
}

/// Every problem of `error`, each with its snippet of `text`, ending with a newline.
pub fn render(error: &TopologyError, text: &str, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    let mut previous_had_snippet = false;
    for item in items(error) {
        let rendered = render_item(&item, text, &renderer, color);
        let has_snippet = rendered.lines().count() > 1;
        // A blank line around snippets, as compilers print them; one-liners stay together.
        if !out.is_empty() && (has_snippet || previous_had_snippet) {
            out.push('\n');
        }
        previous_had_snippet = has_snippet;
        out.push_str(&rendered);
    }
    out
}

fn render_item(item: &Item, text: &str, renderer: &Renderer, color: bool) -> String {
    let mut header = item.file.clone();
    if let (Some(line), Some(column)) = (item.line, item.column) {
        header.push_str(&format!(":{line}:{column}"));
    }
    header.push_str(": ");
    if let Some(path) = &item.path {
        header.push_str(&format!("{path}: "));
    }
    header.push_str(&item.message);
    let range = span_of(item).and_then(|span| byte_range(text, span));
    let Some(range) = range else {
        // No place to show: the one-line form, saying what was expected if known.
        if let Some(expected) = &item.expected {
            header.push_str(&format!(", expected {expected}"));
        }
        if let Some(help) = &item.help {
            header.push_str(&format!(" ({help})"));
        }
        return format!("{header}\n");
    };
    let header = if color {
        format!("\x1b[1m{header}\x1b[0m")
    } else {
        header
    };
    let label = item.expected.as_ref().map(|e| format!("expected {e}"));
    // Only the lines the span covers go to the renderer: it scans all the source it is given,
    // and a file with a thousand problems would be scanned a thousand times.
    let first = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let last = text[range.end..]
        .find('\n')
        .map_or(text.len(), |i| range.end + i);
    let line = text[..first].matches('\n').count() + 1;
    let mut group = Group::with_level(Level::ERROR).element(
        Snippet::source(&text[first..last])
            .line_start(line)
            .fold(true)
            .annotation(
                AnnotationKind::Primary
                    .span(range.start - first..range.end - first)
                    .label(label),
            ),
    );
    if let Some(help) = &item.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    let report = [group];
    format!("{header}\n{}\n", renderer.render(&report))
}

fn span_of(item: &Item) -> Option<Span> {
    let (line, column) = (item.line?, item.column?);
    Some(Span {
        line,
        column,
        end_line: item.end_line.unwrap_or(line),
        end_column: item.end_column.unwrap_or(column + 1),
    })
}

/// The byte range of `span` (1-based lines, columns in characters) in `text`; at least one
/// character wide so a caret shows, none when the span is not inside the text.
fn byte_range(text: &str, span: Span) -> Option<std::ops::Range<usize>> {
    let start = byte_offset(text, span.line, span.column)?;
    let end = byte_offset(text, span.end_line, span.end_column)
        .unwrap_or(start)
        .max(start);
    if end > start {
        return Some(start..end);
    }
    // An empty span (a position): underline the character there, or point past the line end.
    let next = text[start..].chars().next().map_or(0, char::len_utf8);
    Some(start..start + next)
}

fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut line_start = 0;
    for _ in 1..line {
        line_start += text[line_start..].find('\n')? + 1;
    }
    let rest = &text[line_start..];
    let line_text = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let mut chars = line_text.char_indices().map(|(i, _)| i);
    let within = chars.nth(column.checked_sub(1)?).unwrap_or(line_text.len());
    Some(line_start + within)
}

/// The `validate --json` document (docs/diagnostics.md).
#[derive(Debug, Serialize)]
pub struct Document {
    pub format_version: &'static str,
    pub file: String,
    pub valid: bool,
    /// Counts of what a valid file defines; absent when it is not valid.
    pub summary: Option<Summary>,
    pub diagnostics: Vec<Item>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub hosts: usize,
    pub networks: usize,
    pub containers: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_spans_are_at_least_one_wide() {
        let text = "a: κόμβος\nb: x\n";
        assert_eq!(byte_offset(text, 1, 4), Some(3));
        assert_eq!(byte_offset(text, 2, 4), Some(text.find('x').unwrap()));
        let span = Span {
            line: 1,
            column: 4,
            end_line: 1,
            end_column: 10,
        };
        assert_eq!(byte_range(text, span), Some(3..text.find('\n').unwrap()));
        let point = Span {
            end_column: 4,
            ..span
        };
        assert_eq!(byte_range(text, point), Some(3..5));
        assert_eq!(byte_offset(text, 9, 1), None);
    }

    const BAD: &str = "version: 1\nhosts:\n  n: { underlay: 10.0.0.1/24, mtu: 1 }\n";

    #[test]
    fn colour_only_when_asked_and_the_snippet_either_way() {
        let err = crate::topology::load_str(BAD, "t.yaml").expect_err("mtu 1");
        let plain = render(&err, BAD, false);
        assert_eq!(
            plain,
            "t.yaml:3:36: hosts.n.mtu: MTU 1 is below the IPv4 minimum 68\n  |\n3 |   n: { underlay: 10.0.0.1/24, mtu: 1 }\n  |                                    ^ expected an integer 68..65535\n"
        );
        let styled = render(&err, BAD, true);
        assert!(styled.contains("\x1b["), "{styled:?}");
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn errors_without_a_place_keep_their_one_line() {
        let err = TopologyError::Input {
            file: "/dev/zero".into(),
            message: "is a character device".into(),
        };
        assert_eq!(
            render(&err, "", false),
            "/dev/zero: is a character device\n"
        );
        // A position the text does not have (the text was not kept): the one line too.
        let err = crate::topology::load_str(BAD, "t.yaml").expect_err("mtu 1");
        assert_eq!(
            render(&err, "", false),
            "t.yaml:3:36: hosts.n.mtu: MTU 1 is below the IPv4 minimum 68, expected an integer 68..65535\n"
        );
    }
}
