//! `rate_of_change`: the growth of a counter per second, scaled (cpu → cpu_util).
//!
//! Per (resource, meter) it keeps the previous volume and time. The first sample of a key
//! only primes that cache and is dropped; a sample older than the cached one is skipped and
//! leaves the cache as it was; a cumulative counter that went backwards (a reboot) is taken
//! to have restarted from zero, so its current volume is the growth. The time between two
//! samples is their `monotonic_time` difference when both have one, else their timestamps'.
//! The result is `scale(sample) × Δvolume / Δt`, capped by `target.max`; Δt = 0 gives 0.0,
//! except for a repeat of the cached sample (same timestamp and volume: a redelivery), dropped.
//! A numeric `scale` multiplies the volume too (Ceilometer's `volume × scale × rate`): write
//! rate scales as strings. It does not interpolate or fill gaps.

use serde::Deserialize;

use super::cache::{BoundedCache, KeyBuf};
use super::unit_conversion::{volume, Conversion, Scale, SourceParams, TargetParams};
use super::{sample_time, state_limit, Stats, TransformError, Transformer};
use crate::model::py::datetime::Timestamp;
use crate::model::py::Num;
use crate::model::Sample;
use simd_json::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub source: SourceParams,
    #[serde(default)]
    pub target: TargetParams,
    /// ceilo: most (resource, meter) keys kept; older ones are evicted (counted).
    pub state_limit: Option<usize>,
}

struct Prev {
    volume: Num,
    time: Timestamp,
    monotonic: Option<f64>,
}

pub struct RateOfChange {
    conv: Conversion,
    cache: BoundedCache<Prev>,
    key: KeyBuf,
    stats: Stats,
}

impl RateOfChange {
    pub fn new(params: Params) -> Result<RateOfChange, TransformError> {
        if params.target.expr.is_some() {
            return Err(TransformError::param(
                "target.expr",
                "only arithmetic takes an expr",
            ));
        }
        let mut conv = Conversion::new(&params.source, &params.target)?;
        if matches!(conv.scale, Scale::Keep) {
            // `self.scale or '1'`: no scale means the rate itself.
            conv.scale = Scale::Expr(super::expr::Expr::constant(Num::Int(1)));
        }
        Ok(RateOfChange {
            conv,
            cache: BoundedCache::new(state_limit(params.state_limit)?),
            key: KeyBuf::default(),
            stats: Stats::default(),
        })
    }

    fn handle(&mut self, s: Sample) -> Result<Option<Sample>, super::expr::EvalError> {
        let (vol, time) = (volume(&s)?, sample_time(&s)?);
        let monotonic = s.monotonic_time.cast_f64();
        let key = self.key.key(&s.name, &s.resource_id);
        let Some(prev) = self.cache.get_mut(key) else {
            let new = Prev {
                volume: vol,
                time,
                monotonic,
            };
            self.stats.evictions += self.cache.insert(key, new) as u64;
            self.stats.no_predecessor += 1;
            return Ok(None);
        };
        if time == prev.time && vol == prev.volume {
            // At-least-once delivery can repeat a sample; a rate of 0.0 from it would be wrong.
            self.stats.duplicates += 1;
            return Ok(None);
        }
        let dt = match (prev.monotonic, monotonic) {
            // A high-precision timer beats two wall-clock stamps.
            (Some(a), Some(b)) => b - a,
            _ => time.seconds_since(&prev.time),
        };
        if dt < 0.0 {
            self.stats.out_of_order += 1;
            tracing::debug!(meter = %s.name, "rate_of_change: out of time order sample dropped");
            return Ok(None);
        }
        let cumulative = &*s.sample_type == "cumulative";
        let dv = if cumulative && vol.py_lt(prev.volume) {
            // The counter went backwards: it restarted, and has grown by at least `vol`.
            vol
        } else {
            vol - prev.volume
        };
        *prev = Prev {
            volume: vol,
            time,
            monotonic,
        };
        let rate = if dt != 0.0 {
            Num::Float(dv.as_f64() / dt)
        } else {
            Num::Float(0.0)
        };
        self.conv.convert(s, Some(rate)).map(Some)
    }
}

impl Transformer for RateOfChange {
    fn kind(&self) -> &'static str {
        "rate_of_change"
    }

    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample> {
        let (out, errors) = super::each_sample(batch, "rate_of_change", |s| self.handle(s));
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
