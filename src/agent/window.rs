//! The byte budget of one listener's channel (`notification.inflight_bytes`).
//!
//! RabbitMQ does not implement `basic.qos` `prefetch_size`, and lapin buffers whatever the
//! broker sends, so a prefetch counted in messages is no bound in bytes: forty 20 MB bodies
//! in flight are 800 MB. The agent holds the budget itself, with the one lever the broker
//! gives: a channel-wide (`global`) cap on unacked deliveries, which RabbitMQ applies at once to
//! the consumer already running (the per-consumer prefetch stays the count bound).
//!
//! The cap is moved so that, at every moment,
//!
//! ```text
//! bytes received and not settled  +  deliveries the broker may still send × max_body  ≤  budget
//! ```
//!
//! A delivery not yet received is counted as a full slot of `max_body_bytes` (its size is
//! unknown until it has arrived); once received it counts its real size. Receiving a body no
//! larger than the slot never breaks the inequality, so the cap is raised when the deliveries
//! in transit run low. Settling frees bytes but also lets the broker send as many deliveries as
//! were settled, so before a settle frame the cap is lowered if the inequality needs it (a raise
//! leaves a quarter of the slots in reserve, so a settle of fewer deliveries needs no lowering;
//! with the default batch size and budget a settle is larger and goes behind one). A body
//! larger than `max_body_bytes` (it will be dead-lettered) overruns its slot: after one, the
//! window falls back to one delivery in transit and grows by one per body that fits (slow
//! start), so a run of big bodies comes one at a time.
//!
//! The listeners' budgets are one pool ([`SharedBudget`]): each listener brings
//! `inflight_bytes`, keeps a quarter of it for its own window and lends the rest, and a window
//! whose queue is busy borrows from the pool what its deliveries in transit need, up to half of
//! the whole, giving back after each settle what it no longer needs. The windows together never
//! hold more than the listeners' budgets summed, so the memory ceiling is unchanged, while the
//! queue that carries the traffic reads further ahead: the broker sends in fewer, larger pieces.
//!
//! The pump calls [`Window::received`] per delivery (a few relaxed atomics, no lock, no
//! allocation); the tracker's settle task, the only one that sends frames on the channel, calls
//! [`Window::raise`] when woken and [`Window::before_settle`] / [`Window::settled`] around each
//! settle frame, so caps and settles reach the broker in the order they were decided.

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;

use tokio::sync::Notify;

/// How one listener's channel is budgeted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `notification.inflight_bytes`.
    pub bytes: u64,
    /// `notification.max_body_bytes`: the size of a slot.
    pub slot: u64,
    /// `notification.prefetch`: the cap never goes above it.
    pub prefetch: u16,
}

impl Budget {
    /// The budget to enforce, if it binds: when `prefetch` full slots fit in it, the broker's
    /// prefetch already keeps it and no channel-wide cap is needed.
    pub fn binding(bytes: u64, slot: u64, prefetch: u16) -> Option<Budget> {
        let budget = Budget {
            bytes,
            slot: slot.max(1),
            prefetch,
        };
        (bytes > 0 && u64::from(prefetch).saturating_mul(budget.slot) > bytes).then_some(budget)
    }

    /// Deliveries allowed in transit with `bytes` to spend: its slots, at most `prefetch`, at
    /// least one.
    pub fn slots_in(&self, bytes: u64) -> u64 {
        (bytes / self.slot).clamp(1, u64::from(self.prefetch).max(1))
    }
}

/// The listeners' byte budgets as one pool: what each window holds beyond its own quarter is
/// borrowed from it.
#[derive(Debug)]
pub struct SharedBudget {
    budget: Budget,
    /// The budgets of the listeners that joined, summed.
    total: AtomicU64,
    /// Bytes no window holds.
    free: AtomicU64,
}

