//! event_type → the definition that handles it: the *last* definition in the file whose
//! includes match and whose exclusions do not.
//!
//! Answers are computed once per event_type. Names that some definition lists literally are
//! resolved at load time into an immutable table (no lock on the hot path); any other name is
//! resolved by scanning the globs once and remembered in a bounded cache, which is simply
//! emptied when full so a flood of distinct names cannot grow memory.

use std::collections::HashMap;
use std::sync::RwLock;

use super::glob::Glob;

/// How many non-literal event types are remembered before the cache starts over.
pub const WILDCARD_CACHE_CAPACITY: usize = 4096;

/// The event_type patterns of one definition.
#[derive(Debug, Clone)]
pub struct TypeFilter {
    included: Vec<Glob>,
    excluded: Vec<Glob>,
}

impl TypeFilter {
    /// Ceilometer's rule: `!pattern` excludes; with only exclusions, everything else is
    /// included.
    pub fn new<'p>(patterns: impl IntoIterator<Item = &'p str>) -> TypeFilter {
        let (mut included, mut excluded) = (Vec::new(), Vec::new());
        for p in patterns {
            match p.strip_prefix('!') {
                Some(rest) => excluded.push(Glob::new(rest)),
                None => included.push(Glob::new(p)),
            }
        }
        if included.is_empty() && !excluded.is_empty() {
            included.push(Glob::new("*"));
        }
        TypeFilter { included, excluded }
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.included.iter().any(|g| g.matches(event_type))
            && !self.excluded.iter().any(|g| g.matches(event_type))
    }

    fn literal_names(&self) -> impl Iterator<Item = &str> {
        self.included.iter().filter(|g| g.is_literal()).map(Glob::source)
    }
}

/// The compiled dispatch over all definitions, in file order.
#[derive(Debug)]
pub struct Dispatch {
    filters: Vec<TypeFilter>,
    exact: HashMap<Box<str>, Option<usize>>,
    cache: RwLock<HashMap<Box<str>, Option<usize>>>,
}

impl Dispatch {
    pub fn new(filters: Vec<TypeFilter>) -> Dispatch {
        let mut dispatch = Dispatch {
            filters,
            exact: HashMap::new(),
            cache: RwLock::new(HashMap::new()),
        };
        let literals: Vec<Box<str>> = dispatch
            .filters
            .iter()
            .flat_map(TypeFilter::literal_names)
            .map(Box::from)
            .collect();
        for name in literals {
            let answer = dispatch.scan(&name);
            dispatch.exact.insert(name, answer);
        }
        dispatch
    }

    /// The index of the definition that handles `event_type`, if any.
    pub fn lookup(&self, event_type: &str) -> Option<usize> {
        if let Some(answer) = self.exact.get(event_type) {
            return *answer;
        }
        // A poisoned lock only means another thread panicked mid-insert; the map is still a
        // valid cache, so keep using it.
        if let Some(answer) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event_type)
        {
            return *answer;
        }
        let answer = self.scan(event_type);
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= WILDCARD_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(event_type.into(), answer);
        answer
    }

    /// Entries currently in the wildcard cache (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.cache.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn scan(&self, event_type: &str) -> Option<usize> {
        self.filters.iter().rposition(|f| f.matches(event_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispatch(defs: &[&[&str]]) -> Dispatch {
        Dispatch::new(defs.iter().map(|d| TypeFilter::new(d.iter().copied())).collect())
    }

    #[test]
    fn last_matching_definition_wins() {
        let d = dispatch(&[
            &["compute.instance.*"],
            &["compute.instance.create.end"],
            &["*http.*"],
            &["objectstore.http.request"],
        ]);
        assert_eq!(d.lookup("compute.instance.create.end"), Some(1));
        assert_eq!(d.lookup("compute.instance.delete.start"), Some(0));
        assert_eq!(d.lookup("objectstore.http.request"), Some(3));
        assert_eq!(d.lookup("http.response"), Some(2));
        assert_eq!(d.lookup("image.upload"), None);
    }

    #[test]
    fn later_wildcard_shadows_earlier_literal() {
        let d = dispatch(&[&["objectstore.http.request"], &["*http.*"]]);
        assert_eq!(d.lookup("objectstore.http.request"), Some(1));
    }

    #[test]
    fn exclusions_and_exclusion_only_definitions() {
        let d = dispatch(&[&["*.start", "*.end", "!scheduler.*"], &["!image.*"]]);
        assert_eq!(d.lookup("compute.instance.create.start"), Some(1));
        assert_eq!(d.lookup("image.delete.end"), Some(0));
        assert_eq!(d.lookup("scheduler.run_instance.start"), Some(1));
        assert_eq!(d.lookup("image.upload"), None);
        let own = dispatch(&[&["volume.create.end", "!volume.create.end"]]);
        assert_eq!(own.lookup("volume.create.end"), None);
    }

    #[test]
    fn wildcard_answers_are_cached_and_bounded() {
        let d = dispatch(&[&["compute.*"]]);
        assert_eq!(d.lookup("compute.a"), Some(0));
        assert_eq!(d.lookup("compute.a"), Some(0));
        assert_eq!(d.cached(), 1);
        for i in 0..WILDCARD_CACHE_CAPACITY + 10 {
            assert_eq!(d.lookup(&format!("other.{i}")), None);
        }
        assert!(d.cached() <= WILDCARD_CACHE_CAPACITY);
        assert_eq!(d.lookup("compute.b"), Some(0));
    }
}
