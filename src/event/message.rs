//! Events on the way out: Ceilometer's `message_from_event` (what the `notifier://` event
//! publisher sends and `ceilo convert` prints), signed like every Ceilometer message.
//!
//! `message_from_event` is `event.serialize()` plus `message_signature`, in this key order:
//! `{message_id, event_type, generated, traits: [[name, dtype, value], ...], raw,
//! message_signature}`, datetimes as `isoformat()` strings. As for meter messages, the hot path
//! writes the JSON straight into the caller's buffer and feeds the signature its sorted pairs
//! directly (`event_type, generated, message_id, raw…, traits`), building no dict. The envelope
//! around a batch is [`crate::model::envelope::encode_v2`]'s job.

use chrono::NaiveDateTime;
// The prelude's array trait also has an `iter()` (boxed) for `Vec`s: slices are iterated with
// `as_slice()` here so the hot path does not allocate.
use simd_json::prelude::*;

use crate::model::json_write::{write_f64, write_i64, write_str, write_value, JsonSink};
use crate::model::output_size::Measure;
use crate::model::py::datetime::{isoformat, IsoText};
use crate::model::py::repr::{write_bytes_repr, write_float_repr};
use crate::model::signature::{Signature, Signer};
use crate::model::{Event, OwnedValue, TraitValue};

/// Writes one signed event message as a JSON object. Convenience for one-off use: a publisher
/// keeps a [`Signer`] and calls [`write_event_message_signed`].
pub fn write_message_from_event(event: &Event, secret: &[u8], out: &mut Vec<u8>) {
    write_event_message_signed(out, event, &mut Signer::new(secret));
}

/// Writes one event message, signed by `signer`, as a JSON object.
pub fn write_event_message_signed(out: &mut impl JsonSink, event: &Event, signer: &mut Signer) {
    // The traits' `str()` is built at the end of `out` and cut off again: no other buffer.
    let signature = sign_event_with(signer, event, out.buffer());
    write_event_fields(out, event);
    out.extend_from_slice(b", \"message_signature\": ");
    write_str(out, signature.as_str());
    out.push(b'}');
}

/// Writes Ceilometer's `event.serialize()` (the message without its signature): what the
/// `http://` publisher posts for an event.
pub fn write_event_serialized(out: &mut impl JsonSink, event: &Event) {
    write_event_fields(out, event);
    out.push(b'}');
}

/// `{"message_id": ..., "raw": ...` of an event message, left open for what follows.
fn write_event_fields(out: &mut impl JsonSink, event: &Event) {
    out.extend_from_slice(b"{\"message_id\": ");
    match &event.message_id {
        Some(id) => write_str(out, id),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b", \"event_type\": ");
    write_str(out, &event.event_type);
    out.extend_from_slice(b", \"generated\": ");
    write_datetime(out, &event.generated);
    out.extend_from_slice(b", \"traits\": [");
    for (i, t) in event.traits.as_slice().iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"[");
        write_str(out, &t.name);
        out.extend_from_slice(b", ");
        write_i64(out, i64::from(t.value.dtype()));
        out.extend_from_slice(b", ");
        match &t.value {
            TraitValue::Text(s) | TraitValue::Untyped(s) => write_str(out, s),
            TraitValue::Int(n) => write_i64(out, *n),
            TraitValue::Float(f) => write_f64(out, *f),
            TraitValue::Datetime(dt) => write_datetime(out, dt),
        }
        out.extend_from_slice(b"]");
    }
    out.extend_from_slice(b"], \"raw\": ");
    write_value(out, &event.raw);
}

/// Writes the events as a JSON list of signed event messages: the `notifier://` event
/// publisher's payload.
pub fn write_event_message_list<'e>(
    out: &mut impl JsonSink,
    events: impl IntoIterator<Item = &'e Event>,
    signer: &mut Signer,
) {
    crate::model::json_write::write_list(out, events, |out, event| {
        write_event_message_signed(out, event, signer)
    });
}

/// The `message_signature` `message_from_event` puts on `event`, fed pair by pair in
/// `recursive_keypairs` order. The traits are a list, so they hash as
/// `str(decode_unicode(traits))`: `[[b'name', 1, b'value'], ...]`.
pub fn sign_event(signer: &mut Signer, event: &Event) -> Signature {
    sign_event_with(signer, event, &mut Vec::new())
}

