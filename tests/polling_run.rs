//! The polling agent inside `ceilo run`, seen from the real RabbitMQ: the `telemetry.polling`
//! notifications it publishes with Ceilometer's own polling.yaml, and their samples' shape.
//!
//! Each test has a vhost of its own; a queue bound to `ceilometer`/`notifications.sample`
//! (where the polling agent publishes) is declared before the agent starts, so every
//! notification it sends is kept for the test to read.

mod runtime_support;

use std::path::Path;
use std::time::Duration;

use runtime_support::*;
use serde_json::Value as Json;

/// ceilo.yaml: only the polling agent (no notification agent), reading the test fixtures'
/// /proc and /sys instead of the machine's, and libvirt's `test:///default` driver (its one
/// domain has no nova metadata: no instances, whatever guests other tests run meanwhile).
fn polling_only_settings() -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         proc_root: {}\n  sys_root: {}\n  pollsters_definitions_dirs: []\n  \
         libvirt_uri: 'test:///default'\n",
        fixtures.join("proc").display(),
        fixtures.join("sys").display()
    )
}

/// A config dir with `polling_yaml`, the agent started on `broker`'s vhost with the polled
/// queue declared first.
fn start(broker: &Broker, rt: &tokio::runtime::Runtime, polling_yaml: &str) -> (tempfile::TempDir, Agent) {
    start_with_args(broker, rt, polling_yaml, &[])
}

/// [`start`], with more arguments for `ceilo run`.
fn start_with_args(
    broker: &Broker,
    rt: &tokio::runtime::Runtime,
    polling_yaml: &str,
    args: &[&str],
) -> (tempfile::TempDir, Agent) {
    let dir = config_dir(&polling_only_settings());
    std::fs::write(dir.path().join("polling.yaml"), polling_yaml).expect("polling.yaml");
    declare_polled(rt, broker);
    let agent = Agent::start_with_args(dir.path(), &broker.url(), args);
    (dir, agent)
}

/// Ceilometer 27's etc/ceilometer/polling.yaml, its interval cut from 300 s to 1 s so the
/// test sees polls.
fn ceilometers_polling_yaml() -> String {
    let text = ceilo::reference::read("polling.yaml");
    assert!(text.contains("interval: 300"), "{text}");
    text.replace("interval: 300", "interval: 1")
}

/// A second source polling this host's fixtures every second: proof that polls happen.
const HOST_SOURCE: &str =
    "    - name: host_pollsters\n      interval: 1\n      meters: ['hardware.cpu.load.*']\n";

#[test]
fn ceilometers_polling_yaml_polls_no_simulated_instances() {
    let broker = Broker::new("poll-stock");
    let rt = runtime();
    let (_dir, agent) = start(
        &broker,
        &rt,
        &format!("{}{HOST_SOURCE}", ceilometers_polling_yaml()),
    );
    // Three polls of the host source (offset < 1 s, interval 1 s): the compute source has had
    // as many chances to publish.
    let received = rt.block_on(collect(&broker.url(), POLLED, Duration::from_secs(20), {
        let mut host_polls = 0;
        move |r| {
            host_polls += usize::from(
                polled_samples(&r.body)
                    .iter()
                    .any(|s| s["counter_name"] == "hardware.cpu.load.1min"),
            );
            host_polls >= 3
        }
    }));
    let samples = polled_samples_in(&received);
    let names: std::collections::BTreeSet<&str> = samples
        .iter()
        .filter_map(|s| s["counter_name"].as_str())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "hardware.cpu.load.15min",
            "hardware.cpu.load.1min",
            "hardware.cpu.load.5min"
        ],
        "only the host's real meters are polled"
    );
    let log = agent.log_text();
    agent.terminate();
    // Said once, at start, naming the meters: the compute ones are the libvirt pollster's,
    // Cinder's need credentials this agent was not given.
    let unpolled: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("nothing is polled for them"))
        .collect();
    assert_eq!(unpolled.len(), 1, "{log}");
    assert!(
        unpolled[0].contains("some_pollsters")
            && unpolled[0].contains("volume.size, volume.snapshot.size, volume.backup.size")
            && unpolled[0].contains("set service_credentials")
            && !unpolled[0].contains("cpu"),
        "{log}"
    );
    assert!(!log.contains("SIMULATED"), "{log}");
}

#[test]
fn the_simulated_fleet_polls_when_a_source_names_it_and_says_so() {
    let broker = Broker::new("poll-fleet");
    let rt = runtime();
    let (_dir, agent) = start(
        &broker,
        &rt,
        "sources:\n  - name: load\n    interval: 1\n    meters: [cpu]\n    discovery: ['fleet:3']\n",
    );
    let received = rt.block_on(collect(
        &broker.url(),
        POLLED,
        Duration::from_secs(20),
        distinct_cpu(3),
    ));
    let samples = polled_samples_in(&received);
    assert!(samples.len() >= 3, "{samples:?}");
    assert!(samples.iter().all(|s| s["counter_name"] == "cpu"));
    let log = agent.log_text();
    agent.terminate();
    assert!(
        log.lines().any(|l| l.contains("SIMULATED") && l.contains("load")),
        "{log}"
    );
}

/// A `done` for [`collect`]: true once cpu samples of `n` distinct resources arrived.
fn distinct_cpu(n: usize) -> impl FnMut(&Received) -> bool {
    let mut seen = std::collections::HashSet::new();
    move |r| {
        for s in polled_samples(&r.body) {
            if let Some(id) = s["resource_id"].as_str() {
                seen.insert(id.to_owned());
            }
        }
        seen.len() >= n
    }
}

