//! `ceilo check`: validate a config directory, reporting file, line and problem.

use std::path::Path;
use std::process::ExitCode;

pub fn check(_config_dir: &Path) -> ExitCode {
    ExitCode::FAILURE
}
