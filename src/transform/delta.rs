//! `delta`: the change of a volume since the previous sample of the same resource and meter.
//!
//! The first sample of a key primes the cache and is dropped; a sample older than the cached
//! one is skipped (the cache keeps the newer one), and so is a repeat of the cached sample. Unlike rate_of_change there is no reset
//! rule: a counter going backwards gives a negative delta, which `growth_only: true` drops.
//! The output is a `delta` sample in the input's unit, renamed by `target.name` / `map_to`.

use serde::Deserialize;

use super::cache::{BoundedCache, KeyBuf};
use super::unit_conversion::{volume, Conversion, SourceParams, TargetParams};
use super::{sample_time, state_limit, Stats, TransformError, Transformer};
use crate::model::py::datetime::Timestamp;
use crate::model::py::Num;
use crate::model::{OwnedValue, Sample};
use simd_json::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub source: SourceParams,
    #[serde(default)]
    pub target: TargetParams,
    /// Drop negative deltas.
    #[serde(default)]
    pub growth_only: bool,
    /// ceilo: most (resource, meter) keys kept; older ones are evicted (counted).
    pub state_limit: Option<usize>,
}

pub struct Delta {
    conv: Conversion,
    growth_only: bool,
    cache: BoundedCache<(Num, Timestamp)>,
    key: KeyBuf,
    delta_type: std::sync::Arc<str>,
    stats: Stats,
}

impl Delta {
    pub fn new(params: Params) -> Result<Delta, TransformError> {
        let t = &params.target;
        // Ceilometer's delta reads only the name from its target.
        for (set, what) in [
            (t.unit.is_some(), "target.unit"),
            (t.sample_type.is_some(), "target.type"),
            (t.scale.is_some(), "target.scale"),
            (t.max.is_some(), "target.max"),
            (t.expr.is_some(), "target.expr"),
        ] {
            if set {
                return Err(TransformError::param(
                    what,
                    "delta only uses target.name and target.map_to",
                ));
            }
        }
        Ok(Delta {
            conv: Conversion::new(&params.source, &params.target)?,
            growth_only: params.growth_only,
            cache: BoundedCache::new(state_limit(params.state_limit)?),
            key: KeyBuf::default(),
            delta_type: "delta".into(),
            stats: Stats::default(),
        })
    }

    fn handle(&mut self, mut s: Sample) -> Result<Option<Sample>, super::expr::EvalError> {
        let (vol, time) = (volume(&s)?, sample_time(&s)?);
        let key = self.key.key(&s.name, &s.resource_id);
        let Some(prev) = self.cache.get_mut(key) else {
            self.stats.evictions += self.cache.insert(key, (vol, time)) as u64;
            self.stats.no_predecessor += 1;
            return Ok(None);
        };
        if time.seconds_since(&prev.1) < 0.0 {
            self.stats.out_of_order += 1;
            return Ok(None);
        }
        if time == prev.1 && vol == prev.0 {
            // A redelivered sample, not a change of zero.
            self.stats.duplicates += 1;
            return Ok(None);
        }
        let delta = vol - prev.0;
        *prev = (vol, time);
        if self.growth_only && delta.as_f64() < 0.0 {
            self.stats.negative_delta += 1;
            return Ok(None);
        }
        s.name = self.conv.name(&s);
        s.sample_type = self.delta_type.clone();
        s.volume = delta.to_owned_value();
        s.id = crate::meter::new_sample_id();
        s.monotonic_time = OwnedValue::null();
        Ok(Some(s))
    }
}

impl Transformer for Delta {
    fn kind(&self) -> &'static str {
        "delta"
    }

    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample> {
        let (out, errors) = super::each_sample(batch, "delta", |s| self.handle(s));
        self.stats.errors += errors;
        out
    }

    fn needs_affinity(&self) -> bool {
        true
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
