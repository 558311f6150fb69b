//! The actors and the supervision tree: the shell that moves batches between the pure modules.
//!
//! ```text
//! Listener (per queue × URL) ──DeliveryBatch──► ConverterPool (worker threads)
//!   pump task on the main runtime                      │ ConvertedBatch
//!                                                      ▼
//!                       PipelineActor ──PublishBatch──► PublisherActor (per publisher URL)
//!                                     └──────────────► PublisherActor (dead letters)
//! ```
//! Every arrow is a bounded queue whose sender waits while it is full, and which keeps its
//! `ceilo_actor_mailbox_depth` ([`mailbox`]).
//! Every long-lived actor runs under `actix::Supervisor` and catches panics at its handler
//! boundary, so a failure restarts that actor, not the process. [`Agent`] is the root: it builds
//! the tree from the config and drives graceful shutdown. What this module does not do:
//! conversion ([`crate::convert`]), routing ([`crate::pipeline`]), encoding ([`crate::publish`]).

pub mod ack;
pub mod converter;
pub mod duplicates;
pub mod encoders;
pub mod listener;
pub mod mailbox;
pub mod partitions;
pub mod pipeline;
pub mod polling;
pub mod publisher;
pub mod publishers;
pub mod reload;
pub mod summary;
pub mod window;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use crate::config::pipeline::Kind;
use crate::config::{ConfigError, Settings, EVENT_PIPELINE_FILE, PIPELINE_FILE};
use crate::model::Priority;
use crate::pipeline::Pipeline;
use crate::pipeline::SampleStage;
use crate::problem::Problem;
use crate::publish::dead_letter::DeadLetterOutput;
use crate::publish::gnocchi::GnocchiOutput;
use crate::publish::notifier::Carries;
use crate::publish::partition::{self, PartitionOutput};
use crate::publish::PublisherUrl;
use crate::telemetry::Readiness;
use crate::transport::{self, PublishTopology, QueueSpec, Topology, Transport, TransportError};
use publisher::{Drain, PublisherActor};

pub use converter::Convert;
pub use listener::ListenerStatus;

/// Why the agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Config files that do not compile: each problem as `ceilo check` prints it.
    #[error("{}", .0.iter().map(Problem::to_string).collect::<Vec<_>>().join("; "))]
    Problems(Vec<Problem>),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Runtime(String),
    #[error("{0}")]
    Converter(String),
    #[error("polling: {0}")]
    Polling(#[from] crate::polling::StartError),
    #[error("publisher {url}: {reason}")]
    Publisher { url: String, reason: String },
}

/// The exit status of `ceilo run` when SIGTERM's graceful stop gave up after
/// `notification.shutdown_timeout_s` with deliveries still unconfirmed (the broker requeues
/// them: nothing is lost, some may be published twice). 1 is a failure to start, 2 a usage error.
pub const EXIT_SHUTDOWN_TIMED_OUT: u8 = 3;

/// Everything the agent is built from.
pub struct AgentConfig {
    pub settings: Settings,
    /// polling.yaml, when the polling agent runs in this process.
    pub polling: Option<crate::polling::PollingConfig>,
    pub samples: Pipeline,
    pub events: Pipeline,
    pub converter: Arc<dyn Convert>,
    /// Where publishers find their own files (gnocchi_resources.yaml).
    pub config_dir: std::path::PathBuf,
}

impl AgentConfig {
    /// Load ceilo.yaml, pipeline.yaml and event_pipeline.yaml from `dir` (missing pipeline files
    /// mean empty pipelines); `transport_url` overrides the settings' transport. Everything that
    /// can be validated without a broker is validated here, with `ceilo check`'s rules, so that
    /// `run` starts nothing (not even /metrics) for a config it would then refuse.
    pub fn load(
        dir: &Path,
        transport_url: Option<&str>,
        converter: Arc<dyn Convert>,
    ) -> Result<Self, AgentError> {
        Self::load_with(dir, Settings::load(dir)?, transport_url, converter)
    }

