//! `ceilo upgrade`: what `ceilometer-upgrade` does before Ceilometer's Gnocchi publisher can
//! write, done with the Gnocchi credentials `gnocchi://` publishers use (ceilo.yaml's
//! `gnocchi:`, or ceilometer.conf's `[service_credentials]`): Ceilometer 27's resource types
//! created, or given the attributes they lack ([`ceilo::publish::gnocchi::resource_types`]).
//! Gnocchi not answering is tried again (every 5 s, `--retry` times, forever by default, as
//! `ceilometer-upgrade` retries); a refusal is not.

use std::process::ExitCode;
use std::time::Duration;

use ceilo::publish::gnocchi::resource_types::{self, UpgradeError};

use crate::cli::config_args::ConfigArgs;

#[derive(clap::Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// How many times to try again while Gnocchi (or Keystone) does not answer (default: until
    /// it does).
    #[arg(long)]
    pub retry: Option<u32>,
    /// Do nothing to Gnocchi (ceilometer-upgrade's option of the same name).
    #[arg(long)]
    pub skip_gnocchi_resource_types: bool,
}

/// Between tries while Gnocchi does not answer.
const RETRY_EVERY: Duration = Duration::from_secs(5);

pub fn upgrade(args: UpgradeArgs) -> ExitCode {
    if args.skip_gnocchi_resource_types {
        tracing::info!("skipping the Gnocchi resource types");
        return ExitCode::SUCCESS;
    }
    let access = args
        .config
        .resolve()
        .and_then(|resolved| resolved.settings().map_err(|e| e.to_string()))
        .and_then(|settings| ceilo::agent::publishers::gnocchi_access(&settings).map_err(|e| e.to_string()))
        .and_then(|access| access.client(Duration::from_secs(30)));
    let client = match access {
        Ok(client) => client,
        Err(e) => {
            eprintln!("ceilo upgrade: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ceilo upgrade: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tries = 0u32;
    loop {
        match runtime.block_on(resource_types::upgrade(&client)) {
            Ok(done) => {
                for change in &done {
                    println!("{change}");
                }
                println!(
                    "gnocchi at {}: resource types up to date ({} changes)",
                    client.endpoint(),
                    done.len()
                );
                return ExitCode::SUCCESS;
            }
            Err(UpgradeError::Unavailable(e)) if args.retry.is_none_or(|n| tries < n) => {
                tries += 1;
                tracing::warn!(error = %e, retry_in = ?RETRY_EVERY, tries, "gnocchi does not answer");
                std::thread::sleep(RETRY_EVERY);
            }
            Err(e) => {
                eprintln!("ceilo upgrade: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}
