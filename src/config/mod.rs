//! ceilo's own settings (`ceilo.yaml`) and the readers of the pipeline files
//! (`pipeline.yaml`, `event_pipeline.yaml`).
//!
//! Every option is a field with a doc comment and a default: the same structs drive parsing,
//! validation and the documentation of `config/ceilo.yaml`. The pipeline files are read here
//! with the lines of their parts ([`crate::model::yaml_outline`]); what they mean is checked
//! where they are compiled ([`crate::pipeline`]). [`definitions`] decides which meter and event
//! definitions a directory gives (compiling them is the conversion modules' job). A file that
//! cannot be used is a [`ConfigError`], printed as a [`Problem`].

pub mod ceilometer_conf;
pub mod definitions;
pub mod gnocchi;
pub mod oslo;
pub mod pipeline;
pub mod polling_options;
pub mod secrets;
pub mod settings;

use std::path::{Path, PathBuf};

use crate::problem::Problem;

pub use gnocchi::{AuthMode, GnocchiSettings};
pub use pipeline::{PipelineFile, SinkDef, SourceDef};
pub use polling_options::PollingOptions;
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
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Yaml {
        path: PathBuf,
        source: yaml_serde::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

impl From<ConfigError> for Problem {
    /// The file, the line when the YAML error knows it, and the message.
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Read { path, source } => Problem::new(&path, None, format!("cannot read: {source}")),
            ConfigError::Yaml { path, source } => {
                Problem::new(&path, source.location().map(|l| l.line()), source)
            }
            ConfigError::Invalid { path, problem } => Problem::new(&path, None, problem),
        }
    }
}

pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}