    /// [`AgentConfig::load`] with the settings given (ceilometer.conf's) instead of ceilo.yaml's.
    pub fn load_with(
        dir: &Path,
        mut settings: Settings,
        transport_url: Option<&str>,
        converter: Arc<dyn Convert>,
    ) -> Result<Self, AgentError> {
        if let Some(url) = transport_url {
            crate::config::secrets::register_url(url);
            transport::check_url(url, &settings.rabbit)?;
            settings.transport_url = url.to_owned();
        }
        let polling_yaml = dir.join("polling.yaml");
        let polling = if settings.polling_enabled() && polling_yaml.exists() {
            // `ceilo check`'s own check (dynamic pollster definitions, every source's plan):
            // a bad one stops `run` here, before anything has started, not half-way.
            crate::polling::check(&polling_yaml, &settings.polling_options())?;
            let config = crate::polling::PollingConfig::load(&polling_yaml)
                .map_err(|e| AgentError::Polling(crate::polling::StartError::Config(e)))?;
            Some(config)
        } else {
            None
        };
        let (samples, events) = load_pipelines(dir)?;
        for warning in samples.warnings().iter().chain(events.warnings()) {
            tracing::warn!("{warning}");
        }
        for url in samples.publishers().iter().chain(events.publishers()) {
            if let PublisherUrl::Gnocchi(options) = url {
                GnocchiOutput::check(options, dir).map_err(|e| AgentError::Runtime(e.to_string()))?;
            }
        }
        Ok(AgentConfig {
            samples,
            events,
            settings,
            converter,
            polling,
            config_dir: dir.to_owned(),
        })
    }
}

/// pipeline.yaml and event_pipeline.yaml of `dir`, compiled (a missing file is an empty
/// pipeline); the problems of both when either does not compile.
pub fn load_pipelines(dir: &Path) -> Result<(Pipeline, Pipeline), AgentError> {
    let samples = Pipeline::load(&dir.join(PIPELINE_FILE), Kind::Samples);
    let events = Pipeline::load(&dir.join(EVENT_PIPELINE_FILE), Kind::Events);
    match (samples, events) {
        (Ok(samples), Ok(events)) => Ok((samples, events)),
        (samples, events) => Err(AgentError::Problems(
            samples.err().into_iter().chain(events.err()).flatten().collect(),
        )),
    }
}

/// The queues Ceilometer's notification agent declares: one `<topic>.<priority>` per topic and
/// priority, each bound to every control exchange with its own name as the key.
pub fn notification_queues(settings: &Settings) -> Vec<QueueSpec> {
    let n = &settings.notification;
    let mut specs = Vec::new();
    for topic in &n.topics {
        for priority in &n.priorities {
            let queue = format!("{topic}.{}", Priority::parse(priority).as_str());
            specs.push(QueueSpec {
                bindings: n
                    .control_exchanges
                    .iter()
                    .map(|e| (e.clone(), queue.clone()))
                    .collect(),
                queue,
                durable: settings.consume_durable(),
                auto_delete: n.auto_delete,
                prefetch: n.prefetch,
                initial_limit: 0,
                single_active_consumer: false,
            });
        }
    }
    specs
}

/// What the agent will declare on each broker (URL), so that [`run`] can declare it all once
/// before it starts anything ([`Transport::preflight`]): the consumed queues with their
/// control exchanges on every consumed URL; on `transport_url`, the exchange `notifier://`
/// publishes to with its default queues (`<topic>.sample`, as the notifier declares them
/// before its first publish), and the dead-letter exchange and queue.
pub fn topologies(config: &AgentConfig) -> Vec<(String, Topology)> {
    let settings = &config.settings;
    let (n, p) = (&settings.notification, &settings.publisher);
    let mut main = Topology::default();
    for (pipeline, default_topic) in [
        (&config.samples, &p.metering_topic),
        (&config.events, &p.event_topic),
    ] {
        for url in pipeline.publishers() {
            let PublisherUrl::Notifier { topic, .. } = url else {
                continue;
            };
            let key = format!("{}.sample", topic.as_deref().unwrap_or(default_topic));
            if !main.queues.iter().any(|q| q.queue == key) {
                main.queues.push(QueueSpec {
                    bindings: vec![(p.control_exchange.clone(), key.clone())],
                    queue: key,
                    durable: settings.publish_durable(),
                    auto_delete: n.auto_delete,
                    prefetch: 0,
                    initial_limit: 0,
                    single_active_consumer: false,
                });
            }
        }
    }
    main.queues.push(DeadLetterOutput::topology(
        &n.dead_letter_exchange,
        &n.dead_letter_queue,
    ));
    let mut out = vec![(settings.transport_url.clone(), main)];
    if n.enabled {
        for url in settings.consume_urls() {
            let queues = notification_queues(settings);
            match out.iter_mut().find(|(u, _)| *u == url) {
                Some((_, topology)) => topology.queues.extend(queues),
                None => out.push((url, Topology { queues })),
            }
        }
    }
    out
}

