//! Reading a topology file: parse (errors with file:line:column) then validate (errors with YAML
//! paths). A `Topology` returned from here is valid; nothing downstream re-checks it.

use super::error::TopologyError;
use super::model::Topology;
use super::validate::validate;
use std::path::Path;

/// Read, parse and validate the topology file at `path`.
pub fn load(path: &Path) -> Result<Topology, TopologyError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
        file: file.clone(),
        source,
    })?;
    load_str(&text, &file)
}

/// Parse and validate topology text; `file_name` is only used in error messages.
pub fn load_str(text: &str, file_name: &str) -> Result<Topology, TopologyError> {
    let topo: Topology =
        serde_norway::from_str(text).map_err(|err| parse_error(&err, file_name))?;
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

fn parse_error(err: &serde_norway::Error, file: &str) -> TopologyError {
    let location = err.location();
    let mut message = err.to_string();
    // serde_norway appends " at line L column C"; we print the location in front instead.
    if let Some(loc) = &location {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(pos) = message.find(&suffix) {
            message.replace_range(pos..pos + suffix.len(), "");
        }
    }
    TopologyError::Parse {
        file: file.to_string(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message,
    }
}
