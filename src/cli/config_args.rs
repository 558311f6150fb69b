//! `--config-file` / `--config-dir`, shared by `run`, `check` and `convert`: either ceilo's
//! own config directory, or Ceilometer's oslo.config files (`ceilometer.conf`) read directly.
//!
//! Without `--config-file`, `--config-dir` is ceilo's directory laid out like
//! /etc/ceilometer (ceilo.yaml, pipeline.yaml, meters.d/, ...), default `config`. With
//! `--config-file`, both mean what they mean to oslo.config: the files are read in order,
//! then each `--config-dir`'s `*.conf` in sorted order (after every `--config-file`, whatever
//! the order on the command line), and the definition files are where its options say, found
//! as Ceilometer finds them (see [`ceilo::config::ceilometer_conf`]).

use std::path::{Path, PathBuf};

use ceilo::config::ceilometer_conf::CeilometerConf;
use ceilo::config::definitions::DefinitionFiles;
use ceilo::config::Settings;

#[derive(clap::Args, Clone, Default)]
pub struct ConfigArgs {
    /// An oslo.config file such as /etc/ceilometer/ceilometer.conf (repeatable: later files
    /// win). Its options replace ceilo.yaml's.
    #[arg(long)]
    pub config_file: Vec<PathBuf>,
    /// With --config-file: a directory of *.conf files read after them, in sorted order
    /// (repeatable). Without: ceilo's config directory, laid out like /etc/ceilometer
    /// (ceilo.yaml, pipeline.yaml, meters.d/, ...); default `config`.
    #[arg(long)]
    pub config_dir: Vec<PathBuf>,
}

/// Where the definitions are, and the settings when the oslo files gave them.
pub struct Resolved {
    pub files: DefinitionFiles,
    /// `Some` with --config-file (ceilo.yaml beside the definitions, then the oslo options).
    pub conf: Option<CeilometerConf>,
}

impl Resolved {
    /// The settings: the oslo files' when given, else `<dir>/ceilo.yaml`'s.
    pub fn settings(&self) -> Result<Settings, ceilo::config::ConfigError> {
        match &self.conf {
            Some(conf) => Ok(conf.settings.clone()),
            None => Settings::load(&self.files.dir),
        }
    }
}

impl ConfigArgs {
    /// Whether the oslo files are read.
    pub fn oslo(&self) -> bool {
        !self.config_file.is_empty()
    }

    pub fn resolve(&self) -> Result<Resolved, String> {
        if self.oslo() {
            let conf =
                CeilometerConf::load(&self.config_file, &self.config_dir).map_err(|e| e.to_string())?;
            return Ok(Resolved {
                files: conf.files.clone(),
                conf: Some(conf),
            });
        }
        match self.config_dir.as_slice() {
            [] => Ok(Resolved {
                files: DefinitionFiles::in_dir(Path::new("config")),
                conf: None,
            }),
            [dir] => Ok(Resolved {
                files: DefinitionFiles::in_dir(dir),
                conf: None,
            }),
            _ => Err(
                "several --config-dir are oslo.config directories: give the ceilometer.conf \
                      with --config-file too (or one ceilo config directory)"
                    .into(),
            ),
        }
    }
}