/// [`sign_event`] using the end of `scratch` for the traits' text; `scratch` is left as it was.
pub fn sign_event_with(signer: &mut Signer, event: &Event, scratch: &mut Vec<u8>) -> Signature {
    let Some(mut feed) = signer.start() else {
        return Signature::EMPTY;
    };
    feed.str_pair("event_type", &event.event_type);
    feed.str_pair("generated", IsoText::new(&event.generated).as_str());
    feed.str_pair("message_id", event.message_id.as_deref().unwrap_or("None"));
    // `{}` gives no pair; a stored raw notification is flattened as `raw:...` pairs.
    feed.value_pair("raw", &event.raw);
    let mark = scratch.len();
    scratch.push(b'[');
    for (i, t) in event.traits.as_slice().iter().enumerate() {
        if i > 0 {
            scratch.extend_from_slice(b", ");
        }
        scratch.push(b'[');
        write_bytes_repr(scratch, t.name.as_bytes());
        scratch.extend_from_slice(b", ");
        write_i64(scratch, i64::from(t.value.dtype()));
        scratch.extend_from_slice(b", ");
        match &t.value {
            TraitValue::Text(s) | TraitValue::Untyped(s) => write_bytes_repr(scratch, s.as_bytes()),
            TraitValue::Int(n) => write_i64(scratch, *n),
            TraitValue::Float(f) => write_float_repr(scratch, *f),
            TraitValue::Datetime(dt) => write_bytes_repr(scratch, IsoText::new(dt).as_str().as_bytes()),
        }
        scratch.push(b']');
    }
    scratch.push(b']');
    feed.text_pair("traits", &scratch[mark..]);
    scratch.truncate(mark);
    feed.finish()
}

/// What an event message writes besides its values: keys, punctuation, the signature (64 hex
/// digits, quoted) and, in a list, the `, ` before it.
const MESSAGE_SYNTAX_LEN: usize = 95 + 66;
/// A trait's `[`, `, `, dtype digit, `, `, `]`, and the `, ` before it.
const TRAIT_SYNTAX_LEN: usize = 9;

/// The bytes [`write_event_message_list`] writes for `event`, counted without writing it
/// ([`crate::model::output_size`]).
pub fn message_len(event: &Event) -> usize {
    message_len_by(event, Measure::Exact)
}

/// [`message_len`], its texts counted by `measure`.
pub fn message_len_by(event: &Event, measure: Measure) -> usize {
    use crate::model::output_size::{static_len, FLOAT_LEN};
    let str_len = |text: &str| measure.str_len(text);
    let datetime_len = |dt: &NaiveDateTime| IsoText::new(dt).as_str().len() + 2;
    let traits: usize = event
        .traits
        .as_slice()
        .iter()
        .map(|t| {
            TRAIT_SYNTAX_LEN
                + str_len(&t.name)
                + match &t.value {
                    TraitValue::Text(s) | TraitValue::Untyped(s) => str_len(s),
                    TraitValue::Int(n) => static_len(simd_json::StaticNode::I64(*n)),
                    TraitValue::Float(_) => FLOAT_LEN,
                    TraitValue::Datetime(dt) => datetime_len(dt),
                }
        })
        .sum();
    MESSAGE_SYNTAX_LEN + event.message_id.as_deref().map_or(4, str_len) + str_len(&event.event_type)
        + datetime_len(&event.generated)
        // No `, ` before the first trait.
        + traits.saturating_sub(2)
        + measure.value_len(&event.raw)
}

/// `message_from_event(event, secret)` as a value (for tests and one-off use; the hot path
/// writes with [`write_event_message_signed`]).
pub fn message_from_event(event: &Event, secret: &[u8]) -> OwnedValue {
    let signature = sign_event(&mut Signer::new(secret), event);
    let traits: Vec<OwnedValue> = event
        .traits
        .iter()
        .map(|t| {
            OwnedValue::from(vec![
                OwnedValue::from(t.name.to_string()),
                OwnedValue::from(u64::from(t.value.dtype())),
                trait_value(&t.value),
            ])
        })
        .collect();
    let mut msg = OwnedValue::object_with_capacity(6);
    // Inserting into a fresh object cannot fail; the results are the replaced values (none).
    let _ = msg.insert("message_id", message_id(event));
    let _ = msg.insert("event_type", event.event_type.clone());
    let _ = msg.insert("generated", isoformat(&event.generated));
    let _ = msg.insert("traits", OwnedValue::from(traits));
    let _ = msg.insert("raw", event.raw.clone());
    let _ = msg.insert("message_signature", signature.as_str());
    msg
}

fn write_datetime(out: &mut impl JsonSink, dt: &NaiveDateTime) {
    // isoformat() is plain ASCII digits and separators: nothing to escape.
    out.push(b'"');
    out.extend_clean(IsoText::new(dt).as_str().as_bytes());
    out.push(b'"');
}

fn message_id(event: &Event) -> OwnedValue {
    event
        .message_id
        .clone()
        .map_or_else(OwnedValue::null, OwnedValue::from)
}

