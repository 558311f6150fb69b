//! The notify sender: each [`SampleBatch`] becomes one `telemetry.polling` notification —
//! oslo 2.0 envelope, `publisher_id` `ceilometer.polling`, priority `SAMPLE`, empty context,
//! payload `{"samples": [signed meter messages]}` — published to exchange `ceilometer` with
//! routing key `notifications.sample`, as Ceilometer's polling agent does
//! (`polling/manager.py: PollingTask._send_notification`). Encoding is
//! [`crate::model::envelope::encode_v2`] and [`crate::model::meter_message`]; nothing here
//! writes JSON of its own.
//!
//! Delivery: publisher confirms, pipelined. A batch's `send().await` returns once the body is
//! handed to the broker connection and an in-flight slot is held; its confirm is awaited in
//! the background (at most `max_in_flight` unconfirmed notifications, which bounds memory and
//! slows the pollers when the broker is slow). A nack or a lost connection republishes the
//! same body (at-least-once: a duplicate is possible after a connection loss, never a silent
//! loss); after `max_attempts` the batch is counted as failed and logged. [`Flush`] waits for
//! every outstanding confirm (graceful shutdown).
//!
//! The AMQP link is opened lazily by the first publish and reopened after a failure, on the
//! runtime of the actor's arbiter.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, Semaphore};

use super::metrics::NotifyMetrics;
use super::SampleBatch;
use crate::model::envelope::{encode_v2, Outgoing};
use crate::model::meter_message::write_meter_message_list;
use crate::model::signature::Signer;
use crate::model::Priority;

pub const PUBLISHER_ID: &str = "ceilometer.polling";
pub const EVENT_TYPE: &str = "telemetry.polling";

/// Where and how telemetry.polling notifications are published.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// `amqp://user:pass@host:port/vhost`.
    pub url: String,
    /// oslo's `control_exchange` for Ceilometer: `ceilometer`.
    pub exchange: String,
    /// `<topic>.<priority>`: `notifications.sample`.
    pub routing_key: String,
    /// oslo's `amqp_durable_queues` (false by default) for the exchange and default queue.
    pub durable: bool,
    /// Declare and bind the queue named like the routing key before publishing, as oslo's
    /// rabbit driver does, so notifications wait for a consumer that is not there yet.
    pub declare_default_queue: bool,
    /// Unconfirmed notifications allowed at once.
    pub max_in_flight: usize,
    /// Publishes of one batch before it is given up (counted and logged).
    pub max_attempts: u32,
    /// `[publisher] telemetry_secret`.
    pub secret: String,
}

impl NotifyOptions {
    pub fn new(url: &str, secret: &str) -> Self {
        Self {
            url: url.to_owned(),
            exchange: "ceilometer".into(),
            routing_key: "notifications.sample".into(),
            durable: false,
            declare_default_queue: true,
            max_in_flight: 256,
            max_attempts: 10,
            secret: secret.to_owned(),
        }
    }
}

/// One telemetry.polling body for `samples` (the notify sender's encoding, exposed for the
/// in-process path and tests).
pub fn encode_notification(out: &mut Vec<u8>, samples: &[crate::model::Sample], signer: &mut Signer) {
    let head = Outgoing::new(PUBLISHER_ID, EVENT_TYPE, Priority::Sample);
    encode_v2(out, &head, |out| {
        out.extend_from_slice(b"{\"samples\": ");
        write_meter_message_list(out, samples, signer);
        out.push(b'}');
    });
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{url}: {op}: {source}")]
    Amqp {
        url: String,
        op: &'static str,
        #[source]
        source: lapin::Error,
    },
    #[error("notification nacked by the broker")]
    Nacked,
}

/// The lazily (re)opened connection and confirm-mode channel.
struct Link {
    options: NotifyOptions,
    state: Mutex<Option<(Connection, Channel)>>,
}

impl Link {
    fn redacted_url(&self) -> String {
        // Never log the password.
        match self.options.url.split_once('@') {
            Some((scheme_user, host)) => {
                let scheme = scheme_user.split("://").next().unwrap_or("amqp");
                format!("{scheme}://***@{host}")
            }
            None => self.options.url.clone(),
        }
    }

