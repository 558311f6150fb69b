//! Delivery acknowledgement: a delivery is acked only when everything made from it is confirmed.
//!
//! The listener registers each batch of deliveries (a contiguous range of tags on one channel)
//! with its [`AckTracker`] and gets an [`AckToken`]. Every stage that takes over part of the
//! batch's work holds a share of the token ([`AckToken::share`]) and calls
//! [`AckToken::confirm`] when its part is durable (a publisher: after the broker's confirm).
//! A share dropped without `confirm` (an actor crashed, a send failed) marks the batch failed.
//! When the last share is gone the batch is settled: the tracker acks the longest prefix of
//! settled batches with one `basic.ack(multiple)` and requeues failed ones with
//! `basic.nack(multiple, requeue)`, in tag order, through one task per channel so the frames go
//! out in order. A tracker belongs to one consumer channel: after a reconnection a new tracker
//! starts and the old one's settles go to the dead channel (they fail harmlessly), so a
//! pre-recovery tag is never acked on the new channel.
//!
//! The converter tells each batch's token which `_unique_id`s it published
//! ([`AckToken::remember`]); a batch settled with an ack hands them to its listener's
//! [`RecentIds`](super::duplicates::RecentIds) just before the ack frame is queued, so that a
//! redelivery caused by an ack lost with the channel is dropped instead of published again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::duplicates::{IdKey, SharedRecentIds};
use super::window::Window;
use crate::telemetry::handles::ListenerMetrics;
use crate::transport::{Acker, Settle};

struct Batch {
    last_tag: u64,
    deliveries: usize,
    /// Their bodies' bytes (the listener's byte budget frees them when they are settled).
    bytes: u64,
    outcome: Option<Settle>,
    /// The `_unique_id`s of the deliveries whose output this batch published.
    ids: Vec<IdKey>,
}

#[derive(Default)]
struct State {
    /// Sequence number of `pending[0]`.
    head: u64,
    next: u64,
    pending: VecDeque<Batch>,
}

/// One settle frame: everything up to `tag`, covering `deliveries` deliveries.
#[derive(Debug, Clone, Copy)]
struct Op {
    tag: u64,
    how: Settle,
    deliveries: usize,
    bytes: u64,
}

/// Tracks one consumer channel's batches and settles them in order.
pub struct AckTracker {
    state: Mutex<State>,
    ops: mpsc::UnboundedSender<Op>,
    /// Settle operations queued but not yet completed.
    unsent: Arc<AtomicUsize>,
    /// The listener's memory of acked ids (kept across its channels).
    recent_ids: SharedRecentIds,
}

