//! The notify sender: each [`SampleBatch`] becomes one `telemetry.polling` notification —
//! oslo 2.0 envelope, `publisher_id` `ceilometer.polling`, priority `SAMPLE`, empty context,
//! payload `{"samples": [signed meter messages]}` — published to exchange `ceilometer` with
//! routing key `notifications.sample`, as Ceilometer's polling agent does
//! (`polling/manager.py: PollingTask._send_notification`). Encoding is
//! [`crate::model::envelope::encode_v2`] and [`crate::model::meter_message`]; nothing here
//! writes JSON of its own.
//!
//! Delivery goes through the runtime's [`crate::transport`] (`amqp://` with publisher
//! confirms, or `memory://` in-process), so the polling agent never opens a connection of its
//! own. Pipelined: a batch's `send().await` returns once an in-flight slot is held and the
//! publish is started; its confirm is awaited in the background (at most `max_in_flight`
//! unconfirmed notifications, which bounds memory and slows the pollers when the broker is
//! slow). An unconfirmed publish is retried with the same body (at-least-once: a duplicate is
//! possible after a connection loss, never a silent loss); after `max_attempts` the batch is
//! counted as failed and logged. [`Flush`] waits for every outstanding confirm.
//! Publish futures run on the process' main tokio runtime (the transport's requirement).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::Semaphore;

use super::SampleBatch;
use crate::agent::mailbox::{Mailbox, Queued};
use crate::model::envelope::{encode_v2, Outgoing};
use crate::model::json_write::JsonSink;
use crate::model::meter_message::write_meter_message_list;
use crate::model::signature::Signer;
use crate::model::Priority;
use crate::telemetry::handles::{ActorMetrics, Payload, PublisherMetrics};
use crate::telemetry::metrics::ActorKind;
use crate::transport::{OutMessage, PublishTopology, Publisher, Transport};

pub const PUBLISHER_ID: &str = "ceilometer.polling";
pub const EVENT_TYPE: &str = "telemetry.polling";
/// The `sink` label of the sender's publisher metrics (it is no pipeline sink; the value is
/// fixed so dashboards can tell polling's publishes apart).
pub const SINK_LABEL: &str = "telemetry.polling";
const MAILBOX: usize = 64;

/// Where and how telemetry.polling notifications are published.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// oslo's `control_exchange` for Ceilometer: `ceilometer`.
    pub exchange: String,
    /// `<topic>.<priority>`: `notifications.sample`.
    pub routing_key: String,
    /// Declare and bind the queue named like the routing key before publishing, as oslo's
    /// rabbit driver does, so notifications wait for a notification agent not started yet.
    pub declare_default_queue: bool,
    /// oslo's `amqp_durable_queues` / `amqp_auto_delete` for that exchange and queue.
    pub durable: bool,
    pub auto_delete: bool,
    /// Unconfirmed notifications allowed at once.
    pub max_in_flight: usize,
    /// Publishes of one notification before it is given up (counted and logged).
    pub max_attempts: u32,
    /// `[publisher] telemetry_secret`.
    pub secret: String,
}

