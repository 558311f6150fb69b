//! `ceilo convert`: AMQP bodies on stdin → `{"samples": [...], "events": [...]}` lines on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// A meters.yaml file or a meters.d directory (default: the shipped config/meters.d).
    #[arg(long)]
    pub meters: Option<PathBuf>,
    /// An event_definitions.yaml file.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// The telemetry_secret samples are signed with.
    #[arg(long, default_value = "change this for valid signing")]
    pub secret: String,
}

pub fn convert(_args: ConvertArgs) -> ExitCode {
    ExitCode::FAILURE
}
