//! The oslo.messaging envelope: AMQP body → [`Notification`].
//!
//! A body is either the 2.0 envelope `{"oslo.version": "2.0", "oslo.message": "<JSON text>"}`
//! (the inner message is a JSON *string* inside JSON, so it is parsed a second time, in place,
//! from a reused scratch buffer) or the bare 1.0 dict. Either way the message is then reshaped
//! into the dict Ceilometer's endpoints receive: `_context_*` keys become `ctxt` (plus
//! `client_timeout: null`), `_unique_id` is taken out for duplicate detection, `priority` picks
//! the endpoint and `message_id`/`timestamp` move under `metadata`. Encoding what ceilo sends
//! lives in [`super::meter_message`] and the publishers, which write the same shape.

use std::borrow::Cow;

use simd_json::prelude::*;
use simd_json::{borrowed::Object, Buffers, StaticNode};

use super::{Notification, Priority, Value};

/// Why a body is not a notification. Such a delivery is dead-lettered with this text.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvelopeError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("{0} is not a JSON object")]
    NotAnObject(&'static str),
    #[error("unsupported oslo.version {0:?} (2.0 expected)")]
    Version(String),
    #[error("oslo.message is not a string")]
    MessageNotString,
}

/// The oslo version ceilo speaks; a message is accepted when it is compatible with it.
const OSLO_VERSION: (u32, u32) = (2, 0);
const CONTEXT_PREFIX: &str = "_context_";

/// Decodes bodies one after another, reusing its buffers.
#[derive(Default)]
pub struct Decoder {
    scratch: Vec<u8>,
    buffers: Buffers,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode one AMQP body. simd-json unescapes strings in place, so `body` is modified.
    pub fn decode<'a>(&'a mut self, body: &'a mut [u8]) -> Result<Notification<'a>, EnvelopeError> {
        let Decoder { scratch, buffers } = self;
        let outer = parse(body, buffers)?;
        let Value::Object(outer) = outer else {
            return Err(EnvelopeError::NotAnObject("body"));
        };
        let message = if outer.contains_key("oslo.version") && outer.contains_key("oslo.message") {
            check_version(&outer["oslo.version"])?;
            let Some(text) = outer["oslo.message"].as_str() else {
                return Err(EnvelopeError::MessageNotString);
            };
            scratch.clear();
            scratch.extend_from_slice(text.as_bytes());
            match parse(scratch, buffers)? {
                Value::Object(inner) => inner,
                _ => return Err(EnvelopeError::NotAnObject("oslo.message")),
            }
        } else {
            outer
        };
        Ok(reshape(*message))
    }
}

fn parse<'a>(bytes: &'a mut [u8], buffers: &mut Buffers) -> Result<Value<'a>, EnvelopeError> {
    simd_json::to_borrowed_value_with_buffers(bytes, buffers).map_err(|e| EnvelopeError::Json(e.to_string()))
}

/// oslo's `version_is_compatible`: same major version, minor not newer than ours.
fn check_version(v: &Value<'_>) -> Result<(), EnvelopeError> {
    let text = v.as_str().map_or_else(|| v.encode(), str::to_owned);
    let mut parts = text.split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().map_or(Some(0), |p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) if major == OSLO_VERSION.0 && minor <= OSLO_VERSION.1 => Ok(()),
        _ => Err(EnvelopeError::Version(text)),
    }
}

/// The message dict → the dict the endpoints receive (see the module docs).
fn reshape(message: Object<'_>) -> Notification<'_> {
    let null = || Value::Static(StaticNode::Null);
    let mut ctxt = Object::with_capacity_and_hasher(8, Default::default());
    let mut priority = Priority::Unknown;
    let mut unique_id = None;
    let (mut publisher_id, mut event_type, mut payload) = (null(), null(), null());
    let (mut message_id, mut timestamp) = (null(), null());
    for (key, value) in message {
        match &*key {
            "publisher_id" => publisher_id = value,
            "event_type" => event_type = value,
            "payload" => payload = value,
            "message_id" => message_id = value,
            "timestamp" => timestamp = value,
            "priority" => priority = value.as_str().map_or(Priority::Unknown, Priority::parse),
            "_unique_id" => unique_id = value.as_str().map(str::to_owned),
            k if k.starts_with(CONTEXT_PREFIX) => {
                ctxt.insert(strip_prefix(key, CONTEXT_PREFIX.len()), value);
            }
            // RPC-only keys and anything unknown: the endpoints never see them.
            _ => {}
        }
    }
    ctxt.insert(Cow::Borrowed("client_timeout"), null());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_str(body: &str, check: impl FnOnce(Result<Notification<'_>, EnvelopeError>)) {
        let mut decoder = Decoder::new();
        let mut bytes = body.as_bytes().to_vec();
        check(decoder.decode(&mut bytes));
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
        decode_str("{not json", |n| assert!(matches!(n, Err(EnvelopeError::Json(_)))));
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
            assert!(matches!(n, Err(EnvelopeError::Json(_))))
        });
    }

    #[test]
    fn decoder_is_reusable_across_bodies() {
        let mut decoder = Decoder::new();
        for i in 0..3 {
            let mut body = V2.replace("m-1", &format!("m-{i}")).into_bytes();
            let n = decoder.decode(&mut body).unwrap();
            assert_eq!(n.message_id(), Some(format!("m-{i}").as_str()));
        }
    }
}
