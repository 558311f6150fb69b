//! Quorum queues (oslo's `rabbit_quorum_queue` and its limits) on the real RabbitMQ, one vhost
//! per test: every queue ceilo declares is a durable quorum queue with the limits set (the
//! consumed ones, `notifier://`'s default queue, the dead-letter queue, the transform-partition
//! queues, the polling agent's queue), notifications go through with persistent publishes, the
//! byte budget is off with a warning instead of a channel error, and a queue the broker has as
//! the other type stops the start naming the queue and the option.

mod runtime_support;

use std::time::{Duration, Instant};

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use runtime_support::*;
use serde_json::{json, Value as Json};

const QUORUM: &str =
    "rabbit:\n  quorum_queue: true\n  quorum_delivery_limit: 5\n  quorum_max_memory_length: 1000\n";

/// Every meter to `notifier://`, and cpu through a stateful sink, so that the partition queues
/// exist.
const PIPELINE: &str = r#"sources:
  - name: all
    meters: ["*"]
    sinks: [all_sink]
  - name: cpu
    meters: [cpu]
    sinks: [cpu_sink]
sinks:
  - name: all_sink
    publishers: ['notifier://']
  - name: cpu_sink
    transformers:
      - name: rate_of_change
        parameters:
          target: {name: cpu_util, unit: "%", type: gauge, scale: "1.0"}
    publishers: ['notifier://?topic=cpu_util']
"#;

fn assert_quorum(broker: &Broker, queue: &str) {
    let q = broker.queue(queue);
    assert_eq!(q["type"], json!("quorum"), "{queue}: {q}");
    assert_eq!(q["durable"], json!(true), "{queue}: {q}");
    assert_eq!(q["arguments"]["x-queue-type"], json!("quorum"), "{queue}: {q}");
    assert_eq!(q["arguments"]["x-delivery-limit"], json!(5), "{queue}: {q}");
    assert_eq!(
        q["arguments"]["x-max-in-memory-length"],
        json!(1000),
        "{queue}: {q}"
    );
    assert!(
        q["arguments"].get("x-max-in-memory-bytes").is_none(),
        "0 is not set: {q}"
    );
}

#[test]
fn every_queue_is_a_quorum_queue_with_olsos_limits_and_notifications_go_through() {
    let broker = Broker::new("quorum");
    let url = broker.url();
    // A budget that binds at this prefetch (100 slots of 512 KiB do not fit in 32 MiB), so
    // that quorum queues have one to turn off.
    let settings = settings(100, 10).replacen(
        "notification:\n",
        "notification:\n  transform_partitions: 2\n  inflight_bytes: 33554432\n",
        1,
    );
    let dir = config_dir(&format!("{QUORUM}{settings}"));
    std::fs::write(dir.path().join("pipeline.yaml"), PIPELINE).expect("pipeline.yaml");
    let agent = Agent::start(dir.path(), &url);
    wait_until("every queue consumed", Duration::from_secs(60), || {
        [
            "notifications.sample",
            "notifications.info",
            "ceilo-transform.0",
            "ceilo-transform.1",
        ]
        .iter()
        .all(|q| broker.queue(q)["consumers"].as_u64() >= Some(1))
    });
    let rt = runtime();
    let mut messages = polling_messages("quorum", 30);
    messages.push((
        "ceilometer".into(),
        "notifications.sample".into(),
        b"not json".to_vec(),
    ));
    rt.block_on(publish_only(&url, &messages));
    wait_until(
        "notifier's default queue and the dead-letter queue",
        Duration::from_secs(30),
        || {
            broker.queue("metering.sample")["type"].is_string()
                && broker.queue("ceilo.dead-letter")["type"].is_string()
        },
    );
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(30),
    ));
    let samples: Vec<Json> = got.iter().flat_map(|r| meter_messages(&r.body)).collect();
    assert_eq!(samples.len(), 30, "log:\n{}", agent.log_text());
    assert!(
        got.iter().all(|r| r.properties.delivery_mode() == &Some(2)),
        "persistent publishes to durable queues"
    );
    let mut queues: Vec<String> = ["audit", "critical", "debug", "error", "info", "sample", "warn"]
        .iter()
        .map(|p| format!("notifications.{p}"))
        .collect();
    queues.extend(
        [
            "metering.sample",
            "ceilo.dead-letter",
            "ceilo-transform.0",
            "ceilo-transform.1",
        ]
        .map(String::from),
    );
    for q in &queues {
        assert_quorum(&broker, q);
    }
    assert_eq!(
        rt.block_on(ready_count(&url, "ceilo.dead-letter")),
        1,
        "the undecodable body"
    );
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(10),
        runtime_support::messages(1),
    ));
    assert!(
        dead.len() == 1 && dead[0].properties.delivery_mode() == &Some(2),
        "the dead letter is persistent too"
    );
    let log = agent.log_text();
    assert!(
        log.contains("the byte budget notification.inflight_bytes is off"),
        "the budget is turned off with a warning:\n{log}"
    );
    assert!(
        !log.contains("NOT_IMPLEMENTED") && !log.contains("listener failed"),
        "no channel error:\n{log}"
    );
    assert!(agent.terminate().success());
}

