//! The IPMI namespace against a real BMC (OpenIPMI's simulator, read by the real `ipmitool`:
//! tests/ipmi_support): side by side with Ceilometer 27's `ceilometer-polling
//! --polling-namespaces ipmi` on the same board, each agent publishing its `telemetry.polling`
//! notifications to a vhost of its own, and what ceilo does when the BMC is missing or stops
//! answering.

mod common;
mod ipmi_support;
mod runtime_support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::ceilometer::Service;
use ipmi_support::Bmc;
use runtime_support::{
    collect, config_dir, first_cycles, polled_samples, polled_vhost, polled_vhosts, runtime, wait_until,
    Agent, Broker, POLLED, TELEMETRY,
};
use serde_json::Value as Json;

const HOST: &str = "ipmi-node";
const METERS: [&str; 5] = [
    "hardware.ipmi.current",
    "hardware.ipmi.fan",
    "hardware.ipmi.power",
    "hardware.ipmi.temperature",
    "hardware.ipmi.voltage",
];

fn polling_yaml(interval: u32) -> String {
    format!("---\nsources:\n    - name: ipmi\n      interval: {interval}\n      meters:\n        - hardware.ipmi.*\n")
}

/// A sample as both agents must agree on it: everything but what is made anew for each
/// (its id, signature and time).
fn comparable(sample: &Json) -> Json {
    let mut s = sample.clone();
    if let Some(o) = s.as_object_mut() {
        for made_anew in ["message_id", "message_signature", "timestamp"] {
            o.remove(made_anew);
        }
    }
    s
}

