//! Havoc-style mutations: byte-level ones for any input, tree-level ones for JSON
//! ([`crate::tree::J`]), line-level ones for YAML, and the dictionaries they draw from. The
//! dictionaries hold what has broken (or could break) parsers before: deep nesting, huge and
//! non-finite numbers, lone surrogates and bad escapes, duplicate keys, truncation.

use crate::rng::Rng;
use crate::tree::{escape, J};

/// The largest input a mutation produces (bigger ones are truncated): AMQP bodies of a few
/// hundred KB are realistic, and bigger inputs only slow the run down.
pub const MAX_INPUT: usize = 512 * 1024;

/// Numbers (and number-like literals) that stress number parsing and float formatting.
pub const NUMBERS: &[&[u8]] = &[
    b"0",
    b"-0",
    b"-0.0",
    b"1e999",
    b"-1e999",
    b"1e-999",
    b"1E+308",
    b"1.7976931348623157e308",
    b"4.9e-324",
    b"5e-324",
    b"2.2250738585072014e-308",
    b"9007199254740993",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"123456789012345678901234567890.123456789e10",
    b"0.1",
    b"1.0",
    b"1e2",
    b"NaN",
    b"-NaN",
    b"nan",
    b"Infinity",
    b"-Infinity",
    b"+Infinity",
    b"inf",
    b"1.",
    b".5",
    b"01",
    b"0x10",
    b"1_000",
    b"--1",
    b"1e",
    b"1e+",
    b"true",
    b"false",
    b"null",
    b"None",
    b"[]",
    b"{}",
    b"\"\"",
];

/// String contents (already escaped for a JSON string).
pub const STRINGS: &[&[u8]] = &[
    b"",
    b" ",
    b"\\u0000",
    b"\\ud800",
    b"\\udfff",
    b"\\udc00\\ud800",
    b"\\ud83d\\ude00",
    b"\\ud83d",
    b"\\ud83dx",
    b"\\uffff",
    b"\\ufeff",
    b"\\u00e9t\\u00e9",
    b"\\u",
    b"\\u12",
    b"\\uzzzz",
    b"\\x41",
    b"\\",
    b"\\\\",
    b"\\/",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xff\xfe",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xe2\x80",
    b"\t\n",
    b"NaN",
    b"nan",
    b"inf",
    b"-Infinity",
    b"1e999",
    b"10",
    b"-1",
    b"0.5",
    b"True",
    b"None",
    b"2025-03-14T08:59:58.271828",
    b"2025-03-14 08:59:58.271828",
    b"2025-03-14T08:59:58Z",
    b"2025-03-14T08:59:58+05:30",
    b"2025-03-14T08:59:58.1234567890123",
    b"2025-13-45T25:61:61",
    b"0000-00-00T00:00:00",
    b"9999-12-31T23:59:59.999999",
    b"99999999999-01-01T00:00:00",
    b"-2025-01-01",
    b"1e9",
    b"2.0",
    b"2.1",
    b"1.0",
    b"3.0",
    b"2.0.1",
    b"2.x",
    b"2.99999999999999999999",
    b"info",
    b"INFO",
    b"sample",
    b"SAMPLE",
    b"error",
    b"warn",
    b"critical",
    b"audit",
    b"debug",
    b"telemetry.polling",
    b"metering.x",
    b"$",
    b"$.payload",
    b"{}",
    b"{\\\"a\\\": 1}",
    b"[1, 2",
    b"%s %(x)s {0}",
    b"(a+)+$",
];

