//! `hardware.ipmi.*`: sensor readings that ironic sends (Ceilometer's four IPMI sensor
//! endpoints: Temperature, Current, Fan, Voltage). The notification's payload is itself a
//! notification whose `payload` maps a sensor category to `{sensor: readings}`; each readable
//! sensor becomes a gauge named `hardware.ipmi.<category>` with the reading's unit.

use std::sync::Arc;

use simd_json::prelude::*;

use super::EndpointError;
use crate::model::{py::datetime, Notification, OwnedValue, Sample, Value};

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

fn category_samples(
    n: &Notification<'_>,
    category: &str,
    out: &mut Vec<Sample>,
) -> Result<(), EndpointError> {
    let Some(outer) = n.payload() else { return Ok(()) };
    let Some(sensors) = outer
        .get("payload")
        .and_then(|p| p.get(category))
        .and_then(|c| c.as_object())
    else {
        return Ok(());
    };
    let name: Arc<str> = Arc::from(format!("hardware.ipmi.{}", category.to_ascii_lowercase()));
    for sensor in sensors.values() {
        if category == "Current" && is_power_consumption(sensor) {
            continue;
        }
        match sensor_sample(n, outer, sensor, &name) {
            Ok(Some(sample)) => out.push(sample),
            Ok(None) => {}
            Err(SensorError::Invalid { resource_id, reason }) => {
                tracing::warn!("invalid sensor data for {resource_id}: {reason}");
            }
            Err(SensorError::Raise(reason)) => return Err(EndpointError::new(n, reason)),
        }
    }
    Ok(())
}

/// The Current endpoint leaves power consumption to the (absent) Power endpoint.
fn is_power_consumption(sensor: &Value<'_>) -> bool {
    sensor
        .get_str("Sensor ID")
        .is_some_and(|id| id.contains("Pwr Consumption"))
}

enum SensorError {
    /// Logged and skipped (Ceilometer's `InvalidSensorData`).
    Invalid { resource_id: String, reason: String },
    /// Anything else Ceilometer does not catch.
    Raise(String),
}

fn sensor_sample(
    n: &Notification<'_>,
    outer: &Value<'_>,
    sensor: &Value<'_>,
    name: &Arc<str>,
) -> Result<Option<Sample>, SensorError> {
    let node = outer.get("node_uuid");
    let sensor_id = sensor.get("Sensor ID");
    let resource_id = match (node, sensor_id) {
        (Some(node), Some(id)) => format!("{}-{}", text(node), text(id).to_lowercase().replace(' ', "_")),
        (None, _) => {
            return Err(SensorError::Invalid {
                resource_id: "missing id".into(),
                reason: "missing key in payload: 'node_uuid'".into(),
            })
        }
        (_, None) => {
            return Err(SensorError::Invalid {
                resource_id: "missing id".into(),
                reason: "missing key in payload: 'Sensor ID'".into(),
            })
        }
    };
    let invalid = |reason: String| SensorError::Invalid {
        resource_id: resource_id.clone(),
        reason,
    };
    let reading = sensor
        .get("Sensor Reading")
        .ok_or_else(|| invalid("missing 'Sensor Reading' in payload".into()))?;
    let reading = reading.as_str().unwrap_or_default();
    if reading == "Disabled" {
        return Ok(None);
    }
    let (volume, unit) = parse_reading(reading)
        .ok_or_else(|| invalid(format!("unable to parse sensor reading: {reading}")))?;
    let ts = outer
        .get("timestamp")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    let ts = datetime::parse(ts).map_err(|e| SensorError::Raise(e.to_string()))?;
    let field = |v: Option<&Value<'_>>| v.map_or(OwnedValue::null(), |v| crate::model::to_owned(v));
    // The sensor's readings, plus `node`, `event_type` (the inner one) and `host`.
    let mut metadata = crate::model::to_owned(sensor);
    if let Some(md) = metadata.as_object_mut() {
        md.insert("node".into(), field(node));
        md.insert("event_type".into(), field(outer.get("event_type")));
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

/// `"22 (+/- 1) degrees C"` → `(22.0, "C")`: the first word is the value, the last the unit,
/// with Watts and Volts abbreviated.
fn parse_reading(reading: &str) -> Option<(f64, &str)> {
    let (volume, rest) = reading.split_once(' ')?;
    let unit = rest.rsplit(' ').next().unwrap_or(rest);
    let unit = match unit {
        "Watts" => "W",
        "Volts" => "V",
        other => other,
    };
    Some((crate::model::py::float_of_str(volume)?, unit))
}

fn text(v: &Value<'_>) -> String {
    v.as_str().map_or_else(|| v.encode(), str::to_owned)
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
