//! ceilo's own settings (`ceilo.yaml`) and the loaders for the pipeline definition files
//! (`pipeline.yaml`, `event_pipeline.yaml`).
//!
//! Every option is a field with a doc comment and a default: the same structs drive parsing,
//! validation ([`check`]) and the documentation of `config/ceilo.yaml`. [`definitions`] decides
//! which meter and event definitions a directory gives (compiling them is the conversion
//! modules' job).

pub mod ceilometer_conf;
pub mod definitions;
pub mod oslo;
pub mod pipeline;
pub mod secrets;
pub mod settings;

use std::path::{Path, PathBuf};

pub use pipeline::{PipelineFile, SinkDef, SourceDef};
pub use settings::{NotificationSettings, PublisherSettings, Settings};

/// The settings file ceilo looks for in a config directory.
pub const SETTINGS_FILE: &str = "ceilo.yaml";
/// Ceilometer's sample pipeline file.
pub const PIPELINE_FILE: &str = "pipeline.yaml";
/// Ceilometer's event pipeline file.
pub const EVENT_PIPELINE_FILE: &str = "event_pipeline.yaml";

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Yaml {
        path: PathBuf,
        source: yaml_serde::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

/// One problem found by [`check`]: the file and what is wrong (the YAML error carries the line).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    pub path: PathBuf,
    pub problem: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl From<ConfigError> for ConfigProblem {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Read { path, source } => ConfigProblem {
                path,
                problem: source.to_string(),
            },
            ConfigError::Yaml { path, source } => ConfigProblem {
                path,
                problem: source.to_string(),
            },
            ConfigError::Invalid { path, problem } => ConfigProblem { path, problem },
        }
    }
}

/// Validate the files this module owns in `dir`: ceilo.yaml (optional), pipeline.yaml and
/// event_pipeline.yaml (optional; a missing file means "no pipeline"). For `ceilo check`.
pub fn check(dir: &Path) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if let Err(e) = Settings::load(dir) {
        problems.push(e.into());
    }
    for (file, kind) in [
        (PIPELINE_FILE, pipeline::Kind::Samples),
        (EVENT_PIPELINE_FILE, pipeline::Kind::Events),
    ] {
        match PipelineFile::load_optional(&dir.join(file), kind) {
            Ok(Some(p)) => problems.extend(p.problems().into_iter().map(|problem| ConfigProblem {
                path: dir.join(file),
                problem,
            })),
            Ok(None) => {}
            Err(e) => problems.push(e.into()),
        }
    }
    problems
}

/// What the pipeline files in `dir` configure that will not happen (see
/// [`PipelineFile::warnings`]), each naming its file; files that do not load are `check`'s.
pub fn warnings(dir: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    for (file, kind) in [
        (PIPELINE_FILE, pipeline::Kind::Samples),
        (EVENT_PIPELINE_FILE, pipeline::Kind::Events),
    ] {
        if let Ok(Some(p)) = PipelineFile::load_optional(&dir.join(file), kind) {
            let path = dir.join(file);
            warnings.extend(
                p.warnings()
                    .into_iter()
                    .map(|w| format!("{}: {w}", path.display())),
            );
        }
    }
    warnings
}

pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}
