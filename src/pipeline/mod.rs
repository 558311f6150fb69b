//! pipeline.yaml and event_pipeline.yaml, compiled: which publishers each sample or event goes to.
//!
//! Plain synchronous code with no actors in it: [`Pipeline::route`] takes a batch and returns
//! one batch per publisher. A sample reaches every sink whose source accepts it, once per sink
//! (two sources feeding the same sink do not duplicate it); each sink's publishers all get it.
//! Samples whose volume Python's `float()` would reject never get here: the converter splits
//! them off ([`crate::meter::volume`]). A sink's `transformers:` run as a [`Chain`] between
//! routing and its publishers ([`Pipeline::route_samples`]); the chain's internals are
//! [`crate::transform`]'s.

mod compile;
mod filter;

use std::collections::HashMap;
use std::sync::Arc;

pub use filter::{Filter, FilterError};

use crate::config::pipeline::SinkDef;
use crate::model::py::datetime::Timestamp;
use crate::model::{Event, Sample};
use crate::problem::Problem;
use crate::publish::PublisherUrl;
use crate::transform::Chain;

/// Something a source filters on: a sample's meter name, an event's event_type.
pub trait Routable: Clone {
    fn route_key(&self) -> &str;
}

impl Routable for Sample {
    fn route_key(&self) -> &str {
        &self.name
    }
}

impl Routable for Event {
    fn route_key(&self) -> &str {
        &self.event_type
    }
}

/// Where a batch of samples is in the partitioned flow (several agents, stateful sinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleStage {
    /// No partitions: every sink runs here.
    All,
    /// From the notification queues: stateless sinks run here; samples for stateful sinks are
    /// set aside for the agent that owns their resource's partition.
    Ingest,
    /// From a partition queue this agent owns: only the stateful sinks run.
    Owned,
}

struct Source {
    filter: Filter,
    /// Indices into `Pipeline::sinks`.
    sinks: Vec<usize>,
}

/// A compiled pipeline file.
pub struct Pipeline {
    sources: Vec<Source>,
    /// Per sink, indices into `publishers`.
    sinks: Vec<Vec<usize>>,
    /// Per sink, its transformers (empty chains for most sinks).
    chains: Vec<Chain>,
    /// Per sink, its definition: a reload keeps the chain of a sink whose definition is equal.
    sink_defs: Vec<SinkDef>,
    /// Route key → sink indices, for samples of pipelines with transformers.
    sink_cache: HashMap<Arc<str>, Arc<[usize]>>,
    publishers: Vec<PublisherUrl>,
    /// Per publisher, the name of its sink.
    publisher_sinks: Vec<String>,
    /// Route key → publisher indices, memoized (there are few distinct meter names).
    cache: HashMap<Arc<str>, Arc<[usize]>>,
    warnings: Vec<Problem>,
}

