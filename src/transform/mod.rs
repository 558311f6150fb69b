//! Sink transformers, as Ceilometer had them until Stein: a sink's `transformers:` list,
//! compiled into a [`Chain`] that turns each batch of samples into the batch its publishers get.
//!
//! The pipeline knows only [`Chain`]: build it with [`Chain::from_config`] from a sink's list,
//! call [`Chain::process`] per batch, [`Chain::flush`] on a timer (aggregator retention) and
//! [`Chain::shutdown`] when the agent stops, and route by resource_id when
//! [`Chain::is_stateful`]. Everything here is plain synchronous code; routing samples to the
//! worker or agent that owns their resource is the runtime's job, not this module's.
//! A configuration error names the entry's index and the parameter at fault
//! ([`TransformError`]): the pipeline compiler ([`crate::pipeline`]) turns that into its line.

mod accumulator;
mod aggregator;
mod arithmetic;
mod cache;
mod delta;
pub mod expr;
mod metrics;
mod rate_of_change;
mod unit_conversion;

use std::fmt;

use serde::de::DeserializeOwned;

use crate::model::py::datetime::Timestamp;
use crate::model::Sample;

/// Transformer state bound (keys per transformer) when the sink does not set `state_limit`.
pub const DEFAULT_STATE_LIMIT: usize = 1 << 18;

/// A transformer configuration that cannot be used: which transformer, which parameter, what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct TransformError {
    /// Position in the sink's `transformers:` list.
    pub index: Option<usize>,
    /// The transformer's `name:`.
    pub transformer: Option<String>,
    /// The parameter at fault (`target.scale`, `size`, ...), for locating its line.
    pub param: Option<String>,
    pub problem: String,
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, &self.transformer) {
            (Some(i), Some(n)) => write!(f, "transformers[{i}] ({n}): ")?,
            (Some(i), None) => write!(f, "transformers[{i}]: ")?,
            (None, Some(n)) => write!(f, "{n}: ")?,
            (None, None) => {}
        }
        if let Some(p) = &self.param {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.problem)
    }
}

impl TransformError {
    pub fn param(param: &str, problem: impl fmt::Display) -> TransformError {
        TransformError {
            index: None,
            transformer: None,
            param: Some(param.to_owned()),
            problem: problem.to_string(),
        }
    }

    fn new(problem: impl fmt::Display) -> TransformError {
        TransformError {
            index: None,
            transformer: None,
            param: None,
            problem: problem.to_string(),
        }
    }

    fn at(mut self, index: usize, transformer: Option<&str>) -> TransformError {
        self.index = Some(index);
        if self.transformer.is_none() {
            self.transformer = transformer.map(str::to_owned);
        }
        self
    }
}

/// What a transformer dropped or evicted, cumulative since it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// First sample of a resource: it only primes the cache (rate_of_change, delta).
    pub no_predecessor: u64,
    /// Older than the cached sample of its resource: skipped (rate_of_change, delta).
    pub out_of_order: u64,
    /// Same timestamp and volume as the cached sample: a redelivery, skipped.
    pub duplicates: u64,
    /// Negative delta with `growth_only` (delta).
    pub negative_delta: u64,
    /// A volume or expression Python would have raised on: the sample is dropped.
    pub errors: u64,
    /// Keys evicted from bounded state.
    pub evictions: u64,
    /// Aggregations flushed early because the key bound was reached.
    pub early_flushes: u64,
}

/// One transformer. Batches in, batches out; `flush` emits what state is due.
trait Transformer: Send {
    fn kind(&self) -> &'static str;
    /// Ceilometer's `handle_sample` over a batch, in order.
    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample>;
    /// Ceilometer's `flush`: what is due at `now`; everything held when `force` (shutdown).
    fn flush(&mut self, _now: &Timestamp, _force: bool) -> Vec<Sample> {
        Vec::new()
    }
    /// Whether correctness needs all samples of a resource to pass through this instance.
    fn needs_affinity(&self) -> bool {
        false
    }
    /// The aggregator's `retention_time`, in seconds.
    fn retention(&self) -> Option<f64> {
        None
    }
    fn stats(&self) -> &Stats;
}

/// Run a per-sample step over a batch in order: what it returns is kept; a sample it fails on
/// is dropped (Ceilometer logs and drops it) and counted in the second result.
fn each_sample<E: std::fmt::Display>(
    batch: Vec<Sample>,
    kind: &'static str,
    mut step: impl FnMut(Sample) -> Result<Option<Sample>, E>,
) -> (Vec<Sample>, u64) {
    let mut out = Vec::with_capacity(batch.len());
    let mut errors = 0;
    for s in batch {
        match step(s) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(e) => {
                errors += 1;
                tracing::debug!(error = %e, "{kind}: sample dropped");
            }
        }
    }
    (out, errors)
}

