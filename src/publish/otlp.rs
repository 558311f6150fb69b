//! `opentelemetryhttp://host:port/v1/metrics`: samples as OTLP/HTTP metrics, JSON encoded as
//! the OTLP specification defines it (`Content-Type: application/json`, lowerCamelCase field
//! names, 64-bit integers as decimal strings, enums as numbers), one request per flush.
//!
//! The content is Ceilometer 27's `OpentelemetryHttpPublisher`'s: one metric per meter name,
//! type and unit, named with `.` as `_`, `unit`, description `"<name> unit:<unit>"`; data
//! points with the attributes `resource_id`, `user_id`, `project_id` (Python's `str()` of
//! each), the volume as `asDouble`, start and end time both the sample's timestamp, flags 0;
//! cumulative meters as a monotonic cumulative `sum`, gauge and delta as a `gauge`; scope
//! `ceilometer` version `v1`. What differs, because Ceilometer's JSON is not OTLP (a strict
//! OTLP decoder refuses it, a lenient one drops its values):
//! * ceilo sends OTLP's names (`resourceMetrics`, `dataPoints`, `timeUnixNano`, `asDouble`,
//!   `stringValue`), not snake_case ones;
//! * a cumulative meter is a `sum` (`aggregationTemporality` 2, `isMonotonic`), not the
//!   `counter` key OTLP does not have;
//! * times are nanoseconds since the epoch of the timestamp's instant (Ceilometer sends whole
//!   seconds, read as local time, in the `*UnixNano` fields);
//! * one request holds a flush (Ceilometer sends one request per sample);
//! * a sample whose volume is not a number is left out, with a warning (OTLP has no place for it).
//!
//! The options and the scheme (`ssl=`) are the `http://` publisher's ([`super::http`]). A flush
//! is durable on a 2xx answer; a request refused for good (400...) is dead-lettered. Samples only (Ceilometer's publisher raises for events).

use std::sync::Arc;

use bytes::Bytes;
use simd_json::prelude::*;

use super::dead_letter::DeadLetters;
use super::http::{post_all, HttpSender, HttpSetupError, Refusals};
use super::url::HttpTarget;
use super::{Items, Output, PublishError, Write};
use crate::model::json_write::{write_f64, write_str};
use crate::model::py::datetime;
use crate::model::py::repr::py_str;
use crate::model::{OwnedValue, Sample};

/// The sample's volume as a double, if it is a number (or a numeric string).
fn volume(sample: &Sample) -> Option<f64> {
    match &sample.volume {
        OwnedValue::String(s) => s.trim().parse().ok(),
        OwnedValue::Static(simd_json::StaticNode::Bool(_)) => None,
        v => v.as_f64().or_else(|| v.cast_f64()),
    }
}

/// Nanoseconds since the epoch of the sample's timestamp.
fn unix_nanos(sample: &Sample) -> Option<i64> {
    let text = sample.timestamp.as_str()?;
    let utc = datetime::parse(text).ok()?.utc().and_utc();
    utc.timestamp_nanos_opt()
}

/// One metric of a request: its samples' data points.
struct Metric<'s> {
    name: &'s str,
    sample_type: &'s str,
    unit: &'s str,
    points: Vec<(&'s Sample, f64, i64)>,
}

fn write_attribute(out: &mut Vec<u8>, key: &str, value: &OwnedValue) {
    out.extend_from_slice(b"{\"key\": ");
    write_str(out, key);
    out.extend_from_slice(b", \"value\": {\"stringValue\": ");
    let mut text = Vec::new();
    py_str(&mut text, value);
    write_str(out, &String::from_utf8_lossy(&text));
    out.extend_from_slice(b"}}");
}

fn write_point(out: &mut Vec<u8>, s: &Sample, volume: f64, nanos: i64) {
    out.extend_from_slice(b"{\"attributes\": [");
    write_attribute(out, "resource_id", &s.resource_id);
    out.extend_from_slice(b", ");
    write_attribute(out, "user_id", &s.user_id);
    out.extend_from_slice(b", ");
    write_attribute(out, "project_id", &s.project_id);
    out.extend_from_slice(
        format!("], \"startTimeUnixNano\": \"{nanos}\", \"timeUnixNano\": \"{nanos}\"").as_bytes(),
    );
    out.extend_from_slice(b", \"asDouble\": ");
    if volume.is_finite() {
        write_f64(out, volume);
    } else {
        // OTLP JSON writes the non-finite doubles as strings.
        let text = if volume.is_nan() {
            "NaN"
        } else if volume > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        write_str(out, text);
    }
    out.extend_from_slice(b", \"flags\": 0}");
}

