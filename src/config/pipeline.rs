//! Loader for Ceilometer's `pipeline.yaml` and `event_pipeline.yaml`.
//!
//! Only the file's shape is parsed and checked here (names, references, filters); compiling the
//! filters and building publishers is [`crate::pipeline`]'s job.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{read, ConfigError};

/// Which of the two files: sample sources filter `meters`, event sources filter `events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Samples,
    Events,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Samples => "meters",
            Kind::Events => "events",
        }
    }
}

/// A pipeline file.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PipelineFile {
    #[serde(default)]
    pub sources: Vec<SourceDef>,
    #[serde(default)]
    pub sinks: Vec<SinkDef>,
    #[serde(skip)]
    pub kind: Option<Kind>,
}

/// A source: a name, the meters (or events) it accepts, and the sinks it feeds.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceDef {
    pub name: Option<String>,
    /// fnmatch globs; `!glob` excludes; `*` is everything.
    pub meters: Option<Vec<String>>,
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub sinks: Vec<String>,
    /// Polling-only keys Ceilometer also accepts here; the notification side ignores them.
    #[serde(default)]
    pub resources: Option<yaml_serde::Value>,
    #[serde(default)]
    pub discovery: Option<yaml_serde::Value>,
}

/// A sink: a name and its publisher URLs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SinkDef {
    pub name: Option<String>,
    #[serde(default)]
    pub publishers: Vec<String>,
    /// Sample sinks only: compiled by [`crate::transform::Chain`] (Ceilometer's pre-Stein names).
    #[serde(default)]
    pub transformers: Option<yaml_serde::Value>,
}

impl SourceDef {
    /// The filter list of this source for the file's kind.
    pub fn filters(&self, kind: Kind) -> Option<&[String]> {
        match kind {
            Kind::Samples => self.meters.as_deref(),
            Kind::Events => self.events.as_deref(),
        }
    }
}

impl PipelineFile {
    /// Load a file; `Ok(None)` when it does not exist.
    pub fn load_optional(path: &Path, kind: Kind) -> Result<Option<PipelineFile>, ConfigError> {
        if !path.exists() {
            return Ok(None);
        }
        Self::load(path, kind).map(Some)
    }

    /// Load and validate a file: every problem of [`PipelineFile::problems`] is an error.
    pub fn load(path: &Path, kind: Kind) -> Result<PipelineFile, ConfigError> {
        Self::parse(&read(path)?, path, kind)
    }

