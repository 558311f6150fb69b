//! The agent against the real RabbitMQ: consume → convert → publish with confirms → ack,
//! dead-lettering, backpressure and reconnection. Each test has a vhost of its own.

mod runtime_support;

use std::collections::HashSet;
use std::time::Duration;

use runtime_support::*;
use serde_json::json;

fn ids(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn samples_are_republished_on_metering_sample_and_their_deliveries_acked() {
    let broker = Broker::new("flow");
    let dir = config_dir(&settings(100, 20));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("flow", 300)));
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(300),
    ));
    let ids = ids(&got);
    assert_eq!(ids.len(), 300, "log:\n{}", agent.log_text());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 300);
    // The envelope is oslo's: SAMPLE priority, event_type = metering topic, signed messages.
    let outer: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    let inner: serde_json::Value = serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap();
    assert_eq!(inner["priority"], "SAMPLE");
    assert_eq!(inner["event_type"], "metering");
    assert!(inner["publisher_id"]
        .as_str()
        .unwrap()
        .starts_with("telemetry.publisher."));
    assert_eq!(got[0].routing_key, "metering.sample");
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(agent.terminate().success());
}

/// `notifier://?topic=a&topic=b` is oslo's notifier with two topics: every notification goes
/// to both, the same message each time.
#[test]
fn a_notifier_with_two_topics_publishes_every_sample_to_both() {
    let broker = Broker::new("two-topics");
    let dir = config_dir(&settings(100, 20));
    let publisher = "notifier://?topic=first&topic=second";
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(publisher)).unwrap();
    let (rt, url) = (runtime(), broker.url());
    for queue in ["first.sample", "second.sample"] {
        rt.block_on(declare(&url, queue, "ceilometer", queue, false));
    }
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("two", 200)));
    let mut bodies = Vec::new();
    for queue in ["first.sample", "second.sample"] {
        let got = rt.block_on(collect(&url, queue, Duration::from_secs(30), distinct_ids(200)));
        let ids = ids(&got);
        assert_eq!(
            (ids.len(), ids.iter().collect::<HashSet<_>>().len()),
            (200, 200),
            "{queue}; log:\n{}",
            agent.log_text()
        );
        assert!(got.iter().all(|r| r.routing_key == queue));
        let mut sorted: Vec<_> = got.into_iter().map(|r| r.body).collect();
        sorted.sort();
        bodies.push(sorted);
    }
    assert_eq!(bodies[0], bodies[1], "the same notifications on both topics");
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(agent.terminate().success());
}

#[test]
fn a_poison_message_lands_in_the_dead_letter_queue_with_its_reason_and_the_rest_flows_on() {
    let broker = Broker::new("dlq");
    let dir = config_dir(&settings(100, 10));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let agent = Agent::start(dir.path(), &url);
    let mut input = polling_messages("before", 20);
    input.push((
        "nova".into(),
        "notifications.info".into(),
        b"{not json at all".to_vec(),
    ));
    let bad_version = json!({"oslo.version": "3.0", "oslo.message": "{}"})
        .to_string()
        .into_bytes();
    input.push(("nova".into(), "notifications.info".into(), bad_version));
    input.extend(polling_messages("after", 20));
    rt.block_on(publish(&url, &input));

    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(2),
    ));
    assert_eq!(dead.len(), 2, "log:\n{}", agent.log_text());
    let mut reasons: Vec<&str> = dead.iter().filter_map(|d| d.header("x-ceilo-reason")).collect();
    reasons.sort();
    assert!(
        reasons[0].contains("undecodable") && reasons[0].contains("JSON"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("oslo.version"), "{reasons:?}");
    assert!(
        dead.iter().any(|d| d.body == b"{not json at all"),
        "the body is kept untouched"
    );
    assert_eq!(dead[0].header("x-ceilo-exchange"), Some("nova"));
    assert_eq!(dead[0].header("x-ceilo-routing-key"), Some("notifications.info"));

    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(40),
    ));
    assert_eq!(ids(&got).len(), 40, "the messages behind the poison flow on");
    wait_until(
        "the poison is acked, not requeued",
        Duration::from_secs(10),
        || broker.counts("notifications.info") == (0, 0) && broker.counts("notifications.sample") == (0, 0),
    );
    assert!(agent.terminate().success());
}

