//! A real Prometheus server (Debian's package) scrapes the telemetry endpoint on loopback
//! every second while the test records traffic at a known rate; the rate (and a latency
//! quantile) read back through Prometheus' HTTP API match what was recorded.
//!
//! Bounded: the whole test gives up after [`DEADLINE`]; Prometheus is killed on the way out.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ceilo::telemetry;
use ceilo::telemetry::handles::{ConversionOutcome, ConverterMetrics, ListenerMetrics};
use common::prometheus::Prometheus;

const DEADLINE: Duration = Duration::from_secs(90);
/// Notifications per second the test records.
const RATE: f64 = 400.0;
/// Every recorded conversion batch takes this long; its bucket is (2.5 ms, 5 ms].
const BATCH_TIME: Duration = Duration::from_millis(3);
const QUEUE: &str = "health.prometheus";

#[test]
fn prometheus_reads_back_the_recorded_rate() {
    let started = Instant::now();
    let telemetry = telemetry::start("127.0.0.1:0".parse().expect("literal")).expect("start telemetry");
    let target = telemetry.local_addr();

    let server = Prometheus::scraping(target, "ceilo", false);

    // Traffic at a steady RATE: each tick tops the counter up to RATE × elapsed, so a tick
    // delayed by a busy machine does not bend the rate.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let listener = ListenerMetrics::new(QUEUE);
            let converter = ConverterMetrics::new(QUEUE);
            let begun = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = (begun.elapsed().as_secs_f64() * RATE) as u64;
                if due > sent {
                    let n = (due - sent) as usize;
                    listener.received(n);
                    let outcome = ConversionOutcome {
                        converted: n,
                        ..Default::default()
                    };
                    converter.batch(outcome, BATCH_TIME);
                    sent = due;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            sent
        })
    };

    let rate_query = format!("sum(rate(ceilo_notifications_received_total{{queue=\"{QUEUE}\"}}[5s]))");
    let p50_query =
        "histogram_quantile(0.5, sum by (le) (rate(ceilo_conversion_duration_seconds_bucket[5s])))";
    let mut last = None;
    let mut matched = None;
    // Wait for a window of scrapes that lies wholly inside the traffic, then read it.
    std::thread::sleep(Duration::from_secs(7));
    while started.elapsed() < DEADLINE {
        last = server.value(&rate_query);
        if let Some(rate) = last {
            if (rate - RATE).abs() / RATE < 0.10 {
                matched = Some(rate);
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let p50 = server.value(p50_query);
    let up = server.value(&format!("up{{instance=\"{target}\"}}"));
    stop.store(true, Ordering::Relaxed);
    let sent = traffic.join().expect("traffic thread");

    let rate = matched.unwrap_or_else(|| {
        panic!(
            "Prometheus' rate never came within 10% of {RATE}/s in {DEADLINE:?}: last {last:?} (sent {sent})"
        )
    });
    eprintln!("recorded {RATE}/s, Prometheus computed {rate:.1}/s; conversion p50 {p50:?}");
    assert_eq!(up, Some(1.0), "Prometheus scrapes the endpoint");
    let p50 = p50.expect("conversion histogram reached Prometheus");
    assert!(
        (0.0025..=0.005).contains(&p50),
        "p50 {p50} outside the recorded bucket (2.5 ms, 5 ms]"
    );
    telemetry.shutdown();
}
