//! The publisher actor: batches by size and time, flushes through an [`Output`], retries a
//! failed flush with backoff until it is durable, then confirms the flush's token shares.
//!
//! Encoding and signing do not run on the actor's thread: each flush is encoded by one of the
//! publisher's [`Encoders`] on a worker thread, several flushes at once when the output can
//! fork. Writes still start in flush order (each waits until the previous flush's write has
//! started), and acks go by ownership (`ack.rs`), so a flush encoded early changes nothing.
//!
//! Backpressure: at most `max_in_flight` flushes are being encoded or written at once; past
//! that the actor stops taking messages (`ctx.wait`) until one completes, its bounded mailbox
//! ([`Mailbox`]) fills, and the pipeline's send waits. Nothing is ever dropped here: a stalled
//! output simply holds its batches (and so their deliveries stay unacked, which stops
//! consumption at the prefetch bound). A panic in a handler stops the actor and the supervisor restarts it; the batches it
//! held are dropped unconfirmed, so their deliveries are requeued.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::ack::AckToken;
use super::encoders::{Encoded, Encoders};
use super::mailbox::{Mailbox, Queued};
use super::outage::Outage;
use crate::model::Payload;
use crate::publish::{Items, Output, PublishError};
use crate::telemetry::handles::{ActorMetrics, PublisherMetrics};
use crate::telemetry::metrics::ActorKind;
use crate::telemetry::Readiness;

/// What a publisher is given: part of one delivery batch's output, and a share of its token.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishBatch {
    pub items: Items,
    pub token: AckToken,
}

/// Flush now and from now on flush every batch as it comes (shutdown).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Drain;

/// [`Drain`], and stop ticking: a reload removed this publisher, so it ends once what it holds
/// is durable and nothing refers to it any more.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Retire;

/// Batches a publisher's queue holds: the bound of its [`Mailbox`] (`ceilo_actor_mailbox_capacity`),
/// which a sender waits on while it is full.
const MAILBOX: usize = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Items (samples + events + dead letters) per flush.
    pub max_items: usize,
    /// How long the first item of a partial batch may wait.
    pub max_wait: Duration,
    /// Flushes being encoded or written at once.
    pub max_in_flight: usize,
    /// Flushes encoded at once (on worker threads), if the output can fork.
    pub encoders: usize,
}

impl BatchPolicy {
    /// One encoder per core: what `encoders` is when nothing says otherwise.
    pub fn encoders_per_core() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

pub struct PublisherActor {
    encoders: Arc<Encoders>,
    /// The output's name, for logs.
    name: Arc<str>,
    /// Fires once the last flush's write has started: the next one starts after it.
    turn: Option<oneshot::Receiver<()>>,
    policy: BatchPolicy,
    runtime: tokio::runtime::Handle,
    pending: Items,
    tokens: Vec<AckToken>,
    since: Option<Instant>,
    in_flight: Arc<Semaphore>,
    draining: bool,
    /// The batch timer; cancelled by [`Retire`], so that nothing keeps the actor alive.
    ticker: Option<SpawnHandle>,
    retired: bool,
    /// Flushes launched and not yet durable (group commit: flush at once when this is 0).
    flights: usize,
    /// `None` for the dead-letter publisher (it has no sink).
    metrics: Option<PublisherMetrics>,
    actor: ActorMetrics,
    health: Option<Health>,
    /// Shared by the flushes retrying at once: one outage is logged once, not per flush.
    outage: Arc<Outage>,
    /// `<sink>/<scheme>`, `dead-letter`, ...: names it in logs and readiness.
    id: Arc<str>,
}

/// Tells readiness when this publisher's flushes start and stop failing (the stop is when its
/// [`Outage`] ends).
#[derive(Clone)]
struct Health {
    readiness: Readiness,
    id: Arc<str>,
}

impl Health {
    fn failed(&self, error: &PublishError) {
        self.readiness.publish_failed(&self.id, &error.to_string());
    }