    fn err(&self, op: &'static str) -> impl FnOnce(lapin::Error) -> NotifyError + '_ {
        move |source| NotifyError::Amqp {
            url: self.redacted_url(),
            op,
            source,
        }
    }

    async fn channel(&self) -> Result<Channel, NotifyError> {
        let mut state = self.state.lock().await;
        if let Some((conn, ch)) = state.as_ref() {
            if conn.status().connected() && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        *state = None;
        let o = &self.options;
        let conn = Connection::connect(
            &o.url,
            ConnectionProperties::default().with_connection_name("ceilo-polling".into()),
        )
        .await
        .map_err(self.err("connect"))?;
        let ch = conn.create_channel().await.map_err(self.err("channel.open"))?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(self.err("confirm.select"))?;
        let flags = |durable| ExchangeDeclareOptions {
            durable,
            ..Default::default()
        };
        ch.exchange_declare(
            o.exchange.as_str().into(),
            ExchangeKind::Topic,
            flags(o.durable),
            FieldTable::default(),
        )
        .await
        .map_err(self.err("exchange.declare"))?;
        if o.declare_default_queue {
            ch.queue_declare(
                o.routing_key.as_str().into(),
                QueueDeclareOptions {
                    durable: o.durable,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(self.err("queue.declare"))?;
            ch.queue_bind(
                o.routing_key.as_str().into(),
                o.exchange.as_str().into(),
                o.routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(self.err("queue.bind"))?;
        }
        *state = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn forget(&self) {
        *self.state.lock().await = None;
    }

    fn properties() -> BasicProperties {
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2)
            .with_priority(0)
    }

    /// Publish once; the returned future resolves with the broker's confirm.
    async fn publish(&self, body: &[u8]) -> Result<lapin::PublisherConfirm, NotifyError> {
        let ch = self.channel().await?;
        let o = &self.options;
        match ch
            .basic_publish(
                o.exchange.as_str().into(),
                o.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                body,
                Self::properties(),
            )
            .await
        {
            Ok(confirm) => Ok(confirm),
            Err(e) => {
                self.forget().await;
                Err(self.err("basic.publish")(e))
            }
        }
    }
}

/// The notify sender actor.
pub struct NotifySender {
    link: Arc<Link>,
    signer: Signer,
    in_flight: Arc<Semaphore>,
    metrics: NotifyMetrics,
    last_body_len: usize,
}

impl NotifySender {
    pub fn new(options: NotifyOptions) -> Self {
        Self {
            signer: Signer::new(options.secret.as_bytes()),
            in_flight: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            link: Arc::new(Link {
                options,
                state: Mutex::new(None),
            }),
            metrics: NotifyMetrics::default(),
            last_body_len: 4096,
        }
    }

    /// Start under a supervisor (restarts reopen the link).
    pub fn start_supervised(options: NotifyOptions) -> Addr<Self> {
        Supervisor::start(move |_| NotifySender::new(options))
    }
}

impl Actor for NotifySender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(64);
    }
}

impl Supervised for NotifySender {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        let link = self.link.clone();
        // The old channel may be what failed.
        actix::spawn(async move { link.forget().await });
    }
}

/// Publish until confirmed or out of attempts.
async fn deliver(
    link: Arc<Link>,
    body: Vec<u8>,
    samples: u64,
    first: Option<lapin::PublisherConfirm>,
    metrics: NotifyMetrics,
) {
    let max = link.options.max_attempts.max(1);
    let mut pending = first;
    let mut last_error = String::new();
    for attempt in 1..=max {
        let confirm = match pending.take() {
            Some(c) => Ok(c),
            None => link.publish(&body).await,
        };
        let outcome = match confirm {
            Ok(c) => match c.await {
                Ok(conf) if conf.is_ack() => Ok(()),
                Ok(_) => Err(NotifyError::Nacked),
                Err(e) => {
                    link.forget().await;
                    Err(link.err("confirm")(e))
                }
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                metrics.confirmed.increment(1);
                metrics.samples.increment(samples);
                return;
            }
            Err(e) => {
                last_error = e.to_string();
                tracing::warn!(attempt, error = %e, "telemetry.polling notification not confirmed; retrying");
                let backoff = Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)));
                tokio::time::sleep(backoff).await;
            }
        }
    }
    metrics.failed.increment(1);
    tracing::error!(samples, error = %last_error, "telemetry.polling notification given up: samples lost");
}

impl Handler<SampleBatch> for NotifySender {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, batch: SampleBatch, _ctx: &mut Context<Self>) -> Self::Result {
        let mut body = Vec::with_capacity(self.last_body_len + self.last_body_len / 4);
        encode_notification(&mut body, &batch.samples, &mut self.signer);
        self.last_body_len = body.len();
        let samples = batch.samples.len() as u64;
        let (link, in_flight, metrics) = (self.link.clone(), self.in_flight.clone(), self.metrics.clone());
        Box::pin(async move {
            // Waiting for a slot is the backpressure on the pollers.
            let Ok(permit) = in_flight.acquire_owned().await else {
                return;
            };
            let first = link.publish(&body).await;
            let first = match first {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "telemetry.polling publish failed; will retry");
                    None
                }
            };
            tokio::spawn(async move {
                deliver(link, body, samples, first, metrics).await;
                drop(permit);
            });
        })
    }
}

/// Wait until every notification sent so far is confirmed (or given up).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush;

impl Handler<Flush> for NotifySender {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Flush, _ctx: &mut Context<Self>) -> Self::Result {
        let in_flight = self.in_flight.clone();
        let all = self.link.options.max_in_flight.max(1) as u32;
        Box::pin(async move {
            let _ = in_flight.acquire_many(all).await;
        })
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
        encode_notification(&mut body, &samples, &mut Signer::new(b"s3cret"));
        let mut decoder = Decoder::new();
        let n = decoder.decode(&mut body).unwrap();
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