/// Declares every broker's topology once (see [`topologies`]). A conflict with what a broker
/// already has is an error: the agent would otherwise start and then fail on it forever. A
/// broker that cannot be reached is only a warning: listeners and publishers retry.
async fn preflight(config: &AgentConfig) -> Result<(), AgentError> {
    for (url, topology) in topologies(config) {
        let transport = transport::from_url_with(&url, &config.settings.rabbit)?;
        match transport.preflight(topology).await {
            Ok(()) => {}
            Err(e @ TransportError::Conflict { .. }) => return Err(e.into()),
            Err(e) => tracing::warn!(
                transport = transport.describe(),
                error = %e,
                "cannot declare exchanges and queues at start; listeners and publishers will retry"
            ),
        }
    }
    Ok(())
}

/// Each listener's byte budget (`notification.inflight_bytes`, `agent/window.rs`), if it binds.
/// None with quorum queues: the budget moves a channel-wide (`global`) `basic.qos`, which
/// RabbitMQ refuses on a channel consuming a quorum queue (NOT_IMPLEMENTED, closing the
/// connection) or ignores when set after the consume, so it is turned off, saying so once.
pub fn listener_budget(settings: &Settings) -> Option<window::Budget> {
    let n = &settings.notification;
    let budget = window::Budget::binding(n.inflight_bytes, n.max_body_bytes, n.prefetch)?;
    if settings.rabbit.quorum_queue {
        tracing::warn!(
            inflight_bytes = n.inflight_bytes,
            prefetch = n.prefetch,
            max_body_bytes = n.max_body_bytes,
            "rabbit.quorum_queue: the byte budget notification.inflight_bytes is off, because \
             RabbitMQ refuses the channel-wide basic.qos it needs on quorum queues; deliveries in \
             flight are bounded by notification.prefetch alone (docs/runtime.md, memory ceiling)"
        );
        return None;
    }
    Some(budget)
}

/// The running agent (the root of the supervision tree).
pub struct Agent {
    shutdown: watch::Sender<bool>,
    listeners: Vec<Arc<ListenerStatus>>,
    /// The dead-letter and partition publishers (the sinks' are in `sinks`).
    publishers: Vec<Addr<PublisherActor>>,
    /// Starts the publishers a reload adds.
    factory: publishers::Factory,
    sinks: publishers::Sinks,
    pipeline: Addr<pipeline::PipelineActor>,
    /// What the converter workers convert with (a reload replaces it).
    converter: Arc<reload::Current<dyn Convert>>,
    readiness: Readiness,
}

