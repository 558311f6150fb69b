//! The verifier's fast path: the record keys of an oslo 2.0 envelope read straight from its
//! escaped `oslo.message` text.
//!
//! An agent's output message is `{"oslo.version": "2.0", "oslo.message": "<JSON, escaped>"}`
//! whose inner notification carries a list of meter messages or events as its payload. The full
//! parse ([`crate::collect`]) unescapes the inner text and builds a document of all of it —
//! resource metadata, traits — to read five keys per record; on a small machine that CPU is
//! taken from the agent under test. This scanner walks the escaped text once: it checks the
//! grammar token by token (nesting, commas, colons, escapes, literals, numbers) but unescapes
//! nothing and builds nothing, since the keys it reads (ids and meter names) carry no escapes.
//!
//! Whatever it is not sure of — another shape, a payload that is not a list of records, an
//! escape inside a key or id it reads, a repeated key, an id that is not a string — gives
//! `None`, and the caller falls back to the full parse, which stays the reference: the tests
//! hold both to the same records.

use crate::tally::Kind;

/// The keys of one record that tell what it is and which input it came from.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct Keys<'a> {
    pub counter_name: Option<&'a str>,
    pub name: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub id: Option<&'a str>,
    /// `traits` is present and not null (an event).
    pub traits: bool,
}

impl<'a> Keys<'a> {
    /// What the record is, the key it carries (the run's stamp is found in it) and its meter
    /// name: an event is keyed by `message_id`; a meter message (`counter_name`, or `name` for a
    /// sample dict) by `resource_id`, else `message_id`/`id`; anything else by `message_id`/`id`.
    pub fn classify(&self) -> (Kind, Option<&'a str>, Option<&'a str>) {
        if self.traits {
            return (Kind::Event, self.message_id, None);
        }
        if let Some(n) = self.counter_name.or(self.name) {
            return (
                Kind::Sample,
                self.resource_id.or(self.message_id).or(self.id),
                Some(n),
            );
        }
        (Kind::Other, self.message_id.or(self.id), None)
    }
}

/// What oslo.messaging and ceilo write before the escaped inner text, and after it.
const PREFIX: &[u8] = br#"{"oslo.version": "2.0", "oslo.message": ""#;
const SUFFIX: &[u8] = br#""}"#;

/// The records of `body` when it is an oslo 2.0 envelope around a notification whose payload
/// is a non-empty list of records, each with keys; `None` when the full parse must decide.
pub fn envelope_records<'a>(body: &'a [u8], out: &mut Vec<Keys<'a>>) -> Option<()> {
    out.clear();
    std::str::from_utf8(body).ok()?;
    let text = body.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut scan = Scan { e: text, i: 0 };
    scan.notification(out)?;
    (scan.token().is_none() && scan.i == text.len()).then_some(())
}

