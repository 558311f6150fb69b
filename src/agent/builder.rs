//! Builds the actor tree of a notification agent, one stage per method, in the order the stages
//! depend on each other: a stage starts only after what it sends to is running.
//! [`AgentBuilder::build`] runs them:
//!
//! 1. `publishers`: one per publisher URL of each sink, and the dead-letter one;
//! 2. `partitions`: with several agents and a stateful sink, the publisher to the
//!    transform-partition queues ([`crate::publish::partition`]);
//! 3. `pipeline`: routes converted batches to those publishers;
//! 4. `converter_pool`: worker threads converting into the pipeline;
//! 5. `notification_listeners` and `partition_listeners`: consume into the pool.
//!
//! What this module does not do: load or validate the config ([`super::config`]), run or stop
//! the agent ([`mod@super::run`]), or start the polling agent ([`super::polling`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::config::{converter_workers, listener_budget, notification_queues};
use super::converter::ConverterPool;
use super::listener::{Listener, ListenerConfig, ListenerStatus};
use super::mailbox::Mailbox;
use super::pipeline::PipelineActor;
use super::publisher::PublisherActor;
use super::publishers::{Factory, SinkPublisher, Sinks};
use super::window::SharedBudget;
use super::{partitions, reload, Agent, AgentError, Convert};
use crate::config::Settings;
use crate::model::Payload;
use crate::pipeline::{Pipeline, SampleStage};
use crate::publish::partition::{self, PartitionOutput};
use crate::telemetry::Readiness;
use crate::transport::{self, PublishTopology, QueueSpec, Transport};

/// What every stage shares: the settings, the main broker, the publisher factory, the runtime
/// the actors' futures run on and the shutdown signal the listeners watch.
pub struct AgentBuilder {
    settings: Settings,
    /// The broker of `transport_url`: publishers and the partition queues use it, and so do the
    /// listeners of the consumed URL that is the same.
    main: Arc<dyn Transport>,
    factory: Factory,
    runtime: tokio::runtime::Handle,
    readiness: Readiness,
    shutdown: watch::Sender<bool>,
}

/// The publishers started for the pipelines.
struct Publishers {
    sinks: Sinks,
    dead_letter: Mailbox<PublisherActor>,
}

/// Transform partitions: the publisher that hands samples for stateful sinks to the partition
/// queues, and those queues, which this agent consumes too.
struct Partitions {
    publisher: Mailbox<PublisherActor>,
    queues: Vec<QueueSpec>,
}

impl AgentBuilder {
    /// Call from inside an `actix::System` whose tokio runtime is `runtime` (multi-threaded;
    /// see [`super::run()`]): the stages start actors on the current arbiter.
    pub fn new(
        settings: Settings,
        config_dir: &Path,
        runtime: tokio::runtime::Handle,
        readiness: Readiness,
    ) -> Result<AgentBuilder, AgentError> {
        let main = transport::from_url_with(&settings.transport_url, &settings.rabbit)?;
        let factory = Factory::new(
            &settings,
            main.clone(),
            runtime.clone(),
            readiness.clone(),
            config_dir,
        );
        Ok(AgentBuilder {
            settings,
            main,
            factory,
            runtime,
            readiness,
            shutdown: watch::channel(false).0,
        })
    }

    /// Start every stage, last consumer first, and return the running agent.
    pub fn build(
        self,
        samples: Pipeline,
        events: Pipeline,
        converter: Arc<dyn Convert>,
    ) -> Result<Agent, AgentError> {
        let publishers = self.publishers(&samples, &events)?;
        let partitions = self.partitions(&samples);
        // The converter pool's channel and the pipeline's mailbox, in batches: two per worker
        // keep every worker busy while the next batches wait (docs/runtime.md, Backpressure).
        let workers = converter_workers(&self.settings);
        let bound = workers * 2;
        let pipeline = self.pipeline(samples, events, &publishers, partitions.as_ref(), bound);
        let converter = Arc::new(reload::Current::new(converter));
        let pool = self.converter_pool(workers, bound, converter.clone(), &pipeline)?;
        let budget = listener_budget(&self.settings).map(|b| Arc::new(SharedBudget::new(b)));
        // With partitions, the stateful sinks run on what the partition queues bring instead.
        let stage = match partitions {
            Some(_) => SampleStage::Ingest,
            None => SampleStage::All,
        };
        let mut listeners = self.notification_listeners(&pool, &budget, stage)?;
        let mut others = vec![publishers.dead_letter.addr().clone()];
        if let Some(partitions) = partitions {
            others.push(partitions.publisher.addr().clone());
            listeners.extend(self.partition_listeners(&pool, &budget, partitions.queues)?);
        }
        Ok(Agent {
            shutdown: self.shutdown,
            listeners,
            publishers: others,
            factory: self.factory,
            sinks: publishers.sinks,
            pipeline: pipeline.addr().clone(),
            converter,
            readiness: self.readiness,
        })
    }

    /// The publishers of every sink, each pipeline's in its order, and the dead-letter one.
    /// Every output is built before any sink's actor starts, so a bad one starts nothing.
    fn publishers(&self, samples: &Pipeline, events: &Pipeline) -> Result<Publishers, AgentError> {
        let sinks = Sinks {
            samples: self.factory.build(samples, Payload::Samples, &mut Vec::new())?,
            events: self.factory.build(events, Payload::Events, &mut Vec::new())?,
        };
        let dead_letter = self.factory.start_dead_letter();
        Ok(Publishers { sinks, dead_letter })
    }

