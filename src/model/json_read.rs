//! Reading JSON that comes from outside (AMQP bodies, HTTP responses): the one place that
//! parses untrusted text, and the nesting limit that makes what it returns safe to walk.
//!
//! Everything that walks a JSON value in ceilo — jsonpath's recursive descent, Python `str()`,
//! JSON writing, signing, building and dropping the tree itself — recurses once per level, on
//! threads with ordinary stacks. A body nested a million levels deep would overflow any of them
//! and abort the process on every redelivery. Refusing deep documents here bounds every one of
//! those walks, instead of rewriting each to be iterative.
//!
//! Python's `json` reads more than standard JSON (`NaN`, `Infinity`, `-Infinity`, `1e400` as
//! infinity), and oslo and Ceilometer read notifications with it. [`read`] takes simd-json's
//! fast path and, only when simd-json refuses the text, [`super::json_python`]'s reader over the
//! untouched original: ordinary bodies pay nothing for it, and a body that is really broken
//! gets Python's description of what is wrong (simd-json only says "Syntax at character 0").
//!
//! simd-json's first two stages (structure, then a flat tape of nodes) do not recurse; only
//! building the tree does. So the depth is read off the tape, between the two, and only for
//! documents with more nodes than the limit: nothing smaller can be deeper, which spares
//! almost every real notification the walk.

use simd_json::{tape, Buffers, Node, Tape};

use super::json_python::{self, PyReadError};
use super::Value;

/// Levels of arrays and objects a document may have. CPython's `json.loads` (recursion limit
/// 1000, some frames already used by oslo and Ceilometer) fails below that, so nothing deeper
/// reaches a Ceilometer endpoint either.
pub const MAX_DEPTH: usize = 1000;

/// Why untrusted text was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// What is wrong, as precisely as the parser that refused it says.
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl From<simd_json::Error> for ReadError {
    fn from(e: simd_json::Error) -> Self {
        ReadError::Json(e.to_string())
    }
}

/// What [`read_document`] made of a text: simd-json's tape of the copy, or, for text only
/// Python's `json` takes, the fallback reader's tree. A tape costs no tree until one is built
/// from it ([`tree`]), so a caller can build only the parts it keeps.
pub enum Document<'a> {
    Tape(Tape<'a>),
    Tree(Value<'a>),
}

impl<'a> Document<'a> {
    pub fn into_value(self) -> Value<'a> {
        match self {
            Document::Tape(tape) => tree(tape.as_value()),
            Document::Tree(value) => value,
        }
    }
}

/// The tree of one value on a tape (of a document no deeper than [`MAX_DEPTH`]).
pub fn tree<'a>(value: tape::Value<'_, 'a>) -> Value<'a> {
    simd_json::value::lazy::Value::from_tape(value).into_value()
}

/// Reads `original` as Python's `json.loads` would, into a tree: see [`read_document`].
pub fn read<'a>(
    original: &[u8],
    scratch: &'a mut Vec<u8>,
    buffers: &mut Buffers,
) -> Result<Value<'a>, ReadError> {
    read_document(original, scratch, buffers).map(Document::into_value)
}

/// Reads `original` as Python's `json.loads` would: copied into `scratch` and parsed there in
/// place by simd-json; if simd-json refuses it, read from the untouched original by
/// [`json_python`] (which simd-json may have half unescaped in `scratch`). Either way nested
/// no deeper than [`MAX_DEPTH`].
pub fn read_document<'a>(
    original: &[u8],
    scratch: &'a mut Vec<u8>,
    buffers: &mut Buffers,
) -> Result<Document<'a>, ReadError> {
    scratch.clear();
    scratch.extend_from_slice(original);
    match parse_tape(scratch, buffers) {
        Ok(tape) => Ok(Document::Tape(tape)),
        Err(ReadError::Json(_)) => json_python::parse(original)
            .map(Document::Tree)
            .map_err(|e| match e {
                PyReadError::TooDeep => ReadError::TooDeep,
                other => ReadError::Json(other.to_string()),
            }),
        Err(too_deep) => Err(too_deep),
    }
}

/// Parses `bytes` in place (simd-json unescapes strings where they are) into a tree that borrows
/// from them, refusing documents nested deeper than [`MAX_DEPTH`].
pub fn parse<'a>(bytes: &'a mut [u8], buffers: &mut Buffers) -> Result<Value<'a>, ReadError> {
    parse_tape(bytes, buffers).map(|tape| tree(tape.as_value()))
}

