//! What every pollster family shares: meter specs, the per-poll context, the error kinds
//! (transient vs permanent, as Ceilometer's `PollsterPermanentError`) and the one place a
//! polled value becomes a [`Sample`].
//!
//! The families ([`super::host`], [`super::libvirt`], [`super::fleet`], [`super::dynamic`])
//! use this module; it uses none of them. Their registry, the [`super::Pollster`] enum, is one
//! level up in `polling/mod.rs`.

use std::sync::Arc;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{Metadata, OwnedValue, Sample};

/// A meter a pollster can produce.
#[derive(Debug, Clone)]
pub struct MeterSpec {
    pub name: Arc<str>,
    /// `gauge`, `delta` or `cumulative`.
    pub sample_type: Arc<str>,
    pub unit: Arc<str>,
}

impl MeterSpec {
    pub fn new(name: &str, sample_type: &str, unit: &str) -> Self {
        Self {
            name: name.into(),
            sample_type: sample_type.into(),
            unit: unit.into(),
        }
    }
}

/// Why a pollster could not poll a resource.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Try again next cycle (I/O hiccup, HTTP 503, timeout, ...).
    #[error("{0}")]
    Transient(String),
    /// This resource will never work for this pollster: it is not polled again by it.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl PollError {
    /// `pollster` was given a resource (of `key`) that its `discoverer` does not list: it will
    /// never poll it.
    pub fn not_listed(pollster: &str, discoverer: &str, key: impl std::fmt::Debug) -> PollError {
        PollError::Permanent(format!(
            "{pollster} polls what the {discoverer} discoverer lists, not {key:?}"
        ))
    }
}

/// The meters of `meters` that `mask` selects (one flag per meter), with their places.
pub fn selected<'a>(
    meters: &'a [MeterSpec],
    mask: &'a [bool],
) -> impl Iterator<Item = (usize, &'a MeterSpec)> + 'a {
    meters
        .iter()
        .zip(mask)
        .enumerate()
        .filter(|(_, (_, on))| **on)
        .map(|(at, (meter, _))| (at, meter))
}

/// What is fixed for one poll of one source.
pub struct PollContext {
    pub source: Arc<str>,
    /// The time of the poll as Ceilometer's polling manager stamps every polled sample
    /// (`timeutils.utcnow().isoformat()`: naive UTC, no zone), see [`isotime`].
    pub timestamp: OwnedValue,
    /// Wall-clock seconds since the epoch (drives the simulated fleet's counters).
    pub wall_secs: f64,
    /// What the pollsters of one poll share (Ceilometer's per-cycle `cache`).
    pub cycle: CycleCache,
}

/// Read once per poll, shared by every resource and pollster of it: one slot per type, so a
/// family keeps what it reads per cycle (libvirt: the bulk statistics of every domain) in a
/// type of its own, and this module names no family.
#[derive(Default)]
pub struct CycleCache {
    slots: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl CycleCache {
    /// The cycle's `T`, created (empty) by the first caller.
    pub fn slot<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        drop(slots);
        // The entry under T's TypeId was made as a T just above.
        slot.downcast::<T>().unwrap_or_else(|_| Arc::new(T::default()))
    }
}

impl PollContext {
    pub fn now(source: Arc<str>) -> Self {
        let now = chrono::Utc::now();
        Self {
            source,
            timestamp: OwnedValue::from(isotime(now)),
            wall_secs: now.timestamp_micros() as f64 / 1e6,
            cycle: CycleCache::default(),
        }
    }

    /// [`monotonic_seconds`], now.
    pub fn monotonic(&self) -> f64 {
        monotonic_seconds()
    }

    /// Build a sample with a fresh uuid1 id, as `ceilometer.sample.Sample` does.
    #[allow(clippy::too_many_arguments)]
    pub fn sample(
        &self,
        meter: &MeterSpec,
        volume: OwnedValue,
        user_id: OwnedValue,
        project_id: OwnedValue,
        resource_id: OwnedValue,
        resource_metadata: impl Into<Metadata>,
        monotonic_time: OwnedValue,
    ) -> Sample {
        Sample {
            name: meter.name.clone(),
            sample_type: meter.sample_type.clone(),
            unit: meter.unit.clone(),
            volume,
            user_id,
            user_name: OwnedValue::null(),
            project_id,
            project_name: OwnedValue::null(),
            resource_id,
            timestamp: self.timestamp.clone(),
            resource_metadata: resource_metadata.into(),
            source: self.source.clone(),
            id: crate::meter::new_sample_id(),
            monotonic_time,
        }
    }
}

trait NullExt {
    fn null() -> Self;
}
impl NullExt for OwnedValue {
    fn null() -> Self {
        OwnedValue::Static(simd_json::StaticNode::Null)
    }
}

/// `null`, for optional sample fields.
pub fn null() -> OwnedValue {
    OwnedValue::null()
}

/// A polled sample's timestamp as Ceilometer 27 writes it. `polling/manager.py` stamps every
/// sample of a pollster with `timeutils.utcnow().isoformat()` (`sample.set_timestamp`, which
/// also overrides what compute, central and dynamic pollsters set themselves), and
/// `utcnow()` is a *naive* UTC datetime: `2026-12-03T17:31:20.656367`, no `+00:00`;
/// microseconds left out when zero, as Python's `isoformat()` does.
pub fn isotime(t: chrono::DateTime<chrono::Utc>) -> String {
    crate::model::py::datetime::Timestamp::from_utc(t.naive_utc()).naive_utc_isoformat()
}

/// Python's `time.monotonic()` in seconds, as Ceilometer's compute pollsters stamp
/// `monotonic_time`.
pub fn monotonic_seconds() -> f64 {
    crate::model::py::time::monotonic().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_gives_the_flagged_meters_with_their_places_and_ignores_flags_past_them() {
        let meters = [
            MeterSpec::new("a", "gauge", "B"),
            MeterSpec::new("b", "gauge", "B"),
            MeterSpec::new("c", "gauge", "B"),
        ];
        let names = |mask: &[bool]| -> Vec<(usize, String)> {
            selected(&meters, mask)
                .map(|(at, m)| (at, m.name.to_string()))
                .collect()
        };
        assert_eq!(names(&[false, true, true]), [(1, "b".into()), (2, "c".into())]);
        assert_eq!(names(&[true]), [(0, "a".into())], "a short mask selects no more");
        assert_eq!(names(&[false, false, true, true]), [(2, "c".into())]);
    }

    #[test]
    fn isotime_is_the_polling_managers_naive_utc_isoformat() {
        let t = chrono::DateTime::from_timestamp(1_741_945_500, 123_456_000).unwrap();
        assert_eq!(isotime(t), "2025-03-14T09:45:00.123456");
        let t = chrono::DateTime::from_timestamp(1_741_945_500, 0).unwrap();
        assert_eq!(isotime(t), "2025-03-14T09:45:00");
    }

    #[test]
    fn cycle_cache_keeps_one_slot_per_type() {
        let cache = CycleCache::default();
        let a = cache.slot::<Mutex<Vec<u8>>>();
        a.lock().unwrap().push(1);
        assert_eq!(*cache.slot::<Mutex<Vec<u8>>>().lock().unwrap(), [1]);
        assert!(cache.slot::<Mutex<Vec<u16>>>().lock().unwrap().is_empty());
        assert!(CycleCache::default()
            .slot::<Mutex<Vec<u8>>>()
            .lock()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn sample_ids_are_uuid1_and_unique() {
        let a = crate::meter::new_sample_id();
        let b = crate::meter::new_sample_id();
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 1);
    }
}
