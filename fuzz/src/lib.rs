//! ceilo's fuzzer: a coverage-free, structure-aware mutation fuzzer that runs on the stable
//! toolchain (cargo-fuzz and libFuzzer need nightly). It feeds ceilo's input parsers — the
//! oslo envelope decoder, conversion with the shipped definitions, jsonpath, the YAML
//! loaders ([`targets`]) — inputs mutated from the committed corpus ([`mutate`]) and turns
//! every way an input can kill the agent into a finding: a panic (caught per input), a stack
//! overflow or runaway allocation (an abort; the input is saved first), a hang (a watchdog).
//!
//! Runs are reproducible: input N of a run is a pure function of (target, seed, N, corpus), so
//! `--seed S --iteration N` regenerates it, and a saved artifact replays as is.
//!
//! What it does not do: coverage feedback (no instrumentation on stable); its reach comes
//! from seeds of real notifications and definitions, and mutations that know JSON and YAML.
//! See docs/fuzzing.md.

pub mod conf;
pub mod guard;
pub mod mutate;
pub mod pollster;
pub mod publish;
pub mod rng;
pub mod targets;
pub mod tree;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rng::Rng;
use targets::Target;

/// The stack the targets run on: what the agent's worker threads get (Rust's default for
/// spawned threads, used by actix arbiters and tokio workers), so a recursion that would
/// overflow in the agent overflows here.
pub const AGENT_STACK: usize = 2 << 20;

/// One run of one target.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: String,
    pub seed: u64,
    /// The first input's number (to resume or split a run).
    pub first: u64,
    pub iterations: u64,
    /// Where a finding's input is written.
    pub artifacts: PathBuf,
    /// Progress lines on stderr this often (`None`: quiet).
    pub progress: Option<Duration>,
}

/// What a finished run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: String,
    pub seed: u64,
    pub first: u64,
    pub inputs: u64,
    /// Inputs that got past the first parser ([`Target::accepted`]).
    pub accepted: u64,
    /// Inputs the converter refused for too much output ([`Target::over_output_limit`]).
    pub over_output_limit: u64,
    pub elapsed: Duration,
    pub largest_input: usize,
    /// The most any one input added to the live heap, and that input's size.
    pub peak_alloc: (usize, usize),
    pub slowest: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "target={} seed={} iterations={}..{} inputs={} accepted={} over_output_limit={} elapsed={:.1}s rate={:.0}/s largest_input={}B \
             peak_alloc={}B (input {}B) slowest={:.1}ms findings=0",
            self.target,
            self.seed,
            self.first,
            self.first + self.inputs,
            self.inputs,
            self.accepted,
            self.over_output_limit,
            self.elapsed.as_secs_f64(),
            self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.largest_input,
            self.peak_alloc.0,
            self.peak_alloc.1,
            self.slowest.as_secs_f64() * 1e3,
        )
    }
}

/// An input that panicked (aborts end the process and are reported by [`guard`]).
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: String,
    /// The input's number in the run, or `None` for a replayed file.
    pub iteration: Option<u64>,
    pub message: String,
    pub artifact: PathBuf,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ceilo-fuzz: PANIC in target {} at {}: {}\n  input saved to {}\n  replay: {}",
            self.target,
            self.iteration
                .map_or("a replayed input".to_owned(), |i| format!("iteration {i}")),
            self.message,
            self.artifact.display(),
            replay_command(&self.target, &self.artifact),
        )
    }
}

pub fn replay_command(target: &str, artifact: &Path) -> String {
    format!(
        "cargo run --release -p ceilo-fuzz -- replay --target {target} {}",
        artifact.display()
    )
}

/// Input `iteration` of the run of `target` seeded with `seed`.
pub fn generate(target: &dyn Target, seed: u64, iteration: u64, out: &mut Vec<u8>) {
    target.generate(&mut Rng::for_iteration(seed, iteration), out);
}

/// Run `f` on a thread with the agent's stack size.
pub fn on_agent_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("fuzz-target".into())
        .stack_size(AGENT_STACK)
        .spawn(f)
        .expect("spawn the fuzz thread")
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Feed one input to `target` under the guards; `Err` with the panic message.
fn run_one(
    target: &mut dyn Target,
    input: &[u8],
    iteration: Option<u64>,
    stats: &mut Report,
) -> Result<(), String> {
    guard::input_started(input, iteration);
    let started = Instant::now();
    let heap = guard::arm(input.len());
    let result = catch_unwind(AssertUnwindSafe(|| target.run(input)));
    let grew = guard::disarm(heap);
    let took = started.elapsed();
    guard::input_done();
    if grew > stats.peak_alloc.0 {
        stats.peak_alloc = (grew, input.len());
    }
    stats.slowest = stats.slowest.max(took);
    stats.largest_input = stats.largest_input.max(input.len());
    stats.inputs += 1;
    result.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned())
    })
}

