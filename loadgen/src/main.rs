//! loadgen: drives a Ceilometer-compatible agent through RabbitMQ and measures it end to end.
//! See docs/loadgen.md. This file is the command line only.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use loadgen::modes;
use loadgen::report::Report;

#[derive(Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Load generator and end-to-end meter for Ceilometer-compatible agents"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Queue N messages, then start the agent and measure how fast it drains them.
    Preload(modes::preload::Args),
    /// Hold a rate for a while; measure delays.
    Steady(modes::steady::Args),
    /// Raise the rate until the agent falls behind; report the knee.
    Ramp(modes::ramp::Args),
    /// Stand-in agent: ack only, republish, or one meter message per notification.
    Sink(modes::sink::Args),
}

fn output(report: &Report, common: &loadgen::session::Common) -> Result<ExitCode> {
    if let Some(p) = &common.report {
        let mut f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
        report.write_json(&mut f)?;
    }
    if common.json {
        report.write_table(&mut std::io::stderr())?;
        report.write_json(&mut std::io::stdout())?;
    } else {
        report.write_table(&mut std::io::stdout())?;
    }
    if common.fail_on_loss && report.has_loss_or_duplicates() {
        eprintln!("loadgen: loss or duplicates");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Preload(a) => {
            let c = a.common.clone();
            modes::preload::run(a).await.and_then(|r| output(&r, &c))
        }
        Mode::Steady(a) => {
            let c = a.common.clone();
            modes::steady::run(a).await.and_then(|r| output(&r, &c))
        }
        Mode::Ramp(a) => {
            let c = a.common.clone();
            modes::ramp::run(a).await.and_then(|r| output(&r, &c))
        }
        Mode::Sink(a) => modes::sink::run(a).await.map(|_| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}