impl NotifyOptions {
    pub fn new(secret: &str) -> Self {
        Self {
            exchange: "ceilometer".into(),
            routing_key: "notifications.sample".into(),
            declare_default_queue: true,
            durable: false,
            auto_delete: false,
            max_in_flight: 256,
            max_attempts: 10,
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

/// The notify sender actor.
pub struct NotifySender {
    publisher: Arc<dyn Publisher>,
    options: Arc<NotifyOptions>,
    runtime: tokio::runtime::Handle,
    signer: Signer,
    in_flight: Arc<Semaphore>,
    metrics: PublisherMetrics,
    actor_metrics: ActorMetrics,
    last_body_len: usize,
}

impl NotifySender {
    /// `runtime` is the process' main tokio runtime, where publishes run.
    pub fn new(
        publisher: Arc<dyn Publisher>,
        options: NotifyOptions,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            publisher,
            signer: Signer::new(options.secret.as_bytes()),
            in_flight: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            options: Arc::new(options),
            runtime,
            metrics: PublisherMetrics::new(SINK_LABEL, "notifier"),
            actor_metrics: ActorMetrics::new(ActorKind::Publisher, SINK_LABEL, MAILBOX),
            last_body_len: 4096,
        }
    }
}

impl NotifySender {
    /// A supervised sender publishing through `transport`, behind its metered mailbox.
    pub fn start_supervised(
        transport: &dyn Transport,
        options: NotifyOptions,
        runtime: tokio::runtime::Handle,
    ) -> Mailbox<Self> {
        let publisher = transport.publisher(options.topology());
        Self::mailbox(Supervisor::start(move |_| {
            NotifySender::new(publisher, options, runtime)
        }))
    }

    /// `addr`'s metered mailbox: every sender of the pool counts into the one
    /// `publisher`/`telemetry.polling` series.
    pub fn mailbox(addr: Addr<NotifySender>) -> Mailbox<NotifySender> {
        Mailbox::new(addr, ActorMetrics::new(ActorKind::Publisher, SINK_LABEL, MAILBOX))
    }
}

impl Actor for NotifySender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

/// Nothing to rebuild: the transport's publisher reconnects by itself, and the in-flight
/// publishes live on the main runtime, not in this actor's context.
impl Supervised for NotifySender {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.actor_metrics.restarted();
    }
}

/// Publish until confirmed or out of attempts.
async fn deliver(
    publisher: Arc<dyn Publisher>,
    message: Arc<[OutMessage]>,
    samples: usize,
    max_attempts: u32,
    metrics: PublisherMetrics,
) {
    let max = max_attempts.max(1);
    let mut last_error = String::new();
    for attempt in 1..=max {
        let started = std::time::Instant::now();
        match publisher.publish(message.clone()).await {
            Ok(()) => {
                metrics.confirmed(Payload::Samples, samples, started.elapsed(), None);
                return;
            }
            Err(e) => {
                metrics.failed(Payload::Samples, samples);
                last_error = e.to_string();
                tracing::warn!(attempt, error = %e, "telemetry.polling notification not confirmed; retrying");
                let backoff = Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)));
                tokio::time::sleep(backoff).await;
            }
        }
    }
    tracing::error!(samples, error = %last_error, "telemetry.polling notification given up: samples lost");
}

impl Handler<Queued<SampleBatch>> for NotifySender {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, batch: Queued<SampleBatch>, _ctx: &mut Context<Self>) -> Self::Result {
        let batch = batch.take();
        if batch.samples.is_empty() {
            return Box::pin(async {});
        }
        let mut body = Vec::with_capacity(self.last_body_len + self.last_body_len / 4);
        encode_notification(&mut body, &batch.samples, &mut self.signer);
        self.last_body_len = body.len();
        let message: Arc<[OutMessage]> = Arc::from([OutMessage {
            exchange: self.options.exchange.clone(),
            routing_key: self.options.routing_key.clone(),
            body,
            headers: Vec::new(),
            properties: None,
        }]);
        let samples = batch.samples.len();
        let (publisher, in_flight, metrics) = (
            self.publisher.clone(),
            self.in_flight.clone(),
            self.metrics.clone(),
        );
        let (runtime, attempts) = (self.runtime.clone(), self.options.max_attempts);
        Box::pin(async move {
            // Waiting for a slot is the backpressure on the pollers.
            let Ok(permit) = in_flight.acquire_owned().await else {
                return;
            };
            runtime.spawn(async move {
                deliver(publisher, message, samples, attempts, metrics).await;
                drop(permit);
            });
        })
    }
}

/// Several senders, each on its own arbiter, fed round-robin: encoding and signing a batch
/// costs far more than polling it, so it is spread over cores. Each sender keeps its own
/// signer and buffers; together they bound in-flight notifications to
/// `senders × max_in_flight`.
pub struct NotifyPool {
    senders: Vec<Mailbox<NotifySender>>,
    next: std::sync::atomic::AtomicUsize,
    _arbiters: Vec<Arbiter>,
}

impl NotifyPool {
    /// `senders` supervised senders (at least one) publishing through `transport`.
    pub fn start(
        transport: &dyn Transport,
        options: NotifyOptions,
        runtime: tokio::runtime::Handle,
        senders: usize,
    ) -> Self {
        let publisher = transport.publisher(options.topology());
        let mut arbiters = Vec::new();
        let senders = (0..senders.max(1))
            .map(|_| {
                let arbiter = Arbiter::new();
                let (p, o, r) = (publisher.clone(), options.clone(), runtime.clone());
                let addr =
                    Supervisor::start_in_arbiter(&arbiter.handle(), move |_| NotifySender::new(p, o, r));
                arbiters.push(arbiter);
                NotifySender::mailbox(addr)
            })
            .collect();
        Self {
            senders,
            next: Default::default(),
            _arbiters: arbiters,
        }
    }

