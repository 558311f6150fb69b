//! `ceilo-fuzz`: run, replay and regenerate fuzz inputs (see docs/fuzzing.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use ceilo_fuzz::{guard, targets, RunConfig};

#[global_allocator]
static GLOBAL: guard::CountingAlloc = guard::CountingAlloc;

#[derive(Parser)]
#[command(about = "Structure-aware mutation fuzzer for ceilo's input parsers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fuzz: inputs FIRST..FIRST+ITERATIONS of each target, seeded with SEED.
    Run {
        /// envelope, convert, publish, jsonpath, yaml, conf, pollster, or all (each in turn).
        #[arg(long, default_value = "all")]
        target: String,
        #[arg(long, default_value_t = 100_000)]
        iterations: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 0)]
        first: u64,
        /// Abort (and save the input) when one input runs longer than this.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// Where a crashing input is written.
        #[arg(long, default_value = "fuzz/artifacts")]
        artifacts: PathBuf,
        /// Seconds between progress lines on stderr.
        #[arg(long, default_value_t = 60)]
        progress_secs: u64,
    },
    /// Feed files to a target once each, under the same checks as a run.
    Replay {
        #[arg(long)]
        target: String,
        /// Also replay the target's seed corpus.
        #[arg(long)]
        seeds: bool,
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        #[arg(long, default_value = "fuzz/artifacts")]
        artifacts: PathBuf,
        files: Vec<PathBuf>,
    },
    /// Write input ITERATION of the run seeded with SEED (without running it).
    Generate {
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        iteration: u64,
        #[arg(short, long)]
        out: PathBuf,
    },
}

fn names(target: &str) -> Result<Vec<String>, String> {
    if target == "all" {
        return Ok(targets::NAMES.iter().map(|s| (*s).to_owned()).collect());
    }
    if targets::NAMES.contains(&target) {
        Ok(vec![target.to_owned()])
    } else {
        Err(format!(
            "unknown target {target:?}; one of {:?} or all",
            targets::NAMES
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            target,
            iterations,
            seed,
            first,
            timeout_ms,
            artifacts,
            progress_secs,
        } => names(&target).and_then(|names| {
            let _watchdog = guard::Watchdog::start(Duration::from_millis(timeout_ms));
            for target in names {
                let report = ceilo_fuzz::run(RunConfig {
                    target,
                    seed,
                    first,
                    iterations,
                    artifacts: artifacts.clone(),
                    progress: Some(Duration::from_secs(progress_secs)),
                })
                .map_err(|f| f.to_string())?;
                println!("{report}");
            }
            Ok(())
        }),
        Command::Replay {
            target,
            seeds,
            timeout_ms,
            artifacts,
            files,
        } => names(&target).and_then(|names| {
            let _watchdog = guard::Watchdog::start(Duration::from_millis(timeout_ms));
            let inputs: Vec<(PathBuf, Vec<u8>)> = files
                .iter()
                .map(|f| {
                    std::fs::read(f)
                        .map(|b| (f.clone(), b))
                        .map_err(|e| format!("{}: {e}", f.display()))
                })
                .collect::<Result<_, _>>()?;
            for target in names {
                let report = ceilo_fuzz::replay(&target, inputs.clone(), seeds, &artifacts)
                    .map_err(|f| f.to_string())?;
                println!("{report}");
            }
            Ok(())
        }),
        Command::Generate {
            target,
            seed,
            iteration,
            out,
        } => {
            let t = targets::build(&target).ok_or_else(|| format!("unknown target {target:?}"));
            t.and_then(|t| {
                let mut input = Vec::new();
                ceilo_fuzz::generate(&*t, seed, iteration, &mut input);
                std::fs::write(&out, &input).map_err(|e| format!("{}: {e}", out.display()))
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
