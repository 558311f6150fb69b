//! `ceilo run`: start the agent and run until SIGTERM. Exit status: 0 after a clean stop, 1 when
//! it cannot start, [`agent::EXIT_SHUTDOWN_TIMED_OUT`] (3) when the stop timed out.
//! `--agent` picks one of the two agents, as Ceilometer's two services (and ceilo's two
//! systemd units) run them; without it the config decides.

use std::net::SocketAddr;
use std::process::ExitCode;

use ceilo::agent::{self, AgentConfig, Stopped};
use ceilo::config::definitions::DefinitionFiles;
use ceilo::config::Settings;

use crate::cli::config_args::ConfigArgs;

#[derive(clap::Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Overrides the config's (ceilo.yaml's and ceilometer.conf's) transport: `memory://` or `amqp://user:pass@host:port/vhost`.
    #[arg(long)]
    pub transport_url: Option<String>,
    /// Run one agent only. Default: what the config says (`notification.enabled`,
    /// `polling_enabled`: both with memory://, the notification agent with a broker).
    #[arg(long, value_enum)]
    pub agent: Option<AgentKind>,
    /// Overrides `telemetry.listen` (/metrics, /healthz, /readyz): two agents on one host
    /// need two addresses.
    #[arg(long)]
    pub telemetry_listen: Option<SocketAddr>,
    /// The polling namespaces this agent runs (`compute`, `central`, `ipmi`), as `ceilometer-polling
    /// --polling-namespaces`: only their pollsters poll. Overrides `polling.polling_namespaces`
    /// (ceilometer.conf `[DEFAULT] polling_namespaces`).
    #[arg(long, num_args = 1.., value_name = "NAMESPACE")]
    pub polling_namespaces: Option<Vec<String>>,
}

/// One of Ceilometer's two agents.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    /// The notification agent only (ceilometer-agent-notification): no polling.
    Notification,
    /// The polling agent only (ceilometer-polling): needs polling.yaml; consumes no queue.
    Polling,
}

impl AgentKind {
    fn name(self) -> &'static str {
        match self {
            AgentKind::Notification => "notification",
            AgentKind::Polling => "polling",
        }
    }

    fn select(self, settings: &mut Settings) {
        let polling = self == AgentKind::Polling;
        settings.notification.enabled = !polling;
        settings.polling_enabled = Some(polling);
    }
}

impl RunArgs {
    /// `--agent`, `--telemetry-listen` and `--polling-namespaces` over the config's settings.
    fn override_settings(&self, settings: &mut Settings) {
        if let Some(kind) = self.agent {
            kind.select(settings);
        }
        if let Some(listen) = self.telemetry_listen {
            settings.telemetry.listen = listen;
        }
        if let Some(namespaces) = &self.polling_namespaces {
            settings.polling.polling_namespaces = namespaces.clone();
        }
    }

    /// What a SIGHUP reads: the same config, resolved again, with the same overrides.
    fn reload_loader(&self) -> agent::reload::Loader {
        let args = self.clone();
        Box::new(move || {
            let resolved = args.config.resolve().map_err(agent::AgentError::Runtime)?;
            let mut settings = resolved.settings()?;
            args.override_settings(&mut settings);
            if let Some(url) = &args.transport_url {
                settings.transport_url = url.clone();
            }
            Ok(agent::reload::Source {
                files: resolved.files,
                settings,
            })
        })
    }

    /// Refuses an `--agent` that would run but do nothing useful.
    fn check_selection(
        &self,
        config: &AgentConfig,
        files: &DefinitionFiles,
    ) -> Result<(), agent::AgentError> {
        let Some(kind) = self.agent else {
            return Ok(());
        };
        // memory:// is one process: a split agent would send to, or wait for, nobody.
        if config.settings.transport_url.starts_with("memory:") {
            return Err(agent::AgentError::Runtime(format!(
                "--agent {}: the transport is memory://, which only reaches this process; set \
                 transport_url (ceilo.yaml or ceilometer.conf) or --transport-url to the broker",
                kind.name()
            )));
        }
        if kind == AgentKind::Polling && config.polling.is_none() {
            return Err(agent::AgentError::Runtime(format!(
                "--agent polling: {} does not exist: nothing to poll",
                files.polling.display()
            )));
        }
        Ok(())
    }
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
        .and_then(|mut settings| {
            args.override_settings(&mut settings);
            let converter = agent::load_converter(&resolved.files, &settings)?;
            let config = AgentConfig::load_with(
                &resolved.files,
                settings,
                args.transport_url.as_deref(),
                converter,
            )?;
            args.check_selection(&config, &resolved.files)?;
            Ok(config)
        })
        .and_then(|config| {
            agent::summary::spawn_if_memory(&config.settings);
            agent::run(config, args.reload_loader())
        });
    match started {
        Ok(Stopped::Clean) => ExitCode::SUCCESS,
        Ok(Stopped::TimedOut) => ExitCode::from(agent::EXIT_SHUTDOWN_TIMED_OUT),
        // One line per problem, as `ceilo check` prints them.
        Err(agent::AgentError::Problems(problems)) => {
            for problem in problems {
                eprintln!("ceilo run: {problem}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ceilo run: {e}");
            ExitCode::FAILURE
        }
    }
}