    fn recovered(&self) {
        self.readiness.publish_recovered(&self.id);
    }
}

impl PublisherActor {
    /// `id` names this instance in metrics (`<sink>/<scheme>`); `metrics` are its publish
    /// counters (`None` for the dead-letter publisher).
    pub fn new(
        output: Box<dyn Output>,
        policy: BatchPolicy,
        runtime: tokio::runtime::Handle,
        id: &str,
        metrics: Option<PublisherMetrics>,
    ) -> Self {
        PublisherActor {
            metrics,
            actor: ActorMetrics::new(ActorKind::Publisher, id, MAILBOX),
            name: output.name().into(),
            encoders: Encoders::new(output, policy.encoders.min(policy.max_in_flight).max(1)),
            turn: None,
            in_flight: Arc::new(Semaphore::new(policy.max_in_flight.max(1))),
            policy,
            runtime,
            pending: Items::default(),
            tokens: Vec::new(),
            since: None,
            draining: false,
            ticker: None,
            retired: false,
            flights: 0,
            health: None,
            outage: Arc::default(),
            id: id.into(),
        }
    }

    /// Report runs of failed flushes to `readiness` (as publisher `id`), so that publishing
    /// that keeps failing makes the agent not ready.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.health = Some(Health {
            readiness,
            id: self.id.clone(),
        });
        self
    }

    /// Start under a supervisor on the current arbiter; batches go in through the mailbox.
    pub fn start_supervised(self) -> Mailbox<PublisherActor> {
        let metrics = self.actor.clone();
        Mailbox::new(actix::Supervisor::start(move |_| self), metrics)
    }

    fn add(&mut self, msg: PublishBatch, ctx: &mut Context<Self>) {
        let PublishBatch { items, token } = msg;
        if items.is_empty() {
            token.confirm();
            return;
        }
        self.pending.append(items);
        self.tokens.push(token);
        self.since.get_or_insert_with(Instant::now);
        // Group commit: with nothing being written, write now (low latency when idle); while a
        // flush is in flight, gather until it completes, the batch is full or max_wait passes.
        if self.draining || self.flights == 0 || self.pending.len() >= self.policy.max_items {
            self.flush(ctx);
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            return;
        }
        let flush = std::mem::take(&mut self.pending);
        let tokens = std::mem::take(&mut self.tokens);
        self.since = None;
        match self.in_flight.clone().try_acquire_owned() {
            Ok(permit) => self.launch(permit, flush, tokens, ctx.address()),
            Err(_) => {
                let sem = self.in_flight.clone();
                let addr = ctx.address();
                ctx.wait(async move { sem.acquire_owned().await }.into_actor(self).map(
                    move |permit, act, _| match permit {
                        Ok(permit) => act.launch(permit, flush, tokens, addr),
                        Err(_) => drop(tokens),
                    },
                ));
            }
        }
    }

    /// On the main runtime: encode on a worker thread, start the write once the previous
    /// flush's has started, retry it until durable, then confirm the tokens.
    fn launch(
        &mut self,
        permit: OwnedSemaphorePermit,
        flush: Items,
        tokens: Vec<AckToken>,
        addr: Addr<Self>,
    ) {
        self.flights += 1;
        let count = (flush.samples.len(), flush.events.len());
        let (started_tx, started_rx) = oneshot::channel();
        let previous = self.turn.replace(started_rx);
        let (encoders, runtime) = (self.encoders.clone(), self.runtime.clone());
        let name = self.name.clone();
        let metrics = self.metrics.clone();
        let health = self.health.clone();
        let outage = self.outage.clone();
        self.runtime.spawn(async move {
            let _flight = Flight(addr);
            let encoded = encoders.encode(flush, &runtime).await;
            if let Some(previous) = previous {
                // An error means that flush ended without a write (its encoding failed).
                let _ = previous.await;
            }
            let write = match encoded {
                Encoded::Ready(write) => write,
                failed => {
                    // Nothing was written: requeue the deliveries.
                    match failed {
                        Encoded::Failed(e) => {
                            tracing::error!(publisher = %name, error = %e, "cannot encode a flush")
                        }
                        _ => tracing::error!(publisher = %name, "publisher panicked encoding a flush"),
                    }
                    if let Some(m) = &metrics {
                        m.failed(Payload::Samples, count.0);
                        m.failed(Payload::Events, count.1);
                    }
                    drop((tokens, started_tx, permit));
                    return;
                }
            };
            let started = Instant::now();
            let mut attempt = write();
            let _ = started_tx.send(());
            let mut backoff = Duration::from_millis(50);
            loop {
                match attempt.await {
                    Ok(()) => {
                        if let Some(ended) = outage.succeeded() {
                            if let Some(h) = &health {
                                h.recovered();
                            }
                            tracing::info!(
                                publisher = %name,
                                failed_for = ?ended.lasted,
                                failed_attempts = ended.failed,
                                "publishing again"
                            );
                        }
                        break;
                    }
                    Err(e) => {
                        // Readiness first, then the outage: a success racing with this either
                        // sees the outage and clears the entry, or does not and leaves it to this
                        // flush, which retries until it succeeds (and then clears it). The other
                        // order could leave an entry no outage covers.
                        if let Some(h) = &health {
                            h.failed(&e);
                        }
                        if let Some(m) = &metrics {
                            m.failed(Payload::Samples, count.0);
                            m.failed(Payload::Events, count.1);
                        }
                        let failure = outage.failed(&e.cause());
                        let failed_attempts = failure.failed;
                        if failure.warn {
                            tracing::warn!(publisher = %name, error = %e, retry_in = ?backoff, failed_attempts, "flush failed");
                        } else {
                            tracing::debug!(publisher = %name, error = %e, retry_in = ?backoff, failed_attempts, "flush failed");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        attempt = write();
                    }
                }
            }
            if let Some(m) = &metrics {
                for (payload, n) in [(Payload::Samples, count.0), (Payload::Events, count.1)] {
                    if n > 0 {
                        m.confirmed(payload, n, started.elapsed(), None);
                    }
                }
            }
            for t in tokens {
                t.confirm();
            }
            drop(permit);
        });
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.since.is_some_and(|t| t.elapsed() >= self.policy.max_wait) {
            self.flush(ctx);
        }
    }

    /// Run `f`; a panic stops the actor so that its supervisor restarts it.
    fn guarded(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self, &mut Context<Self>)) {
        if catch_unwind(AssertUnwindSafe(|| f(self, ctx))).is_err() {
            tracing::error!(publisher = %self.name, "publisher panicked; restarting it");
            ctx.stop();
        }
    }
}