/// A dead letter is the original message, properties and headers included, plus ceilo's
/// `x-ceilo-*` headers; only `expiration` and `user-id` move into headers (a TTL would drop the
/// dead letter unseen) and it is made persistent.
#[test]
fn a_dead_letter_keeps_the_original_properties_and_headers() {
    use lapin::types::{AMQPValue, FieldTable, LongString};
    use lapin::BasicProperties;

    let broker = Broker::new("dlprops");
    let dir = config_dir(&settings(100, 10));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let mut headers = FieldTable::default();
    headers.insert(
        "x-trace-id".into(),
        AMQPValue::LongString(LongString::from("t-42")),
    );
    headers.insert("x-attempt".into(), AMQPValue::LongLongInt(3));
    headers.insert(
        "x-ceilo-reason".into(),
        AMQPValue::LongString(LongString::from("stale")),
    );
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(1)
        .with_priority(3)
        .with_correlation_id("corr-1".into())
        .with_reply_to("replies".into())
        .with_expiration("600000".into())
        .with_message_id("msg-1".into())
        .with_timestamp(1_700_000_000)
        .with_type("notification".into())
        .with_user_id("guest".into())
        .with_app_id("nova-compute".into())
        .with_headers(headers);
    let input = [(
        "nova".to_owned(),
        "notifications.info".to_owned(),
        b"{not json".to_vec(),
        props,
    )];
    rt.block_on(publish_with_properties(&url, &input));
    let agent = Agent::start(dir.path(), &url);
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(1),
    ));
    assert_eq!(dead.len(), 1, "log:\n{}", agent.log_text());
    let p = &dead[0].properties;
    let short = |v: &Option<lapin::types::ShortString>| v.as_ref().map(|s| s.to_string());
    assert_eq!(short(p.content_type()).as_deref(), Some("application/json"));
    assert_eq!(short(p.content_encoding()).as_deref(), Some("utf-8"));
    assert_eq!(*p.priority(), Some(3));
    assert_eq!(short(p.correlation_id()).as_deref(), Some("corr-1"));
    assert_eq!(short(p.reply_to()).as_deref(), Some("replies"));
    assert_eq!(short(p.message_id()).as_deref(), Some("msg-1"));
    assert_eq!(*p.timestamp(), Some(1_700_000_000));
    assert_eq!(short(p.kind()).as_deref(), Some("notification"));
    assert_eq!(short(p.app_id()).as_deref(), Some("nova-compute"));
    assert_eq!(*p.delivery_mode(), Some(2), "the only copy left is persistent");
    assert_eq!(*p.expiration(), None, "a TTL would drop the dead letter unseen");
    assert_eq!(*p.user_id(), None);
    let table = p.headers().clone().unwrap_or_default();
    let header = |k: &str| table.inner().get(k).cloned();
    assert_eq!(
        header("x-attempt"),
        Some(AMQPValue::LongLongInt(3)),
        "typed headers keep their type"
    );
    let text = |k: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(text("x-trace-id").as_deref(), Some("t-42"));
    assert_eq!(text("x-ceilo-original-expiration").as_deref(), Some("600000"));
    assert_eq!(text("x-ceilo-original-user-id").as_deref(), Some("guest"));
    assert_eq!(text("x-ceilo-exchange").as_deref(), Some("nova"));
    assert_eq!(text("x-ceilo-routing-key").as_deref(), Some("notifications.info"));
    let reason = text("x-ceilo-reason").unwrap_or_default();
    assert!(
        reason.starts_with("undecodable"),
        "ceilo's reason replaces an old one: {reason}"
    );
    assert_eq!(dead[0].body, b"{not json");
    assert!(agent.terminate().success());
}