fn prepare_artifacts(cfg_target: &str, artifacts: &Path, seed: Option<u64>) -> PathBuf {
    std::fs::create_dir_all(artifacts).unwrap_or_else(|e| panic!("{}: {e}", artifacts.display()));
    let artifact = artifacts.join(format!("{cfg_target}-crash.bin"));
    let mut message = format!(
        "  input saved to {}\n  replay: {}\n",
        artifact.display(),
        replay_command(cfg_target, &artifact)
    );
    if let Some(seed) = seed {
        message.push_str(&format!(
            "  or regenerate it: cargo run --release -p ceilo-fuzz -- generate --target {cfg_target} --seed {seed} --iteration N\n"
        ));
    }
    guard::install_abort_handler(&artifact, &message);
    artifact
}

/// A fuzzing run: inputs `first..first+iterations` of `cfg.target` with `cfg.seed`. Stops at
/// the first panic; an abort or hang ends the process (see [`guard`]).
pub fn run(cfg: RunConfig) -> Result<Report, Finding> {
    on_agent_stack(move || {
        let mut target =
            targets::build(&cfg.target).unwrap_or_else(|| panic!("unknown target {}", cfg.target));
        let artifact = prepare_artifacts(&cfg.target, &cfg.artifacts, Some(cfg.seed));
        let mut stats = Report {
            target: cfg.target.clone(),
            seed: cfg.seed,
            first: cfg.first,
            ..Report::default()
        };
        let started = Instant::now();
        let mut last_progress = Instant::now();
        let mut input = Vec::new();
        for i in cfg.first..cfg.first + cfg.iterations {
            generate(&*target, cfg.seed, i, &mut input);
            if let Err(message) = run_one(&mut *target, &input, Some(i), &mut stats) {
                let artifact = artifact.with_file_name(format!("{}-panic-{}-{i}.bin", cfg.target, cfg.seed));
                std::fs::write(&artifact, &input).unwrap_or_else(|e| panic!("{}: {e}", artifact.display()));
                return Err(Finding {
                    target: cfg.target.clone(),
                    iteration: Some(i),
                    message,
                    artifact,
                });
            }
            if let Some(every) = cfg.progress {
                if last_progress.elapsed() >= every {
                    last_progress = Instant::now();
                    stats.elapsed = started.elapsed();
                    stats.accepted = target.accepted();
                    stats.over_output_limit = target.over_output_limit();
                    eprintln!("progress: {stats}");
                }
            }
        }
        stats.elapsed = started.elapsed();
        stats.accepted = target.accepted();
        stats.over_output_limit = target.over_output_limit();
        Ok(stats)
    })
}

/// Feed each `(name, bytes)` input to `target` once (after the target's own seeds when
/// `with_seeds`), under the same guards as a run.
pub fn replay(
    target: &str,
    inputs: Vec<(PathBuf, Vec<u8>)>,
    with_seeds: bool,
    artifacts: &Path,
) -> Result<Report, Finding> {
    let target_name = target.to_owned();
    let artifacts = artifacts.to_owned();
    on_agent_stack(move || {
        let mut target =
            targets::build(&target_name).unwrap_or_else(|| panic!("unknown target {target_name}"));
        prepare_artifacts(&target_name, &artifacts, None);
        let mut stats = Report {
            target: target_name.clone(),
            ..Report::default()
        };
        let started = Instant::now();
        let mut all = Vec::new();
        if with_seeds {
            all.extend(target.seeds().into_iter().map(|s| (PathBuf::from("(a seed)"), s)));
        }
        all.extend(inputs);
        for (name, input) in all {
            run_one(&mut *target, &input, None, &mut stats).map_err(|message| Finding {
                target: target_name.clone(),
                iteration: None,
                message,
                artifact: name,
            })?;
        }
        stats.elapsed = started.elapsed();
        stats.accepted = target.accepted();
        stats.over_output_limit = target.over_output_limit();
        Ok(stats)
    })
}
