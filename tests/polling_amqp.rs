//! The polling agent against the real RabbitMQ (127.0.0.1:5672, guest/guest): the
//! `telemetry.polling` notifications it publishes on `notifications.sample` carry exactly the
//! polled samples, none lost, none twice, in batches of at most `batch_size`.
//!
//! Each test uses its own exchange and queue names, so tests (and other agents on the broker)
//! never see each other's messages.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ceilo::agent::polling::PollingSender;
use ceilo::config::PollingOptions;
use ceilo::model::envelope::Decoder;
use ceilo::model::{Priority, Sample, SampleBatch};
use ceilo::polling::config::PollingConfig;
use ceilo::polling::{start_polling, Discovery, SampleSink, SourcePlan};
use ceilo::publish::telemetry_polling::NotifyOptions;
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use simd_json::prelude::*;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const SECRET: &str = "s3cret";

/// Records every polled sample, then forwards the batch to the real sink.
struct Tee {
    seen: Arc<Mutex<Vec<Sample>>>,
    batch_sizes: Arc<Mutex<Vec<usize>>>,
    next: Arc<PollingSender>,
}

impl SampleSink for Tee {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        self.seen.lock().unwrap().extend(batch.samples.iter().cloned());
        self.batch_sizes.lock().unwrap().push(batch.samples.len());
        self.next.send(batch)
    }
}

/// A fresh exchange + queue bound with `notifications.sample`.
async fn broker(tag: &str) -> (Connection, Channel, String, String) {
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let ch = conn.create_channel().await.unwrap();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let exchange = format!("ceilo-test-{tag}-{id}");
    let queue = format!("ceilo-test-{tag}-{id}.notifications.sample");
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "notifications.sample".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    (conn, ch, exchange, queue)
}

/// The runtime's telemetry.polling sender on the real broker through the amqp transport.
fn sender(exchange: &str) -> Arc<PollingSender> {
    let options = NotifyOptions {
        exchange: exchange.to_owned(),
        declare_default_queue: false,
        ..NotifyOptions::new(SECRET)
    };
    let transport = ceilo::transport::from_url(URL).unwrap();
    let publisher = transport.publisher(options.topology());
    PollingSender::start(publisher, options, tokio::runtime::Handle::current(), 2, None)
}

/// One decoded meter message: (message_id, counter_name, counter_volume as text, resource_id).
type Row = (String, String, String, String);

/// Drain the queue until `expected` samples arrived (or 10 s passed); returns the rows and the
/// per-notification sample counts.
async fn drain(ch: &Channel, queue: &str, expected: usize) -> (Vec<Row>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut decoder = Decoder::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows.len() < expected && tokio::time::Instant::now() < deadline {
        let Some(msg) = ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let props = &msg.delivery.properties;
        assert_eq!(
            props.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(*props.delivery_mode(), Some(2));
        let body = msg.delivery.data.clone();
        let n = decoder.decode(&body).expect("a valid oslo 2.0 envelope");
        assert_eq!(n.priority, Priority::Sample);
        assert_eq!(n.publisher_id(), Some("ceilometer.polling"));
        assert_eq!(n.event_type(), Some("telemetry.polling"));
        assert_eq!(n.ctxt().unwrap().as_object().unwrap().len(), 1, "empty context");
        let samples = n.payload().unwrap().get("samples").unwrap().as_array().unwrap();
        sizes.push(samples.len());
        for s in samples {
            assert_eq!(s.get_str("message_signature").map(str::len), Some(64));
            rows.push((
                s.get_str("message_id").unwrap().to_owned(),
                s.get_str("counter_name").unwrap().to_owned(),
                s.get("counter_volume").unwrap().encode(),
                s.get_str("resource_id").unwrap().to_owned(),
            ));
        }
    }
    // Nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(extra) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        panic!(
            "unexpected extra notification: {} bytes",
            extra.delivery.data.len()
        );
    }
    (rows, sizes)
}

