//! Errors of loading a topology: I/O, parse errors with file:line:column, and the full list of
//! semantic diagnostics with YAML paths (all of them at once, so one run shows every mistake).

use std::fmt;

/// One semantic problem at a YAML path, e.g. `containers.docker2.address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
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
                line: Some(line),
                column: Some(column),
                message,
            } => write!(f, "{file}:{line}:{column}: {message}"),
            TopologyError::Parse { file, message, .. } => write!(f, "{file}: {message}"),
            TopologyError::Invalid { file, diagnostics } => {
                for (i, d) in diagnostics.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{file}: {d}")?;
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
