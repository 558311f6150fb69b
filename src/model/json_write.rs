//! JSON text byte for byte as Python's `json.dumps` writes it with its defaults, which is what
//! oslo.serialization and kombu put on the wire: `", "` and `": "` separators, `ensure_ascii`
//! (every non-ASCII character as a lower-case `\uXXXX`, surrogate pairs above the BMP),
//! Python's float `repr` and `NaN`/`Infinity` for the non-finite floats.
//!
//! Everything writes straight into a caller's reused `Vec<u8>`; nothing here allocates. It also
//! holds [`JsonView`], the one read-only view over simd-json's borrowed and owned values that
//! this writer, [`super::pyrepr`] and [`super::signature`] share, so each walks both value kinds
//! with one body of code. Parsing is simd-json's job, not this module's.

use std::borrow::Cow;
use std::iter::Map;

use simd_json::StaticNode;

use super::{OwnedValue, Value};

/// One node of a JSON tree, with its children borrowed.
pub enum View<'v, V: JsonView + 'v> {
    Static(StaticNode),
    Str(&'v str),
    Array(&'v [V]),
    /// The entries in the object's own order, and how many there are.
    Object(usize, V::Entries<'v>),
}

/// A JSON value that can be looked at without knowing whether it borrows or owns its text.
pub trait JsonView: Sized {
    /// The object entries, in the object's iteration order.
    type Entries<'v>: Iterator<Item = (&'v str, &'v Self)>
    where
        Self: 'v;

    fn view(&self) -> View<'_, Self>;
}

type OwnedEntries<'v> = Map<
    <&'v simd_json::owned::Object as IntoIterator>::IntoIter,
    fn((&'v String, &'v OwnedValue)) -> (&'v str, &'v OwnedValue),
>;

impl JsonView for OwnedValue {
    type Entries<'v> = OwnedEntries<'v>;

    fn view(&self) -> View<'_, Self> {
        match self {
            OwnedValue::Static(s) => View::Static(*s),
            OwnedValue::String(s) => View::Str(s),
            OwnedValue::Array(a) => View::Array(a),
            OwnedValue::Object(o) => View::Object(o.len(), o.iter().map(owned_entry as _)),
        }
    }
}

fn owned_entry<'v>((k, v): (&'v String, &'v OwnedValue)) -> (&'v str, &'v OwnedValue) {
    (k.as_str(), v)
}

type BorrowedEntries<'v, 'a> = Map<
    <&'v simd_json::borrowed::Object<'a> as IntoIterator>::IntoIter,
    fn((&'v Cow<'a, str>, &'v Value<'a>)) -> (&'v str, &'v Value<'a>),
>;

impl<'a> JsonView for Value<'a> {
    type Entries<'v>
        = BorrowedEntries<'v, 'a>
    where
        'a: 'v;

    fn view(&self) -> View<'_, Self> {
        match self {
            Value::Static(s) => View::Static(*s),
            Value::String(s) => View::Str(s),
            Value::Array(a) => View::Array(a),
            Value::Object(o) => View::Object(o.len(), o.iter().map(borrowed_entry as _)),
        }
    }
}

fn borrowed_entry<'v, 'a>((k, v): (&'v Cow<'a, str>, &'v Value<'a>)) -> (&'v str, &'v Value<'a>) {
    (k, v)
}

/// `json.dumps(value)`.
pub fn write_value<V: JsonView>(out: &mut Vec<u8>, value: &V) {
    match value.view() {
        View::Static(s) => write_static(out, s),
        View::Str(s) => write_str(out, s),
        View::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        View::Object(_, entries) => {
            out.push(b'{');
            for (i, (key, item)) in entries.enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_str(out, key);
                out.extend_from_slice(b": ");
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// `json.dumps` of a scalar: `null`, `true`, `false`, an int, or a float in Python's repr.
pub fn write_static(out: &mut Vec<u8>, node: StaticNode) {
    match node {
        StaticNode::Null => out.extend_from_slice(b"null"),
        StaticNode::Bool(true) => out.extend_from_slice(b"true"),
        StaticNode::Bool(false) => out.extend_from_slice(b"false"),
        StaticNode::I64(n) => write_i64(out, n),
        StaticNode::U64(n) => write_u64(out, n),
        StaticNode::F64(f) => write_f64(out, f),
    }
}

/// A float as `json.dumps` writes it: Python's `repr`, except the non-finite values, which
/// Python writes as the (non-standard) JavaScript names.
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        write_finite_float_repr(out, f);
    }
}

/// Python's `repr()` of a finite float: the shortest digits that round-trip, in fixed notation
/// when the decimal exponent is in `-4..16` (`100.0`, `0.0001`), otherwise in scientific
/// notation with a signed, at least two-digit exponent (`1e+16`, `1.5e-07`).
pub(crate) fn write_finite_float_repr(out: &mut Vec<u8>, f: f64) {
    // Rust's `{:e}` gives the same shortest round-trip digits as Python's `repr` (both pick
    // the closest of the shortest candidates); only the layout differs.
    let mut buf = [0u8; 40];
    let len = {
        let mut cursor = &mut buf[..];
        let room = cursor.len();
        // 40 bytes hold any f64 in `{:e}` form (at most 17 digits, sign, point, `e-324`).
        if std::io::Write::write_fmt(&mut cursor, format_args!("{f:e}")).is_err() {
            return;
        }
        room - cursor.len()
    };
    let text = &buf[..len];
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let e_at = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let (mantissa, exponent) = (&text[..e_at], text.get(e_at + 1..).unwrap_or(b"0"));
    let mut digits = [0u8; 24];
    let mut n_digits = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        digits[n_digits] = b;
        n_digits += 1;
    }
    let digits = &digits[..n_digits];
    let exp = parse_exponent(exponent);
    // Python's `decpt`: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    if negative {
        out.push(b'-');
    }
    if (-3..=16).contains(&decpt) {
        if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-decpt) as usize));
            out.extend_from_slice(digits);
        } else if decpt as usize >= digits.len() {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', decpt as usize - digits.len()));
            out.extend_from_slice(b".0");
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            out.extend_from_slice(int);
            out.push(b'.');
            out.extend_from_slice(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.extend_from_slice(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let magnitude = exp.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(magnitude));
    }
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let magnitude = digits
        .iter()
        .fold(0i32, |acc, &d| acc * 10 + i32::from(d.wrapping_sub(b'0')));
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `json.dumps(s)`: the quoted string with `ensure_ascii` escaping.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// The inside of a JSON string literal (no quotes), escaped as `json.dumps` does: `\"`, `\\`,
/// `\n`, `\r`, `\t`, `\b`, `\f`, and `\u00XX` for the other control characters and DEL.
/// Anything outside ASCII becomes `\uXXXX`, or a surrogate pair above U+FFFF.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ if b < 0x80 => write_u_escape(out, u32::from(b)),
            _ => {
                // `i` is on a char boundary: every byte before it was ASCII or a whole char.
                let c = s[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write_u_escape(out, u32::from(*unit));
                }
                i += c.len_utf8();
                run_start = i;
                continue;
            }
        }
        i += 1;
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