/// The text of the `oslo.message` of one published notification (it may hold NaN, which
/// serde_json does not read).
fn inner_text(body: &[u8]) -> String {
    let outer: serde_json::Value = serde_json::from_slice(body).expect("outer json");
    outer["oslo.message"].as_str().unwrap_or_default().to_owned()
}

/// Python's json reads `NaN`, `Infinity`, `-Infinity` and `1e400` (as inf), so oslo hands such
/// a notification to Ceilometer, which converts it and writes the values back as json.dumps
/// does (`NaN`, `Infinity`), signing Python's `str()` of them (`nan`, `inf`). ceilo does the same.
#[test]
fn nan_infinity_and_1e400_are_converted_and_signed_as_ceilometer_does() {
    let broker = Broker::new("nan");
    let dir = config_dir(&settings(100, 10));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let agent = Agent::start(dir.path(), &url);
    // What Python's json.dumps writes for such a notification, with 1e400 as a producer may
    // write it by hand.
    let sample = r#"{"source": "openstack", "counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns", "counter_volume": NaN, "user_id": "u", "user_name": null, "project_id": "p", "project_name": null, "resource_id": "r", "timestamp": "2025-03-14T09:45:00.123456+00:00", "resource_metadata": {"big": Infinity, "small": -Infinity, "huge": 1e400}, "message_id": "nan-1", "monotonic_time": null, "message_signature": "x"}"#;
    let inner = format!(
        r#"{{"message_id": "m-nan-1", "publisher_id": "ceilometer.polling", "event_type": "telemetry.polling", "priority": "SAMPLE", "payload": {{"samples": [{sample}]}}, "timestamp": "2025-03-14 09:45:00.123456", "_unique_id": "unan1"}}"#
    );
    let body = json!({"oslo.version": "2.0", "oslo.message": inner})
        .to_string()
        .into_bytes();
    let mut input = vec![("ceilometer".to_owned(), "notifications.sample".to_owned(), body)];
    input.extend(polling_messages("after", 1));
    rt.block_on(publish(&url, &input));
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        |r: &Received| inner_text(&r.body).contains("after-0"),
    ));
    // Ceilometer 27's meter_message_from_counter for that sample, json.dumps'd (secret: the
    // default telemetry_secret), by /opt/ceilometer-venv.
    let ceilometer = r#"{"source": "openstack", "counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns", "counter_volume": NaN, "user_id": "u", "user_name": null, "project_id": "p", "project_name": null, "resource_id": "r", "timestamp": "2025-03-14T09:45:00.123456+00:00", "resource_metadata": {"big": Infinity, "small": -Infinity, "huge": Infinity}, "message_id": "nan-1", "monotonic_time": null, "message_signature": "aa978b5b26f06e06f50ffa94d458f81eb38640a1722c0d1b385dee02760b1a39"}"#;
    assert!(
        got.iter().any(|r| inner_text(&r.body).contains(ceilometer)),
        "no published sample is Ceilometer's; got {:?}\nlog:\n{}",
        got.iter().map(|r| inner_text(&r.body)).collect::<Vec<_>>(),
        agent.log_text()
    );
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert_eq!(
        broker.counts("ceilo.dead-letter"),
        (0, 0),
        "nothing dead-lettered"
    );
    assert!(agent.terminate().success());
}

/// `n` bodies of 100 KB that are no notification (dead-lettered), on notifications.sample.
fn big_bodies(n: usize) -> Vec<(String, String, Vec<u8>)> {
    (0..n)
        .map(|_| {
            let body = vec![b'x'; 100_000];
            ("ceilometer".to_owned(), "notifications.sample".to_owned(), body)
        })
        .collect()
}

/// An agent with `settings` on a vhost of its own, consuming notifications.sample before
/// `first` is published to it (so deliveries reach it one by one), half a second after.
fn after_first(
    tag: &str,
    settings: &str,
    first: &[(String, String, Vec<u8>)],
) -> (Broker, tempfile::TempDir, tokio::runtime::Runtime, Agent) {
    let broker = Broker::new(tag);
    let dir = config_dir(settings);
    let rt = runtime();
    rt.block_on(declare_metering(&broker.url()));
    let agent = Agent::start(dir.path(), &broker.url());
    wait_until("the agent consumes", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.sample")
    });
    rt.block_on(publish(&broker.url(), first));
    std::thread::sleep(Duration::from_millis(500));
    (broker, dir, rt, agent)
}

