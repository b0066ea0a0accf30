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

use std::mem::MaybeUninit;
use unsafe_libyaml_norway as unsafe_libyaml;

/// The deepest nesting of mappings and sequences a topology may have. The model itself needs 6
/// (`containers.c.networks.n.ports[i]`); the limit only keeps hostile input cheap.
pub const MAX_DEPTH: usize = 64;

/// Where the text first nests deeper than [`MAX_DEPTH`]: 1-based line and column (characters).
#[derive(Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
}

/// Owns an initialised parser and frees it on every path out.
struct Parser(Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>);

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: only constructed after yaml_parser_initialize succeeded.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.0.as_mut_ptr()) }
    }
}

/// `Err` with the position of the first collection nested deeper than [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), TooDeep> {
    let mut boxed = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
    // SAFETY: the parser lives in a Box (its address never changes) and is initialised before
    // use; `text` outlives it (dropped at the end of this function, before `text`).
    let mut parser = unsafe {
        if unsafe_libyaml::yaml_parser_initialize(boxed.as_mut_ptr()).fail {
            // Out of memory: let the real parse fail or succeed on its own.
            return Ok(());
        }
        unsafe_libyaml::yaml_parser_set_encoding(
            boxed.as_mut_ptr(),
            unsafe_libyaml::YAML_UTF8_ENCODING,
        );
        unsafe_libyaml::yaml_parser_set_input_string(
            boxed.as_mut_ptr(),
            text.as_ptr(),
            text.len() as u64,
        );
        Parser(boxed)
    };
    let mut depth = 0usize;
    loop {
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised; a successful parse initialises `event`, which is
        // read and then freed exactly once.
        let (kind, mark) = unsafe {
            if unsafe_libyaml::yaml_parser_parse(parser.0.as_mut_ptr(), event.as_mut_ptr()).fail {
                return Ok(());
            }
            let e = event.as_mut_ptr();
            let seen = ((*e).type_, (*e).start_mark);
            unsafe_libyaml::yaml_event_delete(e);
            seen
        };
        match kind {
            unsafe_libyaml::YAML_SEQUENCE_START_EVENT
            | unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(TooDeep {
                        line: mark.line as usize + 1,
                        column: mark.column as usize + 1,
                    });
                }
            }
            unsafe_libyaml::YAML_SEQUENCE_END_EVENT | unsafe_libyaml::YAML_MAPPING_END_EVENT => {
                depth = depth.saturating_sub(1)
            }
            unsafe_libyaml::YAML_STREAM_END_EVENT => return Ok(()),
            _ => {}
        }
    }
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
