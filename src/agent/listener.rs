//! The listener: one per queue (and per messaging URL). It consumes with a bounded prefetch,
//! cuts the deliveries into batches (by size and time), registers each batch with the channel's
//! [`AckTracker`] and hands it to the converter pool, whose workers pass it on to the pipeline.
//!
//! The consuming loop (the "pump") is a task on the main tokio runtime, where lapin's
//! connection lives, never on an arbiter's runtime. When a pump fails (broker gone, channel
//! closed, a setup that never answers) the task starts a new one after a backoff, with a fresh
//! consumer and tracker, so tags from before a recovery are never acked on the new channel. The
//! actor owns the task; only a pump that panics goes through the actor's supervisor, so one
//! loop, not a chain of actor restarts, is responsible for coming back after any failure.
//! A pump waits while the pool's bounded channel is full, taking no delivery meanwhile; what
//! the broker has sent and the pump has not taken is bounded by the prefetch. While it
//! consumes, a pump also reads its queue's backlog for `ceilo_amqp_queue_messages`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures_lite::FutureExt;
use tokio::sync::watch;

use super::ack::AckTracker;
use super::converter::{ConverterPool, DeliveryBatch};
use super::duplicates::{RecentIds, SharedRecentIds};
use super::outage::Outage;
use super::window::{SharedBudget, Window};
use crate::pipeline::SampleStage;
use crate::telemetry::handles::{ActorMetrics, ConverterMetrics, ListenerMetrics};
use crate::telemetry::metrics::ActorKind;
use crate::telemetry::Readiness;
use crate::transport::{Backlog, Consumer, Delivery, QueueSpec, Transport, TransportError};

/// What the agent can see of a listener from outside (shutdown, readiness).
#[derive(Default)]
pub struct ListenerStatus {
    /// A pump is running (consuming or draining).
    pub running: AtomicBool,
    /// Consuming right now.
    pub connected: AtomicBool,
    tracker: Mutex<Option<Arc<AckTracker>>>,
}

impl ListenerStatus {
    /// No batch of the current channel is waiting for its acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.tracker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(|t| t.is_idle())
    }
}

/// Everything a pump needs; cloned into each new pump.
#[derive(Clone)]
pub struct ListenerConfig {
    pub transport: Arc<dyn Transport>,
    pub spec: QueueSpec,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub converter: ConverterPool,
    pub runtime: tokio::runtime::Handle,
    pub shutdown: watch::Receiver<bool>,
    /// `/readyz`: set while consuming.
    pub readiness: Readiness,
    /// The pipeline stage this queue's samples take (partition queues: `Owned`).
    pub stage: SampleStage,
    /// The listeners' byte budgets, which this one has joined, when they bind (see
    /// [`super::window`]).
    pub budget: Option<Arc<SharedBudget>>,
    /// A transform-partition queue spread by coordination ([`super::partitions`]): consume
    /// only while this says the partition is this agent's. `None`: always.
    pub owned: Option<watch::Receiver<bool>>,
}

/// The metric handles of one listener (built once, after the recorder is installed).
#[derive(Clone)]
struct Metrics {
    listener: ListenerMetrics,
    converter: ConverterMetrics,
    actor: ActorMetrics,
}

pub struct Listener {
    config: ListenerConfig,
    metrics: Metrics,
    status: Arc<ListenerStatus>,
    /// The current run of failed attempts to consume: how long the next one waits, and what is
    /// logged. Kept across the supervisor's restarts, so a panicking pump backs off too.
    outage: Arc<Outage>,
    /// Kept across reconnections, as oslo keeps its listener's.
    recent_ids: SharedRecentIds,
}

#[derive(Message)]
#[rtype(result = "()")]
struct PumpFailed;

/// The capacity a listener reports (`ceilo_actor_mailbox_capacity`). Its actor receives no
/// batches, only its pump's failure notice, so its depth stays 0: what bounds a listener is the
/// prefetch and the converter pool's channel it waits on.
const MAILBOX: usize = 4;

/// How often a consuming listener reads its queue's backlog (`ceilo_amqp_queue_messages`).
/// One passive declare is one small round trip: every 5 s is finer than any scrape interval
/// and still light for the broker with hundreds of agents × 7 queues. Not a setting: nothing
/// depends on it but the gauge's freshness.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(5);

