//! `netplan-rs completions SHELL` and `netplan-rs man [--dir DIR]`: shell completions
//! (clap_complete) and roff man pages (clap_mangen), both generated from the clap definitions
//! in [`super`], so they can never drift from the real command line.

use super::output::outln;
use anyhow::Context;
use clap::CommandFactory;
use std::path::Path;
use std::process::ExitCode;

/// The completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut out = String::from_utf8(completion_script(shell)).context("completion script")?;
    if out.ends_with('\n') {
        out.pop();
    }
    outln!("{out}")?;
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`, as bytes.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = super::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "netplan-rs", &mut buf);
    buf
}

/// The man page of netplan-rs on stdout, or with `dir` one page per command and subcommand
/// (`netplan-rs.1`, `netplan-rs-plan.1`, `netplan-rs-lab-up.1`, ...) written there.
pub fn man(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(super::Cli::command(), dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            outln!("Man pages written to {}", dir.display())?;
        }
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(super::Cli::command())
                .render(&mut buf)
                .context("rendering the man page")?;
            let text = String::from_utf8(buf).context("man page")?;
            super::output::out!("{text}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument and every (sub)command of `cmd` and below without help text, by path.
    fn missing_help(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let path = format!("{path} {}", cmd.get_name()).trim().to_string();
        if cmd.get_about().is_none() && path != "netplan-rs" {
            missing.push(format!("{path}: the command has no about"));
        }
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path}: argument {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            missing_help(sub, &path, missing);
        }
    }

    #[test]
    fn every_argument_and_command_has_help() {
        let mut cmd = super::super::Cli::command();
        // Built, so clap's own --help/--version are in the tree and checked too.
        cmd.build();
        let mut missing = Vec::new();
        missing_help(&cmd, "", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    #[test]
    fn the_walk_finds_an_argument_without_help() {
        // The check above must be able to fail.
        let cmd = clap::Command::new("x")
            .about("x")
            .arg(clap::Arg::new("file"));
        let mut missing = Vec::new();
        missing_help(&cmd, "", &mut missing);
        assert_eq!(missing, vec!["x: argument file".to_string()]);
    }

    #[test]
    fn completions_for_every_shell_name_the_subcommands() {
        use clap::ValueEnum;
        for shell in clap_complete::Shell::value_variants() {
            let script = String::from_utf8(completion_script(*shell)).unwrap();
            assert!(script.len() > 500, "{shell}: {script}");
            for sub in [
                "validate",
                "plan",
                "apply",
                "destroy",
                "lab",
                "completions",
                "man",
            ] {
                assert!(script.contains(sub), "{shell} completions lack {sub}");
            }
        }
    }

    #[test]
    fn the_man_page_lists_every_subcommand() {
        let mut buf = Vec::new();
        clap_mangen::Man::new(super::super::Cli::command())
            .render(&mut buf)
            .unwrap();
        let page = String::from_utf8(buf).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
        for sub in super::super::Cli::command().get_subcommands() {
            assert!(
                page.contains(&format!("netplan\\-rs\\-{}(1)", sub.get_name())),
                "man page lacks {}",
                sub.get_name()
            );
        }
        assert!(page.contains("Examples:"), "{page}");
    }
}