impl Agent {
    /// Build and start the actor tree. Call from inside an `actix::System` whose tokio runtime is
    /// `runtime` (multi-threaded; see [`run`]).
    pub fn start(
        config: AgentConfig,
        runtime: tokio::runtime::Handle,
        readiness: Readiness,
    ) -> Result<Agent, AgentError> {
        // The polling side, if any, is started by [`run`] (see [`polling::start_polling_agent`]).
        let AgentConfig {
            settings,
            samples,
            events,
            converter,
            config_dir,
            ..
        } = config;
        let main = transport::from_url_with(&settings.transport_url, &settings.rabbit)?;
        let factory = publishers::Factory::new(
            &settings,
            main.clone(),
            runtime.clone(),
            readiness.clone(),
            &config_dir,
        );
        let sinks = publishers::Sinks {
            samples: factory.build(&samples, Carries::Samples, &mut Vec::new())?,
            events: factory.build(&events, Carries::Events, &mut Vec::new())?,
        };
        let dead_letter = factory.start_dead_letter();
        let mut publishers = vec![dead_letter.addr().clone()];

        // Several agents and a stateful sink: every resource gets one owner through the
        // partition queues (see crate::publish::partition).
        let n = &settings.notification;
        let partitions = if n.transform_partitions > 0 && samples.is_stateful() {
            let queues = partition::partition_queues(n.transform_partitions, n.prefetch);
            let publisher = main.publisher(PublishTopology {
                queues: queues.clone(),
                ..Default::default()
            });
            let output = PartitionOutput::new(
                n.transform_partitions,
                &settings.publisher.telemetry_secret,
                &settings.host(),
                publisher,
            );
            let mailbox = factory.start(Box::new(output), "transform-partitions", None);
            publishers.push(mailbox.addr().clone());
            Some((mailbox, queues))
        } else {
            None
        };
        let partition_publisher = partitions.as_ref().map(|(mailbox, _)| mailbox.clone());
        let workers = if n.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            n.workers
        };
        // The converter pool's channel and the pipeline's mailbox, in batches: two per worker
        // keep every worker busy while the next batches wait (docs/runtime.md, Backpressure).
        let bound = workers * 2;
        let pipeline = pipeline::PipelineActor::new(
            samples,
            events,
            sinks.samples.iter().map(|p| p.mailbox.clone()).collect(),
            sinks.events.iter().map(|p| p.mailbox.clone()).collect(),
            dead_letter,
            bound,
        );
        let pipeline = match partition_publisher {
            Some(mailbox) => pipeline.with_partitions(mailbox),
            None => pipeline,
        }
        .start_supervised();
        let max_body = usize::try_from(n.max_body_bytes).unwrap_or(usize::MAX);
        let converter = Arc::new(reload::Current::new(converter));
        let to_pipeline = pipeline.clone();
        // A worker waits while the pipeline's mailbox is full.
        let downstream = move |batch| futures_lite::future::block_on(to_pipeline.tell(batch));
        let pool = converter::ConverterPool::start(workers, bound, max_body, converter.clone(), downstream)
            .map_err(|e| AgentError::Runtime(format!("converter threads: {e}")))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut listeners = Vec::new();
        let budget = listener_budget(&settings);
        let mut listen = |stage, transport: Arc<dyn Transport>, spec, owned| {
            let (_, status) = listener::Listener::start_supervised(listener::ListenerConfig {
                owned,
                budget,
                stage,
                transport,
                spec,
                batch_size: n.batch_size,
                batch_timeout: Duration::from_millis(n.batch_timeout_ms),
                converter: pool.clone(),
                runtime: runtime.clone(),
                shutdown: shutdown_rx.clone(),
                readiness: readiness.clone(),
            });
            listeners.push(status);
        };
        if n.enabled {
            for url in settings.consume_urls() {
                let transport: Arc<dyn Transport> = if url == settings.transport_url {
                    main.clone()
                } else {
                    transport::from_url_with(&url, &settings.rabbit)?
                };
                let stage = if partitions.is_some() {
                    SampleStage::Ingest
                } else {
                    SampleStage::All
                };
                for spec in notification_queues(&settings) {
                    listen(stage, transport.clone(), spec, None);
                }
            }
        }
        // Every agent subscribes to every partition queue and the broker makes one at a time
        // active; with coordination, only to those the hash ring gives it (see `partitions`).
        let queues = partitions.map(|(_, queues)| queues).unwrap_or_default();
        let mut gates: Vec<Option<watch::Receiver<bool>>> = vec![None; queues.len()];
        if !queues.is_empty() && !n.partition_coordination_url.is_empty() {
            let owned = crate::agent::partitions::start(
                &n.partition_coordination_url,
                &n.partition_group,
                queues.len(),
                &runtime,
                shutdown_rx.clone(),
            )
            .map_err(|e| AgentError::Runtime(format!("notification.partition_coordination_url: {e}")))?;
            gates = owned.into_iter().map(Some).collect();
        }
        for (spec, owned) in queues.into_iter().zip(gates) {
            listen(SampleStage::Owned, main.clone(), spec, owned);
        }
        Ok(Agent {
            shutdown,
            listeners,
            publishers,
            pipeline: pipeline.addr().clone(),
            factory,
            sinks,
            converter,
            readiness,
        })
    }

    /// Every publisher: the sinks', the dead-letter one, the partitions'.
    fn all_publishers(&self) -> Vec<Addr<PublisherActor>> {
        let sinks = self.sinks.samples.iter().chain(&self.sinks.events);
        sinks
            .map(|p| p.mailbox.addr().clone())
            .chain(self.publishers.iter().cloned())
            .collect()
    }

    /// Every listener is consuming.
    pub fn is_ready(&self) -> bool {
        self.listeners.iter().all(|l| l.connected.load(Ordering::SeqCst))
    }

    /// The pipeline actor (tests inject failures through it).
    #[doc(hidden)]
    pub fn pipeline(&self) -> &Addr<pipeline::PipelineActor> {
        &self.pipeline
    }

    /// Graceful stop: stop consuming, flush every publisher, wait for confirms and acks, close.
    /// Returns `false` if `timeout` passed first (unacked deliveries are then requeued by the
    /// broker when the process exits: nothing is lost, some may be published twice).
    pub async fn shutdown(self, timeout: Duration) -> bool {
        self.readiness.set_shutting_down();
        let _ = self.shutdown.send(true);
        let drained = async {
            loop {
                // Keep draining: batches still in conversion reach publishers after the first
                // Drain. (A stalled publisher may not take it: hence the overall timeout.)
                for p in self.all_publishers() {
                    let _ = p.send(Drain).await;
                }
                let done = self
                    .listeners
                    .iter()
                    .all(|l| !l.running.load(Ordering::SeqCst) && l.is_idle());
                if done {
                    return self.flush_transformers().await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(timeout, drained).await.unwrap_or_else(|_| {
            tracing::warn!("shutdown timed out before everything was confirmed");
            false
        })
    }

    /// Last step of a graceful stop: no batch is left upstream, so release what the sinks'
    /// transformers hold (aggregator and accumulator batches) and wait until it is published.
    /// The caller bounds it with the shutdown timeout.
    async fn flush_transformers(&self) -> bool {
        let Ok(token) = self.pipeline.send(pipeline::FlushTransformers).await else {
            tracing::error!("pipeline gone before the transformer flush");
            return false;
        };
        loop {
            for p in self.all_publishers() {
                let _ = p.send(Drain).await;
            }
            if token.others_done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The conversion core for a config directory (see [`crate::config::definitions`]: the
/// shipped definitions stand in for missing ones; a meter definition that does not compile is
/// logged and skipped, as Ceilometer does; a bad event definition stops the agent), with the
/// event options, the output limit, the reserved metadata options and `ack_on_event_error`
/// of `settings`.
pub fn load_converter(dir: &Path, settings: &Settings) -> Result<Arc<dyn Convert>, AgentError> {
    let (converter, skipped) = crate::config::definitions::converter(dir, settings.event.options())
        .map_err(|e| AgentError::Converter(e.to_string()))?;
    for p in skipped {
        tracing::warn!(problem = %p, "meter definition skipped");
    }
    let max_output = usize::try_from(settings.notification.max_output_bytes).unwrap_or(usize::MAX);
    Ok(Arc::new(
        converter
            .with_max_output_bytes(max_output)
            .with_reserved_metadata(settings.reserved_metadata.clone())
            .with_ack_on_event_error(settings.notification.ack_on_event_error),
    ))
}

/// How a graceful stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Everything taken was published, confirmed and acked.
    Clean,
    /// `shutdown_timeout_s` passed first: see [`EXIT_SHUTDOWN_TIMED_OUT`].
    TimedOut,
}

/// `ceilo run`: start the system on a multi-threaded tokio runtime, reload the definitions
/// (read by `loader`) at each SIGHUP, run until SIGTERM/SIGINT, then shut down gracefully.
/// Blocks the calling thread.
pub fn run(mut config: AgentConfig, loader: reload::Loader) -> Result<Stopped, AgentError> {
    let timeout = Duration::from_secs(config.settings.notification.shutdown_timeout_s);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ceilo-io")
        .build()
        .map_err(|e| AgentError::Runtime(format!("tokio runtime: {e}")))?;
    let handle = runtime.handle().clone();
    // Listen before starting anything: a SIGTERM that arrives while the agent is still
    // starting is then a clean shutdown once it has started (a SIGHUP a reload), not the
    // default kill.
    let (stop, hup) = {
        let _in_runtime = handle.enter();
        (stop_requested()?, reload::signal()?)
    };
    // Before anything starts: a refused start never serves /metrics.
    runtime.block_on(preflight(&config))?;
    // The recorder must be installed before any component builds its metric handles.
    let telemetry = if config.settings.telemetry.enabled {
        Some(
            crate::telemetry::start(config.settings.telemetry.listen)
                .map_err(|e| AgentError::Runtime(e.to_string()))?,
        )
    } else {
        None
    };
    let readiness = telemetry.as_ref().map(|t| t.readiness()).unwrap_or_default();
    readiness.set_publish_grace(Duration::from_secs(
        config.settings.telemetry.unready_after_publish_failing_s,
    ));
    let polling_config = config.polling.take();
    let settings = config.settings.clone();
    let system = System::with_tokio_rt(move || runtime);
    let result = system.block_on(async move {
        let mut agent = Agent::start(config, handle.clone(), readiness.clone())?;
        let mut polling = match &polling_config {
            Some(pc) => Some(polling::start_polling_agent(pc, &settings, handle, readiness.clone()).await?),
            None => None,
        };
        let stop = reload::until(
            stop,
            hup,
            loader,
            &mut agent,
            polling.as_mut().map(|(p, _)| p),
            &settings,
        );
        // Under systemd (Type=notify): READY=1 once /readyz would say ready, STOPPING=1 at `stop`.
        crate::telemetry::systemd::notify_until(stop, &readiness).await;
        tracing::info!("shutting down: stop consuming, flush, wait for confirms, ack");
        let deadline = tokio::time::Instant::now() + timeout;
        let mut polled_confirmed = true;
        if let Some((polling, sender)) = &polling {
            // Polls finish and their notifications are confirmed before the listeners stop,
            // so with memory:// they still go through this process' pipeline. The sender
            // never gives up: the shutdown timeout bounds the wait.
            polling.stop().await;
            if tokio::time::timeout_at(deadline, sender.flush()).await.is_err() {
                tracing::warn!("shutdown timed out before the polled samples were confirmed");
                polled_confirmed = false;
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if agent.shutdown(left).await && polled_confirmed {
            tracing::info!("clean shutdown");
            Ok(Stopped::Clean)
        } else {
            tracing::warn!(
                ?timeout,
                exit_status = EXIT_SHUTDOWN_TIMED_OUT,
                "shutdown timed out; unacked deliveries will be requeued by the broker"
            );
            Ok(Stopped::TimedOut)
        }
    });
    System::current().stop();
    if let Some(t) = telemetry {
        t.shutdown();
    }
    result
}

/// Registers for SIGTERM and SIGINT now; the future completes at the first of them, also when
/// it arrived before the future was first polled.
fn stop_requested() -> Result<impl std::future::Future<Output = ()>, AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| AgentError::Runtime(format!("SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| AgentError::Runtime(format!("SIGINT: {e}")))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_budget_is_off_with_quorum_queues_only() {
        let mut settings = Settings::default();
        settings.notification.inflight_bytes = 1 << 20;
        settings.notification.max_body_bytes = 1 << 10;
        assert!(
            listener_budget(&settings).is_some(),
            "4000 slots of 1 KiB exceed 1 MiB"
        );
        settings.rabbit.quorum_queue = true;
        assert_eq!(listener_budget(&settings), None);
    }

    #[test]
    fn a_stop_signal_sent_before_the_wait_is_not_lost() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let stop = {
            let _in_runtime = rt.enter();
            stop_requested().expect("signal handlers")
        };
        // Unhandled, SIGINT would end this test process; handled, it ends the wait.
        // SAFETY: raise() only sends a signal to this process.
        assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
        let waited = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), stop).await });
        assert!(waited.is_ok(), "the SIGINT sent before the wait did not end it");
    }
}
