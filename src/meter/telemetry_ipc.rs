//! `telemetry.polling`: batches of meter messages sent by polling agents (Ceilometer's
//! `TelemetryIpc` endpoint). Each sample is rebuilt from its `counter_*` fields; its id is the
//! `message_id`; `monotonic_time` is dropped; the signature is not checked.

use std::sync::Arc;

use simd_json::prelude::*;

use super::EndpointError;
use crate::model::{Notification, OwnedValue, Sample, Value};

/// The event type the polling agent sends (`publish::telemetry_polling`) and the filter regex
/// of this endpoint (its `.` matches itself).
pub const EVENT_TYPE: &str = "telemetry.polling";

pub fn to_samples(n: &Notification<'_>, out: &mut Vec<Sample>) -> Result<(), EndpointError> {
    let samples = n
        .payload()
        .and_then(|p| p.get("samples"))
        .ok_or_else(|| EndpointError::new(n, "KeyError: 'samples'".into()))?;
    // `for sample_dict in samples`: an empty dict or text iterates over nothing; the keys or
    // characters of a non-empty one are not dicts, and anything else is not iterable.
    let samples: &[Value<'_>] = match samples {
        Value::Array(items) => items,
        Value::Object(o) if o.is_empty() => &[],
        Value::String(text) if text.is_empty() => &[],
        _ => return Err(EndpointError::new(n, "payload samples is not a list".into())),
    };
    for s in samples {
        out.push(rebuild(n, s)?);
    }
    Ok(())
}

fn rebuild(n: &Notification<'_>, s: &Value<'_>) -> Result<Sample, EndpointError> {
    let field = |key: &'static str| {
        s.get(key)
            .ok_or_else(|| EndpointError::new(n, format!("KeyError: '{key}'")))
    };
    let owned = |key: &'static str| field(key).map(|v| crate::model::to_owned(v));
    let text = |key: &'static str| -> Result<Arc<str>, EndpointError> {
        let v = field(key)?;
        Ok(v.as_str().map_or_else(|| Arc::from(v.encode()), Arc::from))
    };
    let optional = |key: &str| {
        s.get(key)
            .map_or(OwnedValue::null(), |v| crate::model::to_owned(v))
    };
    let metadata = owned("resource_metadata")?;
    let source = field("source")?;
    let id = field("message_id")?;
    let checked = |key: &'static str, check: fn(&Value<'_>) -> Result<Arc<str>, String>| {
        check(field(key)?).map_err(|e| EndpointError::new(n, e))
    };
    Ok(Sample {
        name: checked("counter_name", super::meter_name)?,
        sample_type: checked("counter_type", super::sample_type)?,
        unit: text("counter_unit")?,
        volume: owned("counter_volume")?,
        user_id: owned("user_id")?,
        user_name: optional("user_name"),
        project_id: owned("project_id")?,
        project_name: optional("project_name"),
        resource_id: owned("resource_id")?,
        timestamp: owned("timestamp")?,
        // `resource_metadata or {}`
        resource_metadata: Arc::new(if crate::model::py::truthy(&metadata) {
            metadata
        } else {
            OwnedValue::object()
        }),
        // `source or cfg.sample_source`, `id or uuid1()`
        source: match source.as_str() {
            Some(s) if !s.is_empty() => Arc::from(s),
            _ => super::default_source(),
        },
        id: match id.as_str() {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => super::new_sample_id(),
        },
        monotonic_time: OwnedValue::null(),
    })
}
