//! `ceilo run`: start the agent.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RunArgs {
    /// A directory laid out like /etc/ceilometer (ceilo.yaml, pipeline.yaml, meters.d/, ...).
    #[arg(long, default_value = "config")]
    pub config_dir: PathBuf,
    /// Overrides the config's transport: `memory://` or `amqp://user:pass@host:port/vhost`.
    #[arg(long)]
    pub transport_url: Option<String>,
}

pub fn run(_args: RunArgs) -> ExitCode {
    eprintln!("ceilo run: the agent runtime has not landed yet");
    ExitCode::FAILURE
}
