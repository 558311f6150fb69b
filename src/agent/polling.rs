//! The polling agent wired into the runtime: its sources poll into a [`PollingSender`], one
//! [`PublisherActor`] around [`PollingOutput`], so polled samples leave as `telemetry.polling`
//! notifications with the same loss policy as every publisher: never dropped, retried with
//! backoff until the broker confirms, and the pollers wait (backpressure) while
//! `max_in_flight` notifications are unconfirmed. Each batch is flushed alone (one poll's batch,
//! one notification, as Ceilometer sends them), encoded and signed on worker threads.
//!
//! What this module does not do: polling (`crate::polling`: sources, discovery, pollsters) and
//! the notification's body ([`crate::publish::telemetry_polling`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::ack::AckToken;
use super::mailbox::Mailbox;
use super::publisher::{BatchPolicy, Drain, PublishBatch, PublisherActor};
use super::AgentError;
use crate::config::Settings;
use crate::model::SampleBatch;
use crate::polling::{PollingAgent, PollingConfig, PollingOptions, SampleSink, StartError};
use crate::publish::telemetry_polling::{NotifyOptions, PollingOutput, SINK_LABEL};
use crate::publish::Items;
use crate::telemetry::handles::PublisherMetrics;
use crate::telemetry::Readiness;
use crate::transport::{self, Publisher, Transport};

/// Where the polling agent's batches go: the telemetry.polling publisher.
pub struct PollingSender {
    publisher: Mailbox<PublisherActor>,
    /// Every batch sent carries a share: once the others are all confirmed, everything sent
    /// so far is.
    sent: AckToken,
}

impl PollingSender {
    /// A supervised publisher of telemetry.polling notifications through `publisher` (made
    /// with `options.topology()`; its futures run on the process' main tokio runtime,
    /// `runtime`), encoding on `encoders` worker threads at once. With `readiness`, failing
    /// publishes turn /readyz not ready as any publisher's do.
    pub fn start(
        publisher: Arc<dyn Publisher>,
        options: NotifyOptions,
        runtime: tokio::runtime::Handle,
        encoders: usize,
        readiness: Option<Readiness>,
    ) -> Arc<PollingSender> {
        let policy = BatchPolicy {
            // Every batch is its own flush: one notification per batch.
            max_items: 1,
            max_wait: Duration::from_secs(1),
            max_in_flight: options.max_in_flight.max(1),
            encoders,
        };
        let output = Box::new(PollingOutput::new(publisher, &options));
        let metrics = PublisherMetrics::new(SINK_LABEL, "notifier");
        let actor = PublisherActor::new(output, policy, runtime, SINK_LABEL, Some(metrics));
        let actor = match readiness {
            Some(r) => actor.with_readiness(r),
            None => actor,
        };
        Arc::new(PollingSender {
            publisher: actor.start_supervised(),
            sent: AckToken::detached(),
        })
    }

