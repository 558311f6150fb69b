//! On `memory://` the notifier publishes into an in-process exchange that nobody reads, so a
//! new user running `ceilo run` on the embedded default would see no sample anywhere. This
//! reader binds its own queue to what the notifier publishes (samples on
//! `<metering_topic>.*`, events on `<event_topic>.*` of the control exchange) and logs, every
//! [`PERIOD`], one line with the samples per meter and the events per event type published
//! since the last line. With a broker nothing is added: the messages are on the broker.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Settings;
use crate::transport::memory::MemoryTransport;
use crate::transport::{QueueSpec, Transport};

/// How often the summary is logged (when something was published).
pub const PERIOD: Duration = Duration::from_secs(10);

/// The queue the summary reads on the in-process bus.
const QUEUE: &str = "ceilo.memory-summary";

/// Start the reader on its own thread when `settings` use `memory://`; log where to look.
pub fn spawn_if_memory(settings: &Settings) {
    if !settings.transport_url.starts_with("memory:") {
        return;
    }
    let p = &settings.publisher;
    let spec = QueueSpec {
        queue: QUEUE.into(),
        bindings: vec![
            (p.control_exchange.clone(), format!("{}.*", p.metering_topic)),
            (p.control_exchange.clone(), format!("{}.*", p.event_topic)),
        ],
        durable: false,
        auto_delete: false,
        prefetch: 0,
        initial_limit: 0,
        single_active_consumer: false,
    };
    let metering = format!("{}.", p.metering_topic);
    tracing::info!(
        every_s = PERIOD.as_secs(),
        "memory://: what notifier:// publishes on the agent's own transport stays in this \
         process (a notifier:// naming a broker publishes there); a summary of it (samples per \
         meter, events per type) is logged here. Use an amqp:// transport_url, or a file:// \
         publisher in pipeline.yaml, to keep it"
    );
    let spawned = std::thread::Builder::new()
        .name("ceilo-summary".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(summarize(spec, metering));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "memory://: no summary thread");
    }
}

async fn summarize(spec: QueueSpec, metering_prefix: String) {
    let Ok(mut consumer) = MemoryTransport::global().consume(spec).await else {
        return;
    };
    let mut samples: BTreeMap<String, u64> = BTreeMap::new();
    let mut events: BTreeMap<String, u64> = BTreeMap::new();
    let mut tick = tokio::time::interval(PERIOD);
    tick.tick().await;
    loop {
        tokio::select! {
            delivery = consumer.next() => {
                let Some(Ok(d)) = delivery else { return };
                let (counts, field) = if d.routing_key.starts_with(&metering_prefix) {
                    (&mut samples, "counter_name")
                } else {
                    (&mut events, "event_type")
                };
                for name in payload_names(&d.body, field) {
                    *counts.entry(name).or_default() += 1;
                }
            }
            _ = tick.tick() => {
                if samples.is_empty() && events.is_empty() {
                    continue;
                }
                tracing::info!(
                    samples = samples.values().sum::<u64>(),
                    events = events.values().sum::<u64>(),
                    "published in the last {}s: {}",
                    PERIOD.as_secs(),
                    line(&samples, &events)
                );
                samples.clear();
                events.clear();
            }
        }
    }
}

/// `cpu 3, memory.usage 3 | compute.instance.create.end 1`.
fn line(samples: &BTreeMap<String, u64>, events: &BTreeMap<String, u64>) -> String {
    let list = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (samples.is_empty(), events.is_empty()) {
        (false, true) => format!("samples: {}", list(samples)),
        (true, false) => format!("events: {}", list(events)),
        _ => format!("samples: {}; events: {}", list(samples), list(events)),
    }
}

/// `field` of every entry of an oslo 2.0 notification's payload list (the notifier's bodies,
/// which this process wrote itself).
fn payload_names(body: &[u8], field: &str) -> Vec<String> {
    let inner = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|outer| outer.get("oslo.message")?.as_str().map(str::to_owned))
        .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok());
    let Some(payload) = inner.as_ref().and_then(|i| i.get("payload")?.as_array()) else {
        return Vec::new();
    };
    payload
        .iter()
        .filter_map(|entry| entry.get(field)?.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_notifiers_bodies() {
        let inner = serde_json::json!({"payload": [{"counter_name": "cpu"}, {"counter_name": "cpu"}, {"event_type": "x"}]});
        let body = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()}).to_string();
        assert_eq!(payload_names(body.as_bytes(), "counter_name"), ["cpu", "cpu"]);
        assert_eq!(payload_names(body.as_bytes(), "event_type"), ["x"]);
        assert!(payload_names(b"not json", "counter_name").is_empty());
        let samples = BTreeMap::from([("cpu".to_owned(), 2), ("memory".to_owned(), 1)]);
        assert_eq!(line(&samples, &BTreeMap::new()), "samples: cpu 2, memory 1");
    }
}