/// Seconds from publishing one small notification until `samples` distinct samples (its own
/// the last) came on metering.sample.
fn seconds_to_samples(rt: &tokio::runtime::Runtime, url: &str, agent: &Agent, samples: usize) -> f64 {
    let sent = std::time::Instant::now();
    rt.block_on(publish(url, &polling_messages("last", 1)));
    let got = rt.block_on(collect(
        url,
        "metering.sample",
        Duration::from_secs(20),
        distinct_ids(samples),
    ));
    assert_eq!(ids(&got).len(), samples, "log:\n{}", agent.log_text());
    sent.elapsed().as_secs_f64()
}

#[test]
fn a_batch_filled_under_the_wake_threshold_still_wakes_for_the_next_delivery() {
    // Batches of 3: the first 100 KB delivery leaves the batch wanting more than the threshold
    // at which the consumer wakes the pump, and the batch fills with it still set; the wait for
    // the next batch's first delivery must wake at a small one again.
    let (broker, _dir, rt, agent) = after_first("wake", &settings(100, 3), &big_bodies(3));
    let seconds = seconds_to_samples(&rt, &broker.url(), &agent, 1);
    assert!(seconds < 10.0, "{seconds} s");
    assert!(agent.terminate().success());
}

#[test]
fn what_arrived_under_the_wake_threshold_joins_the_batch_at_its_deadline() {
    // A 5 s batch of up to 200: after its first delivery it wants far more than the threshold
    // at which the consumer wakes the pump, so a second small delivery is under it. At the
    // deadline the second must join this batch (both samples ~4.5 s after it was sent), not
    // wait out the next batch's deadline (~9.5 s).
    let five_second_batches =
        settings(100, 200).replacen("batch_timeout_ms: 20", "batch_timeout_ms: 5000", 1);
    let first = polling_messages("first", 1);
    let (broker, _dir, rt, agent) = after_first("wakedeadline", &five_second_batches, &first);
    let seconds = seconds_to_samples(&rt, &broker.url(), &agent, 2);
    assert!(seconds < 7.5, "{seconds} s");
    assert!(agent.terminate().success());
}

/// A dead letter's reason says what is wrong and where, as Python's json would: not simd-json's
/// "Syntax at character 0" for a body cut half-way.
#[test]
fn a_truncated_body_is_dead_lettered_with_what_is_wrong_and_where() {
    let broker = Broker::new("dlreason");
    let dir = config_dir(&settings(100, 10));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let agent = Agent::start(dir.path(), &url);
    // As oslo writes it (json.dumps: oslo.version first, `": "` separators), then cut in half.
    let inner = inner_text(&polling_body("cut"));
    let whole = format!(
        r#"{{"oslo.version": "2.0", "oslo.message": {}}}"#,
        serde_json::to_string(&inner).unwrap_or_default()
    );
    let truncated = whole.as_bytes()[..whole.len() / 2].to_vec();
    let lower_nan =
        br#"{"oslo.version": "2.0", "oslo.message": "{\"priority\": \"SAMPLE\", \"payload\": nan}"}"#
            .to_vec();
    let input = vec![
        (
            "ceilometer".to_owned(),
            "notifications.sample".to_owned(),
            truncated,
        ),
        (
            "ceilometer".to_owned(),
            "notifications.sample".to_owned(),
            lower_nan,
        ),
    ];
    rt.block_on(publish(&url, &input));
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(2),
    ));
    assert_eq!(dead.len(), 2, "log:\n{}", agent.log_text());
    let mut reasons: Vec<&str> = dead.iter().filter_map(|d| d.header("x-ceilo-reason")).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "undecodable: body is not valid JSON: Unterminated string starting at: line 1 column 41 (char 40)",
            "undecodable: oslo.message is not valid JSON: Expecting value: line 1 column 35 (char 34)",
        ]
    );
    assert!(agent.terminate().success());
}

