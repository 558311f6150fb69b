//! pipeline.yaml and event_pipeline.yaml, compiled: which publishers each sample or event goes to.
//!
//! Plain synchronous code with no actors in it: [`Pipeline::route`] takes a batch and returns
//! one batch per publisher. A sample reaches every sink whose source accepts it, once per sink
//! (two sources feeding the same sink do not duplicate it); each sink's publishers all get it.
//! Samples whose volume Python's `float()` would reject never get here: the converter splits
//! them off ([`crate::meter::volume`]).

mod filter;

use std::collections::HashMap;
use std::sync::Arc;

pub use filter::{Filter, FilterError};

use crate::config::pipeline::{Kind, PipelineFile};
use crate::model::{Event, Sample};
use crate::publish::{PublisherUrl, UrlError};

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

/// Why a pipeline file cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("source {source_name:?}: {error}")]
    Filter { source_name: String, error: FilterError },
    #[error("publisher {url:?}: {error}")]
    Publisher { url: String, error: UrlError },
    #[error("{0}")]
    Invalid(String),
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
    publishers: Vec<PublisherUrl>,
    /// Per publisher, the name of its sink.
    publisher_sinks: Vec<String>,
    /// Route key → publisher indices, memoized (there are few distinct meter names).
    cache: HashMap<Arc<str>, Arc<[usize]>>,
}

impl Pipeline {
    /// An empty pipeline: everything is accepted by nobody.
    pub fn empty() -> Pipeline {
        Pipeline {
            sources: Vec::new(),
            sinks: Vec::new(),
            publishers: Vec::new(),
            publisher_sinks: Vec::new(),
            cache: HashMap::new(),
        }
    }

    /// Compile a loaded file (already validated by [`PipelineFile::load`]).
    pub fn compile(file: &PipelineFile) -> Result<Pipeline, PipelineError> {
        let kind = file.kind.unwrap_or(Kind::Samples);
        let mut publishers = Vec::new();
        let mut publisher_sinks = Vec::new();
        let mut sink_index = HashMap::new();
        let mut sinks = Vec::new();
        for sink in &file.sinks {
            let name = sink.name.clone().unwrap_or_default();
            let mut indices = Vec::new();
            for url in &sink.publishers {
                let parsed = PublisherUrl::parse(url).map_err(|error| PipelineError::Publisher {
                    url: url.clone(),
                    error,
                })?;
                indices.push(publishers.len());
                publishers.push(parsed);
                publisher_sinks.push(name.clone());
            }
            sink_index.insert(name, sinks.len());
            sinks.push(indices);
        }
        let mut sources = Vec::new();
        for source in &file.sources {
            let name = source.name.clone().unwrap_or_default();
            let filters = source.filters(kind).unwrap_or(&[]);
            let filter = Filter::new(filters).map_err(|error| PipelineError::Filter {
                source_name: name.clone(),
                error,
            })?;
            let mut targets = Vec::new();
            for sink in &source.sinks {
                let i = sink_index.get(sink).ok_or_else(|| {
                    PipelineError::Invalid(format!("source {name:?}: no sink named {sink:?}"))
                })?;
                targets.push(*i);
            }
            sources.push(Source {
                filter,
                sinks: targets,
            });
        }
        Ok(Pipeline {
            sources,
            sinks,
            publishers,
            publisher_sinks,
            cache: HashMap::new(),
        })
    }

    /// Per publisher (same indices as [`Pipeline::publishers`]), the name of its sink.
    pub fn publisher_sinks(&self) -> &[String] {
        &self.publisher_sinks
    }

    /// The publishers, in index order (the indices [`Pipeline::route`] returns).
    pub fn publishers(&self) -> &[PublisherUrl] {
        &self.publishers
    }

    /// The publisher indices a route key goes to.
    pub fn targets(&mut self, key: &str) -> Arc<[usize]> {
        if let Some(t) = self.cache.get(key) {
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
    use crate::config::pipeline::PipelineFile;

    fn pipeline(yaml: &str) -> Pipeline {
        let mut f: PipelineFile = serde_yaml::from_str(yaml).unwrap();
        f.kind = Some(Kind::Samples);
        assert!(f.problems().is_empty(), "{:?}", f.problems());
        Pipeline::compile(&f).unwrap()
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
    fn unaccepted_items_go_nowhere() {
        let mut p = pipeline(
            "sources:\n- {name: s, meters: ['cpu', 'memory.*'], sinks: [k]}\n\
             sinks:\n- {name: k, publishers: ['notifier://']}\n",
        );
        let out = p.route(vec![Named("cpu"), Named("cpu.util"), Named("memory.usage")]);
        assert_eq!(out, vec![vec![Named("cpu"), Named("memory.usage")]]);
    }
}