fn write_u_escape(out: &mut Vec<u8>, unit: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((unit >> shift) & 0xf) as usize]);
    }
}

/// Writes `json_text` (JSON that was itself written by this module, so ASCII-only) as a JSON
/// string literal: the oslo 2.0 envelope carries its inner message this way. The escaping is
/// [`write_str`]'s; for ASCII text that only touches `"` and `\`.
pub fn write_str_ascii_escaped(out: &mut Vec<u8>, json_text: &str) {
    write_str(out, json_text);
}

/// Turns `out[start..]` into the JSON string literal of that text, in place, without a second
/// buffer: what the oslo envelope needs after its inner message was written at the end of `out`.
///
/// Text written by this module is ASCII without control characters, so only `"` and `\` grow
/// (to two bytes each) and the bytes are shifted back-to-front. Anything else (raw UTF-8 that a
/// caller wrote by hand) takes the general [`write_str`] path through a temporary copy.
pub fn quote_in_place(out: &mut Vec<u8>, start: usize) {
    let start = start.min(out.len());
    let region = &out[start..];
    if region.iter().any(|&b| !(b' '..=b'~').contains(&b)) {
        let text = String::from_utf8_lossy(region).into_owned();
        out.truncate(start);
        write_str(out, &text);
        return;
    }
    let grow = region.iter().filter(|&&b| b == b'"' || b == b'\\').count();
    let old_len = out.len();
    out.resize(old_len + grow + 2, 0);
    let mut to = out.len();
    to -= 1;
    out[to] = b'"';
    for from in (start..old_len).rev() {
        let b = out[from];
        to -= 1;
        out[to] = b;
        if b == b'"' || b == b'\\' {
            to -= 1;
            out[to] = b'\\';
        }
    }
    to -= 1;
    out[to] = b'"';
    debug_assert_eq!(to, start);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, f);
        String::from_utf8(out).unwrap()
    }

    fn string(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn json(text: &str) -> String {
        let value: OwnedValue = simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_follow_python_repr() {
        let cases: &[(f64, &str)] = &[
            (100.0, "100.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.7, "1234567890123456.8"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.00012345, "0.00012345"),
            (0.1 + 0.2, "0.30000000000000004"),
            (2.75014858, "2.75014858"),
            (38.0, "38.0"),
            (-1.5, "-1.5"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5e-10, "-2.5e-10"),
            (123.456, "123.456"),
            (5131.123456789, "5131.123456789"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, want) in cases {
            assert_eq!(float(*f), *want, "{f:e}");
        }
    }

    #[test]
    fn ints_stay_ints() {
        assert_eq!(
            json("[0, -1, 9223372036854775807, -9223372036854775808]"),
            "[0, -1, 9223372036854775807, -9223372036854775808]"
        );
        assert_eq!(json("18446744073709551615"), "18446744073709551615");
    }

    #[test]
    fn strings_are_escaped_with_ensure_ascii() {
        assert_eq!(string("plain"), r#""plain""#);
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(string("\u{0}\u{1f}\u{7f}"), r#""\u0000\u001f\u007f""#);
        assert_eq!(string("café"), r#""caf\u00e9""#);
        assert_eq!(string("Zoë 🚀"), r#""Zo\u00eb \ud83d\ude80""#);
        assert_eq!(string("測試\u{ffff}"), r#""\u6e2c\u8a66\uffff""#);
        assert_eq!(string("/<>'"), r#""/<>'""#);
        assert_eq!(string(""), r#""""#);
    }

    #[test]
    fn containers_use_python_separators_and_keep_order() {
        assert_eq!(
            json(r#"{"b":1,"a":[1,2.5,"x",null,true,false],"c":{}}"#),
            r#"{"b": 1, "a": [1, 2.5, "x", null, true, false], "c": {}}"#
        );
        assert_eq!(json("[]"), "[]");
        assert_eq!(json(r#"{"k":{"n":[{}]}}"#), r#"{"k": {"n": [{}]}}"#);
    }

    #[test]
    fn borrowed_and_owned_values_write_the_same() {
        let text = r#"{"z": "\u00fc", "a": [1, 1e+16, {"x": null}]}"#;
        let mut bytes = text.as_bytes().to_vec();
        let borrowed = simd_json::to_borrowed_value(&mut bytes).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &borrowed);
        assert_eq!(String::from_utf8(out).unwrap(), json(text));
        assert_eq!(json(text), text);
    }

    #[test]
    fn quote_in_place_matches_write_str() {
        for text in [r#"{"a": "b\\\"c"}"#, "", "no specials", "\\", "\""] {
            let mut out = b"prefix ".to_vec();
            out.extend_from_slice(text.as_bytes());
            quote_in_place(&mut out, 7);
            let mut want = b"prefix ".to_vec();
            write_str(&mut want, text);
            assert_eq!(out, want, "{text}");
        }
        let mut out = "x é\n".as_bytes().to_vec();
        quote_in_place(&mut out, 1);
        assert_eq!(out, br#"x" \u00e9\n""#);
    }
}