impl SharedBudget {
    /// An empty pool of listener budgets of `budget` each.
    pub fn new(budget: Budget) -> SharedBudget {
        SharedBudget {
            budget,
            total: AtomicU64::new(0),
            free: AtomicU64::new(0),
        }
    }

    /// A listener brings its budget: a quarter stays its window's own, the rest is lent.
    pub fn join(&self) {
        self.total.fetch_add(self.budget.bytes, Relaxed);
        self.free.fetch_add(self.budget.bytes - self.own(), Release);
    }

    /// A pool that one listener has joined: a window alone with its budget.
    #[cfg(test)]
    pub fn alone(budget: Budget) -> Arc<SharedBudget> {
        let shared = Arc::new(SharedBudget::new(budget));
        shared.join();
        shared
    }

    /// What a window holds whatever the others do.
    fn own(&self) -> u64 {
        self.budget.bytes / 4
    }

    /// The most one window may hold: half of the pool, and at least one listener's budget.
    fn window_max(&self) -> u64 {
        (self.total.load(Relaxed) / 2).max(self.budget.bytes)
    }

    /// Takes up to `wanted` bytes from the pool: what it gives.
    fn take(&self, wanted: u64) -> u64 {
        let mut free = self.free.load(Acquire);
        loop {
            let taken = wanted.min(free);
            if taken == 0 {
                return 0;
            }
            match self
                .free
                .compare_exchange_weak(free, free - taken, AcqRel, Acquire)
            {
                Ok(_) => return taken,
                Err(now) => free = now,
            }
        }
    }

    fn give_back(&self, bytes: u64) {
        if bytes > 0 {
            self.free.fetch_add(bytes, Release);
        }
    }
}

/// The cap's state for one channel. Counts are since the channel opened.
pub struct Window {
    budget: Budget,
    shared: Arc<SharedBudget>,
    /// Bytes held from the pool beyond the window's own (written by the settle task only).
    borrowed: AtomicU64,
    /// Deliveries taken off the consumer (written by the pump only).
    received: AtomicU64,
    received_bytes: AtomicU64,
    /// Slow start: deliveries allowed in transit now (written by the pump only).
    target: AtomicU64,
    /// Deliveries settled by frames already sent (written by the settle task only).
    settled: AtomicU64,
    settled_bytes: AtomicU64,
    /// The cap the broker has (or is about to have), written by the settle task only.
    limit: AtomicU64,
    wake: Notify,
}

impl Window {
    /// A window for a new channel of a listener that joined `shared`, with the cap it must
    /// start with (set before consuming).
    pub fn new(shared: Arc<SharedBudget>) -> Window {
        Window {
            budget: shared.budget,
            shared,
            borrowed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            target: AtomicU64::new(1),
            settled: AtomicU64::new(0),
            settled_bytes: AtomicU64::new(0),
            limit: AtomicU64::new(1),
            wake: Notify::new(),
        }
    }

    /// The cap to set before consuming: one delivery (slow start).
    pub fn initial_limit(&self) -> u16 {
        1
    }

    /// A delivery of `bytes` was taken off the consumer.
    #[inline]
    pub fn received(&self, bytes: usize) {
        let bytes = bytes as u64;
        // Bytes before the count: a reader that sees the count sees the bytes.
        self.received_bytes.fetch_add(bytes, Release);
        let received = self.received.fetch_add(1, Release) + 1;
        let target = if bytes > self.budget.slot {
            1
        } else {
            (self.target.load(Relaxed) + 1).min(self.max_slots())
        };
        self.target.store(target, Relaxed);
        if self.horizon().saturating_sub(received) <= target / 2 {
            self.wake.notify_one();
        }
    }

