//! What `ceilo run` refuses before it starts anything, and that `ceilo check` refuses the
//! same: a config run cannot use never gets as far as serving /metrics.

mod runtime_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use runtime_support::*;

/// `ceilo <args>` to completion (killed after 30 s: a run that starts is a failure here).
fn ceilo(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(args)
        .arg("--config-dir")
        .arg(dir)
        .env("RUST_LOG", "info,lapin=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceilo");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code(), text)
}

#[test]
fn check_and_run_refuse_the_same_transport_urls_and_run_starts_nothing() {
    for bad in ["kafka://", "amqp://h:notaport/"] {
        let dir = config_dir(&format!("transport_url: {bad}\n{TELEMETRY}"));
        let (code, out) = ceilo(&["check"], dir.path());
        assert_eq!(code, Some(1), "check accepted {bad}:\n{out}");
        assert!(
            out.contains("ceilo.yaml: transport_url: invalid transport URL"),
            "{bad}:\n{out}"
        );

        let (code, out) = ceilo(&["run"], dir.path());
        assert_eq!(code, Some(1), "run with {bad}:\n{out}");
        assert!(out.contains("invalid transport URL"), "{bad}:\n{out}");
        assert!(
            !out.contains("telemetry: serving"),
            "started before refusing {bad}:\n{out}"
        );

        // The same URL given on the command line, over a valid config.
        let dir = config_dir(TELEMETRY);
        let (code, out) = ceilo(&["run", "--transport-url", bad], dir.path());
        assert_eq!(code, Some(1), "run --transport-url {bad}:\n{out}");
        assert!(out.contains("invalid transport URL"), "{bad}:\n{out}");
        assert!(
            !out.contains("telemetry: serving"),
            "started before refusing {bad}:\n{out}"
        );
    }
}

#[test]
fn a_bad_messaging_url_stops_run_before_it_touches_the_broker() {
    let broker = Broker::new("bad-messaging-url");
    let url = broker.url();
    let dir = config_dir(&format!(
        "transport_url: {url}\nnotification:\n  messaging_urls: ['{url}', 'kafka://k:9092']\n{TELEMETRY}"
    ));
    let (code, out) = ceilo(&["run"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("notification.messaging_urls: invalid transport URL \"kafka://k:9092\""),
        "{out}"
    );
    assert!(!out.contains("telemetry: serving"), "{out}");
    let queues = broker.get(&format!("/queues/{}", broker.vhost));
    assert_eq!(queues, serde_json::json!([]), "declared before refusing:\n{out}");
}
