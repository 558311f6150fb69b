//! A bounded per-event-type memo: definitions are matched by regex once per distinct event
//! type, not once per message. Past the bound (unbounded event-type cardinality would be a
//! memory leak) answers are computed without being remembered.

use std::collections::HashMap;
use std::sync::RwLock;

pub const DEFAULT_LIMIT: usize = 4096;

#[derive(Debug)]
pub struct DispatchCache<T> {
    map: RwLock<HashMap<Box<str>, T>>,
    limit: usize,
}

impl<T: Clone> DispatchCache<T> {
    pub fn new(limit: usize) -> Self {
        DispatchCache {
            map: RwLock::default(),
            limit,
        }
    }

    /// The remembered answer for `key`, or `compute(key)` (remembered while there is room).
    pub fn get_or_compute(&self, key: &str, compute: impl FnOnce(&str) -> T) -> T {
        if let Some(hit) = self.map.read().ok().and_then(|m| m.get(key).cloned()) {
            return hit;
        }
        let value = compute(key);
        if let Ok(mut map) = self.map.write() {
            if map.len() < self.limit {
                map.insert(key.into(), value.clone());
            }
        }
        value
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn computes_once_per_key_and_stops_remembering_at_the_limit() {
        let cache = DispatchCache::new(2);
        let calls = Cell::new(0);
        let f = |k: &str| {
            calls.set(calls.get() + 1);
            k.len()
        };
        assert_eq!(cache.get_or_compute("a", f), 1);
        assert_eq!(cache.get_or_compute("a", f), 1);
        assert_eq!(calls.get(), 1);
        cache.get_or_compute("bb", f);
        cache.get_or_compute("ccc", f);
        cache.get_or_compute("ccc", f);
        assert_eq!(cache.len(), 2);
        assert_eq!(calls.get(), 4, "past the limit answers are recomputed");
    }
}
