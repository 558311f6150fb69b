//! The data ceilo moves: notifications as decoded from the wire, samples, events, and their
//! wire encodings (oslo envelope, meter messages, signatures).

pub mod envelope;
pub mod event;
pub mod json_python;
pub mod json_read;
pub mod json_write;
pub mod kombu;
pub mod meter_message;
pub mod msgpack;
pub mod notification;
pub mod output_size;
pub mod payload;
pub mod plain;
pub mod py;
pub mod sample;
pub mod signature;
pub mod yaml_outline;
pub mod yaml_read;

pub use event::{Event, Trait, TraitValue};
pub use notification::{Notification, Priority};
pub use payload::Payload;
pub use sample::{Metadata, Sample, SampleBatch};

/// A JSON value borrowed from a message buffer (the hot path's currency).
pub type Value<'a> = simd_json::BorrowedValue<'a>;
/// A JSON value that owns its data (what samples and events carry once they leave the buffer).
pub type OwnedValue = simd_json::OwnedValue;

/// Copy a borrowed value into an owned one in one pass (no intermediate clone).
pub fn to_owned(v: &Value<'_>) -> OwnedValue {
    match v {
        Value::Static(s) => OwnedValue::Static(*s),
        Value::String(s) => OwnedValue::String(s.to_string()),
        Value::Array(a) => OwnedValue::Array(Box::new(a.iter().map(to_owned).collect())),
        Value::Object(o) => {
            let mut m = simd_json::owned::Object::with_capacity_and_hasher(o.len(), Default::default());
            for (k, v) in o.iter() {
                m.insert(k.to_string(), to_owned(v));
            }
            OwnedValue::Object(Box::new(m))
        }
    }
}
