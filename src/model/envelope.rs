//! The oslo.messaging envelope: AMQP body → [`Notification`].
//!
//! A body is either the 2.0 envelope `{"oslo.version": "2.0", "oslo.message": "<JSON text>"}`
//! (the inner message is a JSON *string* inside JSON, so it is parsed a second time, in place,
//! from a reused scratch buffer) or the bare 1.0 dict. Either way the message is then reshaped
//! into the dict Ceilometer's endpoints receive: `_context_*` keys become `ctxt` (plus
//! `client_timeout: null`), `_unique_id` is taken out for duplicate detection, `priority` picks
//! the endpoint and `message_id`/`timestamp` move under `metadata`.
//!
//! The encoding half ([`encode_v2`], below the decoder) writes what ceilo itself sends, as
//! oslo's `messagingv2` notifier does with an empty context: a template around a payload the
//! caller writes straight into the body buffer (a batch of meter messages, see
//! [`super::meter_message`]), never a map built per message.

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::{borrowed::Object, Buffers, StaticNode};

use chrono::{Datelike, NaiveDateTime, Timelike, Utc};
use uuid::Uuid;

use super::json_read::{self, Document, Entries, ObjectBuilder, ReadError, TapeValue, MAX_DEPTH};
use super::json_write::{write_str, JsonSink, Quoted};
use super::{Notification, Priority, Value};

/// Why a body is not a notification. Such a delivery is dead-lettered with this text.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    /// Which part (`body`, `oslo.message`) and what is wrong with it, as Python's `json` says.
    #[error("{0} is not valid JSON: {1}")]
    Json(&'static str, String),
    #[error("{0} is not a JSON object")]
    NotAnObject(&'static str),
    #[error("unsupported oslo.version {0:?} (2.0 expected)")]
    Version(String),
    #[error("oslo.message is not a string")]
    MessageNotString,
    #[error("{0} is nested deeper than {MAX_DEPTH} levels")]
    TooDeep(&'static str),
}

/// The oslo version ceilo speaks; a message is accepted when it is compatible with it.
const OSLO_VERSION: (u32, u32) = (2, 0);
const CONTEXT_PREFIX: &str = "_context_";

/// Decodes bodies one after another, reusing its buffers.
#[derive(Default)]
pub struct Decoder {
    /// The body, copied: simd-json parses in place, and the original stays intact for the
    /// fallback reader (see [`json_read::read`]) and the dead-letter queue.
    body: Vec<u8>,
    /// The inner message of a 2.0 envelope, copied out of the body to be parsed in place.
    scratch: Vec<u8>,
    buffers: Buffers,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode one AMQP body (copied into the decoder's buffers; `body` is left as it is).
    ///
    /// Both texts stay simd-json tapes as long as possible: the envelope is looked up on its
    /// tape and the message reshaped off its own, so the only tree built is the endpoint dict's,
    /// and the message keys the endpoints never see are skipped, not built.
    pub fn decode<'a>(&'a mut self, body: &[u8]) -> Result<Notification<'a>, EnvelopeError> {
        let Decoder {
            body: copy,
            scratch,
            buffers,
        } = self;
        match read("body", body, copy, buffers)? {
            Document::Tape(tape) => match TapeValue::root(&tape).entries() {
                Some(outer) => open(outer, scratch, buffers),
                None => Err(EnvelopeError::NotAnObject("body")),
            },
            Document::Tree(Value::Object(outer)) => open(*outer, scratch, buffers),
            Document::Tree(_) => Err(EnvelopeError::NotAnObject("body")),
        }
    }
}

/// oslo's `deserialize_msg`: only a dict with both keys is an envelope; any other dict is the
/// message itself (the 1.0 form), even one with an `oslo.version` alone.
fn open<'a, D: Dict<'a>>(
    outer: D,
    scratch: &'a mut Vec<u8>,
    buffers: &mut Buffers,
) -> Result<Notification<'a>, EnvelopeError> {
    let (Some(version), Some(message)) = (outer.get("oslo.version"), outer.get("oslo.message")) else {
        return Ok(reshape(outer.entries()));
    };
    check_version(version)?;
    let Some(text) = message.text() else {
        return Err(EnvelopeError::MessageNotString);
    };
    match read("oslo.message", text.as_bytes(), scratch, buffers)? {
        Document::Tape(tape) => match TapeValue::root(&tape).entries() {
            Some(inner) => Ok(reshape(inner.entries())),
            None => Err(EnvelopeError::NotAnObject("oslo.message")),
        },
        Document::Tree(Value::Object(inner)) => Ok(reshape(inner.entries())),
        Document::Tree(_) => Err(EnvelopeError::NotAnObject("oslo.message")),
    }
}

