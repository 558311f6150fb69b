//! Every hand-off on the hot path has a real bound (docs/runtime.md, "Backpressure"): stall
//! each stage in turn (the converter workers, the pipeline, each publisher) while more
//! notifications arrive than the stages can hold, and read /metrics as it goes: the stalled
//! stage's queue fills to its `ceilo_actor_mailbox_capacity` and no queue ever goes past its
//! own, so the stages before it wait; released, every notification comes out exactly once.
//! In-process (an `Agent` on a real actix system), on the real RabbitMQ. Last, the dead-letter
//! queue bounded by a RabbitMQ policy, through the agent binary.

mod runtime_support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ceilo::agent::pipeline::InjectStall;
use ceilo::agent::{load_converter, AgentConfig, Convert};
use ceilo::convert::{ConvertError, Converted};
use ceilo::model::envelope::Decoder;
use ceilo::telemetry::scrape::{self, Exposition};
use runtime_support::*;

const DEPTH: &str = "ceilo_actor_mailbox_depth";
const CAPACITY: &str = "ceilo_actor_mailbox_capacity";
/// Per stall: more than every stage before the stalled one holds (batches of 10, a
/// publisher's 8 flushes in flight of about 50 samples each), less than the prefetch.
const SENT: usize = 1500;
const PREFETCH: u16 = 2000;
/// How long a full queue is watched before the stall is released.
const HOLD: Duration = Duration::from_secs(2);

/// The real converter behind a gate: while closed, every conversion waits.
struct Gated {
    inner: Arc<dyn Convert>,
    closed: Mutex<bool>,
    opened: Condvar,
}

impl Gated {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().expect("gate") = closed;
        self.opened.notify_all();
    }
}

impl Convert for Gated {
    fn convert(&self, decoder: &mut Decoder, body: &[u8]) -> Result<Converted, ConvertError> {
        let mut closed = self.closed.lock().expect("gate");
        while *closed {
            closed = self.opened.wait(closed).expect("gate");
        }
        drop(closed);
        self.inner.convert(decoder, body)
    }
}

/// Every queue's (depth, capacity) in one scrape, by `actor/id`; panics on a depth over its
/// capacity.
fn within_bounds(e: &Exposition) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    for depth in e.matching(DEPTH, &[]) {
        let (actor, id) = (&depth.labels["actor"], &depth.labels["id"]);
        let capacity = e.sum(CAPACITY, &[("actor", actor), ("id", id)]);
        assert!(
            depth.value <= capacity,
            "{actor}/{id}: depth {} over its capacity {capacity}",
            depth.value
        );
        out.insert(format!("{actor}/{id}"), (depth.value, capacity));
    }
    out
}

async fn scrape_metrics(metrics: &str) -> Exposition {
    let response = scrape::get(metrics, Duration::from_secs(5))
        .await
        .expect("GET /metrics");
    scrape::parse(&response.body).expect("/metrics parses")
}

