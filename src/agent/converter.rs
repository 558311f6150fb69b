//! The converter pool: CPU-bound conversion of delivery batches on worker threads of its own.
//!
//! Listeners hand batches over through one bounded channel (crossbeam's, which several threads
//! can take from), held to `2 × notification.workers` batches by a [`Bound`]: a listener that
//! finds it full waits, and the gauge `ceilo_actor_mailbox_depth{actor="converter"}` is its
//! length. A worker hands each converted batch on to the pipeline's bounded mailbox, waiting
//! while that is full, so a stalled pipeline stops the workers and then the listeners.
//! A worker is supervised: a panic outside a conversion (those are caught per body) drops the
//! batch it held, whose deliveries are then requeued, and the worker goes on with fresh state.
//! Each worker owns its [`Decoder`], which copies the body into its own buffer (simd-json parses
//! in place), so the untouched original can go to the dead-letter queue.
//! A delivery whose conversion fails or panics becomes a dead letter with the reason; the rest of
//! the batch is unaffected and the worker thread survives. A body over `max_body_bytes` is
//! dead-lettered unread: never copied, never parsed, so a worker's buffers stay within that size;
//! a body kombu compressed is decompressed up to that size, and dead-lettered if it is larger.
//! A dead letter takes its delivery's body, it does not copy it.
//! The converter is read once per batch from a [`Current`] that a reload replaces
//! ([`super::reload`]): a batch is converted whole by one version of the definitions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use actix::prelude::*;

use super::ack::AckToken;
use super::duplicates::{self, IdKey, SharedRecentIds};
use super::mailbox::{Bound, Queued};
use super::reload::Current;
use crate::convert::{ConvertError, Converted, Converter};
use crate::model::envelope::Decoder;
use crate::model::kombu::{self, DecompressError};
use crate::pipeline::SampleStage;
use crate::publish::{DeadLetter, Items};
use crate::telemetry::handles::{ActorMetrics, ConversionOutcome, ConverterMetrics};
use crate::telemetry::metrics::{ActorKind, RejectReason};
use crate::transport::Delivery;

/// One AMQP body in, samples and events out: what the agent needs from the conversion core.
/// Implemented by [`Converter`]; tests plug in their own.
pub trait Convert: Send + Sync + 'static {
    fn convert(&self, decoder: &mut Decoder, body: &[u8]) -> Result<Converted, ConvertError>;
}

impl Convert for Converter {
    fn convert(&self, decoder: &mut Decoder, body: &[u8]) -> Result<Converted, ConvertError> {
        Converter::convert(self, decoder, body)
    }
}

/// A batch of deliveries from one queue, with its acknowledgement token.
pub struct DeliveryBatch {
    pub deliveries: Vec<Delivery>,
    pub token: AckToken,
    /// The handles of the queue the batch came from.
    pub metrics: ConverterMetrics,
    /// The listener's recent `_unique_id`s.
    pub recent_ids: SharedRecentIds,
    /// Which sinks run on its samples (from the listener's queue's role).
    pub stage: SampleStage,
}

/// What a delivery batch turned into.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConvertedBatch {
    pub items: Items,
    /// Samples dropped for their volume (null or not `float()`-convertible).
    pub dropped: usize,
    pub token: AckToken,
    /// Which sinks run on these samples (the delivery batch's).
    pub stage: SampleStage,
}

/// The pool's input: where listeners hand delivery batches over.
#[derive(Clone)]
pub struct ConverterPool {
    jobs: crossbeam_channel::Sender<Queued<DeliveryBatch>>,
    bound: Bound,
}

impl ConverterPool {
    /// Start `threads` workers behind a channel of `bound` batches. Each converts with what
    /// `converter` holds when it takes a batch (bodies over `max_body` bytes are dead-lettered
    /// unread) and hands the result to `downstream`, which may block: the worker waits.
    pub fn start<F>(
        threads: usize,
        bound: usize,
        max_body: usize,
        converter: Arc<Current<dyn Convert>>,
        downstream: F,
    ) -> std::io::Result<ConverterPool>
    where
        F: Fn(ConvertedBatch) + Clone + Send + 'static,
    {
        let bound = bound.max(1);
        let (jobs, taken) = crossbeam_channel::bounded(bound);
        let actor = ActorMetrics::new(ActorKind::Converter, "pool", bound);
        for i in 0..threads.max(1) {
            let worker = ConverterWorker::new(converter.clone(), max_body);
            let (taken, downstream, actor) = (taken.clone(), downstream.clone(), actor.clone());
            std::thread::Builder::new()
                .name(format!("ceilo-convert-{i}"))
                // What the nesting limits are sized for (docs/runtime.md, "No input can crash").
                .stack_size(2 << 20)
                .spawn(move || worker.run(&taken, &downstream, &actor))?;
        }
        Ok(ConverterPool {
            jobs,
            bound: Bound::new(actor),
        })
    }

