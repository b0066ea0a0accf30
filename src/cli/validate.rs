//! `netplan-rs validate FILE`: a one-line summary, or every error (exit 1).

use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> ExitCode {
    match crate::topology::load(file) {
        Ok(topo) => {
            println!(
                "{}: valid topology: {}, {}, {}",
                crate::topology::source::display_name(file),
                count(topo.hosts.len(), "host"),
                count(topo.networks.len(), "network"),
                count(topo.containers.len(), "container")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
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