impl Pipeline {
    /// An empty pipeline: everything is accepted by nobody.
    pub fn empty() -> Pipeline {
        Pipeline {
            sources: Vec::new(),
            sinks: Vec::new(),
            chains: Vec::new(),
            sink_defs: Vec::new(),
            sink_cache: HashMap::new(),
            publishers: Vec::new(),
            publisher_sinks: Vec::new(),
            cache: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// What loads but does not do what it says: event sinks naming publishers that publish
    /// samples only (their events go nowhere, as with Ceilometer, which logs an error per
    /// batch).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Per publisher (same indices as [`Pipeline::publishers`]), the name of its sink.
    pub fn publisher_sinks(&self) -> &[String] {
        &self.publisher_sinks
    }

    /// The publishers, in index order (the indices [`Pipeline::route`] returns).
    pub fn publishers(&self) -> &[PublisherUrl] {
        &self.publishers
    }

    /// A reload: each sink of this (new) pipeline whose definition is equal to one of `old`'s
    /// takes that sink's transformer chain, state and all; `old` gets the fresh chain in
    /// exchange. Returns the names of the sinks whose state was kept.
    pub fn keep_transformer_state(&mut self, old: &mut Pipeline) -> Vec<String> {
        let mut taken = vec![false; old.sink_defs.len()];
        let mut kept = Vec::new();
        for (i, def) in self.sink_defs.iter().enumerate() {
            if self.chains[i].is_empty() {
                continue;
            }
            let same = old
                .sink_defs
                .iter()
                .enumerate()
                .position(|(j, d)| !taken[j] && d == def);
            if let Some(j) = same {
                taken[j] = true;
                std::mem::swap(&mut self.chains[i], &mut old.chains[j]);
                kept.push(def.name.clone().unwrap_or_default());
            }
        }
        kept
    }

    /// The sink indices a route key goes to, sorted.
    fn sink_targets(&mut self, key: &str) -> Arc<[usize]> {
        if let Some(t) = self.sink_cache.get(key) {
            return t.clone();
        }
        let mut sinks: Vec<usize> = Vec::new();
        for source in &self.sources {
            if source.filter.accepts(key) {
                for s in &source.sinks {
                    if !sinks.contains(s) {
                        sinks.push(*s);
                    }
                }
            }
        }
        sinks.sort_unstable();
        let sinks: Arc<[usize]> = sinks.into();
        self.sink_cache.insert(Arc::from(key), sinks.clone());
        sinks
    }

    /// Whether any sink has transformers.
    pub fn has_transformers(&self) -> bool {
        self.chains.iter().any(|c| !c.is_empty())
    }

    /// Whether any sink keeps per-resource transformer state (see [`Chain::is_stateful`]).
    pub fn is_stateful(&self) -> bool {
        self.chains.iter().any(Chain::is_stateful)
    }

    /// How often [`Pipeline::flush_transformers`] should run (aggregator retention), if at all.
    pub fn flush_interval(&self) -> Option<std::time::Duration> {
        self.chains.iter().filter_map(Chain::flush_interval).min()
    }

    /// [`Pipeline::route_counting`] for samples, through each sink's transformers: a sample
    /// reaches each accepting sink once, that sink's chain turns the sink's part of the batch
    /// into what its publishers get. `now` is the wall clock (aggregator retention).
    pub fn route_samples(&mut self, items: Vec<Sample>, now: &Timestamp) -> (Vec<Vec<Sample>>, usize) {
        let (out, _, filtered) = self.route_samples_staged(items, now, SampleStage::All);
        (out, filtered)
    }

    /// [`Pipeline::route_samples`] for one stage of the partitioned flow. Also returns the
    /// samples set aside for their partition owner (`Ingest` only): each sample that some
    /// stateful sink accepts, once.
    pub fn route_samples_staged(
        &mut self,
        items: Vec<Sample>,
        now: &Timestamp,
        stage: SampleStage,
    ) -> (Vec<Vec<Sample>>, Vec<Sample>, usize) {
        if !self.has_transformers() && stage == SampleStage::All {
            let (out, filtered) = self.route_counting(items);
            return (out, Vec::new(), filtered);
        }
        // Which sinks this stage runs: stateless ones at ingest, stateful ones at the owner.
        let runs: Vec<bool> = self
            .chains
            .iter()
            .map(|c| match stage {
                SampleStage::All => true,
                SampleStage::Ingest => !c.is_stateful(),
                SampleStage::Owned => c.is_stateful(),
            })
            .collect();
        let mut per_sink: Vec<Vec<Sample>> = (0..self.sinks.len()).map(|_| Vec::new()).collect();
        let mut deferred = Vec::new();
        let mut filtered = 0;
        for item in items {
            let targets = self.sink_targets(item.route_key());
            if targets.is_empty() {
                filtered += 1;
                continue;
            }
            let here: Vec<usize> = targets.iter().copied().filter(|t| runs[*t]).collect();
            let defer = stage == SampleStage::Ingest && here.len() < targets.len();
            match here.split_last() {
                Some((last, rest)) => {
                    for t in rest {
                        per_sink[*t].push(item.clone());
                    }
                    if defer {
                        deferred.push(item.clone());
                    }
                    per_sink[*last].push(item);
                }
                None if defer => deferred.push(item),
                None => {}
            }
        }
        let mut out: Vec<Vec<Sample>> = (0..self.publishers.len()).map(|_| Vec::new()).collect();
        for (sink, batch) in per_sink.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let batch = if self.chains[sink].is_empty() {
                batch
            } else {
                self.chains[sink].process(batch, now)
            };
            self.fan_out(sink, batch, &mut out);
        }
        (out, deferred, filtered)
    }

    /// What the sinks' transformers release at `now` (`force`: everything, at shutdown), one
    /// batch per publisher index.
    pub fn flush_transformers(&mut self, now: &Timestamp, force: bool) -> Vec<Vec<Sample>> {
        let mut out: Vec<Vec<Sample>> = (0..self.publishers.len()).map(|_| Vec::new()).collect();
        for sink in 0..self.chains.len() {
            let chain = &mut self.chains[sink];
            if chain.is_empty() {
                continue;
            }
            let batch = if force {
                chain.shutdown(now)
            } else {
                chain.flush(now)
            };
            self.fan_out(sink, batch, &mut out);
        }
        out
    }

    fn fan_out(&self, sink: usize, batch: Vec<Sample>, out: &mut [Vec<Sample>]) {
        if let Some((last, rest)) = self.sinks[sink].split_last() {
            for p in rest {
                out[*p].extend(batch.iter().cloned());
            }
            out[*last].extend(batch);
        }
    }

    /// The publisher indices a route key goes to.
    pub fn targets(&mut self, key: &str) -> Arc<[usize]> {
        if let Some(t) = self.cache.get(key) {
            return t.clone();
        }
        let sinks = self.sink_targets(key);
        let targets: Arc<[usize]> = sinks
            .iter()
            .flat_map(|s| self.sinks[*s].iter().copied())
            .collect();
        self.cache.insert(Arc::from(key), targets.clone());
        targets
    }

    /// Split a batch into one batch per publisher index (empty ones included, so the result
    /// has `publishers().len()` entries). Items nobody accepts are dropped.
    pub fn route<T: Routable>(&mut self, items: Vec<T>) -> Vec<Vec<T>> {
        self.route_counting(items).0
    }

    /// [`Pipeline::route`], also returning how many items no source accepted.
    pub fn route_counting<T: Routable>(&mut self, items: Vec<T>) -> (Vec<Vec<T>>, usize) {
        let mut out: Vec<Vec<T>> = (0..self.publishers.len()).map(|_| Vec::new()).collect();
        let mut filtered = 0;
        for item in items {
            let targets = self.targets(item.route_key());
            match targets.split_last() {
                Some((last, rest)) => {
                    for t in rest {
                        out[*t].push(item.clone());
                    }
                    out[*last].push(item);
                }
                None => filtered += 1,
            }
        }
        (out, filtered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Payload;
    use std::path::Path;

    fn pipeline(yaml: &str) -> Pipeline {
        Pipeline::parse(yaml, Path::new("pipeline.yaml"), Payload::Samples).unwrap()
    }

    fn problems(yaml: &str, kind: Payload) -> Vec<String> {
        let e = Pipeline::parse(yaml, Path::new("p.yaml"), kind).err();
        e.unwrap_or_default().iter().map(Problem::to_string).collect()
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Named(&'static str);
    impl Routable for Named {
        fn route_key(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn a_sample_reaches_each_accepting_sink_once() {
        let mut p = pipeline(
            "sources:\n\
             - {name: all, meters: ['*'], sinks: [a, b]}\n\
             - {name: cpu, meters: ['cpu*'], sinks: [a]}\n\
             - {name: nodisk, meters: ['!disk.*'], sinks: [c]}\n\
             sinks:\n\
             - {name: a, publishers: ['file:///tmp/a']}\n\
             - {name: b, publishers: ['file:///tmp/b', 'notifier://']}\n\
             - {name: c, publishers: ['notifier://?topic=c']}\n",
        );
        let out = p.route(vec![Named("cpu"), Named("disk.read"), Named("memory")]);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0], vec![Named("cpu"), Named("disk.read"), Named("memory")]);
        assert_eq!(out[1], out[0]);
        assert_eq!(out[2], out[0]);
        assert_eq!(out[3], vec![Named("cpu"), Named("memory")]);
    }

    #[test]
    fn every_problem_names_its_line() {
        let problems = problems(
            "sources:\n  - name: s\n    events: ['*']\n    sinks: [nope]\n  - meters: [a]\n\
             \x20 - name: s\n    meters: [b]\n    sinks: [k]\n\
             sinks:\n  - name: k\n    publishers: []\n  - name: k\n    publishers:\n      \
             - gopher://x\n  - publishers: ['notifier://']\n",
            Payload::Samples,
        );
        assert_eq!(
            problems,
            [
                "p.yaml:10: sink \"k\": no publisher specified",
                "p.yaml:12: sink \"k\": duplicated sink name",
                "p.yaml:14: sink \"k\": publisher \"gopher://\" is not supported by ceilo \
                 (supported: notifier://, file://, http://, https://, prometheus://, udp://, tcp://, \
                 opentelemetryhttp://, gnocchi://, zaqar://)",
                "p.yaml:15: sinks[2]: required field name not specified",
                "p.yaml:2: source \"s\": required field meters not specified",
                "p.yaml:4: source \"s\": no sink named \"nope\"",
                "p.yaml:5: sources[1]: required field name not specified",
                "p.yaml:6: source \"s\": duplicated source name",
            ]
        );
    }

    #[test]
    fn an_unknown_notifier_policy_is_a_warning_naming_file_and_line() {
        let text = "sources:\n  - name: s\n    meters: ['*']\n    sinks: [k]\nsinks:\n  - name: k\n    \
                    publishers:\n      - notifier://?policy=drop\n      - notifier://?policy=later\n";
        let samples = Pipeline::parse(text, Path::new("p.yaml"), Payload::Samples).unwrap();
        let warnings: Vec<String> = samples.warnings().iter().map(Problem::to_string).collect();
        assert_eq!(
            warnings,
            [
                "p.yaml:9: sink \"k\": notifier://?policy=later: publishing policy \"later\" is \
              unknown: taken as \"default\", as Ceilometer does"
            ]
        );
    }

    #[test]
    fn event_sinks_take_no_transformers_and_warn_of_sample_only_publishers() {
        let text = "sources:\n  - name: s\n    events: ['*']\n    sinks: [k]\nsinks:\n  - name: k\n    \
                    publishers: ['notifier://', 'udp://h:1', 'prometheus://h:9091/metrics/job/j']\n";
        let events = Pipeline::parse(text, Path::new("e.yaml"), Payload::Events).unwrap();
        let warnings: Vec<String> = events.warnings().iter().map(Problem::to_string).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("e.yaml:7: sink \"k\": udp:// publishes samples only"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("prometheus://h:9091/metrics/job/j"),
            "{warnings:?}"
        );
        let samples = pipeline(&text.replace("events:", "meters:"));
        assert!(samples.warnings().is_empty());
        let with_transformers = text.replace(
            "  - name: k\n",
            "  - name: k\n    transformers:\n      - name: delta\n",
        );
        assert_eq!(
            problems(&with_transformers, Payload::Events),
            ["p.yaml:7: sink \"k\": transformers: event sinks have no transformers"]
        );
    }

    #[test]
    fn unaccepted_items_go_nowhere() {
        let mut p = pipeline(
            "sources:\n- {name: s, meters: ['cpu', 'memory.*'], sinks: [k]}\n\
             sinks:\n- {name: k, publishers: ['notifier://']}\n",
        );
        let out = p.route(vec![Named("cpu"), Named("cpu.util"), Named("memory.usage")]);
        assert_eq!(out, vec![vec![Named("cpu"), Named("memory.usage")]]);
    }
}
