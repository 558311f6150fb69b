//! The pipeline actor: routes each converted batch through the sample and event pipelines
//! (counting the samples the converter dropped for their volume as filtered), and hands every
//! publisher its part with a share of the batch's token.
//!
//! The routing itself is [`crate::pipeline::Pipeline`] (pure); this actor only moves batches.
//! Sink transformers run inside it, so there is one chain state per agent: every sample of a
//! resource that reaches this agent passes one chain, in order. A timer flushes aggregator
//! retention; [`FlushTransformers`] releases all transformer state at shutdown. [`Reload`]
//! swaps in new pipelines between two batches (see [`super::reload`]).
//! It hands each publisher its part inside an atomic response, waiting while that publisher's
//! bounded mailbox is full ([`Mailbox::tell`]): meanwhile it takes no new batch, and its own
//! mailbox (`2 × notification.workers` batches) fills in turn, which stops the converters.

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::prelude::*;

use super::converter::ConvertedBatch;
use super::mailbox::{Mailbox, Queued};
use super::publisher::{PublishBatch, PublisherActor};
use crate::agent::ack::AckToken;
use crate::model::py::datetime::Timestamp;
use crate::model::Sample;
use crate::pipeline::{Pipeline, SampleStage};
use crate::publish::Items;
use crate::telemetry::handles::{ActorMetrics, PipelineMetrics};
use crate::telemetry::metrics::ActorKind;

/// Release everything the sinks' transformers hold (shutdown) and publish it. The reply is a
/// token shared with those publishes: [`AckToken::others_done`] tells when they are confirmed.
#[derive(Message)]
#[rtype(result = "AckToken")]
pub struct FlushTransformers;

/// Take new pipelines (a SIGHUP reload) and their publishers, between two batches. Refused,
/// with the reason, when the partitioned flow would change shape. A sink whose definition is
/// unchanged keeps its transformer state; what a changed or removed sink's transformers hold
/// is published to the old publishers first. The reply names the sinks that kept their state.
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, String>")]
pub struct Reload {
    pub samples: Pipeline,
    pub events: Pipeline,
    pub sample_publishers: Vec<Mailbox<PublisherActor>>,
    pub event_publishers: Vec<Mailbox<PublisherActor>>,
}

/// Make the next batch's handler panic (tests of supervision).
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectPanic;

/// Take no message until `release` fires or is dropped (tests of backpressure). Send it with
/// `do_send`: its reply comes only then.
#[doc(hidden)]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectStall {
    pub release: tokio::sync::oneshot::Receiver<()>,
}

pub struct PipelineActor {
    samples: Pipeline,
    events: Pipeline,
    sample_publishers: Vec<Mailbox<PublisherActor>>,
    event_publishers: Vec<Mailbox<PublisherActor>>,
    dead_letter: Mailbox<PublisherActor>,
    /// Publishes samples for stateful sinks to their partition queues (several agents).
    partitions: Option<Mailbox<PublisherActor>>,
    panic_next: bool,
    /// The aggregator retention timer, if a sink needs one.
    flush_timer: Option<SpawnHandle>,
    metrics: PipelineMetrics,
    actor: ActorMetrics,
}

impl PipelineActor {
    pub fn new(
        samples: Pipeline,
        events: Pipeline,
        sample_publishers: Vec<Mailbox<PublisherActor>>,
        event_publishers: Vec<Mailbox<PublisherActor>>,
        dead_letter: Mailbox<PublisherActor>,
        mailbox: usize,
    ) -> Self {
        PipelineActor {
            samples,
            events,
            sample_publishers,
            event_publishers,
            dead_letter,
            partitions: None,
            panic_next: false,
            flush_timer: None,
            metrics: PipelineMetrics::new(),
            actor: ActorMetrics::new(ActorKind::Pipeline, "pipeline", mailbox),
        }
    }

    /// Start under a supervisor on the current arbiter; batches go in through the mailbox.
    pub fn start_supervised(self) -> Mailbox<PipelineActor> {
        let metrics = self.actor.clone();
        Mailbox::new(Supervisor::start(move |_| self), metrics)
    }