#[test]
fn a_stalled_publisher_stops_consumption_at_the_prefetch_bound() {
    let broker = Broker::new("stall");
    let prefetch = 30;
    let dir = config_dir(&settings(prefetch, 10));
    let rt = runtime();
    let url = broker.url();
    // The broker refuses every publish to metering.sample (publisher nack): the publisher can
    // never confirm, so the deliveries behind it can never be acked.
    broker.stall_metering(&rt);
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("stall", 500)));
    std::thread::sleep(Duration::from_secs(2));
    wait_until(
        "consumption to stop at the prefetch bound",
        Duration::from_secs(20),
        || broker.counts("notifications.sample") == (500 - prefetch as u64, prefetch as u64),
    );
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let before = rss(agent.pid());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        broker.counts("notifications.sample"),
        (500 - prefetch as u64, prefetch as u64),
        "still stalled"
    );
    let after = rss(agent.pid());
    assert!(
        after < before + 8 * 1024,
        "memory flat while stalled: {before} kB → {after} kB"
    );

    // Unstall: everything flows, nothing is lost.
    broker.clear_policy("stall");
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(500),
    ));
    assert_eq!(
        ids(&got).into_iter().collect::<HashSet<_>>().len(),
        500,
        "log:\n{}",
        agent.log_text()
    );
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(agent.terminate().success());
}

#[test]
fn reconnects_after_the_broker_drops_its_connections_and_loses_nothing() {
    let broker = Broker::new("reconnect");
    let prefetch = 50;
    let dir = config_dir(&settings(prefetch, 10));
    let rt = runtime();
    let url = broker.url();
    // Hold the agent mid-stream: its publishes are refused, so `prefetch` deliveries stay
    // unacked on its channel while the broker drops every connection.
    broker.stall_metering(&rt);
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("first", 1000)));
    wait_until(
        "the agent holding a full prefetch",
        Duration::from_secs(20),
        || rt.block_on(ready_count(&url, "notifications.sample")) == 1000 - u32::from(prefetch),
    );
    // The management API lists connections with a delay: retry until the agent's are closed.
    wait_until(
        "the agent's connections closed by the broker",
        Duration::from_secs(20),
        || broker.close_connections() >= 2,
    );
    broker.clear_policy("stall");
    rt.block_on(publish(&url, &polling_messages("second", 500)));
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(1500),
    ));
    let unique: HashSet<_> = ids(&got).into_iter().collect();
    assert_eq!(
        unique.len(),
        1500,
        "at least once across the reconnection; log:\n{}",
        agent.log_text()
    );
    wait_until(
        "every delivery acked on the new channels",
        Duration::from_secs(20),
        || {
            rt.block_on(ready_count(&url, "notifications.sample")) == 0
                && broker.counts("notifications.sample") == (0, 0)
        },
    );
    let log = agent.log_text();
    assert!(log.contains("reconnecting"), "log:\n{log}");
    assert!(
        !log.contains("PRECONDITION_FAILED"),
        "a stale delivery tag was acked:\n{log}"
    );
    assert!(agent.terminate().success());
}

#[test]
fn a_notification_sent_twice_with_the_same_unique_id_is_published_once() {
    let broker = Broker::new("dup");
    let dir = config_dir(&settings(100, 10));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    let agent = Agent::start(dir.path(), &url);
    // A producer that re-sends after a lost confirm sends the same `_unique_id` again.
    let unique = polling_messages("dup", 3);
    let sent = vec![
        unique[0].clone(),
        unique[0].clone(),
        unique[1].clone(),
        unique[0].clone(),
        unique[2].clone(),
        unique[2].clone(),
    ];
    rt.block_on(publish(&url, &sent));
    let mut got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(3),
    ));
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    // Anything published late would be here now.
    got.extend(rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_millis(500),
        |_| false,
    )));
    let mut ids = ids(&got);
    ids.sort();
    assert_eq!(ids, ["dup-0", "dup-1", "dup-2"], "log:\n{}", agent.log_text());
    assert!(agent.log_text().contains("duplicate notification dropped"));
    assert!(agent.terminate().success());
}

