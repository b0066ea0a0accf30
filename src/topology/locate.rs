//! Where each YAML path of a topology is written: the key's and the value's line:column.
//!
//! Why: serde reads values without positions, so a semantic problem found after parsing only
//! knows its YAML path (`networks.overlay.vni`), and a problem found inside a buffered network
//! entry was reported at the start of the entry. This index is built from the parser's events
//! (only when there is an error to place) and maps each path to the exact key and value.

use super::events::{self, Event, Kind, Mark};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// A range of the text: 1-based line and column (in characters) of its first character and of
/// the character just past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Span {
    fn of(start: Mark, end: Mark) -> Span {
        Span {
            line: start.line + 1,
            column: start.column + 1,
            end_line: end.line + 1,
            end_column: end.column + 1,
        }
    }
}

/// Where one path is written: its key (absent for the document and sequence items) and its value.
/// `value_is_scalar` tells whether the value is a single scalar (a bad scalar is shown itself; a
/// bad mapping or list is shown by its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spot {
    pub key: Option<Span>,
    pub value: Span,
    pub value_is_scalar: bool,
}

impl Spot {
    /// The span a problem with the value itself points at.
    pub fn value_or_key(&self) -> Span {
        match self.key {
            Some(key) if !self.value_is_scalar => key,
            _ => self.value,
        }
    }
}

/// Every path of the document with its [`Spot`]; paths are written as in diagnostics
/// (`containers.web.ports[1]`). The first occurrence of a repeated key wins.
#[derive(Debug, Default)]
pub struct Index {
    spots: HashMap<String, Spot>,
    /// The key of the second occurrence of a repeated path, where a duplicate is reported.
    repeats: HashMap<String, Span>,
}

