//! What the agent is given: [`AgentConfig`] (the settings, the compiled pipelines, the converter,
//! polling.yaml), loaded and validated with `ceilo check`'s rules before anything starts, and the
//! values the runtime derives from the settings (the queues it consumes and declares, the
//! converter threads, each listener's byte budget).
//!
//! What this module does not do: start anything ([`super::builder`] does) or parse the files
//! (`crate::config`, `crate::pipeline`, `crate::polling` do).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{window, AgentError, Convert};
use crate::config::definitions::DefinitionFiles;
use crate::config::Settings;
use crate::model::{Payload, Priority};
use crate::pipeline::Pipeline;
use crate::publish::dead_letter::DeadLetterOutput;
use crate::publish::gnocchi;
use crate::publish::PublisherUrl;
use crate::transport::{self, QueueSpec, Topology};

/// Everything the agent is built from.
pub struct AgentConfig {
    pub settings: Settings,
    /// polling.yaml, when the polling agent runs in this process.
    pub polling: Option<crate::polling::PollingConfig>,
    pub samples: Pipeline,
    pub events: Pipeline,
    pub converter: Arc<dyn Convert>,
    /// Where publishers find their own files (gnocchi_resources.yaml).
    pub config_dir: PathBuf,
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
        Self::load_with(
            &DefinitionFiles::in_dir(dir),
            Settings::load(dir)?,
            transport_url,
            converter,
        )
    }

    /// [`AgentConfig::load`] with the settings given (ceilometer.conf's) instead of ceilo.yaml's,
    /// and the files where `files` says they are.
    pub fn load_with(
        files: &DefinitionFiles,
        mut settings: Settings,
        transport_url: Option<&str>,
        converter: Arc<dyn Convert>,
    ) -> Result<Self, AgentError> {
        if let Some(url) = transport_url {
            crate::config::secrets::register_url(url);
            transport::check_url(url, &settings.rabbit)?;
            settings.transport_url = url.to_owned();
        }
        let polling_yaml = &files.polling;
        let polling = if settings.polling_enabled() && polling_yaml.exists() {
            // `ceilo check`'s own check (dynamic pollster definitions, every source's plan):
            // a bad one stops `run` here, before anything has started, not half-way.
            // A file's problem in `ceilo check`'s words; other reasons as `polling: ...`.
            let refused = |e: crate::polling::StartError| match e.into_problem() {
                Ok(problem) => AgentError::Problems(vec![problem]),
                Err(e) => AgentError::Polling(e),
            };
            crate::polling::check(polling_yaml, &settings.polling_options()).map_err(refused)?;
            let config = crate::polling::PollingConfig::load(polling_yaml)
                .map_err(|e| refused(crate::polling::StartError::Config(e)))?;
            Some(config)
        } else {
            None
        };
        let (samples, events) = load_pipelines(files)?;
        for warning in samples.warnings().iter().chain(events.warnings()) {
            tracing::warn!("{warning}");
        }
        // gnocchi_resources.yaml as `ceilo check` sees it: unusable stops `run`, a definition
        // skipped is a warning.
        let urls = samples.publishers().iter().chain(events.publishers());
        for checked in gnocchi::check_resources(urls, &files.dir) {
            let (_, skipped) = checked.map_err(|problem| AgentError::Problems(vec![problem]))?;
            for problem in skipped {
                tracing::warn!(%problem, "gnocchi resource definition skipped");
            }
        }
        Ok(AgentConfig {
            samples,
            events,
            settings,
            converter,
            polling,
            config_dir: files.dir.clone(),
        })
    }
}