    /// Waits for room in the pool's channel, then hands `batch` over. `false`: the pool is gone
    /// and the batch with it (its deliveries will be requeued).
    pub async fn send(&self, batch: DeliveryBatch) -> bool {
        let slot = self.bound.enter().await;
        // The slot leaves the channel with the batch, so it always has room here.
        self.jobs.try_send(Queued::new(batch, slot)).is_ok()
    }
}

pub struct ConverterWorker {
    converter: Arc<Current<dyn Convert>>,
    decoder: Decoder,
    /// Samples and events the last batch made: the next batch's vectors start that big
    /// instead of growing (and copying) their way there.
    last_sizes: (usize, usize),
    /// `notification.max_body_bytes`.
    max_body: usize,
    /// The body of a compressed delivery, decompressed (kombu's `compression` header).
    inflated: Vec<u8>,
}

impl ConverterWorker {
    pub fn new(converter: Arc<Current<dyn Convert>>, max_body: usize) -> Self {
        ConverterWorker {
            converter,
            decoder: Decoder::new(),
            last_sizes: (0, 0),
            max_body,
            inflated: Vec::new(),
        }
    }

    /// Take batches until every sender is gone; a panic outside a conversion restarts the
    /// worker's state and loses only that batch's progress (it is requeued).
    fn run<F: Fn(ConvertedBatch)>(
        mut self,
        taken: &crossbeam_channel::Receiver<Queued<DeliveryBatch>>,
        downstream: &F,
        actor: &ActorMetrics,
    ) {
        while let Ok(batch) = taken.recv() {
            let batch = batch.take();
            match catch_unwind(AssertUnwindSafe(|| self.convert_batch(batch))) {
                Ok(converted) => downstream(converted),
                Err(_) => {
                    // The batch's token was dropped unconfirmed while unwinding: requeued.
                    tracing::error!("converter worker panicked; restarting it");
                    actor.restarted();
                    self = ConverterWorker::new(self.converter.clone(), self.max_body);
                }
            }
        }
    }

    fn convert_one(
        &mut self,
        converter: &dyn Convert,
        d: Delivery,
        recent_ids: &SharedRecentIds,
        out: &mut ConvertedBatch,
        ids: &mut Vec<IdKey>,
        outcome: &mut ConversionOutcome,
    ) {
        if d.body.len() > self.max_body {
            outcome.rejected_envelope += 1;
            let reason = format!(
                "too large: {} bytes, over notification.max_body_bytes ({})",
                d.body.len(),
                self.max_body
            );
            return dead_letter(d, reason, RejectReason::Envelope, out);
        }
        let mut body = d.body.as_slice();
        if let Some(codec) = d.header_text("compression") {
            if let Err(e) = kombu::decompress(codec, body, self.max_body, &mut self.inflated) {
                outcome.rejected_envelope += 1;
                let reason = match e {
                    DecompressError::TooLarge { .. } => format!(
                        "too large: {e}, over notification.max_body_bytes ({})",
                        self.max_body
                    ),
                    _ => format!("undecodable: {e}"),
                };
                return dead_letter(d, reason, RejectReason::Envelope, out);
            }
            body = &self.inflated;
        }
        let decoder = &mut self.decoder;
        let result = catch_unwind(AssertUnwindSafe(|| converter.convert(decoder, body)));
        let mut kind = RejectReason::Endpoint;
        let reason = match result {
            Ok(Ok(c)) if is_duplicate(recent_ids, &c, &d) => {
                tracing::warn!(unique_id = c.unique_id.as_deref().unwrap_or(""), routing_key = %d.routing_key,
                    "duplicate notification dropped: its _unique_id was seen recently");
                outcome.duplicates += 1;
                return;
            }
            Ok(Ok(c)) => {
                if let Some(id) = &c.unique_id {
                    ids.push(duplicates::key(id));
                }
                if c.unknown_priority {
                    outcome.unknown_priority += 1;
                    return;
                }
                out.dropped += c.dropped_samples.len();
                outcome.converted += 1;
                out.items.samples.extend(c.samples);
                out.items.events.extend(c.events);
                return;
            }
            Ok(Err(ConvertError::Envelope(e))) => {
                outcome.rejected_envelope += 1;
                kind = RejectReason::Envelope;
                format!("undecodable: {e}")
            }
            Ok(Err(e @ ConvertError::Endpoint { .. })) => {
                outcome.rejected_endpoint += 1;
                format!("unconvertible: {e}")
            }
            Ok(Err(e @ ConvertError::Output(_))) => {
                outcome.rejected_output += 1;
                kind = RejectReason::Output;
                e.to_string()
            }
            Err(panic) => {
                outcome.rejected_endpoint += 1;
                // The decoder may be mid-state; start afresh.
                self.decoder = Decoder::new();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("converter panicked: {what}")
            }
        };
        dead_letter(d, reason, kind, out);
    }
}

