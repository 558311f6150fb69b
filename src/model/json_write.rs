//! JSON text byte for byte as Python's `json.dumps` writes it with its defaults, which is what
//! oslo.serialization and kombu put on the wire: `", "` and `": "` separators, `ensure_ascii`
//! (every non-ASCII character as a lower-case `\uXXXX`, surrogate pairs above the BMP),
//! Python's float `repr` and `NaN`/`Infinity` for the non-finite floats.
//!
//! Everything writes straight into a caller's reused buffer (a [`JsonSink`]: a `Vec<u8>`, or
//! [`Quoted`] for JSON text that travels as a string inside JSON) and allocates nothing of its
//! own. It also holds [`JsonView`], the one read-only view over simd-json's borrowed and owned values that
//! this writer, [`super::py::repr`] and [`super::signature`] share, so each walks both value kinds
//! with one body of code. Parsing is simd-json's job, not this module's.

use std::borrow::Cow;
use std::iter::Map;

use simd_json::StaticNode;

use super::plain::plain_prefix_len;
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

    /// The value under `key`, when this is an object that has it.
    fn get_key(&self, key: &str) -> Option<&Self>;
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

    fn get_key(&self, key: &str) -> Option<&Self> {
        match self {
            OwnedValue::Object(o) => o.get(key),
            _ => None,
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

    fn get_key(&self, key: &str) -> Option<&Self> {
        match self {
            Value::Object(o) => o.get(key),
            _ => None,
        }
    }
}

fn borrowed_entry<'v, 'a>((k, v): (&'v Cow<'a, str>, &'v Value<'a>)) -> (&'v str, &'v Value<'a>) {
    (k, v)
}

/// Where this module's writers put JSON text: a plain buffer (`Vec<u8>`), or [`Quoted`], which
/// writes the same text already escaped as the inside of a JSON string literal (the oslo 2.0
/// envelope carries its inner message that way), so the text is never walked a second time.
///
/// The method names are `Vec`'s, so the writers read as plain buffer code.
pub trait JsonSink {
    /// JSON text that may hold `"` or `\` (syntax, escape sequences).
    fn extend_from_slice(&mut self, text: &[u8]);
    fn push(&mut self, byte: u8);
    /// Printable ASCII known to hold neither `"` nor `\` (digits, the plain runs of a string).
    fn extend_clean(&mut self, text: &[u8]);
    /// The buffer underneath, for text that is written at its end and cut off again.
    fn buffer(&mut self) -> &mut Vec<u8>;
}

impl JsonSink for Vec<u8> {
    #[inline]
    fn extend_from_slice(&mut self, text: &[u8]) {
        Vec::extend_from_slice(self, text);
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }

    #[inline]
    fn extend_clean(&mut self, text: &[u8]) {
        Vec::extend_from_slice(self, text);
    }

    #[inline]
    fn buffer(&mut self) -> &mut Vec<u8> {
        self
    }
}

/// Writes into the buffer what [`write_str`] would write for the text written here, minus the
/// surrounding quotes. The writers of this module emit printable ASCII only (they escape
/// everything else), so quoting it is: `\` before each `"` and `\`.
pub struct Quoted<'a>(pub &'a mut Vec<u8>);

impl JsonSink for Quoted<'_> {
    #[inline]
    fn extend_from_slice(&mut self, text: &[u8]) {
        // Quoted on the stack, appended in one copy per chunk: pushed byte by byte, each byte
        // paid the vector's capacity check (this is mostly syntax, `, \"counter_name\": `).
        const CHUNK: usize = 64;
        for chunk in text.chunks(CHUNK) {
            let mut quoted = [0u8; 2 * CHUNK];
            let mut n = 0;
            for &b in chunk {
                debug_assert!(
                    (b' '..=b'~').contains(&b),
                    "only printable ASCII can be quoted here"
                );
                if b == b'"' || b == b'\\' {
                    quoted[n] = b'\\';
                    n += 1;
                }
                quoted[n] = b;
                n += 1;
            }
            self.0.extend_from_slice(&quoted[..n]);
        }
    }

    #[inline]
    fn push(&mut self, byte: u8) {
        debug_assert!(
            (b' '..=b'~').contains(&byte),
            "only printable ASCII can be quoted here"
        );
        if byte == b'"' || byte == b'\\' {
            self.0.push(b'\\');
        }
        self.0.push(byte);
    }

    #[inline]
    fn extend_clean(&mut self, text: &[u8]) {
        self.0.extend_from_slice(text);
    }

    #[inline]
    fn buffer(&mut self) -> &mut Vec<u8> {
        self.0
    }
}

