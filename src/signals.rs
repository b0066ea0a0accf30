//! SIGINT and SIGTERM for the commands that change the kernel (`apply`, `destroy`, `lab`).
//!
//! Dying in the middle of a wave would leave the kernel half way through steps whose outcome
//! nobody reports, so these commands catch the two signals instead ([`install`]): the signal is
//! only recorded, and the work stops at the next safe point, between waves of an apply
//! ([`pending`], checked by `apply::execute`), or after a lab host is built. Cleanup that must
//! run to the end (tearing a lab down) calls [`shield`] first, so it is not interrupted in turn.
//! The process then exits with the shell's code for the signal (130 for SIGINT, 143 for
//! SIGTERM), see [`Signal::exit_code`].
//!
//! Read-only commands (`plan`, `show`, `validate`) do not install anything: the default action
//! (die at once) is right for them, and a prompt waiting on stdin stays interruptible because
//! `apply` installs the handlers only after it was approved.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The first signal that arrived since [`install`] (0: none). The first one decides the exit
/// code; a second Ctrl-C does not change what is reported.
static ARRIVED: AtomicI32 = AtomicI32::new(0);
/// Set by [`shield`]: from then on [`pending`] says nothing, so cleanup runs to its end.
static SHIELDED: AtomicBool = AtomicBool::new(false);

/// A signal that asks the command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn number(self) -> i32 {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
        }
    }

    fn from_number(n: i32) -> Option<Signal> {
        match n {
            libc::SIGINT => Some(Signal::Interrupt),
            libc::SIGTERM => Some(Signal::Terminate),
            _ => None,
        }
    }

    /// The exit code a shell reports for a process killed by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        (128 + self.number()) as u8
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Catch SIGINT and SIGTERM from now on (they no longer kill the process). Must run inside the
/// tokio runtime; calling it again is harmless. The OS-level handlers exist when this returns,
/// so a signal sent after it is never lost.
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                Some(()) = interrupt.recv() => Signal::Interrupt,
                Some(()) = terminate.recv() => Signal::Terminate,
                else => return,
            };
            record(signal);
        }
    });
    Ok(())
}

/// Remember `signal` unless an earlier one is already remembered.
fn record(signal: Signal) {
    let _ = ARRIVED.compare_exchange(0, signal.number(), Ordering::SeqCst, Ordering::SeqCst);
}

/// The signal that arrived, if any, even after [`shield`]: what the exit code reports.
pub fn arrived() -> Option<Signal> {
    Signal::from_number(ARRIVED.load(Ordering::SeqCst))
}

/// The signal that arrived, unless cleanup has [`shield`]ed itself: work should stop at its next
/// safe point.
pub fn pending() -> Option<Signal> {
    if SHIELDED.load(Ordering::SeqCst) {
        None
    } else {
        arrived()
    }
}

/// From now on, work in progress is cleanup that must finish: [`pending`] stays silent.
pub fn shield() {
    SHIELDED.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only the pure parts: recording a signal is process-global and would leak into the other
    // unit tests running concurrently (the kernel tests in tests/signals.rs cover the rest).
    #[test]
    fn exit_codes_are_the_shells() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::from_number(libc::SIGINT), Some(Signal::Interrupt));
        assert_eq!(Signal::from_number(libc::SIGTERM), Some(Signal::Terminate));
        assert_eq!(Signal::from_number(0), None);
        assert_eq!(Signal::Terminate.to_string(), "SIGTERM");
    }
}