#[test]
fn a_published_notification_carries_at_most_publisher_batch_size_samples() {
    let broker = Broker::new("batchcap");
    // publisher.batch_size 3 ("samples per notification"), and one delivery of 8 samples: the
    // pipeline hands the publisher all 8 at once.
    let config = settings(100, 20).replace("publisher:\n  batch_size: 50", "publisher:\n  batch_size: 3");
    assert!(config.contains("batch_size: 3"), "{config}");
    let dir = config_dir(&config);
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    let agent = Agent::start(dir.path(), &url);
    let outer: serde_json::Value = serde_json::from_slice(&polling_body("cap-0")).unwrap();
    let mut inner: serde_json::Value = serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap();
    let one = inner["payload"]["samples"][0].clone();
    inner["payload"]["samples"] = (0..8)
        .map(|i| {
            let mut s = one.clone();
            s["message_id"] = json!(format!("cap-{i}"));
            s
        })
        .collect();
    let body = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()}).to_string();
    rt.block_on(publish(
        &url,
        &[(
            "ceilometer".into(),
            "notifications.sample".into(),
            body.into_bytes(),
        )],
    ));
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(8),
    ));
    let sizes: Vec<usize> = got.iter().map(|r| meter_messages(&r.body).len()).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 8, "log:\n{}", agent.log_text());
    assert!(sizes.iter().all(|&n| (1..=3).contains(&n)), "{sizes:?}");
    assert!(agent.terminate().success());
}

#[test]
fn a_consumer_connection_loss_does_not_republish_what_was_confirmed_before_it() {
    let broker = Broker::new("lostacks");
    let prefetch: u16 = 500;
    let dir = config_dir(&settings(prefetch, 10));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    // The dead-letter queue refuses publishes for a while, so a poison delivery's batch cannot
    // be confirmed: every batch behind it is published and confirmed, but none can be acked
    // (acks go in tag order). That is what a connection loss usually catches: outputs
    // confirmed, acks not sent or not arrived.
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    broker.set_policy(
        "stall-dlq",
        "^ceilo\\.dead-letter$",
        json!({"max-length": 0, "overflow": "reject-publish"}),
    );
    broker.wait_policy("ceilo.dead-letter", "stall-dlq");
    let agent = Agent::start(dir.path(), &url);
    let poison = (
        "nova".to_owned(),
        "notifications.sample".to_owned(),
        b"{poison".to_vec(),
    );
    rt.block_on(publish(&url, &[poison]));
    std::thread::sleep(Duration::from_millis(300)); // the poison is a batch of its own
    let n = 400;
    rt.block_on(publish(&url, &polling_messages("lostacks", n)));
    let mut got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(n),
    ));
    assert_eq!(ids(&got).len(), n, "log:\n{}", agent.log_text());
    wait_until(
        "every delivery held unacked behind the poison",
        Duration::from_secs(15),
        || broker.counts("notifications.sample") == (0, n as u64 + 1),
    );
    wait_until(
        "the consumer's connection closed by the broker",
        Duration::from_secs(20),
        || broker.close_connections_named("notifications.sample") >= 1,
    );
    broker.clear_policy("stall-dlq");
    wait_until(
        "every redelivery acked on the new channel",
        Duration::from_secs(30),
        || {
            rt.block_on(ready_count(&url, "notifications.sample")) == 0
                && broker.counts("notifications.sample") == (0, 0)
        },
    );
    // Anything republished would be here now.
    got.extend(
        rt.block_on(collect(&url, "metering.sample", Duration::from_secs(2), |_| {
            false
        })),
    );
    let all = ids(&got);
    let duplicates = all.len() - all.iter().collect::<HashSet<_>>().len();
    assert!(
        duplicates <= usize::from(prefetch) / 100,
        "{duplicates} samples published twice (limit: 1 % of prefetch {prefetch}); log:\n{}",
        agent.log_text()
    );
    assert!(agent.log_text().contains("reconnecting"));
    assert!(agent.terminate().success());
}

