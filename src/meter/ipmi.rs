//! `hardware.ipmi.*`: sensor readings that ironic sends (Ceilometer's four IPMI sensor
//! endpoints: Temperature, Current, Fan, Voltage). The notification's payload is itself a
//! notification whose `payload` maps a sensor category to `{sensor: readings}`; each readable
//! sensor becomes a gauge named `hardware.ipmi.<category>` with the reading's unit.

use std::sync::Arc;

use simd_json::prelude::*;

use super::EndpointError;
use crate::model::py::{self, datetime};
use crate::model::{Notification, OwnedValue, Sample, Value};

/// The endpoints' filter regex.
pub const EVENT_TYPE: &str = "hardware.ipmi.*";
/// The categories that have an endpoint, in Ceilometer's endpoint order (`Power` has none).
const CATEGORIES: [&str; 4] = ["Current", "Fan", "Temperature", "Voltage"];

pub fn to_samples(n: &Notification<'_>, out: &mut Vec<Sample>) -> Result<(), EndpointError> {
    for category in CATEGORIES {
        category_samples(n, category, out)?;
    }
    Ok(())
}

/// Ceilometer's sensor endpoints write `node` (the payload's `node_uuid`) into each sensor they
/// read past its id (`_package_payload`), in the notification itself; a raw notification the
/// event endpoint stores afterwards (`store_raw`) carries it. Marks `raw` (the endpoint dict of
/// a notification no endpoint raised on) as they leave it.
pub fn mark_read_sensors(raw: &mut OwnedValue) {
    let Some(outer) = raw.get_mut("payload").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let Some(node) = outer.get("node_uuid").cloned() else {
        return;
    };
    let Some(tables) = outer.get_mut("payload").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for category in CATEGORIES {
        let Some(sensors) = tables.get_mut(category).and_then(|c| c.as_object_mut()) else {
            continue;
        };
        for sensor in sensors.values_mut() {
            let Some(sensor) = sensor.as_object_mut() else {
                continue;
            };
            let read = sensor.get("Sensor ID").and_then(|id| id.as_str());
            if read.is_some_and(|id| !left_to_power(category, id)) {
                sensor.insert("node".into(), node.clone());
            }
        }
    }
}

fn category_samples(
    n: &Notification<'_>,
    category: &str,
    out: &mut Vec<Sample>,
) -> Result<(), EndpointError> {
    let raise = |reason: String| EndpointError::new(n, reason);
    // `message['payload']['payload'][category].items()`: a missing key is no sensors, anything
    // else that is not a dict raises.
    let outer = n.payload().unwrap_or(&super::NONE);
    let Some(sensors) = getitem(outer, "payload")
        .and_then(|inner| inner.map_or(Ok(None), |inner| getitem(inner, category)))
        .map_err(raise)?
    else {
        return Ok(());
    };
    let Some(sensors) = sensors.as_object() else {
        return Err(raise(py::attribute_error(sensors, "items")));
    };
    let name: Arc<str> = Arc::from(format!("hardware.ipmi.{}", category.to_ascii_lowercase()));
    for sensor in sensors.values() {
        match sensor_sample(n, outer, sensor, category, &name) {
            Ok(Some(sample)) => out.push(sample),
            Ok(None) => {}
            Err(SensorError::Invalid { resource_id, reason }) => {
                tracing::warn!("invalid sensor data for {resource_id}: {reason}");
            }
            Err(SensorError::Raise(reason)) => return Err(raise(reason)),
        }
    }
    Ok(())
}

/// Python's `value[key]`: `Ok(None)` where a dict lacks the key (KeyError, which the endpoint
/// catches where it reads), `Err` (TypeError) for a value that is not a dict.
fn getitem<'v>(value: &'v Value<'_>, key: &str) -> Result<Option<&'v Value<'v>>, String> {
    match value {
        Value::Object(o) => Ok(o.get(key)),
        Value::String(_) => Err("TypeError: string indices must be integers, not 'str'".into()),
        Value::Array(_) => Err("TypeError: list indices must be integers or slices, not str".into()),
        other => Err(format!(
            "TypeError: '{}' object is not subscriptable",
            py::type_name(other)
        )),
    }
}

/// The Current endpoint leaves power consumption to the (absent) Power endpoint.
fn left_to_power(category: &str, sensor_id: &str) -> bool {
    category == "Current" && sensor_id.contains("Pwr Consumption")
}

enum SensorError {
    /// Logged and skipped (Ceilometer's `InvalidSensorData`).
    Invalid { resource_id: String, reason: String },
    /// Anything else Ceilometer does not catch.
    Raise(String),
}