    /// Several agents and a stateful sink: every resource gets one owner through the partition
    /// queues (see [`crate::publish::partition`]). None when there are no partitions or no
    /// stateful sink.
    fn partitions(&self, samples: &Pipeline) -> Option<Partitions> {
        let n = &self.settings.notification;
        if n.transform_partitions == 0 || !samples.is_stateful() {
            return None;
        }
        let queues = partition::partition_queues(n.transform_partitions, n.prefetch);
        let publisher = self.main.publisher(PublishTopology {
            queues: queues.clone(),
            ..Default::default()
        });
        let output = PartitionOutput::new(
            n.transform_partitions,
            &self.settings.publisher.telemetry_secret,
            &self.settings.host(),
            publisher,
        );
        let publisher = self.factory.start(Box::new(output), "transform-partitions", None);
        Some(Partitions { publisher, queues })
    }

    /// The pipeline actor, sending to `publishers` (and the samples of stateful sinks to the
    /// partition publisher, if any), with a mailbox of `bound` batches.
    fn pipeline(
        &self,
        samples: Pipeline,
        events: Pipeline,
        publishers: &Publishers,
        partitions: Option<&Partitions>,
        bound: usize,
    ) -> Mailbox<PipelineActor> {
        let mailboxes =
            |sinks: &[SinkPublisher]| -> Vec<_> { sinks.iter().map(|p| p.mailbox.clone()).collect() };
        let pipeline = PipelineActor::new(
            samples,
            events,
            mailboxes(&publishers.sinks.samples),
            mailboxes(&publishers.sinks.events),
            publishers.dead_letter.clone(),
            bound,
        );
        match partitions {
            Some(p) => pipeline.with_partitions(p.publisher.clone()),
            None => pipeline,
        }
        .start_supervised()
    }

    /// `workers` conversion threads behind a channel of `bound` batches, converting with what
    /// `converter` holds (a reload replaces it) into `pipeline`.
    fn converter_pool(
        &self,
        workers: usize,
        bound: usize,
        converter: Arc<reload::Current<dyn Convert>>,
        pipeline: &Mailbox<PipelineActor>,
    ) -> Result<ConverterPool, AgentError> {
        let max_body = usize::try_from(self.settings.notification.max_body_bytes).unwrap_or(usize::MAX);
        let pipeline = pipeline.clone();
        // A worker waits while the pipeline's mailbox is full.
        let downstream = move |batch| futures_lite::future::block_on(pipeline.tell(batch));
        ConverterPool::start(workers, bound, max_body, converter, downstream)
            .map_err(|e| AgentError::Runtime(format!("converter threads: {e}")))
    }

    /// A listener per notification queue on every consumed URL (none when
    /// `notification.enabled` is off), its samples taking `stage` of the pipeline.
    fn notification_listeners(
        &self,
        pool: &ConverterPool,
        budget: &Option<Arc<SharedBudget>>,
        stage: SampleStage,
    ) -> Result<Vec<Arc<ListenerStatus>>, AgentError> {
        let mut listeners = Vec::new();
        if !self.settings.notification.enabled {
            return Ok(listeners);
        }
        for url in self.settings.consume_urls() {
            let transport: Arc<dyn Transport> = if url == self.settings.transport_url {
                self.main.clone()
            } else {
                transport::from_url_with(&url, &self.settings.rabbit)?
            };
            for spec in notification_queues(&self.settings) {
                listeners.push(self.listen(pool, budget, stage, transport.clone(), spec, None));
            }
        }
        Ok(listeners)
    }

    /// A listener per partition queue: every agent subscribes to every one and the broker makes
    /// one consumer at a time active; with coordination, each consumes only while the hash ring
    /// gives it the partition (see [`partitions`]).
    fn partition_listeners(
        &self,
        pool: &ConverterPool,
        budget: &Option<Arc<SharedBudget>>,
        queues: Vec<QueueSpec>,
    ) -> Result<Vec<Arc<ListenerStatus>>, AgentError> {
        let gates = partitions::gates(
            &self.settings,
            queues.len(),
            &self.runtime,
            self.shutdown.subscribe(),
        )?;
        Ok(queues
            .into_iter()
            .zip(gates)
            .map(|(spec, owned)| {
                self.listen(pool, budget, SampleStage::Owned, self.main.clone(), spec, owned)
            })
            .collect())
    }

    /// One supervised listener consuming `spec` on `transport` into `pool`; with `owned`, only
    /// while it says the queue is this agent's.
    fn listen(
        &self,
        pool: &ConverterPool,
        budget: &Option<Arc<SharedBudget>>,
        stage: SampleStage,
        transport: Arc<dyn Transport>,
        spec: QueueSpec,
        owned: Option<watch::Receiver<bool>>,
    ) -> Arc<ListenerStatus> {
        let n = &self.settings.notification;
        // Each listener brings its budget to the pool its windows borrow from.
        let budget = budget.clone().inspect(|shared| shared.join());
        let (_, status) = Listener::start_supervised(ListenerConfig {
            owned,
            budget,
            stage,
            transport,
            spec,
            batch_size: n.batch_size,
            batch_timeout: Duration::from_millis(n.batch_timeout_ms),
            converter: pool.clone(),
            runtime: self.runtime.clone(),
            shutdown: self.shutdown.subscribe(),
            readiness: self.readiness.clone(),
        });
        status
    }
}
