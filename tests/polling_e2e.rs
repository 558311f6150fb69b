//! The whole way on the real RabbitMQ: polling agent → `telemetry.polling` on
//! `<topic>.sample` → ceilo's notification agent (listener, TelemetryIpc conversion, pipeline,
//! `notifier://` publisher) → `<metering topic>.sample`. The samples that arrive are exactly
//! the polled ones (same ids, names, volumes, resources), none lost, none twice.
//!
//! Exchange, topics and queues are unique per run, so nothing else on the broker interferes.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ceilo::agent::polling::PollingSender;
use ceilo::agent::{self, Agent, AgentConfig};
use ceilo::config::PollingOptions;
use ceilo::model::envelope::Decoder;
use ceilo::model::{Sample, SampleBatch};
use ceilo::polling::config::PollingConfig;
use ceilo::polling::{Discovery, SampleSink, SourcePlan};
use ceilo::publish::telemetry_polling::NotifyOptions;
use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use simd_json::prelude::*;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

struct Tee {
    seen: Arc<Mutex<Vec<Sample>>>,
    next: Arc<PollingSender>,
}

impl SampleSink for Tee {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        self.seen.lock().unwrap().extend(batch.samples.iter().cloned());
        self.next.send(batch)
    }
}

#[actix::test]
async fn polled_samples_reach_the_metering_queue_through_the_notification_agent_exactly_once() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let exchange = format!("ceilo-e2e-{id}");
    let topic = format!("ceilo-e2e-{id}");
    let metering = format!("ceilo-e2e-{id}-metering");
    let dead = format!("ceilo-e2e-{id}-dead");
    let secret = "e2e-secret";

    // The notification agent's config directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ceilo.yaml"),
        format!(
            "transport_url: {URL}\nnotification:\n  topics: [{topic}]\n  control_exchanges: [{exchange}]\n  \
             priorities: [sample]\n  dead_letter_exchange: {dead}\n  dead_letter_queue: {dead}\n  workers: 1\n\
             publisher:\n  telemetry_secret: {secret}\n  control_exchange: {exchange}\n  metering_topic: {metering}\n  \
             batch_timeout_ms: 20\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "sources:\n  - name: all\n    meters: ['*']\n    sinks: [out]\nsinks:\n  - name: out\n    publishers: ['notifier://']\n",
    )
    .unwrap();
    let meters = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/meters.d");
    std::os::unix::fs::symlink(&meters, dir.path().join("meters.d")).unwrap();

    // The metering queue exists before anything is published to it.
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    let ch = conn.create_channel().await.unwrap();
    let metering_queue = format!("{metering}.sample");
    let converter = agent::load_converter(
        &ceilo::config::definitions::DefinitionFiles::in_dir(dir.path()),
        &Default::default(),
    )
    .unwrap();
    let config = AgentConfig::load(dir.path(), None, converter).unwrap();
    let agent = Agent::start(
        config,
        tokio::runtime::Handle::current(),
        ceilo::telemetry::Readiness::new(),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !agent.is_ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "notification agent not ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ch.queue_declare(
        metering_queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        metering_queue.as_str().into(),
        exchange.as_str().into(),
        metering_queue.as_str().into(),
        Default::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    // The polling agent: 25 simulated instances, 6 meters each, batches of 9.
    let transport = ceilo::transport::from_url(URL).unwrap();
    let notify = NotifyOptions {
        exchange: exchange.clone(),
        routing_keys: vec![format!("{topic}.sample")],
        ..NotifyOptions::new(secret)
    };
    let runtime = tokio::runtime::Handle::current();
    let sender = PollingSender::start(transport.publisher(notify.topology()), notify, runtime, 2, None);
    let seen: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let tee = Tee {
        seen: seen.clone(),
        next: sender.clone(),
    };
    let options = PollingOptions {
        batch_size: 9,
        pollsters_definitions_dirs: vec![],
        host: Some("e2e".into()),
        ..Default::default()
    };
    let polling = PollingConfig::parse(
        "sources:\n  - name: e2e\n    interval: 60\n    meters: [cpu, memory.usage, 'disk.device.*.bytes', 'network.*.bytes']\n    discovery: ['fleet:25']\n",
        Path::new("polling.yaml"),
    )
    .unwrap();
    let discovery = Discovery::new(&options);
    let pollsters = ceilo::polling::load_pollsters(&options, &discovery).unwrap();
    let plan = SourcePlan::new(polling.sources[0].clone(), &pollsters, &options).unwrap();
    plan.poll(&discovery, options.batch_size, &tee).await;
    sender.flush().await;
    let polled = seen.lock().unwrap().clone();
    assert_eq!(polled.len(), 25 * 6);

    // What the notification agent published on the metering queue.
    let mut decoder = Decoder::new();
    let mut got: Vec<(String, String, String, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < polled.len() && tokio::time::Instant::now() < deadline {
        let Some(msg) = ch
            .basic_get(metering_queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let body = msg.delivery.data.clone();
        let n = decoder.decode(&body).unwrap();
        assert_eq!(n.event_type(), Some(metering.as_str()));
        for s in n.payload().unwrap().as_array().unwrap().iter() {
            got.push((
                s.get_str("message_id").unwrap().to_owned(),
                s.get_str("counter_name").unwrap().to_owned(),
                s.get("counter_volume").unwrap().encode(),
                s.get_str("resource_id").unwrap().to_owned(),
            ));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let extra = ch
        .basic_get(metering_queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap();
    assert!(extra.is_none(), "more samples than were polled");

    let mut counts: HashMap<&str, usize> = HashMap::new();
    for g in &got {
        *counts.entry(g.0.as_str()).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "a sample arrived twice");
    let mut want: Vec<_> = polled
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.name.to_string(),
                s.volume.encode(),
                s.resource_id.as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    assert!(agent.shutdown(Duration::from_secs(10)).await);
    for q in [metering_queue, format!("{topic}.sample"), dead.clone()] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for e in [exchange, dead] {
        let _ = ch
            .exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
}
