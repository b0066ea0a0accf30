//! `netplan-rs validate FILE`: a one-line summary, or every error (exit 1).

use super::output::{errln, outln};
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> ExitCode {
    match crate::topology::load(file) {
        Ok(topo) => {
            let line = outln!(
                "{}: valid topology: {}, {}, {}",
                crate::topology::source::display_name(file),
                count(topo.hosts.len(), "host"),
                count(topo.networks.len(), "network"),
                count(topo.containers.len(), "container")
            );
            match line {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if super::output::is_closed(&e) => {
                    ExitCode::from(super::output::CLOSED_EXIT)
                }
                Err(e) => {
                    errln!("Error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            errln!("{e}");
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
