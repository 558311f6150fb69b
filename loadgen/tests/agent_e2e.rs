//! loadgen end to end on the real RabbitMQ (127.0.0.1:5672, guest/guest), one vhost per test.
//!
//! What CI runs (`scripts/test.sh`, the README's test command, in `.ci/run`: what
//! `cargo test --workspace` runs):
//!
//! * `agent_healthy_*` and `agent_halfway_*` — the issue's tests — run loadgen against **ceilo**:
//!   `ceilo run` with the default meter and event definitions shipped in `config/`, pipelines
//!   to `notifier://` (as `benches/compare.sh` writes them) and `--expect ceilometer`, so every
//!   message must yield exactly the samples and events Ceilometer 27 makes of it. 3000 messages
//!   with zero loss and zero duplicates; then 5000 with the agent stopped (SIGTERM) after 1500,
//!   where the loss loadgen reports must be exactly what the broker still holds.
//! * `stand_in_*`, the sink test and the steady/ramp test use loadgen's own stand-in agents
//!   (`loadgen sink`); they need nothing but loadgen, so when a ceilo run fails they tell whether
//!   loadgen or the agent is at fault, and they cover the modes and sinks themselves.
//!
//! ceilo's binary is taken from next to loadgen's (see [`ceilo_binary`]): `cargo test
//! --workspace` builds both before it runs any test. `cargo test -p loadgen` alone does not build
//! ceilo; the ceilo tests then fail and say how to build it (`cargo build --bin ceilo`).
//!
//! Another agent instead of ceilo: `LOADGEN_TEST_AGENT` (a command line; `{url}` is the test
//! vhost's URL) and `LOADGEN_TEST_EXPECT` (default `ceilometer`: Ceilometer's default
//! definitions and pipelines with notifier:// publishers). It replaces ceilo in the `agent_*`
//! tests and the stand-in in the steady/ramp test. For Ceilometer 27 itself (both `agent_*`
//! tests pass against it):
//! `LOADGEN_TEST_AGENT="$PWD/benches/ceilometer-agent.sh {url}" cargo test -p loadgen --test
//! agent_e2e -- agent_` (tests run in loadgen/, so give absolute paths).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

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

    /// Messages in the notification queues, counted by the broker (not by loadgen).
    fn notifications_queued(&self) -> u64 {
        let out = Command::new("rabbitmqctl")
            .args([
                "-q",
                "list_queues",
                "-p",
                &self.0,
                "--no-table-headers",
                "name",
                "messages",
            ])
            .output()
            .expect("rabbitmqctl");
        assert!(
            out.status.success(),
            "list_queues: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(name, _)| name.starts_with("notifications."))
            .map(|(_, n)| n.trim().parse::<u64>().expect("message count"))
            .sum()
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

/// `s` as one word for `sh -c` (loadgen runs `--agent-cmd` through the shell).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How to get a ceilo binary the tests can use.
const BUILD_CEILO: &str = "build it with `cargo build --bin ceilo` (same profile and target \
                           directory as the tests), or run `cargo test --workspace`, which builds \
                           it before running any test";

/// ceilo's binary: next to loadgen's, in the same target directory and profile.
///
/// Why there, rather than moving these tests into ceilo's package where
/// `env!("CARGO_BIN_EXE_ceilo")` would name it: loadgen must not depend on ceilo, so from ceilo's
/// tests the loadgen binary would be the one that might be missing or stale instead, and plain
/// `cargo test` in the root (ceilo's package only) would hit that. Here, `cargo test --workspace`
/// (CI) compiles every package's binaries — ceilo's is needed by ceilo's own integration tests —
/// before it runs any test, so the binary is there and current. `cargo test -p loadgen` does not
/// build it: then this fails, saying how to build it, rather than skipping or quietly testing an
/// old build — cargo's dep-info file next to the binary (`ceilo.d`) lists every source file it was
/// built from, and one changed since means the binary is stale.
fn ceilo_binary() -> PathBuf {
    let bin = Path::new(LOADGEN).with_file_name(format!("ceilo{}", std::env::consts::EXE_SUFFIX));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = mtime(&bin) else {
        panic!("no ceilo binary at {}: {BUILD_CEILO}", bin.display());
    };
    let dep_info_path = bin.with_file_name("ceilo.d");
    // `cargo build` writes ceilo.d beside the binary, `cargo test` rebuilds the binary without
    // rewriting it: a dep-info older than the binary may list sources that have since gone
    // (moved files), which then say nothing about this build. Sources it lists that still exist
    // are checked either way.
    let dep_info_is_of_this_build = mtime(&dep_info_path) >= Some(built);
    if let Ok(dep_info) = std::fs::read_to_string(&dep_info_path) {
        for source in dep_info_sources(&dep_info) {
            let changed = match mtime(Path::new(&source)) {
                Some(t) => t,
                None if dep_info_is_of_this_build => SystemTime::now(),
                None => continue,
            };
            assert!(
                changed <= built,
                "{} is stale: {source}, one of its sources, changed (or went) since it was built: \
                 {BUILD_CEILO}",
                bin.display()
            );
        }
    }
    bin
}

/// The prerequisites of the first rule of a Makefile-style dep-info file (`\ ` is a space).
fn dep_info_sources(text: &str) -> Vec<String> {
    let line = text.lines().next().unwrap_or("");
    let Some((_, deps)) = line.split_once(": ") else {
        return Vec::new();
    };
    let mut out = vec![String::new()];
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut().expect("one").extend(chars.next()),
            ' ' => out.push(String::new()),
            c => out.last_mut().expect("one").push(c),
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// A config directory for `ceilo run`: the definitions shipped in `config/` (meters.d,
/// event_definitions.yaml), pipelines sending everything to notifier:// (exchange `ceilometer`,
/// `metering.sample` / `event.sample`, which loadgen reads), and ceilo.yaml moving the
/// telemetry listener to a free port so agents of tests running at once (or a benchmark on the
/// same machine) do not fight over 9464; every other setting is ceilo's default.
///
/// Dropping it kills any process still running with this config dir (by pid): loadgen stops
/// the agent itself, even when it fails, but no test may leave an agent behind.
struct CeiloConfig(tempfile::TempDir);

impl CeiloConfig {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        std::fs::copy(
            config.join("event_definitions.yaml"),
            dir.path().join("event_definitions.yaml"),
        )
        .expect("config/event_definitions.yaml");
        let meters = dir.path().join("meters.d");
        std::fs::create_dir(&meters).expect("meters.d");
        for entry in std::fs::read_dir(config.join("meters.d")).expect("config/meters.d") {
            let p = entry.expect("config/meters.d entry").path();
            std::fs::copy(&p, meters.join(p.file_name().expect("name"))).expect("copy meters.d");
        }
        let pipeline = |kind: &str, name: &str| {
            format!(
                "---\nsources:\n    - name: {name}_source\n      {kind}:\n          - \"*\"\n      \
                 sinks:\n          - {name}_sink\nsinks:\n    - name: {name}_sink\n      \
                 publishers:\n          - notifier://\n"
            )
        };
        let files = [
            ("pipeline.yaml", pipeline("meters", "meter")),
            ("event_pipeline.yaml", pipeline("events", "event")),
            ("ceilo.yaml", "telemetry:\n  listen: 127.0.0.1:0\n".to_owned()),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect(name);
        }
        Self(dir)
    }

    fn dir(&self) -> String {
        self.0.path().to_str().expect("UTF-8 temp dir").to_owned()
    }

    /// Processes with this config dir as an argument (ceilo's `--config-dir DIR`).
    fn agents_left(&self) -> Vec<i32> {
        let dir = self.dir();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if cmdline.split(|&b| b == 0).any(|arg| arg == dir.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for CeiloConfig {
    fn drop(&mut self) {
        let left = self.agents_left();
        for &pid in &left {
            // SAFETY: kill(2) on a pid found above; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("loadgen left the agent running (pids {left:?}, killed now)");
        }
    }
}

/// The agent the `agent_*` tests measure: ceilo, unless `LOADGEN_TEST_AGENT` names another.
struct AgentUnderTest {
    cmd: String,
    expect: String,
    /// ceilo's config dir (kept for the life of the run), when the agent is ceilo.
    ceilo: Option<CeiloConfig>,
}

impl AgentUnderTest {
    fn new() -> Self {
        let expect = std::env::var("LOADGEN_TEST_EXPECT").unwrap_or_else(|_| "ceilometer".into());
        if let Ok(cmd) = std::env::var("LOADGEN_TEST_AGENT") {
            return Self {
                cmd,
                expect,
                ceilo: None,
            };
        }
        let bin = ceilo_binary();
        let config = CeiloConfig::new();
        let cmd = format!(
            "{} run --config-dir {} --transport-url {{url}}",
            sh_quote(bin.to_str().expect("UTF-8 path")),
            sh_quote(&config.dir())
        );
        Self {
            cmd,
            expect: "ceilometer".into(),
            ceilo: Some(config),
        }
    }

    /// loadgen's stand-in (`sink --to-sample`, one meter message per notification).
    fn stand_in() -> Self {
        Self {
            cmd: format!("{} sink --to-sample --url {{url}}", sh_quote(LOADGEN)),
            expect: "one".into(),
            ceilo: None,
        }
    }

    /// `LOADGEN_TEST_AGENT` if set, else the stand-in.
    fn stand_in_or_env() -> Self {
        match std::env::var("LOADGEN_TEST_AGENT") {
            Ok(_) => Self::new(),
            Err(_) => Self::stand_in(),
        }
    }
}

/// Runs loadgen with `args` against `vhost`; returns its JSON report.
fn loadgen(vhost: &Vhost, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.json");
    let log = dir.path().join("agent.log");
    let out = Command::new(LOADGEN)
        .args(args)
        .args(["--url", &vhost.url(), "--quiet", "--max-time", "120"])
        .arg("--report")
        .arg(&report)
        .arg("--agent-log")
        .arg(&log)
        .output()
        .expect("running loadgen");
    let agent_log = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no report; status {:?}\nstdout:\n{}\nstderr:\n{}\nagent log (end):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            agent_log()
        )
    });
    let mut r: Value = serde_json::from_str(&text).expect("report is JSON");
    // Shown with the report when an assertion fails; the whole log is kept for a failure that
    // needs more than its end.
    r["agent_log_end"] = Value::String(agent_log());
    // Named by the vhost without its pid: the next run of the test replaces it.
    let test = vhost
        .0
        .rsplit_once('-')
        .map_or(vhost.0.as_str(), |(test, _pid)| test);
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("agent_e2e-{test}.log"));
    if std::fs::copy(&log, &kept).is_ok() {
        r["agent_log"] = Value::String(kept.display().to_string());
    }
    r
}

fn n(r: &Value, k: &str) -> u64 {
    r[k].as_u64()
        .unwrap_or_else(|| panic!("report has no {k}: {r:#}"))
}

/// `count` messages of the default mix (every family, telemetry.polling included) through a
/// healthy agent: every expected record arrives once.
fn healthy(test: &str, agent: AgentUnderTest, count: u64) {
    let v = Vhost::new(test);
    // Declared after the vhost, so dropped (any leftover agent killed) before it is deleted.
    let agent = agent;
    let count_s = count.to_string();
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            &count_s,
            "--expect",
            &agent.expect,
            "--agent-cmd",
            &agent.cmd,
        ],
    );
    assert_eq!(n(&r, "messages_in"), count, "{r:#}");
    assert_eq!(n(&r, "missing_records"), 0, "{r:#}");
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
    assert_eq!(n(&r, "unexpected_records"), 0, "{r:#}");
    assert_eq!(n(&r, "messages_complete"), count, "{r:#}");
    assert_eq!(n(&r, "foreign_out"), 0, "{r:#}");
    assert_eq!(n(&r, "undecodable_out"), 0, "{r:#}");
    assert_eq!(r["ended_by"], "all output arrived", "{r:#}");
    assert!(r["throughput"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert!(r["agent"]["peak_rss_mb"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert_eq!(n(&r, "queue_depth_end"), 0, "{r:#}");
    assert_eq!(v.notifications_queued(), 0, "{r:#}");
    if agent.ceilo.is_some() {
        // SIGTERM at the end: ceilo flushes, acks and exits 0.
        assert_eq!(r["agent"]["exit"], "exit status: 0", "{r:#}");
    }
}

/// `count` messages, the agent stopped (SIGTERM) once `stop_after` are complete: what loadgen
/// reports lost must be exactly what the agent left undelivered — still queued, as the broker
/// counts it — and every expected record of those messages must be counted missing.
fn halfway(test: &str, agent: AgentUnderTest, count: u64, stop_after: u64) {
    let v = Vhost::new(test);
    let agent = agent;
    let (count_s, stop_s) = (count.to_string(), stop_after.to_string());
    let r = loadgen(
        &v,
        &[
            "preload",
            "--count",
            &count_s,
            "--expect",
            &agent.expect,
            "--agent-cmd",
            &agent.cmd,
            "--stop-agent-after",
            &stop_s,
            "--settle",
            "2",
        ],
    );
    let (complete, lost, depth) = (
        n(&r, "messages_complete"),
        n(&r, "messages_lost"),
        n(&r, "queue_depth_end"),
    );
    assert_eq!(n(&r, "messages_in"), count, "{r:#}");
    assert!(complete >= stop_after && lost > 0, "stopped halfway: {r:#}");
    assert_eq!(complete + lost, count, "{r:#}");
    assert_eq!(n(&r, "messages_partial"), 0, "{r:#}");
    assert_eq!(lost, depth, "what is lost is exactly what is still queued: {r:#}");
    assert_eq!(
        v.notifications_queued(),
        lost,
        "the broker holds exactly the messages reported lost: {r:#}"
    );
    assert_eq!(n(&r, "duplicate_records"), 0, "{r:#}");
    assert_eq!(n(&r, "unexpected_records"), 0, "{r:#}");
    assert!(n(&r, "missing_records") >= lost, "{r:#}");
    // Every expected record either arrived once or is counted missing.
    let out = n(&r, "samples_out") + n(&r, "events_out") + n(&r, "other_out");
    assert_eq!(out + n(&r, "missing_records"), n(&r, "expected_records"), "{r:#}");
    if agent.ceilo.is_some() {
        assert_eq!(r["agent"]["exit"], "exit status: 0", "{r:#}");
    }
}

#[test]
fn agent_healthy_shows_zero_loss_and_zero_duplicates() {
    healthy("healthy", AgentUnderTest::new(), 3000);
}

#[test]
fn agent_halfway_stopped_is_reported_as_losing_exactly_what_it_left_queued() {
    // On SIGTERM ceilo finishes and acks everything it was delivered, up to its prefetch (4000),
    // so only what lies beyond that stays queued: with 5000, a slow agent that had been
    // delivered the whole rest left nothing.
    halfway("halfway", AgentUnderTest::new(), 1500 + 3 * 4000, 1500);
}

#[test]
fn stand_in_healthy_shows_zero_loss_and_zero_duplicates() {
    healthy("stand-in-healthy", AgentUnderTest::stand_in(), 3000);
}

/// Also covers the sink's SIGTERM path: it finishes and acks what it was delivered.
#[test]
fn stand_in_halfway_stopped_loses_exactly_what_it_left_queued() {
    halfway("stand-in-halfway", AgentUnderTest::stand_in(), 5000, 1500);
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
    let a = AgentUnderTest::stand_in_or_env();
    let (agent, expect) = (a.cmd.clone(), a.expect.clone());
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

/// An ack-only sink's preload report: the queues were emptied, a drain rate was measured, and
/// nothing was left unacked when the sink was stopped.
fn assert_drained(r: &Value) {
    assert_eq!(r["ended_by"], "queues empty", "{r:#}");
    assert!(r["drain_rate"].as_f64().unwrap_or(0.0) > 0.0, "{r:#}");
    assert_eq!(
        n(r, "queue_depth_end"),
        0,
        "the sink acks all it was given: {r:#}"
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
    assert_drained(&r);
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

#[test]
fn the_raw_sink_drains_every_queue_and_stops_after_exactly_n() {
    let v = Vhost::new("rawsink");
    let raw = format!("{LOADGEN} sink --ack-only --raw --url {{url}}");
    let preload = |v: &Vhost, agent: &str| {
        loadgen(
            v,
            &[
                "preload",
                "--count",
                "3000",
                "--mix",
                "nova-*",
                "--expect",
                "none",
                "--agent-cmd",
                agent,
                "--settle",
                "2",
            ],
        )
    };
    let r = preload(&v, &raw);
    assert_drained(&r);
    let v = Vhost::new("rawstop");
    let r = preload(
        &v,
        &format!("{LOADGEN} sink --ack-only --raw --stop-after 1234 --url {{url}}"),
    );
    assert_eq!(
        n(&r, "queue_depth_end"),
        3000 - 1234,
        "exactly 1234 acked, the rest requeued: {r:#}"
    );
}
