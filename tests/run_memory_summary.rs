//! On `memory://`, `ceilo run` shows what it publishes (issue 16 item 7): a new user sees the
//! samples per meter on stderr within the first polling interval.

mod runtime_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use runtime_support::*;

#[test]
fn memory_run_logs_a_summary_of_the_published_samples() {
    let dir = config_dir(TELEMETRY);
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: host_pollsters\n    interval: 2\n    meters:\n      - \"hardware.cpu.load.*\"\n",
    )
    .unwrap();
    let err = dir.path().join("stderr.txt");
    let child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["run", "--config-dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn ceilo");
    // Stopped on drop, also when the wait below gives up.
    let agent = Agent::adopt(child, err.clone());
    let read = || std::fs::read_to_string(&err).unwrap_or_default();
    wait_until("a summary line", Duration::from_secs(40), || {
        read().contains("published in the last")
    });
    assert!(agent.terminate().success());
    let text = read();
    assert!(
        text.contains("a summary of it (samples per meter, events per type) is logged here"),
        "{text}"
    );
    let summary = text
        .lines()
        .find(|l| l.contains("published in the last"))
        .unwrap();
    for meter in [
        "hardware.cpu.load.1min",
        "hardware.cpu.load.5min",
        "hardware.cpu.load.15min",
    ] {
        assert!(summary.contains(&format!("{meter} ")), "{summary}");
    }
}
