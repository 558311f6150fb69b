//! `ceilo top --once` against a live telemetry endpoint shows the rate being recorded.

mod health_support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ceilo::model::Payload;
use ceilo::telemetry;
use ceilo::telemetry::handles::{ListenerMetrics, PublisherMetrics};

#[test]
fn top_once_shows_live_rates_per_queue_and_publisher() {
    let telemetry = telemetry::start("127.0.0.1:0".parse().expect("literal")).expect("start telemetry");
    telemetry.readiness().set_consuming("health.top", true);
    let url = format!("http://{}/metrics", telemetry.local_addr());

    // 1000 notifications and 2000 samples per second, topped up to the schedule every 10 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let listener = ListenerMetrics::new("health.top");
            let publisher = PublisherMetrics::new("top_sink", "udp");
            let begun = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = (begun.elapsed().as_secs_f64() * 1000.0) as u64;
                if due > sent {
                    let n = (due - sent) as usize;
                    listener.received(n);
                    publisher.confirmed(Payload::Samples, 2 * n, Duration::from_millis(1), None);
                    sent = due;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let output = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["top", "--once", "--interval", "1", "--url", &url])
        .output()
        .expect("run ceilo top");
    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("traffic thread");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ceilo top failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("READY"), "{stdout}");

    // The row of our queue: its "received" column is the first number.
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("health.top"))
        .expect("a row for the queue");
    let received: f64 = row
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a rate");
    assert!(
        (800.0..=1200.0).contains(&received),
        "received {received}/s, expected ~1000: {row}"
    );
    let row = stdout
        .lines()
        .find(|l| l.contains("top_sink/udp"))
        .expect("a row for the publisher");
    let samples: f64 = row
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a rate");
    assert!(
        (1600.0..=2400.0).contains(&samples),
        "published {samples}/s, expected ~2000: {row}"
    );
    eprintln!("{stdout}");
}

#[test]
fn top_fails_clearly_when_nothing_listens() {
    let port = health_support::free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args([
            "top",
            "--once",
            "--url",
            &format!("http://127.0.0.1:{port}/metrics"),
        ])
        .output()
        .expect("run ceilo top");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&port.to_string()), "says which address: {stderr}");
}
