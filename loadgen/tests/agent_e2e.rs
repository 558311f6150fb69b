//! loadgen end to end on the real RabbitMQ (127.0.0.1:5672, guest/guest), one vhost per test.
//!
//! The agent under test is a command: by default loadgen's own `sink --to-sample` (a trivial agent
//! that turns each notification into one meter message on `metering.sample`). Point the tests at
//! another agent with `LOADGEN_TEST_AGENT` (a command line; `{url}` is the test vhost's URL) and
//! `LOADGEN_TEST_EXPECT` (`ceilometer` for an agent running Ceilometer's default definitions and
//! pipelines with notifier:// publishers), e.g. for ceilo:
//! `LOADGEN_TEST_AGENT="$PWD/target/release/ceilo run --transport-url {url} --config-dir DIR"`,
//! or for Ceilometer 27 itself (both tests that take the agent pass against it):
//! `LOADGEN_TEST_AGENT="$PWD/benches/ceilometer-agent.sh {url}" LOADGEN_TEST_EXPECT=ceilometer`
//! (tests run in loadgen/, so give absolute paths).

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

fn ensure_broker() {
    let up = || {
        TcpStream::connect_timeout(&"127.0.0.1:5672".parse().expect("addr"), Duration::from_secs(1)).is_ok()
    };
    if up() {
        return;
    }
    let _ = Command::new("rabbitmq-server").arg("-detached").status();
    let until = Instant::now() + Duration::from_secs(60);
    while !up() {
        assert!(
            Instant::now() < until,
            "RabbitMQ did not come up on 127.0.0.1:5672"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = Command::new("rabbitmqctl").args(["await_startup"]).status();
}

/// A vhost that exists for the life of the value.
struct Vhost(String);

impl Vhost {
    fn new(test: &str) -> Self {
        ensure_broker();
        let name = format!("loadgen-{test}-{}", std::process::id());
        let ok = Command::new("rabbitmqctl")
            .args(["add_vhost", &name])
            .output()
            .expect("rabbitmqctl");
        assert!(
            ok.status.success(),
            "add_vhost: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let ok = Command::new("rabbitmqctl")
            .args(["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"])
            .output()
            .expect("rabbitmqctl");
        assert!(
            ok.status.success(),
            "set_permissions: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        Self(name)
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.0)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

fn agent() -> String {
    std::env::var("LOADGEN_TEST_AGENT")
        .unwrap_or_else(|_| format!("{LOADGEN} sink --to-sample --url {{url}}"))
}

fn expect() -> String {
    std::env::var("LOADGEN_TEST_EXPECT").unwrap_or_else(|_| "one".into())
}

/// Runs loadgen with `args` against `vhost`; returns its JSON report.
fn loadgen(vhost: &Vhost, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.json");
    let out = Command::new(LOADGEN)
        .args(args)
        .args(["--url", &vhost.url(), "--quiet", "--max-time", "120"])
        .arg("--report")
        .arg(&report)
        .output()
        .expect("running loadgen");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no report; status {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(&text).expect("report is JSON")
}

fn n(r: &Value, k: &str) -> u64 {
    r[k].as_u64()
        .unwrap_or_else(|| panic!("report has no {k}: {r:#}"))
}

#[test]
fn a_healthy_agent_shows_zero_loss_and_zero_duplicates() {
    let v = Vhost::new("healthy");
    let (agent, expect) = (agent(), expect());
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            "3000",
            "--expect",
            &expect,
            "--agent-cmd",
            &agent,
        ],
    );
    assert_eq!(n(&r, "messages_in"), 3000, "{r:#}");
    assert_eq!(n(&r, "missing_records"), 0, "{r:#}");
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
    assert_eq!(n(&r, "messages_complete"), 3000, "{r:#}");
    assert_eq!(n(&r, "foreign_out"), 0, "{r:#}");
    assert_eq!(r["ended_by"], "all output arrived", "{r:#}");
    assert!(r["throughput"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert!(r["agent"]["peak_rss_mb"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
}

#[test]
fn an_agent_stopped_halfway_is_reported_as_losing_exactly_what_it_left_queued() {
    let v = Vhost::new("halfway");
    let (agent, expect) = (agent(), expect());
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            "5000",
            "--expect",
            &expect,
            "--agent-cmd",
            &agent,
            "--stop-agent-after",
            "1500",
            "--settle",
            "2",
        ],
    );
    let (complete, lost, depth) = (
        n(&r, "messages_complete"),
        n(&r, "messages_lost"),
        n(&r, "queue_depth_end"),
    );
    assert!(complete >= 1500 && lost > 0, "{r:#}");
    assert_eq!(complete + lost, 5000, "{r:#}");
    assert_eq!(lost, depth, "what is lost is exactly what is still queued: {r:#}");
    assert_eq!(n(&r, "messages_partial"), 0, "{r:#}");
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
    assert!(n(&r, "missing_records") >= lost, "{r:#}");
}

#[test]
fn a_sink_that_stops_after_n_leaves_exactly_the_rest_undelivered() {
    let v = Vhost::new("stopafter");
    let agent = format!("{LOADGEN} sink --to-sample --stop-after 1234 --url {{url}}");
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            "3000",
            "--expect",
            "one",
            "--agent-cmd",
            &agent,
            "--settle",
            "2",
        ],
    );
    assert_eq!(n(&r, "messages_complete"), 1234, "{r:#}");
    assert_eq!(n(&r, "messages_lost"), 3000 - 1234, "{r:#}");
    assert_eq!(n(&r, "missing_records"), 3000 - 1234, "{r:#}");
    assert_eq!(n(&r, "queue_depth_end"), 3000 - 1234, "{r:#}");
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
}

#[test]
fn steady_measures_delays_and_ramp_finds_a_knee() {
    let v = Vhost::new("steady");
    let (agent, expect) = (agent(), expect());
    let r = loadgen(
        &v,
        &[
            "steady",
            "--rate",
            "500",
            "--duration",
            "2",
            "--expect",
            &expect,
            "--agent-cmd",
            &agent,
            "--fail-on-loss",
        ],
    );
    assert_eq!(n(&r, "missing_records"), 0, "{r:#}");
    assert!((800..=1000).contains(&n(&r, "messages_in")), "{r:#}");
    let d = &r["delay"];
    assert!(d["p50_ms"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert!(d["max_ms"].as_f64() >= d["p99_ms"].as_f64(), "{r:#}");
    let r = loadgen(
        &v,
        &[
            "ramp",
            "--start-rate",
            "200",
            "--factor",
            "2",
            "--step",
            "1",
            "--max-rate",
            "400",
            "--max-lag",
            "3",
            "--expect",
            &expect,
            "--agent-cmd",
            &agent,
        ],
    );
    assert!(r["steps"].as_array().is_some_and(|s| !s.is_empty()), "{r:#}");
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
    assert!(
        r["knee_rate"].as_f64().is_some(),
        "a 400/s ramp is within the test agent's reach: {r:#}"
    );
}

#[test]
fn ack_only_and_republish_sinks_measure_the_broker() {
    let v = Vhost::new("sinks");
    let ack = format!("{LOADGEN} sink --ack-only --url {{url}}");
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            "2000",
            "--mix",
            "nova-*",
            "--expect",
            "none",
            "--agent-cmd",
            &ack,
        ],
    );
    assert_eq!(r["ended_by"], "queues empty", "{r:#}");
    assert!(r["drain_rate"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert_eq!(
        n(&r, "queue_depth_end"),
        0,
        "the ack-only sink finishes what it was given: {r:#}"
    );
    let v = Vhost::new("republish");
    let rep = format!("{LOADGEN} sink --republish --url {{url}}");
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            "2000",
            "--mix",
            "nova-*",
            "--expect",
            "one",
            "--agent-cmd",
            &rep,
        ],
    );
    assert_eq!(n(&r, "other_out"), 2000, "{r:#}");
    assert_eq!(
        (n(&r, "missing_records"), n(&r, "duplicate_records")),
        (0, 0),
        "{r:#}"
    );
}
