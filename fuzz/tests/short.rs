//! The fuzzer in the test suite: a short deterministic run of every target (the same inputs
//! every time: fixed seed, fixed corpus), and a replay of the whole committed corpus — every
//! seed, and every input that once crashed ceilo (`corpus/regressions/<target>/`).
//!
//! A finding fails the test with the input saved and the command that replays it; an abort
//! (stack overflow, runaway allocation, hang) ends the test binary with the same message.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ceilo_fuzz::{guard, targets, RunConfig};

#[global_allocator]
static GLOBAL: guard::CountingAlloc = guard::CountingAlloc;

/// The guards (allocation limit, current input, watchdog) are process-wide: one target at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Generous: a debug build on a loaded machine, not a speed check.
const HANG: Duration = Duration::from_secs(60);

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-artifacts")
}

fn short_run(target: &str, iterations: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _watchdog = guard::Watchdog::start(HANG);
    let report = ceilo_fuzz::run(RunConfig {
        target: target.to_owned(),
        seed: 20_261_203,
        first: 0,
        iterations,
        artifacts: artifacts(),
        progress: None,
    })
    .unwrap_or_else(|finding| panic!("{finding}"));
    eprintln!("{report}");
    assert_eq!(report.inputs, iterations);
    // The mutations must not only make garbage: part of the inputs reach the code behind the
    // first parser.
    assert!(
        report.accepted * 10 >= iterations,
        "only {} of {iterations} inputs got past the first parser",
        report.accepted
    );
}

#[test]
fn envelope_short_run_finds_nothing() {
    short_run("envelope", 800);
}

#[test]
fn convert_short_run_finds_nothing() {
    short_run("convert", 500);
}

#[test]
fn publish_short_run_finds_nothing() {
    short_run("publish", 300);
}

#[test]
fn jsonpath_short_run_finds_nothing() {
    short_run("jsonpath", 800);
}

#[test]
fn yaml_short_run_finds_nothing() {
    short_run("yaml", 80);
}

#[test]
fn conf_short_run_finds_nothing() {
    short_run("conf", 300);
}

#[test]
fn pollster_short_run_finds_nothing() {
    short_run("pollster", 300);
}

#[test]
fn committed_corpus_replays_cleanly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _watchdog = guard::Watchdog::start(HANG);
    let regressions = targets::fuzz_dir().join("corpus/regressions");
    for target in targets::NAMES {
        let inputs: Vec<(PathBuf, Vec<u8>)> = targets::files_in(&regressions.join(target))
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p, bytes)
            })
            .collect();
        let amplifying = inputs.len() as u64;
        let report = ceilo_fuzz::replay(target, inputs, true, &artifacts())
            .unwrap_or_else(|finding| panic!("{finding}"));
        eprintln!("{report}");
        assert!(report.inputs > 0, "{target}: nothing replayed");
        if *target == "convert" {
            // Its regressions are the output amplifications (docs/fuzzing.md): each is refused
            // by the output limit, and no seed is.
            assert_eq!(report.over_output_limit, amplifying, "{report}");
            assert!(amplifying >= 2);
        }
    }
}

#[test]
fn an_input_is_a_pure_function_of_seed_and_iteration() {
    for name in targets::NAMES {
        let target = targets::build(name).expect("a target");
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        ceilo_fuzz::generate(&*target, 7, 41, &mut a);
        ceilo_fuzz::generate(&*target, 7, 41, &mut b);
        ceilo_fuzz::generate(&*target, 7, 42, &mut c);
        assert_eq!(a, b, "{name}");
        assert_ne!(a, c, "{name}");
    }
}
