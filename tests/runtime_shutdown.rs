//! Stopping the agent mid-stream: SIGTERM loses and duplicates nothing; kill -9 loses nothing.

mod runtime_support;

use std::collections::HashMap;
use std::process::ExitStatus;
use std::time::Duration;

use runtime_support::*;

const N: usize = 10_000;

fn id_counts(received: &[Received]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in received.iter().flat_map(|r| meter_messages(&r.body)) {
        if let Some(id) = m["message_id"].as_str() {
            *counts.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// Start an agent on a stream of N notifications and stop it (with `stop`) once some samples
/// are out but input is still waiting; then a second agent finishes the stream.
fn stop_mid_stream(tag: &str, stop: impl FnOnce(Agent)) -> (Broker, HashMap<String, usize>) {
    let broker = Broker::new(tag);
    let dir = config_dir(&settings(100, 20));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(publish(&url, &polling_messages(tag, N)));
    let agent = Agent::start(dir.path(), &url);
    wait_until("the first samples out", Duration::from_secs(30), || {
        rt.block_on(ready_count(&url, "metering.sample")) > 0
    });
    stop(agent);
    let left = rt.block_on(ready_count(&url, "notifications.sample"));
    eprintln!("{tag}: stopped with {left} of {N} notifications not yet consumed");
    assert!(left > 0, "the stop came too late to be mid-stream");
    let second = Agent::start(dir.path(), &url);
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(90),
        distinct_ids(N),
    ));
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(second.terminate().success());
    (broker, id_counts(&got))
}

#[test]
fn sigterm_mid_stream_loses_nothing_and_duplicates_nothing() {
    let (_broker, counts) = stop_mid_stream("sigterm", |agent| {
        let (status, text) = agent.terminate_with_log();
        assert!(status.success(), "exit status {status:?}; log:\n{text}");
        assert!(text.contains("clean shutdown"), "log:\n{text}");
    });
    assert_eq!(counts.len(), N, "nothing lost");
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        dups.is_empty(),
        "{} samples published twice, e.g. {:?}",
        dups.len(),
        dups.first()
    );
}

#[test]
fn kill_9_mid_stream_then_restart_loses_nothing() {
    let (_broker, counts) = stop_mid_stream("kill9", Agent::kill9);
    assert_eq!(counts.len(), N, "every input's sample arrived at least once");
}

/// Start an agent on memory://, SIGTERM it once its log shows `line`: its exit status and log.
fn terminated_once_logged(line: &str) -> (ExitStatus, String) {
    let dir = config_dir(TELEMETRY);
    let agent = Agent::start(dir.path(), "memory://");
    wait_until(&format!("{line:?} in the log"), Duration::from_secs(30), || {
        agent.log_text().contains(line)
    });
    agent.terminate_with_log()
}

#[test]
fn runs_with_no_broker_on_memory_transport_and_exits_cleanly() {
    let (status, text) = terminated_once_logged("consuming");
    assert!(status.success(), "{status:?}; log:\n{text}");
    assert!(
        text.contains("consuming") && text.contains("memory://"),
        "log:\n{text}"
    );
}

#[test]
fn a_sigterm_while_starting_is_a_clean_shutdown_once_started() {
    // The telemetry endpoint is logged before the actors and the polling agent start: a
    // SIGTERM sent then must not find the process without its handler.
    let (status, text) = terminated_once_logged("serving /metrics");
    assert!(status.success(), "{status:?}; log:\n{text}");
    assert!(text.contains("clean shutdown"), "log:\n{text}");
}

#[test]
fn ceilo_run_with_no_broker_polls_and_publishes_through_its_own_pipeline() {
    // memory:// end to end in one process: polling.yaml → telemetry.polling notifications on
    // the in-process bus → this agent's notifications.sample listener → pipeline → file://.
    let dir = config_dir(&format!(
        "transport_url: memory://\npolling:\n  pollsters_definitions_dirs: []\n  host: test-host\n{TELEMETRY}"
    ));
    let out = dir.path().join("samples.jsonl");
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        format!(
            "sources:\n  - name: all\n    meters: ['*']\n    sinks: [file]\nsinks:\n  - name: file\n    \
             publishers: ['file://{}?json']\n",
            out.display()
        ),
    )
    .expect("pipeline.yaml");
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: fleet\n    interval: 1\n    meters: [cpu, vcpus]\n    discovery: ['fleet:3']\n",
    )
    .expect("polling.yaml");
    let agent = Agent::start(dir.path(), "memory://");
    let lines = || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    wait_until("polled samples in the file", Duration::from_secs(20), || {
        lines() >= 6
    });
    let (status, text) = agent.terminate_with_log();
    assert!(status.success(), "{status:?}; log:\n{text}");
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .expect("file")
            .lines()
            .next()
            .expect("line"),
    )
    .expect("json");
    assert!(
        ["cpu", "vcpus"].contains(&first["name"].as_str().unwrap_or_default()),
        "{first}"
    );
}

#[test]
fn sigterm_while_the_broker_refuses_publishes_exits_3_after_the_timeout_and_loses_nothing() {
    let broker = Broker::new("stuck");
    let prefetch = 20;
    let settings = settings(prefetch, 10).replace("shutdown_timeout_s: 20", "shutdown_timeout_s: 2");
    let dir = config_dir(&settings);
    let rt = runtime();
    let url = broker.url();
    broker.stall_metering(&rt);
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("stuck", 200)));
    wait_until(
        "the agent stalled at the prefetch bound",
        Duration::from_secs(20),
        || rt.block_on(ready_count(&url, "notifications.sample")) == 200 - u32::from(prefetch),
    );
    let started = std::time::Instant::now();
    let (status, text) = agent.terminate_with_log();
    // Not 0: a supervisor must be able to tell "stopped cleanly" from "gave up waiting".
    assert_eq!(
        status.code(),
        Some(i32::from(ceilo::agent::EXIT_SHUTDOWN_TIMED_OUT)),
        "{status:?}; log:\n{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(text.contains("shutdown timed out"), "log:\n{text}");
    wait_until(
        "every unconfirmed delivery back in the queue",
        Duration::from_secs(10),
        || rt.block_on(ready_count(&url, "notifications.sample")) == 200,
    );
}
