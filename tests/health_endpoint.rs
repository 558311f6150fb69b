//! The telemetry endpoint over real HTTP: counters recorded through the handles show up
//! in /metrics by exactly the recorded amounts, the scrape passes `promtool check metrics`,
//! and /healthz and /readyz follow the readiness state.

mod health_support;

use std::time::{Duration, Instant};

use ceilo::model::Payload;
use ceilo::telemetry::handles::{
    ActorMetrics, AmqpConnectionMetrics, ConversionOutcome, ConverterMetrics, ListenerMetrics,
    PipelineMetrics, PollsterMetrics, PublisherMetrics,
};
use ceilo::telemetry::metrics::*;
use ceilo::telemetry::{self, scrape::Exposition};
use health_support::*;

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

/// `after - before` for one series (absent counts as 0: a handle creates it at 0 anyway).
fn delta(before: &Exposition, after: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

#[test]
fn scrape_shows_exactly_what_was_recorded_and_passes_promtool() {
    let telemetry = telemetry::start(loopback()).expect("start telemetry");
    let addr = telemetry.local_addr();
    // Label values unique to this test: the recorder is process-global.
    let queue = "health.endpoint";

    let listener = ListenerMetrics::new(queue);
    let converter = ConverterMetrics::new(queue);
    let pipeline = PipelineMetrics::new();
    let publisher = PublisherMetrics::new("health_sink", "file");
    let pollster = PollsterMetrics::new("health_source", "cpu");
    let actor = ActorMetrics::new(ActorKind::Converter, "health-0", 64);
    let amqp = AmqpConnectionMetrics::new("consume-health", &["health-a:5672", "health-b:5672"]);

    let (_, before) = scrape_metrics(addr);
    // Handles create their series at zero.
    assert_eq!(before.sum(NOTIFICATIONS_RECEIVED, &[("queue", queue)]), 0.0);
    assert!(
        before
            .matching(
                NOTIFICATIONS_REJECTED,
                &[("queue", queue), ("reason", "endpoint")]
            )
            .count()
            == 1
    );

    for _ in 0..3 {
        listener.received(100);
    }
    converter.batch(
        ConversionOutcome {
            converted: 284,
            rejected_envelope: 7,
            rejected_endpoint: 3,
            rejected_output: 4,
            duplicates: 2,
            unknown_priority: 0,
            samples: 580,
            events: 290,
        },
        Duration::from_millis(3),
    );
    pipeline.samples_filtered(80);
    publisher.confirmed(
        Payload::Samples,
        500,
        Duration::from_millis(2),
        Some(Duration::from_millis(40)),
    );
    publisher.confirmed(
        Payload::Events,
        290,
        Duration::from_millis(4),
        Some(Duration::from_secs(2)),
    );
    publisher.failed(Payload::Samples, 25);
    listener.acked(290);
    listener.dead_lettered(RejectReason::Envelope, 7);
    listener.dead_lettered(RejectReason::Endpoint, 2);
    listener.queue_messages(1234);
    pollster.succeeded(12, Duration::from_millis(20));
    pollster.failed(Duration::from_millis(5));
    pollster.skipped(SkipReason::Overrun);
    // One message still waiting, one taken by its handler.
    let waiting = actor.enqueue();
    drop(actor.enqueue());
    actor.restarted();
    amqp.connected(false, None, 0);
    amqp.disconnected();
    // Failed over: reconnected on the second node of the URL.
    amqp.connected(true, Some(0), 1);

    let (body, after) = scrape_metrics(addr);
    let q = [("queue", queue)];
    let expect = |name: &str, labels: &[(&str, &str)], want: f64| {
        let got = delta(&before, &after, name, labels);
        assert_eq!(got, want, "{name}{labels:?}: moved by {got}, expected {want}");
    };
    expect(NOTIFICATIONS_RECEIVED, &q, 300.0);
    expect(NOTIFICATIONS_CONVERTED, &q, 284.0);
    expect(NOTIFICATIONS_DUPLICATE, &q, 2.0);
    expect(
        NOTIFICATIONS_REJECTED,
        &[("queue", queue), ("reason", "envelope")],
        7.0,
    );
    expect(
        NOTIFICATIONS_REJECTED,
        &[("queue", queue), ("reason", "endpoint")],
        3.0,
    );
    expect(
        NOTIFICATIONS_REJECTED,
        &[("queue", queue), ("reason", "output")],
        4.0,
    );
    expect(
        NOTIFICATIONS_DEAD_LETTERED,
        &[("queue", queue), ("reason", "envelope")],
        7.0,
    );
    expect(
        NOTIFICATIONS_DEAD_LETTERED,
        &[("queue", queue), ("reason", "endpoint")],
        2.0,
    );
    expect(NOTIFICATIONS_ACKED, &q, 290.0);
    // 300 received, 290 acked, 9 dead-lettered: one still in flight.
    assert_eq!(after.sum(AMQP_UNACKED_DELIVERIES, &q), 1.0);
    assert_eq!(after.sum(AMQP_QUEUE_MESSAGES, &q), 1234.0);
    let sink = [("sink", "health_sink"), ("publisher", "file")];
    expect(SAMPLES_PUBLISHED, &sink, 500.0);
    expect(EVENTS_PUBLISHED, &sink, 290.0);
    expect(SAMPLES_PUBLISH_FAILED, &sink, 25.0);
    expect(&format!("{PUBLISH_CONFIRM_DURATION}_count"), &sink, 2.0);
    let poll = [("source", "health_source"), ("pollster", "cpu")];
    expect(POLLS_RUN, &poll, 2.0);
    expect(POLLS_FAILED, &poll, 1.0);
    expect(
        POLLS_SKIPPED,
        &[
            ("source", "health_source"),
            ("pollster", "cpu"),
            ("reason", "overrun"),
        ],
        1.0,
    );
    expect(&format!("{POLL_DURATION}_count"), &poll, 2.0);
    let actor_labels = [("actor", "converter"), ("id", "health-0")];
    assert_eq!(after.sum(ACTOR_MAILBOX_DEPTH, &actor_labels), 1.0);
    drop(waiting);
    assert_eq!(after.sum(ACTOR_MAILBOX_CAPACITY, &actor_labels), 64.0);
    expect(ACTOR_RESTARTS, &actor_labels, 1.0);
    assert_eq!(
        after.sum(AMQP_CONNECTION_UP, &[("connection", "consume-health")]),
        1.0
    );
    expect(AMQP_RECONNECTS, &[("connection", "consume-health")], 1.0);
    expect(AMQP_FAILOVERS, &[("connection", "consume-health")], 1.0);
    assert_eq!(
        after.sum(AMQP_NODE_CONNECTIONS, &[("node", "health-a:5672")]),
        0.0
    );
    assert_eq!(
        after.sum(AMQP_NODE_CONNECTIONS, &[("node", "health-b:5672")]),
        1.0
    );

    // Unlabelled and shared series: other tests in this binary may add to them, so >=.
    assert!(delta(&before, &after, SAMPLES_PRODUCED, &[("origin", "notification")]) >= 580.0);
    assert!(delta(&before, &after, SAMPLES_PRODUCED, &[("origin", "polling")]) >= 12.0);
    assert!(delta(&before, &after, EVENTS_PRODUCED, &[]) >= 290.0);
    assert!(delta(&before, &after, SAMPLES_FILTERED, &[]) >= 80.0);

    // Histograms are real Prometheus histograms with the catalogue's buckets.
    let conversion_bucket = format!("{CONVERSION_DURATION}_bucket");
    let les: Vec<&str> = after
        .matching(&conversion_bucket, &[])
        .map(|s| s.labels["le"].as_str())
        .collect();
    assert_eq!(les.len(), CONVERSION_BUCKETS.len() + 1, "buckets: {les:?}");
    assert!(after.sum(&format!("{END_TO_END_DELAY}_bucket"), &[("le", "0.05")]) >= 1.0);
    assert_eq!(
        after.types.get(CONVERSION_DURATION).map(String::as_str),
        Some("histogram")
    );

    // Process figures and agent gauges are there, with their types.
    assert!(after.sum(PROCESS_RESIDENT_MEMORY, &[]) > 1e6);
    assert_eq!(after.types.get(PROCESS_CPU).map(String::as_str), Some("counter"));
    assert_eq!(
        after.sum(BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert_eq!(after.sum(READY, &[]), 0.0, "nothing set readiness yet");

    // Everything served is in the catalogue.
    for sample in &after.samples {
        assert!(
            is_exported_series(&sample.name),
            "{} is served but not in the catalogue",
            sample.name
        );
    }

    let (ok, output) = run_promtool(&promtool(), &["check", "metrics"], Some(&body));
    assert!(
        ok,
        "promtool check metrics failed:\n{output}\n--- scrape ---\n{body}"
    );
    telemetry.shutdown();
}

#[test]
fn healthz_and_readyz_follow_the_readiness_state() {
    let telemetry = telemetry::start(loopback()).expect("start telemetry");
    let base = format!("http://{}", telemetry.local_addr());
    let readiness = telemetry.readiness();

    assert_eq!(get(&format!("{base}/healthz")).status, 200);
    let not_yet = get(&format!("{base}/readyz"));
    assert_eq!(not_yet.status, 503, "{}", not_yet.body);

    readiness.set_consuming("notifications.info", true);
    assert_eq!(get(&format!("{base}/readyz")).status, 200);

    readiness.set_consuming("notifications.info", false);
    let lost = get(&format!("{base}/readyz"));
    assert_eq!(lost.status, 503);
    assert!(
        lost.body.contains("notifications.info"),
        "says which queue: {}",
        lost.body
    );

    readiness.set_consuming("notifications.info", true);
    readiness.set_polling("all_pollsters", Duration::from_secs(300));
    assert_eq!(get(&format!("{base}/readyz")).status, 200);

    readiness.set_shutting_down();
    assert_eq!(get(&format!("{base}/readyz")).status, 503);
    assert_eq!(
        get(&format!("{base}/healthz")).status,
        200,
        "alive while draining"
    );

    assert_eq!(get(&format!("{base}/nope")).status, 404);
    telemetry.shutdown();
}

#[test]
fn answers_within_the_scrape_timeout_while_every_core_is_busy() {
    let telemetry = telemetry::start(loopback()).expect("start telemetry");
    let url = format!("http://{}/metrics", telemetry.local_addr());
    // Saturate the machine with spinning threads standing in for busy arbiters.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let listener = ListenerMetrics::new("health.busy");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    listener.received(1);
                }
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(get(&url).status, 200);
        worst = worst.max(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().expect("spinner");
    }
    // A liveness bound, not a speed claim (speed lives in benches/): every scrape must finish
    // within Prometheus' default scrape timeout of 10 s while the cores are saturated.
    assert!(worst < Duration::from_secs(10), "slowest scrape took {worst:?}");
    telemetry.shutdown();
}

#[test]
fn a_taken_port_is_an_error_at_start() {
    let first = telemetry::start(loopback()).expect("start telemetry");
    let err = telemetry::start(first.local_addr())
        .err()
        .expect("second bind must fail");
    assert!(err.to_string().contains(&first.local_addr().to_string()), "{err}");
}
