//! Metered mailboxes: an actor's address paired with its `ceilo_actor_mailbox_depth` gauge.
//!
//! actix does not tell how many messages wait in a mailbox, so the count is kept on the way
//! in and out: [`Mailbox::send`] takes a [`MailboxSlot`] (depth +1) just before handing the
//! message to actix, the message travels wrapped in [`Queued`], and the handler calls
//! [`Queued::take`] on entry, which drops the slot (depth −1). A message that never reaches a
//! handler (the actor is gone, the sender's future was dropped) drops its slot with it, so the
//! gauge counts exactly the messages sent and not yet taken. Actors handle `Queued<M>`, not
//! `M`, so a send that bypasses the count does not compile.
//!
//! One gauge increment and one decrement per message; messages are batches. It does not
//! meter control messages (drain, flush, failure injection): those go through
//! [`Mailbox::addr`].

use actix::dev::{Request, ToEnvelope};
use actix::prelude::*;

use crate::telemetry::handles::{ActorMetrics, MailboxSlot};

/// An actor's address and its mailbox gauge.
pub struct Mailbox<A: Actor> {
    addr: Addr<A>,
    metrics: ActorMetrics,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Mailbox {
            addr: self.addr.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<A: Actor> Mailbox<A> {
    /// `metrics` must be the ones the actor itself reports (same kind and id).
    pub fn new(addr: Addr<A>, metrics: ActorMetrics) -> Self {
        Mailbox { addr, metrics }
    }

    /// The bare address, for unmetered control messages.
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// `Addr::send`, counting `msg` as waiting from now until its handler takes it.
    pub fn send<M>(&self, msg: M) -> Request<A, Queued<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Queued<M>>,
        A::Context: ToEnvelope<A, Queued<M>>,
    {
        let slot = self.metrics.enqueue();
        self.addr.send(Queued { msg, _slot: slot })
    }
}

/// A message counted in its actor's mailbox depth until [`Queued::take`].
pub struct Queued<M> {
    msg: M,
    _slot: MailboxSlot,
}

impl<M: Message> Message for Queued<M> {
    type Result = M::Result;
}

impl<M> Queued<M> {
    /// The message, out of the mailbox count. Call it first thing in the handler.
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

    #[test]
    fn depth_counts_messages_sent_and_not_yet_taken() {
        let prometheus = crate::telemetry::install_recorder().expect("recorder");
        System::new().block_on(async {
            let id = "mailbox-unit-depth";
            let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
            let addr = Slow { gate: gate.clone() }.start();
            let mailbox = Mailbox::new(addr, ActorMetrics::new(ActorKind::Batcher, id, 8));
            // The first is taken and held by the handler; two wait behind it.
            let sends: Vec<_> = (0..3).map(|_| mailbox.send(Work)).collect();
            let waiting = async {
                while depth(&prometheus, id) != 2.0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("depth 2 while the handler holds the first");
            gate.add_permits(3);
            for send in sends {
                send.await.expect("handled");
            }
            assert_eq!(depth(&prometheus, id), 0.0);
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