impl Listener {
    pub fn start_supervised(config: ListenerConfig) -> (Addr<Listener>, Arc<ListenerStatus>) {
        let status = Arc::new(ListenerStatus::default());
        let s = status.clone();
        let queue = config.spec.queue.clone();
        // Counted from now, not from its first consumer: the agent is not ready (/readyz,
        // systemd's READY=1) while a queue it will consume has not started consuming.
        config.readiness.set_consuming(&queue, false);
        let metrics = Metrics {
            listener: ListenerMetrics::new(&queue),
            converter: ConverterMetrics::new(&queue),
            actor: ActorMetrics::new(ActorKind::Listener, &queue, MAILBOX),
        };
        // Enough acked ids to cover every ack a dying channel can lose (see RecentIds::new).
        let recent_ids = RecentIds::shared(usize::from(config.spec.prefetch) + config.batch_size);
        let addr = actix::Supervisor::start(move |_| Listener {
            config,
            metrics,
            status: s,
            outage: Arc::default(),
            recent_ids,
        });
        (addr, status)
    }
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if *self.config.shutdown.borrow() {
            return;
        }
        let addr = ctx.address();
        let (config, status, outage) = (self.config.clone(), self.status.clone(), self.outage.clone());
        let recent_ids = self.recent_ids.clone();
        let metrics = self.metrics.clone();
        status.running.store(true, Ordering::SeqCst);
        self.config.runtime.spawn(async move {
            let queue = config.spec.queue.clone();
            // Reconnecting is this loop's job (a new pump after a backoff), not a round trip
            // through the actor; the actor is restarted only if a pump panics.
            let result = loop {
                if !wait_owned(&config, &status).await {
                    break Ok(());
                }
                let (pump_config, released) = stop_on_release(&config);
                let run = AssertUnwindSafe(pump(&pump_config, &metrics, &status, &outage, &recent_ids));
                let result = run.catch_unwind().await;
                if let Some(forward) = released {
                    forward.abort();
                }
                config.readiness.set_consuming(&queue, false);
                status.connected.store(false, Ordering::SeqCst);
                match result {
                    Ok(Ok(())) if config.owned.is_some() && !*config.shutdown.borrow() => {
                        tracing::info!(
                            queue,
                            "partition released: the hash ring gives it to another agent"
                        );
                    }
                    Ok(Ok(())) => break Ok(()),
                    Ok(Err(e)) => {
                        let failure = outage.failed(&e.to_string());
                        let failed_attempts = failure.failed;
                        if failure.warn {
                            tracing::warn!(queue, failed_attempts, error = %e, "listener cannot consume; reconnecting");
                        } else {
                            tracing::debug!(queue, failed_attempts, error = %e, "listener cannot consume; reconnecting");
                        }
                    }
                    Err(_) => break Err(()),
                }
            };
            status.running.store(false, Ordering::SeqCst);
            if result.is_err() {
                tracing::error!(queue, "listener pump panicked; restarting the listener");
                let _ = addr.send(PumpFailed).await;
            }
        });
    }
}

impl Supervised for Listener {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // Said at error level by the pump's task; counted here for the backoff.
        self.outage.failed("the listener's pump panicked");
        self.metrics.actor.restarted();
    }
}

impl Handler<PumpFailed> for Listener {
    type Result = ();

    fn handle(&mut self, _: PumpFailed, ctx: &mut Context<Self>) {
        ctx.stop(); // the supervisor restarts us, which starts a new pump loop
    }
}

/// Sets the queue's backlog gauge every [`BACKLOG_INTERVAL`], first right away, for as long as
/// it lives: the pump holds it while it has a consumer (it reads on the consumer's channel),
/// and dropping it stops the task. A stall anywhere downstream does not stop it.
struct BacklogReporter(tokio::task::JoinHandle<()>);

impl BacklogReporter {
    fn start(
        backlog: Arc<dyn Backlog>,
        metrics: ListenerMetrics,
        runtime: &tokio::runtime::Handle,
        queue: String,
    ) -> Self {
        BacklogReporter(runtime.spawn(async move {
            let mut every = tokio::time::interval(BACKLOG_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match backlog.ready().await {
                    Ok(ready) => metrics.queue_messages(ready),
                    // The channel is going or gone: the pump sees it too and starts over.
                    Err(e) => tracing::debug!(queue, error = %e, "cannot read the queue's backlog"),
                }
            }
        }))
    }
}

