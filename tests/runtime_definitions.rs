//! Which definitions `ceilo run` starts with, on the real RabbitMQ, and that `ceilo check`
//! says the same about the same directory (check = run): a meter definition that does not
//! compile is skipped with a warning by both; a bad event definition stops both; a directory
//! without meters.d/ or event_definitions.yaml uses the shipped ones, as Ceilometer uses its
//! packaged files.

mod runtime_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use runtime_support::*;

/// One nova-style `http.request` notification: the shipped meters make an `http.request`
/// sample of it, the shipped event definitions an `http.request` event.
fn http_request(message_id: &str) -> (String, String, Vec<u8>) {
    let inner = serde_json::json!({
        "message_id": message_id, "publisher_id": "p", "event_type": "http.request",
        "priority": "INFO", "timestamp": "2025-01-01 00:00:00",
        "payload": {"request": {"HTTP_X_USER_ID": "u", "HTTP_X_PROJECT_ID": "pr",
                                "HTTP_X_SERVICE_NAME": "nova"}},
    });
    let body = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    (
        "nova".into(),
        "notifications.info".into(),
        body.to_string().into_bytes(),
    )
}

/// `ceilo check --config-dir dir`: exit success and stdout.
fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["check", "--config-dir"])
        .arg(dir)
        .output()
        .expect("ceilo check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The meter names of the notifications collected from metering.sample.
fn meter_names(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["counter_name"].as_str().map(str::to_owned))
        .collect()
}

const BROKEN_METERS: &str = "---\nmetric:\n  - name: my.fine\n    event_type: http.request\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: $.payload.request.HTTP_X_USER_ID\n  - name: my.badtype\n    event_type: http.request\n    type: sometimes\n    unit: B\n    volume: 1\n    resource_id: $.id\n  - name: my.badpath\n    event_type: http.request\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: $.payload[\n";

#[test]
fn a_meter_definition_that_does_not_compile_is_skipped_by_run_and_named_by_check() {
    let dir = config_dir(&settings(100, 20));
    let file = dir.path().join("meters.d/zz-local.yaml");
    std::fs::write(&file, BROKEN_METERS).expect("meters");

    let (ok, stdout) = check(dir.path());
    assert!(ok, "check fails only on what stops run:\n{stdout}");
    for (line, meter) in [(15, "my.badpath"), (9, "my.badtype")] {
        assert!(
            stdout.contains(&format!("warning: {}:{line}: meter \"{meter}\"", file.display())),
            "{stdout}"
        );
    }
    assert!(stdout.contains(": 0 problems, 2 warnings"), "{stdout}");

    let broker = Broker::new("defs-meter");
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &[http_request("m1")]));
    let got = rt.block_on(collect(&url, "metering.sample", Duration::from_secs(30), |r| {
        meter_names(std::slice::from_ref(r))
            .iter()
            .any(|n| n == "my.fine")
    }));
    let names = meter_names(&got);
    assert!(
        names.iter().any(|n| n == "my.fine"),
        "{names:?}\n{}",
        agent.log_text()
    );
    assert!(!names.iter().any(|n| n.starts_with("my.bad")), "{names:?}");
    let log = agent.log_text();
    assert!(agent.terminate().success());
    let skipped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("meter definition skipped"))
        .collect();
    assert_eq!(skipped.len(), 2, "{log}");
}

#[test]
fn a_bad_event_definition_stops_run_and_fails_check() {
    let dir = config_dir(&settings(100, 20));
    let file = dir.path().join("event_definitions.yaml");
    std::fs::write(
        &file,
        "- event_type: a.*\n  traits:\n    host:\n      fields: payload.host\n      plugin: splitter\n",
    )
    .expect("events");
    let expected = format!("{}:3:", file.display());

    let (ok, stdout) = check(dir.path());
    assert!(!ok);
    assert!(stdout.contains(&expected), "{stdout}");

    let broker = Broker::new("defs-event");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["run", "--config-dir"])
        .arg(dir.path())
        .args(["--transport-url", &broker.url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ceilo run");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ceilo run kept running with a bad event definition");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(!status.success());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("no plugin named \"splitter\""), "{stderr}");
}

#[test]
fn without_meters_d_or_event_definitions_run_uses_the_shipped_ones() {
    let dir = config_dir(&settings(100, 20));
    std::fs::remove_dir_all(dir.path().join("meters.d")).expect("rm meters.d");
    std::fs::remove_file(dir.path().join("event_definitions.yaml")).expect("rm events");

    let (ok, stdout) = check(dir.path());
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("<shipped>/meters.d/meters.yaml")
            && stdout.contains("<shipped>/event_definitions.yaml"),
        "{stdout}"
    );

    let broker = Broker::new("defs-shipped");
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "event.sample", "ceilometer", "event.sample", false));
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &[http_request("m2")]));
    let samples = rt.block_on(collect(&url, "metering.sample", Duration::from_secs(30), |r| {
        meter_names(std::slice::from_ref(r))
            .iter()
            .any(|n| n == "http.request")
    }));
    assert!(
        meter_names(&samples).iter().any(|n| n == "http.request"),
        "{}",
        agent.log_text()
    );
    let events = rt.block_on(collect(
        &url,
        "event.sample",
        Duration::from_secs(30),
        messages(1),
    ));
    let events: Vec<serde_json::Value> = events.iter().flat_map(|r| meter_messages(&r.body)).collect();
    assert!(
        events
            .iter()
            .any(|e| e["event_type"] == "http.request" && e["message_id"] == "m2"),
        "{events:?}"
    );
    assert!(agent.terminate().success());
}
