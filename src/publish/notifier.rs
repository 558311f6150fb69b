//! `notifier://`: samples (or events) as oslo 2.0 notifications, priority `SAMPLE`, exactly
//! as Ceilometer's `SampleNotifierPublisher`/`EventNotifierPublisher` send them.
//!
//! One flush is one notification per event_type and `publisher.batch_size` items (a flush
//! can hold more: a converted batch is never split between flushes): `event_type` is the metering topic
//! (`metering`), routing key `<topic>.sample` in the control exchange (`ceilometer`), where
//! `<topic>` is the URL's `topic=` or the configured metering/event topic (a URL with several
//! `topic=`s sends each notification to each, as oslo's notifier does), payload = the list of
//! signed meter messages. With `per_meter_topic`, each meter's samples are sent once more with
//! event_type `metering.<meter>` (Ceilometer's `publish_samples`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Items, Output, PublishError, Write};
use crate::event::message::write_event_message_list;
use crate::model::envelope::{encode_v2, Outgoing};
use crate::model::json_write::Quoted;
use crate::model::meter_message::write_meter_message_list;
use crate::model::signature::Signer;
use crate::model::{Payload, Priority};
use crate::transport::{OutMessage, Publisher};

/// Where notifications go and how they are signed: plain values from the `publisher:` settings.
#[derive(Debug, Clone, Copy)]
pub struct NotifierOptions<'a> {
    /// The configured metering (or event) topic: the notifications' `event_type`, and the
    /// routing key's `<topic>` when the URL names none.
    pub default_topic: &'a str,
    /// The exchange published to (`ceilometer`).
    pub control_exchange: &'a str,
    /// Items per notification at most.
    pub batch_size: usize,
    pub telemetry_secret: &'a str,
    /// Makes `publisher_id` `telemetry.publisher.<host>`.
    pub host: &'a str,
}

/// The topics a `notifier://` naming `topics` publishes to: those in the URL's order, or the
/// configured metering (or event) topic when it names none.
pub fn topics_or<'a>(topics: &'a [String], default_topic: &'a str) -> Vec<&'a str> {
    match topics {
        [] => vec![default_topic],
        named => named.iter().map(String::as_str).collect(),
    }
}

#[derive(Clone)]
pub struct NotifierOutput {
    name: String,
    carries: Payload,
    publisher: Arc<dyn Publisher>,
    exchange: String,
    /// `<topic>.sample` for each topic, in the URL's order: every notification goes to each.
    routing_keys: Vec<String>,
    /// `event_type` of the notifications: the metering (or event) topic.
    event_type: String,
    per_meter_topic: bool,
    /// Items per notification at most (`publisher.batch_size`).
    batch_size: usize,
    publisher_id: String,
    signer: Signer,
    /// Body bytes per item of the last notification: the next body is reserved at about its
    /// size instead of doubling its way up (a batch of 500 nova samples is ~600 KB).
    bytes_per_item: usize,
}

impl NotifierOutput {
    pub fn new(
        carries: Payload,
        topics: &[String],
        per_meter_topic: bool,
        options: &NotifierOptions<'_>,
        publisher: Arc<dyn Publisher>,
    ) -> NotifierOutput {
        let topics = topics_or(topics, options.default_topic);
        let query: Vec<String> = topics.iter().map(|t| format!("topic={t}")).collect();
        NotifierOutput {
            name: format!("notifier://?{}", query.join("&")),
            carries,
            publisher,
            exchange: options.control_exchange.to_owned(),
            routing_keys: topics.iter().map(|t| format!("{t}.sample")).collect(),
            event_type: options.default_topic.to_owned(),
            per_meter_topic: per_meter_topic && carries == Payload::Samples,
            batch_size: options.batch_size.max(1),
            publisher_id: format!("telemetry.publisher.{}", options.host),
            signer: Signer::new(options.telemetry_secret.as_bytes()),
            bytes_per_item: 0,
        }
    }