#[test]
fn oversize_bodies_are_dead_lettered_and_peak_rss_stays_under_the_documented_ceiling() {
    const MIB: u64 = 1 << 20;
    let broker = Broker::new("oversize");
    let (max_body, inflight, workers) = (MIB, 16 * MIB, 2);
    let dir = config_dir(&format!(
        "{}notification:\n  prefetch: 100\n  batch_size: 10\n  batch_timeout_ms: 20\n  workers: {workers}\n  \
         max_body_bytes: {max_body}\n  inflight_bytes: {inflight}\n",
        TELEMETRY
    ));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let agent = Agent::start(dir.path(), &url);
    // Idle and consuming: what the ceiling is counted from.
    wait_until("the agent consuming", Duration::from_secs(20), || {
        broker
            .queue("notifications.info")
            .get("consumers")
            .and_then(|c| c.as_u64())
            == Some(1)
    });
    std::thread::sleep(Duration::from_millis(500));
    let idle = memory_of(agent.pid(), "VmHWM:");
    // 24 bodies of 8 MiB: 192 MiB that a prefetch of 100 would let in all at once.
    let body_size = 8 * MIB as usize;
    let n = 24;
    let bodies: Vec<_> = (0..n)
        .map(|i| {
            (
                "nova".to_owned(),
                "notifications.info".to_owned(),
                vec![b'a' + i as u8; body_size],
            )
        })
        .collect();
    rt.block_on(publish(&url, &bodies));
    drop(bodies);
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(120),
        messages(n),
    ));
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.info") == (0, 0)
    });
    // docs/runtime.md, "Memory ceiling": one listener carries the load, and every body is
    // oversize, so it overruns one slot at a time.
    let over = body_size as u64 - max_body;
    let ceiling = 3 * (inflight + over) + workers * 3 * max_body;
    let peak = memory_of(agent.pid(), "VmHWM:");
    eprintln!(
        "idle {} MiB, peak {} MiB, ceiling idle + {} MiB",
        idle / MIB,
        peak / MIB,
        ceiling / MIB
    );
    assert!(
        peak <= idle + ceiling,
        "peak RSS {} MiB over idle {} MiB + ceiling {} MiB",
        peak / MIB,
        idle / MIB,
        ceiling / MIB
    );
    assert_eq!(dead.len(), n, "log:\n{}", agent.log_text());
    let reason = dead[0].header("x-ceilo-reason").unwrap_or_default();
    assert!(
        reason.contains("too large") && reason.contains("max_body_bytes"),
        "{reason}"
    );
    assert!(
        dead.iter().all(|d| d.body.len() == body_size),
        "bodies kept whole"
    );
    assert!(agent.terminate().success());
}

