//! How many bytes of JSON a value takes as [`super::json_write`] writes it (`json.dumps`), counted
//! without writing it; and [`OutputBudget`], the bytes one notification's samples and events may
//! take (`notification.max_output_bytes`), charged as they are made.
//!
//! Structure, text and integers are counted exactly; a float counts 24 bytes (its longest
//! `repr`, `-2.2250738585072014e-308`), so a count is never short of what is written. Text is
//! counted with the writer's own scan for plain runs, so it costs a fraction of writing it.
//! What a sample or an event message adds around its values is counted next to its writer
//! ([`super::meter_message`], `event::message`).
//!
//! A [`Measure`] says how a text is counted: exactly, or by an upper bound that does not read
//! it ([`str_bound`]: a byte is never written as more than six). Conversion charges bounds
//! first: almost every notification's bound is far under the limit, and then so is its exact
//! size. Only a notification whose bound goes over is counted again exactly (`convert`), so what
//! is refused, and the figures it is refused with, are those of the exact count.

use simd_json::StaticNode;

use super::json_write::{JsonView, View};
use super::plain::plain_prefix_len;

/// The longest float `repr`: a float counts this much.
pub const FLOAT_LEN: usize = 24;

/// The bytes `json.dumps(value)` writes.
pub fn value_len<V: JsonView>(value: &V) -> usize {
    match value.view() {
        View::Static(s) => static_len(s),
        View::Str(s) => str_len(s),
        // `[` `]`, and `, ` between items.
        View::Array(items) => {
            2 + 2 * items.len().saturating_sub(1) + items.iter().map(value_len).sum::<usize>()
        }
        // `{` `}`, `": "` after each key, and `, ` between entries.
        View::Object(n, entries) => {
            2 + 2 * n.saturating_sub(1) + entries.map(|(k, v)| str_len(k) + 2 + value_len(v)).sum::<usize>()
        }
    }
}

/// The bytes `json.dumps` writes for a scalar.
pub fn static_len(node: StaticNode) -> usize {
    match node {
        StaticNode::Null | StaticNode::Bool(true) => 4,
        StaticNode::Bool(false) => 5,
        StaticNode::I64(n) => usize::from(n < 0) + digits(n.unsigned_abs()),
        StaticNode::U64(n) => digits(n),
        StaticNode::F64(_) => FLOAT_LEN,
    }
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The bytes `json.dumps(text)` writes: the quotes, and each character as the writer escapes it
/// (`ensure_ascii`: `\uXXXX` for everything outside printable ASCII, two of them above U+FFFF).
pub fn str_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut len = 2;
    let mut i = 0;
    while i < bytes.len() {
        let plain = plain_prefix_len(&bytes[i..], b"\"\\");
        len += plain;
        i += plain;
        let Some(&b) = bytes.get(i) else { break };
        let (width, advance) = match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => (2, 1),
            0..=0x7f => (6, 1),
            // A UTF-8 lead byte: two or three bytes are one `\uXXXX`, four are a surrogate pair.
            0xf0..=0xff => (12, 4),
            0xe0..=0xef => (6, 3),
            _ => (6, 2),
        };
        len += width;
        i += advance;
    }
    len
}

/// The most bytes `json.dumps(text)` can write for `text`, without reading it: its quotes and
/// six per byte (a one-byte character is at most a `\uXXXX`; two, three and four bytes are one
/// `\uXXXX` or two).
pub fn str_bound(text: &str) -> usize {
    text.len().saturating_mul(6).saturating_add(2)
}

/// [`value_len`] with each text counted by [`str_bound`]: never less than [`value_len`].
pub fn value_bound<V: JsonView>(value: &V) -> usize {
    match value.view() {
        View::Static(s) => static_len(s),
        View::Str(s) => str_bound(s),
        View::Array(items) => items.iter().fold(2 + 2 * items.len().saturating_sub(1), |n, v| {
            n.saturating_add(value_bound(v))
        }),
        View::Object(n, entries) => entries.fold(2 + 2 * n.saturating_sub(1), |total, (k, v)| {
            total.saturating_add(str_bound(k).saturating_add(2).saturating_add(value_bound(v)))
        }),
    }
}

/// How texts are counted: exactly, or by an upper bound that costs nothing per byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Exact,
    Bound,
}

impl Measure {
    pub fn str_len(self, text: &str) -> usize {
        match self {
            Measure::Exact => str_len(text),
            Measure::Bound => str_bound(text),
        }
    }