fn rows_of(samples: &[Sample]) -> Vec<Row> {
    samples
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.name.to_string(),
                s.volume.encode(),
                s.resource_id.as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn assert_exactly_once(polled: &[Sample], received: &[Row]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in received {
        *counts.entry(r.0.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "samples received twice: {twice:?}");
    let mut want = rows_of(polled);
    let mut got = received.to_vec();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len(), "lost samples");
    assert_eq!(got, want);
}

const FLEET_SOURCE: &str = r#"
sources:
  - name: fleet_source
    interval: 1
    meters:
      - cpu
      - memory.usage
      - "disk.device.*.bytes"
      - "network.*.packets"
    discovery:
      - fleet:37
"#;

#[actix::test]
async fn a_poll_of_the_fleet_arrives_exactly_once_in_batches_of_batch_size() {
    let (_conn, ch, exchange, queue) = broker("poll").await;
    let sender = sender(&exchange);
    let seen = Arc::default();
    let sizes = Arc::default();
    let tee = Tee {
        seen: Arc::clone(&seen),
        batch_sizes: Arc::clone(&sizes),
        next: sender.clone(),
    };
    let options = PollingOptions {
        batch_size: 7,
        pollsters_definitions_dirs: vec![],
        host: Some("agent-test".into()),
        ..Default::default()
    };
    let config = PollingConfig::parse(FLEET_SOURCE, Path::new("polling.yaml")).unwrap();
    let discovery = Discovery::new(&options);
    let pollsters = ceilo::polling::load_pollsters(&options, &discovery).unwrap();
    let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, &options).unwrap();
    let report = plan.poll(&discovery, options.batch_size, &tee).await;
    sender.flush().await;

    // 37 instances × (cpu, memory.usage, 2 disk bytes, 2 network packets).
    let polled = seen.lock().unwrap().clone();
    assert_eq!(polled.len(), 37 * 6);
    assert_eq!(report.samples, polled.len() as u64);
    let (received, notification_sizes) = drain(&ch, &queue, polled.len()).await;
    assert_exactly_once(&polled, &received);
    assert!(
        notification_sizes.iter().all(|n| *n <= 7 && *n > 0),
        "{notification_sizes:?}"
    );
    assert_eq!(notification_sizes.len(), sizes.lock().unwrap().len());
    ch.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
}

#[actix::test]
async fn the_running_agent_publishes_every_poll_of_its_sources() {
    let (_conn, ch, exchange, queue) = broker("agent").await;
    let sender = sender(&exchange);
    let seen: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let tee = Arc::new(Tee {
        seen: seen.clone(),
        batch_sizes: Arc::default(),
        next: sender.clone(),
    });
    let options = PollingOptions {
        batch_size: 50,
        pollsters_definitions_dirs: vec![],
        host: Some("agent-test".into()),
        proc_root: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc"),
        sys_root: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sys"),
        ..Default::default()
    };
    let yaml = format!(
        "{FLEET_SOURCE}  - name: host_source\n    interval: 1\n    meters: ['hardware.cpu.load.*']\n"
    );
    let config = PollingConfig::parse(&yaml, Path::new("polling.yaml")).unwrap();
    let readiness = ceilo::telemetry::Readiness::new();
    let agent = start_polling(&config, &options, tee, Some(readiness.clone())).unwrap();
    assert_eq!(agent.schedulers.len(), 2);
    // Both sources report to /readyz from the start.
    let report = readiness.report();
    assert!(readiness.is_ready(), "{report:?}");
    // Offsets are < 1 s and the interval is 1 s: by 2.5 s each source has polled twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Let a poll that is running finish, then wait for its confirms.
    agent.stop().await;
    sender.flush().await;
    let polled = seen.lock().unwrap().clone();
    assert!(polled.iter().filter(|s| &*s.name == "cpu").count() >= 37 * 2);
    assert!(
        polled
            .iter()
            .filter(|s| &*s.name == "hardware.cpu.load.1min")
            .count()
            >= 2
    );
    let (received, _) = drain(&ch, &queue, polled.len()).await;
    assert_exactly_once(&polled, &received);
    ch.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
}
