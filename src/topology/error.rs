//! Errors of loading a topology: I/O, parse errors with file:line:column, and the full list of
//! semantic diagnostics with YAML paths (all of them at once, so one run shows every mistake).
//! Both kinds carry the exact span of the offending key or value (see [`super::locate`]) and,
//! where known, what the key expects, for the CLI's source snippets and `validate --json`.

pub use super::locate::Span;
use std::fmt;

/// One semantic problem at a YAML path, e.g. `containers.docker2.address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub message: String,
    /// What the key takes ("an integer 1..16777215"), when that helps.
    pub expected: Option<String>,
    /// Where the key or value is written; set by [`super::load_str`] (validation alone has
    /// no text), absent when the path is not in the file at all.
    pub span: Option<Span>,
    /// A likely fix ("did you mean `node-1`?"), when one stands out.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            path: path.into(),
            message: message.into(),
            expected: None,
            span: None,
            help: None,
        }
    }

    /// The same problem, with "did you mean" the closest of `names` to `given`, if close.
    pub(super) fn suggesting<'a>(
        mut self,
        given: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        self.help = super::expected::similar(given, names).map(|n| format!("did you mean `{n}`?"));
        self
    }

    /// The same problem, saying what the key expects.
    pub fn expecting(mut self, expected: impl Into<String>) -> Diagnostic {
        self.expected = Some(expected.into());
        self
    }

    /// The same problem, saying what form or range the key takes (from
    /// [`super::expected::for_path`]): for values out of range, not for clashes with other
    /// entries, where the value's form is fine and "expected an integer" would mislead.
    pub(super) fn expecting_form(mut self) -> Diagnostic {
        self.expected = super::expected::for_path(&self.path).map(str::to_string);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// More about a parse error that concerns a YAML path (boxed: most errors have none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseContext {
    /// The YAML path concerned, e.g. `networks.overlay.vni`.
    pub path: Option<String>,
    /// Line and column just past the offending key or value.
    pub end: Option<(usize, usize)>,
    /// What was expected there (shown after the message).
    pub expected: Option<String>,
    /// A likely fix ("did you mean `gateway`?"), when one stands out.
    pub help: Option<String>,
}

#[derive(Debug)]
pub enum TopologyError {
    /// The file could not be read.
    Io {
        file: String,
        source: std::io::Error,
    },
    /// The file is not something a topology can be read from (a device, a FIFO, too large).
    Input { file: String, message: String },
    /// The YAML is malformed or does not fit the model (unknown key, wrong type, IPv6 ...).
    /// `line`/`column` are 1-based; absent when the parser gives no location.
    Parse {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        /// Where exactly and what was expected, when the error concerns a YAML path.
        context: Option<Box<ParseContext>>,
    },
    /// The file parsed but breaks one or more rules. Never empty.
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
}

impl TopologyError {
    /// The semantic diagnostics (empty for I/O and parse errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            TopologyError::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::Io { file, source } => write!(f, "{file}: {source}"),
            TopologyError::Input { file, message } => write!(f, "{file}: {message}"),
            TopologyError::Parse {
                file,
                line,
                column,
                message,
                context,
            } => {
                let context = context.as_deref().cloned().unwrap_or_default();
                write!(f, "{file}")?;
                if let (Some(line), Some(column)) = (line, column) {
                    write!(f, ":{line}:{column}")?;
                }
                write!(f, ": ")?;
                if let Some(path) = &context.path {
                    write!(f, "{path}: ")?;
                }
                write!(f, "{message}")?;
                if let Some(expected) = &context.expected {
                    write!(f, ", expected {expected}")?;
                }
                Ok(())
            }
            TopologyError::Invalid { file, diagnostics } => {
                for (i, d) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    match d.span {
                        Some(span) => write!(f, "{file}:{}:{}: {d}", span.line, span.column)?,
                        None => write!(f, "{file}: {d}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for TopologyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TopologyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
