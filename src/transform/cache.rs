//! A bounded map for transformer state (previous volumes, partial arithmetic sets).
//!
//! Two generations instead of a true LRU: lookups and inserts go to `young`; a key found only
//! in `old` is moved to `young`; when `young` reaches half the limit, `old` (everything not
//! touched for a whole generation) is evicted at once. That is O(1) per operation, keeps
//! every key used in the last generation, and holds at most `limit` keys. It does not give an
//! exact least-recently-used order, which rate state does not need.

use std::collections::HashMap;

pub struct BoundedCache<V> {
    young: HashMap<Box<str>, V>,
    old: HashMap<Box<str>, V>,
    generation: usize,
    limit: usize,
}

impl<V> BoundedCache<V> {
    /// `limit` keys at most (at least 2, so each generation holds one).
    pub fn new(limit: usize) -> Self {
        BoundedCache {
            young: HashMap::new(),
            old: HashMap::new(),
            generation: (limit / 2).max(1),
            limit: limit.max(2),
        }
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// The value for `key`, promoted to the young generation.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        if !self.young.contains_key(key) {
            let (k, v) = self.old.remove_entry(key)?;
            // Promotion may itself fill the generation; the key just read must survive it.
            self.young.insert(k, v);
        }
        self.young.get_mut(key)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.young.remove(key).or_else(|| self.old.remove(key))
    }

    /// Insert or replace; returns how many keys were evicted to make room.
    pub fn insert(&mut self, key: &str, value: V) -> usize {
        if let Some(slot) = self.young.get_mut(key) {
            *slot = value;
            return 0;
        }
        self.old.remove(key);
        let evicted = self.rotate_if_full();
        self.young.insert(Box::from(key), value);
        evicted
    }

    /// Get the value for `key`, inserting `make()` first if absent; returns it and the number
    /// of evictions the insert caused.
    pub fn entry(&mut self, key: &str, make: impl FnOnce() -> V) -> (&mut V, usize) {
        let mut evicted = 0;
        if !self.young.contains_key(key) {
            let value = match self.old.remove(key) {
                Some(v) => v,
                None => make(),
            };
            evicted = self.rotate_if_full();
            self.young.insert(Box::from(key), value);
        }
        match self.young.get_mut(key) {
            Some(v) => (v, evicted),
            None => unreachable!("inserted just above"),
        }
    }

    /// Take everything out (shutdown, full flushes), young and old alike.
    pub fn drain(&mut self) -> impl Iterator<Item = (Box<str>, V)> + '_ {
        self.old.drain().chain(self.young.drain())
    }

    fn rotate_if_full(&mut self) -> usize {
        // Promotions can grow `young` past a generation; the total bound still holds.
        if self.young.len() < self.generation && self.len() < self.limit {
            return 0;
        }
        let evicted = self.old.len();
        self.old = std::mem::take(&mut self.young);
        evicted
    }
}

/// A key made of a resource id and a meter name, written into a reused buffer so lookups of
/// known keys do not allocate.
#[derive(Default)]
pub struct KeyBuf(String);

impl KeyBuf {
    pub fn key<'a>(&'a mut self, name: &str, resource: &crate::model::OwnedValue) -> &'a str {
        self.0.clear();
        push_id(&mut self.0, resource);
        // A separator that cannot occur in either part keeps ("ab","c") and ("a","bc") apart.
        self.0.push('\u{1f}');
        self.0.push_str(name);
        &self.0
    }
}

/// Python's `str()` of an identity field, as Ceilometer's keys used it.
pub fn push_id(out: &mut String, id: &crate::model::OwnedValue) {
    use simd_json::prelude::*;
    match id.as_str() {
        Some(s) => out.push_str(s),
        None if id.is_null() => out.push_str("None"),
        None => out.push_str(&id.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_the_limit_and_counts_evictions() {
        let mut c = BoundedCache::new(4);
        let mut evicted = 0;
        for i in 0..10 {
            evicted += c.insert(&i.to_string(), i);
            assert!(c.len() <= 4);
        }
        assert_eq!(evicted + c.len(), 10);
    }

    #[test]
    fn recently_used_keys_survive_a_rotation() {
        let mut c = BoundedCache::new(4);
        c.insert("a", 1);
        c.insert("b", 2);
        c.insert("c", 3); // rotates: a, b become old
        assert_eq!(c.get_mut("a"), Some(&mut 1)); // promoted
        c.insert("d", 4); // rotates: old (b) evicted, young (c, a) become old
        assert!(c.get_mut("b").is_none());
        assert_eq!(c.get_mut("a"), Some(&mut 1));
    }

    #[test]
    fn promotions_do_not_break_the_bound() {
        let mut c = BoundedCache::new(4);
        for k in ["a", "b", "c"] {
            c.insert(k, 0);
        }
        c.get_mut("a");
        c.get_mut("b");
        for k in ["d", "e", "f", "g"] {
            c.insert(k, 0);
            assert!(c.len() <= 4, "{}", c.len());
        }
    }
}