impl Actor for PublisherActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        let every = (self.policy.max_wait / 2).max(Duration::from_millis(5));
        self.ticker = Some(ctx.run_interval(every, |act, ctx| act.guarded(ctx, Self::tick)));
    }
}

impl Supervised for PublisherActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // Whatever was pending is dropped unconfirmed: those deliveries will be requeued.
        self.actor.restarted();
        // The timer died with the old context; `started` starts it again (unless retired).
        self.ticker = None;
        self.pending = Items::default();
        self.tokens.clear();
        self.since = None;
    }
}

impl Handler<Queued<PublishBatch>> for PublisherActor {
    type Result = ();

    fn handle(&mut self, msg: Queued<PublishBatch>, ctx: &mut Context<Self>) {
        let msg = msg.take();
        self.guarded(ctx, |act, ctx| act.add(msg, ctx));
    }
}

/// A flush became durable (or was abandoned): gather no longer, write what is pending.
#[derive(Message)]
#[rtype(result = "()")]
struct FlightDone;

/// Says [`FlightDone`] when dropped, however the flush's task ends (a write that panics
/// included): otherwise the actor would count that flight forever and gather every later batch
/// for `max_wait`.
struct Flight(Addr<PublisherActor>);

impl Drop for Flight {
    fn drop(&mut self) {
        self.0.do_send(FlightDone);
    }
}

