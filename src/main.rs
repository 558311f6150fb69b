//! The `ceilo` command line: `run` the agent, `convert` bodies offline, `check` a config dir.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod allocator;
mod cli;

// jemalloc for small blocks, the kernel for big ones (allocator.rs says why).
#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

#[derive(Parser)]
#[command(
    name = "ceilo",
    version,
    about = "Ceilometer-compatible, high-throughput telemetry agent"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// How logs are written: `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: cli::logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent (notification and/or polling) until SIGTERM.
    Run(cli::run::RunArgs),
    /// Convert AMQP bodies (one JSON document per line on stdin) into samples and events.
    Convert(cli::convert::ConvertArgs),
    /// Validate every definition and config file of a config directory.
    Check {
        #[command(flatten)]
        config: cli::config_args::ConfigArgs,
        /// The `--transport-url` that `ceilo run` will be given, checked as `run` checks it.
        #[arg(long)]
        transport_url: Option<String>,
    },
    /// Show the live rates of a running agent, read from its /metrics.
    Top(cli::top::TopArgs),
    /// Create Ceilometer's resource types in Gnocchi, or add the attributes they lack, as
    /// ceilometer-upgrade does: once before the first gnocchi:// publisher writes.
    Upgrade(cli::upgrade::UpgradeArgs),
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let args = Args::parse();
    // The agent says what it does at info; the offline commands only warn.
    let default_level = if matches!(args.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    let oslo = match &args.command {
        Command::Run(cli::run::RunArgs { config, .. })
        | Command::Check { config, .. }
        | Command::Convert(cli::convert::ConvertArgs { config, .. })
        | Command::Upgrade(cli::upgrade::UpgradeArgs { config, .. })
            if config.oslo() =>
        {
            ceilo::config::ceilometer_conf::Logging::read(&config.config_file, &config.config_dir)
        }
        _ => Default::default(),
    };
    let log_throttle = cli::logging::init(args.log_format, default_level, &oslo);
    let code = match args.command {
        Command::Run(run) => cli::run::run(run),
        Command::Convert(convert) => cli::convert::convert(convert),
        Command::Check {
            config,
            transport_url,
        } => cli::check::check(&config, transport_url.as_deref()),
        Command::Top(top) => cli::top::top(top),
        Command::Upgrade(upgrade) => cli::upgrade::upgrade(upgrade),
    };
    log_throttle.say_held_back();
    code
}

/// Where transparent huge pages are on (`always`, or an allocator asking for them, as mimalloc
/// did), the first touch of each 2 MiB region of the heap faults in and zeroes all of it: under
/// load that was a fifth of the agent's CPU (`clear_page_erms`) and ~65 MB of RSS that 4 KiB
/// pages never touch. Applies to the whole process, including mappings made before this call.
fn disable_transparent_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and only sets a flag on the mm.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!("PR_SET_THP_DISABLE failed: {}", std::io::Error::last_os_error());
    }
}