/// A JSON object as either reader left it: on simd-json's tape, or a tree from the fallback
/// reader (text only Python's `json` takes; rare, so its lookups may clone).
trait Dict<'a> {
    type Part: Part<'a>;
    /// The value of `key`: the last one if the key is repeated, as in Python's dict.
    fn get(&self, key: &str) -> Option<Self::Part>;
    /// Every key and value, a repeated key every time, in the order of the text.
    fn entries(self) -> impl Iterator<Item = (Cow<'a, str>, Self::Part)>;
}

/// One value of a [`Dict`]: read where it is, and built into a tree only when it is kept.
trait Part<'a> {
    fn text(&self) -> Option<&str>;
    fn into_value(self) -> Value<'a>;
}

impl<'t, 'a> Dict<'a> for Entries<'t, 'a> {
    type Part = TapeValue<'t, 'a>;
    fn get(&self, key: &str) -> Option<Self::Part> {
        self.clone().filter(|(k, _)| *k == key).last().map(|(_, v)| v)
    }
    fn entries(self) -> impl Iterator<Item = (Cow<'a, str>, Self::Part)> {
        self.map(|(k, v)| (Cow::Borrowed(k), v))
    }
}

impl<'a> Part<'a> for TapeValue<'_, 'a> {
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn into_value(self) -> Value<'a> {
        self.tree()
    }
}

/// The fallback reader's tree: its keys are already unique, each with its last value.
impl<'a> Dict<'a> for Object<'a> {
    type Part = Value<'a>;
    fn get(&self, key: &str) -> Option<Self::Part> {
        Object::get(self, key).cloned()
    }
    fn entries(self) -> impl Iterator<Item = (Cow<'a, str>, Self::Part)> {
        self.into_iter()
    }
}

impl<'a> Part<'a> for Value<'a> {
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn into_value(self) -> Value<'a> {
        self
    }
}

/// Reads `what` (the body, or the inner message): see [`json_read`] for the fallback reader and
/// the depth limit.
fn read<'a>(
    what: &'static str,
    original: &[u8],
    copy: &'a mut Vec<u8>,
    buffers: &mut Buffers,
) -> Result<Document<'a>, EnvelopeError> {
    json_read::read_document(original, copy, buffers).map_err(|e| match e {
        ReadError::Json(e) => EnvelopeError::Json(what, e),
        ReadError::TooDeep => EnvelopeError::TooDeep(what),
    })
}

/// oslo's `version_is_compatible`: same major version, minor not newer than ours.
fn check_version<'a>(v: impl Part<'a>) -> Result<(), EnvelopeError> {
    let text = match v.text() {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(v.into_value().encode()),
    };
    let mut parts = text.split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().map_or(Some(0), |p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if major == OSLO_VERSION.0 && minor <= OSLO_VERSION.1 => Ok(()),
        _ => Err(EnvelopeError::Version(text.into_owned())),
    }
}

