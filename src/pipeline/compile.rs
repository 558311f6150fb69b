//! A pipeline file compiled into a [`Pipeline`], with every problem that stops it, each naming
//! the file and the line: what Ceilometer's `PipelineManager` refuses (missing or duplicated
//! names, missing fields, a source feeding no such sink), filters, publisher URLs and
//! transformers that do not compile. `ceilo check`, `ceilo run` and a reload all compile
//! through here, so they refuse the same files with the same words.
//!
//! Reading the file (and the lines of its parts) is [`crate::config::pipeline`]'s job.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{Filter, Pipeline, Source};
use crate::config::pipeline::{PipelineFile, SourceDef};
use crate::model::yaml_outline::Outline;
use crate::model::Payload;
use crate::problem::Problem;
use crate::publish::PublisherUrl;
use crate::transform::{Chain, TransformError};

impl Pipeline {
    /// Read and compile the file at `path`: an empty pipeline when it does not exist.
    pub fn load(path: &Path, kind: Payload) -> Result<Pipeline, Vec<Problem>> {
        match PipelineFile::load_optional(path, kind) {
            Ok(Some(file)) => Pipeline::compile(&file),
            Ok(None) => Ok(Pipeline::empty()),
            Err(e) => Err(vec![e.into()]),
        }
    }

    /// [`Pipeline::load`] from text; `path` names the file in problems.
    pub fn parse(text: &str, path: &Path, kind: Payload) -> Result<Pipeline, Vec<Problem>> {
        let file = PipelineFile::parse(text, path, kind).map_err(|e| vec![e.into()])?;
        Pipeline::compile(&file)
    }

