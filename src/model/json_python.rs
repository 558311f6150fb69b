//! Python's `json.loads`, for the bodies simd-json refuses.
//!
//! oslo.messaging and Ceilometer read notifications with Python's `json`, which is standard
//! JSON plus `NaN`, `Infinity` and `-Infinity`, and reads a number too large for a float
//! (`1e400`) as infinity. simd-json refuses all of these; so [`super::json_read`] hands what
//! simd-json refuses to this reader, which accepts exactly what Python accepts and, for the
//! rest, fails with Python's own message and position (`Unterminated string starting at: line 1
//! column 41 (char 40)`), which is what a dead letter's reason then says.
//!
//! It is only ever the fallback: ordinary bodies never get here. It is plain, not fast: one pass
//! over the text, strings always copied (so the tree it returns borrows nothing), containers on
//! an explicit stack (no recursion) limited to [`MAX_DEPTH`] levels, like simd-json's reads.
//!
//! What it does not do: a `\ud800` escape with no pair (Python keeps a lone surrogate, a Rust
//! string cannot hold one) is refused with that reason. Integers beyond 64 bits become floats,
//! as simd-json's `big-int-as-float` makes them.

use std::borrow::Cow;
use std::fmt;

use simd_json::borrowed::Object;
use simd_json::StaticNode;

use super::json_read::MAX_DEPTH;
use super::Value;

/// Why the text is not what Python's `json.loads` accepts, where (character offset, as Python
/// counts) and on which line and column.
#[derive(Debug, Clone, PartialEq)]
pub struct PyJsonError {
    pub message: &'static str,
    /// Characters before the problem (Python's `pos`).
    pub pos: usize,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for PyJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // json.JSONDecodeError's format.
        write!(
            f,
            "{}: line {} column {} (char {})",
            self.message, self.line, self.column, self.pos
        )
    }
}

/// Why the text was not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PyReadError {
    #[error("{0}")]
    Json(PyJsonError),
    /// Python decodes the body as UTF-8 before `json.loads` sees it.
    #[error("invalid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Reads `bytes` as Python's `json.loads(bytes.decode('utf-8'))` would.
pub fn parse(bytes: &[u8]) -> Result<Value<'static>, PyReadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| PyReadError::Utf8(e.valid_up_to()))?;
    Reader { text, pos: 0 }.document()
}

