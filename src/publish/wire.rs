//! TEMPORARY stand-in for branch `sign`'s `model::meter_message::write_meter_message` and
//! `model::envelope::encode_v2` (and branch `events`' `message_from_event`): same shapes, but
//! compact JSON and no real `message_signature`. Deleted when those branches are merged; keep
//! every use behind the three functions below so the swap is local.

use simd_json::prelude::*;
use simd_json::OwnedValue;

use crate::model::{Event, Sample, TraitValue};

fn object(pairs: Vec<(&str, OwnedValue)>) -> OwnedValue {
    let mut o = simd_json::owned::Object::with_capacity_and_hasher(pairs.len(), Default::default());
    for (k, v) in pairs {
        o.insert(k.to_owned(), v);
    }
    OwnedValue::from(o)
}

fn s(text: &str) -> OwnedValue {
    OwnedValue::from(text.to_owned())
}

/// A meter message (`meter_message_from_counter`), appended to `out`.
pub fn write_meter_message(out: &mut Vec<u8>, sample: &Sample, _secret: &[u8]) {
    let v = object(vec![
        ("source", s(&sample.source)),
        ("counter_name", s(&sample.name)),
        ("counter_type", s(&sample.sample_type)),
        ("counter_unit", s(&sample.unit)),
        ("counter_volume", sample.volume.clone()),
        ("user_id", sample.user_id.clone()),
        ("user_name", sample.user_name.clone()),
        ("project_id", sample.project_id.clone()),
        ("project_name", sample.project_name.clone()),
        ("resource_id", sample.resource_id.clone()),
        ("timestamp", sample.timestamp.clone()),
        ("resource_metadata", sample.resource_metadata.clone()),
        ("message_id", s(&sample.id)),
        ("monotonic_time", sample.monotonic_time.clone()),
        ("message_signature", s("")),
    ]);
    let _ = v.write(out);
}

fn trait_value(v: &TraitValue) -> (u8, OwnedValue) {
    match v {
        TraitValue::Text(t) => (1, s(t)),
        TraitValue::Int(i) => (2, OwnedValue::from(*i)),
        TraitValue::Float(f) => (3, OwnedValue::from(*f)),
        TraitValue::Datetime(d) => (4, s(d)),
    }
}

/// An event message (`message_from_event`), appended to `out`.
pub fn write_event_message(out: &mut Vec<u8>, event: &Event, _secret: &[u8]) {
    let traits: Vec<OwnedValue> = event
        .traits
        .iter()
        .map(|t| {
            let (dtype, value) = trait_value(&t.value);
            OwnedValue::from(vec![s(&t.name), OwnedValue::from(dtype as u64), value])
        })
        .collect();
    let v = object(vec![
        ("message_id", s(&event.message_id)),
        ("event_type", s(&event.event_type)),
        ("generated", s(&event.generated)),
        ("traits", OwnedValue::from(traits)),
        ("raw", event.raw.clone()),
        ("message_signature", s("")),
    ]);
    let _ = v.write(out);
}

/// What the oslo 2.0 envelope says about a message.
pub struct Outgoing<'a> {
    pub message_id: &'a str,
    pub publisher_id: &'a str,
    pub event_type: &'a str,
    pub priority: &'a str,
    pub timestamp: &'a str,
}

/// Append the oslo 2.0 envelope around a payload written by `payload`.
pub fn encode_v2(out: &mut Vec<u8>, msg: &Outgoing<'_>, payload: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::with_capacity(1024);
    let header = object(vec![
        ("message_id", s(msg.message_id)),
        ("publisher_id", s(msg.publisher_id)),
        ("event_type", s(msg.event_type)),
        ("priority", s(msg.priority)),
    ]);
    let _ = header.write(&mut inner);
    inner.pop(); // reopen the object to append payload and timestamp
    inner.extend_from_slice(b",\"payload\":");
    payload(&mut inner);
    inner.extend_from_slice(b",\"timestamp\":");
    let _ = s(msg.timestamp).write(&mut inner);
    inner.extend_from_slice(b",\"_unique_id\":");
    let _ = s(&uuid::Uuid::new_v4().simple().to_string()).write(&mut inner);
    inner.push(b'}');
    let text = String::from_utf8_lossy(&inner).into_owned();
    out.extend_from_slice(b"{\"oslo.version\": \"2.0\", \"oslo.message\": ");
    let _ = s(&text).write(out);
    out.push(b'}');
}

/// A Sample as Ceilometer's `Sample.as_dict()` (what the file publisher writes).
pub fn sample_as_dict(sample: &Sample) -> OwnedValue {
    object(vec![
        ("name", s(&sample.name)),
        ("type", s(&sample.sample_type)),
        ("unit", s(&sample.unit)),
        ("volume", sample.volume.clone()),
        ("user_id", sample.user_id.clone()),
        ("user_name", sample.user_name.clone()),
        ("project_id", sample.project_id.clone()),
        ("project_name", sample.project_name.clone()),
        ("resource_id", sample.resource_id.clone()),
        ("timestamp", sample.timestamp.clone()),
        ("resource_metadata", sample.resource_metadata.clone()),
        ("source", s(&sample.source)),
        ("id", s(&sample.id)),
        ("monotonic_time", sample.monotonic_time.clone()),
    ])
}

/// An Event as Ceilometer's `Event.as_dict()` (what the file publisher writes).
pub fn event_as_dict(event: &Event) -> OwnedValue {
    let traits: Vec<OwnedValue> = event
        .traits
        .iter()
        .map(|t| {
            let (dtype, value) = trait_value(&t.value);
            object(vec![
                ("name", s(&t.name)),
                ("dtype", OwnedValue::from(dtype as u64)),
                ("value", value),
            ])
        })
        .collect();
    object(vec![
        ("message_id", s(&event.message_id)),
        ("event_type", s(&event.event_type)),
        ("generated", s(&event.generated)),
        ("traits", OwnedValue::from(traits)),
        ("raw", event.raw.clone()),
    ])
}