/// Scrapes until `stage`'s queue is full, and on for [`HOLD`], checking every queue's bound on
/// each scrape; returns the last scrape's queues.
async fn fill_and_hold(metrics: &str, stage: &str) -> BTreeMap<String, (f64, f64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let queues = within_bounds(&scrape_metrics(metrics).await);
        if queues
            .get(stage)
            .is_some_and(|(depth, capacity)| depth == capacity)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{stage} never filled: {queues:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until = tokio::time::Instant::now() + HOLD;
    loop {
        let queues = within_bounds(&scrape_metrics(metrics).await);
        let (depth, capacity) = queues[stage];
        assert_eq!(depth, capacity, "{stage} stays full while stalled: {queues:?}");
        if tokio::time::Instant::now() >= until {
            return queues;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every sample id of `prefix` once in `queue`, and nothing else.
async fn exactly_once(url: &str, queue: &str, prefix: &str) {
    let got = collect(url, queue, Duration::from_secs(90), distinct_ids(SENT)).await;
    let ids: Vec<String> = got
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), SENT, "{queue}: every {prefix} sample");
    assert_eq!(ids.len(), SENT, "{queue}: no duplicates");
    assert!(
        ids.iter().all(|id| id.starts_with(prefix)),
        "{queue}: only {prefix}"
    );
}

/// A policy making the broker refuse (nack) every publish to `queue`: its publisher stalls.
async fn refuse_publishes(broker: &Arc<Broker>, queue: &'static str) {
    let broker = broker.clone();
    tokio::task::spawn_blocking(move || {
        let pattern = format!("^{}$", queue.replace('.', "\\."));
        broker.set_policy(
            "stall",
            &pattern,
            serde_json::json!({"max-length": 0, "overflow": "reject-publish"}),
        );
        broker.wait_policy(queue, "stall");
    })
    .await
    .expect("policy set");
}

async fn accept_publishes(broker: &Arc<Broker>) {
    let broker = broker.clone();
    tokio::task::spawn_blocking(move || broker.clear_policy("stall"))
        .await
        .expect("policy cleared");
}

#[test]
fn each_stalled_stage_fills_its_bounded_queue_and_no_further_and_loses_nothing() {
    let broker = Arc::new(Broker::new("bounds"));
    let url = broker.url();
    let dir = config_dir(&settings(PREFETCH, 10).replacen(
        "notification:\n",
        "notification:\n  inflight_bytes: 0\n",
        1,
    ));
    // Two sinks, so two sample publishers (`alpha/notifier`, `beta/notifier`).
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "sources:\n  - name: all\n    meters: ['*']\n    sinks: [alpha, beta]\nsinks:\n  - name: alpha\n    \
         publishers: ['notifier://?topic=alpha']\n  - name: beta\n    publishers: ['notifier://?topic=beta']\n",
    )
    .expect("pipeline.yaml");
    let gate = Arc::new(Gated {
        inner: load_converter(
            &ceilo::config::definitions::DefinitionFiles::in_dir(dir.path()),
            &Default::default(),
        )
        .expect("converter"),
        closed: Mutex::new(false),
        opened: Condvar::new(),
    });
    let config = AgentConfig::load(dir.path(), Some(&url), gate.clone()).expect("config");
    // The recorder first: every stage builds its gauges as it starts.
    let telemetry = ceilo::telemetry::start("127.0.0.1:0".parse().expect("addr")).expect("telemetry");
    let metrics = format!("http://{}/metrics", telemetry.local_addr());

    with_in_process_agent(config, |agent| async move {
        for (queue, exchange, key, durable) in [
            ("alpha.sample", "ceilometer", "alpha.sample", false),
            ("beta.sample", "ceilometer", "beta.sample", false),
            ("ceilo.dead-letter", "ceilo.dead-letter", "#", true),
        ] {
            declare(&url, queue, exchange, key, durable).await;
        }
        while !agent.is_ready() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The converter workers: the pool's channel fills, the listener waits.
        gate.set_closed(true);
        publish(&url, &polling_messages("convert", SENT)).await;
        let queues = fill_and_hold(&metrics, "converter/pool").await;
        assert_eq!(
            queues["pipeline/pipeline"].0, 0.0,
            "nothing past the stall: {queues:?}"
        );
        gate.set_closed(false);
        exactly_once(&url, "alpha.sample", "convert").await;
        exactly_once(&url, "beta.sample", "convert").await;

        // The pipeline: its mailbox fills, then the pool's channel, as the workers wait.
        let (release, stalled) = tokio::sync::oneshot::channel();
        agent.pipeline().do_send(InjectStall { release: stalled });
        publish(&url, &polling_messages("pipeline", SENT)).await;
        let queues = fill_and_hold(&metrics, "pipeline/pipeline").await;
        assert_eq!(
            queues["converter/pool"].0, queues["converter/pool"].1,
            "{queues:?}"
        );
        let _ = release.send(());
        exactly_once(&url, "alpha.sample", "pipeline").await;
        exactly_once(&url, "beta.sample", "pipeline").await;

        // Each sample publisher: its mailbox fills, then the pipeline's and the pool's.
        for (queue, publisher, other) in [
            ("alpha.sample", "publisher/alpha/notifier", "beta.sample"),
            ("beta.sample", "publisher/beta/notifier", "alpha.sample"),
        ] {
            refuse_publishes(&broker, queue).await;
            let prefix = format!("stall-{queue}");
            publish(&url, &polling_messages(&prefix, SENT)).await;
            let queues = fill_and_hold(&metrics, publisher).await;
            for upstream in ["pipeline/pipeline", "converter/pool"] {
                assert_eq!(queues[upstream].0, queues[upstream].1, "{upstream}: {queues:?}");
            }
            accept_publishes(&broker).await;
            exactly_once(&url, queue, &prefix).await;
            exactly_once(&url, other, &prefix).await;
        }

        // The dead-letter publisher, with bodies that cannot be decoded.
        refuse_publishes(&broker, "ceilo.dead-letter").await;
        let poison: Vec<_> = (0..SENT)
            .map(|i| {
                let body = format!("{{\"poison\": {i}").into_bytes();
                ("ceilometer".to_owned(), "notifications.sample".to_owned(), body)
            })
            .collect();
        publish(&url, &poison).await;
        let queues = fill_and_hold(&metrics, "publisher/dead-letter").await;
        for upstream in ["pipeline/pipeline", "converter/pool"] {
            assert_eq!(queues[upstream].0, queues[upstream].1, "{upstream}: {queues:?}");
        }
        accept_publishes(&broker).await;
        let dead = collect(&url, "ceilo.dead-letter", Duration::from_secs(90), messages(SENT)).await;
        let bodies: HashSet<&[u8]> = dead.iter().map(|r| r.body.as_slice()).collect();
        assert_eq!((dead.len(), bodies.len()), (SENT, SENT), "every dead letter once");

        let queues = within_bounds(&scrape_metrics(&metrics).await);
        assert!(queues.values().all(|(depth, _)| *depth == 0.0), "{queues:?}");
        assert!(agent.shutdown(Duration::from_secs(20)).await, "clean shutdown");
    });
    telemetry.shutdown();
}

/// The dead-letter queue is bounded the way RabbitMQ bounds any queue, by a policy (README, "Bad
/// input"): with `overflow: drop-head` a flood of bad input keeps the latest dead letters, and
/// the notifications queued behind the flood come through. (`reject-publish` instead holds the
/// agent, which never drops a dead letter the broker refuses: the test above.)
#[test]
fn a_dead_letter_queue_bounded_by_a_policy_holds_its_bound_and_what_follows_flows() {
    const BAD: usize = 500;
    const KEPT: usize = 10;
    let broker = Broker::new("dead-letter-bound");
    let url = broker.url();
    let rt = runtime();
    broker.set_policy(
        "dead-letter-bound",
        "^ceilo\\.dead-letter$",
        serde_json::json!({"max-length": KEPT, "overflow": "drop-head"}),
    );
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    broker.wait_policy("ceilo.dead-letter", "dead-letter-bound");
    let mut input: Vec<_> = (0..BAD)
        .map(|i| {
            let body = format!("not JSON {i}").into_bytes();
            ("ceilometer".to_owned(), "notifications.sample".to_owned(), body)
        })
        .collect();
    input.extend(polling_messages("behind", 100));
    rt.block_on(publish(&url, &input));

    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start(dir.path(), &url);
    assert_eq!(
        samples_published(&rt, &url, 100),
        100,
        "the notifications behind the flood flow on"
    );
    wait_until("every bad body dead-lettered", Duration::from_secs(30), || {
        metric(&agent, "ceilo_notifications_dead_lettered_total") == BAD as f64
    });
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(KEPT),
    ));
    // Which ten: the last dead-lettered, and the converter workers hand batches on in parallel,
    // so not always the last ten sent.
    let bodies: HashSet<String> = dead
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    let sent: HashSet<String> = (0..BAD).map(|i| format!("not JSON {i}")).collect();
    assert!(
        bodies.len() == KEPT && bodies.is_subset(&sent),
        "the queue keeps {KEPT} of the bad bodies: {bodies:?}"
    );
    assert_eq!(
        rt.block_on(ready_count(&url, "ceilo.dead-letter")),
        0,
        "and no more"
    );
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "log:\n{log}");
}
