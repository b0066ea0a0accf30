//! Bounding the nesting depth of a topology before it is deserialized.
//!
//! Why a separate pass: serde_norway reads a whole document into events before its own
//! recursion limit (128) applies, and the YAML scanner underneath (libyaml) does work
//! proportional to the flow nesting depth for every token, so 64k levels of `[[[...` took about
//! 20 s before failing. This pass drives the same parser event by event and stops at the first
//! collection deeper than [`MAX_DEPTH`], so a deep file costs at most `MAX_DEPTH` per token. It is
//! the same parser, so it counts exactly the nesting the real parse sees (quotes, comments and
//! block scalars included). Syntax errors are left to the real parse, which reports them with
//! its own messages.

use super::events::{self, Kind};
use std::ops::ControlFlow;

/// The deepest nesting of mappings and sequences a topology may have. The model itself needs 6
/// (`containers.c.networks.n.ports[i]`); the limit only keeps hostile input cheap.
pub const MAX_DEPTH: usize = 64;

/// Where the text first nests deeper than [`MAX_DEPTH`]: 1-based line and column (characters).
#[derive(Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
}

/// `Err` with the position of the first collection nested deeper than [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut found = None;
    events::walk(text, |event| {
        match event.kind {
            Kind::SequenceStart | Kind::MappingStart => {
                depth += 1;
                if depth > MAX_DEPTH {
                    found = Some(TooDeep {
                        line: event.start.line + 1,
                        column: event.start.column + 1,
                    });
                    return ControlFlow::Break(());
                }
            }
            Kind::SequenceEnd | Kind::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        ControlFlow::Continue(())
    });
    found.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_nesting_past_the_limit_is_found_where_it_starts() {
        let at_limit = format!(
            "a: {}{}\n",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(check(&at_limit), Ok(()));
        let deeper = format!("a: {}{}\n", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        // The top mapping is level 1, so the 64th `[` (column 4 + 63) is level 65.
        assert_eq!(
            check(&deeper),
            Err(TooDeep {
                line: 1,
                column: 4 + MAX_DEPTH - 1
            })
        );
    }

    #[test]
    fn block_nesting_counts_too() {
        let text: String = (0..=MAX_DEPTH)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let err = check(&text).expect_err("too deep");
        assert_eq!(err.line, MAX_DEPTH + 1);
    }

    #[test]
    fn brackets_in_strings_comments_and_block_scalars_do_not_count() {
        let many = "[".repeat(200);
        let text = format!("a: '{many}'\nb: \"{many}\"\n# {many}\nc: |\n  {many}\nd: x{many}\n");
        assert_eq!(check(&text), Ok(()));
    }

    #[test]
    fn syntax_errors_are_left_to_the_real_parse() {
        assert_eq!(check("a: [\n"), Ok(()));
        assert_eq!(check("a: b: c\n"), Ok(()));
    }

    #[test]
    fn many_shallow_collections_are_fine() {
        let text: String = (0..10_000)
            .map(|i| format!("c{i}: {{ a: [1, 2] }}\n"))
            .collect();
        assert_eq!(check(&text), Ok(()));
    }
}
