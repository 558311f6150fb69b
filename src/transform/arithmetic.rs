//! `arithmetic`: one new sample per resource from an expression over several meters, e.g.
//! `$(memory.usage) * 100 / $(memory)` → memory_util.
//!
//! It keeps, per resource, the latest sample of each meter the expression names; after each
//! batch, every resource that has all of them gets one new sample (float volume; name, unit
//! and type from the target or else the first meter named; ids and metadata of that first
//! meter's sample; the newest timestamp among them) and its set is cleared. It consumes
//! every sample it sees, as Ceilometer's did: give it a sink of its own. ceilo takes the
//! timestamp per resource (Ceilometer used the last sample handled by the agent, whatever its
//! resource, which no partitioned deployment can reproduce). Incomplete sets are bounded and,
//! at shutdown, dropped: there is nothing to compute them from.

use std::sync::Arc;

use serde::Deserialize;

use super::cache::{push_id, BoundedCache};
use super::expr::{Dialect, EvalError, Expr};
use super::unit_conversion::{TargetParams, SAMPLE_TYPES};
use super::{sample_time, state_limit, Stats, TransformError, Transformer};
use crate::model::py::datetime::Timestamp;
use crate::model::py::Num;
use crate::model::{OwnedValue, Sample};
use simd_json::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub target: TargetParams,
    /// ceilo: most resources with an incomplete set kept; older ones are evicted (counted).
    pub state_limit: Option<usize>,
}

struct Pending {
    /// One slot per meter of the expression.
    samples: Vec<Option<Sample>>,
    latest: Option<(Timestamp, OwnedValue)>,
}

impl Pending {
    fn complete(&self) -> bool {
        self.samples.iter().all(Option::is_some)
    }
}

pub struct Arithmetic {
    expr: Expr,
    name: Option<Arc<str>>,
    unit: Option<Arc<str>>,
    sample_type: Option<Arc<str>>,
    pending: BoundedCache<Pending>,
    /// Resources whose set became complete since the last flush, in completion order.
    ready: Vec<Box<str>>,
    key: String,
    stats: Stats,
}

impl Arithmetic {
    pub fn new(params: Params) -> Result<Arithmetic, TransformError> {
        let t = params.target;
        for (set, what) in [
            (t.scale.is_some(), "target.scale"),
            (t.max.is_some(), "target.max"),
            (t.map_to.is_some(), "target.map_to"),
        ] {
            if set {
                return Err(TransformError::param(
                    what,
                    "arithmetic takes target name, unit, type and expr",
                ));
            }
        }
        let text = t.expr.as_deref().unwrap_or("");
        let expr =
            Expr::compile(text, Dialect::Arithmetic).map_err(|e| TransformError::param("target.expr", e))?;
        if expr.meters().is_empty() {
            return Err(TransformError::param(
                "target.expr",
                format!("{text:?} must use at least one meter, as $(meter.name)"),
            ));
        }
        if let Some(ty) = &t.sample_type {
            if !SAMPLE_TYPES.contains(&ty.as_str()) {
                return Err(TransformError::param(
                    "target.type",
                    format!("{ty:?} is not one of gauge, delta, cumulative"),
                ));
            }
        }
        Ok(Arithmetic {
            expr,
            name: t.name.as_deref().map(Arc::from),
            unit: t.unit.as_deref().map(Arc::from),
            sample_type: t.sample_type.as_deref().map(Arc::from),
            pending: BoundedCache::new(state_limit(params.state_limit)?),
            ready: Vec::new(),
            key: String::new(),
            stats: Stats::default(),
        })
    }

    fn handle(&mut self, s: Sample) -> Result<(), EvalError> {
        let Some(slot) = self.expr.meters().iter().position(|m| **m == *s.name) else {
            return Ok(());
        };
        let time = sample_time(&s)?;
        self.key.clear();
        push_id(&mut self.key, &s.resource_id);
        let n = self.expr.meters().len();
        let (p, evicted) = self.pending.entry(&self.key, || Pending {
            samples: (0..n).map(|_| None).collect(),
            latest: None,
        });
        if p.latest
            .as_ref()
            .is_none_or(|(t, _)| t.seconds_since(&time) <= 0.0)
        {
            p.latest = Some((time, s.timestamp.clone()));
        }
        let was_complete = p.complete();
        p.samples[slot] = Some(s);
        if !was_complete && p.complete() {
            self.ready.push(Box::from(self.key.as_str()));
        }
        self.stats.evictions += evicted as u64;
        Ok(())
    }

    fn calculate(&self, p: Pending) -> Result<Sample, EvalError> {
        let refs: Vec<&Sample> = p.samples.iter().flatten().collect();
        let volume = self.expr.eval_num(&refs)?.as_f64();
        if volume.is_nan() {
            return Err(EvalError("expression evaluated to a NaN value".into()));
        }
        let timestamp = p.latest.map(|(_, t)| t);
        let Some(Some(mut s)) = p.samples.into_iter().next() else {
            return Err(EvalError("no reference sample".into()));
        };
        if let Some(name) = &self.name {
            s.name = name.clone();
        }
        if let Some(unit) = &self.unit {
            s.unit = unit.clone();
        }
        if let Some(ty) = &self.sample_type {
            s.sample_type = ty.clone();
        }
        s.volume = Num::Float(volume).to_owned_value();
        if let Some(t) = timestamp {
            s.timestamp = t;
        }
        s.id = crate::meter::new_sample_id();
        s.monotonic_time = OwnedValue::null();
        Ok(s)
    }
}

impl Transformer for Arithmetic {
    fn kind(&self) -> &'static str {
        "arithmetic"
    }

    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample> {
        for s in batch {
            if let Err(e) = self.handle(s) {
                self.stats.errors += 1;
                tracing::debug!(error = %e, "arithmetic: sample dropped");
            }
        }
        Vec::new()
    }

    fn flush(&mut self, _now: &Timestamp, force: bool) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.ready.len());
        for key in std::mem::take(&mut self.ready) {
            // An evicted set is gone; a complete one is computed once and cleared.
            let Some(p) = self.pending.remove(&key) else {
                continue;
            };
            match self.calculate(p) {
                Ok(s) => out.push(s),
                Err(e) => {
                    self.stats.errors += 1;
                    tracing::debug!(error = %e, "arithmetic: expression failed");
                }
            }
        }
        if force {
            self.stats.errors += self.pending.drain().count() as u64;
        }
        out
    }

    fn needs_affinity(&self) -> bool {
        true
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
