//! `telemetry.polling` notifications: the one place their body is built. oslo 2.0 envelope,
//! priority `SAMPLE`, empty context, payload `{"samples": [signed meter messages]}`, as
//! Ceilometer's polling agent sends them (`polling/manager.py: PollingTask._send_notification`)
//! and its notification agent reads them. Two publishers send them: the polling agent's
//! ([`PollingOutput`], `publisher_id` `ceilometer.polling`, exchange `ceilometer`, routing key
//! `notifications.sample`) and the transform partitions' (`super::partition`).
//!
//! Encoding is [`crate::model::envelope::encode_v2`] and [`crate::model::meter_message`];
//! nothing here writes JSON of its own. Batching, retries and acking are the runtime's
//! publisher actor's, as for every `Output`.

use std::sync::Arc;

use super::{Items, Output, PublishError, Write};
use crate::meter::telemetry_ipc::EVENT_TYPE;
use crate::model::envelope::{encode_v2, Outgoing};
use crate::model::json_write::JsonSink;
use crate::model::meter_message::write_meter_message_list;
use crate::model::signature::Signer;
use crate::model::{Priority, Sample};
use crate::transport::{OutMessage, PublishTopology, Publisher};

/// The polling agent's `publisher_id`.
pub const PUBLISHER_ID: &str = "ceilometer.polling";
/// The `sink` label of the polling publisher's metrics and its id in logs and readiness (it
/// is no pipeline sink; the value is fixed so dashboards can tell polling's publishes apart).
pub const SINK_LABEL: &str = "telemetry.polling";

/// One telemetry.polling body for `samples`, appended to `out`.
pub fn encode<'s>(
    out: &mut Vec<u8>,
    publisher_id: &str,
    samples: impl IntoIterator<Item = &'s Sample>,
    signer: &mut Signer,
) {
    let head = Outgoing::new(publisher_id, EVENT_TYPE, Priority::Sample);
    encode_v2(out, &head, |out| {
        out.extend_from_slice(b"{\"samples\": ");
        write_meter_message_list(out, samples, signer);
        out.push(b'}');
    });
}

/// Where and how the polling agent's notifications are published.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// oslo's `control_exchange` for Ceilometer: `ceilometer`.
    pub exchange: String,
    /// `<topic>.sample` for each of `[oslo_messaging_notifications] topics`: oslo's notifier
    /// sends every notification to each, in order.
    pub routing_keys: Vec<String>,
    /// Declare and bind the queue named like the routing key before publishing, as oslo's
    /// rabbit driver does, so notifications wait for a notification agent not started yet.
    pub declare_default_queue: bool,
    /// oslo's `amqp_durable_queues` / `amqp_auto_delete` for that exchange and queue.
    pub durable: bool,
    pub auto_delete: bool,
    /// Unconfirmed notifications allowed at once (then the pollers wait).
    pub max_in_flight: usize,
    /// `[publisher] telemetry_secret`.
    pub secret: String,
}

impl NotifyOptions {
    pub fn new(secret: &str) -> Self {
        Self {
            exchange: "ceilometer".into(),
            routing_keys: vec!["notifications.sample".into()],
            declare_default_queue: true,
            durable: false,
            auto_delete: false,
            max_in_flight: 256,
            secret: secret.to_owned(),
        }
    }

    /// What the publisher declares on each (re)connection.
    pub fn topology(&self) -> PublishTopology {
        PublishTopology {
            queues: Vec::new(),
            default_queues: self.declare_default_queue,
            durable: self.durable,
            auto_delete: self.auto_delete,
        }
    }
}

/// The polling agent's output: a flush is one poll's [`crate::model::SampleBatch`] (its
/// publisher flushes every batch alone), so one notification.
#[derive(Clone)]
pub struct PollingOutput {
    publisher: Arc<dyn Publisher>,
    exchange: String,
    routing_keys: Vec<String>,
    signer: Signer,
    /// The last body's length: the next one is reserved at about its size.
    last_body_len: usize,
}

impl PollingOutput {
    pub fn new(publisher: Arc<dyn Publisher>, options: &NotifyOptions) -> Self {
        Self {
            publisher,
            exchange: options.exchange.clone(),
            routing_keys: options.routing_keys.clone(),
            signer: Signer::new(options.secret.as_bytes()),
            last_body_len: 4096,
        }
    }
}

impl Output for PollingOutput {
    fn name(&self) -> &str {
        SINK_LABEL
    }

    fn fork(&self) -> Option<Box<dyn Output>> {
        Some(Box::new(self.clone()))
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let mut body = Vec::with_capacity(self.last_body_len + self.last_body_len / 4);
        encode(&mut body, PUBLISHER_ID, &flush.samples, &mut self.signer);
        self.last_body_len = body.len();
        let messages: Arc<[OutMessage]> = self
            .routing_keys
            .iter()
            .map(|key| OutMessage {
                exchange: self.exchange.clone(),
                routing_key: key.clone(),
                body: body.clone(),
                headers: Vec::new(),
                properties: None,
            })
            .collect();
        let publisher = self.publisher.clone();
        Ok(Arc::new(move || {
            let send = publisher.publish(messages.clone());
            Box::pin(async move { send.await.map_err(PublishError::from) })
        }))
    }
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::*;
    use crate::model::envelope::Decoder;
    use crate::polling::pollster::{null, MeterSpec, PollContext};

    #[test]
    fn encodes_a_telemetry_polling_notification_ceilometer_accepts() {
        let ctx = PollContext::now("openstack".into());
        let meter = MeterSpec::new("cpu", "cumulative", "ns");
        let samples: Vec<_> = (0..3)
            .map(|i| {
                ctx.sample(
                    &meter,
                    (i as u64).into(),
                    "u".into(),
                    "p".into(),
                    format!("r{i}").into(),
                    null(),
                    null(),
                )
            })
            .collect();
        let mut body = Vec::new();
        encode(&mut body, PUBLISHER_ID, &samples, &mut Signer::new(b"s3cret"));
        let mut decoder = Decoder::new();
        let n = decoder.decode(&body).unwrap();
        assert_eq!(n.priority, Priority::Sample);
        assert_eq!(n.publisher_id(), Some(PUBLISHER_ID));
        assert_eq!(n.event_type(), Some(EVENT_TYPE));
        assert_eq!(n.ctxt().unwrap().as_object().unwrap().len(), 1); // client_timeout only
        let list = n.payload().unwrap().get("samples").unwrap().as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[2].get_str("resource_id"), Some("r2"));
        assert_eq!(list[2].get_str("message_id"), Some(samples[2].id.as_str()));
        assert_eq!(list[0].get_str("message_signature").map(str::len), Some(64));
    }
}