impl Handler<FlightDone> for PublisherActor {
    type Result = ();

    fn handle(&mut self, _: FlightDone, ctx: &mut Context<Self>) {
        self.flights = self.flights.saturating_sub(1);
        if self.flights == 0 {
            self.guarded(ctx, Self::flush);
        }
    }
}

impl Handler<Drain> for PublisherActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.draining = true;
        self.guarded(ctx, Self::flush);
    }
}

impl Handler<Retire> for PublisherActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        // Draining flushes every batch as it comes, so no timer is needed for what is left.
        self.draining = true;
        self.retired = true;
        if let Some(ticker) = self.ticker.take() {
            ctx.cancel_future(ticker);
        }
        self.guarded(ctx, Self::flush);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::publish::{DeadLetter, Write};
    use crate::telemetry::metrics::RejectReason;

    /// Counts the items written; the first write waits for `open`; its drop says the actor ended.
    struct Gated {
        written: Arc<AtomicUsize>,
        open: Arc<tokio::sync::Semaphore>,
        dropped: Arc<AtomicBool>,
    }

    impl Output for Gated {
        fn name(&self) -> &str {
            "gated"
        }

        fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
            let (n, written, open) = (flush.len(), self.written.clone(), self.open.clone());
            Ok(Arc::new(move || {
                let (written, open) = (written.clone(), open.clone());
                Box::pin(async move {
                    let _gate = open.acquire().await.expect("gate");
                    written.fetch_add(n, Ordering::SeqCst);
                    Ok(())
                })
            }))
        }
    }

    impl Drop for Gated {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    fn batch() -> PublishBatch {
        let dead = vec![DeadLetter {
            body: b"{}".to_vec(),
            reason: "test".into(),
            kind: RejectReason::Envelope,
            exchange: "nova".into(),
            routing_key: "notifications.info".into(),
            properties: Default::default(),
        }];
        PublishBatch {
            items: Items::from(dead),
            token: AckToken::detached(),
        }
    }

    #[test]
    fn a_retired_publisher_writes_what_it_holds_then_ends() {
        System::new().block_on(async {
            let (written, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
            let open = Arc::new(tokio::sync::Semaphore::new(0));
            let output = Gated {
                written: written.clone(),
                open: open.clone(),
                dropped: dropped.clone(),
            };
            // A batch timer that never fires by itself: only Retire can flush the second batch.
            let policy = BatchPolicy {
                max_items: 1000,
                max_wait: Duration::from_secs(3600),
                max_in_flight: 1,
                encoders: 1,
            };
            let runtime = tokio::runtime::Handle::current();
            let publisher = PublisherActor::new(Box::new(output), policy, runtime, "unit/retire", None)
                .start_supervised();
            // The first batch is written at once (and held at the gate), the second gathers.
            publisher.send(batch()).await.expect("first");
            publisher.send(batch()).await.expect("second");
            publisher.addr().send(Retire).await.expect("retire");
            drop(publisher);
            open.add_permits(2);
            let ended = async {
                while !dropped.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), ended)
                .await
                .expect("the retired publisher ends once nothing refers to it");
            assert_eq!(written.load(Ordering::SeqCst), 2, "both batches written");
        });
    }

    /// Its first write panics; later ones count what they write.
    struct PanicsOnce {
        panicked: Arc<AtomicBool>,
        written: Arc<AtomicUsize>,
    }

    impl Output for PanicsOnce {
        fn name(&self) -> &str {
            "panics-once"
        }

        fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
            let (n, panicked, written) = (flush.len(), self.panicked.clone(), self.written.clone());
            Ok(Arc::new(move || {
                let (panicked, written) = (panicked.clone(), written.clone());
                Box::pin(async move {
                    if !panicked.swap(true, Ordering::SeqCst) {
                        panic!("injected panic in a write");
                    }
                    written.fetch_add(n, Ordering::SeqCst);
                    Ok(())
                })
            }))
        }
    }

    /// A flush whose write panicked is over (its deliveries requeued): the next batch is
    /// written at once, as after any flush, instead of gathering for `max_wait`.
    #[test]
    fn a_write_that_panics_ends_its_flight() {
        System::new().block_on(async {
            let (panicked, written) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
            let output = PanicsOnce {
                panicked: panicked.clone(),
                written: written.clone(),
            };
            let policy = BatchPolicy {
                max_items: 1000,
                max_wait: Duration::from_secs(3600),
                max_in_flight: 2,
                encoders: 1,
            };
            let runtime = tokio::runtime::Handle::current();
            let publisher =
                PublisherActor::new(Box::new(output), policy, runtime, "unit/panic", None).start_supervised();
            publisher.send(batch()).await.expect("first");
            while !panicked.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            publisher.send(batch()).await.expect("second");
            let written_once = async {
                while written.load(Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), written_once)
                .await
                .expect("the batch after the panicked flush is written without waiting max_wait");
        });
    }

    /// Records which threads encode and how many encodes overlap; an encode takes longer the
    /// earlier its flush, so late flushes finish encoding first. Its writes record their order.
    #[derive(Clone)]
    struct Recording {
        threads: Arc<std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>>,
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        started: Arc<std::sync::Mutex<Vec<usize>>>,
    }

    impl Output for Recording {
        fn name(&self) -> &str {
            "recording"
        }

        fn fork(&self) -> Option<Box<dyn Output>> {
            Some(Box::new(self.clone()))
        }

        fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.threads.lock().unwrap().insert(std::thread::current().id());
            let seq: usize = flush.dead[0].reason.parse().expect("a sequence number");
            std::thread::sleep(Duration::from_millis(5 * (FLUSHES - seq) as u64));
            self.running.fetch_sub(1, Ordering::SeqCst);
            let started = self.started.clone();
            Ok(Arc::new(move || {
                started.lock().unwrap().push(seq);
                Box::pin(async { Ok(()) })
            }))
        }
    }

    const FLUSHES: usize = 16;

    #[test]
    fn flushes_are_encoded_in_parallel_off_the_actor_thread_and_written_in_order() {
        System::new().block_on(async {
            let output = Recording {
                threads: Default::default(),
                running: Default::default(),
                most: Default::default(),
                started: Default::default(),
            };
            // One batch per flush, several flushes in flight, four encoders.
            let policy = BatchPolicy {
                max_items: 1,
                max_wait: Duration::from_secs(3600),
                max_in_flight: 8,
                encoders: 4,
            };
            let runtime = tokio::runtime::Handle::current();
            let publisher =
                PublisherActor::new(Box::new(output.clone()), policy, runtime, "unit/parallel", None)
                    .start_supervised();
            // `System::new().block_on` runs the actor on this thread.
            let actor_thread = std::thread::current().id();
            for seq in 0..FLUSHES {
                let mut b = batch();
                b.items.dead[0].reason = seq.to_string();
                publisher.send(b).await.expect("publisher alive");
            }
            let written = async {
                while output.started.lock().unwrap().len() < FLUSHES {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(10), written)
                .await
                .expect("every flush written");
            let threads = output.threads.lock().unwrap().clone();
            assert!(
                !threads.contains(&actor_thread),
                "no encode on the actor's thread"
            );
            assert!(
                output.most.load(Ordering::SeqCst) >= 2,
                "encodes overlapped, so they ran on several threads ({} threads seen)",
                threads.len()
            );
            let order = output.started.lock().unwrap().clone();
            assert_eq!(
                order,
                (0..FLUSHES).collect::<Vec<_>>(),
                "writes start in flush order"
            );
        });
    }
}
