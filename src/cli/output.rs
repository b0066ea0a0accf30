//! The CLI's output, written so that failures are errors, not panics.
//!
//! `println!` panics when stdout is gone ("failed printing to stdout: Broken pipe"), which is
//! what `netplan-rs plan FILE | head -2` did: exit 101, and a `lab demo` left its namespaces
//! behind because the panic skipped the teardown. Rust leaves SIGPIPE ignored, so a write to a
//! closed pipe returns EPIPE; [`write_out`] turns that into [`StdoutClosed`], which travels up like any
//! other error (the same cleanup runs) and ends the command quietly with exit code
//! [`CLOSED_EXIT`]. Other write errors (a full disk) are ordinary errors with a message.
//!
//! Messages on stderr go through [`write_err`], which ignores failures: when stderr is closed there is
//! nobody left to tell, and a panic would skip cleanup.

use std::io::Write;

/// Exit code when stdout was closed early: what a shell reports for a process killed by SIGPIPE
/// (128 + 13), so `set -o pipefail` scripts see the same as with any other tool.
pub const CLOSED_EXIT: u8 = 141;

/// Stdout was closed by its reader (EPIPE): nothing more can be shown, stop quietly.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct StdoutClosed;

/// Write to stdout and flush, so a closed reader is noticed at this write (not at exit).
pub fn write_out(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// Write to stderr; failures are ignored (see the module comment).
pub fn write_err(args: std::fmt::Arguments) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(args).and_then(|()| stderr.flush());
}

/// Whether `error` (or anything in its chain) is [`StdoutClosed`].
pub fn is_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.is::<StdoutClosed>())
}

/// `print!` that returns an error instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!($($arg)*)) };
}

/// `println!` that returns an error instead of panicking.
macro_rules! outln {
    () => { $crate::cli::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::output::write_err(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {err, errln, out, outln};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_is_found_through_context() {
        let e = anyhow::Error::from(StdoutClosed).context("showing the plan");
        assert!(is_closed(&e));
        assert!(!is_closed(&anyhow::anyhow!("stdout was closed")));
    }
}