/// A container being filled.
enum Open {
    Array(Vec<Value<'static>>),
    /// The object so far and the key whose value is being read.
    Object(Object<'static>, String),
}

struct Reader<'t> {
    text: &'t str,
    /// Byte offset.
    pos: usize,
}

impl Reader<'_> {
    fn document(mut self) -> Result<Value<'static>, PyReadError> {
        let mut stack: Vec<Open> = Vec::new();
        self.skip_ws();
        let mut value = self.first_complete(&mut stack)?;
        loop {
            // `value` is complete: put it into the innermost open container, or finish.
            let Some(open) = stack.last_mut() else {
                self.skip_ws();
                if self.pos != self.text.len() {
                    return Err(self.error("Extra data", self.pos));
                }
                return Ok(value);
            };
            match open {
                Open::Array(items) => items.push(value),
                Open::Object(map, key) => {
                    map.insert(Cow::Owned(std::mem::take(key)), value);
                }
            }
            // Then what follows in that container: `,` and the next item, or its end.
            self.skip_ws();
            let is_array = matches!(open, Open::Array(_));
            let close = if is_array { b']' } else { b'}' };
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    value = match stack.pop() {
                        Some(Open::Array(items)) => Value::from(items),
                        Some(Open::Object(map, _)) => Value::from(map),
                        None => Value::Static(StaticNode::Null), // not reached: `open` was there
                    };
                }
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if !is_array {
                        let key = self.key()?;
                        if let Some(Open::Object(_, k)) = stack.last_mut() {
                            *k = key;
                        }
                    }
                    value = self.first_complete(&mut stack)?;
                }
                _ => return Err(self.error("Expecting ',' delimiter", self.pos)),
            }
        }
    }

    /// The next value as far as it is complete: containers it opens are pushed (with the key of
    /// an object's first entry read), down to the first scalar or empty container, returned.
    fn first_complete(&mut self, stack: &mut Vec<Open>) -> Result<Value<'static>, PyReadError> {
        loop {
            let open = match self.peek() {
                Some(b'[') => b']',
                Some(b'{') => b'}',
                _ => return self.scalar(),
            };
            if stack.len() >= MAX_DEPTH {
                return Err(PyReadError::TooDeep);
            }
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(open) {
                self.pos += 1;
                return Ok(if open == b']' {
                    Value::from(Vec::<Value<'static>>::new())
                } else {
                    Value::from(Object::with_capacity_and_hasher(0, Default::default()))
                });
            }
            if open == b']' {
                stack.push(Open::Array(Vec::new()));
            } else {
                let key = self.key()?;
                stack.push(Open::Object(
                    Object::with_capacity_and_hasher(8, Default::default()),
                    key,
                ));
            }
        }
    }

    /// `"key"`, whitespace, `:`, whitespace.
    fn key(&mut self) -> Result<String, PyReadError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("Expecting property name enclosed in double quotes", self.pos));
        }
        let key = self.string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.error("Expecting ':' delimiter", self.pos));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(key)
    }

    fn scalar(&mut self) -> Result<Value<'static>, PyReadError> {
        let rest = &self.text.as_bytes()[self.pos..];
        let constants: [(&[u8], StaticNode); 6] = [
            (b"null", StaticNode::Null),
            (b"true", StaticNode::Bool(true)),
            (b"false", StaticNode::Bool(false)),
            (b"NaN", StaticNode::F64(f64::NAN)),
            (b"Infinity", StaticNode::F64(f64::INFINITY)),
            (b"-Infinity", StaticNode::F64(f64::NEG_INFINITY)),
        ];
        for (word, node) in constants {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(Value::Static(node));
            }
        }
        match rest.first() {
            Some(b'"') => self.string().map(|s| Value::String(Cow::Owned(s))),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("Expecting value", self.pos)),
        }
    }

    /// Python's NUMBER_RE, `(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?`: an int unless it has a
    /// fraction or an exponent. A part that does not match ends the number there (Python then
    /// fails on what follows, with "Extra data" or a delimiter message).
    fn number(&mut self) -> Result<Value<'static>, PyReadError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut end = start + usize::from(bytes[start] == b'-');
        match bytes.get(end) {
            Some(b'0') => end += 1,
            Some(b'1'..=b'9') => end += digits(end),
            _ => return Err(self.error("Expecting value", start)),
        }
        let int_end = end;
        if bytes.get(end) == Some(&b'.') && digits(end + 1) > 0 {
            end += 1 + digits(end + 1);
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(end + 1), Some(b'-' | b'+')));
            let n = digits(end + 1 + sign);
            if n > 0 {
                end += 1 + sign + n;
            }
        }
        self.pos = end;
        let text = &self.text[start..end];
        let node = if end == int_end {
            // As simd-json: unsigned when it can be.
            text.parse::<u64>()
                .map(StaticNode::U64)
                .or_else(|_| text.parse::<i64>().map(StaticNode::I64))
                .unwrap_or_else(|_| StaticNode::F64(text.parse().unwrap_or(f64::NAN)))
        } else {
            // Rust's parse, like Python's float(), rounds correctly and overflows to ±inf.
            StaticNode::F64(text.parse().unwrap_or(f64::NAN))
        };
        Ok(Value::Static(node))
    }

    /// A string starting at the `"` under `pos`, unescaped.
    fn string(&mut self) -> Result<String, PyReadError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let plain = rest
                .bytes()
                .take_while(|&b| b != b'"' && b != b'\\' && b >= 0x20)
                .count();
            out.push_str(&rest[..plain]);
            self.pos += plain;
            match self.peek() {
                None => return Err(self.error("Unterminated string starting at", start)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => return Err(self.error("Invalid control character at", self.pos)),
            }
        }
    }

    /// One escape at `pos` (the backslash), appended to `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), PyReadError> {
        let at = self.pos;
        let simple = match self.text.as_bytes().get(at + 1) {
            None => return Err(self.error("Unterminated string starting at", at)),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let high = self.hex4(at)?;
                self.pos = at + 6;
                let c = if (0xd800..0xdc00).contains(&high) && self.text[self.pos..].starts_with("\\u") {
                    let low = self.hex4(self.pos)?;
                    if (0xdc00..0xe000).contains(&low) {
                        self.pos += 6;
                        char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
                    } else {
                        None
                    }
                } else {
                    char::from_u32(high)
                };
                let Some(c) = c else {
                    return Err(self.error("Lone surrogate escape (no Rust string holds it) at", at));
                };
                out.push(c);
                return Ok(());
            }
            Some(_) => return Err(self.error("Invalid \\escape", at)),
        };
        out.push(simple);
        self.pos = at + 2;
        Ok(())
    }

    /// The four hex digits of the `\u` escape at `at`.
    fn hex4(&self, at: usize) -> Result<u32, PyReadError> {
        self.text
            .get(at + 2..at + 6)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("Invalid \\uXXXX escape", at + 1))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Python's whitespace between tokens: space, tab, newline, carriage return.
    fn skip_ws(&mut self) {
        let rest = &self.text.as_bytes()[self.pos..];
        self.pos += rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
    }

    /// `message` at byte offset `at`, positioned as Python counts: characters, lines from 1,
    /// columns from 1.
    fn error(&self, message: &'static str, at: usize) -> PyReadError {
        let before = &self.text[..at.min(self.text.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        PyReadError::Json(PyJsonError {
            message,
            pos: before.chars().count(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::*;

    fn read(text: &str) -> Result<Value<'static>, PyReadError> {
        parse(text.as_bytes())
    }

    fn message(text: &str) -> String {
        read(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn reads_pythons_non_finite_numbers() {
        let v = read(r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400, "e": -1e400, "f": 1e-400}"#)
            .unwrap();
        assert!(v.get_f64("a").unwrap().is_nan());
        assert_eq!(v.get_f64("b"), Some(f64::INFINITY));
        assert_eq!(v.get_f64("c"), Some(f64::NEG_INFINITY));
        assert_eq!(v.get_f64("d"), Some(f64::INFINITY));
        assert_eq!(v.get_f64("e"), Some(f64::NEG_INFINITY));
        assert_eq!(v.get_f64("f"), Some(0.0));
    }

    #[test]
    fn reads_standard_json_as_simd_json_does() {
        let text = r#" {"s": "caf\u00e9 \ud83d\ude80 \"q\" \\ \/ \n", "n": [1, -2, 2.5, 1E3, 18446744073709551615, 123456789012345678901234567890, -0, true, false, null], "o": {}, "a": [], "k": {"x": {"y": [[1], {"z": 2}]}}} "#;
        let ours = read(text).unwrap();
        let simd = simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap();
        assert_eq!(super::super::to_owned(&ours), simd);
        // A repeated key keeps its first place and takes the last value, as in a Python dict.
        let repeated = read(r#"{"k": 1, "j": 2, "k": NaN}"#).unwrap();
        let keys: Vec<&str> = repeated.as_object().unwrap().keys().map(|k| &**k).collect();
        assert_eq!(keys, ["k", "j"]);
        assert!(repeated.get_f64("k").unwrap().is_nan());
    }

    #[test]
    fn fails_with_pythons_messages_and_positions() {
        // Each message as CPython 3.11's json.loads gives it.
        let cases = [
            ("", "Expecting value: line 1 column 1 (char 0)"),
            ("nan", "Expecting value: line 1 column 1 (char 0)"),
            (
                r#"{"a": "trunc"#,
                "Unterminated string starting at: line 1 column 7 (char 6)",
            ),
            (r#"{"a": 1"#, "Expecting ',' delimiter: line 1 column 8 (char 7)"),
            (
                "{\"a\": 1,\n \"b\" 2}",
                "Expecting ':' delimiter: line 2 column 6 (char 14)",
            ),
            (
                "{'a': 1}",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            ("[1, 2,]", "Expecting value: line 1 column 7 (char 6)"),
            ("[1] x", "Extra data: line 1 column 5 (char 4)"),
            ("[\"é\", x]", "Expecting value: line 1 column 7 (char 6)"),
            (
                "[\"a\tb\"]",
                "Invalid control character at: line 1 column 4 (char 3)",
            ),
            (r#"["\x"]"#, "Invalid \\escape: line 1 column 3 (char 2)"),
            (r#"["\u12"]"#, "Invalid \\uXXXX escape: line 1 column 4 (char 3)"),
            ("[01]", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
            ("-", "Expecting value: line 1 column 1 (char 0)"),
            ("[1.]", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
        ];
        for (text, want) in cases {
            assert_eq!(message(text), want, "{text:?}");
        }
        assert_eq!(parse(b"[\"\xff\"]"), Err(PyReadError::Utf8(2)));
        assert!(message(r#"["\ud800"]"#).starts_with("Lone surrogate"));
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(read(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(read(&nested(MAX_DEPTH + 1)).err(), Some(PyReadError::TooDeep));
        assert_eq!(
            read(&"[{\"a\":".repeat(1_000_000)).err(),
            Some(PyReadError::TooDeep)
        );
    }
}