#[test]
fn polled_samples_carry_the_polling_managers_naive_utc_timestamp() {
    let broker = Broker::new("poll-ts");
    let rt = runtime();
    let (_dir, agent) = start(&broker, &rt, &format!("sources:\n{HOST_SOURCE}"));
    let received = rt.block_on(collect(
        &broker.url(),
        POLLED,
        Duration::from_secs(20),
        messages(1),
    ));
    agent.terminate();
    let samples = polled_samples_in(&received);
    assert!(!samples.is_empty());
    for s in &samples {
        // `timeutils.utcnow().isoformat()`: 2026-12-03T17:31:20.656367, no zone.
        let ts = s["timestamp"].as_str().expect("timestamp");
        assert!(
            chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f").is_ok(),
            "{ts} is not a naive isoformat"
        );
    }
}

#[test]
fn a_polling_telemetry_secret_is_refused_by_run_and_check() {
    // Ceilometer has no [polling] telemetry_secret: polled samples are signed with
    // [publisher] telemetry_secret. Accepting it and signing with another key would be a
    // silent misconfiguration.
    let broker = Broker::new("poll-secret");
    let dir = config_dir(&format!(
        "{}  telemetry_secret: s3cret\n",
        polling_only_settings()
    ));
    std::fs::write(
        dir.path().join("polling.yaml"),
        format!("sources:\n{HOST_SOURCE}"),
    )
    .expect("polling.yaml");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["check", "--config-dir"])
        .arg(dir.path())
        .output()
        .expect("ceilo check");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{stdout}");
    assert!(
        stdout.contains("polling.telemetry_secret is not an option")
            && stdout.contains("publisher.telemetry_secret"),
        "{stdout}"
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["run", "--config-dir"])
        .arg(dir.path())
        .args(["--transport-url", &broker.url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ceilo run");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceilo run started with polling.telemetry_secret");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(!status.success());
    assert!(
        stderr.contains("polling.telemetry_secret is not an option"),
        "{stderr}"
    );
}

/// `ceilo run --agent polling --polling-namespaces NS` on the stock polling.yaml (plus this
/// host's source): the agent's log, and the meters of the samples it sent in `seconds`.
fn run_namespaces(namespaces: &str, seconds: u64) -> (String, std::collections::BTreeSet<String>) {
    let broker = Broker::new("poll-namespaces");
    let rt = runtime();
    let (_dir, agent) = start_with_args(
        &broker,
        &rt,
        &format!("{}{HOST_SOURCE}", ceilometers_polling_yaml()),
        &["--agent", "polling", "--polling-namespaces", namespaces],
    );
    let received = rt.block_on(collect(
        &broker.url(),
        POLLED,
        Duration::from_secs(seconds),
        |_| false,
    ));
    let meters = polled_samples_in(&received)
        .iter()
        .filter_map(|s| s["counter_name"].as_str().map(str::to_owned))
        .collect();
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
    (log, meters)
}

/// As `ceilometer-polling --polling-namespaces`: a compute agent polls the host and its
/// instances and leaves the stock polling.yaml's Cinder meters to the central agents (no
/// warning that it cannot poll them, a line naming them); a central agent polls no host meter.
#[test]
fn each_agent_polls_only_with_the_pollsters_of_its_namespaces() {
    let (log, meters) = run_namespaces("compute", 4);
    assert!(meters.contains("hardware.cpu.load.1min"), "{meters:?}\n{log}");
    assert!(!log.contains("nothing is polled for them"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("polled by agents of other polling namespaces")
                && l.contains("volume.size, volume.snapshot.size, volume.backup.size")),
        "{log}"
    );
    let (log, meters) = run_namespaces("central", 4);
    assert!(meters.is_empty(), "a central agent polled {meters:?}");
    assert!(
        log.lines()
            .any(|l| l.contains("nothing is polled for them") && l.contains("volume.size")),
        "the central agent runs Cinder's pollsters, which need credentials:\n{log}"
    );
}

/// As oslo's notifier sends each notification to every topic of `[oslo_messaging_notifications]
/// topics`, polled samples go to `<topic>.sample` for each of `notification.topics`: a consumer
/// of a second topic (billing, say) gets every one too.
#[test]
fn polled_notifications_go_to_every_topic() {
    let broker = Broker::new("poll-topics");
    let rt = runtime();
    let settings = polling_only_settings().replace(
        "  enabled: false\n",
        "  enabled: false\n  topics: [notifications, billing]\n",
    );
    let dir = config_dir(&settings);
    std::fs::write(
        dir.path().join("polling.yaml"),
        format!("sources:\n{HOST_SOURCE}"),
    )
    .expect("polling.yaml");
    for key in ["notifications.sample", "billing.sample"] {
        rt.block_on(declare(&broker.url(), key, "ceilometer", key, false));
    }
    let agent = Agent::start_with_args(dir.path(), &broker.url(), &[]);
    let first = rt.block_on(collect(
        &broker.url(),
        "billing.sample",
        Duration::from_secs(20),
        |_| true,
    ));
    assert_eq!(first.len(), 1, "{}", agent.log_text());
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
    let message_ids = |queue: &str| -> std::collections::BTreeSet<String> {
        rt.block_on(collect(&broker.url(), queue, Duration::from_secs(2), |_| false))
            .iter()
            .chain(if queue == "billing.sample" {
                &first[..]
            } else {
                &[]
            })
            .map(|r| {
                let outer: Json = serde_json::from_slice(&r.body).expect("outer json");
                let inner: Json = serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message"))
                    .expect("inner");
                inner["message_id"].as_str().expect("message_id").to_owned()
            })
            .collect()
    };
    let (notifications, billing) = (message_ids("notifications.sample"), message_ids("billing.sample"));
    assert!(!billing.is_empty());
    assert_eq!(notifications, billing, "{log}");
}