impl AckTracker {
    /// A tracker whose settles go through `acker`, applied in order by a task spawned on
    /// `runtime`; `metrics` counts what was acked and what was released; `recent_ids` learns
    /// the ids of what is acked. With a `window` (the channel's byte budget), the same task
    /// moves the channel's cap on unacked deliveries around the settles.
    pub fn start(
        acker: Arc<dyn Acker>,
        runtime: &tokio::runtime::Handle,
        queue: Arc<str>,
        metrics: ListenerMetrics,
        recent_ids: SharedRecentIds,
        window: Option<Arc<Window>>,
    ) -> Arc<AckTracker> {
        let (ops, mut rx) = mpsc::unbounded_channel::<Op>();
        let unsent = Arc::new(AtomicUsize::new(0));
        let counter = unsent.clone();
        runtime.spawn(async move {
            let limit = |max_unacked: u16| {
                let acker = acker.clone();
                let queue = queue.clone();
                async move {
                    if let Err(e) = acker.limit(max_unacked).await {
                        // The channel is going: the pump sees it too and starts over.
                        tracing::debug!(queue = &*queue, max_unacked, error = %e, "cannot set the channel's cap");
                    }
                }
            };
            loop {
                let op = tokio::select! {
                    biased;
                    op = rx.recv() => match op {
                        Some(op) => op,
                        None => break,
                    },
                    raised = raise_wanted(window.as_deref()) => {
                        limit(raised).await;
                        continue;
                    }
                };
                let Op { tag, how, deliveries, bytes } = op;
                if let Some(lower) = window.as_ref().and_then(|w| w.before_settle(deliveries, bytes)) {
                    limit(lower).await;
                }
                match acker.settle(tag, how).await {
                    Ok(()) if how == Settle::Ack => metrics.acked(deliveries),
                    Ok(()) => metrics.released(deliveries),
                    Err(e) => {
                        metrics.released(deliveries);
                        tracing::warn!(queue = &*queue, tag, ?how, error = %e, "settle failed (the broker requeues)");
                    }
                }
                if let Some(w) = &window {
                    w.settled(deliveries, bytes);
                    if let Some(raised) = w.raise() {
                        limit(raised).await;
                    }
                }
                counter.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Arc::new(AckTracker {
            state: Mutex::new(State::default()),
            ops,
            unsent,
            recent_ids,
        })
    }

    /// Register the next batch (tags up to `last_tag`, higher than any registered before) of
    /// `deliveries` deliveries whose bodies are `bytes` long.
    pub fn register(self: &Arc<Self>, last_tag: u64, deliveries: usize, bytes: u64) -> AckToken {
        let mut state = self.lock();
        let seq = state.next;
        state.next += 1;
        state.pending.push_back(Batch {
            last_tag,
            deliveries,
            bytes,
            outcome: None,
            ids: Vec::new(),
        });
        drop(state);
        AckToken {
            shared: Some(Arc::new(Shared {
                tracker: Some(self.clone()),
                seq,
                failed: AtomicBool::new(false),
            })),
        }
    }

    /// No batch is waiting and every settle has been sent.
    pub fn is_idle(&self) -> bool {
        self.lock().pending.is_empty() && self.unsent.load(Ordering::SeqCst) == 0
    }

    /// Batches registered and not yet settled.
    pub fn pending_batches(&self) -> usize {
        self.lock().pending.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settle(&self, seq: u64, how: Settle) {
        let mut state = self.lock();
        let Some(index) = seq.checked_sub(state.head) else {
            return;
        };
        let Some(batch) = state.pending.get_mut(index as usize) else {
            return;
        };
        batch.outcome = Some(how);
        // Coalesce the settled prefix into as few frames as possible.
        let mut run: Option<Op> = None;
        while state.pending.front().is_some_and(|b| b.outcome.is_some()) {
            let Some(Batch {
                last_tag,
                deliveries,
                bytes,
                outcome: Some(how),
                ids,
            }) = state.pending.pop_front()
            else {
                break;
            };
            state.head += 1;
            if how == Settle::Ack && !ids.is_empty() {
                // Before its ack is queued: the ack may die with the channel.
                let mut recent = self.recent_ids.lock().unwrap_or_else(|p| p.into_inner());
                recent.settled(ids);
            }
            let op = Op {
                tag: last_tag,
                how,
                deliveries,
                bytes,
            };
            run = match run {
                Some(prev) if prev.how == op.how => Some(Op {
                    deliveries: prev.deliveries + op.deliveries,
                    bytes: prev.bytes + op.bytes,
                    ..op
                }),
                Some(prev) => {
                    self.send(prev);
                    Some(op)
                }
                None => Some(op),
            };
        }
        if let Some(op) = run {
            self.send(op);
        }
    }

    fn remember(&self, seq: u64, ids: Vec<IdKey>) {
        let mut state = self.lock();
        let Some(index) = seq.checked_sub(state.head) else {
            return;
        };
        if let Some(batch) = state.pending.get_mut(index as usize) {
            batch.ids = ids;
        }
    }

    fn send(&self, op: Op) {
        self.unsent.fetch_add(1, Ordering::SeqCst);
        if self.ops.send(op).is_err() {
            self.unsent.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The next higher cap the window wants, when the pump asks for one; never without a window.
async fn raise_wanted(window: Option<&Window>) -> u16 {
    let Some(w) = window else {
        return std::future::pending().await;
    };
    loop {
        w.wanted().await;
        if let Some(raised) = w.raise() {
            return raised;
        }
    }
}

struct Shared {
    tracker: Option<Arc<AckTracker>>,
    seq: u64,
    failed: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let how = if self.failed.load(Ordering::SeqCst) {
            Settle::Requeue
        } else {
            Settle::Ack
        };
        if let Some(tracker) = &self.tracker {
            tracker.settle(self.seq, how);
        }
    }
}

/// One holder's share of a batch's acknowledgement. Not `Clone`: use [`AckToken::share`].
pub struct AckToken {
    shared: Option<Arc<Shared>>,
}

impl AckToken {
    /// A token tied to no delivery (work that came from no queue, e.g. in-process polling).
    pub fn detached() -> AckToken {
        AckToken {
            shared: Some(Arc::new(Shared {
                tracker: None,
                seq: 0,
                failed: AtomicBool::new(false),
            })),
        }
    }

    /// Another holder's share of the same batch.
    pub fn share(&self) -> AckToken {
        AckToken {
            shared: self.shared.clone(),
        }
    }

    /// Whether every other share of this batch has been confirmed or dropped (a caller that
    /// made a detached token waits on this for work it handed out, e.g. the shutdown flush).
    pub fn others_done(&self) -> bool {
        self.shared.as_ref().is_none_or(|s| Arc::strong_count(s) == 1)
    }

    /// The batch's output carries these `_unique_id`s (the converter says so, once): once the
    /// batch is acked, their redelivery is a duplicate.
    pub fn remember(&self, ids: Vec<IdKey>) {
        if let Some(Shared {
            tracker: Some(tracker),
            seq,
            ..
        }) = self.shared.as_deref()
        {
            tracker.remember(*seq, ids);
        }
    }

    /// This holder's part is done and durable.
    pub fn confirm(mut self) {
        self.shared.take();
    }

    /// This holder's part failed: the batch will be requeued.
    pub fn fail(self) {
        drop(self);
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.failed.store(true, Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            Some(s) => write!(f, "AckToken(batch {})", s.seq),
            None => write!(f, "AckToken(confirmed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{BoxFuture, TransportError};

    #[derive(Default)]
    struct Recording(Mutex<Vec<(u64, Settle)>>, Mutex<Vec<u16>>);

    impl Acker for Arc<Recording> {
        fn settle(&self, up_to: u64, how: Settle) -> BoxFuture<'static, Result<(), TransportError>> {
            self.0.lock().unwrap().push((up_to, how));
            Box::pin(async { Ok(()) })
        }

        fn limit(&self, max_unacked: u16) -> BoxFuture<'static, Result<(), TransportError>> {
            self.1.lock().unwrap().push(max_unacked);
            Box::pin(async { Ok(()) })
        }
    }

    async fn settled(rec: &Arc<Recording>, tracker: &AckTracker) -> Vec<(u64, Settle)> {
        for _ in 0..100 {
            if tracker.is_idle() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        rec.0.lock().unwrap().clone()
    }

    /// A tracker on queue "q" whose settle frames are recorded.
    fn recording_tracker() -> (Arc<Recording>, Arc<AckTracker>) {
        let rec = Arc::new(Recording::default());
        let tracker = AckTracker::start(
            Arc::new(rec.clone()),
            &tokio::runtime::Handle::current(),
            "q".into(),
            ListenerMetrics::new("q"),
            crate::agent::duplicates::RecentIds::shared(100),
            None,
        );
        (rec, tracker)
    }

    #[tokio::test]
    async fn acks_contiguous_prefix_with_one_frame_and_waits_for_every_share() {
        let (rec, tracker) = recording_tracker();
        let a = tracker.register(3, 3, 0);
        let b = tracker.register(5, 2, 0);
        let c = tracker.register(9, 4, 0);
        let b_publisher = b.share();
        b.confirm();
        c.confirm();
        assert!(
            settled(&rec, &tracker).await.is_empty(),
            "nothing before batch a is done"
        );
        let a2 = a.share();
        a.confirm();
        assert!(settled(&rec, &tracker).await.is_empty(), "a still has a holder");
        a2.confirm();
        assert_eq!(settled(&rec, &tracker).await, vec![(3, Settle::Ack)]);
        b_publisher.confirm();
        assert_eq!(
            settled(&rec, &tracker).await,
            vec![(3, Settle::Ack), (9, Settle::Ack)]
        );
        assert!(tracker.is_idle());
    }

    #[tokio::test]
    async fn an_unconfirmed_share_requeues_its_batch_in_order() {
        let (rec, tracker) = recording_tracker();
        let a = tracker.register(2, 2, 0);
        let b = tracker.register(4, 2, 0);
        let c = tracker.register(6, 2, 0);
        let lost = b.share();
        b.confirm();
        drop(lost); // a crashed holder
        c.confirm();
        a.confirm();
        assert_eq!(
            settled(&rec, &tracker).await,
            vec![(2, Settle::Ack), (4, Settle::Requeue), (6, Settle::Ack)]
        );
    }

    #[tokio::test]
    async fn the_ids_of_an_acked_batch_are_remembered_and_those_of_a_requeued_one_are_not() {
        let (rec, tracker) = recording_tracker();
        let hex = |n: u128| format!("{n:032x}");
        let a = tracker.register(2, 2, 0);
        let b = tracker.register(4, 2, 0);
        a.remember(vec![1, 2]);
        b.remember(vec![3, 4]);
        let recent = tracker.recent_ids.clone();
        b.fail();
        assert!(
            !recent.lock().unwrap().is_duplicate(&hex(3), true),
            "nothing settled yet"
        );
        a.confirm();
        settled(&rec, &tracker).await;
        let mut recent = recent.lock().unwrap();
        assert!(recent.is_duplicate(&hex(1), true) && recent.is_duplicate(&hex(2), true));
        assert!(
            !recent.is_duplicate(&hex(4), true),
            "requeued: its output was not confirmed"
        );
    }

    #[tokio::test]
    async fn the_cap_opens_as_deliveries_arrive_even_when_nothing_settles() {
        use crate::agent::window::{Budget, SharedBudget};
        let rec = Arc::new(Recording::default());
        let budget = Budget::binding(8 << 20, 1 << 20, 100).unwrap();
        let window = Arc::new(Window::new(SharedBudget::alone(budget)));
        let _tracker = AckTracker::start(
            Arc::new(rec.clone()),
            &tokio::runtime::Handle::current(),
            "q".into(),
            ListenerMetrics::new("q"),
            crate::agent::duplicates::RecentIds::shared(100),
            Some(window.clone()),
        );
        // Everything stays unacked (held behind a batch that never settles): the cap must
        // still follow the pump, or the listener starves at the first caps.
        for _ in 0..50 {
            window.received(1000);
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let limits = rec.1.lock().unwrap().clone();
        assert!(limits.windows(2).all(|w| w[0] < w[1]), "only raises: {limits:?}");
        let last = limits.last().copied().unwrap_or(0);
        assert!(
            last >= 50 + 4,
            "50 held and the window open past slow start: {limits:?}"
        );
    }
}