struct Stage {
    transformer: Box<dyn Transformer>,
    metrics: metrics::Handles,
}

/// A sink's transformers, in the order the sink lists them.
pub struct Chain {
    stages: Vec<Stage>,
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.stages.iter().map(|s| s.transformer.kind()))
            .finish()
    }
}

/// The common shape of a transformer entry: `{name: ..., parameters: {...}}`.
fn entry(value: &yaml_serde::Value) -> Result<(String, yaml_serde::Value), TransformError> {
    let map = value
        .as_mapping()
        .ok_or_else(|| TransformError::new("a transformer must be a mapping with name and parameters"))?;
    let mut name = None;
    let mut params = yaml_serde::Value::Null;
    for (k, v) in map {
        match k.as_str() {
            Some("name") => {
                name = Some(
                    v.as_str()
                        .ok_or_else(|| TransformError::param("name", "must be a string"))?,
                )
            }
            Some("parameters") => params = v.clone(),
            _ => {
                return Err(TransformError::new(format!(
                    "unknown key {}: a transformer has name and parameters",
                    yaml_serde::to_string(k).unwrap_or_default().trim()
                )))
            }
        }
    }
    let name = name.ok_or_else(|| TransformError::new("required field name not specified"))?;
    Ok((name.to_owned(), params))
}

/// Parameters of one transformer, typed; unknown parameters are errors (Python's `**kwargs`
/// raised `TypeError` on them, and a typo'd key is better caught by `ceilo check`).
pub(crate) fn params<T: DeserializeOwned + Default>(value: yaml_serde::Value) -> Result<T, TransformError> {
    if value.is_null() {
        return Ok(T::default());
    }
    yaml_serde::from_value(value).map_err(|e| TransformError::new(format!("parameters: {e}")))
}

/// The transformer names ceilo knows (Ceilometer's `ceilometer.transformer` entry points).
pub const TRANSFORMERS: [&str; 6] = [
    "unit_conversion",
    "rate_of_change",
    "delta",
    "accumulator",
    "aggregator",
    "arithmetic",
];

fn build(name: &str, params: yaml_serde::Value) -> Result<Box<dyn Transformer>, TransformError> {
    Ok(match name {
        "unit_conversion" => Box::new(unit_conversion::UnitConversion::new(self::params(params)?)?),
        "rate_of_change" => Box::new(rate_of_change::RateOfChange::new(self::params(params)?)?),
        "delta" => Box::new(delta::Delta::new(self::params(params)?)?),
        "accumulator" => Box::new(accumulator::Accumulator::new(self::params(params)?)?),
        "aggregator" => Box::new(aggregator::Aggregator::new(self::params(params)?)?),
        "arithmetic" => Box::new(arithmetic::Arithmetic::new(self::params(params)?)?),
        other => {
            return Err(TransformError::param(
                "name",
                format!(
                    "unknown transformer {other:?} (known: {})",
                    TRANSFORMERS.join(", ")
                ),
            ))
        }
    })
}

impl Chain {
    /// A chain that passes batches through untouched.
    pub fn empty() -> Chain {
        Chain { stages: Vec::new() }
    }

    /// Compile a sink's `transformers:` list; the first entry that does not compile is the
    /// error.
    pub fn from_config(entries: &[yaml_serde::Value]) -> Result<Chain, TransformError> {
        Self::compile(entries).map_err(|mut problems| problems.swap_remove(0))
    }

    /// [`Chain::from_config`] from the sink's `transformers:` value as loaded (null or absent
    /// means no transformer), with every entry's error, in order.
    pub fn from_value(value: Option<&yaml_serde::Value>) -> Result<Chain, Vec<TransformError>> {
        match value {
            None | Some(yaml_serde::Value::Null) => Ok(Chain::empty()),
            Some(yaml_serde::Value::Sequence(entries)) => Chain::compile(entries),
            Some(_) => Err(vec![TransformError::new("transformers must be a list")]),
        }
    }