/// A magnum metrics notification: magnum's meter has no `metadata:` spec and makes a sample
/// per metric, so every sample carries the whole payload, `pad` included.
fn magnum_body(id: &str, metrics: usize, pad: usize) -> Vec<u8> {
    let metrics: Vec<_> = (0..metrics)
        .map(|i| json!({"name": format!("m{i}"), "unit": "%", "value": i}))
        .collect();
    let inner = json!({
        "message_id": id, "publisher_id": "magnum.conductor-0", "priority": "INFO",
        "event_type": "magnum.bay.metrics.update", "timestamp": "2025-03-14 10:49:19.833031",
        "_unique_id": format!("u-{id}"),
        "payload": {"user_id": "u", "project_id": "p", "resource_id": format!("r-{id}"),
                    "metrics": metrics, "pad": "x".repeat(pad)}
    });
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

#[test]
fn a_notification_over_max_output_bytes_is_dead_lettered_counted_and_the_rest_flows_on() {
    let broker = Broker::new("output-limit");
    let dir = config_dir(
        &settings(100, 10).replace("notification:\n", "notification:\n  max_output_bytes: 1048576\n"),
    );
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let agent = Agent::start(dir.path(), &url);
    // 41 KB that would make 300 samples of 40 KB each: 12 MB of meter messages.
    let amplifying = magnum_body("big", 300, 30_000);
    assert!(amplifying.len() < 50_000);
    let mut input = vec![(
        "magnum".to_owned(),
        "notifications.info".to_owned(),
        amplifying.clone(),
    )];
    // The same kind of notification with a short list is within the limit.
    input.push((
        "magnum".into(),
        "notifications.info".into(),
        magnum_body("small", 3, 30_000),
    ));
    input.extend(polling_messages("after", 20));
    rt.block_on(publish(&url, &input));

    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(1),
    ));
    assert_eq!(dead.len(), 1, "log:\n{}", agent.log_text());
    assert_eq!(dead[0].body, amplifying, "the body is kept untouched");
    let reason = dead[0].header("x-ceilo-reason").unwrap_or_default();
    assert!(
        reason.starts_with("too much output: ") && reason.contains("notification.max_output_bytes (1048576)"),
        "{reason}"
    );
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(23),
    ));
    let published: Vec<serde_json::Value> = got.iter().flat_map(|r| meter_messages(&r.body)).collect();
    let magnum: Vec<&str> = published
        .iter()
        .filter_map(|m| m["resource_id"].as_str().filter(|r| r.starts_with("r-")))
        .collect();
    assert_eq!(magnum, ["r-small"; 3], "only the small notification's samples");
    assert_eq!(ids(&got).len(), 23, "what follows flows on");
    wait_until(
        "the notification is acked, not requeued",
        Duration::from_secs(10),
        || broker.counts("notifications.info") == (0, 0),
    );
    // Counted under its own reason.
    let metrics = format!(
        "http://{}/metrics",
        metrics_addr(&agent).expect("serving /metrics")
    );
    let scraped = ceilo::telemetry::scrape::get_blocking(&metrics, Duration::from_secs(5)).expect("scrape");
    let e = ceilo::telemetry::scrape::parse(&scraped.body).expect("exposition");
    let info = ("queue", "notifications.info");
    for name in [
        "ceilo_notifications_rejected_total",
        "ceilo_notifications_dead_lettered_total",
    ] {
        assert_eq!(e.sum(name, &[info, ("reason", "output")]), 1.0, "{name}");
        assert_eq!(e.sum(name, &[info]), 1.0, "{name}: no other reason");
    }
    assert!(agent.terminate().success());
}

#[test]
fn a_notifier_naming_another_broker_publishes_there_and_holds_deliveries_while_it_refuses() {
    let home = Broker::new("notifier-home");
    let other = Broker::new("notifier-other");
    other.deny_access();
    let (url, rt, prefetch) = (home.url(), runtime(), 20);
    // Were the samples sent to the agent's own broker, they would land here.
    rt.block_on(declare(
        &url,
        "elsewhere.sample",
        "ceilometer",
        "elsewhere.sample",
        false,
    ));
    let dir = config_dir(&settings(prefetch, 10));
    let publisher = format!(
        "notifier://guest:guest@127.0.0.1:5672/{}?topic=elsewhere&policy=drop&max_retry=3",
        other.vhost
    );
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("elsewhere", 100)));
    // The other broker refuses the agent: every delivery is kept, none acked.
    assert_held_while_down(&home, "notifications.sample", 100, prefetch, agent.pid());
    other.allow_access();
    wait_until(
        "the publisher declaring its queue there",
        Duration::from_secs(30),
        || other.queue("elsewhere.sample").get("name").is_some(),
    );
    let got = rt.block_on(collect(
        &other.url(),
        "elsewhere.sample",
        Duration::from_secs(60),
        distinct_ids(100),
    ));
    let ids = ids(&got);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        100,
        "log:\n{}",
        agent.log_text()
    );
    assert!(got.iter().all(|r| r.routing_key == "elsewhere.sample"));
    wait_until("every delivery acked", Duration::from_secs(20), || {
        home.counts("notifications.sample") == (0, 0)
    });
    assert_eq!(
        home.counts("elsewhere.sample"),
        (0, 0),
        "nothing on the agent's own broker"
    );
    assert!(agent.terminate().success());
}
