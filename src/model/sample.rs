//! A sample, as Ceilometer's `ceilometer.sample.Sample` holds it.

use std::sync::Arc;

use super::OwnedValue;

/// A sample's `resource_metadata` (a dict, by Ceilometer's convention).
pub type Metadata = Arc<OwnedValue>;

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
