//! Logs for services: no colour when stderr is not a terminal, `--log-format json` (one object
//! a line), and oslo's `[DEFAULT] debug` / `log_file` / `use_json` from ceilometer.conf.

mod runtime_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use runtime_support::*;

/// `ceilo run <args>` with stderr into `stderr` and RUST_LOG unset (the config decides).
fn run(args: &[&str], stderr: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("run")
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("spawn ceilo")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Started on memory:// once every priority's queue is consumed.
fn started(text: &str) -> bool {
    text.matches("consuming").count() >= 7
}

#[test]
fn text_logs_have_no_colour_when_stderr_is_a_file() {
    let dir = config_dir(TELEMETRY);
    let err = dir.path().join("stderr.txt");
    let child = run(&["--config-dir", dir.path().to_str().unwrap()], &err);
    wait_until("the agent to start", Duration::from_secs(30), || {
        started(&read(&err))
    });
    stop(child);
    let text = read(&err);
    assert!(text.contains(" INFO "), "{text}");
    assert!(!text.contains('\x1b'), "escape codes in a file: {text:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = config_dir(TELEMETRY);
    let err = dir.path().join("stderr.txt");
    let child = run(
        &[
            "--log-format",
            "json",
            "--config-dir",
            dir.path().to_str().unwrap(),
        ],
        &err,
    );
    wait_until("the agent to start", Duration::from_secs(30), || {
        started(&read(&err))
    });
    stop(child);
    let text = read(&err);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() >= 8, "{text}");
    for line in &lines {
        assert!(
            line["level"].is_string() && line["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"] == "consuming" && l["fields"]["transport"] == "memory://"));
}

#[test]
fn ceilometer_conf_debug_log_file_and_use_json() {
    let broker = Broker::new("oslo-log");
    let dir = config_dir(TELEMETRY);
    let log = dir.path().join("ceilometer-agent.log");
    let conf = dir.path().join("ceilometer.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntransport_url = {}\ndebug = true\nlog_dir = {}\nlog_file = ceilometer-agent.log\nuse_json = true\n",
            broker.url(),
            dir.path().display()
        ),
    )
    .unwrap();
    let err = dir.path().join("stderr.txt");
    let child = run(&["--config-file", conf.to_str().unwrap()], &err);
    // "AMQP connection open" is logged at debug: only [DEFAULT] debug shows it.
    wait_until("a debug line in log_file", Duration::from_secs(30), || {
        read(&log).contains("AMQP connection open")
    });
    stop(child);
    let text = read(&log);
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    }
    assert!(text.contains("\"level\":\"DEBUG\""), "{text}");
    assert_eq!(read(&err), "", "everything goes to log_file");
}

/// oslo.log's `rate_limit_burst` / `rate_limit_interval`: three lines in ten minutes, from every place
/// and level together (`rate_limit_except_level` left at CRITICAL), then oslo's own line saying
/// it drops. The agent goes on: a bad body is dead-lettered though its line is not written.
#[test]
fn ceilometer_conf_rate_limit_writes_the_burst_then_drops() {
    let broker = Broker::new("oslo-rate-limit");
    let dir = config_dir(TELEMETRY);
    let conf = dir.path().join("ceilometer.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntransport_url = {}\nuse_json = true\nrate_limit_burst = 3\nrate_limit_interval = 600\n",
            broker.url()
        ),
    )
    .unwrap();
    let err = dir.path().join("stderr.txt");
    let agent = Agent::adopt(run(&["--config-file", conf.to_str().unwrap()], &err), err.clone());
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.info")
    });
    let rt = runtime();
    let bad = (
        "nova".to_owned(),
        "notifications.info".to_owned(),
        b"not JSON".to_vec(),
    );
    rt.block_on(publish(&broker.url(), &[bad]));
    wait_until("the bad body dead-lettered", Duration::from_secs(30), || {
        broker.counts("ceilo.dead-letter").0 == 1
    });
    let (status, text) = agent.terminate_with_log();
    assert!(status.success(), "{status:?}");

    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (said, written): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l["target"] == "ceilo::log_throttle");
    assert_eq!(written.len(), 3, "the burst:\n{text}");
    assert_eq!(said.len(), 1, "{text}");
    assert_eq!(said[0]["level"], "ERROR");
    assert_eq!(
        said[0]["fields"]["message"],
        "Logging rate limit: drop after 3 records/600 sec"
    );
    assert!(!text.contains("dead-lettering"), "{text}");
}

/// A producer sending unreadable notifications by the thousand: each is dead-lettered with its
/// reason, and the log gets the first hundred lines of the minute from that place, a line saying
/// the rest are counted, and at the end of the minute, or as the agent stops, how many were left
/// out. Every one is accounted for.
#[test]
fn a_flood_of_unreadable_notifications_writes_a_bounded_log_and_counts_the_rest() {
    const FLOOD: usize = 1000;
    let broker = Broker::new("log-flood");
    let url = broker.url();
    let dir = config_dir(TELEMETRY);
    let err = dir.path().join("stderr.txt");
    let agent = Agent::adopt(
        run(
            &[
                "--config-dir",
                dir.path().to_str().unwrap(),
                "--transport-url",
                &url,
                "--log-format",
                "json",
            ],
            &err,
        ),
        err.clone(),
    );
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.info")
    });
    let bodies: Vec<_> = (0..FLOOD)
        .map(|i| {
            (
                "nova".to_owned(),
                "notifications.info".to_owned(),
                format!("not JSON {i}").into_bytes(),
            )
        })
        .collect();
    let rt = runtime();
    rt.block_on(publish(&url, &bodies));
    wait_until("every body dead-lettered", Duration::from_secs(60), || {
        broker.counts("ceilo.dead-letter").0 == FLOOD as u64
    });
    wait_until("the quiet spell said", Duration::from_secs(10), || {
        agent.log_text().contains("counted, not written")
    });
    let (status, text) = agent.terminate_with_log();
    assert!(status.success(), "{status:?}");

    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let message = |l: &serde_json::Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    let written = lines
        .iter()
        .filter(|l| message(l) == "dead-lettering a delivery")
        .count();
    let notices: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "ceilo::log_throttle")
        .collect();
    let left_out: u64 = notices.iter().filter_map(|l| l["fields"]["lines"].as_u64()).sum();
    assert!(
        (100..=200).contains(&written),
        "a hundred a minute, at most two minutes begun: {written}\n{text}"
    );
    assert_eq!(
        written as u64 + left_out,
        FLOOD as u64,
        "each line written or counted:\n{text}"
    );
    assert!(
        message(notices[0]).contains("the rest of the minute's are counted, not written"),
        "the quiet spell is said first:\n{text}"
    );
    assert!(
        notices.iter().all(|n| n["fields"]["place"]
            .as_str()
            .unwrap_or("")
            .starts_with("src/agent/converter.rs:")
            && n["fields"]["like"] == "dead-lettering a delivery"),
        "the notices say where and what:\n{text}"
    );
}
