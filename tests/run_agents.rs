//! `ceilo run --agent notification|polling`, as the two systemd units run it, and
//! `--telemetry-listen`, which lets both run on one host. Against the real RabbitMQ.

mod runtime_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use runtime_support::*;

/// ceilo.yaml for both agents: polling reads the test fixtures' /proc and /sys and libvirt's
/// `test:///default` (no nova instances), with `polling_enabled` as given.
fn settings_with_polling(polling_enabled: bool) -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    format!(
        "polling_enabled: {polling_enabled}\nnotification:\n  shutdown_timeout_s: 10\n{TELEMETRY}polling:\n  \
         proc_root: {}\n  sys_root: {}\n  pollsters_definitions_dirs: []\n  libvirt_uri: 'test:///default'\n",
        fixtures.join("proc").display(),
        fixtures.join("sys").display()
    )
}

const POLLING_YAML: &str = "sources:\n  - name: host\n    interval: 1\n    meters: ['hardware.cpu.load.*']\n";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn ceilo(args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ceilo"));
    cmd.args(["run", "--config-dir"]).arg(dir).args(args);
    cmd.env("RUST_LOG", "info,lapin=warn").stdout(Stdio::null());
    cmd
}

/// `ceilo run --agent KIND` on `broker`, its /metrics on a port of its own.
fn start_agent(kind: &str, broker: &Broker, dir: &Path) -> (Agent, u16) {
    let port = free_port();
    let log = dir.join("agent.log");
    let child = ceilo(
        &[
            "--agent",
            kind,
            "--transport-url",
            &broker.url(),
            "--telemetry-listen",
            &format!("127.0.0.1:{port}"),
        ],
        dir,
    )
    .stderr(std::fs::File::create(&log).expect("log"))
    .spawn()
    .expect("spawn");
    (Agent::adopt(child, log), port)
}

/// The agent's `ceilo_polls_run_total`, summed, from /metrics at `port`.
fn polls_run(port: u16) -> Option<f64> {
    let response = ceilo::telemetry::scrape::get_blocking(
        &format!("http://127.0.0.1:{port}/metrics"),
        Duration::from_secs(2),
    )
    .ok()?;
    let exposition = ceilo::telemetry::scrape::parse(&response.body).ok()?;
    Some(exposition.sum("ceilo_polls_run_total", &[]))
}

#[test]
fn agent_polling_polls_into_the_broker_and_consumes_no_queue() {
    let broker = Broker::new("agent-polling");
    let rt = runtime();
    // Where the polled samples land: `notifications.sample` on the `ceilometer` exchange.
    declare_polled(&rt, &broker);
    let dir = config_dir(&settings_with_polling(false));
    std::fs::write(dir.path().join("polling.yaml"), POLLING_YAML).expect("polling.yaml");
    let (agent, port) = start_agent("polling", &broker, dir.path());
    wait_until(
        "polls on the --telemetry-listen port",
        Duration::from_secs(30),
        || polls_run(port).is_some_and(|n| n >= 2.0),
    );
    wait_until("polled samples in the broker", Duration::from_secs(30), || {
        broker.counts(POLLED).0 > 0
    });
    assert!(
        broker.consumed_queues().is_empty(),
        "{:?}",
        broker.consumed_queues()
    );
    assert!(agent.terminate().success());
}

#[test]
fn agent_notification_consumes_and_does_not_poll_whatever_the_config_says() {
    let broker = Broker::new("agent-notification");
    let dir = config_dir(&settings_with_polling(true));
    std::fs::write(dir.path().join("polling.yaml"), POLLING_YAML).expect("polling.yaml");
    let (agent, port) = start_agent("notification", &broker, dir.path());
    wait_until("seven queues consumed", Duration::from_secs(60), || {
        broker.consumed_queues().len() == 7
    });
    // A 1 s source would have run twice by now.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(polls_run(port), Some(0.0), "{}", agent.log_text());
    assert!(agent.terminate().success());
}

#[test]
fn agent_on_memory_transport_and_agent_polling_without_polling_yaml_are_refused() {
    let dir = config_dir(TELEMETRY);
    for (args, expected) in [
        (
            vec!["--agent", "notification"],
            "--agent notification: the transport is memory://",
        ),
        (
            vec![
                "--agent",
                "polling",
                "--transport-url",
                "amqp://guest:guest@127.0.0.1:5672/",
            ],
            "polling.yaml does not exist: nothing to poll",
        ),
    ] {
        let out = ceilo(&args, dir.path())
            .stderr(Stdio::piped())
            .output()
            .expect("run ceilo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
