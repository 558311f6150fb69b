//! The pipeline actor: drops invalid volumes, routes each converted batch through the sample
//! and event pipelines, and hands every publisher its part with a share of the batch's token.
//!
//! The routing itself is [`crate::pipeline::Pipeline`] (pure); this actor only moves batches.
//! It forwards with `send().await` inside an atomic response, so while a publisher's mailbox is
//! full this actor takes no new batch and its own bounded mailbox fills in turn.

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::prelude::*;

use super::converter::ConvertedBatch;
use crate::pipeline::Pipeline;
use crate::publish::{PublishBatch, PublisherActor};
use crate::telemetry::handles::{ActorMetrics, PipelineMetrics};
use crate::telemetry::metrics::ActorKind;

const MAILBOX: usize = 32;

/// Make the next batch's handler panic (tests of supervision).
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

pub struct PipelineActor {
    samples: Pipeline,
    events: Pipeline,
    sample_publishers: Vec<Addr<PublisherActor>>,
    event_publishers: Vec<Addr<PublisherActor>>,
    dead_letter: Addr<PublisherActor>,
    panic_next: bool,
    metrics: PipelineMetrics,
    actor: ActorMetrics,
}

impl PipelineActor {
    pub fn new(
        samples: Pipeline,
        events: Pipeline,
        sample_publishers: Vec<Addr<PublisherActor>>,
        event_publishers: Vec<Addr<PublisherActor>>,
        dead_letter: Addr<PublisherActor>,
    ) -> Self {
        PipelineActor {
            samples,
            events,
            sample_publishers,
            event_publishers,
            dead_letter,
            panic_next: false,
            metrics: PipelineMetrics::new(),
            actor: ActorMetrics::new(ActorKind::Pipeline, "pipeline", MAILBOX),
        }
    }

    /// Route a batch: one message per publisher that gets something.
    fn route(&mut self, batch: ConvertedBatch) -> Vec<(Addr<PublisherActor>, PublishBatch)> {
        if std::mem::take(&mut self.panic_next) {
            panic!("injected panic");
        }
        let ConvertedBatch {
            samples,
            events,
            dead,
            token,
            dropped,
            ..
        } = batch;
        // Samples whose volume Ceilometer's pipeline drops were split off by the converter
        // (`convert::Converted::dropped_samples`, meter::volume); `dropped` counts them.
        let (samples, filtered) = self.samples.route_counting(samples);
        self.metrics.samples_filtered(dropped + filtered);
        let (events, filtered) = self.events.route_counting(events);
        self.metrics.events_filtered(filtered);
        let mut out = Vec::new();
        for (addr, samples) in self.sample_publishers.iter().zip(samples) {
            if !samples.is_empty() {
                let b = PublishBatch {
                    samples,
                    events: Vec::new(),
                    dead: Vec::new(),
                    token: token.share(),
                };
                out.push((addr.clone(), b));
            }
        }
        for (addr, events) in self.event_publishers.iter().zip(events) {
            if !events.is_empty() {
                let b = PublishBatch {
                    samples: Vec::new(),
                    events,
                    dead: Vec::new(),
                    token: token.share(),
                };
                out.push((addr.clone(), b));
            }
        }
        if !dead.is_empty() {
            let b = PublishBatch {
                samples: Vec::new(),
                events: Vec::new(),
                dead,
                token: token.share(),
            };
            out.push((self.dead_letter.clone(), b));
        }
        // This stage's own part is done; the batch now waits on the publishers' shares.
        token.confirm();
        out
    }
}

impl Actor for PipelineActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Supervised for PipelineActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("pipeline actor restarting");
        self.actor.restarted();
    }
}

impl Handler<ConvertedBatch> for PipelineActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, batch: ConvertedBatch, ctx: &mut Context<Self>) -> Self::Result {
        let sends = match catch_unwind(AssertUnwindSafe(|| self.route(batch))) {
            Ok(sends) => sends,
            Err(_) => {
                // The batch's token was dropped unconfirmed while unwinding: it will be requeued.
                tracing::error!("pipeline panicked; restarting it");
                ctx.stop();
                Vec::new()
            }
        };
        AtomicResponse::new(Box::pin(
            async move {
                for (addr, batch) in sends {
                    if let Err(e) = addr.send(batch).await {
                        // The message (and its token share) is gone: the batch will be requeued.
                        tracing::error!(error = %e, "publisher unavailable");
                    }
                }
            }
            .into_actor(self),
        ))
    }
}

impl Handler<InjectPanic> for PipelineActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, _: &mut Context<Self>) {
        self.panic_next = true;
    }
}
