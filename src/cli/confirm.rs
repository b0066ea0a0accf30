//! Interactive approval for `apply`, `destroy` and `rollback`, like terraform: only "yes"
//! approves, and without a terminal on stdin the answer is no (use --auto-approve in scripts
//! and CI).

use super::output::out;
use std::io::{BufRead, IsTerminal};

/// Ask `question`; `verb` ("apply", "destroy", "roll back") names the command in the refusal
/// when nobody can answer.
pub fn approve(question: &str, verb: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("{}", no_terminal(verb));
    }
    out!("\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

/// The refusal when stdin is not a terminal.
fn no_terminal(verb: &str) -> String {
    format!(
        "stdin is not a terminal, so nobody can approve; pass --auto-approve to {verb} without asking"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_names_the_command() {
        assert!(
            super::no_terminal("destroy").ends_with("--auto-approve to destroy without asking")
        );
        assert!(super::no_terminal("roll back").contains("to roll back without"));
    }
}