    /// Parse and validate pipeline text, as [`PipelineFile::load`]; `path` only names the file
    /// in errors.
    pub fn parse(text: &str, path: &Path, kind: Kind) -> Result<PipelineFile, ConfigError> {
        let mut file: PipelineFile =
            crate::model::yaml_read::from_str(text).map_err(|source| ConfigError::Yaml {
                path: path.to_owned(),
                source,
            })?;
        file.kind = Some(kind);
        let problems = file.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                problem: problems.join("; "),
            });
        }
        Ok(file)
    }

    /// What loads but does not do what it says: event sinks naming publishers that publish
    /// samples only (their events go nowhere, as with Ceilometer, which logs an error per batch).
    pub fn warnings(&self) -> Vec<String> {
        if self.kind != Some(Kind::Events) {
            return Vec::new();
        }
        let mut warnings = Vec::new();
        for sink in &self.sinks {
            for url in &sink.publishers {
                if let Ok(publisher) = crate::publish::PublisherUrl::parse(url) {
                    if !publisher.publishes_events() {
                        warnings.push(format!(
                            "sink {:?}: {}:// publishes samples only (Ceilometer's publisher \
                             raises for events): this sink's events are not sent to {url}",
                            sink.name.as_deref().unwrap_or(""),
                            publisher.scheme()
                        ));
                    }
                }
            }
        }
        warnings
    }

    /// What Ceilometer's `PipelineManager` would refuse, plus what ceilo cannot do.
    pub fn problems(&self) -> Vec<String> {
        let kind = self.kind.unwrap_or(Kind::Samples);
        let mut problems = Vec::new();
        let mut sink_names = HashSet::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let Some(name) = &sink.name else {
                problems.push(format!("sinks[{i}]: required field name not specified"));
                continue;
            };
            if !sink_names.insert(name.as_str()) {
                problems.push(format!("sink {name:?}: duplicated sink name"));
            }
            if sink.publishers.is_empty() {
                problems.push(format!("sink {name:?}: no publisher specified"));
            }
            if sink.transformers.as_ref().is_some_and(|t| !t.is_null()) {
                // Sample sinks run them (crate::transform); event sinks never had any.
                let problem = match kind {
                    Kind::Samples => crate::transform::Chain::from_value(sink.transformers.as_ref()).err(),
                    Kind::Events => Some(crate::transform::TransformError::param(
                        "transformers",
                        "event sinks have no transformers",
                    )),
                };
                if let Some(e) = problem {
                    problems.push(format!("sink {name:?}: {e}"));
                }
            }
            for url in &sink.publishers {
                if let Err(e) = crate::publish::PublisherUrl::parse(url) {
                    problems.push(format!("sink {name:?}: {e}"));
                }
            }
        }
        let mut source_names = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let Some(name) = &source.name else {
                problems.push(format!("sources[{i}]: required field name not specified"));
                continue;
            };
            if !source_names.insert(name.as_str()) {
                problems.push(format!("source {name:?}: duplicated source name"));
            }
            match source.filters(kind) {
                None => problems.push(format!(
                    "source {name:?}: required field {} not specified",
                    kind.field()
                )),
                Some(filters) => {
                    if let Err(e) = crate::pipeline::Filter::new(filters) {
                        problems.push(format!("source {name:?}: {e}"));
                    }
                }
            }
            if source.sinks.is_empty() {
                problems.push(format!("source {name:?}: required field sinks not specified"));
            }
            for sink in &source.sinks {
                if !sink_names.contains(sink.as_str()) {
                    problems.push(format!("source {name:?}: no sink named {sink:?}"));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, kind: Kind) -> PipelineFile {
        let mut f: PipelineFile = yaml_serde::from_str(text).unwrap();
        f.kind = Some(kind);
        f
    }

    #[test]
    fn ceilometers_default_files_parse() {
        let p = parse(
            "sources:\n  - name: meter_source\n    meters: ['*']\n    sinks: [meter_sink]\n\
             sinks:\n  - name: meter_sink\n    publishers: ['notifier://']\n",
            Kind::Samples,
        );
        assert!(p.problems().is_empty(), "{:?}", p.problems());
    }

    #[test]
    fn event_sinks_with_sample_only_publishers_are_warned_about() {
        let text = "sources:\n  - name: s\n    events: ['*']\n    sinks: [k]\nsinks:\n  - name: k\n    \
                    publishers: ['notifier://', 'udp://h:1', 'prometheus://h:9091/metrics/job/j']\n";
        let events = parse(text, Kind::Events);
        assert!(events.problems().is_empty(), "{:?}", events.problems());
        let warnings = events.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("udp:// publishes samples only"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("prometheus://h:9091/metrics/job/j"),
            "{warnings:?}"
        );
        let samples = parse(&text.replace("events:", "meters:"), Kind::Samples);
        assert!(samples.warnings().is_empty());
    }

    #[test]
    fn reports_missing_sinks_publishers_and_filters() {
        let p = parse(
            "sources:\n  - name: s\n    events: ['*']\n    sinks: [nope]\nsinks:\n  - name: k\n    publishers: []\n",
            Kind::Samples,
        );
        let problems = p.problems().join("\n");
        assert!(problems.contains("no publisher specified"), "{problems}");
        assert!(problems.contains("required field meters"), "{problems}");
        assert!(problems.contains("no sink named \"nope\""), "{problems}");
    }
}