/// Keys that steer decoding and conversion.
pub const KEYS: &[&[u8]] = &[
    b"oslo.version",
    b"oslo.message",
    b"event_type",
    b"payload",
    b"priority",
    b"publisher_id",
    b"message_id",
    b"timestamp",
    b"_unique_id",
    b"_context_user",
    b"_context_project_id",
    b"_context_",
    b"_context_auth_token",
    b"ctxt",
    b"metadata",
    b"samples",
    b"resource_id",
    b"project_id",
    b"user_id",
    b"tenant_id",
    b"counter_name",
    b"counter_type",
    b"counter_unit",
    b"counter_volume",
    b"volume",
    b"metrics",
    b"measurements",
    b"name",
    b"value",
    b"unit",
    b"source",
    b"id",
    b"instance_id",
    b"host",
    b"state",
    b"size",
    b"created_at",
    b"launched_at",
    b"deleted_at",
    b"audit_period_beginning",
    b"image_meta",
    b"flavor",
    b"metering.stack",
    b"",
    b"\\u0000",
    b"\\ud800",
];

/// Tokens for byte-level insertion into JSON text.
pub const JSON_TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\\"",
    b"\\u",
    b"\\ud800",
    b"\\u0000",
    b"null",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-",
    b"0",
    b"9999999999999999999999",
    b" ",
    b"\n",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\"oslo.message\": \"",
    b"\"oslo.version\": \"2.0\", ",
    b"\"payload\": ",
    b"\"event_type\": ",
    b"\"priority\": \"info\", ",
    b"{\"a\": [",
];

/// Opening and closing text of nested containers.
const NESTS: &[(&[u8], &[u8])] = &[
    (b"[", b"]"),
    (b"{\"a\": ", b"}"),
    (b"[{\"payload\": ", b"}]"),
    (b"{\"\": [", b"]}"),
];

/// Nesting depths: most below any sane limit, some around the usual limits (128, 512, 1024),
/// some far beyond what a 2 MiB stack survives when recursed (the 20,000).
const DEPTHS: &[usize] = &[
    8, 32, 100, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 1024, 1025, 5000, 20_000,
];

fn depth(rng: &mut Rng, valid: bool) -> usize {
    if valid {
        // Within the decoders' limit: deep documents that go all the way through.
        return *rng.pick(&DEPTHS[..13]);
    }
    // Rarely the deepest: they are the slowest inputs.
    let d = *rng.pick(DEPTHS);
    if d >= 5000 && !rng.one_in(4) {
        *rng.pick(&DEPTHS[..10])
    } else {
        d
    }
}

/// Words harvested from the seeds (keys and string values: event types, meter names...).
#[derive(Default)]
pub struct Harvest {
    pub keys: Vec<Vec<u8>>,
    pub strings: Vec<Vec<u8>>,
}

impl Harvest {
    pub fn add(&mut self, t: &J) {
        match t {
            J::Str(s) if s.len() < 200 => self.strings.push(s.clone()),
            J::Arr(items) => items.iter().for_each(|i| self.add(i)),
            J::Obj(entries) => {
                for (k, v) in entries {
                    self.keys.push(k.clone());
                    self.add(v);
                }
            }
            _ => {}
        }
    }

    pub fn dedup(&mut self) {
        self.keys.sort();
        self.keys.dedup();
        self.strings.sort();
        self.strings.dedup();
    }
}

/// Is `text` one JSON value? (Lone surrogates count as valid: simd-json may take them.)
fn is_json(text: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(text).is_ok() || text.windows(3).any(|w| w == b"\\ud")
}

/// The members of `items` that are valid JSON once wrapped by `wrap`.
fn valid_subset(items: &'static [&'static [u8]], quote: bool) -> Vec<&'static [u8]> {
    items
        .iter()
        .copied()
        .filter(|i| {
            if quote {
                is_json(&[&b"\""[..], i, b"\""].concat())
            } else {
                is_json(i)
            }
        })
        .collect()
}

fn valid_numbers() -> &'static [&'static [u8]] {
    static V: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
    V.get_or_init(|| valid_subset(NUMBERS, false))
}

fn valid_strings() -> &'static [&'static [u8]] {
    static V: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
    V.get_or_init(|| valid_subset(STRINGS, true))
}

