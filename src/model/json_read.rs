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

use std::borrow::Cow;

use simd_json::value::borrowed::Object;
use simd_json::{Buffers, Node, ObjectHasher, Tape};

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
/// from it ([`TapeValue::tree`]), so a caller can build only the parts it keeps.
pub enum Document<'a> {
    Tape(Tape<'a>),
    Tree(Value<'a>),
}

impl<'a> Document<'a> {
    pub fn into_value(self) -> Value<'a> {
        match self {
            Document::Tape(tape) => TapeValue::root(&tape).tree(),
            Document::Tree(value) => value,
        }
    }
}

/// One value on simd-json's tape (of a document no deeper than [`MAX_DEPTH`]): its node and
/// the nodes it spans, read in place.
#[derive(Debug, Clone, Copy)]
pub struct TapeValue<'t, 'a>(&'t [Node<'a>]);

impl<'t, 'a> TapeValue<'t, 'a> {
    /// The document's value.
    pub fn root(tape: &'t Tape<'a>) -> Self {
        TapeValue(&tape.0)
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self.0.first() {
            Some(Node::String(text)) => Some(text),
            _ => None,
        }
    }

    /// An object's keys and values, a repeated key every time, in the order of the text.
    pub fn entries(self) -> Option<Entries<'t, 'a>> {
        match self.0.first() {
            Some(Node::Object { len, .. }) => Some(Entries {
                nodes: &self.0[1..],
                left: *len,
            }),
            _ => None,
        }
    }

    /// The tree of this value. A repeated key keeps its last value in its first place, as
    /// Python's `json` has it.
    pub fn tree(self) -> Value<'a> {
        build(&mut self.0.iter())
    }
}

/// The entries of an object on the tape.
#[derive(Debug, Clone)]
pub struct Entries<'t, 'a> {
    nodes: &'t [Node<'a>],
    left: usize,
}

impl<'t, 'a> Iterator for Entries<'t, 'a> {
    type Item = (&'a str, TapeValue<'t, 'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (Node::String(key), value) = (self.nodes.first()?, &self.nodes[1..]) else {
            unreachable!("simd-json's tape has a string before every object value")
        };
        let span = match value.first()? {
            Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
            _ => 1,
        };
        self.nodes = &value[span..];
        Some((key, TapeValue(&value[..span])))
    }
}

fn build<'a>(nodes: &mut std::slice::Iter<'_, Node<'a>>) -> Value<'a> {
    match nodes.next() {
        Some(Node::String(text)) => Value::from(*text),
        Some(Node::Static(value)) => Value::Static(*value),
        Some(Node::Array { len, .. }) => {
            let mut items = Vec::with_capacity(*len);
            for _ in 0..*len {
                items.push(build(nodes));
            }
            Value::from(items)
        }
        Some(Node::Object { len, .. }) => {
            let mut object = ObjectBuilder::with_capacity(*len);
            for _ in 0..*len {
                let Some(Node::String(key)) = nodes.next() else {
                    unreachable!("simd-json's tape has a string before every object value")
                };
                let value = build(nodes);
                object.insert(Cow::Borrowed(key), value);
            }
            Value::from(object.finish())
        }
        None => unreachable!("simd-json's tape holds every node a container counts"),
    }
}

/// Builds an object from keys that may repeat, as Python's dict does: a repeated key keeps its
/// last value in its first place.
///
/// A checked insert compares the key with every key before it (a linear scan up to 32 keys, a
/// probe beyond): most of the cost of building a notification's dict. Keys are almost never
/// repeated, so a 256-bit filter of key fingerprints answers "certainly new" for nearly all of
/// them, and only the rest take the checked insert.
pub struct ObjectBuilder<'a> {
    object: Object<'a>,
    seen: [u64; 4],
}

impl<'a> ObjectBuilder<'a> {
    pub fn with_capacity(keys: usize) -> Self {
        ObjectBuilder {
            object: Object::with_capacity_and_hasher(keys, ObjectHasher::default()),
            seen: [0; 4],
        }
    }

    pub fn insert(&mut self, key: Cow<'a, str>, value: Value<'a>) {
        let bit = fingerprint(&key);
        let (word, mask) = (usize::from(bit >> 6), 1u64 << (bit & 63));
        if self.seen[word] & mask == 0 {
            self.seen[word] |= mask;
            // SAFETY: no key before this one has its fingerprint, so none is equal to it.
            unsafe { self.object.insert_nocheck(key, value) };
        } else {
            self.object.insert(key, value);
        }
    }

    pub fn finish(self) -> Object<'a> {
        self.object
    }
}

/// Eight bits of a key, in a few instructions: its length and its first and last eight bytes
/// (first, middle and last byte when shorter), mixed.
fn fingerprint(key: &str) -> u8 {
    let b = key.as_bytes();
    let n = b.len();
    let eight = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let bits = match n {
        0 => 0,
        1..8 => u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
        _ => eight(0) ^ eight(n - 8).rotate_left(29),
    };
    ((bits ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
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

/// Parses `bytes` in place (simd-json unescapes strings where they are) into a tape that borrows
/// from them, refusing documents nested deeper than [`MAX_DEPTH`]; no tree is built.
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
        parse_tape(&mut text.as_bytes().to_vec(), &mut Buffers::default())
            .map(|tape| drop(TapeValue::root(&tape).tree()))
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
        let tape = parse_tape(&mut text, &mut Buffers::default()).expect("parsed");
        let value = TapeValue::root(&tape).tree();
        let object = value.as_object().expect("object");
        assert_eq!(value.get_str("id"), Some("second"));
        let keys: Vec<&str> = object.keys().map(|k| k.as_ref()).collect();
        assert_eq!(keys, ["id", "n"]);
    }

    /// Objects of up to 80 keys drawn from a few dozen names (so keys repeat, and distinct
    /// keys share fingerprints), nested: the tree is simd-json's own checked build, key order
    /// included where simd-json keeps it (up to 32 keys in the text).
    #[test]
    fn trees_are_what_simd_jsons_checked_build_makes() {
        let names: Vec<String> = (0..48)
            .map(|i| format!("key_{}_{}", i % 7, "x".repeat(i / 7)))
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut collided = false;
        for len in 0..80 {
            let entries: Vec<String> = (0..len)
                .map(|i| {
                    format!(
                        "\"{}\": {{\"n\": {i}, \"{}\": [{i}]}}",
                        names[next(names.len())],
                        names[next(names.len())]
                    )
                })
                .collect();
            let text = format!("{{{}}}", entries.join(", "));
            let mut ours = text.clone().into_bytes();
            let mut theirs = text.clone().into_bytes();
            let ours_tape = parse_tape(&mut ours, &mut Buffers::default()).expect("parsed");
            let theirs_tape = parse_tape(&mut theirs, &mut Buffers::default()).expect("parsed");
            let built = TapeValue::root(&ours_tape).tree();
            let expected = simd_json::value::lazy::Value::from_tape(theirs_tape.as_value()).into_value();
            assert_eq!(built, expected, "{text}");
            let object = built.as_object().expect("object");
            if len <= 32 {
                let keys = |o: &Object<'_>| o.keys().map(|k| k.to_string()).collect::<Vec<_>>();
                assert_eq!(
                    keys(object),
                    keys(expected.as_object().expect("object")),
                    "{text}"
                );
            }
            let mut fingerprints: Vec<u8> = object.keys().map(|k| fingerprint(k)).collect();
            fingerprints.sort_unstable();
            collided |= fingerprints.windows(2).any(|w| w[0] == w[1]);
        }
        assert!(
            collided,
            "some distinct keys share a fingerprint, so the checked path is taken"
        );
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