/// The OTLP JSON `ExportMetricsServiceRequest` of `samples` (`None` when none is sendable).
pub fn encode(samples: &[Sample]) -> Option<Vec<u8>> {
    let mut metrics: Vec<Metric<'_>> = Vec::new();
    for s in samples {
        let (Some(v), Some(nanos)) = (volume(s), unix_nanos(s)) else {
            tracing::warn!(meter = %s.name, volume = ?s.volume, timestamp = ?s.timestamp,
                "a sample without a numeric volume or a timestamp cannot be sent as OTLP: left out");
            continue;
        };
        let found = metrics
            .iter_mut()
            .find(|m| m.name == &*s.name && m.sample_type == &*s.sample_type && m.unit == &*s.unit);
        match found {
            Some(m) => m.points.push((s, v, nanos)),
            None => metrics.push(Metric {
                name: &s.name,
                sample_type: &s.sample_type,
                unit: &s.unit,
                points: vec![(s, v, nanos)],
            }),
        }
    }
    if metrics.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(256 + samples.len() * 300);
    out.extend_from_slice(
        b"{\"resourceMetrics\": [{\"resource\": {}, \"scopeMetrics\": [{\"scope\": {\"name\": \"ceilometer\", \"version\": \"v1\"}, \"metrics\": [",
    );
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"{\"name\": ");
        write_str(&mut out, &m.name.replace('.', "_"));
        out.extend_from_slice(b", \"description\": ");
        write_str(&mut out, &format!("{} unit:{}", m.name, m.unit));
        out.extend_from_slice(b", \"unit\": ");
        write_str(&mut out, m.unit);
        let cumulative = m.sample_type == "cumulative";
        out.extend_from_slice(if cumulative {
            b", \"sum\": {\"dataPoints\": ["
        } else {
            b", \"gauge\": {\"dataPoints\": ["
        });
        for (j, (s, v, nanos)) in m.points.iter().enumerate() {
            if j > 0 {
                out.extend_from_slice(b", ");
            }
            write_point(&mut out, s, *v, *nanos);
        }
        out.extend_from_slice(if cumulative {
            // AGGREGATION_TEMPORALITY_CUMULATIVE
            b"], \"aggregationTemporality\": 2, \"isMonotonic\": true}}"
        } else {
            b"]}}"
        });
    }
    out.extend_from_slice(b"]}]}]}");
    Some(out)
}

pub struct OtlpOutput {
    name: String,
    sender: Arc<HttpSender>,
    refusals: Refusals,
}

impl OtlpOutput {
    /// `dead_letters`: where requests the receiver refuses for good (400...) go.
    pub fn new(target: &HttpTarget, dead_letters: Option<DeadLetters>) -> Result<OtlpOutput, HttpSetupError> {
        let sender = HttpSender::new(target, "application/json")?;
        let name = sender.url().to_owned();
        Ok(OtlpOutput {
            refusals: Refusals {
                name: name.clone(),
                scheme: "opentelemetryhttp",
                dead_letters,
            },
            name,
            sender: Arc::new(sender),
        })
    }
}

impl Output for OtlpOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let posts: Arc<[_]> = encode(&flush.samples)
            .map(|body| (None, Bytes::from(body), flush.samples.len()))
            .into_iter()
            .collect();
        Ok(post_all(posts, self.sender.clone(), self.refusals.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::fixtures;

    #[test]
    fn samples_become_otlp_json_metrics() {
        let mut samples = fixtures::samples();
        samples.truncate(4);
        let body = encode(&samples).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let scope = &v["resourceMetrics"][0]["scopeMetrics"][0];
        assert_eq!(scope["scope"]["name"], "ceilometer");
        let metrics = scope["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), 4);
        let cpu = &metrics[0];
        assert_eq!(cpu["name"], "cpu");
        assert_eq!(cpu["description"], "cpu unit:ns");
        assert_eq!(cpu["sum"]["aggregationTemporality"], 2);
        assert_eq!(cpu["sum"]["isMonotonic"], true);
        let point = &cpu["sum"]["dataPoints"][0];
        // 2025-03-14T09:45:00.123456+00:00
        assert_eq!(point["timeUnixNano"], "1741945500123456000");
        assert_eq!(point["startTimeUnixNano"], "1741945500123456000");
        assert_eq!(point["asDouble"], 123456789000.0);
        assert_eq!(point["attributes"][0]["value"]["stringValue"], "r-1");
        assert_eq!(metrics[1]["name"], "memory_usage");
        assert!(metrics[1]["gauge"]["dataPoints"].is_array());
        // delta: a gauge; a null user id is Python's str(None)
        assert_eq!(metrics[2]["name"], "network_incoming_bytes_delta");
        assert_eq!(
            metrics[2]["gauge"]["dataPoints"][0]["attributes"][1]["value"]["stringValue"],
            "None"
        );
        assert_eq!(metrics[3]["sum"]["dataPoints"][0]["asDouble"], 1e16);
    }

    #[test]
    fn samples_of_one_meter_share_a_metric_and_unsendable_ones_are_left_out() {
        let mut samples = fixtures::samples();
        samples.truncate(1);
        let mut second = samples[0].clone();
        second.resource_id = "r-9".into();
        let mut bad = samples[0].clone();
        bad.volume = "n/a".into();
        samples.extend([second, bad]);
        let v: serde_json::Value = serde_json::from_slice(&encode(&samples).unwrap()).unwrap();
        let metrics = v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
            .as_array()
            .unwrap();
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics[0]["sum"]["dataPoints"].as_array().unwrap().len(), 2);
        samples.truncate(0);
        assert!(encode(&samples).is_none());
    }
}