/// One token of the inner JSON, located in the escaped text.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    /// `{ } [ ] : ,`
    Punct(u8),
    /// A string's escaped content; `plain` when it holds no escape at all.
    Str { raw: &'a [u8], plain: bool },
    /// A number, `true`, `false` or `null`.
    Scalar(&'a [u8]),
}

use Token::{Punct, Scalar, Str};

/// A cursor over the escaped inner text `e`: a `"` of the inner JSON is `\"` there, a `\` is
/// `\\`, and inner whitespace may be `\n`, `\t` or `\r`.
struct Scan<'a> {
    e: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    /// `{ ... "payload": [records], "event_type": ..., ... }`
    fn notification(&mut self, out: &mut Vec<Keys<'a>>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        let (mut payload, mut event_type) = (false, false);
        self.fields(
            &[b"payload", b"event_type", b"message_id"],
            |scan, field| match field {
                0 => {
                    payload = true;
                    scan.records(out)
                }
                1 => scan.value_is_null().map(|null| event_type = !null),
                _ => scan.id().map(drop),
            },
        )?;
        // Without an event_type (or a null one) the full parse reads the object as a record.
        (payload && event_type && !out.is_empty()).then_some(())
    }

    /// `[ {record}, ... ]`, every record with a key.
    fn records(&mut self, out: &mut Vec<Keys<'a>>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            if !self.eat(b'{') {
                return None;
            }
            out.push(self.record()?);
            if !self.eat(b',') {
                return self.eat(b']').then_some(());
            }
        }
    }

    /// The rest of a record object, after its `{`.
    fn record(&mut self) -> Option<Keys<'a>> {
        let mut k = Keys::default();
        let names: [&[u8]; 6] = [
            b"counter_name",
            b"name",
            b"resource_id",
            b"message_id",
            b"id",
            b"traits",
        ];
        self.fields(&names, |scan, field| {
            match field {
                0 => k.counter_name = scan.id()?,
                1 => k.name = scan.id()?,
                2 => k.resource_id = scan.id()?,
                3 => k.message_id = scan.id()?,
                4 => k.id = scan.id()?,
                _ => k.traits = !scan.value_is_null()?,
            }
            Some(())
        })?;
        k.classify().1.is_some().then_some(k)
    }

    /// An object's members, after its `{`: `field` is called, with the cursor on the value, for
    /// each member named in `names` (by its index there); the others are skipped. `None` at an
    /// escaped key (it could spell one of the names: the full parse decides) or a repeated name
    /// (the full parse refuses a repeated field).
    fn fields(
        &mut self,
        names: &[&[u8]],
        mut field: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        let mut seen = 0u32;
        self.members(|scan, key, plain| {
            if !plain {
                return None;
            }
            let Some(n) = names.iter().position(|name| *name == key) else {
                return scan.value();
            };
            if seen & 1 << n != 0 {
                return None;
            }
            seen |= 1 << n;
            field(scan, n)
        })
    }

    /// An object's members, after its `{`, through its `}`.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a [u8], bool) -> Option<()>) -> Option<()> {
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let Str { raw, plain } = self.key()? else {
                return None;
            };
            if !self.eat(b':') {
                return None;
            }
            member(self, raw, plain)?;
            if !self.eat(b',') {
                return self.eat(b'}').then_some(());
            }
        }
    }

    /// A key: the string that must come next.
    fn key(&mut self) -> Option<Token<'a>> {
        self.skip_space();
        if self.e.get(self.i..self.i + 2)? != b"\\\"" {
            return None;
        }
        self.i += 2;
        self.string()
    }

    /// Consumes `c` if it comes next (after inner whitespace). Members and elements are read
    /// with this rather than [`Self::token`]: most of the text is punctuation between strings.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        let hit = self.e.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    /// Skips inner whitespace: spaces, and newlines and tabs (escaped in this text).
    fn skip_space(&mut self) {
        while let Some(&c) = self.e.get(self.i) {
            match c {
                b' ' => self.i += 1,
                b'\\' if matches!(self.e.get(self.i + 1), Some(b'n' | b't' | b'r')) => self.i += 2,
                _ => return,
            }
        }
    }

    /// A string without escapes, or null.
    fn id(&mut self) -> Option<Option<&'a str>> {
        match self.token()? {
            Str { raw, plain: true } => Some(Some(std::str::from_utf8(raw).ok()?)),
            Scalar(b"null") => Some(None),
            _ => None,
        }
    }

    /// Any value; whether it is null.
    fn value_is_null(&mut self) -> Option<bool> {
        let t = self.token()?;
        let null = t == Scalar(b"null");
        self.value_from(t)?;
        Some(null)
    }

    /// Skips one value, checking its grammar.
    fn value(&mut self) -> Option<()> {
        let t = self.token()?;
        self.value_from(t)
    }

    fn value_from(&mut self, t: Token<'a>) -> Option<()> {
        match t {
            Str { .. } => Some(()),
            Scalar(s) => is_scalar(s).then_some(()),
            Punct(b'{') => self.members(|scan, _, _| scan.value()),
            Punct(b'[') => {
                if self.eat(b']') {
                    return Some(());
                }
                loop {
                    self.value()?;
                    if !self.eat(b',') {
                        return self.eat(b']').then_some(());
                    }
                }
            }
            Punct(_) => None,
        }
    }

    /// The next token, or `None` at the end of the text or at anything unexpected.
    fn token(&mut self) -> Option<Token<'a>> {
        self.skip_space();
        let c = *self.e.get(self.i)?;
        match c {
            b'{' | b'}' | b'[' | b']' | b':' | b',' => {
                self.i += 1;
                Some(Punct(c))
            }
            b'\\' if self.e.get(self.i + 1) == Some(&b'"') => {
                self.i += 2;
                self.string()
            }
            b'-' | b'0'..=b'9' | b'a'..=b'z' => {
                let start = self.i;
                let len = self.e[start..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')))
                    .unwrap_or(self.e.len() - start);
                self.i += len;
                Some(Scalar(&self.e[start..self.i]))
            }
            _ => None,
        }
    }

    /// A string's content, after its opening `\"`, through its closing `\"`.
    fn string(&mut self) -> Option<Token<'a>> {
        let start = self.i;
        let mut plain = true;
        loop {
            let p = self.i + find_backslash(&self.e[self.i..])?;
            let e = self.e;
            match *e.get(p + 1)? {
                // The inner string's closing quote.
                b'"' => {
                    self.i = p + 2;
                    return Some(Str {
                        raw: &e[start..p],
                        plain,
                    });
                }
                // An inner backslash: the inner escape's letter follows, itself escaped when
                // it is `"`, `\` or `/`.
                b'\\' => {
                    self.i = match *e.get(p + 2)? {
                        b'\\' if matches!(e.get(p + 3)?, b'"' | b'\\' | b'/') => p + 4,
                        b'/' | b'b' | b'f' | b'n' | b'r' | b't' => p + 3,
                        b'u' if e.get(p + 3..p + 7)?.iter().all(u8::is_ascii_hexdigit) => p + 7,
                        _ => return None,
                    };
                }
                // `\u0022` or `\u005c` would be an inner quote or backslash: rare enough to
                // leave to the full parse.
                b'u' => {
                    let hex = std::str::from_utf8(e.get(p + 2..p + 6)?).ok()?;
                    match u16::from_str_radix(hex, 16).ok()? {
                        0x22 | 0x5c => return None,
                        _ => self.i = p + 6,
                    }
                }
                b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = p + 2,
                _ => return None,
            }
            plain = false;
        }
    }
}