    /// Woken by the pump when the deliveries in transit run low.
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }

    /// The furthest delivery count the broker may reach (`received` + slots in transit) with
    /// `freed` more bytes settled, keeping `reserve` slots of the budget unused.
    fn allowed_horizon(&self, freed: u64, reserve: u64) -> u64 {
        let received = self.received.load(Acquire);
        let held = self.held().saturating_sub(freed);
        let free_slots = (self.grant().saturating_sub(held) / self.budget.slot).saturating_sub(reserve);
        received + free_slots.min(self.target.load(Relaxed))
    }

    /// Deliveries the broker may still send before the cap stops it.
    pub fn in_transit(&self) -> u64 {
        self.horizon().saturating_sub(self.received.load(Acquire))
    }

    /// The delivery count the broker may reach now: what is settled plus the cap on what is not.
    fn horizon(&self) -> u64 {
        self.limit.load(Relaxed) + self.settled.load(Relaxed)
    }

    /// Bytes received and not settled.
    fn held(&self) -> u64 {
        self.received_bytes
            .load(Acquire)
            .saturating_sub(self.settled_bytes.load(Relaxed))
    }

    /// The bytes this window may expose: its own and what it borrowed.
    fn grant(&self) -> u64 {
        self.shared.own() + self.borrowed.load(Relaxed)
    }

    /// Deliveries allowed in transit at most: the slots of the most a window may hold.
    fn max_slots(&self) -> u64 {
        self.budget.slots_in(self.shared.window_max())
    }

    /// Before a raise: borrow what the target in transit and the reserve need, as far as the
    /// pool and the window's maximum allow. The pool lends for slots, not for what is held
    /// beyond the window's own quarter: a run of oversize bodies, which fills the held bytes
    /// with the window at one delivery in transit, still comes one at a time.
    fn borrow_for_target(&self) {
        let slots = self.target.load(Relaxed) + self.reserve();
        let held = self.held().min(self.shared.own());
        let wanted = (held + slots * self.budget.slot).min(self.shared.window_max());
        let short = wanted.saturating_sub(self.grant());
        if short > 0 {
            self.borrowed.fetch_add(self.shared.take(short), Relaxed);
        }
    }

    /// After a settle: give back what neither the deliveries held, those the broker may still
    /// send nor the reserve need.
    fn give_back_unused(&self) {
        let needed = self.held() + (self.in_transit() + self.reserve()) * self.budget.slot;
        let spare = self.grant().saturating_sub(needed.max(self.shared.own()));
        let given = spare.min(self.borrowed.load(Relaxed));
        if given > 0 {
            self.borrowed.fetch_sub(given, Relaxed);
            self.shared.give_back(given);
        }
    }

    /// Slots a raise leaves unused (a quarter of the window), so that settles can move the
    /// broker's horizon that far before a lowering frame is needed: a settle of fewer
    /// deliveries goes out alone instead of behind a `basic.qos`.
    fn reserve(&self) -> u64 {
        self.max_slots() / 4
    }

    fn cap(&self, limit: u64) -> u64 {
        limit.clamp(1, u64::from(self.budget.prefetch).max(1))
    }

    /// A higher cap to send now, if the budget allows one.
    pub fn raise(&self) -> Option<u16> {
        self.borrow_for_target();
        let settled = self.settled.load(Relaxed);
        let limit = self.cap(self.allowed_horizon(0, self.reserve()).saturating_sub(settled));
        (limit > self.limit.load(Relaxed)).then(|| self.set(limit))
    }

    /// Before a frame settling `deliveries` deliveries of `bytes`: the lower cap to send first,
    /// if with the current one the settle would let the broker send more than the budget holds.
    pub fn before_settle(&self, deliveries: usize, bytes: u64) -> Option<u16> {
        let settled = self.settled.load(Relaxed) + deliveries as u64;
        let limit = self.cap(self.allowed_horizon(bytes, 0).saturating_sub(settled));
        (limit < self.limit.load(Relaxed)).then(|| self.set(limit))
    }

    /// The settle frame went out.
    pub fn settled(&self, deliveries: usize, bytes: u64) {
        self.settled_bytes.fetch_add(bytes, Relaxed);
        self.settled.fetch_add(deliveries as u64, Relaxed);
        self.give_back_unused();
    }

    fn set(&self, limit: u64) -> u16 {
        self.limit.store(limit, Relaxed);
        u16::try_from(limit).unwrap_or(u16::MAX)
    }
}

