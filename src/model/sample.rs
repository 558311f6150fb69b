//! A sample, as Ceilometer's `ceilometer.sample.Sample` holds it.

use std::sync::Arc;

use super::json_write::{write_str, write_value, JsonSink};
use super::py::repr::{py_repr, write_str_repr};
use super::OwnedValue;

/// A sample's `resource_metadata` (a dict, by Ceilometer's convention).
pub type Metadata = Arc<OwnedValue>;

/// Samples of one polling source, at most its `batch_size` of them: what a poll hands on, and
/// one `telemetry.polling` notification. Plain data, so that the pollers (`polling`) and the
/// sender (the runtime's publisher) need not know each other.
#[derive(Debug)]
pub struct SampleBatch {
    pub source: Arc<str>,
    pub samples: Vec<Sample>,
}

/// One measurement. Field names follow Ceilometer's `Sample`; the wire names (`counter_*`,
/// `message_id`) are applied by [`super::meter_message`].
///
/// Identity fields (`user_id`, `project_id`, `resource_id`, ...) are JSON values, not strings:
/// Ceilometer passes through whatever its jsonpath found (a number stays a number), and the
/// signature hashes Python's `str()` of that value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: Arc<str>,
    /// `gauge`, `delta` or `cumulative`.
    pub sample_type: Arc<str>,
    pub unit: Arc<str>,
    /// The raw value the definition found: a number, but also a string or a bool
    /// (Ceilometer passes the volume through untouched; the pipeline filters it later).
    pub volume: OwnedValue,
    pub user_id: OwnedValue,
    pub user_name: OwnedValue,
    pub project_id: OwnedValue,
    pub project_name: OwnedValue,
    pub resource_id: OwnedValue,
    /// ISO 8601, as Python's `datetime.isoformat()` renders it.
    pub timestamp: OwnedValue,
    /// Shared: the samples one notification makes carry the same metadata, which is then
    /// copied out of the message once, and written and signed once per published batch.
    pub resource_metadata: Metadata,
    pub source: Arc<str>,
    /// Sample id: a fresh uuid1 unless the input carried one (telemetry IPC `message_id`).
    pub id: String,
    pub monotonic_time: OwnedValue,
}

/// One value of `Sample.as_dict()`: a text attribute or a JSON one.
#[derive(Clone, Copy)]
pub enum DictValue<'a> {
    Text(&'a str),
    Value(&'a OwnedValue),
}

/// Ceilometer's `Sample.as_dict()`: the attributes in the order `Sample.__init__` sets them
/// (`monotonic_time` last), which is the order every rendering of the dict keeps.
pub fn as_dict(s: &Sample) -> [(&'static str, DictValue<'_>); 14] {
    use DictValue::{Text, Value};
    [
        ("name", Text(&s.name)),
        ("type", Text(&s.sample_type)),
        ("unit", Text(&s.unit)),
        ("volume", Value(&s.volume)),
        ("user_id", Value(&s.user_id)),
        ("user_name", Value(&s.user_name)),
        ("project_id", Value(&s.project_id)),
        ("project_name", Value(&s.project_name)),
        ("resource_id", Value(&s.resource_id)),
        ("timestamp", Value(&s.timestamp)),
        ("resource_metadata", Value(&s.resource_metadata)),
        ("source", Text(&s.source)),
        ("id", Text(&s.id)),
        ("monotonic_time", Value(&s.monotonic_time)),
    ]
}

/// Writes Ceilometer's `Sample.as_dict()` as `json.dumps` does.
pub fn write_sample_as_dict(out: &mut impl JsonSink, s: &Sample) {
    for (i, (key, value)) in as_dict(s).into_iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"" } else { b", \"" });
        out.extend_clean(key.as_bytes());
        out.extend_from_slice(b"\": ");
        match value {
            DictValue::Text(t) => write_str(out, t),
            DictValue::Value(v) => write_value(out, v),
        }
    }
    out.push(b'}');
}

/// Writes `str(sample.as_dict())`: Python's repr of the dict.
pub fn write_sample_as_dict_repr(out: &mut Vec<u8>, s: &Sample) {
    out.push(b'{');
    for (i, (key, value)) in as_dict(s).into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_str_repr(out, key);
        out.extend_from_slice(b": ");
        match value {
            DictValue::Text(t) => write_str_repr(out, t),
            DictValue::Value(v) => py_repr(out, v),
        }
    }
    out.push(b'}');
}

/// The other way, for tests reading recorded `Sample.as_dict()`s (signatures.jsonl, the
/// publishers' fixtures): a key the dict lacks reads as `null` (or `""` for a text field).
#[cfg(test)]
pub(crate) fn sample_from_dict(dict: &OwnedValue) -> Sample {
    use simd_json::prelude::*;
    let field = |k: &str| dict.get(k).cloned().unwrap_or(super::meter_message::NULL);
    let text = |k: &str| Arc::<str>::from(dict.get_str(k).unwrap_or_default());
    Sample {
        name: text("name"),
        sample_type: text("type"),
        unit: text("unit"),
        volume: field("volume"),
        user_id: field("user_id"),
        user_name: field("user_name"),
        project_id: field("project_id"),
        project_name: field("project_name"),
        resource_id: field("resource_id"),
        timestamp: field("timestamp"),
        resource_metadata: Arc::new(field("resource_metadata")),
        source: text("source"),
        id: dict.get_str("id").unwrap_or_default().to_owned(),
        monotonic_time: field("monotonic_time"),
    }
}
