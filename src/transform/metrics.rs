//! The transformers' metrics (named in the catalogue, [`crate::telemetry::metrics`]),
//! registered once per transformer and published per batch.
//!
//! `ceilo_transform_samples_dropped_total{transformer, reason}` and
//! `ceilo_transform_state_evictions_total{transformer}` and
//! `ceilo_transform_early_flushes_total{transformer}`. Hot code only bumps plain `u64`s in
//! [`super::Stats`]; [`Handles::publish`] adds the difference to the counters once per batch.

use metrics::Counter;

use super::Stats;
use crate::telemetry::metrics::{
    LABEL_REASON, LABEL_TRANSFORMER, TRANSFORM_EARLY_FLUSHES, TRANSFORM_SAMPLES_DROPPED,
    TRANSFORM_STATE_EVICTIONS,
};

pub struct Handles {
    no_predecessor: Counter,
    out_of_order: Counter,
    duplicates: Counter,
    negative_delta: Counter,
    errors: Counter,
    evictions: Counter,
    early_flushes: Counter,
    published: Stats,
}

impl Handles {
    pub fn new(transformer: &'static str) -> Handles {
        // The `reason` values (docs/metrics.md): one per counter of `Stats` that drops a sample.
        let dropped = |reason: &'static str| metrics::counter!(TRANSFORM_SAMPLES_DROPPED, LABEL_TRANSFORMER => transformer, LABEL_REASON => reason);
        Handles {
            no_predecessor: dropped("no_predecessor"),
            out_of_order: dropped("out_of_order"),
            duplicates: dropped("duplicate"),
            negative_delta: dropped("negative_delta"),
            errors: dropped("error"),
            evictions: metrics::counter!(TRANSFORM_STATE_EVICTIONS, LABEL_TRANSFORMER => transformer),
            early_flushes: metrics::counter!(TRANSFORM_EARLY_FLUSHES, LABEL_TRANSFORMER => transformer),
            published: Stats::default(),
        }
    }

    /// Add what changed since the last call.
    pub fn publish(&mut self, now: &Stats) {
        if *now == self.published {
            return;
        }
        let p = &self.published;
        self.no_predecessor
            .increment(now.no_predecessor - p.no_predecessor);
        self.out_of_order.increment(now.out_of_order - p.out_of_order);
        self.duplicates.increment(now.duplicates - p.duplicates);
        self.negative_delta
            .increment(now.negative_delta - p.negative_delta);
        self.errors.increment(now.errors - p.errors);
        self.evictions.increment(now.evictions - p.evictions);
        self.early_flushes.increment(now.early_flushes - p.early_flushes);
        self.published = now.clone();
    }
}
