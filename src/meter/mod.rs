//! Notification → samples: every sample endpoint Ceilometer's notification agent runs on a
//! message, in its order: telemetry.polling batches (`telemetry_ipc`), IPMI sensors
//! (`ipmi`), the HTTP middleware (`http`) and the meters.yaml definitions
//! ([`definitions`]). It does not filter volumes or route to sinks: that is the pipeline's job
//! (see [`volume`] for the check it applies).

pub mod definition;
pub mod definitions;
mod dispatch;
pub(crate) mod field;
mod http;
pub(crate) mod ipmi;
pub(crate) mod telemetry_ipc;
pub mod user_metadata;
pub mod volume;

use std::sync::{Arc, OnceLock};

use simd_json::prelude::*;

use crate::model::meter_message::message_len_by;
use crate::model::output_size::OutputBudget;
use crate::model::{Metadata, Notification, Priority, Sample, Value};
pub use definitions::{yaml_files, MeterDefinitions};
pub use user_metadata::ReservedMetadata;

/// A Ceilometer endpoint raised on this notification: oslo would requeue it forever; ceilo
/// dead-letters it with this reason and produces nothing from it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{event_type}: {reason}")]
pub struct EndpointError {
    pub event_type: String,
    pub reason: String,
}

impl EndpointError {
    pub fn new(n: &Notification<'_>, reason: String) -> EndpointError {
        Self::from_root(&n.root, reason)
    }

    pub fn from_root(root: &Value<'_>, reason: String) -> EndpointError {
        use simd_json::prelude::*;
        EndpointError {
            event_type: root.get_str("event_type").unwrap_or("<none>").to_owned(),
            reason,
        }
    }
}

/// Python's `None`, for a key a message lacks.
const NONE: Value<'static> = Value::Static(simd_json::StaticNode::Null);

/// All sample endpoints, ready to run.
pub struct SampleEndpoints {
    meters: MeterDefinitions,
    ipc_filter: fancy_regex::Regex,
    ipmi_filter: fancy_regex::Regex,
    http_filters: [fancy_regex::Regex; 2],
    /// Which built-in endpoints accept an event type.
    dispatch: dispatch::DispatchCache<BuiltIns>,
}

/// The built-in endpoints whose filter accepts an event type.
#[derive(Debug, Clone, Copy)]
struct BuiltIns {
    ipc: bool,
    ipmi: bool,
    /// HTTPRequest and HTTPResponse are two endpoints; an event type could pass both.
    http: u8,
}

impl SampleEndpoints {
    pub fn new(meters: MeterDefinitions) -> SampleEndpoints {
        let filter = |p: &str| {
            fancy_regex::Regex::new(&format!("^(?:{p})"))
                .unwrap_or_else(|e| panic!("built-in filter {p}: {e}"))
        };
        SampleEndpoints {
            meters,
            ipc_filter: filter(telemetry_ipc::EVENT_TYPE),
            ipmi_filter: filter(ipmi::EVENT_TYPE),
            http_filters: http::EVENT_TYPES.map(filter),
            dispatch: dispatch::DispatchCache::new(dispatch::DEFAULT_LIMIT),
        }
    }

    pub fn meters(&self) -> &MeterDefinitions {
        &self.meters
    }

    /// The `reserved_metadata_*` options the meter definitions' `user_metadata` follows.
    pub fn with_reserved_metadata(mut self, reserved: ReservedMetadata) -> SampleEndpoints {
        self.meters = self.meters.with_reserved_metadata(reserved);
        self
    }

    /// What the sample endpoints leave written in the notification they read, applied to the
    /// raw copy an event of it stores: the IPMI endpoints' `node` in each sensor.
    pub fn mark_raw(&self, n: &Notification<'_>, raw: &mut crate::model::OwnedValue) {
        let kept = raw.as_object().is_some_and(|o| !o.is_empty());
        if !kept || !matches!(n.priority, Priority::Info | Priority::Sample) {
            return;
        }
        let Some(event_type) = n.event_type() else { return };
        if self.built_ins(event_type).ipmi {
            ipmi::mark_read_sensors(raw);
        }
    }

