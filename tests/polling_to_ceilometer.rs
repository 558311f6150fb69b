//! A migration that replaces the polling agents first: `ceilo run --agent polling` in front of
//! Ceilometer 27's own notification agent (the venv of `common::ceilometer`), on one vhost of
//! the real RabbitMQ. Ceilometer consumes what ceilo publishes on `notifications.sample` (its
//! telemetry IPC endpoint) and republishes it with `notifier://` on `metering.sample`: every
//! sample ceilo sent must come out exactly once, as ceilo's own notification agent would
//! publish it (`ceilo convert` of the same bodies): every field, and the signature, which both
//! make anew with the same `telemetry_secret` after dropping `monotonic_time`.

mod common;
mod runtime_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::ceilometer::Service;
use runtime_support::*;
use serde_json::Value as Json;

const SECRET: &str = "migration-secret";

/// Ceilometer's notification agent on `broker`, its files in `dir`: every meter to
/// `notifier://`, no events.
fn start_ceilometer(broker: &Broker, dir: &Path) -> Service {
    let venv = common::ceilometer::venv();
    let path = |name: &str| dir.join(name);
    std::fs::write(path("pipeline.yaml"), pipeline_to("notifier://")).unwrap();
    std::fs::write(path("event_pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
    std::fs::write(
        path("ceilometer.conf"),
        format!(
            "[DEFAULT]\nuse_stderr = true\ntransport_url = {rabbit}\npipeline_cfg_file = {p}\n\
             event_pipeline_cfg_file = {e}\n[publisher]\ntelemetry_secret = {SECRET}\n",
            rabbit = broker.url().replacen("amqp://", "rabbit://", 1),
            p = path("pipeline.yaml").display(),
            e = path("event_pipeline.yaml").display(),
        ),
    )
    .unwrap();
    let mut command = Command::new(venv.join("bin/ceilometer-agent-notification"));
    command
        .arg("--config-file")
        .arg(path("ceilometer.conf"))
        .env("PYTHONWARNINGS", "ignore");
    Service::spawn(command, path("ceilometer.log"))
}

/// ceilo's polling agent: the fixtures' /proc and /sys for the host meters and four simulated
/// instances for the compute meters (nova-like metadata), every second.
fn start_polling(broker: &Broker, dir: &Path) -> Agent {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::write(
        dir.join("ceilo.yaml"),
        format!(
            "{TELEMETRY}publisher:\n  telemetry_secret: {SECRET}\npolling:\n  proc_root: {}\n  sys_root: {}\n  \
             pollsters_definitions_dirs: []\n",
            fixtures.join("proc").display(),
            fixtures.join("sys").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("polling.yaml"),
        "sources:\n  - name: instances\n    interval: 1\n    meters: ['*']\n    discovery: ['fleet:4']\n  \
         - name: host\n    interval: 1\n    meters: ['hardware.*', 'compute.node.cpu.*']\n",
    )
    .unwrap();
    let log = dir.join("polling.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["run", "--agent", "polling", "--config-dir"])
        .arg(dir)
        .args(["--transport-url", &broker.url()])
        .env("RUST_LOG", "info,lapin=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn ceilo");
    Agent::adopt(child, log)
}

/// The meter messages of telemetry.polling notifications (`payload.samples`) or of
/// `notifier://`'s (`payload`), by message id; a message id seen twice fails the test.
fn by_id(received: &[Received], samples_of: impl Fn(&Json) -> &Json) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for message in received {
        let outer: Json = serde_json::from_slice(&message.body).expect("outer JSON");
        let inner: Json =
            serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message")).expect("inner JSON");
        for sample in samples_of(&inner["payload"])
            .as_array()
            .expect("a list of samples")
        {
            let id = sample["message_id"].as_str().expect("message_id").to_owned();
            assert!(
                out.insert(id.clone(), sample.clone()).is_none(),
                "sample {id} twice"
            );
        }
    }
    out
}

#[test]
fn ceilometers_notification_agent_republishes_every_sample_ceilos_polling_agent_sends() {
    let broker = Broker::new("polling-to-ceilometer");
    let url = broker.url();
    let rt = runtime();
    // Copies of both sides' traffic, bound before anything is published: what ceilo sends, and
    // what Ceilometer's `notifier://` publishes.
    rt.block_on(declare(
        &url,
        "tap-polled",
        "ceilometer",
        "notifications.sample",
        false,
    ));
    rt.block_on(declare(
        &url,
        "tap-metering",
        "ceilometer",
        "metering.sample",
        false,
    ));

    let work = tempfile::tempdir().expect("tempdir");
    let ceilometer = start_ceilometer(&broker, work.path());
    wait_until(
        "Ceilometer consuming notifications.sample",
        Duration::from_secs(90),
        || broker.consumed_queues().contains("notifications.sample"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let polling = start_polling(&broker, dir.path());
    std::thread::sleep(Duration::from_secs(4));
    let (status, log) = polling.terminate_with_log();
    assert!(status.success(), "ceilo's polling agent: {status}\n{log}");

    let polled = rt.block_on(collect(&url, "tap-polled", Duration::from_secs(3), |_| false));
    let sent = by_id(&polled, |payload| &payload["samples"]);
    let names: std::collections::BTreeSet<&str> =
        sent.values().filter_map(|s| s["counter_name"].as_str()).collect();
    assert!(
        sent.len() >= 40 && names.contains("cpu") && names.contains("hardware.cpu.load.1min"),
        "ceilo polled too little to compare: {} samples of {names:?}\n{log}",
        sent.len()
    );

    let mut republished = BTreeMap::new();
    let mut received = Vec::new();
    for _ in 0..30 {
        received.extend(rt.block_on(collect(&url, "tap-metering", Duration::from_secs(2), |_| false)));
        republished = by_id(&received, |payload| payload);
        if republished.len() >= sent.len() {
            break;
        }
    }
    let missing: Vec<&String> = sent.keys().filter(|id| !republished.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} samples ceilo sent never left Ceilometer (first: {:?}); its log:\n{}",
        missing.len(),
        sent.len(),
        missing.first(),
        ceilometer.log_text()
    );
    assert_eq!(
        republished.len(),
        sent.len(),
        "Ceilometer published samples ceilo never sent"
    );
    let converted = converted_by_ceilo(&polled);
    assert_eq!(converted.len(), sent.len());
    for (id, ceilos) in &converted {
        assert_eq!(
            &republished[id], ceilos,
            "sample {id}: Ceilometer's notification agent (left), ceilo's (right)"
        );
        let mut polled = sent[id].clone();
        polled["monotonic_time"] = Json::Null;
        polled["message_signature"] = ceilos["message_signature"].clone();
        assert_eq!(&polled, ceilos, "sample {id}: changed on its way through");
    }
}

/// What ceilo's notification agent makes of the same bodies: `ceilo convert`, signing with
/// [`SECRET`].
fn converted_by_ceilo(bodies: &[Received]) -> BTreeMap<String, Json> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["convert", "--secret", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ceilo convert");
    let mut input = child.stdin.take().expect("stdin");
    let lines: Vec<u8> = bodies
        .iter()
        .flat_map(|m| m.body.iter().copied().chain([b'\n']))
        .collect();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut input, &lines));
    let out = child.wait_with_output().expect("ceilo convert");
    writer.join().unwrap().expect("write bodies");
    assert!(out.status.success(), "ceilo convert: {}", out.status);
    let mut samples = BTreeMap::new();
    for line in String::from_utf8(out.stdout).expect("UTF-8").lines() {
        let converted: Json = serde_json::from_str(line).expect("a JSON line");
        assert!(
            converted.get("error").is_none(),
            "ceilo convert refused a body: {line}"
        );
        for sample in converted["samples"].as_array().expect("samples") {
            samples.insert(
                sample["message_id"].as_str().expect("message_id").to_owned(),
                sample.clone(),
            );
        }
    }
    samples
}