    fn compile(entries: &[yaml_serde::Value]) -> Result<Chain, Vec<TransformError>> {
        let mut stages = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        for (i, value) in entries.iter().enumerate() {
            let name = value.get("name").and_then(|n| n.as_str());
            match entry(value).and_then(|(kind, params)| build(&kind, params)) {
                Ok(transformer) => stages.push(Stage {
                    metrics: metrics::Handles::new(transformer.kind()),
                    transformer,
                }),
                Err(e) => problems.push(e.at(i, name)),
            }
        }
        if problems.is_empty() {
            Ok(Chain { stages })
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// True when a transformer keeps per-resource state (rate_of_change, delta, arithmetic,
    /// aggregator): the runtime must then send every sample of a resource to this same chain.
    pub fn is_stateful(&self) -> bool {
        self.stages.iter().any(|s| s.transformer.needs_affinity())
    }

    /// The shortest aggregator `retention_time`: how often the runtime should call
    /// [`Chain::flush`] (None: only batches and shutdown flush).
    pub fn flush_interval(&self) -> Option<std::time::Duration> {
        self.stages
            .iter()
            .filter_map(|s| s.transformer.retention())
            .min_by(f64::total_cmp)
            .map(|secs| std::time::Duration::from_secs_f64(secs.max(0.001)))
    }

    /// Run a batch through every transformer, then flush each in turn into the next, as
    /// Ceilometer's sink did after each batch. `now` is the wall clock (retention).
    pub fn process(&mut self, batch: Vec<Sample>, now: &Timestamp) -> Vec<Sample> {
        self.run(batch, now, false)
    }

    /// Emit what is due at `now` (aggregator retention), passing it through later stages.
    pub fn flush(&mut self, now: &Timestamp) -> Vec<Sample> {
        self.run(Vec::new(), now, false)
    }

    /// Emit everything held (aggregator and accumulator batches) before the agent exits.
    /// Rate and delta caches hold no sample, only the previous value; arithmetic sets that
    /// miss a meter cannot be computed and are dropped (counted as errors).
    pub fn shutdown(&mut self, now: &Timestamp) -> Vec<Sample> {
        self.run(Vec::new(), now, true)
    }

    fn run(&mut self, mut samples: Vec<Sample>, now: &Timestamp, force: bool) -> Vec<Sample> {
        for stage in &mut self.stages {
            if !samples.is_empty() {
                samples = stage.transformer.handle_batch(samples);
            }
            let flushed = stage.transformer.flush(now, force);
            if samples.is_empty() {
                samples = flushed;
            } else {
                samples.extend(flushed);
            }
            stage.metrics.publish(stage.transformer.stats());
        }
        samples
    }

    /// Per transformer, in order: its kind and what it dropped or evicted so far.
    pub fn stats(&self) -> Vec<(&'static str, Stats)> {
        self.stages
            .iter()
            .map(|s| (s.transformer.kind(), s.transformer.stats().clone()))
            .collect()
    }
}

/// A sample's own timestamp, as `timeutils.parse_isotime` reads it.
fn sample_time(s: &Sample) -> Result<Timestamp, expr::EvalError> {
    use simd_json::prelude::*;
    let text = s
        .timestamp
        .as_str()
        .ok_or_else(|| expr::EvalError(format!("timestamp {} is not a string", s.timestamp)))?;
    crate::model::py::datetime::parse(text).map_err(|e| expr::EvalError(e.to_string()))
}

/// The optional ceilo-only `state_limit` parameter.
fn state_limit(v: Option<usize>) -> Result<usize, TransformError> {
    match v {
        None => Ok(DEFAULT_STATE_LIMIT),
        Some(n) if n >= 2 => Ok(n),
        Some(_) => Err(TransformError::param("state_limit", "must be at least 2")),
    }
}

/// The owner of a resource among `n` workers or partitions: FNV-1a 64 of Python's `str()` of
/// the resource id, modulo `n`. Fixed, so every agent and every version agrees (std's hasher
/// is neither); `n = 0` is treated as 1.
pub fn partition(resource_id: &crate::model::OwnedValue, n: usize) -> usize {
    let mut key = String::new();
    cache::push_id(&mut key, resource_id);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_spreads() {
        let id = |s: &str| crate::model::OwnedValue::from(s);
        // Pinned: a change here re-partitions every running deployment.
        assert_eq!(
            partition(&id("a"), 1 << 20),
            0xaf63dc4c8601ec8c_u64 as usize % (1 << 20)
        );
        let mut counts = [0usize; 4];
        for i in 0..1000 {
            counts[partition(&id(&format!("vm-{i}")), 4)] += 1;
        }
        assert!(counts.iter().all(|c| *c > 200), "{counts:?}");
        assert_eq!(partition(&id("x"), 0), 0);
    }
}
