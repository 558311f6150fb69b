//! `notifier://`: samples (or events) as oslo 2.0 notifications, priority `SAMPLE`, exactly
//! as Ceilometer's `SampleNotifierPublisher`/`EventNotifierPublisher` send them.
//!
//! One flush is one notification per event_type and `publisher.batch_size` items (a flush
//! can hold more: a converted batch is never split between flushes): `event_type` is the metering topic
//! (`metering`), routing key `<topic>.sample` in the control exchange (`ceilometer`), where
//! `<topic>` is the URL's `topic=` or the configured metering/event topic, payload = the list of
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

#[derive(Clone)]
pub struct NotifierOutput {
    name: String,
    carries: Payload,
    publisher: Arc<dyn Publisher>,
    exchange: String,
    routing_key: String,
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
        topic: Option<String>,
        per_meter_topic: bool,
        options: &NotifierOptions<'_>,
        publisher: Arc<dyn Publisher>,
    ) -> NotifierOutput {
        let topic = topic.unwrap_or_else(|| options.default_topic.to_owned());
        NotifierOutput {
            name: format!("notifier://?topic={topic}"),
            carries,
            publisher,
            exchange: options.control_exchange.to_owned(),
            routing_key: format!("{topic}.sample"),
            event_type: options.default_topic.to_owned(),
            per_meter_topic: per_meter_topic && carries == Payload::Samples,
            batch_size: options.batch_size.max(1),
            publisher_id: format!("telemetry.publisher.{}", options.host),
            signer: Signer::new(options.telemetry_secret.as_bytes()),
            bytes_per_item: 0,
        }
    }

    /// The routing key notifications go to (`metering.sample` by default).
    pub fn routing_key(&self) -> &str {
        &self.routing_key
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
            routing_key: self.routing_key.clone(),
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
        messages
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
