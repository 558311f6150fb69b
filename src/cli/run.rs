//! `ceilo run`: start the agent and run until SIGTERM. Exit status: 0 after a clean stop, 1 when
//! it cannot start, [`agent::EXIT_SHUTDOWN_TIMED_OUT`] (3) when the stop timed out.

use std::path::PathBuf;
use std::process::ExitCode;

use ceilo::agent::{self, AgentConfig, Stopped};

#[derive(clap::Args)]
pub struct RunArgs {
    /// A directory laid out like /etc/ceilometer (ceilo.yaml, pipeline.yaml, meters.d/, ...).
    #[arg(long, default_value = "config")]
    pub config_dir: PathBuf,
    /// Overrides the config's transport: `memory://` or `amqp://user:pass@host:port/vhost`.
    #[arg(long)]
    pub transport_url: Option<String>,
}

pub fn run(args: RunArgs) -> ExitCode {
    // Logging is set up by main (stderr; RUST_LOG, default info for the agent).
    let started = agent::load_converter(&args.config_dir)
        .and_then(|c| AgentConfig::load(&args.config_dir, args.transport_url.as_deref(), c))
        .and_then(agent::run);
    match started {
        Ok(Stopped::Clean) => ExitCode::SUCCESS,
        Ok(Stopped::TimedOut) => ExitCode::from(agent::EXIT_SHUTDOWN_TIMED_OUT),
        Err(e) => {
            eprintln!("ceilo run: {e}");
            ExitCode::FAILURE
        }
    }
}