/// The first `\\` in `s`, eight bytes at a time: the strings are short (ids, names), too short
/// for a SIMD search to pay for its setup, too long for a byte loop.
fn find_backslash(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let mut words = s.chunks_exact(8);
    for (n, w) in words.by_ref().enumerate() {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ BACKSLASHES;
        // A byte of x is zero where s has a backslash; the lowest flagged byte is exact.
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(n * 8 + (zero.trailing_zeros() / 8) as usize);
        }
    }
    let tail = words.remainder();
    tail.iter()
        .position(|&b| b == b'\\')
        .map(|p| s.len() - tail.len() + p)
}

/// `true`, `false`, `null` or a JSON number.
fn is_scalar(s: &[u8]) -> bool {
    if matches!(s, b"true" | b"false" | b"null") {
        return true;
    }
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let int = digits(s);
    if int == 0 || (int > 1 && s[0] == b'0') {
        return false;
    }
    let mut rest = &s[int..];
    if let Some(r) = rest.strip_prefix(b".") {
        let frac = digits(r);
        if frac == 0 {
            return false;
        }
        rest = &r[frac..];
    }
    if let Some(r) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let r = r.strip_prefix(b"+").or_else(|| r.strip_prefix(b"-")).unwrap_or(r);
        let exp = digits(r);
        if exp == 0 {
            return false;
        }
        rest = &r[exp..];
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `inner` wrapped the way oslo.messaging and ceilo send it.
    fn envelope(inner: &serde_json::Value) -> Vec<u8> {
        let text = serde_json::to_string(inner).expect("inner");
        let mut body = PREFIX.to_vec();
        body.extend_from_slice(&serde_json::to_vec(&text).expect("escaped")[1..]);
        body.truncate(body.len() - 1);
        body.extend_from_slice(SUFFIX);
        body
    }

    fn scan(body: &[u8]) -> Option<Vec<Keys<'_>>> {
        let mut out = Vec::new();
        envelope_records(body, &mut out).map(|()| out)
    }

    fn notification(payload: serde_json::Value) -> serde_json::Value {
        json!({"message_id": "m-1", "publisher_id": "ceilo", "event_type": "metering",
               "priority": "SAMPLE", "payload": payload, "timestamp": "2026-11-26 07:00:00.000000"})
    }

    #[test]
    fn meter_messages_and_events_are_read_with_their_keys() {
        let body = envelope(&notification(json!([
            {"counter_name": "cpu", "resource_id": "r-1", "message_id": "s-1",
             "resource_metadata": {"name": "a \"quoted\" \\ name\n", "caf\u{e9}": ["x", 1.5e-3, null, {"id": "nested"}]},
             "counter_volume": -2, "message_signature": "ab"},
            {"message_id": "e-1", "event_type": "compute.instance.create.end",
             "traits": [{"name": "resource_id", "value": "deep", "dtype": 1}], "raw": {}},
            {"name": "memory", "id": "i-1", "message_id": null}
        ])));
        let keys = scan(&body).expect("fast path");
        assert_eq!(
            keys,
            vec![
                Keys {
                    counter_name: Some("cpu"),
                    resource_id: Some("r-1"),
                    message_id: Some("s-1"),
                    ..Default::default()
                },
                Keys {
                    message_id: Some("e-1"),
                    traits: true,
                    ..Default::default()
                },
                Keys {
                    name: Some("memory"),
                    id: Some("i-1"),
                    ..Default::default()
                },
            ]
        );
    }

    #[test]
    fn shapes_it_is_not_sure_of_are_left_to_the_full_parse() {
        let leave = [
            // A republished notification: the payload is not a list of records.
            notification(json!({"instance_id": "i-1"})),
            notification(json!([])),
            notification(json!([1])),
            // A record without any key.
            notification(json!([{"counter_name": "cpu"}])),
            notification(json!([{"message_id": "e-1", "traits": null}, {"traits": []}])),
            // An id that is not a string, or holds an escape.
            notification(json!([{"counter_name": "cpu", "resource_id": 7}])),
            notification(json!([{"counter_name": "cpu", "resource_id": "r\"1"}])),
            notification(json!([{"counter_name": "a\nb", "resource_id": "r-1"}])),
            // No event_type: the full parse reads the object itself as the record.
            json!({"payload": [{"counter_name": "cpu", "resource_id": "r-1"}]}),
            json!({"event_type": null, "payload": [{"counter_name": "cpu", "resource_id": "r-1"}]}),
        ];
        for inner in &leave {
            assert_eq!(scan(&envelope(inner)), None, "{inner}");
        }
        let mut keyed_null_traits = notification(json!([{"message_id": "e-1", "traits": null}]));
        assert_eq!(
            scan(&envelope(&keyed_null_traits)).expect("fast path"),
            vec![Keys {
                message_id: Some("e-1"),
                ..Default::default()
            }],
            "null traits: not an event, keyed by message_id"
        );
        keyed_null_traits["oslo"] = json!(1);
        assert!(scan(&envelope(&keyed_null_traits)).is_some());
    }

    #[test]
    fn malformed_or_unusual_text_is_left_to_the_full_parse() {
        let good = br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": 1}]}"#;
        let wrap = |inner: &[u8]| [PREFIX, inner, SUFFIX].concat();
        assert!(scan(&wrap(good)).is_some());
        let bad: &[&[u8]] = &[
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": 01}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": tru}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": [1,]}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\" \"v\": 1}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": 1}]"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": 1}]}}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": \"\\x\"}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"v\": \"\u0022\"}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\", \"resource_id\": \"r-2\"}]}"#,
            br#"{\"event_type\": \"metering\", \"event_type\": \"x\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_id\": \"r-1\"}]}"#,
            br#"{\"event_type\": \"metering\", \"payload\": [{\"counter_name\": \"cpu\", \"resource_\u0069d\": \"r-1\"}]}"#,
        ];
        for b in bad {
            assert_eq!(scan(&wrap(b)), None, "{}", String::from_utf8_lossy(b));
        }
        // Not this envelope's exact prefix: the full parse reads it.
        let other = [
            br#"{"oslo.message": ""#.as_slice(),
            good,
            br#"", "oslo.version": "2.0"}"#,
        ]
        .concat();
        assert_eq!(scan(&other), None);
        let mut invalid = wrap(good);
        invalid[PREFIX.len() + 2] = 0xff;
        assert_eq!(scan(&invalid), None, "not UTF-8");
    }

    #[test]
    fn a_backslash_is_found_at_every_position_and_next_to_every_byte() {
        for len in 0..20 {
            for at in 0..=len {
                for other in 0..=255u8 {
                    let mut s = vec![other; len];
                    if at < len {
                        s[at] = b'\\';
                    }
                    let want = s.iter().position(|&b| b == b'\\');
                    assert_eq!(find_backslash(&s), want, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn numbers_follow_json_grammar() {
        for ok in [
            "0", "-0", "12", "1.5", "-1.5e10", "2E-3", "1e+2", "true", "false", "null",
        ] {
            assert!(is_scalar(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "nul", "0x10", "1.2.3",
        ] {
            assert!(!is_scalar(bad.as_bytes()), "{bad}");
        }
    }
}