/// Declares `queue` on `url` as a durable quorum queue.
async fn declare_quorum(url: &str, queue: &str) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(queue.into(), options, args)
        .await
        .expect("quorum queue");
    let _ = conn.close(200, "bye".into()).await;
}

#[test]
fn a_queue_of_the_other_type_stops_the_start_naming_the_queue_and_the_option() {
    let rt = runtime();
    let started = Instant::now();
    // The services run classic queues; ceilo is set to quorum.
    let classic = Broker::new("quorum-vs-classic");
    rt.block_on(declare(
        &classic.url(),
        "notifications.info",
        "nova",
        "notifications.info",
        true,
    ));
    let dir = config_dir(&format!(
        "amqp_durable_queues: true\n{QUORUM}{}",
        settings(100, 10)
    ));
    let (code, out) = ceilo_to_end(&["run", "--transport-url", &classic.url()], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("queue notifications.info (ceilo: type=quorum, durable=true")
            && out.contains("inequivalent arg 'x-queue-type'")
            && out.contains("(set by rabbit.quorum_queue, oslo [oslo_messaging_rabbit] rabbit_quorum_queue)"),
        "{out}"
    );

    // The services run quorum queues; ceilo is not set to.
    let quorum = Broker::new("classic-vs-quorum");
    rt.block_on(declare_quorum(&quorum.url(), "notifications.info"));
    let dir = config_dir(&format!("amqp_durable_queues: true\n{}", settings(100, 10)));
    let (code, out) = ceilo_to_end(&["run", "--transport-url", &quorum.url()], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("queue notifications.info (ceilo: type=classic, durable=true")
            && out.contains("current is the value 'quorum'")
            && out.contains("rabbit_quorum_queue"),
        "{out}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A polling-only agent (no notification agent to declare the consumed queues) with quorum
/// queues: the queue its notifications go to, `notifications.sample`, is a quorum queue with
/// oslo's limits, and what it publishes there is persistent.
#[test]
fn the_polling_agents_queue_is_a_quorum_queue_too() {
    let broker = Broker::new("quorum-polling");
    let dir = config_dir(&format!(
        "{QUORUM}polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}"
    ));
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: load\n    interval: 1\n    meters: [cpu]\n    discovery: ['fleet:3']\n",
    )
    .expect("polling.yaml");
    let agent = Agent::start(dir.path(), &broker.url());
    wait_until("the polling agent's queue", Duration::from_secs(30), || {
        broker.queue("notifications.sample")["type"].is_string()
    });
    let rt = runtime();
    let got = rt.block_on(collect(
        &broker.url(),
        "notifications.sample",
        Duration::from_secs(30),
        runtime_support::messages(2),
    ));
    let log = agent.log_text();
    assert!(got.len() >= 2, "polled notifications arrived; log:\n{log}");
    assert!(
        got.iter().all(|r| r.properties.delivery_mode() == &Some(2)),
        "persistent publishes"
    );
    assert_quorum(&broker, "notifications.sample");
    assert!(agent.terminate().success(), "{log}");
}