    pub fn value_len<V: JsonView>(self, value: &V) -> usize {
        match self {
            Measure::Exact => value_len(value),
            Measure::Bound => value_bound(value),
        }
    }
}

/// The estimated bytes of output one notification may still make. Whoever makes samples or
/// events charges each as it is made; once over the limit, a maker stops adding and the caller
/// refuses the whole notification (its output is never published in part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputBudget {
    /// 0: no limit.
    limit: usize,
    used: usize,
    measure: Measure,
}

impl OutputBudget {
    /// A budget of `limit` bytes, charged exact counts; 0 is no limit (Ceilometer has none).
    pub fn new(limit: usize) -> OutputBudget {
        OutputBudget {
            limit,
            used: 0,
            measure: Measure::Exact,
        }
    }

    /// A budget of `limit` bytes charged upper bounds ([`Measure::Bound`]): within it, the
    /// exact counts are too; over it, they may not be, and only an exact count tells.
    pub fn bounded(limit: usize) -> OutputBudget {
        OutputBudget {
            measure: Measure::Bound,
            ..OutputBudget::new(limit)
        }
    }

    /// How whoever charges this budget counts.
    pub fn measure(&self) -> Measure {
        self.measure
    }

    /// Count `bytes` more. False when the total is now over the limit (and on every charge
    /// after that).
    pub fn charge(&mut self, bytes: usize) -> bool {
        self.used = self.used.saturating_add(bytes);
        !self.exceeded()
    }

    pub fn exceeded(&self) -> bool {
        self.limit != 0 && self.used > self.limit
    }

    /// The bytes counted so far.
    pub fn used(&self) -> usize {
        self.used
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::json_write::write_value;
    use crate::model::OwnedValue;

    fn written(v: &OwnedValue) -> usize {
        let mut out = Vec::new();
        write_value(&mut out, v);
        out.len()
    }

    fn parse(json: &str) -> OwnedValue {
        simd_json::to_owned_value(&mut json.as_bytes().to_vec()).expect("test JSON")
    }

    #[test]
    fn text_structure_and_integers_count_exactly_what_is_written() {
        for json in [
            r#""""#,
            r#""plain ascii, long enough to take the eight-byte path""#,
            r#""quote \" backslash \\ newline \n tab \t bs \b ff \f cr \r""#,
            r#""controls \u0001\u001f and DEL \u007f""#,
            r#""é, 中, 😀 and \ud83d\ude00 at the end 😀""#,
            r#"{"a": [1, -1, 0, 18446744073709551615, -9223372036854775808, true, false, null], "b": {}}"#,
            r#"[[], {"k\u00e9y": "v"}, "x"]"#,
        ] {
            let v = parse(json);
            assert_eq!(value_len(&v), written(&v), "{json}");
        }
    }

    #[test]
    fn a_bound_is_never_less_than_the_exact_count() {
        for json in [
            r#""""#,
            r#""plain ascii""#,
            r#""\u0001\u001f\u007f \" \\ \n""#,
            r#""é, 中, 😀 and \ud83d\ude00""#,
            r#"{"a": [1, -1, 0.5, "\u0000", true, null], "é": {"k": "中"}, "b": []}"#,
        ] {
            let v = parse(json);
            assert!(value_bound(&v) >= value_len(&v), "{json}");
            assert_eq!(Measure::Exact.value_len(&v), value_len(&v));
            assert_eq!(Measure::Bound.value_len(&v), value_bound(&v));
        }
        for c in ['\u{0}', '\u{1f}', '"', '\u{7f}', 'é', '中', '😀'] {
            let text = c.to_string().repeat(3);
            assert!(str_bound(&text) >= str_len(&text), "{c:?}");
        }
    }

    #[test]
    fn a_float_counts_at_least_what_it_writes() {
        for f in [
            0.0,
            -2.2250738585072014e-308,
            1e16,
            0.1 + 0.2,
            f64::NAN,
            f64::NEG_INFINITY,
            -1.5e-7,
        ] {
            let v = OwnedValue::from(f);
            assert!(value_len(&v) >= written(&v), "{f}");
        }
    }

    #[test]
    fn a_budget_refuses_once_over_its_limit_and_zero_is_no_limit() {
        let mut b = OutputBudget::new(10);
        assert!(b.charge(6));
        assert!(b.charge(4), "at the limit is within it");
        assert!(!b.charge(1));
        assert!(!b.charge(0), "stays over");
        assert_eq!(b.used(), 11);
        let mut unlimited = OutputBudget::new(0);
        assert!(unlimited.charge(usize::MAX) && unlimited.charge(1));
    }
}
