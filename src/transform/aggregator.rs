//! `aggregator`: merges samples of the same meter and resource (and, unless they are given a
//! merge policy, user and project) into one, released when `size` samples have come in
//! (counted over all keys), when the first held sample is older than `retention_time`
//! seconds, or on shutdown.
//!
//! Volumes add up; a cumulative meter keeps its latest volume instead; a gauge leaves as the
//! average. `user_id`/`project_id` set to `first` or `last` merge that field instead of
//! grouping by it; `resource_metadata` is `last` (default), `first` or `drop`; `timestamp`
//! is `first` (default) or `last`. The `target` conversion applies to every sample, as it did
//! in Ceilometer. It does not reorder: aggregates leave in the order their keys first appeared.

use std::collections::HashMap;

use serde::Deserialize;

use super::cache::push_id;
use super::expr::EvalError;
use super::unit_conversion::{Conversion, SourceParams, TargetParams};
use super::{sample_time, state_limit, Stats, TransformError, Transformer};
use crate::model::py::datetime::Timestamp;
use crate::model::py::Num;
use crate::model::{OwnedValue, Sample};
use simd_json::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Release after this many samples (all keys together).
    pub size: Option<yaml_serde::Value>,
    /// Release when the first held sample's timestamp is this many seconds old.
    pub retention_time: Option<yaml_serde::Value>,
    /// `first`/`last` merges the field; absent groups by it.
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    /// `last` (default), `first` or `drop`.
    pub resource_metadata: Option<String>,
    /// `first` (default) or `last`.
    pub timestamp: Option<String>,
    #[serde(default)]
    pub source: SourceParams,
    #[serde(default)]
    pub target: TargetParams,
    /// ceilo: most keys held; reaching it releases everything early (counted), losing nothing.
    pub state_limit: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    First,
    Last,
    Drop,
}

fn policy(
    field: &str,
    value: Option<&str>,
    default: Option<Policy>,
    droppable: bool,
) -> Result<Option<Policy>, TransformError> {
    match value {
        None => Ok(default),
        Some("first") => Ok(Some(Policy::First)),
        Some("last") => Ok(Some(Policy::Last)),
        Some("drop") if droppable => Ok(Some(Policy::Drop)),
        Some(other) => Err(TransformError::param(
            field,
            format!(
                "{other:?} is not one of first, last{}",
                if droppable { ", drop" } else { "" }
            ),
        )),
    }
}

fn positive(v: Option<&yaml_serde::Value>, what: &str) -> Result<Option<f64>, TransformError> {
    match v {
        None | Some(yaml_serde::Value::Null) => Ok(None),
        Some(v) => {
            let n = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| TransformError::param(what, "must be a number"))?;
            if n < 0.0 || !n.is_finite() {
                return Err(TransformError::param(what, "must not be negative"));
            }
            // Python's `if size` / `if retention_time`: 0 means unset.
            Ok((n > 0.0).then_some(n))
        }
    }
}

struct Entry {
    sample: Sample,
    volume: Num,
    count: u64,
}

pub struct Aggregator {
    conv: Conversion,
    size: Option<u64>,
    retention: Option<f64>,
    user_id: Option<Policy>,
    project_id: Option<Policy>,
    metadata: Policy,
    timestamp_last: bool,
    limit: usize,
    index: HashMap<String, usize>,
    entries: Vec<Entry>,
    initial: Option<Timestamp>,
    aggregated: u64,
    key: String,
    stats: Stats,
}

impl Aggregator {
    pub fn new(params: Params) -> Result<Aggregator, TransformError> {
        if params.target.expr.is_some() {
            return Err(TransformError::param(
                "target.expr",
                "only arithmetic takes an expr",
            ));
        }
        let size = positive(params.size.as_ref(), "size")?.map(|n| n as u64);
        let retention = positive(params.retention_time.as_ref(), "retention_time")?;
        if retention.is_some_and(|r| crate::duration::seconds(r).is_none()) {
            return Err(TransformError::param(
                "retention_time",
                format!("must be {}", crate::duration::EXPECTED),
            ));
        }
        // Ceilometer defaulted size to 1 even beside a retention_time, which made retention
        // unreachable; ceilo applies the default only when neither bound is given.
        let size = if size.is_none() && retention.is_none() {
            Some(1)
        } else {
            size
        };
        let metadata = policy(
            "resource_metadata",
            params.resource_metadata.as_deref(),
            Some(Policy::Last),
            true,
        )?;
        let timestamp = policy(
            "timestamp",
            params.timestamp.as_deref(),
            Some(Policy::First),
            false,
        )?;
        Ok(Aggregator {
            conv: Conversion::new(&params.source, &params.target)?,
            size,
            retention,
            user_id: policy("user_id", params.user_id.as_deref(), None, false)?,
            project_id: policy("project_id", params.project_id.as_deref(), None, false)?,
            metadata: metadata.unwrap_or(Policy::Last),
            timestamp_last: timestamp == Some(Policy::Last),
            limit: state_limit(params.state_limit)?,
            index: HashMap::new(),
            entries: Vec::new(),
            initial: None,
            aggregated: 0,
            key: String::new(),
            stats: Stats::default(),
        })
    }