fn key(rng: &mut Rng, h: &Harvest) -> Vec<u8> {
    if h.keys.is_empty() || rng.one_in(2) {
        rng.pick(KEYS).to_vec()
    } else {
        rng.pick(&h.keys).clone()
    }
}

fn string(rng: &mut Rng, h: &Harvest, valid: bool) -> Vec<u8> {
    match rng.below(6) {
        0 | 1 if !h.strings.is_empty() => rng.pick(&h.strings).clone(),
        2 => {
            // A long string, or a long run of escapes.
            let unit = *rng.pick(&[&b"a"[..], b"\\u00e9", b"\\ud83d\\ude00", b"\\\\", b"\xe2\x82\xac"]);
            unit.repeat(rng.small(70_000))
        }
        _ if valid => rng.pick(valid_strings()).to_vec(),
        _ => rng.pick(STRINGS).to_vec(),
    }
}

fn number(rng: &mut Rng, valid: bool) -> Vec<u8> {
    if rng.one_in(4) {
        // Very long digit strings, integral or not, with or without a huge exponent.
        let mut n = b"1".repeat(1 + rng.small(5000));
        if rng.one_in(2) {
            n.extend_from_slice(b".5");
        }
        if rng.one_in(3) {
            n.extend_from_slice(format!("e{}", rng.below(100_000)).as_bytes());
        }
        if rng.one_in(2) {
            n.insert(0, b'-');
        }
        n
    } else if valid {
        rng.pick(valid_numbers()).to_vec()
    } else {
        rng.pick(NUMBERS).to_vec()
    }
}

/// One structural mutation of a JSON tree. `donors` are whole seed trees to take subtrees from.
/// With `valid`, the tree stays valid JSON within the decoders' nesting limit (so the input
/// goes past the parser); without, anything goes.
pub fn mutate_tree(rng: &mut Rng, t: &mut J, donors: &[J], h: &Harvest, valid: bool) {
    let n = rng.below(t.count());
    let donor_subtree = |rng: &mut Rng| -> J {
        if donors.is_empty() {
            return J::Raw(b"null".to_vec());
        }
        let d = rng.pick(donors);
        d.nth(rng.below(d.count()))
            .cloned()
            .unwrap_or(J::Raw(b"null".to_vec()))
    };
    let replacement = match rng.below(14) {
        0 => Some(J::Raw(number(rng, valid))),
        1 | 2 => Some(J::Str(string(rng, h, valid))),
        3 => {
            let (open, close) = *rng.pick(NESTS);
            let inner = if rng.one_in(2) {
                t.nth(n).cloned().unwrap_or(J::Raw(b"1".to_vec()))
            } else {
                J::Raw(number(rng, valid))
            };
            Some(J::Nest {
                depth: depth(rng, valid),
                open,
                close,
                inner: Box::new(inner),
            })
        }
        // Unclosed nesting: truncation in the middle of a deep document.
        4 if !valid && rng.one_in(3) => Some(J::Raw(rng.pick(NESTS).0.repeat(depth(rng, false)))),
        5 | 6 => Some(donor_subtree(rng)),
        7 => Some(J::Raw(
            rng.pick(&[&b"null"[..], b"true", b"false", b"[]", b"{}", b"\"\"", b"0"])
                .to_vec(),
        )),
        _ => None,
    };
    let Some(node) = t.nth_mut(n) else { return };
    if let Some(r) = replacement {
        *node = r;
        return;
    }
    match node {
        J::Obj(entries) => match rng.below(6) {
            // Duplicate keys: the same entry again, or the same key with another value.
            0 if !entries.is_empty() => {
                let i = rng.below(entries.len());
                let mut e = entries[i].clone();
                if rng.one_in(2) {
                    e.1 = donor_subtree(rng);
                }
                let at = rng.below(entries.len() + 1);
                entries.insert(at, e);
            }
            1 if !entries.is_empty() => {
                entries.remove(rng.below(entries.len()));
            }
            2 if !entries.is_empty() => {
                let i = rng.below(entries.len());
                entries[i].0 = key(rng, h);
            }
            3 => {
                // Breadth: many keys (hash-order code paths beyond 32 keys, big maps).
                let n = rng.small(5000);
                let v = donor_subtree(rng);
                for i in 0..n {
                    entries.push((format!("k{i}").into_bytes(), v.clone()));
                }
            }
            _ => {
                let k = key(rng, h);
                let v = match rng.below(3) {
                    0 => J::Str(string(rng, h, valid)),
                    1 => J::Raw(number(rng, valid)),
                    _ => donor_subtree(rng),
                };
                let at = rng.below(entries.len() + 1);
                entries.insert(at, (k, v));
            }
        },
        J::Arr(items) => match rng.below(3) {
            0 if !items.is_empty() => {
                items.remove(rng.below(items.len()));
            }
            1 if !items.is_empty() => {
                let e = items[rng.below(items.len())].clone();
                let copies = rng.small(2000);
                items.extend(std::iter::repeat_n(e, copies));
            }
            _ => items.push(donor_subtree(rng)),
        },
        J::Str(s) => {
            // Splice an escape or a harvested word into the string.
            let at = char_boundary(s, rng.below(s.len() + 1));
            let ins = string(rng, h, valid);
            s.splice(at..at, ins);
        }
        other => *other = J::Raw(number(rng, valid)),
    }
}