    /// Wait until every batch sent so far is confirmed by the broker.
    pub async fn flush(&self) {
        while !self.sent.others_done() {
            let _ = self.publisher.addr().send(Drain).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl SampleSink for PollingSender {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        let batch = PublishBatch {
            items: Items::from(batch.samples),
            token: self.sent.share(),
        };
        Box::pin(async move { self.publisher.send(batch).await.is_ok() })
    }
}

/// Start the polling agent on `config`'s sources inside the current `actix::System`, its
/// batches going to a [`PollingSender`] on `transport` (`amqp://`, or `memory://`: straight to
/// the in-process notification agent's `notifications.sample` queue); `options.notify_senders`
/// encoders (0: one per core). Shutdown: [`PollingAgent::stop`], then [`PollingSender::flush`].
pub fn start(
    config: &PollingConfig,
    options: &PollingOptions,
    transport: &dyn Transport,
    notify: NotifyOptions,
    runtime: tokio::runtime::Handle,
    readiness: Option<Readiness>,
) -> Result<(PollingAgent, Arc<PollingSender>), StartError> {
    let encoders = match options.notify_senders {
        0 => BatchPolicy::encoders_per_core(),
        n => n,
    };
    let publisher = transport.publisher(notify.topology());
    let sender = PollingSender::start(publisher, notify, runtime, encoders, readiness.clone());
    let agent = crate::polling::start_polling(config, options, sender.clone(), readiness)?;
    Ok((agent, sender))
}

/// Start the polling agent of `settings` on `polling.yaml`'s sources: its samples leave as
/// `telemetry.polling` notifications (exchange `publisher.control_exchange`, routing key
/// `<topic>.sample` for each of `notification.topics`) on `transport_url`, signed with
/// `publisher.telemetry_secret`.
pub async fn start_polling_agent(
    polling: &PollingConfig,
    settings: &Settings,
    runtime: tokio::runtime::Handle,
    readiness: Readiness,
) -> Result<(PollingAgent, Arc<PollingSender>), AgentError> {
    let options = settings.polling_options();
    let transport = transport::from_url_with(&settings.transport_url, &settings.rabbit)?;
    let mut notify = NotifyOptions::new(&settings.publisher.telemetry_secret);
    notify.exchange = settings.publisher.control_exchange.clone();
    notify.routing_keys = crate::publish::notifier::topics_or(&settings.notification.topics, "notifications")
        .iter()
        .map(|topic| format!("{topic}.sample"))
        .collect();
    // Its notifications go to the consumed queues `<topic>.sample`: declared as the consumer does.
    notify.durable = settings.consume_durable();
    notify.auto_delete = settings.notification.auto_delete;
    let (agent, sender) = start(polling, &options, &*transport, notify, runtime, Some(readiness))?;
    crate::polling::start_exporter(&agent, &options).await?;
    tracing::info!(
        sources = agent.schedulers.len(),
        transport = transport.describe(),
        "polling"
    );
    Ok((agent, sender))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::polling::pollster::{null, MeterSpec, PollContext};
    use crate::transport::{BoxFuture, OutMessage, TransportError};

    /// Fails the first `fail` publishes, then confirms; records every body it was given.
    struct FlakyPublisher {
        fail: AtomicUsize,
        attempts: Mutex<Vec<Vec<u8>>>,
    }

    impl Publisher for FlakyPublisher {
        fn publish(&self, messages: Arc<[OutMessage]>) -> BoxFuture<'static, Result<(), TransportError>> {
            self.attempts.lock().unwrap().push(messages[0].body.clone());
            let failing = self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            Box::pin(async move {
                if failing {
                    Err(TransportError::Closed("test".into()))
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

    fn sender(publisher: Arc<dyn Publisher>, max_in_flight: usize) -> Arc<PollingSender> {
        let options = NotifyOptions {
            max_in_flight,
            ..NotifyOptions::new("k")
        };
        let runtime = tokio::runtime::Handle::current();
        PollingSender::start(publisher, options, runtime, 2, None)
    }

    #[actix::test]
    async fn an_unconfirmed_notification_is_republished_unchanged_until_confirmed_never_given_up() {
        tokio::time::pause();
        // More failures than the old sender's 10 attempts: the one loss policy never drops.
        let publisher = Arc::new(FlakyPublisher {
            fail: 15.into(),
            attempts: Default::default(),
        });
        let sender = sender(publisher.clone(), 256);
        assert!(sender.send(batch(3)).await);
        sender.flush().await;
        let attempts = publisher.attempts.lock().unwrap();
        assert_eq!(attempts.len(), 16);
        assert!(
            attempts.iter().all(|b| b == &attempts[0]),
            "the same body each time"
        );
    }

    #[actix::test]
    async fn each_batch_is_one_notification() {
        let publisher = Arc::new(FlakyPublisher {
            fail: 0.into(),
            attempts: Default::default(),
        });
        let sender = sender(publisher.clone(), 256);
        for n in [1, 2, 3] {
            assert!(sender.send(batch(n)).await);
        }
        sender.flush().await;
        let mut sizes: Vec<usize> = publisher
            .attempts
            .lock()
            .unwrap()
            .iter()
            .map(|body| body.windows(12).filter(|w| w == b"counter_name").count())
            .collect();
        sizes.sort();
        assert_eq!(sizes, [1, 2, 3]);
    }

    #[actix::test]
    async fn unconfirmed_notifications_hold_the_pollers() {
        // A publisher that never confirms: past `max_in_flight` flushes (and the one batch the
        // actor holds while it waits for a slot), a send waits.
        struct Stuck;
        impl Publisher for Stuck {
            fn publish(&self, _: Arc<[OutMessage]>) -> BoxFuture<'static, Result<(), TransportError>> {
                Box::pin(std::future::pending())
            }
        }
        let sender = sender(Arc::new(Stuck), 2);
        for _ in 0..3 {
            assert!(sender.send(batch(1)).await);
        }
        let fourth = tokio::time::timeout(Duration::from_millis(200), sender.send(batch(1))).await;
        assert!(fourth.is_err(), "a fourth batch must wait for a confirm");
    }
}