impl Drop for BacklogReporter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits until the partition is this agent's (at once for a queue without `owned`); `false` on
/// shutdown. While another agent owns it, the queue counts as consumed for readiness: it is.
async fn wait_owned(config: &ListenerConfig, status: &ListenerStatus) -> bool {
    let Some(owned) = &config.owned else {
        return true;
    };
    let (mut owned, mut shutdown) = (owned.clone(), config.shutdown.clone());
    if !*owned.borrow() {
        config.readiness.set_consuming(&config.spec.queue, true);
        status.connected.store(true, Ordering::SeqCst);
    }
    tokio::select! {
        // The assigner gone (it never goes before shutdown): consume, the broker's
        // single-active-consumer still gives the queue to one agent.
        _ = async { owned.wait_for(|mine| *mine).await.is_ok() } => !*config.shutdown.borrow(),
        _ = shutdown_requested(&mut shutdown) => false,
    }
}

/// For a partition under coordination: the pump's config whose `shutdown` also fires when the
/// partition goes to another agent, so that the pump stops as gracefully as at shutdown
/// (cancel, confirm and ack what it took); and the task that forwards it.
fn stop_on_release(config: &ListenerConfig) -> (ListenerConfig, Option<tokio::task::JoinHandle<()>>) {
    let Some(owned) = &config.owned else {
        return (config.clone(), None);
    };
    let (stop, stopped) = watch::channel(false);
    let forward = config.runtime.spawn(stop_at_release_or_shutdown(
        owned.clone(),
        config.shutdown.clone(),
        stop,
    ));
    let mut pump_config = config.clone();
    pump_config.shutdown = stopped;
    (pump_config, Some(forward))
}

/// Sends `stop` when the partition goes to another agent or at shutdown, whichever comes first.
/// The assigner goes only at shutdown, and may drop `owned` before this task sees the shutdown
/// signal: its going alone is no release, so the shutdown is still waited for.
async fn stop_at_release_or_shutdown(
    mut owned: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
) {
    tokio::select! {
        released = async { owned.wait_for(|mine| !*mine).await.is_ok() } => {
            if !released {
                shutdown_requested(&mut shutdown).await;
            }
        }
        _ = shutdown_requested(&mut shutdown) => {}
    }
    let _ = stop.send(true);
    // Keeps the sender until aborted: a dropped one would read as "no stop" to the pump.
    std::future::pending::<()>().await;
}

fn backoff(failures: u64) -> Duration {
    if failures == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(200u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(10))
    }
}

async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

// A `Next` lives for one turn of the loop and the delivery moves on into the batch: boxing it
// would cost an allocation per delivery to save moving a few hundred bytes (its properties).
#[allow(clippy::large_enum_variant)]
enum Next {
    Delivery(Delivery),
    Shutdown,
    Timeout,
}

/// The first delivery of a batch: as long as it takes, or until shutdown.
async fn next(
    consumer: &mut Box<dyn Consumer>,
    shutdown: &mut watch::Receiver<bool>,
    queue: &str,
) -> Result<Next, TransportError> {
    consumer.wake_after(1);
    tokio::select! {
        d = consumer.next() => delivered(d, queue),
        _ = shutdown_requested(shutdown) => Ok(Next::Shutdown),
    }
}

/// What the consumer's `next` gave, as the pump sees it (a consumer that ends has failed).
fn delivered(d: Option<Result<Delivery, TransportError>>, queue: &str) -> Result<Next, TransportError> {
    match d {
        Some(Ok(d)) => Ok(Next::Delivery(d)),
        Some(Err(e)) => Err(e),
        None => Err(TransportError::Closed(format!("consumer of {queue} ended"))),
    }
}

/// While a batch fills, the consumer wakes the pump once this many bytes have arrived, not at
/// every arrival (when the batch still needs at least as much, by its deliveries' mean size).
/// The broker writes a few deliveries at a time: without it, each write woke a parked thread.
const FILL_WAKE_BYTES: usize = 64 << 10;