/// `json.dumps(value)`.
pub fn write_value<V: JsonView>(out: &mut impl JsonSink, value: &V) {
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
pub fn write_static(out: &mut impl JsonSink, node: StaticNode) {
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
pub fn write_f64(out: &mut impl JsonSink, f: f64) {
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
pub(crate) fn write_finite_float_repr(out: &mut impl JsonSink, f: f64) {
    // ryu finds the same shortest round-trip digits as Python's repr (both take the closest of
    // the shortest candidates) about three times faster than `{:e}`; only its layout differs
    // (`1e16`, `0.00001`), so its text is taken apart into digits and a decimal point position.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let e_at = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let (mantissa, exponent) = (&text[..e_at], text.get(e_at + 1..).unwrap_or(b"0"));
    let point = mantissa.iter().position(|&b| b == b'.').unwrap_or(mantissa.len());
    // ryu writes at most 17 significant digits, plus up to 5 zeros around them.
    let mut all = [0u8; 24];
    let mut n = 0;
    for &b in mantissa.iter().filter(|&&b| b != b'.').take(all.len()) {
        all[n] = b;
        n += 1;
    }
    // Python's `decpt`: the value is 0.DIGITS × 10^decpt.
    let mut decpt = point as i32 + parse_exponent(exponent);
    let mut digits = &all[..n];
    while let [b'0', rest @ ..] = digits {
        if rest.is_empty() {
            break;
        }
        digits = rest;
        decpt -= 1;
    }
    while let [rest @ .., b'0'] = digits {
        if rest.is_empty() {
            break;
        }
        digits = rest;
    }
    if digits == b"0" {
        decpt = 1;
    }
    let exp = decpt - 1;
    if negative {
        out.push(b'-');
    }
    if (-3..=16).contains(&decpt) {
        if decpt <= 0 {
            out.extend_clean(b"0.");
            zeros(out, (-decpt) as usize);
            out.extend_clean(digits);
        } else if decpt as usize >= digits.len() {
            out.extend_clean(digits);
            zeros(out, decpt as usize - digits.len());
            out.extend_clean(b".0");
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            out.extend_clean(int);
            out.push(b'.');
            out.extend_clean(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.extend_clean(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_clean(rest);
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

fn zeros(out: &mut impl JsonSink, n: usize) {
    for _ in 0..n {
        out.push(b'0');
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

pub fn write_u64(out: &mut impl JsonSink, mut n: u64) {
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
    out.extend_clean(&buf[at..]);
}

pub fn write_i64(out: &mut impl JsonSink, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A JSON list, `json.dumps` style (`", "` between items), each item written by `item`.
pub fn write_list<O: JsonSink + ?Sized, T>(
    out: &mut O,
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut O, T),
) {
    out.push(b'[');
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        item(out, x);
    }
    out.push(b']');
}

/// `json.dumps(s)`: the quoted string with `ensure_ascii` escaping.
pub fn write_str(out: &mut impl JsonSink, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// The inside of a JSON string literal (no quotes), escaped as `json.dumps` does: `\"`, `\\`,
/// `\n`, `\r`, `\t`, `\b`, `\f`, and `\u00XX` for the other control characters and DEL.
/// Anything outside ASCII becomes `\uXXXX`, or a surrogate pair above U+FFFF.
pub fn write_escaped(out: &mut impl JsonSink, s: &str) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i += plain_prefix_len(&bytes[i..], JSON_SPECIALS);
        let Some(&b) = bytes.get(i) else { break };
        out.extend_clean(&bytes[run_start..i]);
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
    out.extend_clean(&bytes[run_start..]);
}

/// The printable ASCII bytes a JSON string escapes.
const JSON_SPECIALS: &[u8] = b"\"\\";

fn write_u_escape(out: &mut impl JsonSink, unit: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((unit >> shift) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_escape_wherever_the_special_byte_falls() {
        for pos in 0..20 {
            let mut text = "x".repeat(20);
            text.replace_range(pos..=pos, "\"");
            let mut out = Vec::new();
            write_str(&mut out, &text);
            let expected = format!("\"{}\\\"{}\"", "x".repeat(pos), "x".repeat(19 - pos));
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

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
    fn random_floats_match_cpython_repr() {
        // (bit pattern, CPython 3.11 repr), random magnitudes from 1e-30 to 1e30 plus boundaries.
        let cases: &[(u64, &str)] = &[
            (0xbdda0e026f1655b2, "-9.478653606090632e-11"),
            (0x41f1fcf3c3aae656, "4828642362.681234"),
            (0x3e6f49c7013e9583, "5.827880059033551e-08"),
            (0xb9e5ca4b5d602fcf, "-8.594723368917168e-30"),
            (0xba67d5882ca5e5d2, "-2.4066300012702502e-27"),
            (0x3a5060a36c1f4083, "8.26852124672038e-28"),
            (0x46068a978c4422cc, "2.2323896460701455e+29"),
            (0x4121de8ad864521e, "585541.4226403867"),
            (0x3c557b8322365776, "4.658268061775628e-18"),
            (0x3d5d7e89aac18806, "4.191390435714652e-13"),
            (0x4112d4074be160a3, "308481.8241019344"),
            (0x3ae67fe397d6a7a6, "5.816001636624662e-25"),
            (0x3e44ec4d749872a2, "9.743057599473336e-09"),
            (0x40ed1a25705d0656, "59601.16996623266"),
            (0xc01b374bb4a89a16, "-6.803999731817859"),
            (0xc3c5cc5fef67838d, "-3.141471703767915e+18"),
            (0x3e6017f75b131c4b, "2.997669968636823e-08"),
            (0x42d1bb34b3f1be18, "77982963058424.38"),
            (0xc11253647964063f, "-300249.1185456253"),
            (0xc53c6961723d0e26, "-3.434756899583733e+25"),
            (0x3d656d03e59e09c1, "6.089590190364036e-13"),
            (0x3b18c16be66e159e, "5.119328306475491e-24"),
            (0xc392fce7c60e12a3, "-3.4205580615985786e+17"),
            (0x3ed071d8e01b9fb2, "3.9207257047437666e-06"),
            (0xc39efabbc2caa714, "-5.580757526533747e+17"),
            (0xbe07e3e1f9ea4a6b, "-6.952953662736593e-10"),
            (0x415e6625f0869c2a, "7968919.758215943"),
            (0xc47fb62898ed1e20, "-9.35959960869036e+21"),
            (0x3fe64e2b2aa81784, "0.6970420678269282"),
            (0xba4cf6d6287df86a, "-7.311593346408905e-28"),
            (0xc22ae9a7ecbf8b2b, "-57794623071.77181"),
            (0xbd6936cf309eb2fb, "-7.166277943983036e-13"),
            (0xb9e7d92882dfb7fc, "-9.406485666460937e-30"),
            (0xbbbcd99068bdff1c, "-6.1091954348307685e-21"),
            (0xba3149c78b303112, "-2.1820777481967945e-28"),
            (0xbb5650cf58882e22, "-7.383633795947942e-23"),
            (0xbee33a1ea063d5c2, "-9.168162261800615e-06"),
            (0xba94985ba2568906, "-1.6636628247192054e-26"),
            (0x40db21fa6fe0930f, "27783.913078445064"),
            (0xc46d2c5c32d47ec7, "-4.305216510890757e+21"),
            (0x3ee4f8b588e368f1, "1e-05"),
            (0x3f1a36e2eb1c432c, "9.999999999999999e-05"),
            (0x3f1a36e2eb1c432d, "0.0001"),
            (0x4341c37937e07fff, "9999999999999998.0"),
            (0x4341c37937e07fff, "9999999999999998.0"),
            (0x4480f0cf064dd592, "1e+22"),
            (0x4340000000000000, "9007199254740992.0"),
            (0x0000000000000003, "1.5e-323"),
            (0x3fb999999999999a, "0.1"),
            (0x3fd5555555555555, "0.3333333333333333"),
            (0x3fe5555555555555, "0.6666666666666666"),
            (0x437b69b4ba630f35, "1.2345678901234568e+17"),
        ];
        for &(bits, want) in cases {
            assert_eq!(float(f64::from_bits(bits)), want);
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
    fn quoted_syntax_of_any_length_is_escaped_across_chunks() {
        for len in [0, 1, 63, 64, 65, 130, 200] {
            // Quotes and backslashes at every position mod 7, so some straddle chunk edges.
            let text: String = (0..len)
                .map(|i| match i % 7 {
                    0 => '"',
                    3 => '\\',
                    _ => 'k',
                })
                .collect();
            let mut quoted = Vec::new();
            Quoted(&mut quoted).extend_from_slice(text.as_bytes());
            let mut escaped = Vec::new();
            write_escaped(&mut escaped, &text);
            assert_eq!(quoted, escaped, "{len}");
        }
    }

    #[test]
    fn quoted_writes_what_write_str_makes_of_the_plain_text() {
        let text = r#"{"a": "b\\\"c", "é\n": [1.5, -2, 1e+16, null, "\u0001"]}"#;
        let value: OwnedValue = simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap();
        let mut plain = Vec::new();
        write_value(&mut plain, &value);
        let mut literal = Vec::new();
        write_str(&mut literal, std::str::from_utf8(&plain).unwrap());
        let mut quoted = Vec::new();
        write_value(&mut Quoted(&mut quoted), &value);
        assert_eq!(quoted, literal[1..literal.len() - 1]);
    }
}