/// The message's entries → the dict the endpoints receive (see the module docs). A repeated
/// key ends with its last value, in its first place for a `ctxt` key, as Python's dict has it.
fn reshape<'a, P: Part<'a>>(message: impl Iterator<Item = (Cow<'a, str>, P)>) -> Notification<'a> {
    let null = || Value::Static(StaticNode::Null);
    let mut ctxt = ObjectBuilder::with_capacity(8);
    let mut priority = Priority::Unknown;
    let mut unique_id = None;
    let (mut publisher_id, mut event_type, mut payload) = (null(), null(), null());
    let (mut message_id, mut timestamp) = (null(), null());
    for (key, value) in message {
        match &*key {
            "publisher_id" => publisher_id = value.into_value(),
            "event_type" => event_type = value.into_value(),
            "payload" => payload = value.into_value(),
            "message_id" => message_id = value.into_value(),
            "timestamp" => timestamp = value.into_value(),
            "priority" => priority = value.text().map_or(Priority::Unknown, Priority::parse),
            "_unique_id" => unique_id = value.text().map(str::to_owned),
            k if k.starts_with(CONTEXT_PREFIX) => {
                ctxt.insert(strip_prefix(key, CONTEXT_PREFIX.len()), value.into_value());
            }
            // RPC-only keys and anything unknown: the endpoints never see them, nor are they built.
            _ => {}
        }
    }
    ctxt.insert(Cow::Borrowed("client_timeout"), null());
    let ctxt = ctxt.finish();
    let mut metadata = Object::with_capacity_and_hasher(2, Default::default());
    metadata.insert(Cow::Borrowed("message_id"), message_id);
    metadata.insert(Cow::Borrowed("timestamp"), timestamp);
    let mut root = Object::with_capacity_and_hasher(5, Default::default());
    root.insert(Cow::Borrowed("ctxt"), Value::from(ctxt));
    root.insert(Cow::Borrowed("publisher_id"), publisher_id);
    root.insert(Cow::Borrowed("event_type"), event_type);
    root.insert(Cow::Borrowed("payload"), payload);
    root.insert(Cow::Borrowed("metadata"), Value::from(metadata));
    Notification {
        priority,
        unique_id,
        root: Value::from(root),
    }
}

fn strip_prefix(key: Cow<'_, str>, len: usize) -> Cow<'_, str> {
    match key {
        Cow::Borrowed(k) => Cow::Borrowed(&k[len..]),
        Cow::Owned(k) => Cow::Owned(k[len..].to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding: what ceilo sends.

/// The head of a notification ceilo sends; the payload is written by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// oslo's `message_id`: a random uuid4, sent in its dashed form.
    pub message_id: Uuid,
    /// `ceilometer.polling` for telemetry IPC, `telemetry.publisher.<host>` for `notifier://`.
    pub publisher_id: &'a str,
    /// `telemetry.polling`, or the publisher's topic (`metering`, `event`).
    pub event_type: &'a str,
    /// Sent upper case (`SAMPLE`); it also picks the routing key `<topic>.<priority>`.
    pub priority: Priority,
    /// Naive UTC, sent as Python's `str(datetime)`.
    pub timestamp: NaiveDateTime,
    /// The rabbit driver's `_unique_id` (duplicate detection): a uuid4 sent as 32 hex digits.
    pub unique_id: Uuid,
}

impl<'a> Outgoing<'a> {
    /// A head stamped now, with fresh ids, as oslo's notifier and rabbit driver make them.
    pub fn new(publisher_id: &'a str, event_type: &'a str, priority: Priority) -> Self {
        Outgoing {
            message_id: Uuid::new_v4(),
            publisher_id,
            event_type,
            priority,
            timestamp: Utc::now().naive_utc(),
            unique_id: Uuid::new_v4(),
        }
    }
}

/// Appends the oslo 2.0 body of one notification to `out`:
/// `{"oslo.version": "2.0", "oslo.message": "<inner JSON, escaped>"}` with the inner keys in
/// oslo's order (`message_id, publisher_id, event_type, priority, payload, timestamp,
/// _unique_id`) and no `_context_*` keys, as oslo sends for an empty context.
///
/// `write_payload` must append one JSON value with the [`super::json_write`] writers, into a
/// [`Quoted`] sink: the inner message is escaped as it is written, never walked twice.
pub fn encode_v2(out: &mut Vec<u8>, head: &Outgoing<'_>, write_payload: impl FnOnce(&mut Quoted<'_>)) {
    out.extend_from_slice(b"{\"oslo.version\": \"2.0\", \"oslo.message\": \"");
    let inner = &mut Quoted(out);
    inner.extend_from_slice(b"{\"message_id\": \"");
    let mut uuid_buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    inner.extend_clean(
        head.message_id
            .hyphenated()
            .encode_lower(&mut uuid_buf)
            .as_bytes(),
    );
    inner.extend_from_slice(b"\", \"publisher_id\": ");
    write_str(inner, head.publisher_id);
    inner.extend_from_slice(b", \"event_type\": ");
    write_str(inner, head.event_type);
    inner.extend_from_slice(b", \"priority\": ");
    write_str(inner, head.priority.wire_name());
    inner.extend_from_slice(b", \"payload\": ");
    write_payload(inner);
    inner.extend_from_slice(b", \"timestamp\": \"");
    write_oslo_timestamp(inner, &head.timestamp);
    inner.extend_from_slice(b"\", \"_unique_id\": \"");
    inner.extend_clean(head.unique_id.simple().encode_lower(&mut uuid_buf).as_bytes());
    inner.extend_from_slice(b"\"}");
    out.extend_from_slice(b"\"}");
}

/// Python's `str()` of a naive datetime: `YYYY-MM-DD HH:MM:SS.ffffff`, with the fraction left
/// out when the microsecond is 0 (what oslo's notifier sends as `timestamp`).
pub fn write_oslo_timestamp(out: &mut impl JsonSink, ts: &NaiveDateTime) {
    fn two(out: &mut impl JsonSink, n: u32) {
        out.push(b'0' + (n / 10 % 10) as u8);
        out.push(b'0' + (n % 10) as u8);
    }
    let year = ts.year();
    if year < 0 {
        out.push(b'-');
    }
    let year = year.unsigned_abs();
    for div in [1000, 100, 10, 1] {
        out.push(b'0' + (year / div % 10) as u8);
    }
    out.push(b'-');
    two(out, ts.month());
    out.push(b'-');
    two(out, ts.day());
    out.push(b' ');
    two(out, ts.hour());
    out.push(b':');
    two(out, ts.minute());
    out.push(b':');
    two(out, ts.second());
    // chrono encodes a leap second as nanoseconds past 1e9; Python has no such value.
    let micros = (ts.nanosecond() / 1000).min(999_999);
    if micros != 0 {
        out.push(b'.');
        for div in [100_000, 10_000, 1000, 100, 10, 1] {
            out.push(b'0' + (micros / div % 10) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_str(body: &str, check: impl FnOnce(Result<Notification<'_>, EnvelopeError>)) {
        let mut decoder = Decoder::new();
        let bytes = body.as_bytes().to_vec();
        check(decoder.decode(&bytes));
    }

    const V2: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m-1\", \"publisher_id\": \"compute.host-1\", \"event_type\": \"compute.instance.create.end\", \"priority\": \"INFO\", \"payload\": {\"name\": \"caf\\u00e9\", \"n\": 3}, \"timestamp\": \"2025-03-14 09:01:23.147803\", \"_unique_id\": \"abc123\", \"_context_user\": \"u-1\", \"_context_request_id\": null}"}"#;

    #[test]
    fn decodes_the_v2_envelope_into_the_endpoint_dict() {
        decode_str(V2, |n| {
            let n = n.unwrap();
            assert_eq!(n.priority, Priority::Info);
            assert_eq!(n.unique_id.as_deref(), Some("abc123"));
            assert_eq!(n.event_type(), Some("compute.instance.create.end"));
            assert_eq!(n.publisher_id(), Some("compute.host-1"));
            assert_eq!(n.message_id(), Some("m-1"));
            assert_eq!(
                n.timestamp().and_then(|t| t.as_str()),
                Some("2025-03-14 09:01:23.147803")
            );
            assert_eq!(n.payload().unwrap().get_str("name"), Some("café"));
            let ctxt = n.ctxt().unwrap();
            assert_eq!(ctxt.get_str("user"), Some("u-1"));
            assert!(ctxt.get("request_id").unwrap().is_null());
            assert!(ctxt.get("client_timeout").unwrap().is_null());
            assert_eq!(ctxt.as_object().unwrap().len(), 3);
            let root = n.root.as_object().unwrap();
            let mut keys: Vec<&str> = root.keys().map(|k| &**k).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["ctxt", "event_type", "metadata", "payload", "publisher_id"]
            );
        });
    }

    #[test]
    fn decodes_the_bare_v1_form() {
        let body = r#"{"message_id": "m-2", "publisher_id": "p", "event_type": "e", "priority": "SAMPLE", "payload": [1], "timestamp": "t", "_context_tenant": "t-1"}"#;
        decode_str(body, |n| {
            let n = n.unwrap();
            assert_eq!(n.priority, Priority::Sample);
            assert_eq!(n.unique_id, None);
            assert_eq!(n.ctxt().unwrap().get_str("tenant"), Some("t-1"));
            assert!(n.payload().unwrap().is_array());
        });
    }

    #[test]
    fn missing_keys_become_null_and_unknown_priority_is_unknown() {
        decode_str(r#"{"payload": {}}"#, |n| {
            let n = n.unwrap();
            assert_eq!(n.priority, Priority::Unknown);
            assert!(n.root.get("event_type").unwrap().is_null());
            assert_eq!(n.message_id(), None);
        });
    }

    #[test]
    fn rejects_what_oslo_rejects_with_a_reason() {
        decode_str("{not json", |n| {
            assert!(matches!(n, Err(EnvelopeError::Json(..))))
        });
        decode_str("[1, 2]", |n| {
            assert_eq!(n.unwrap_err(), EnvelopeError::NotAnObject("body"))
        });
        decode_str(r#"{"oslo.version": "3.0", "oslo.message": "{}"}"#, |n| {
            assert_eq!(n.unwrap_err(), EnvelopeError::Version("3.0".into()))
        });
        decode_str(r#"{"oslo.version": "2.1", "oslo.message": "{}"}"#, |n| {
            assert_eq!(n.unwrap_err(), EnvelopeError::Version("2.1".into()))
        });
        decode_str(r#"{"oslo.version": "2.0", "oslo.message": {}}"#, |n| {
            assert_eq!(n.unwrap_err(), EnvelopeError::MessageNotString)
        });
        decode_str(r#"{"oslo.version": "2.0", "oslo.message": "[1]"}"#, |n| {
            assert_eq!(n.unwrap_err(), EnvelopeError::NotAnObject("oslo.message"))
        });
        decode_str(r#"{"oslo.version": "2.0", "oslo.message": "{bad"}"#, |n| {
            assert!(matches!(n, Err(EnvelopeError::Json(..))))
        });
    }

    #[test]
    fn reads_what_pythons_json_reads_and_says_what_is_wrong_otherwise() {
        // Python's json reads NaN, Infinity and 1e400 (inf), so oslo hands them to Ceilometer.
        let inner = r#"{"priority": "INFO", "event_type": "e", "payload": {"a": NaN, "b": -Infinity, "c": 1e400, "d": "\"q\""}}"#;
        let v2 = format!(
            r#"{{"oslo.version": "2.0", "oslo.message": {}}}"#,
            serde_json::to_string(inner).unwrap()
        );
        for body in [inner, v2.as_str()] {
            decode_str(body, |n| {
                let n = n.unwrap();
                let payload = n.payload().unwrap();
                assert!(payload.get_f64("a").unwrap().is_nan());
                assert_eq!(payload.get_f64("b"), Some(f64::NEG_INFINITY));
                assert_eq!(payload.get_f64("c"), Some(f64::INFINITY));
                assert_eq!(payload.get_str("d"), Some("\"q\""));
            });
        }
        let truncated = &V2[..V2.len() / 2];
        decode_str(truncated, |n| {
            assert_eq!(
                n.unwrap_err().to_string(),
                "body is not valid JSON: Unterminated string starting at: line 1 column 41 (char 40)"
            )
        });
        let bad_inner = r#"{"oslo.version": "2.0", "oslo.message": "{\"a\": nan}"}"#;
        decode_str(bad_inner, |n| {
            assert_eq!(
                n.unwrap_err().to_string(),
                "oslo.message is not valid JSON: Expecting value: line 1 column 7 (char 6)"
            )
        });
    }

    #[test]
    fn a_repeated_key_ends_with_its_last_value_in_its_first_place_from_either_reader() {
        let message = r#""_context_a": 1, "_context_b": 2, "event_type": "x", "_context_a": 3, "event_type": "y", "_unique_id": "u", "_unique_id": 5"#;
        // simd-json reads the first; only Python's reader takes the NaN of the second.
        for body in [format!("{{{message}}}"), format!("{{{message}, \"rpc\": NaN}}")] {
            decode_str(&body, |n| {
                let n = n.unwrap();
                assert_eq!(n.event_type(), Some("y"));
                assert_eq!(n.unique_id, None, "the last _unique_id is not a string");
                let ctxt = n.ctxt().unwrap().as_object().unwrap();
                let entries: Vec<(&str, Option<u64>)> =
                    ctxt.iter().map(|(k, v)| (&**k, v.as_u64())).collect();
                assert_eq!(
                    entries,
                    [("a", Some(3)), ("b", Some(2)), ("client_timeout", None)]
                );
            });
        }
        let twice = r#"{"oslo.message": "{\"event_type\": \"a\"}", "oslo.version": "2.0", "oslo.message": "{\"event_type\": \"b\"}"}"#;
        decode_str(twice, |n| assert_eq!(n.unwrap().event_type(), Some("b")));
    }

    #[test]
    fn decoder_is_reusable_across_bodies() {
        let mut decoder = Decoder::new();
        for i in 0..3 {
            let body = V2.replace("m-1", &format!("m-{i}")).into_bytes();
            let n = decoder.decode(&body).unwrap();
            assert_eq!(n.message_id(), Some(format!("m-{i}").as_str()));
        }
    }

    // --- encoding ---

    use std::sync::Arc;

    use crate::model::json_write::write_value;
    use crate::model::meter_message::{meter_message_value, write_meter_message_list, NULL};
    use crate::model::signature::{tests::reference_text, Signer};
    use crate::model::{OwnedValue, Sample};

    fn parse_ts(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn fixed_head<'a>(publisher_id: &'a str, event_type: &'a str) -> Outgoing<'a> {
        Outgoing {
            message_id: Uuid::parse_str("57efc379-0b4f-4a5e-9d43-1a0c6f1e2d3b").unwrap(),
            publisher_id,
            event_type,
            priority: Priority::Sample,
            timestamp: parse_ts("2025-03-14 09:01:23.147803"),
            unique_id: Uuid::parse_str("9b1c2d3e4f5a46b7a8c9d0e1f2a3b4c5").unwrap(),
        }
    }

    fn sample() -> Sample {
        let s = |t: &str| OwnedValue::String(t.to_owned());
        let meta = simd_json::to_owned_value(
            &mut br#"{"name": "it's \"q\" \\ caf\u00e9 \ud83d\ude80", "n": [1, 2.5]}"#.to_vec(),
        )
        .unwrap();
        Sample {
            name: Arc::from("cpu"),
            sample_type: Arc::from("cumulative"),
            unit: Arc::from("ns"),
            volume: OwnedValue::from(1234567_u64),
            user_id: s("u1"),
            user_name: NULL,
            project_id: s("p1"),
            project_name: s("d\u{e9}mo"),
            resource_id: s("r\"1\\"),
            timestamp: s("2025-03-14T09:45:00.123456+00:00"),
            resource_metadata: Arc::new(meta),
            source: Arc::from("openstack"),
            id: "00000000-0000-4000-8000-000000000001".to_owned(),
            monotonic_time: OwnedValue::from(5131.123456789),
        }
    }

    #[test]
    fn encoded_body_decodes_back_to_every_field() {
        let samples = [sample(), sample()];
        let head = fixed_head("telemetry.publisher.h\u{f6}st \"1\"", "metering");
        let mut body = Vec::new();
        encode_v2(&mut body, &head, |out| {
            write_meter_message_list(out, &samples, &mut Signer::new(b"s3cret"))
        });
        assert!(body.is_ascii(), "ensure_ascii on both layers");
        let mut decoder = Decoder::new();
        let n = decoder.decode(&body).unwrap();
        assert_eq!(n.priority, Priority::Sample);
        assert_eq!(n.unique_id.as_deref(), Some("9b1c2d3e4f5a46b7a8c9d0e1f2a3b4c5"));
        assert_eq!(n.message_id(), Some("57efc379-0b4f-4a5e-9d43-1a0c6f1e2d3b"));
        assert_eq!(n.publisher_id(), Some("telemetry.publisher.h\u{f6}st \"1\""));
        assert_eq!(n.event_type(), Some("metering"));
        assert_eq!(
            n.timestamp().and_then(|t| t.as_str()),
            Some("2025-03-14 09:01:23.147803")
        );
        assert_eq!(
            n.ctxt().unwrap().as_object().unwrap().len(),
            1,
            "only client_timeout"
        );
        let payload = n.payload().unwrap().as_array().unwrap();
        assert_eq!(payload.len(), 2);
        let want = meter_message_value(&samples[0], b"s3cret");
        let mut got = Vec::new();
        write_value(&mut got, &payload[0]);
        let mut want_text = Vec::new();
        write_value(&mut want_text, &want);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want_text).unwrap()
        );
        // What arrives still verifies: the signature covers the decoded message.
        let signed = Signer::new(b"s3cret").sign(&payload[1]);
        assert_eq!(payload[1].get_str("message_signature"), Some(signed.as_str()));
    }

    #[test]
    fn encode_appends_after_existing_bytes() {
        let head = fixed_head("p", "e");
        let mut body = b"[".to_vec();
        encode_v2(&mut body, &head, |out| out.extend_from_slice(b"{}"));
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            r#"[{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"57efc379-0b4f-4a5e-9d43-1a0c6f1e2d3b\", \"publisher_id\": \"p\", \"event_type\": \"e\", \"priority\": \"SAMPLE\", \"payload\": {}, \"timestamp\": \"2025-03-14 09:01:23.147803\", \"_unique_id\": \"9b1c2d3e4f5a46b7a8c9d0e1f2a3b4c5\"}"}"#
        );
    }

    #[test]
    fn oslo_timestamp_is_python_str_of_a_naive_datetime() {
        let text = |ts: &str| {
            let mut out = Vec::new();
            write_oslo_timestamp(&mut out, &parse_ts(ts));
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text("2025-03-14 09:01:23.147803"), "2025-03-14 09:01:23.147803");
        assert_eq!(text("2025-03-14 09:01:23"), "2025-03-14 09:01:23");
        assert_eq!(text("2025-03-14 09:01:23.000001"), "2025-03-14 09:01:23.000001");
        assert_eq!(text("0999-01-02 03:04:05.5"), "0999-01-02 03:04:05.500000");
        // Python's datetime holds microseconds: finer digits are cut, not rounded.
        assert_eq!(text("2025-03-14 09:01:23.1234569"), "2025-03-14 09:01:23.123456");
        let now = Outgoing::new("p", "e", Priority::Info);
        assert_ne!(now.message_id, now.unique_id);
    }

    /// The oslo 2.0 inner messages of the corpus, as Python wrote them.
    fn corpus_inner_messages() -> Vec<String> {
        let mut inner = Vec::new();
        for line in reference_text("corpus/public.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let case: OwnedValue = simd_json::to_owned_value(&mut line.as_bytes().to_vec()).unwrap();
            if let Some(text) = case.get("wire").and_then(|w| w.get_str("oslo.message")) {
                inner.push(text.to_owned());
            }
        }
        inner
    }

    /// simd-json keeps key order only for objects of up to 32 keys (larger ones are hashed).
    fn max_object_len(v: &OwnedValue) -> usize {
        match v {
            OwnedValue::Object(o) => o.values().map(max_object_len).max().unwrap_or(0).max(o.len()),
            OwnedValue::Array(a) => a.iter().map(max_object_len).max().unwrap_or(0),
            OwnedValue::Static(_) | OwnedValue::String(_) => 0,
        }
    }

    #[test]
    fn json_writer_reproduces_oslos_bytes_for_every_corpus_message() {
        let messages = corpus_inner_messages();
        assert!(
            messages.len() >= 100,
            "corpus has {} wire messages",
            messages.len()
        );
        let (mut out, mut exact) = (Vec::new(), 0);
        for text in &messages {
            let value: OwnedValue = simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap();
            out.clear();
            write_value(&mut out, &value);
            if max_object_len(&value) > 32 {
                // The order is lost in parsing, not writing: compare what the text means.
                let reparsed: OwnedValue = simd_json::to_owned_value(&mut out.clone()).unwrap();
                assert_eq!(reparsed, value);
                continue;
            }
            assert_eq!(std::str::from_utf8(&out).unwrap(), text);
            exact += 1;
        }
        assert!(exact >= 90, "only {exact} corpus messages compared byte for byte");
    }

    #[test]
    fn encode_v2_reproduces_oslos_body_for_the_corpus() {
        let mut encoded = 0;
        let mut body = Vec::new();
        for text in corpus_inner_messages() {
            let inner: OwnedValue = simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap();
            let keys: Vec<&str> = inner.as_object().unwrap().keys().map(String::as_str).collect();
            if keys.iter().any(|k| k.starts_with(CONTEXT_PREFIX)) {
                continue; // ceilo sends an empty context; these came from services with one
            }
            let field = |k: &str| inner.get_str(k).unwrap();
            let ids = (
                Uuid::parse_str(field("message_id")),
                Uuid::parse_str(field("_unique_id")),
            );
            let (Ok(message_id), Ok(unique_id)) = ids else {
                continue; // hand-written ids; ceilo always sends uuids
            };
            let timestamp = parse_ts(field("timestamp"));
            let mut rendered = Vec::new();
            write_oslo_timestamp(&mut rendered, &timestamp);
            if rendered != field("timestamp").as_bytes() {
                continue; // a hand-written timestamp no datetime prints (`2015-06-1909:19:35`)
            }
            let head = Outgoing {
                message_id,
                publisher_id: field("publisher_id"),
                event_type: field("event_type"),
                priority: Priority::parse(field("priority")),
                timestamp,
                unique_id,
            };
            body.clear();
            encode_v2(&mut body, &head, |out| {
                write_value(out, inner.get("payload").unwrap())
            });
            let mut want = br#"{"oslo.version": "2.0", "oslo.message": "#.to_vec();
            write_str(&mut want, &text);
            want.push(b'}');
            assert_eq!(
                std::str::from_utf8(&body).unwrap(),
                std::str::from_utf8(&want).unwrap()
            );
            encoded += 1;
        }
        assert!(encoded >= 36, "only {encoded} corpus messages without a context");
    }
}