    /// Compile a file that was read; every problem when it cannot be.
    pub fn compile(file: &PipelineFile) -> Result<Pipeline, Vec<Problem>> {
        let (source_lines, sink_lines) = file.outlines();
        let mut c = Compiler {
            file,
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let mut pipeline = Pipeline::empty();
        let mut sink_index = HashMap::new();
        let mut sink_names = HashSet::new();
        for (i, sink) in file.sinks.iter().enumerate() {
            let at = sink_lines.get(i);
            let Some(name) = c.name("sink", i, sink.name.as_ref(), at, &mut sink_names) else {
                continue;
            };
            if sink.publishers.is_empty() {
                c.problem(
                    at.map(|o| o.line),
                    format!("sink {name:?}: no publisher specified"),
                );
            }
            let chain = c.chain(name, sink.transformers.as_ref(), at);
            let mut publishers = Vec::new();
            for url in &sink.publishers {
                let line = at
                    .and_then(|o| o.line_holding(url))
                    .or_else(|| key_line(at, "publishers"));
                match PublisherUrl::parse(url) {
                    Ok(publisher) => {
                        for warning in PublisherUrl::warnings(url) {
                            let text = format!("sink {name:?}: {warning}");
                            c.warnings.push(Problem::new(&file.path, line, text));
                        }
                        if file.kind == Payload::Events && !publisher.publishes_events() {
                            c.warnings.push(Problem::new(
                                &file.path,
                                line,
                                format!(
                                    "sink {name:?}: {}:// publishes samples only (Ceilometer's \
                                     publisher raises for events): this sink's events are not \
                                     sent to {url}",
                                    publisher.scheme()
                                ),
                            ));
                        }
                        publishers.push(publisher);
                    }
                    Err(e) => c.problem(line, format!("sink {name:?}: {e}")),
                }
            }
            sink_index.entry(name.as_str()).or_insert(pipeline.sinks.len());
            let indices = (0..publishers.len()).map(|p| pipeline.publishers.len() + p);
            pipeline.sinks.push(indices.collect());
            pipeline
                .publisher_sinks
                .extend(publishers.iter().map(|_| name.clone()));
            pipeline.publishers.extend(publishers);
            pipeline.chains.push(chain.unwrap_or_else(Chain::empty));
            pipeline.sink_defs.push(sink.clone());
        }
        let mut source_names = HashSet::new();
        for (i, source) in file.sources.iter().enumerate() {
            let at = source_lines.get(i);
            let Some(name) = c.name("source", i, source.name.as_ref(), at, &mut source_names) else {
                continue;
            };
            let field = SourceDef::field(file.kind);
            let filter = match source.filters(file.kind) {
                None => {
                    c.problem(
                        at.map(|o| o.line),
                        format!("source {name:?}: required field {field} not specified"),
                    );
                    None
                }
                Some(filters) => Filter::new(filters)
                    .map_err(|e| c.problem(key_line(at, field), format!("source {name:?}: {e}")))
                    .ok(),
            };
            if source.sinks.is_empty() {
                c.problem(
                    at.map(|o| o.line),
                    format!("source {name:?}: required field sinks not specified"),
                );
            }
            let mut sinks = Vec::new();
            for sink in &source.sinks {
                match sink_index.get(sink.as_str()) {
                    Some(s) => sinks.push(*s),
                    None => c.problem(
                        key_line(at, "sinks"),
                        format!("source {name:?}: no sink named {sink:?}"),
                    ),
                }
            }
            if let Some(filter) = filter {
                pipeline.sources.push(Source { filter, sinks });
            }
        }
        if !c.problems.is_empty() {
            return Err(c.problems);
        }
        pipeline.warnings = c.warnings;
        Ok(pipeline)
    }
}

/// The line of `key:` in a part, else the part's own line.
fn key_line(at: Option<&Outline>, key: &str) -> Option<usize> {
    at.map(|o| o.key_line(key).unwrap_or(o.line))
}

struct Compiler<'a> {
    file: &'a PipelineFile,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Compiler<'_> {
    fn problem(&mut self, line: Option<usize>, message: String) {
        self.problems.push(Problem::new(&self.file.path, line, message));
    }

    /// The name of the `i`th `part` (`sink` or `source`), `None` when it has none: that is a
    /// problem, and so is a name already in `seen` (that part is still checked).
    fn name<'f>(
        &mut self,
        part: &str,
        i: usize,
        name: Option<&'f String>,
        at: Option<&Outline>,
        seen: &mut HashSet<&'f str>,
    ) -> Option<&'f String> {
        let Some(name) = name else {
            self.problem(
                at.map(|o| o.line),
                format!("{part}s[{i}]: required field name not specified"),
            );
            return None;
        };
        if !seen.insert(name.as_str()) {
            self.problem(
                key_line(at, "name"),
                format!("{part} {name:?}: duplicated {part} name"),
            );
        }
        Some(name)
    }

    /// A sink's transformer chain; each entry that does not compile is a problem at the line
    /// of its parameter at fault (else of its `- `). Event sinks have none.
    fn chain(
        &mut self,
        sink: &str,
        transformers: Option<&yaml_serde::Value>,
        at: Option<&Outline>,
    ) -> Option<Chain> {
        let errors = match self.file.kind {
            Payload::Samples => match Chain::from_value(transformers) {
                Ok(chain) => return Some(chain),
                Err(errors) => errors,
            },
            Payload::Events if transformers.is_none_or(yaml_serde::Value::is_null) => {
                return Some(Chain::empty())
            }
            Payload::Events => vec![TransformError::param(
                "transformers",
                "event sinks have no transformers",
            )],
        };
        let entries = at.map(|o| o.items("transformers")).unwrap_or_default();
        for e in errors {
            let line = match e.index.and_then(|j| entries.get(j)) {
                Some(entry) => {
                    let param = e.param.as_deref().map(|p| p.rsplit('.').next().unwrap_or(p));
                    Some(param.and_then(|p| entry.nested_key_line(p)).unwrap_or(entry.line))
                }
                None => key_line(at, "transformers"),
            };
            self.problem(line, format!("sink {sink:?}: {e}"));
        }
        None
    }
}