impl Drop for Window {
    /// The channel is gone: what its window borrowed goes back to the pool.
    fn drop(&mut self) {
        self.shared.give_back(*self.borrowed.get_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn window(budget_mib: u64, slot_mib: u64, prefetch: u16) -> Window {
        Window::new(SharedBudget::alone(
            Budget::binding(budget_mib * MIB, slot_mib * MIB, prefetch).expect("binding"),
        ))
    }

    /// `listeners` joined to one pool of 8 MiB budgets in 1 MiB slots.
    fn pool(listeners: usize) -> Arc<SharedBudget> {
        let shared = Arc::new(SharedBudget::new(Budget::binding(8 * MIB, MIB, 4000).unwrap()));
        (0..listeners).for_each(|_| shared.join());
        shared
    }

    /// Receives `n` small bodies, raising the cap as the settle task does.
    fn receive(w: &Window, n: usize) {
        for _ in 0..n {
            w.received(3000);
            w.raise();
        }
    }

    /// Settles everything received (the settle task raises the cap after, if it can).
    fn settle_all(w: &Window) {
        let bytes = w.held();
        let n = (w.received.load(Relaxed) - w.settled.load(Relaxed)) as usize;
        w.before_settle(n, bytes);
        w.settled(n, bytes);
    }

    /// What the broker may still send, in bytes, plus what is held: the quantity the budget
    /// bounds (each delivery in transit counted as `slot`).
    fn exposure(w: &Window) -> u64 {
        w.held() + w.horizon().saturating_sub(w.received.load(Relaxed)) * w.budget.slot
    }

    #[test]
    fn binds_only_when_prefetch_full_slots_exceed_the_budget() {
        assert_eq!(Budget::binding(64 * MIB, MIB, 64), None, "64 slots fit");
        assert!(Budget::binding(64 * MIB, MIB, 65).is_some());
        assert_eq!(Budget::binding(0, MIB, 4000), None, "0 turns it off");
    }

    #[test]
    fn small_bodies_open_the_window_up_to_the_budget_in_slots() {
        let w = window(8, 1, 4000);
        assert_eq!(w.initial_limit(), 1);
        for _ in 0..100 {
            w.received(3000);
            w.raise();
            assert!(exposure(&w) <= 8 * MIB);
        }
        assert_eq!(w.target.load(Relaxed), 8, "slow start stops at budget / slot");
        assert_eq!(w.raise(), None, "already open");
        let free_slots = (8 * MIB - 100 * 3000) / MIB - 8 / 4;
        assert_eq!(
            w.limit.load(Relaxed),
            100 + free_slots,
            "100 held + what fits in transit, a quarter of the slots in reserve"
        );
    }

    #[test]
    fn in_transit_is_what_the_cap_lets_the_broker_send_beyond_what_was_taken() {
        let w = window(8, 1, 4000);
        assert_eq!(w.in_transit(), 1, "slow start: one delivery");
        w.received(3000);
        assert_eq!(w.in_transit(), 0, "the broker stops until the cap is raised");
        let limit = w.raise().expect("a raise");
        assert_eq!(w.in_transit(), u64::from(limit) - 1);
        w.settled(1, 3000);
        assert_eq!(w.in_transit(), u64::from(limit), "a settle lets one more come");
    }

    #[test]
    fn a_settle_lowers_the_cap_first_when_it_would_open_more_than_it_frees() {
        let w = window(8, 1, 4000);
        for _ in 0..20 {
            w.received(3000);
            w.raise();
        }
        let lower = w
            .before_settle(10, 30_000)
            .expect("10 settled small bodies free 10 slots' worth of count, not of bytes");
        let fits_after = (8 * MIB - 30_000) / MIB;
        assert_eq!(
            u64::from(lower),
            20 + fits_after - 10,
            "down to what the whole budget allows"
        );
        w.settled(10, 30_000);
        assert!(exposure(&w) <= 8 * MIB);
    }

    #[test]
    fn big_bodies_come_one_at_a_time_and_the_budget_holds_for_the_ones_that_fit() {
        let w = window(8, 1, 4000);
        for i in 0..50u64 {
            // Alternating full slots and oversize bodies; settle every other one.
            let size = if i % 5 == 4 { 3 * MIB } else { MIB };
            w.received(size as usize);
            if size > MIB {
                assert_eq!(w.target.load(Relaxed), 1, "an oversize body restarts slow start");
            }
            w.raise();
            if i % 2 == 1 {
                settle_all(&w);
                w.raise();
                assert!(exposure(&w) <= 8 * MIB, "after settling everything held");
            }
            assert!(w.limit.load(Relaxed) >= 1, "0 would mean no cap at all");
        }
    }

    #[test]
    fn a_busy_window_borrows_past_its_own_up_to_half_the_pool_and_gives_it_back() {
        let shared = pool(4);
        let busy = Window::new(shared.clone());
        receive(&busy, 200);
        assert_eq!(busy.target.load(Relaxed), 16, "half of 4 × 8 MiB in 1 MiB slots");
        assert!(
            busy.grant() > 8 * MIB,
            "borrowed past one budget: {}",
            busy.grant()
        );
        assert!(exposure(&busy) <= busy.grant() && busy.grant() <= 16 * MIB);
        let quiet = Window::new(shared.clone());
        receive(&quiet, 1);
        assert!(
            exposure(&quiet) <= quiet.grant(),
            "the quiet window keeps within what it has"
        );
        assert_eq!(
            shared.free.load(Relaxed) + busy.grant() + quiet.grant() + 2 * (2 * MIB),
            32 * MIB,
            "every byte is free or held by one window (two members have no window)"
        );
        drop(busy);
        drop(quiet);
        assert_eq!(
            shared.free.load(Relaxed),
            32 * MIB - 4 * (2 * MIB),
            "dropped windows give back"
        );
    }

    #[test]
    fn windows_sharing_a_pool_never_expose_more_than_it_holds() {
        let shared = pool(3);
        let windows: Vec<Window> = (0..3).map(|_| Window::new(shared.clone())).collect();
        // A small deterministic generator: which window moves, and how.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            let w = &windows[next(3) as usize];
            // Bodies up to a slot: a bigger one overruns its slot in any window.
            match next(10) {
                0 => settle_all(w),
                _ => {
                    // Only what the broker may send arrives.
                    if w.received.load(Relaxed) < w.horizon() {
                        w.received(1 + next(MIB) as usize);
                    }
                    w.raise();
                }
            }
            for w in &windows {
                assert!(exposure(w) <= w.grant(), "a window exposes more than it holds");
            }
            let exposed: u64 = windows.iter().map(exposure).sum();
            let granted: u64 = windows.iter().map(|w| w.grant()).sum();
            assert!(exposed <= 24 * MIB, "{exposed} exposed of 24 MiB");
            assert_eq!(
                granted + shared.free.load(Relaxed),
                24 * MIB,
                "no byte made or lost"
            );
        }
    }

    #[test]
    fn a_run_of_oversize_bodies_comes_one_at_a_time_in_a_pool_too() {
        let w = Window::new(pool(7));
        for _ in 0..20 {
            w.received(3 * MIB as usize);
            w.raise();
            let unacked = w.received.load(Relaxed) - w.settled.load(Relaxed);
            assert_eq!(
                w.limit.load(Relaxed),
                unacked,
                "nothing more in transit while a big body is held"
            );
            settle_all(&w);
            w.raise();
        }
    }
}
