//! A safe walk over the YAML parser's events (the same libyaml parser serde_norway uses), with
//! the start and end position of each. Used to bound nesting before deserializing
//! ([`super::depth`]) and to find where each YAML path is written ([`super::locate`]): serde
//! keeps no positions once a value is read, so both passes read the text themselves.

use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use unsafe_libyaml_norway as unsafe_libyaml;

/// A position in the text: 0-based line and column (in characters), as libyaml counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// What an event is; scalars carry their text (keys are scalars).
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    MappingStart,
    MappingEnd,
    SequenceStart,
    SequenceEnd,
    Scalar(String),
    Alias,
    /// Stream and document markers: no part of any value.
    Other,
}

/// One parser event and where it is written (`end` is just past it).
#[derive(Debug)]
pub struct Event {
    pub kind: Kind,
    pub start: Mark,
    pub end: Mark,
}

/// Owns an initialised parser and frees it on every path out.
struct Parser(Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>);

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: only constructed after yaml_parser_initialize succeeded.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.0.as_mut_ptr()) }
    }
}

fn mark(m: unsafe_libyaml::yaml_mark_t) -> Mark {
    Mark {
        line: m.line as usize,
        column: m.column as usize,
    }
}

/// Calls `visit` with each event of `text` in order until it breaks, the stream ends, or the
/// text stops being YAML (syntax errors are left to the real parse, which words them).
pub fn walk(text: &str, mut visit: impl FnMut(Event) -> ControlFlow<()>) {
    let mut boxed = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
    // SAFETY: the parser lives in a Box (its address never changes) and is initialised before
    // use; `text` outlives it (dropped at the end of this function, before `text`).
    let mut parser = unsafe {
        if unsafe_libyaml::yaml_parser_initialize(boxed.as_mut_ptr()).fail {
            // Out of memory: the real parse will succeed or fail on its own.
            return;
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
    loop {
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised; a successful parse initialises `event`, which is
        // read (the scalar's bytes copied out) and then freed exactly once.
        let seen = unsafe {
            if unsafe_libyaml::yaml_parser_parse(parser.0.as_mut_ptr(), event.as_mut_ptr()).fail {
                return;
            }
            let e = event.as_mut_ptr();
            let kind = match (*e).type_ {
                unsafe_libyaml::YAML_MAPPING_START_EVENT => Kind::MappingStart,
                unsafe_libyaml::YAML_MAPPING_END_EVENT => Kind::MappingEnd,
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => Kind::SequenceStart,
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT => Kind::SequenceEnd,
                unsafe_libyaml::YAML_ALIAS_EVENT => Kind::Alias,
                unsafe_libyaml::YAML_SCALAR_EVENT => {
                    let scalar = (*e).data.scalar;
                    let bytes = if scalar.value.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(scalar.value, scalar.length as usize)
                    };
                    Kind::Scalar(String::from_utf8_lossy(bytes).into_owned())
                }
                unsafe_libyaml::YAML_STREAM_END_EVENT => {
                    unsafe_libyaml::yaml_event_delete(e);
                    return;
                }
                _ => Kind::Other,
            };
            let seen = Event {
                kind,
                start: mark((*e).start_mark),
                end: mark((*e).end_mark),
            };
            unsafe_libyaml::yaml_event_delete(e);
            seen
        };
        if visit(seen).is_break() {
            return;
        }
    }
}