    /// Send samples for stateful sinks to `partitions` (see [`crate::publish::partition`])
    /// instead of running those sinks here.
    pub fn with_partitions(mut self, partitions: Mailbox<PublisherActor>) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// Route a batch: one message per publisher that gets something.
    fn route(&mut self, batch: ConvertedBatch) -> Vec<(Mailbox<PublisherActor>, PublishBatch)> {
        if std::mem::take(&mut self.panic_next) {
            panic!("injected panic");
        }
        let ConvertedBatch {
            items,
            token,
            dropped,
            stage,
        } = batch;
        let Items {
            samples,
            events,
            dead,
        } = items;
        // Samples whose volume Ceilometer's pipeline drops were split off by the converter
        // (`convert::Converted::dropped_samples`, meter::volume); `dropped` counts them.
        // Without a partition publisher this agent owns every resource: run every sink.
        let stage = match (&self.partitions, stage) {
            (None, _) | (Some(_), SampleStage::All) => SampleStage::All,
            (Some(_), stage) => stage,
        };
        let (samples, deferred, filtered) =
            self.samples
                .route_samples_staged(samples, &Timestamp::now_utc(), stage);
        self.metrics.samples_filtered(dropped + filtered);
        let (events, filtered) = self.events.route_counting(events);
        self.metrics.events_filtered(filtered);
        let mut out = Vec::new();
        let mut send = |addr: &Mailbox<PublisherActor>, items: Items| {
            if !items.is_empty() {
                let token = token.share();
                out.push((addr.clone(), PublishBatch { items, token }));
            }
        };
        for (addr, samples) in self.sample_publishers.iter().zip(samples) {
            send(addr, Items::from(samples));
        }
        for (addr, events) in self.event_publishers.iter().zip(events) {
            send(addr, Items::from(events));
        }
        if let Some(addr) = &self.partitions {
            send(addr, Items::from(deferred));
        }
        send(&self.dead_letter, Items::from(dead));
        // This stage's own part is done; the batch now waits on the publishers' shares.
        token.confirm();
        out
    }
}

impl PipelineActor {
    /// One publish per sample publisher that gets something from a transformer flush; these
    /// samples come from no delivery still waiting, so they carry shares of `token`.
    fn transformer_sends(
        &self,
        batches: Vec<Vec<Sample>>,
        token: &AckToken,
    ) -> Vec<(Mailbox<PublisherActor>, PublishBatch)> {
        self.sample_publishers
            .iter()
            .zip(batches)
            .filter(|(_, samples)| !samples.is_empty())
            .map(|(addr, samples)| {
                let (items, token) = (Items::from(samples), token.share());
                (addr.clone(), PublishBatch { items, token })
            })
            .collect()
    }
}

impl Actor for PipelineActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.schedule_flush(ctx);
    }
}

impl PipelineActor {
    /// (Re)start the aggregator retention timer at the current sinks' interval.
    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.flush_timer.take() {
            ctx.cancel_future(timer);
        }
        let Some(every) = self.samples.flush_interval() else {
            return;
        };
        self.flush_timer = Some(ctx.run_interval(every, |act, ctx| {
            let batches = act.samples.flush_transformers(&Timestamp::now_utc(), false);
            let sends = act.transformer_sends(batches, &AckToken::detached());
            if sends.is_empty() {
                return;
            }
            ctx.spawn(
                async move {
                    for (addr, batch) in sends {
                        addr.tell(batch).await;
                    }
                }
                .into_actor(act),
            );
        }));
    }
}

impl Handler<Reload> for PipelineActor {
    type Result = AtomicResponse<Self, Result<Vec<String>, String>>;

    fn handle(&mut self, reload: Reload, ctx: &mut Context<Self>) -> Self::Result {
        let Reload {
            mut samples,
            events,
            sample_publishers,
            event_publishers,
        } = reload;
        if self.partitions.is_some() && samples.is_stateful() != self.samples.is_stateful() {
            let reason = "pipeline.yaml: with notification.transform_partitions, adding the first \
                          or removing the last stateful transformer needs a restart";
            return AtomicResponse::new(Box::pin(fut::ready(Err(reason.to_owned()))));
        }
        let kept = samples.keep_transformer_state(&mut self.samples);
        let mut old = std::mem::replace(&mut self.samples, samples);
        // What the old chains hold goes to the old publishers, where it would have gone.
        let batches = old.flush_transformers(&Timestamp::now_utc(), true);
        let sends = self.transformer_sends(batches, &AckToken::detached());
        self.events = events;
        self.sample_publishers = sample_publishers;
        self.event_publishers = event_publishers;
        self.schedule_flush(ctx);
        AtomicResponse::new(Box::pin(
            async move {
                for (addr, batch) in sends {
                    addr.tell(batch).await;
                }
                Ok(kept)
            }
            .into_actor(self),
        ))
    }
}

impl Handler<FlushTransformers> for PipelineActor {
    type Result = AtomicResponse<Self, AckToken>;

    fn handle(&mut self, _: FlushTransformers, _: &mut Context<Self>) -> Self::Result {
        let batches = self.samples.flush_transformers(&Timestamp::now_utc(), true);
        let token = AckToken::detached();
        let sends = self.transformer_sends(batches, &token);
        AtomicResponse::new(Box::pin(
            async move {
                for (addr, batch) in sends {
                    addr.tell(batch).await;
                }
                token
            }
            .into_actor(self),
        ))
    }
}

impl Supervised for PipelineActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("pipeline actor restarting");
        self.actor.restarted();
        // The timer died with the old context; `started` schedules it again.
        self.flush_timer = None;
    }
}

impl Handler<Queued<ConvertedBatch>> for PipelineActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, batch: Queued<ConvertedBatch>, ctx: &mut Context<Self>) -> Self::Result {
        let batch = batch.take();
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
                    // To a publisher that is gone the batch's share is dropped: it is requeued.
                    addr.tell(batch).await;
                }
            }
            .into_actor(self),
        ))
    }
}

impl Handler<InjectStall> for PipelineActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, stall: InjectStall, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(
            async move {
                let _ = stall.release.await;
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
