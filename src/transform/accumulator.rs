//! `accumulator`: holds samples until `size` of them are waiting, then lets them all through.
//!
//! It batches, nothing else: order is kept and no sample is changed, so it needs no resource
//! affinity. A `size` below 1 passes every sample straight through. Held samples leave on
//! shutdown.

use serde::Deserialize;

use super::{Stats, TransformError, Transformer};
use crate::model::py::datetime::Timestamp;
use crate::model::Sample;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default = "one")]
    pub size: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params { size: 1 }
    }
}

fn one() -> i64 {
    1
}

pub struct Accumulator {
    /// None: pass-through.
    size: Option<usize>,
    held: Vec<Sample>,
    stats: Stats,
}

impl Accumulator {
    pub fn new(params: Params) -> Result<Accumulator, TransformError> {
        let size = usize::try_from(params.size).ok().filter(|s| *s >= 1);
        Ok(Accumulator {
            size,
            held: Vec::new(),
            stats: Stats::default(),
        })
    }
}

impl Transformer for Accumulator {
    fn kind(&self) -> &'static str {
        "accumulator"
    }

    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample> {
        if self.size.is_none() {
            return batch;
        }
        self.held.extend(batch);
        Vec::new()
    }

    fn flush(&mut self, _now: &Timestamp, force: bool) -> Vec<Sample> {
        match self.size {
            Some(size) if force || self.held.len() >= size => std::mem::take(&mut self.held),
            _ => Vec::new(),
        }
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}