    /// Which built-in endpoints' filters accept `event_type` (remembered per event type).
    fn built_ins(&self, event_type: &str) -> BuiltIns {
        self.dispatch.get_or_compute(event_type, |event_type| {
            let matches = |re: &fancy_regex::Regex| re.is_match(event_type).unwrap_or(false);
            BuiltIns {
                ipc: matches(&self.ipc_filter),
                ipmi: matches(&self.ipmi_filter),
                http: self.http_filters.iter().filter(|re| matches(re)).count() as u8,
            }
        })
    }

    /// Append the samples of `n` to `out`. Only `info` and `sample` notifications have sample
    /// endpoints. On error, `out` is left as it was. The samples are charged to `budget`; once
    /// it is over, no more endpoints run (the caller refuses the notification).
    pub fn to_samples(
        &self,
        n: &Notification<'_>,
        out: &mut Vec<Sample>,
        budget: &mut OutputBudget,
    ) -> Result<(), EndpointError> {
        if !matches!(n.priority, Priority::Info | Priority::Sample) {
            return Ok(());
        }
        // oslo's filters pass only string event types; the meter endpoint, which has none,
        // matches every definition's regex against whatever the event type is, and raises.
        let Some(event_type) = n.event_type() else {
            if self.meters.is_empty() {
                return Ok(());
            }
            let found = n.root.get("event_type").unwrap_or(&NONE);
            return Err(EndpointError::new(
                n,
                format!(
                    "TypeError: expected string or bytes-like object, got '{}'",
                    crate::model::py::type_name(found)
                ),
            ));
        };
        let built_ins = self.built_ins(event_type);
        let start = out.len();
        let result = (|| {
            // The built-in endpoints make a sample per part of the message (no list makes
            // copies of anything): charged when they are done.
            if built_ins.ipc {
                telemetry_ipc::to_samples(n, out)?;
            }
            if built_ins.ipmi {
                ipmi::to_samples(n, out)?;
            }
            for _ in 0..built_ins.http {
                http::to_samples(n, out)?;
            }
            charge(&out[start..], budget);
            if budget.exceeded() {
                return Ok(());
            }
            self.meters.to_samples(event_type, n, out, budget)
        })();
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// Charge `samples` to `budget`, counting a `resource_metadata` shared by consecutive samples
/// once.
pub(crate) fn charge(samples: &[Sample], budget: &mut OutputBudget) {
    let measure = budget.measure();
    let mut last: Option<(&Metadata, usize)> = None;
    for s in samples {
        let metadata_len = match last {
            Some((m, len)) if Arc::ptr_eq(m, &s.resource_metadata) => len,
            _ => measure.value_len(&*s.resource_metadata),
        };
        last = Some((&s.resource_metadata, metadata_len));
        budget.charge(message_len_by(s, metadata_len, measure));
    }
}

/// A found meter name as Ceilometer's pipeline takes it: its meter filter (`fnmatch`) raises on
/// any name that is not a string, which makes the endpoint raise.
pub(crate) fn meter_name(v: &Value<'_>) -> Result<Arc<str>, String> {
    v.as_str().map(Arc::from).ok_or_else(|| {
        format!(
            "TypeError: expected str, bytes or os.PathLike object, not {}",
            crate::model::py::type_name(v)
        )
    })
}

/// A found sample type as `Sample.__init__` takes it: it raises unless the type is one of
/// Ceilometer's three.
pub(crate) fn sample_type(v: &Value<'_>) -> Result<Arc<str>, String> {
    match v.as_str() {
        Some(t @ ("gauge" | "delta" | "cumulative")) => Ok(Arc::from(t)),
        // Ceilometer's message, its `%s` never filled in.
        _ => Err("ValueError: Unsupported type: %s".into()),
    }
}

/// `[DEFAULT] sample_source`.
pub fn default_source() -> Arc<str> {
    static SOURCE: OnceLock<Arc<str>> = OnceLock::new();
    SOURCE.get_or_init(|| Arc::from("openstack")).clone()
}

/// A fresh uuid1 (what `Sample` gives itself when the input carries no id).
pub fn new_sample_id() -> String {
    static NODE: OnceLock<[u8; 6]> = OnceLock::new();
    let node = NODE.get_or_init(|| {
        let mut n = *uuid::Uuid::new_v4().as_bytes();
        n[0] |= 0x01; // multicast bit: a random node id, as RFC 4122 asks
        [n[0], n[1], n[2], n[3], n[4], n[5]]
    });
    // encode_lower writes the text straight; to_string() went through the formatter.
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::now_v1(node)
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}
