//! Events on the way out: Ceilometer's `message_from_event` (what the `notifier://` event
//! publisher sends and `file://` writes), signed like every Ceilometer message, and the JSON
//! shape `ceilo convert` prints.
//!
//! `message_from_event` is `event.serialize()` plus `message_signature`:
//! `{message_id, event_type, generated, traits: [[name, dtype, value], ...], raw,
//! message_signature}`, datetimes as `isoformat()` strings.

use simd_json::prelude::*;

use super::time::isoformat;
use crate::model::json_write::write_value;
use crate::model::signature::compute_signature;
use crate::model::{Event, OwnedValue, TraitValue};

/// `Event.serialize()`: the message without its signature.
pub fn serialize(event: &Event) -> OwnedValue {
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
    msg
}

/// `message_from_event(event, secret)`: the serialized event with its `message_signature`
/// (the empty string when the secret is empty, as Ceilometer does).
pub fn message_from_event(event: &Event, secret: &[u8]) -> OwnedValue {
    let mut msg = serialize(event);
    let signature = compute_signature(secret, &msg);
    let _ = msg.insert("message_signature", signature);
    msg
}

/// [`message_from_event`] as JSON, appended to `out`.
pub fn write_message_from_event(event: &Event, secret: &[u8], out: &mut Vec<u8>) {
    write_value(out, &message_from_event(event, secret));
}

/// The event as `ceilo convert` prints it (and the corpus records it):
/// `{message_id, event_type, generated, traits: [{name, dtype, type, value}], raw}`.
pub fn event_json(event: &Event) -> OwnedValue {
    let traits: Vec<OwnedValue> = event
        .traits
        .iter()
        .map(|t| {
            let mut obj = OwnedValue::object_with_capacity(4);
            let _ = obj.insert("name", t.name.to_string());
            let _ = obj.insert("dtype", u64::from(t.value.dtype()));
            let _ = obj.insert("type", t.value.type_name());
            let _ = obj.insert("value", trait_value(&t.value));
            obj
        })
        .collect();
    let mut out = OwnedValue::object_with_capacity(5);
    let _ = out.insert("message_id", message_id(event));
    let _ = out.insert("event_type", event.event_type.clone());
    let _ = out.insert("generated", isoformat(&event.generated));
    let _ = out.insert("traits", OwnedValue::from(traits));
    let _ = out.insert("raw", event.raw.clone());
    out
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