/// One sensor's sample, each step where Ceilometer's `build_sample` takes it, so that the same
/// inputs are skipped (`InvalidSensorData`) or raise.
fn sensor_sample(
    n: &Notification<'_>,
    outer: &Value<'_>,
    sensor: &Value<'_>,
    category: &str,
    name: &Arc<str>,
) -> Result<Option<Sample>, SensorError> {
    let missing = |key: &str| SensorError::Invalid {
        resource_id: "missing id".into(),
        reason: format!("missing key in payload: '{key}'"),
    };
    // `'{nodeid}-{sensorid}'.format(nodeid=payload['node_uuid'], sensorid=transform_id(sensor['Sensor ID']))`
    let node = outer.get("node_uuid").ok_or_else(|| missing("node_uuid"))?;
    let sensor_id = getitem(sensor, "Sensor ID")
        .map_err(SensorError::Raise)?
        .ok_or_else(|| missing("Sensor ID"))?;
    let sensor_id = sensor_id
        .as_str()
        .ok_or_else(|| SensorError::Raise(py::attribute_error(sensor_id, "lower")))?;
    let resource_id = format!("{}-{}", py::repr::str_of(node), transform_id(sensor_id));
    if left_to_power(category, sensor_id) {
        return Ok(None);
    }
    // `_package_payload` reads these with `[]`: a missing one raises.
    let key_error = |key: &str| SensorError::Raise(format!("KeyError: '{key}'"));
    let ts = outer.get("timestamp").ok_or_else(|| key_error("timestamp"))?;
    let event_type = outer.get("event_type").ok_or_else(|| key_error("event_type"))?;
    let invalid = |reason: String| SensorError::Invalid {
        resource_id: resource_id.clone(),
        reason,
    };
    let reading = sensor
        .get("Sensor Reading")
        .ok_or_else(|| invalid("missing 'Sensor Reading' in payload".into()))?;
    if reading.as_str() == Some("Disabled") {
        return Ok(None);
    }
    let reading = reading
        .as_str()
        .ok_or_else(|| SensorError::Raise(py::attribute_error(reading, "split")))?;
    let (volume, unit) = parse_reading(reading)
        .ok_or_else(|| invalid(format!("unable to parse sensor reading: {reading}")))?;
    // `Sample.from_notification(timestamp=...)` falls back to the message's `metadata`, which
    // the sensor's message has none of.
    if !py::truthy(ts) {
        return Err(key_error("metadata"));
    }
    let ts = ts
        .as_str()
        .ok_or_else(|| SensorError::Raise(format!("ValueError: {}", py::repr::str_of(ts))))?;
    let ts = datetime::parse(ts).map_err(|e| SensorError::Raise(e.to_string()))?;
    let field = |v: Option<&Value<'_>>| v.map_or(OwnedValue::null(), |v| crate::model::to_owned(v));
    // The sensor's readings, plus `node`, `event_type` (the inner one) and `host`.
    let mut metadata = crate::model::to_owned(sensor);
    if let Some(md) = metadata.as_object_mut() {
        md.insert("node".into(), field(Some(node)));
        md.insert("event_type".into(), field(Some(event_type)));
        md.insert("host".into(), field(n.root.get("publisher_id")));
    }
    Ok(Some(Sample {
        name: name.clone(),
        sample_type: Arc::from("gauge"),
        unit: Arc::from(unit),
        volume: OwnedValue::from(volume),
        user_id: field(outer.get("user_id")),
        user_name: OwnedValue::null(),
        project_id: field(outer.get("project_id")),
        project_name: OwnedValue::null(),
        resource_id: OwnedValue::from(resource_id),
        timestamp: OwnedValue::from(ts.isoformat()),
        resource_metadata: Arc::new(metadata),
        source: super::default_source(),
        id: super::new_sample_id(),
        monotonic_time: OwnedValue::null(),
    }))
}

/// Ceilometer's `transform_id`: a sensor id as a resource id's part (lower case, spaces as `_`).
pub(crate) fn transform_id(sensor_id: &str) -> String {
    sensor_id.to_lowercase().replace(' ', "_")
}

/// `"22 (+/- 1) degrees C"` → `(22.0, "C")`: the first word is the value, the last the unit,
/// with Watts and Volts abbreviated.
pub(crate) fn parse_reading(reading: &str) -> Option<(f64, &str)> {
    let (volume, rest) = reading.split_once(' ')?;
    let unit = rest.rsplit(' ').next().unwrap_or(rest);
    let unit = match unit {
        "Watts" => "W",
        "Volts" => "V",
        other => other,
    };
    Some((crate::model::py::float_of_str(volume)?, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_parse_value_and_last_word_unit() {
        assert_eq!(parse_reading("22 (+/- 1) degrees C"), Some((22.0, "C")));
        assert_eq!(parse_reading("0.60 (+/- 0) Amps"), Some((0.6, "Amps")));
        assert_eq!(parse_reading("182 (+/- 0) Watts"), Some((182.0, "W")));
        assert_eq!(parse_reading("3.12 (+/- 0) Volts"), Some((3.12, "V")));
        assert_eq!(parse_reading("garbage"), None);
        assert_eq!(parse_reading("x RPM"), None);
    }
}