/// `d` goes to the dead-letter queue with `reason`, its body and properties moved, not copied.
fn dead_letter(d: Delivery, reason: String, kind: RejectReason, out: &mut ConvertedBatch) {
    tracing::warn!(exchange = %d.exchange, routing_key = %d.routing_key, %reason, "dead-lettering a delivery");
    out.items.dead.push(DeadLetter {
        exchange: d.exchange.to_string(),
        routing_key: d.routing_key.to_string(),
        body: d.body,
        reason,
        kind,
        properties: d.properties,
    });
}

impl ConverterWorker {
    fn convert_batch(&mut self, batch: DeliveryBatch) -> ConvertedBatch {
        let started = std::time::Instant::now();
        let DeliveryBatch {
            deliveries,
            token,
            metrics,
            recent_ids,
            stage,
        } = batch;
        let mut out = ConvertedBatch {
            items: Items {
                samples: Vec::with_capacity(self.last_sizes.0),
                events: Vec::with_capacity(self.last_sizes.1),
                dead: Vec::new(),
            },
            dropped: 0,
            token,
            stage,
        };
        let mut outcome = ConversionOutcome::default();
        let mut ids = Vec::with_capacity(deliveries.len());
        let converter = self.converter.load();
        for d in deliveries {
            self.convert_one(&*converter, d, &recent_ids, &mut out, &mut ids, &mut outcome);
        }
        out.token.remember(ids);
        outcome.samples = out.items.samples.len();
        outcome.events = out.items.events.len();
        self.last_sizes = (outcome.samples, outcome.events);
        metrics.batch(outcome, started.elapsed());
        out
    }
}

/// Whether `c` repeats a notification this listener took recently (and is to be dropped).
fn is_duplicate(recent_ids: &SharedRecentIds, c: &Converted, d: &Delivery) -> bool {
    let Some(id) = &c.unique_id else { return false };
    recent_ids
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_duplicate(id, d.redelivered)
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::model::envelope::EnvelopeError;
    use crate::telemetry::metrics::ACTOR_MAILBOX_DEPTH;

    /// Blocks every conversion until `open` is set.
    #[derive(Default)]
    struct Gated {
        open: Mutex<bool>,
        opened: Condvar,
    }

    impl Convert for Gated {
        fn convert(&self, _: &mut Decoder, _: &[u8]) -> Result<Converted, ConvertError> {
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
            Err(ConvertError::Envelope(EnvelopeError::NotAnObject("body")))
        }
    }

    fn batch() -> DeliveryBatch {
        DeliveryBatch {
            deliveries: vec![Delivery {
                tag: 1,
                body: b"{}".to_vec(),
                exchange: "nova".into(),
                routing_key: "notifications.info".into(),
                redelivered: false,
                properties: Default::default(),
            }],
            token: AckToken::detached(),
            metrics: ConverterMetrics::new("converter-unit"),
            recent_ids: SharedRecentIds::default(),
            stage: SampleStage::All,
        }
    }

    #[test]
    fn a_full_pool_channel_makes_listeners_wait_and_its_depth_counts_batches_not_taken() {
        let prometheus = crate::telemetry::install_recorder().expect("recorder");
        let depth = || {
            crate::telemetry::scrape::parse(&prometheus.render())
                .expect("own render parses")
                .sum(ACTOR_MAILBOX_DEPTH, &[("actor", "converter"), ("id", "pool")])
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let gated = Arc::new(Gated::default());
            let (done, converted) = std::sync::mpsc::channel();
            let downstream = move |b: ConvertedBatch| done.send(b).expect("test alive");
            let converter = Arc::new(Current::new(gated.clone() as _));
            let pool = ConverterPool::start(1, 2, 1 << 20, converter, downstream).expect("threads");
            // The one worker takes the first batch and blocks on it; two fill the channel; the
            // last two senders wait for room.
            let handed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for _ in 0..5 {
                let (pool, handed) = (pool.clone(), handed.clone());
                tokio::spawn(async move {
                    assert!(pool.send(batch()).await, "pool alive");
                    handed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            let full = async {
                while depth() != 2.0 || handed.load(std::sync::atomic::Ordering::SeqCst) != 3 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), full)
                .await
                .expect("one batch converting, two in the channel");
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(depth(), 2.0, "never above the bound");
            assert_eq!(
                handed.load(std::sync::atomic::Ordering::SeqCst),
                3,
                "two senders wait"
            );
            *gated.open.lock().unwrap() = true;
            gated.opened.notify_all();
            let mut got = Vec::new();
            let all = async {
                while got.len() < 5 {
                    got.extend(converted.try_iter());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), all)
                .await
                .expect("all five converted");
            assert!(
                got.iter().all(|b| b.items.dead.len() == 1),
                "each undecodable body is dead-lettered"
            );
            assert_eq!(depth(), 0.0);
        });
    }
}
