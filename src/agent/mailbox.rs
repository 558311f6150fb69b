//! Bounded, metered mailboxes: the hand-offs between the agent's stages.
//!
//! A [`Bound`] is one queue's room and depth. [`Bound::enter`] waits until the queue has room
//! (a full queue makes its sender wait, before anything is enqueued), counts the message in
//! `ceilo_actor_mailbox_depth` and returns the [`Slot`] the message then carries; the receiver
//! drops the slot as it takes the message, which takes it out of the count and frees its room.
//! The room is shared by every clone, so the capacity holds whatever the number of senders.
//! A message that never reaches a receiver (the actor is gone, the sender's future was
//! dropped) drops its slot with it, so neither the room nor the gauge can drift.
//!
//! [`Mailbox`] is an actor's address behind a bound. actix's own mailbox capacity is no bound:
//! a sender that finds it full still enqueues and only then waits, once per `Addr` clone. So
//! batches go through [`Mailbox::send`] or [`Mailbox::tell`], and actors handle `Queued<M>`,
//! not `M`: a send that bypasses the bound does not compile. Control messages (drain, flush,
//! failure injection) are few and go through [`Mailbox::addr`], unbounded and unmetered.
//! The converter pool's channel is held to a bound the same way (see [`super::converter`]).
//!
//! One semaphore acquire and one gauge increment and decrement per message; messages are
//! batches.

use std::sync::Arc;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::telemetry::handles::{ActorMetrics, MailboxSlot};

/// The room of one bounded queue (`metrics.capacity()` messages) and its depth gauge.
#[derive(Clone)]
pub struct Bound {
    room: Arc<Semaphore>,
    metrics: ActorMetrics,
}

impl Bound {
    /// `metrics` must be the ones the receiver itself reports (same kind and id); their
    /// capacity (at least 1) is the bound.
    pub fn new(metrics: ActorMetrics) -> Self {
        Bound {
            room: Arc::new(Semaphore::new(metrics.capacity().max(1))),
            metrics,
        }
    }

    /// Waits for room in the queue, then counts one message in it until the slot is dropped.
    pub async fn enter(&self) -> Slot {
        // Never closed: acquiring can only wait.
        let room = self.room.clone().acquire_owned().await.ok();
        Slot {
            _depth: self.metrics.enqueue(),
            _room: room,
        }
    }
}

/// One message's place in a bounded queue. Dropped, it leaves the depth count first, then
/// frees its room, so the gauge never reads above the capacity.
pub struct Slot {
    _depth: MailboxSlot,
    _room: Option<OwnedSemaphorePermit>,
}

/// An actor's address behind a [`Bound`].
pub struct Mailbox<A: Actor> {
    addr: Addr<A>,
    bound: Bound,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Mailbox {
            addr: self.addr.clone(),
            bound: self.bound.clone(),
        }
    }
}

impl<A: Actor> Mailbox<A> {
    /// `metrics` must be the ones the actor itself reports (same kind and id); their capacity
    /// is the mailbox's bound.
    pub fn new(addr: Addr<A>, metrics: ActorMetrics) -> Self {
        Mailbox {
            addr,
            bound: Bound::new(metrics),
        }
    }

    /// The bare address, for unmetered control messages.
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// Waits for room, hands `msg` over and waits for its handler's result.
    pub async fn send<M>(&self, msg: M) -> Result<M::Result, MailboxError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Queued<M>>,
        A::Context: ToEnvelope<A, Queued<M>>,
    {
        let slot = self.bound.enter().await;
        self.addr.send(Queued { msg, _slot: slot }).await
    }

    /// Waits for room and hands `msg` over, without waiting for it to be handled. To an actor
    /// that is gone the message is dropped, with whatever it carries (an ack token share fails
    /// its batch, which is then requeued).
    pub async fn tell<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Queued<M>>,
        A::Context: ToEnvelope<A, Queued<M>>,
    {
        let slot = self.bound.enter().await;
        self.addr.do_send(Queued { msg, _slot: slot });
    }
}

/// A message counted in its receiver's queue until [`Queued::take`].
pub struct Queued<M> {
    msg: M,
    _slot: Slot,
}

impl<M: Message> Message for Queued<M> {
    type Result = M::Result;
}

impl<M> Queued<M> {
    /// Counts `msg` in the queue of `slot` (for queues that are not actor mailboxes).
    pub fn new(msg: M, slot: Slot) -> Self {
        Queued { msg, _slot: slot }
    }