/// [`parse`] up to the tape: the depth is checked, no tree is built.
fn parse_tape<'a>(bytes: &'a mut [u8], buffers: &mut Buffers) -> Result<Tape<'a>, ReadError> {
    let tape = simd_json::to_tape_with_buffers(bytes, buffers)?;
    if tape.0.len() > MAX_DEPTH {
        check_depth(&tape.0)?;
    }
    Ok(tape)
}

/// Walks the tape once: a container at index `i` spans the `count` nodes after it, so the open
/// containers at any point are those whose span has not ended yet.
fn check_depth(tape: &[Node<'_>]) -> Result<(), ReadError> {
    let mut open_until: Vec<usize> = Vec::new();
    for (i, node) in tape.iter().enumerate() {
        while open_until.last().is_some_and(|&end| i > end) {
            open_until.pop();
        }
        if let Node::Array { count, .. } | Node::Object { count, .. } = node {
            if open_until.len() == MAX_DEPTH {
                return Err(ReadError::TooDeep);
            }
            open_until.push(i + count);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::*;

    fn read(text: &str) -> Result<(), ReadError> {
        parse(&mut text.as_bytes().to_vec(), &mut Buffers::default()).map(drop)
    }

    fn nested(open: &str, close: &str, depth: usize) -> String {
        let innermost = if open.starts_with('{') { "1" } else { "" };
        format!("{}{innermost}{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn the_limit_itself_is_read_one_more_level_is_not() {
        assert!(read(&nested("[", "]", MAX_DEPTH)).is_ok());
        assert!(matches!(
            read(&nested("[", "]", MAX_DEPTH + 1)),
            Err(ReadError::TooDeep)
        ));
        assert!(matches!(
            read(&nested("{\"a\":", "}", MAX_DEPTH + 1)),
            Err(ReadError::TooDeep)
        ));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_in_its_first_place_as_pythons_json_does() {
        let mut text = br#"{"id": "first", "n": 1, "id": "second"}"#.to_vec();
        let value = parse(&mut text, &mut Buffers::default()).expect("parsed");
        let object = value.as_object().expect("object");
        assert_eq!(value.get_str("id"), Some("second"));
        let keys: Vec<&str> = object.keys().map(|k| k.as_ref()).collect();
        assert_eq!(keys, ["id", "n"]);
    }

    #[test]
    fn closed_containers_no_longer_count() {
        // Many nodes, each container closed before the next opens: depth 2 throughout.
        let wide = format!("[{}[]]", "[1, {\"a\": [2]}],".repeat(3 * MAX_DEPTH));
        assert!(read(&wide).is_ok());
        // Deep, then shallow again, then deep: each run alone is within the limit.
        let twice = format!(
            "[{}, {}]",
            nested("[", "]", MAX_DEPTH - 1),
            nested("{\"k\":", "}", MAX_DEPTH - 1)
        );
        assert!(read(&twice).is_ok());
    }

    #[test]
    fn brackets_inside_strings_are_text() {
        let quoted = format!("[\"{}\"]", "[".repeat(2 * MAX_DEPTH));
        assert!(read(&quoted).is_ok());
    }

    #[test]
    fn a_million_levels_are_refused_without_recursion() {
        assert!(matches!(
            read(&nested("[", "]", 1_000_000)),
            Err(ReadError::TooDeep)
        ));
    }

    #[test]
    fn read_takes_what_python_takes_and_says_what_is_wrong_otherwise() {
        let mut scratch = Vec::new();
        let mut buffers = Buffers::default();
        let v = super::read(br#"{"a": "\"x\"", "b": NaN}"#, &mut scratch, &mut buffers).unwrap();
        assert_eq!(
            v.get_str("a"),
            Some("\"x\""),
            "the original is read, not simd-json's half-unescaped copy"
        );
        assert!(v.get_f64("b").unwrap().is_nan());
        drop(v);
        let e = super::read(
            br#"{"oslo.version": "2.0", "oslo.message": "{\"message_id"#,
            &mut scratch,
            &mut buffers,
        );
        assert_eq!(
            e.err().map(|e| e.to_string()).as_deref(),
            Some("not valid JSON: Unterminated string starting at: line 1 column 41 (char 40)")
        );
        let deep = format!("[{}NaN{}]", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(matches!(
            super::read(deep.as_bytes(), &mut scratch, &mut buffers),
            Err(ReadError::TooDeep)
        ));
    }

    #[test]
    fn malformed_text_is_a_json_error() {
        assert!(matches!(read("{\"a\": [1, 2"), Err(ReadError::Json(_))));
    }
}