/// At a batch's deadline, how long the pump waits for what arrived under the threshold: lowering
/// it signals what is already in the socket at once, so this is only spent when nothing is.
const ARRIVED_GRACE: Duration = Duration::from_millis(1);

/// The next delivery of a batch being filled, or `Timeout` at `deadline`. `wanted` is what the
/// batch still needs, in bytes: while it is at least [`FILL_WAKE_BYTES`] and the deadline is
/// ahead, the consumer is asked not to wake the pump for less. At the deadline the threshold
/// comes down and what arrived under it still joins the batch.
async fn next_lingering(
    consumer: &mut Box<dyn Consumer>,
    shutdown: &mut watch::Receiver<bool>,
    deadline: tokio::time::Instant,
    queue: &str,
    wanted: u64,
) -> Result<Next, TransportError> {
    let fill = wanted >= FILL_WAKE_BYTES as u64 && tokio::time::Instant::now() < deadline;
    consumer.wake_after(if fill { FILL_WAKE_BYTES } else { 1 });
    let waited = tokio::select! {
        biased;
        d = consumer.next() => Some(delivered(d, queue)),
        _ = shutdown_requested(shutdown) => Some(Ok(Next::Shutdown)),
        _ = tokio::time::sleep_until(deadline) => None,
    };
    if let Some(next) = waited {
        return next;
    }
    if consumer.wake_after(1) {
        if let Ok(d) = tokio::time::timeout(ARRIVED_GRACE, consumer.next()).await {
            return delivered(d, queue);
        }
    }
    Ok(Next::Timeout)
}

/// How long a reconnecting listener waits for the batches of its previous channel to settle.
const PREVIOUS_SETTLE_WAIT: Duration = Duration::from_secs(5);

