//! `netplan-rs validate FILE`: a one-line summary, or every error (exit 1).

use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> ExitCode {
    match crate::topology::load(file) {
        Ok(topo) => {
            println!(
                "{}: valid topology: {} hosts, {} networks, {} containers",
                file.display(),
                topo.hosts.len(),
                topo.networks.len(),
                topo.containers.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