    fn notification(
        &mut self,
        event_type: &str,
        items: usize,
        write_items: impl FnOnce(&mut Quoted<'_>),
    ) -> OutMessage {
        // A little over the last notification's size per item: one allocation, mostly.
        let mut body = Vec::with_capacity(1024 + items * self.bytes_per_item * 9 / 8);
        let head = Outgoing::new(&self.publisher_id, event_type, Priority::Sample);
        encode_v2(&mut body, &head, write_items);
        self.bytes_per_item = body.len() / items.max(1);
        OutMessage {
            exchange: self.exchange.clone(),
            routing_key: self.routing_keys[0].clone(),
            body,
            headers: Vec::new(),
            properties: None,
        }
    }

    /// The notifications one flush turns into.
    pub fn encode(&mut self, flush: &Items) -> Vec<OutMessage> {
        let mut messages = Vec::new();
        let mut signer = std::mem::replace(&mut self.signer, Signer::new(b""));
        match self.carries {
            Payload::Samples if !flush.samples.is_empty() => {
                let event_type = self.event_type.clone();
                for chunk in flush.samples.chunks(self.batch_size) {
                    messages.push(self.notification(&event_type, chunk.len(), |out| {
                        write_meter_message_list(out, chunk, &mut signer)
                    }));
                }
                if self.per_meter_topic {
                    let mut by_meter: BTreeMap<&str, Vec<_>> = BTreeMap::new();
                    for s in &flush.samples {
                        by_meter.entry(&s.name).or_default().push(s);
                    }
                    for (meter, samples) in by_meter {
                        let event_type = format!("{}.{meter}", self.event_type);
                        for chunk in samples.chunks(self.batch_size) {
                            messages.push(self.notification(&event_type, chunk.len(), |out| {
                                write_meter_message_list(out, chunk.iter().copied(), &mut signer)
                            }));
                        }
                    }
                }
            }
            Payload::Events if !flush.events.is_empty() => {
                let event_type = self.event_type.clone();
                for chunk in flush.events.chunks(self.batch_size) {
                    messages.push(self.notification(&event_type, chunk.len(), |out| {
                        write_event_message_list(out, chunk, &mut signer)
                    }));
                }
            }
            _ => {}
        }
        self.signer = signer;
        if self.routing_keys.len() > 1 {
            messages = self.to_every_topic(messages);
        }
        messages
    }

    /// Each notification once per topic, one after the other, as oslo's notifier sends it.
    fn to_every_topic(&self, messages: Vec<OutMessage>) -> Vec<OutMessage> {
        let mut out = Vec::with_capacity(messages.len() * self.routing_keys.len());
        for message in messages {
            for key in &self.routing_keys {
                out.push(OutMessage {
                    routing_key: key.clone(),
                    ..message.clone()
                });
            }
        }
        out
    }
}

impl Output for NotifierOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn fork(&self) -> Option<Box<dyn Output>> {
        Some(Box::new(self.clone()))
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let messages: Arc<[OutMessage]> = self.encode(&flush).into();
        let publisher = self.publisher.clone();
        Ok(Arc::new(move || {
            let send = publisher.publish(messages.clone());
            Box::pin(async move { send.await.map_err(PublishError::from) })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meter_message::NULL;
    use crate::model::Sample;
    use crate::transport::memory::MemoryTransport;
    use simd_json::OwnedValue;

    fn sample(name: &str) -> Sample {
        Sample {
            name: Arc::from(name),
            sample_type: Arc::from("gauge"),
            unit: Arc::from("u"),
            volume: OwnedValue::from(1_u64),
            user_id: NULL,
            user_name: NULL,
            project_id: NULL,
            project_name: NULL,
            resource_id: OwnedValue::String("r".into()),
            timestamp: OwnedValue::String("2025-01-01T00:00:00+00:00".into()),
            resource_metadata: Arc::new(OwnedValue::Static(simd_json::StaticNode::Null)),
            source: Arc::from("openstack"),
            id: "00000000-0000-4000-8000-000000000001".to_owned(),
            monotonic_time: NULL,
        }
    }

    fn output(topics: &[&str], per_meter_topic: bool) -> NotifierOutput {
        let options = NotifierOptions {
            default_topic: "metering",
            control_exchange: "ceilometer",
            batch_size: 100,
            telemetry_secret: "s",
            host: "h",
        };
        NotifierOutput::new(
            Payload::Samples,
            &topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            per_meter_topic,
            &options,
            Arc::new(MemoryTransport::isolated()),
        )
    }

    /// (routing key, event_type, counter_names) of each notification.
    fn sent(topics: &[&str], per_meter_topic: bool) -> Vec<(String, String, Vec<String>)> {
        let items = Items {
            samples: ["mem", "cpu", "mem"].into_iter().map(sample).collect(),
            ..Default::default()
        };
        output(topics, per_meter_topic)
            .encode(&items)
            .into_iter()
            .map(|m| {
                assert_eq!(m.exchange, "ceilometer");
                let body: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
                let inner: serde_json::Value =
                    serde_json::from_str(body["oslo.message"].as_str().unwrap()).unwrap();
                let names = inner["payload"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["counter_name"].as_str().unwrap().to_owned())
                    .collect();
                let event_type = inner["event_type"].as_str().unwrap().to_owned();
                (m.routing_key, event_type, names)
            })
            .collect()
    }

    fn notification(key: &str, event_type: &str, names: &[&str]) -> (String, String, Vec<String>) {
        let names = names.iter().map(|n| n.to_string()).collect();
        (key.to_owned(), event_type.to_owned(), names)
    }

    /// Ceilometer's `publish_samples`: with `per_meter_topic`, each meter's samples once more,
    /// event_type `<metering topic>.<meter>`, meters in sorted order, on the same topic.
    #[test]
    fn per_meter_topic_sends_each_meters_samples_again_under_its_own_event_type() {
        let all = notification("alt.sample", "metering", &["mem", "cpu", "mem"]);
        assert_eq!(sent(&["alt"], false), std::slice::from_ref(&all));
        assert_eq!(
            sent(&["alt"], true),
            [
                all,
                notification("alt.sample", "metering.cpu", &["cpu"]),
                notification("alt.sample", "metering.mem", &["mem", "mem"]),
            ]
        );
        assert_eq!(
            sent(&[], false),
            [notification(
                "metering.sample",
                "metering",
                &["mem", "cpu", "mem"]
            )]
        );
    }

    /// oslo's notifier with several topics sends each notification to each topic in turn, the
    /// same message (one `message_id`) every time.
    #[test]
    fn several_topics_get_every_notification_in_turn() {
        assert_eq!(
            sent(&["a", "b"], true),
            [
                notification("a.sample", "metering", &["mem", "cpu", "mem"]),
                notification("b.sample", "metering", &["mem", "cpu", "mem"]),
                notification("a.sample", "metering.cpu", &["cpu"]),
                notification("b.sample", "metering.cpu", &["cpu"]),
                notification("a.sample", "metering.mem", &["mem", "mem"]),
                notification("b.sample", "metering.mem", &["mem", "mem"]),
            ]
        );
        let items = Items {
            samples: vec![sample("mem")],
            ..Default::default()
        };
        let [a, b] = &output(&["a", "b"], false).encode(&items)[..] else {
            panic!("one notification per topic");
        };
        assert_eq!(a.body, b.body);
    }
}