/// `ceilometer-polling --polling-namespaces ipmi`, its `ipmitool` the one on `path`, run by
/// its privsep daemon. The daemon is started as Ceilometer starts it (`sudo ceilometer-rootwrap
/// CONF privsep-helper ...`: Ceilometer reads no `helper_command`), through a `sudo` that runs
/// the helper itself: the test runs as root, so sudo and rootwrap would only check a filter.
fn start_ceilometer(broker: &Broker, dir: &Path, path: &OsStr) -> Service {
    let venv = common::ceilometer::venv();
    let shim = dir.join("sudo-shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(shim.join("sudo"), "#!/bin/sh\nshift 2\nexec \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shim.join("sudo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut dirs = vec![shim, venv.join("bin")];
    dirs.extend(std::env::split_paths(path));
    let path = std::env::join_paths(dirs).expect("PATH");
    std::fs::write(dir.join("polling.yaml"), polling_yaml(4)).unwrap();
    let conf_path = dir.join("ceilometer.conf");
    let conf = format!(
        "[DEFAULT]\nhost = {HOST}\ntransport_url = {url}\n\n[polling]\ncfg_file = {dir}/polling.yaml\n",
        // oslo.messaging names RabbitMQ `rabbit://`.
        url = broker.url().replacen("amqp://", "rabbit://", 1),
        dir = dir.display(),
    );
    std::fs::write(&conf_path, conf).unwrap();
    let mut command = Command::new(venv.join("bin/ceilometer-polling"));
    command
        .env("PATH", &path)
        .arg("--config-file")
        .arg(&conf_path)
        .args(["--polling-namespaces", "ipmi"]);
    Service::spawn(command, dir.join("ceilometer-polling.log"))
}

/// `ceilo run --polling-namespaces ipmi` publishing to `broker`, its `ipmitool` the one on
/// `path`; `polling` adds lines to ceilo.yaml's `polling:` section.
fn start_ceilo(broker: &Broker, path: &OsStr, interval: u32, polling: &str) -> (tempfile::TempDir, Agent) {
    let settings = format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         pollsters_definitions_dirs: []\n  host: {HOST}\n{polling}"
    );
    let dir = config_dir(&settings);
    std::fs::write(dir.path().join("polling.yaml"), polling_yaml(interval)).unwrap();
    let log = dir.path().join("agent.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .env("PATH", path)
        .env("RUST_LOG", "info,lapin=warn")
        .args(["run", "--config-dir"])
        .arg(dir.path())
        .args(["--transport-url", &broker.url(), "--polling-namespaces", "ipmi"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn ceilo");
    (dir, Agent::adopt(child, log))
}

/// Waits until `agent` has sent a sample of each of the [`METERS`] to `broker`.
fn every_meter_sent(broker: &Broker, agent: &Agent) {
    let mut meters = BTreeSet::new();
    runtime().block_on(collect(&broker.url(), POLLED, Duration::from_secs(60), |r| {
        meters.extend(
            polled_samples(&r.body)
                .iter()
                .filter_map(|s| s["counter_name"].as_str().map(str::to_owned)),
        );
        meters.len() == METERS.len()
    }));
    assert_eq!(meters, METERS.map(String::from).into(), "{}", agent.log_text());
}

#[test]
fn ceilo_and_ceilometers_ipmi_agent_send_the_same_samples_of_the_same_bmc() {
    let bmc = Bmc::start();
    let rt = runtime();
    let (theirs, ours) = polled_vhosts(&rt, "ipmi");
    let work = tempfile::tempdir().unwrap();
    let ceilometer = start_ceilometer(&theirs, work.path(), &bmc.path());
    let (_dir, agent) = start_ceilo(&ours, &bmc.path(), 4, "");

    let (c, r) = first_cycles(&rt, &theirs, &ours, Duration::from_secs(90));
    let expected: BTreeSet<(String, String)> = [
        ("hardware.ipmi.current", "current_1_(0x5)"),
        ("hardware.ipmi.fan", "fan1_(0x7)"),
        ("hardware.ipmi.power", "pwr_consumption_(0x6)"),
        ("hardware.ipmi.temperature", "inlet_temp_(0x1)"),
        ("hardware.ipmi.voltage", "planar_12v_(0x3)"),
        ("hardware.ipmi.voltage", "planar_vbat_(0x4)"),
    ]
    .map(|(meter, sensor)| (meter.to_owned(), format!("{HOST}-{sensor}")))
    .into();
    assert_eq!(
        c.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "Ceilometer's samples; its log:\n{}",
        ceilometer.log_text()
    );
    assert_eq!(
        r.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "ceilo's samples; its log:\n{}",
        agent.log_text()
    );
    let differences: Vec<String> = c
        .iter()
        .filter(|(k, s)| comparable(s) != comparable(&r[*k]))
        .map(|(k, s)| {
            format!(
                "{k:?}:\n  Ceilometer {}\n  ceilo      {}",
                comparable(s),
                comparable(&r[k])
            )
        })
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // Both stamp a polled sample as Ceilometer's polling manager does: naive UTC.
    for s in c.values().chain(r.values()) {
        let ts = s["timestamp"].as_str().expect("a timestamp");
        assert!(ts.len() >= 19 && !ts.ends_with('Z') && !ts.contains('+'), "{ts}");
    }
}

#[test]
fn a_bmc_that_stops_answering_disables_each_pollster_after_polling_retry_failed_reads() {
    let mut bmc = Bmc::start();
    let broker = polled_vhost(&runtime(), "ipmi-retry");
    let (_dir, agent) = start_ceilo(&broker, &bmc.path(), 2, "  ipmi_polling_retry: 1\n");
    every_meter_sent(&broker, &agent);

    bmc.stop();
    let disabled = |log: &str| log.matches("pollster failed permanently").count();
    wait_until("each pollster disabled", Duration::from_secs(60), || {
        disabled(&agent.log_text()) == METERS.len()
    });
    let calls = bmc.calls().len();
    std::thread::sleep(Duration::from_secs(3));
    let log = agent.log_text();
    assert_eq!(
        bmc.calls().len(),
        calls,
        "a disabled pollster ran ipmitool again:\n{log}"
    );
    assert_eq!(disabled(&log), METERS.len(), "{log}");
    // Tolerated once (the retry allows one failed read in a row), disabled at the second.
    for sensor in ["Current", "Fan", "Power", "Temperature", "Voltage"] {
        assert!(
            log.contains(&format!("polling {sensor} sensor failed for 1 times")),
            "{sensor}:\n{log}"
        );
        assert!(
            log.contains(&format!("polling {sensor} sensor failed for 2 times")),
            "{sensor}:\n{log}"
        );
    }
}

#[test]
fn without_a_bmc_the_ipmi_pollsters_ask_once_say_so_and_poll_nothing() {
    let broker = Broker::new("ipmi-none");
    let work = tempfile::tempdir().unwrap();
    let path = ipmi_support::path_without_bmc(work.path());
    let (_dir, agent) = start_ceilo(&broker, &path, 2, "");
    wait_until("every IPMI pollster refused", Duration::from_secs(60), || {
        agent.log_text().matches("IPMITool not supported on host").count() == METERS.len()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ipmi_support::calls(&work.path().join("bin")),
        ["sdr info"],
        "the node's BMC is asked for once, and nothing more is run:\n{}",
        agent.log_text()
    );
}

#[test]
fn sigterm_ends_a_poll_that_waits_on_a_hung_bmc_and_the_agent_stops_cleanly_at_once() {
    let bmc = Bmc::start();
    let broker = polled_vhost(&runtime(), "ipmi-hung");
    // Each read of the hung BMC waits two minutes: a poll of the five sensor types, ten.
    let (_dir, agent) = start_ceilo(&broker, &bmc.patient_path(60), 2, "");
    every_meter_sent(&broker, &agent);

    bmc.hang();
    let hung = bmc.patient_calls(60).len();
    wait_until("a poll waiting on the hung BMC", Duration::from_secs(10), || {
        bmc.patient_calls(60).len() > hung
    });
    std::thread::sleep(Duration::from_secs(1));
    let asked = std::time::Instant::now();
    let (status, log) = agent.terminate_with_log();
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}:\n{log}");
    assert!(took < Duration::from_secs(10), "the stop took {took:?}:\n{log}");
    assert!(log.contains("this poll ends here"), "{log}");
    assert!(log.contains("clean shutdown"), "{log}");
}
