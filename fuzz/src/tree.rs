//! A JSON tree that can hold what valid JSON cannot: numbers and literals as raw text (`NaN`,
//! `1e999`, 400 digits), strings as raw escaped content (lone surrogates, bad escapes, invalid
//! UTF-8), objects as lists (duplicate keys), and nesting as a count (`[`×20,000 without a
//! 20,000-deep tree, so the fuzzer itself never recurses deeply).

/// One JSON value, as the fuzzer mutates it.
#[derive(Clone, Debug)]
pub enum J {
    /// Written as is: a number, `null`, `true`, `NaN`, or any bytes at all.
    Raw(Vec<u8>),
    /// A string; the content is written between quotes as is (so it is already escaped).
    Str(Vec<u8>),
    Arr(Vec<J>),
    /// Entries in order; keys are escaped content like [`J::Str`]. Keys may repeat.
    Obj(Vec<(Vec<u8>, J)>),
    /// `open`×depth, inner, `close`×depth: deep nesting without a deep tree.
    Nest {
        depth: usize,
        open: &'static [u8],
        close: &'static [u8],
        inner: Box<J>,
    },
}

impl J {
    /// The tree of valid JSON text (`None` when it is not valid JSON).
    pub fn parse(text: &[u8]) -> Option<J> {
        serde_json::from_slice::<serde_json::Value>(text)
            .ok()
            .map(|v| J::from_value(&v))
    }

    pub fn from_value(v: &serde_json::Value) -> J {
        use serde_json::Value as V;
        match v {
            V::Null => J::Raw(b"null".to_vec()),
            V::Bool(b) => J::Raw(if *b { b"true".to_vec() } else { b"false".to_vec() }),
            V::Number(n) => J::Raw(n.to_string().into_bytes()),
            V::String(s) => J::Str(escape(s.as_bytes())),
            V::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            V::Object(o) => J::Obj(
                o.iter()
                    .map(|(k, v)| (escape(k.as_bytes()), J::from_value(v)))
                    .collect(),
            ),
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Raw(r) => out.extend_from_slice(r),
            J::Str(s) => {
                out.push(b'"');
                out.extend_from_slice(s);
                out.push(b'"');
            }
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            J::Obj(entries) => {
                out.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.push(b'"');
                    out.extend_from_slice(k);
                    out.extend_from_slice(b"\": ");
                    v.write(out);
                }
                out.push(b'}');
            }
            J::Nest {
                depth,
                open,
                close,
                inner,
            } => {
                for _ in 0..*depth {
                    out.extend_from_slice(open);
                }
                inner.write(out);
                for _ in 0..*depth {
                    out.extend_from_slice(close);
                }
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// The value of the first entry named `key` of an object.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut J> {
        match self {
            J::Obj(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number of values in the tree (a [`J::Nest`] counts as one plus its inner value).
    pub fn count(&self) -> usize {
        1 + match self {
            J::Arr(items) => items.iter().map(J::count).sum(),
            J::Obj(entries) => entries.iter().map(|(_, v)| v.count()).sum(),
            J::Nest { inner, .. } => inner.count(),
            J::Raw(_) | J::Str(_) => 0,
        }
    }

    /// The `n`th value in pre-order (`n < self.count()`).
    pub fn nth_mut(&mut self, n: usize) -> Option<&mut J> {
        if n == 0 {
            return Some(self);
        }
        let mut n = n - 1;
        let children: Vec<&mut J> = match self {
            J::Arr(items) => items.iter_mut().collect(),
            J::Obj(entries) => entries.iter_mut().map(|(_, v)| v).collect(),
            J::Nest { inner, .. } => vec![&mut **inner],
            J::Raw(_) | J::Str(_) => return None,
        };
        for child in children {
            let c = child.count();
            if n < c {
                return child.nth_mut(n);
            }
            n -= c;
        }
        None
    }

    pub fn nth(&self, n: usize) -> Option<&J> {
        if n == 0 {
            return Some(self);
        }
        let mut n = n - 1;
        let children: Vec<&J> = match self {
            J::Arr(items) => items.iter().collect(),
            J::Obj(entries) => entries.iter().map(|(_, v)| v).collect(),
            J::Nest { inner, .. } => vec![&**inner],
            J::Raw(_) | J::Str(_) => return None,
        };
        for child in children {
            let c = child.count();
            if n < c {
                return child.nth(n);
            }
            n -= c;
        }
        None
    }
}

/// `bytes` as the content of a JSON string (quotes not included).
pub fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_valid_json_and_writes_what_json_cannot() {
        let t = J::parse(br#"{"a": [1, "x\"y", null], "b": {"c": true}}"#).expect("valid");
        let back: serde_json::Value = serde_json::from_slice(&t.to_bytes()).expect("still valid");
        assert_eq!(
            back,
            serde_json::json!({"a": [1, "x\"y", null], "b": {"c": true}})
        );
        let nest = J::Nest {
            depth: 3,
            open: b"[",
            close: b"]",
            inner: Box::new(J::Raw(b"NaN".to_vec())),
        };
        assert_eq!(nest.to_bytes(), b"[[[NaN]]]");
        assert_eq!(t.count(), 7);
        assert!(matches!(t.nth(5), Some(J::Obj(_))));
    }
}