/// A position in escaped string content that does not split an escape sequence or a UTF-8
/// character (splitting is the byte mutations' job).
fn char_boundary(s: &[u8], mut at: usize) -> usize {
    while at > 0 && at < s.len() && (s[at] & 0xc0 == 0x80 || s[at - 1] == b'\\') {
        at -= 1;
    }
    at
}

/// One byte-level mutation of `data`. `tokens` is the format's dictionary, `other` another
/// seed to splice from.
pub fn havoc(rng: &mut Rng, data: &mut Vec<u8>, tokens: &[&[u8]], other: &[u8]) {
    let len = data.len();
    let pos = rng.below(len + 1);
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(&[
                0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'[', b'{', b'0', b'-', b'e', b'\n', b' ',
            ]);
        }
        2 if len > 0 => {
            let n = rng.small(len - pos.min(len)).max(1).min(len - pos.min(len));
            data.drain(pos..pos + n);
        }
        3 | 4 => {
            let t = rng.pick(tokens);
            data.splice(pos..pos, t.iter().copied());
        }
        5 if len > 0 => {
            // Duplicate a chunk somewhere else.
            let start = rng.below(len);
            let n = rng.small(len - start).max(1);
            let chunk = data[start..start + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, chunk);
        }
        6 => data.truncate(pos),
        7 => {
            // A run of one byte: `[`×N is deep nesting.
            let b = *rng.pick(b"[{\"\\ 0-($");
            let n = depth(rng, false);
            data.splice(pos..pos, std::iter::repeat_n(b, n));
        }
        8 if !other.is_empty() => {
            // Splice: this input's head with another seed's tail, or a chunk of it.
            let start = rng.below(other.len());
            let n = rng.small(other.len() - start).max(1);
            if rng.one_in(2) {
                data.truncate(pos);
                data.extend_from_slice(&other[start..]);
            } else {
                data.splice(pos..pos, other[start..start + n].iter().copied());
            }
        }
        9 => {
            let n = 1 + rng.small(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(pos..pos, bytes);
        }
        10 if len > 0 => {
            let t = rng.pick(tokens);
            let end = (pos + t.len()).min(len);
            data.splice(pos..end, t.iter().copied());
        }
        _ => {
            let t = rng.pick(tokens);
            data.splice(pos..pos, t.iter().copied());
        }
    }
    data.truncate(MAX_INPUT);
}

/// `text` as the content of a JSON string: what goes into `"oslo.message": "..."`.
pub fn as_json_string_content(text: &[u8]) -> Vec<u8> {
    escape(text)
}