/// `serialize_dt(value)`: datetimes become `isoformat()` strings, the rest is JSON as is.
fn trait_value(value: &TraitValue) -> OwnedValue {
    match value {
        TraitValue::Text(s) | TraitValue::Untyped(s) => OwnedValue::from(s.clone()),
        TraitValue::Int(i) => OwnedValue::from(*i),
        TraitValue::Float(f) => OwnedValue::from(*f),
        TraitValue::Datetime(dt) => OwnedValue::from(isoformat(dt)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::signature::compute_signature;
    use crate::model::Trait;

    fn event(raw: OwnedValue) -> Event {
        let dt = crate::model::py::datetime::parse_isotime_utc("2025-03-14 09:01:23.5").unwrap_or_default();
        let t = |name: &str, value| Trait {
            name: Arc::from(name),
            value,
        };
        Event {
            message_id: Some("m-1".into()),
            event_type: "compute.instance.create.end".into(),
            generated: dt,
            traits: vec![
                t("service", TraitValue::Text("comp\u{fc}te 'x'".into())),
                t("n", TraitValue::Int(-3)),
                t("f", TraitValue::Float(1e16)),
                t("d", TraitValue::Datetime(dt)),
                t("u", TraitValue::Untyped("x".into())),
            ],
            raw,
        }
    }

    /// The streamed signature equals the generic one over the built message, and the written
    /// JSON equals the built message.
    fn check(e: &Event) {
        let built = message_from_event(e, b"s3cret");
        let mut unsigned = built.clone();
        let _ = unsigned.remove("message_signature");
        assert_eq!(
            built.get("message_signature").and_then(|s| s.as_str()),
            Some(compute_signature(b"s3cret", &unsigned).as_str())
        );
        let mut out = Vec::new();
        write_message_from_event(e, b"s3cret", &mut out);
        let written = simd_json::to_owned_value(&mut out.clone()).unwrap_or_else(|_| OwnedValue::null());
        assert_eq!(written, built, "{}", String::from_utf8_lossy(&out));
        assert!(out.is_ascii());
    }

    #[test]
    fn streamed_signature_and_written_json_match_the_generic_path() {
        check(&event(OwnedValue::object()));
        let mut raw = OwnedValue::object();
        let _ = raw.insert("payload", {
            let mut p = OwnedValue::object();
            let _ = p.insert("b", 1);
            let _ = p.insert("a", vec![OwnedValue::from("x")]);
            p
        });
        let _ = raw.insert("event_type", "compute.instance.create.end");
        check(&event(raw));
        let mut no_id = event(OwnedValue::object());
        no_id.message_id = None;
        check(&no_id);
    }

    #[test]
    fn message_len_counts_what_the_list_writer_writes() {
        let mut raw = OwnedValue::object();
        let _ = raw.insert(
            "payload",
            vec![OwnedValue::from("\u{e9}\"x\""), OwnedValue::from(7)],
        );
        let mut no_traits = event(OwnedValue::object());
        no_traits.traits.clear();
        no_traits.message_id = None;
        let mut without_float = event(raw.clone());
        without_float
            .traits
            .retain(|t| !matches!(t.value, TraitValue::Float(_)));
        for (e, exact) in [(event(raw), false), (without_float, true), (no_traits, true)] {
            let mut out = Vec::new();
            write_event_message_list(&mut out, [&e, &e], &mut Signer::new(b"s3cret"));
            // Two messages, the second with the `, ` before it, and `[` `]`: half is one
            // message and a separator.
            let written = out.len() / 2;
            if exact {
                assert_eq!(message_len(&e), written, "{}", String::from_utf8_lossy(&out));
            } else {
                assert!(message_len(&e) >= written, "{}", String::from_utf8_lossy(&out));
            }
        }
    }

    #[test]
    fn message_keys_are_in_ceilometer_order() {
        let mut out = Vec::new();
        write_message_from_event(&event(OwnedValue::object()), b"", &mut out);
        let text = String::from_utf8_lossy(&out);
        let order: Vec<usize> = [
            "message_id",
            "event_type",
            "generated",
            "traits",
            "raw",
            "message_signature",
        ]
        .iter()
        .filter_map(|k| text.find(&format!("\"{k}\":")))
        .collect();
        assert_eq!(order.len(), 6);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.ends_with("\"message_signature\": \"\"}"), "{text}");
        assert!(
            text.contains("[\"d\", 4, \"2025-03-14T09:01:23.500000\"]"),
            "{text}"
        );
        assert!(text.contains("[\"f\", 3, 1e+16]"), "{text}");
    }
}