    /// The message, out of the queue: its room is free again. Call it first thing in the
    /// handler.
    pub fn take(self) -> M {
        self.msg
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::telemetry::metrics::{ActorKind, ACTOR_MAILBOX_DEPTH};

    /// Holds every message until told to go on.
    struct Slow {
        gate: std::sync::Arc<tokio::sync::Semaphore>,
    }

    impl Actor for Slow {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Work;

    impl Handler<Queued<Work>> for Slow {
        type Result = AtomicResponse<Self, ()>;

        fn handle(&mut self, msg: Queued<Work>, _: &mut Context<Self>) -> Self::Result {
            let Work = msg.take();
            let gate = self.gate.clone();
            AtomicResponse::new(Box::pin(
                async move {
                    let _ = gate.acquire().await.map(|p| p.forget());
                }
                .into_actor(self),
            ))
        }
    }

    fn depth(prometheus: &metrics_exporter_prometheus::PrometheusHandle, id: &str) -> f64 {
        let exposition = crate::telemetry::scrape::parse(&prometheus.render()).expect("own render parses");
        exposition.sum(ACTOR_MAILBOX_DEPTH, &[("actor", "batcher"), ("id", id)])
    }

    /// Waits (5 s at most) until `ok` holds.
    async fn until(what: &str, mut ok: impl FnMut() -> bool) {
        let waiting = async {
            while !ok() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }

    #[test]
    fn depth_counts_messages_sent_and_not_yet_taken() {
        let prometheus = crate::telemetry::install_recorder().expect("recorder");
        System::new().block_on(async {
            let id = "mailbox-unit-depth";
            let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
            let addr = Slow { gate: gate.clone() }.start();
            let mailbox = Mailbox::new(addr, ActorMetrics::new(ActorKind::Batcher, id, 8));
            // The first is taken and held by the handler; two wait behind it.
            let sends: Vec<_> = (0..3)
                .map(|_| {
                    let mailbox = mailbox.clone();
                    actix::spawn(async move { mailbox.send(Work).await })
                })
                .collect();
            until("depth 2 while the handler holds the first", || {
                depth(&prometheus, id) == 2.0
            })
            .await;
            gate.add_permits(3);
            for send in sends {
                send.await.expect("joined").expect("handled");
            }
            assert_eq!(depth(&prometheus, id), 0.0);
        });
    }

    #[test]
    fn a_full_mailbox_makes_every_sender_wait_before_it_enqueues() {
        let prometheus = crate::telemetry::install_recorder().expect("recorder");
        System::new().block_on(async {
            let id = "mailbox-unit-full";
            let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
            let addr = Slow { gate: gate.clone() }.start();
            let mailbox = Mailbox::new(addr, ActorMetrics::new(ActorKind::Batcher, id, 2));
            // Each sender with its own clone (as listeners and workers have): the handler holds
            // the first, two fill the mailbox, the other three wait outside it.
            let told = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for _ in 0..6 {
                let (mailbox, told) = (mailbox.clone(), told.clone());
                actix::spawn(async move {
                    mailbox.tell(Work).await;
                    told.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            until("a full mailbox", || depth(&prometheus, id) == 2.0).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(depth(&prometheus, id), 2.0, "never above the capacity");
            assert_eq!(
                told.load(std::sync::atomic::Ordering::SeqCst),
                3,
                "three senders wait"
            );
            gate.add_permits(6);
            until("every message handed over", || {
                told.load(std::sync::atomic::Ordering::SeqCst) == 6
            })
            .await;
            until("an empty mailbox", || depth(&prometheus, id) == 0.0).await;
        });
    }

    /// Stops as soon as it starts.
    struct Gone;

    impl Actor for Gone {
        type Context = Context<Self>;

        fn started(&mut self, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    impl Handler<Queued<Work>> for Gone {
        type Result = ();

        fn handle(&mut self, msg: Queued<Work>, _: &mut Context<Self>) {
            let Work = msg.take();
        }
    }

    #[test]
    fn a_message_to_a_stopped_actor_leaves_no_depth_behind() {
        let prometheus = crate::telemetry::install_recorder().expect("recorder");
        System::new().block_on(async {
            let id = "mailbox-unit-stopped";
            let addr = Gone.start();
            while addr.connected() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mailbox = Mailbox::new(addr, ActorMetrics::new(ActorKind::Batcher, id, 8));
            assert!(mailbox.send(Work).await.is_err(), "the actor is gone");
            assert_eq!(depth(&prometheus, id), 0.0);
        });
    }
}