/// Until the previous channel's batches are confirmed (or failed), at most
/// [`PREVIOUS_SETTLE_WAIT`]. The broker redelivers them on the new channel; once confirmed,
/// their ids are in `recent_ids` and the redeliveries are dropped instead of published again.
/// A stalled publisher must not keep the listener away for ever: it then goes on, and what is
/// confirmed later is published twice (at-least-once).
async fn previous_settled(previous: &AckTracker) {
    let settled = async {
        while previous.pending_batches() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let _ = tokio::time::timeout(PREVIOUS_SETTLE_WAIT, settled).await;
}

async fn pump(
    config: &ListenerConfig,
    metrics: &Metrics,
    status: &ListenerStatus,
    outage: &Outage,
    recent_ids: &SharedRecentIds,
) -> Result<(), TransportError> {
    let mut shutdown = config.shutdown.clone();
    let queue = config.spec.queue.clone();
    tokio::select! {
        _ = tokio::time::sleep(backoff(outage.failed_attempts())) => {}
        _ = shutdown_requested(&mut shutdown) => return Ok(()),
    }
    let previous = status.tracker.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(previous) = previous {
        tokio::select! {
            _ = previous_settled(&previous) => {}
            _ = shutdown_requested(&mut shutdown) => return Ok(()),
        }
    }
    // A new channel, a new window: its counts start at 0 with the channel's.
    let window = config.budget.clone().map(|b| Arc::new(Window::new(b)));
    let mut spec = config.spec.clone();
    spec.initial_limit = window.as_ref().map_or(0, |w| w.initial_limit());
    let mut consumer = tokio::select! {
        c = config.transport.consume(spec) => c?,
        _ = shutdown_requested(&mut shutdown) => return Ok(()),
    };
    status.connected.store(true, Ordering::SeqCst);
    config.readiness.set_consuming(&queue, true);
    let ended = outage.succeeded();
    tracing::info!(
        queue,
        transport = config.transport.describe(),
        failed_for = ended.as_ref().map(|e| tracing::field::debug(e.lasted)),
        failed_attempts = ended.as_ref().map(|e| e.failed),
        "consuming"
    );
    let tracker = AckTracker::start(
        consumer.acker(),
        &config.runtime,
        Arc::from(queue.as_str()),
        metrics.listener.clone(),
        recent_ids.clone(),
        window.clone(),
    );
    *status.tracker.lock().unwrap_or_else(|p| p.into_inner()) = Some(tracker.clone());
    let _backlog = BacklogReporter::start(
        consumer.backlog(),
        metrics.listener.clone(),
        &config.runtime,
        queue.clone(),
    );

    let mut stopping = false;
    let mut failed = None;
    while !stopping {
        let mut batch = Vec::with_capacity(config.batch_size);
        let mut bytes = 0u64;
        let take = |d: Delivery, batch: &mut Vec<Delivery>, bytes: &mut u64| {
            *bytes += d.body.len() as u64;
            if let Some(w) = &window {
                w.received(d.body.len());
            }
            batch.push(d);
        };
        match next(&mut consumer, &mut shutdown, &queue).await {
            Ok(Next::Delivery(d)) => take(d, &mut batch, &mut bytes),
            Ok(_) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        let deadline = tokio::time::Instant::now() + config.batch_timeout;
        while batch.len() < config.batch_size {
            // What can still come: the batch's room, or less when the window stops the broker
            // first (it would send nothing more until the pump takes what arrived).
            let room = (config.batch_size - batch.len()) as u64;
            let can_come = window.as_ref().map_or(room, |w| room.min(w.in_transit()));
            let wanted = can_come * (bytes / batch.len() as u64);
            match next_lingering(&mut consumer, &mut shutdown, deadline, &queue, wanted).await {
                Ok(Next::Delivery(d)) => take(d, &mut batch, &mut bytes),
                Ok(Next::Timeout) => break,
                Ok(Next::Shutdown) => {
                    stopping = true;
                    break;
                }
                Err(e) => {
                    failed = Some(e);
                    stopping = true;
                    break;
                }
            }
        }
        if failed.is_some() {
            // The channel is gone: these tags can never be acked and the broker redelivers the
            // deliveries to the next consumer; processing them here would only duplicate.
            metrics.listener.received(batch.len());
            metrics.listener.released(batch.len());
            break;
        }
        dispatch(config, metrics, &tracker, recent_ids, batch, bytes).await;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    // Graceful stop: no new deliveries; what is in flight is confirmed and acked, then the
    // channel closes and the broker requeues whatever it had sent that we never took.
    if let Err(e) = consumer.cancel().await {
        tracing::warn!(queue, error = %e, "cancel failed");
    }
    while !tracker.is_idle() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consumer.close().await;
    tracing::info!(queue, "listener stopped");
    Ok(())
}

/// Hands a batch to the converter pool, waiting while its channel is full.
async fn dispatch(
    config: &ListenerConfig,
    metrics: &Metrics,
    tracker: &Arc<AckTracker>,
    recent_ids: &SharedRecentIds,
    deliveries: Vec<Delivery>,
    bytes: u64,
) {
    let Some(last) = deliveries.last() else { return };
    let token = tracker.register(last.tag, deliveries.len(), bytes);
    metrics.listener.received(deliveries.len());
    let batch = DeliveryBatch {
        deliveries,
        token,
        metrics: metrics.converter.clone(),
        recent_ids: recent_ids.clone(),
        stage: config.stage,
    };
    if !config.converter.send(batch).await {
        tracing::error!("converter pool unavailable; the batch will be requeued");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stopped_within(stopped: &mut watch::Receiver<bool>, wait: Duration) -> bool {
        tokio::time::timeout(wait, stopped.wait_for(|stop| *stop))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_partition_stops_at_shutdown_even_when_the_assigner_went_first() {
        let (owned_tx, owned) = watch::channel(true);
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(stop_at_release_or_shutdown(owned, shutdown, stop));
        // The assigner ends (it does at shutdown) before this task sees the signal.
        drop(owned_tx);
        assert!(
            !stopped_within(&mut stopped, Duration::from_millis(100)).await,
            "no release yet"
        );
        shutdown_tx.send(true).unwrap();
        assert!(
            stopped_within(&mut stopped, Duration::from_secs(2)).await,
            "the shutdown stops the pump"
        );
        task.abort();
    }

    #[tokio::test]
    async fn a_released_partition_stops_its_pump() {
        let (owned_tx, owned) = watch::channel(true);
        let (_shutdown_tx, shutdown) = watch::channel(false);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(stop_at_release_or_shutdown(owned, shutdown, stop));
        assert!(!stopped_within(&mut stopped, Duration::from_millis(100)).await);
        owned_tx.send(false).unwrap();
        assert!(stopped_within(&mut stopped, Duration::from_secs(2)).await);
        task.abort();
    }
}