    fn make_key(&mut self, s: &Sample) {
        self.key.clear();
        self.key.push_str(&s.name);
        self.key.push('\u{1f}');
        push_id(&mut self.key, &s.resource_id);
        if self.project_id.is_none() {
            self.key.push('\u{1f}');
            push_id(&mut self.key, &s.project_id);
        }
        if self.user_id.is_none() {
            self.key.push('\u{1f}');
            push_id(&mut self.key, &s.user_id);
        }
    }

    fn handle(&mut self, s: Sample, out: &mut Vec<Sample>) -> Result<(), EvalError> {
        let scaled = self.conv.scaled(&s)?;
        let time = sample_time(&s)?;
        if self.initial.is_none() {
            self.initial = Some(time);
        }
        self.make_key(&s);
        if let Some(&i) = self.index.get(self.key.as_str()) {
            self.aggregated += 1;
            let e = &mut self.entries[i];
            e.count += 1;
            if self.timestamp_last {
                e.sample.timestamp = s.timestamp.clone();
            }
            e.volume = if &*s.sample_type == "cumulative" {
                scaled
            } else {
                e.volume + scaled
            };
            if self.metadata == Policy::Last {
                e.sample.resource_metadata = s.resource_metadata;
            }
            if self.user_id == Some(Policy::Last) {
                e.sample.user_id = s.user_id;
            }
            if self.project_id == Some(Policy::Last) {
                e.sample.project_id = s.project_id;
            }
            return Ok(());
        }
        if self.entries.len() >= self.limit {
            // Bounded state: release what is held rather than evict (which would lose samples).
            self.stats.early_flushes += 1;
            out.extend(self.release());
            self.initial = Some(time);
            self.make_key(&s);
        }
        let key = self.key.clone();
        let mut sample = self.conv.convert(s, Some(Num::Int(1)))?;
        let volume = Num::of_owned(&sample.volume).unwrap_or(scaled);
        if self.metadata == Policy::Drop {
            sample.resource_metadata = std::sync::Arc::new(OwnedValue::object());
        }
        self.aggregated += 1;
        self.index.insert(key, self.entries.len());
        self.entries.push(Entry {
            sample,
            volume,
            count: 1,
        });
        Ok(())
    }

    fn release(&mut self) -> Vec<Sample> {
        self.index.clear();
        self.aggregated = 0;
        self.initial = None;
        let mut out = Vec::with_capacity(self.entries.len());
        for mut e in self.entries.drain(..) {
            let v = if &*e.sample.sample_type == "gauge" {
                // Gauge aggregates are averages.
                e.volume.truediv(Num::Int(e.count as i128)).unwrap_or(e.volume)
            } else {
                e.volume
            };
            e.sample.volume = v.to_owned_value();
            out.push(e.sample);
        }
        out
    }
}

impl Transformer for Aggregator {
    fn kind(&self) -> &'static str {
        "aggregator"
    }

    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample> {
        let mut out = Vec::new();
        for s in batch {
            if let Err(e) = self.handle(s, &mut out) {
                self.stats.errors += 1;
                tracing::debug!(error = %e, "aggregator: sample dropped");
            }
        }
        out
    }

    fn flush(&mut self, now: &Timestamp, force: bool) -> Vec<Sample> {
        let Some(initial) = self.initial else {
            return Vec::new();
        };
        let full = self.size.is_some_and(|size| self.aggregated >= size);
        let expired = self.retention.is_some_and(|r| now.seconds_since(&initial) > r);
        if force || full || expired {
            self.release()
        } else {
            Vec::new()
        }
    }

    fn needs_affinity(&self) -> bool {
        true
    }

    fn retention(&self) -> Option<f64> {
        self.retention
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