enum Frame {
    /// A mapping at `path`, and the key just read whose value comes next.
    Mapping {
        path: String,
        key: Option<(String, Span)>,
    },
    /// A sequence at `path` and the index of its next item.
    Sequence { path: String, next: usize },
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Index {
    /// The index of `text`; a text that stops being YAML is indexed up to the error.
    pub fn build(text: &str) -> Index {
        let mut index = Index::default();
        let mut stack: Vec<Frame> = Vec::new();
        events::walk(text, |event| {
            index.visit(&mut stack, event);
            ControlFlow::Continue(())
        });
        index
    }

    fn visit(&mut self, stack: &mut Vec<Frame>, event: Event) {
        let span = Span::of(event.start, event.end);
        let ends = matches!(event.kind, Kind::MappingEnd | Kind::SequenceEnd);
        if ends {
            stack.pop();
        }
        if matches!(event.kind, Kind::Other) || ends {
            return;
        }
        // A scalar where a mapping expects a key is that key.
        if let Some(Frame::Mapping {
            key: key @ None, ..
        }) = stack.last_mut()
        {
            let name = match &event.kind {
                Kind::Scalar(text) => text.clone(),
                // A mapping or list as a key: no topology path goes through one.
                _ => "?".to_string(),
            };
            *key = Some((name, span));
            if let Kind::MappingStart | Kind::SequenceStart = event.kind {
                // Its contents are not part of any path; skip them under a throwaway frame.
                stack.push(Frame::Sequence {
                    path: "\u{0}".to_string(),
                    next: 0,
                });
            }
            return;
        }
        // Otherwise it is a value: of the pending key, of the next list item, or the document.
        let (path, key) = match stack.last_mut() {
            Some(Frame::Mapping { path, key }) => {
                let (name, key_span) = key.take().unwrap_or_default_key();
                (child(path, &name), Some(key_span))
            }
            Some(Frame::Sequence { path, next }) => {
                *next += 1;
                (format!("{path}[{}]", *next - 1), None)
            }
            None => (String::new(), None),
        };
        let value_is_scalar = matches!(event.kind, Kind::Scalar(_) | Kind::Alias);
        if !path.starts_with('\u{0}') {
            if self.spots.contains_key(&path) {
                if let Some(key) = key {
                    self.repeats.entry(path.clone()).or_insert(key);
                }
            } else {
                self.spots.insert(
                    path.clone(),
                    Spot {
                        key,
                        value: span,
                        value_is_scalar,
                    },
                );
            }
        }
        match event.kind {
            Kind::MappingStart => stack.push(Frame::Mapping { path, key: None }),
            Kind::SequenceStart => stack.push(Frame::Sequence { path, next: 0 }),
            _ => {}
        }
    }

    /// Where `path` is written, if it is.
    pub fn get(&self, path: &str) -> Option<&Spot> {
        self.spots.get(path)
    }

    /// The key of the second occurrence of `path`, when the file repeats it.
    pub fn repeated(&self, path: &str) -> Option<Span> {
        self.repeats.get(path).copied()
    }

    /// Where `path` is written, or else its nearest written ancestor (a problem about a key the
    /// file leaves out, like a default MTU, is shown at the entry that leaves it out), with
    /// whether the spot is the path itself.
    pub fn nearest(&self, path: &str) -> Option<(&Spot, bool)> {
        let mut current = path;
        let mut exact = true;
        loop {
            if let Some(spot) = self.spots.get(current) {
                return Some((spot, exact));
            }
            exact = false;
            current = parent(current)?;
        }
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → none. Keys are matched as written, so a key holding a
/// `.` is found by its full path first (see [`Index::nearest`]).
fn parent(path: &str) -> Option<&str> {
    if path.ends_with(']')
        && let Some(open) = path.rfind('[')
    {
        return Some(&path[..open]);
    }
    path.rfind('.').map(|dot| &path[..dot])
}

/// A pending key is always set when a mapping's value arrives; a guard against a parser surprise
/// rather than an expected case.
trait DefaultKey {
    fn unwrap_or_default_key(self) -> (String, Span);
}

impl DefaultKey for Option<(String, Span)> {
    fn unwrap_or_default_key(self) -> (String, Span) {
        self.unwrap_or_else(|| {
            (
                "?".to_string(),
                Span {
                    line: 1,
                    column: 1,
                    end_line: 1,
                    end_column: 1,
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(line: usize, column: usize, end_line: usize, end_column: usize) -> Span {
        Span {
            line,
            column,
            end_line,
            end_column,
        }
    }

    const TEXT: &str = "version: 1\nnetworks:\n  overlay:\n    driver: vxlan\n    vni: abc\n  b: { driver: bridge, subnet: \"10.0.0.0/24\" }\ncontainers:\n  web:\n    ports: [\"80:80\", '81:81']\n    networks:\n      - x\n";

    #[test]
    fn block_keys_and_values_are_found_exactly() {
        let index = Index::build(TEXT);
        let vni = index.get("networks.overlay.vni").expect("vni");
        assert_eq!(vni.key, Some(span(5, 5, 5, 8)));
        assert_eq!(vni.value, span(5, 10, 5, 13));
        assert_eq!(vni.value_or_key(), span(5, 10, 5, 13));
        // A mapping is shown by its key.
        let overlay = index.get("networks.overlay").expect("overlay");
        assert_eq!(overlay.value_or_key(), span(3, 3, 3, 10));
    }

    #[test]
    fn flow_values_quotes_and_list_items_are_found() {
        let index = Index::build(TEXT);
        assert_eq!(
            index.get("networks.b.subnet").expect("subnet").value,
            span(6, 32, 6, 45)
        );
        assert_eq!(
            index.get("containers.web.ports[1]").expect("item").value,
            span(9, 22, 9, 29)
        );
        assert_eq!(
            index.get("containers.web.networks[0]").expect("item").value,
            span(11, 9, 11, 10)
        );
    }

    #[test]
    fn a_missing_path_falls_back_to_its_nearest_ancestor() {
        let index = Index::build(TEXT);
        let (spot, exact) = index.nearest("networks.overlay.mtu").expect("ancestor");
        assert!(!exact);
        assert_eq!(spot.value_or_key(), span(3, 3, 3, 10));
        let (_, exact) = index.nearest("containers.web.ports[0]").expect("exact");
        assert!(exact);
        assert!(index.nearest("nothing").is_none());
    }

    #[test]
    fn the_first_of_a_repeated_key_is_kept_and_broken_yaml_is_indexed_up_to_the_error() {
        let index = Index::build("a: 1\na: 2\nb: [\n");
        assert_eq!(index.get("a").expect("a").value.line, 1);
        assert_eq!(index.repeated("a"), Some(span(2, 1, 2, 2)));
        assert!(index.get("b").is_some());
    }
}
