//! `netplan-rs validate FILE [--json]`: a one-line summary, or every error with its source
//! snippet (exit 1); `--json` prints the versioned document of docs/diagnostics.md instead.

use super::diagnostics::{self, Document, Summary};
use super::output::{errln, outln};
use crate::topology::source;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path, json: bool) -> ExitCode {
    let name = source::display_name(file);
    let (loaded, text) = match source::read(file) {
        Ok(text) => (crate::topology::load_str(&text, &name), text),
        Err(e) => (Err(e), String::new()),
    };
    let code = if loaded.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    let printed = if json {
        let document = match &loaded {
            Ok(topo) => Document {
                format_version: diagnostics::FORMAT_VERSION,
                file: name,
                valid: true,
                summary: Some(Summary {
                    hosts: topo.hosts.len(),
                    networks: topo.networks.len(),
                    containers: topo.containers.len(),
                }),
                diagnostics: Vec::new(),
            },
            Err(e) => Document {
                format_version: diagnostics::FORMAT_VERSION,
                file: name,
                valid: false,
                summary: None,
                diagnostics: diagnostics::items(e),
            },
        };
        match serde_json::to_string_pretty(&document) {
            Ok(text) => outln!("{text}"),
            Err(e) => Err(e.into()),
        }
    } else {
        match &loaded {
            Ok(topo) => outln!(
                "{name}: valid topology: {}, {}, {}",
                count(topo.hosts.len(), "host"),
                count(topo.networks.len(), "network"),
                count(topo.containers.len(), "container")
            ),
            Err(e) => {
                let rendered = diagnostics::render(e, &text, diagnostics::stderr_color());
                errln!("{}", rendered.trim_end());
                Ok(())
            }
        }
    };
    match printed {
        Ok(()) => code,
        Err(e) if super::output::is_closed(&e) => ExitCode::from(super::output::CLOSED_EXIT),
        Err(e) => {
            errln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
