//! Ceilometer's `pipeline.yaml` and `event_pipeline.yaml`, read: the sources and sinks as
//! written, with where each is in the file ([`Outline`]).
//!
//! Reading only: a file that is YAML of the right shape loads. What it means (names,
//! references, filters, publisher URLs, transformers) is checked where it is compiled, in
//! [`crate::pipeline`], which names these lines in its problems.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{read, ConfigError};
use crate::model::yaml_outline::Outline;
use crate::model::Payload;

/// A pipeline file as written.
#[derive(Debug, Clone, Default)]
pub struct PipelineFile {
    pub sources: Vec<SourceDef>,
    pub sinks: Vec<SinkDef>,
    /// Which of the two files: `pipeline.yaml` (samples) or `event_pipeline.yaml` (events).
    pub kind: Payload,
    /// The file, for naming it in problems.
    pub path: PathBuf,
    /// Where the sources and sinks are in it.
    pub outline: Outline,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    sources: Vec<SourceDef>,
    #[serde(default)]
    sinks: Vec<SinkDef>,
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
    /// The source field that holds the filters: sample sources filter `meters`, event sources
    /// `events`.
    pub fn field(kind: Payload) -> &'static str {
        match kind {
            Payload::Samples => "meters",
            Payload::Events => "events",
        }
    }

    /// The filter list of this source for the file's kind.
    pub fn filters(&self, kind: Payload) -> Option<&[String]> {
        match kind {
            Payload::Samples => self.meters.as_deref(),
            Payload::Events => self.events.as_deref(),
        }
    }
}

impl PipelineFile {
    /// Read a file; `Ok(None)` when it does not exist.
    pub fn load_optional(path: &Path, kind: Payload) -> Result<Option<PipelineFile>, ConfigError> {
        if !path.exists() {
            return Ok(None);
        }
        Self::load(path, kind).map(Some)
    }

    pub fn load(path: &Path, kind: Payload) -> Result<PipelineFile, ConfigError> {
        Self::parse(&read(path)?, path, kind)
    }

    /// Read pipeline text, as [`PipelineFile::load`]; `path` names the file in problems.
    pub fn parse(text: &str, path: &Path, kind: Payload) -> Result<PipelineFile, ConfigError> {
        let doc: Document = crate::model::yaml_read::from_str(text).map_err(|source| ConfigError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        Ok(PipelineFile {
            sources: doc.sources,
            sinks: doc.sinks,
            kind,
            path: path.to_owned(),
            outline: Outline::of(text),
        })
    }

    /// The outlines of the sources and of the sinks, by index (missing ones when the lists are
    /// in flow style).
    pub fn outlines(&self) -> (Vec<Outline>, Vec<Outline>) {
        (self.outline.items("sources"), self.outline.items("sinks"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilometers_default_file_reads_with_its_lines() {
        let p = PipelineFile::parse(
            "---\nsources:\n  - name: meter_source\n    meters: ['*']\n    sinks: [meter_sink]\n\
             sinks:\n  - name: meter_sink\n    publishers: ['notifier://']\n",
            Path::new("pipeline.yaml"),
            Payload::Samples,
        )
        .unwrap();
        assert_eq!(
            p.sources[0].filters(Payload::Samples),
            Some(&["*".to_owned()][..])
        );
        let (sources, sinks) = p.outlines();
        assert_eq!((sources[0].line, sinks[0].line), (3, 7));
    }

    #[test]
    fn a_file_of_the_wrong_shape_names_the_line() {
        let e =
            PipelineFile::parse("sinks:\n  - name: [a\n", Path::new("p.yaml"), Payload::Samples).unwrap_err();
        assert!(e.to_string().starts_with("p.yaml: "), "{e}");
        assert_eq!(crate::problem::Problem::from(e).line, Some(2));
    }
}