/// The pipeline and event pipeline files, compiled (a missing file, or one whose manager does
/// not run, is an empty pipeline); the problems of both when either does not compile.
pub fn load_pipelines(files: &DefinitionFiles) -> Result<(Pipeline, Pipeline), AgentError> {
    let load = |kind| match files.pipeline_file(kind) {
        Some(file) => Pipeline::load(file, kind),
        None => Ok(Pipeline::empty()),
    };
    let (samples, events) = (load(Payload::Samples), load(Payload::Events));
    match (samples, events) {
        (Ok(samples), Ok(events)) => {
            remember_brokers_passwords(&samples);
            remember_brokers_passwords(&events);
            Ok((samples, events))
        }
        (samples, events) => Err(AgentError::Problems(
            samples.err().into_iter().chain(events.err()).flatten().collect(),
        )),
    }
}

/// The password of every broker a `notifier://` publisher of `pipeline` names is a secret like
/// the agent's own broker's: kept out of whatever ceilo prints ([`crate::config::secrets`]).
pub fn remember_brokers_passwords(pipeline: &Pipeline) {
    for url in pipeline.publishers() {
        if let PublisherUrl::Notifier {
            transport_url: Some(broker),
            ..
        } = url
        {
            crate::config::secrets::register_url(broker);
        }
    }
}

/// The conversion core for the definition files (see [`crate::config::definitions`]: in a
/// config directory, the shipped definitions stand in for missing ones; a meter definition that does not compile is
/// logged and skipped, as Ceilometer does; a bad event definition stops the agent), with the
/// event options, the output limit, the reserved metadata options and `ack_on_event_error`
/// of `settings`.
pub fn load_converter(files: &DefinitionFiles, settings: &Settings) -> Result<Arc<dyn Convert>, AgentError> {
    let (converter, skipped) = crate::config::definitions::converter(files, settings.event.options())
        .map_err(|problem| AgentError::Problems(vec![problem]))?;
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

/// What the agent will declare on each broker (URL), so that [`super::run()`] can declare it all
/// once before it starts anything ([`transport::Transport::preflight`]): the consumed queues with
/// their control exchanges on every consumed URL; on the broker each `notifier://` publishes to
/// (`transport_url` unless its URL names another), the exchange with its default queues
/// (`<topic>.sample`, as the notifier declares them before its first publish); on
/// `transport_url`, the dead-letter exchange and queue.
pub fn topologies(config: &AgentConfig) -> Vec<(String, Topology)> {
    let settings = &config.settings;
    let (n, p) = (&settings.notification, &settings.publisher);
    let mut out = vec![(settings.transport_url.clone(), Topology::default())];
    for (pipeline, default_topic) in [
        (&config.samples, &p.metering_topic),
        (&config.events, &p.event_topic),
    ] {
        for url in pipeline.publishers() {
            let PublisherUrl::Notifier {
                topics,
                transport_url,
                ..
            } = url
            else {
                continue;
            };
            let broker = transport_url.as_ref().unwrap_or(&settings.transport_url);
            let at = match out.iter().position(|(u, _)| u == broker) {
                Some(at) => at,
                None => {
                    out.push((broker.clone(), Topology::default()));
                    out.len() - 1
                }
            };
            let queues = &mut out[at].1.queues;
            for topic in crate::publish::notifier::topics_or(topics, default_topic) {
                let key = format!("{topic}.sample");
                if !queues.iter().any(|q| q.queue == key) {
                    queues.push(QueueSpec {
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
    }
    out[0].1.queues.push(DeadLetterOutput::topology(
        &n.dead_letter_exchange,
        &n.dead_letter_queue,
    ));
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

/// The converter pool's threads: `notification.workers`, or one per core when it is 0.
pub fn converter_workers(settings: &Settings) -> usize {
    match settings.notification.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The deliveries the broker may send ahead of the pump must cover the delivery rate × the
    /// time a raised cap takes to bring more: 64 held a nova drain well below its rate, 256 did
    /// not (docs/runtime.md, the byte budget as a bound on speed).
    #[test]
    fn the_default_budget_lets_the_broker_send_256_deliveries_ahead() {
        let budget = listener_budget(&Settings::default()).expect("the defaults bind: 4000 slots do not fit");
        assert!(budget.slots_in(budget.bytes) >= 256, "{budget:?}");
    }

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
}