    /// Wait until every notification handed to the pool so far is confirmed or given up.
    pub async fn flush(&self) {
        for s in &self.senders {
            let _ = s.addr().send(Flush).await;
        }
    }
}

impl super::SampleSink for NotifyPool {
    fn send(
        &self,
        batch: SampleBatch,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.senders.len();
        Box::pin(async move { self.senders[i].send(batch).await.is_ok() })
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
        let all = self.options.max_in_flight.max(1) as u32;
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

    /// Fails the first `fail` publishes, then confirms; records every body it was given.
    struct FlakyPublisher {
        fail: std::sync::atomic::AtomicUsize,
        attempts: std::sync::Mutex<Vec<Vec<u8>>>,
    }

    impl Publisher for FlakyPublisher {
        fn publish(
            &self,
            messages: Arc<[OutMessage]>,
        ) -> crate::transport::BoxFuture<'static, Result<(), crate::transport::TransportError>> {
            self.attempts.lock().unwrap().push(messages[0].body.clone());
            let failing = self
                .fail
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok();
            Box::pin(async move {
                if failing {
                    Err(crate::transport::TransportError::Closed("test".into()))
                } else {
                    Ok(())
                }
            })
        }
    }

    fn batch(n: usize) -> SampleBatch {
        let ctx = PollContext::now("openstack".into());
        let meter = MeterSpec::new("vcpus", "gauge", "vcpu");
        SampleBatch {
            source: "s".into(),
            samples: (0..n)
                .map(|i| {
                    ctx.sample(
                        &meter,
                        1u64.into(),
                        null(),
                        null(),
                        format!("r{i}").into(),
                        null(),
                        null(),
                    )
                })
                .collect(),
        }
    }

    #[actix::test]
    async fn an_unconfirmed_notification_is_republished_unchanged_until_confirmed() {
        tokio::time::pause();
        let publisher = Arc::new(FlakyPublisher {
            fail: 2.into(),
            attempts: Default::default(),
        });
        let sender = NotifySender::new(
            publisher.clone(),
            NotifyOptions::new("k"),
            tokio::runtime::Handle::current(),
        )
        .start();
        let sender = NotifySender::mailbox(sender);
        sender.send(batch(3)).await.unwrap();
        sender.addr().send(Flush).await.unwrap();
        let attempts = publisher.attempts.lock().unwrap();
        assert_eq!(attempts.len(), 3);
        assert!(
            attempts.iter().all(|b| b == &attempts[0]),
            "the same body each time"
        );
    }

    #[actix::test]
    async fn a_notification_is_given_up_after_max_attempts() {
        tokio::time::pause();
        let publisher = Arc::new(FlakyPublisher {
            fail: 100.into(),
            attempts: Default::default(),
        });
        let options = NotifyOptions {
            max_attempts: 4,
            ..NotifyOptions::new("k")
        };
        let sender = NotifySender::new(publisher.clone(), options, tokio::runtime::Handle::current()).start();
        let sender = NotifySender::mailbox(sender);
        sender.send(batch(1)).await.unwrap();
        sender.addr().send(Flush).await.unwrap();
        assert_eq!(publisher.attempts.lock().unwrap().len(), 4);
    }

    #[actix::test]
    async fn in_flight_notifications_are_bounded() {
        // A publisher that never confirms: the third send waits for a slot.
        struct Stuck;
        impl Publisher for Stuck {
            fn publish(
                &self,
                _: Arc<[OutMessage]>,
            ) -> crate::transport::BoxFuture<'static, Result<(), crate::transport::TransportError>>
            {
                Box::pin(std::future::pending())
            }
        }
        let options = NotifyOptions {
            max_in_flight: 2,
            ..NotifyOptions::new("k")
        };
        let sender = NotifySender::new(Arc::new(Stuck), options, tokio::runtime::Handle::current()).start();
        let sender = NotifySender::mailbox(sender);
        sender.send(batch(1)).await.unwrap();
        sender.send(batch(1)).await.unwrap();
        let third = tokio::time::timeout(std::time::Duration::from_millis(200), sender.send(batch(1))).await;
        assert!(third.is_err(), "a third notification must wait for a confirm");
    }
}
