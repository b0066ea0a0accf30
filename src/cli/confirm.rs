//! Interactive approval for `apply` and `destroy`, like terraform: only "yes" approves, and
//! without a terminal on stdin the answer is no (use --auto-approve in scripts and CI).

use super::output::out;
use std::io::{BufRead, IsTerminal};

pub fn approve(question: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "stdin is not a terminal, so nobody can approve; pass --auto-approve to apply without asking"
        );
    }
    out!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
