//! Supervision, in-process: a panic in an actor's handler restarts that actor (not the
//! process) and the batch it held is redelivered; a panic while converting one body
//! dead-letters that body only. Also: the memory transport feeds a file publisher with no broker.

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use ceilo::agent::pipeline::InjectPanic;
use ceilo::agent::{load_converter, Agent, AgentConfig, Convert};
use ceilo::convert::{ConvertError, Converted};
use ceilo::model::envelope::Decoder;
use ceilo::transport::{memory::MemoryTransport, OutMessage, PublishTopology, Transport};
use runtime_support::*;

/// Run `script` against an agent started in-process on a real actix system.
fn with_agent<Fut>(config: AgentConfig, script: impl FnOnce(Arc<Agent>) -> Fut)
where
    Fut: std::future::Future<Output = ()>,
{
    with_in_process_agent(config, |agent| async move {
        let agent = Arc::new(agent);
        script(agent.clone()).await;
        if let Ok(agent) = Arc::try_unwrap(agent) {
            assert!(agent.shutdown(Duration::from_secs(10)).await, "clean shutdown");
        }
    });
}

async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

static INJECTED_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn a_panic_in_the_pipeline_restarts_it_and_its_batch_is_redelivered() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.to_string().contains("injected panic") {
            INJECTED_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        default_hook(info);
    }));
    let broker = Broker::new("panic");
    let dir = config_dir(&settings(10, 1));
    let url = broker.url();
    let config = AgentConfig::load(
        dir.path(),
        Some(&url),
        load_converter(
            &ceilo::config::definitions::DefinitionFiles::in_dir(dir.path()),
            &Default::default(),
        )
        .expect("converter"),
    )
    .expect("config");
    with_agent(config, |agent| async move {
        declare_metering(&url).await;
        eventually("consuming", Duration::from_secs(10), || agent.is_ready()).await;
        agent
            .pipeline()
            .send(InjectPanic)
            .await
            .expect("pipeline reachable");
        publish(&url, &polling_messages("panic", 1)).await;
        // The first attempt panics inside the pipeline; the supervisor restarts it and the
        // delivery, never acked, is requeued and converted again.
        let got = collect(&url, "metering.sample", Duration::from_secs(20), distinct_ids(1)).await;
        let ids: Vec<_> = got
            .iter()
            .flat_map(|r| meter_messages(&r.body))
            .map(|m| m["message_id"].clone())
            .collect();
        assert_eq!(ids, vec![serde_json::json!("panic-0")]);
        assert_eq!(
            INJECTED_PANICS.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the pipeline did panic"
        );
        // And the restarted pipeline keeps working.
        publish(&url, &polling_messages("after", 20)).await;
        let got = collect(&url, "metering.sample", Duration::from_secs(20), distinct_ids(20)).await;
        assert_eq!(
            got.iter().map(|r| meter_messages(&r.body).len()).sum::<usize>(),
            20
        );
        eventually("all acked", Duration::from_secs(10), || {
            broker.counts("notifications.sample") == (0, 0)
        })
        .await;
    });
}

/// The real converter, except that a body containing `PANIC` makes it panic.
struct Fragile(Arc<dyn Convert>);

impl Convert for Fragile {
    fn convert(&self, decoder: &mut Decoder, body: &[u8]) -> Result<Converted, ConvertError> {
        if body.windows(5).any(|w| w == b"PANIC") {
            panic!("fragile converter met a PANIC");
        }
        self.0.convert(decoder, body)
    }
}

#[test]
fn a_panic_while_converting_one_body_dead_letters_that_body_only() {
    let broker = Broker::new("convpanic");
    let dir = config_dir(&settings(50, 10));
    let url = broker.url();
    let converter = Arc::new(Fragile(
        load_converter(
            &ceilo::config::definitions::DefinitionFiles::in_dir(dir.path()),
            &Default::default(),
        )
        .expect("converter"),
    ));
    let config = AgentConfig::load(dir.path(), Some(&url), converter).expect("config");
    with_agent(config, |agent| async move {
        declare_metering(&url).await;
        declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true).await;
        eventually("consuming", Duration::from_secs(10), || agent.is_ready()).await;
        let mut input = polling_messages("ok", 5);
        input.push((
            "ceilometer".into(),
            "notifications.sample".into(),
            b"{\"PANIC\": 1}".to_vec(),
        ));
        input.extend(polling_messages("ok2", 5));
        publish(&url, &input).await;
        let dead = collect(&url, "ceilo.dead-letter", Duration::from_secs(20), messages(1)).await;
        let reason = dead[0].header("x-ceilo-reason");
        assert!(
            reason.is_some_and(|r| r.contains("converter panicked")),
            "{reason:?}"
        );
        let got = collect(&url, "metering.sample", Duration::from_secs(20), distinct_ids(10)).await;
        assert_eq!(
            got.iter().map(|r| meter_messages(&r.body).len()).sum::<usize>(),
            10
        );
    });
}

#[test]
fn the_memory_transport_feeds_a_file_publisher_with_no_broker() {
    let dir = config_dir(&settings(100, 10));
    let out = dir.path().join("out/samples.jsonl");
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        format!(
            "sources:\n  - name: all\n    meters: ['*']\n    sinks: [file]\nsinks:\n  - name: file\n    \
             publishers: ['file://{}?json']\n",
            out.display()
        ),
    )
    .expect("pipeline.yaml");
    let config = AgentConfig::load(
        dir.path(),
        Some("memory://"),
        load_converter(
            &ceilo::config::definitions::DefinitionFiles::in_dir(dir.path()),
            &Default::default(),
        )
        .expect("converter"),
    )
    .expect("config");
    with_agent(config, |agent| async move {
        eventually("consuming", Duration::from_secs(10), || agent.is_ready()).await;
        // What the polling side does in-process: notify on ceilometer/notifications.sample.
        let bus = MemoryTransport::global().publisher(PublishTopology::default());
        let messages: Vec<OutMessage> = polling_messages("mem", 25)
            .into_iter()
            .map(|(exchange, routing_key, body)| OutMessage {
                exchange,
                routing_key,
                body,
                headers: vec![],
                properties: None,
            })
            .collect();
        bus.publish(messages.into()).await.expect("memory publish");
        let lines = || {
            std::fs::read_to_string(&out)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        eventually("25 lines in the file", Duration::from_secs(10), || lines() >= 25).await;
        let text = std::fs::read_to_string(&out).expect("file");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("line")).expect("json line");
        assert_eq!(first["name"], "cpu");
        assert!(first["id"].as_str().is_some_and(|id| id.starts_with("mem-")));
    });
}
