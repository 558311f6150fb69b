//! `ceilo run`: start the agent and run until SIGTERM. Exit status: 0 after a clean stop, 1 when
//! it cannot start, [`agent::EXIT_SHUTDOWN_TIMED_OUT`] (3) when the stop timed out.

use std::process::ExitCode;

use ceilo::agent::{self, AgentConfig, Stopped};

use crate::cli::config_args::ConfigArgs;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Overrides the config's (ceilo.yaml's and ceilometer.conf's) transport: `memory://` or `amqp://user:pass@host:port/vhost`.
    #[arg(long)]
    pub transport_url: Option<String>,
}

pub fn run(args: RunArgs) -> ExitCode {
    // Logging is set up by main (stderr; RUST_LOG, default info for the agent).
    let resolved = match args.config.resolve() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ceilo run: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(conf) = &resolved.conf {
        conf.log_unused();
    }
    let started = resolved
        .settings()
        .map_err(agent::AgentError::from)
        .and_then(|settings| {
            let converter = agent::load_converter(&resolved.dir, settings.event.options())?;
            AgentConfig::load_with(&resolved.dir, settings, args.transport_url.as_deref(), converter)
        })
        .and_then(|config| {
            agent::summary::spawn_if_memory(&config.settings);
            agent::run(config)
        });
    match started {
        Ok(Stopped::Clean) => ExitCode::SUCCESS,
        Ok(Stopped::TimedOut) => ExitCode::from(agent::EXIT_SHUTDOWN_TIMED_OUT),
        Err(e) => {
            eprintln!("ceilo run: {e}");
            ExitCode::FAILURE
        }
    }
}
