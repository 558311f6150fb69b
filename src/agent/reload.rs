//! SIGHUP: reload the definitions — pipeline.yaml, event_pipeline.yaml, meters.d/,
//! event_definitions.yaml, polling.yaml (and the dynamic pollster definitions) — without a
//! restart and without losing, duplicating or acking early anything in flight.
//!
//! A reload first compiles everything with the checks `ceilo run` makes at start
//! ([`AgentConfig::load_with`], [`super::load_converter`], [`crate::polling::PollingAgent::plan`]).
//! If anything is invalid, or needs a restart, nothing changes: the reason is logged and
//! `ceilo_config_reloads_total{result="failed"}` counts it. Otherwise the new definitions take
//! over, in this order:
//! 1. the pipeline actor takes the new pipelines between two batches ([`pipeline::Reload`]):
//!    a sink whose definition is unchanged keeps its transformer state; a changed one starts
//!    fresh, after what its old transformers held is published;
//! 2. the converter workers take the new converter at their next batch ([`Current`]): each
//!    batch, so each notification, is converted by exactly one of the two versions;
//! 3. the polling sources are replaced (same discovery, same output).
//!
//! Deliveries in flight keep their ack tokens through all of it: nothing is dropped or sent
//! again, and the ack contract of [`super::ack`] holds unchanged.
//!
//! Publishers: the one of a (sink, URL) the new pipelines still have carries on (its connection,
//! its batch, its retries); a new one is started; one that is gone is retired
//! ([`publishers::retire`]): it writes what it holds and ends.
//!
//! What a reload does not change: the settings (ceilo.yaml, or the ceilometer.conf options):
//! a changed one is named in a warning and keeps its running value until a restart; whether
//! polling runs at all.

use std::sync::{Arc, RwLock};

use super::publishers::{self, SinkPublisher, Sinks};
use super::{pipeline, Agent, AgentConfig, AgentError};
use crate::config::definitions::DefinitionFiles;
use crate::config::Settings;
use crate::model::Payload;
use crate::polling::PollingAgent;
use crate::telemetry::handles::ReloadMetrics;
use crate::telemetry::metrics::ReloadResult;

/// A value a reload replaces while readers hold the version they loaded.
pub struct Current<T: ?Sized>(RwLock<Arc<T>>);

impl<T: ?Sized> Current<T> {
    pub fn new(value: Arc<T>) -> Self {
        Current(RwLock::new(value))
    }

    /// The current version (the caller keeps it as long as it needs: a whole batch).
    pub fn load(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn store(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = value;
    }
}

/// What the command line's config now says: where the definitions are, and the settings
/// (with the command line's overrides applied, as at start).
pub struct Source {
    pub files: DefinitionFiles,
    pub settings: Settings,
}

/// Reads the config again as `ceilo run` read it at start (ceilo.yaml or ceilometer.conf).
pub type Loader = Box<dyn Fn() -> Result<Source, AgentError> + Send>;

/// Registers for SIGHUP now (from then on it no longer ends the process).
pub fn signal() -> Result<tokio::signal::unix::Signal, AgentError> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup()).map_err(|e| AgentError::Runtime(format!("SIGHUP: {e}")))
}

/// Waits for `stop`, reloading at every SIGHUP meanwhile. `running` is the settings the agent
/// started with; they stay in force.
pub async fn until(
    stop: impl std::future::Future<Output = ()>,
    hup: tokio::signal::unix::Signal,
    loader: Loader,
    agent: &mut Agent,
    polling: Option<&mut PollingAgent>,
    running: &Settings,
) {
    tokio::select! {
        _ = stop => {}
        _ = serve(hup, loader, agent, polling, running) => {}
    }
}

/// Reloads at every SIGHUP, for as long as there are signals.
async fn serve(
    mut hup: tokio::signal::unix::Signal,
    loader: Loader,
    agent: &mut Agent,
    mut polling: Option<&mut PollingAgent>,
    running: &Settings,
) {
    let metrics = ReloadMetrics::new();
    while hup.recv().await.is_some() {
        crate::telemetry::systemd::reloading();
        tracing::info!("SIGHUP: reloading the definitions");
        match reload(&loader, agent, polling.as_deref_mut(), running).await {
            Ok(kept) => {
                metrics.ended(ReloadResult::Applied);
                // Named only when a sink kept its state (tracing records no field for None).
                let kept = (!kept.is_empty()).then(|| kept.join(", "));
                tracing::info!(
                    transformer_state_kept = kept.as_ref().map(tracing::field::display),
                    "reload applied: the new definitions are in use"
                );
            }
            Err(e) => {
                metrics.ended(ReloadResult::Failed);
                tracing::error!(error = %e, "reload failed: the agent keeps running on the definitions it had");
            }
        }
        crate::telemetry::systemd::reloaded();
    }
}

/// One reload: everything compiled first, then applied. Returns the sinks whose transformer
/// state was kept.
async fn reload(
    loader: &Loader,
    agent: &mut Agent,
    polling: Option<&mut PollingAgent>,
    running: &Settings,
) -> Result<Vec<String>, AgentError> {
    let source = loader()?;
    for section in changed_settings(running, &source.settings) {
        tracing::warn!(
            section,
            "reload: these settings changed; a reload does not apply settings, restart to use them"
        );
    }
    let converter = super::load_converter(&source.files, running)?;
    let config = AgentConfig::load_with(&source.files, running.clone(), None, converter)?;
    let plans = match (&polling, &config.polling) {
        (Some(agent), Some(yaml)) => Some(
            agent
                .plan(yaml, &running.polling_options())
                .map_err(AgentError::Polling)?,
        ),
        (Some(_), None) => {
            return Err(AgentError::Runtime(
                "polling.yaml is gone: stopping the polling agent needs a restart".into(),
            ))
        }
        (None, Some(_)) => {
            tracing::warn!(
                "reload: polling.yaml is there now, but starting the polling agent needs a restart"
            );
            None
        }
        (None, None) => None,
    };
    // The publishers of the new pipelines: the running ones where sink and URL are unchanged.
    let mut unused = Sinks {
        samples: agent.sinks.samples.clone(),
        events: agent.sinks.events.clone(),
    };
    let sinks = Sinks {
        samples: agent
            .factory
            .build(&config.samples, Payload::Samples, &mut unused.samples)?,
        events: agent
            .factory
            .build(&config.events, Payload::Events, &mut unused.events)?,
    };
    let mailboxes = |list: &[SinkPublisher]| list.iter().map(|p| p.mailbox.clone()).collect();
    let swapped = agent
        .pipeline
        .send(pipeline::Reload {
            samples: config.samples,
            events: config.events,
            sample_publishers: mailboxes(&sinks.samples),
            event_publishers: mailboxes(&sinks.events),
        })
        .await
        .map_err(|e| AgentError::Runtime(format!("pipeline actor: {e}")))
        .and_then(|r| r.map_err(AgentError::Runtime));
    // Refused: the publishers started for it go; applied: the ones it no longer has go.
    let retired = match &swapped {
        Ok(_) => std::mem::replace(&mut agent.sinks, sinks),
        Err(_) => sinks,
    };
    for p in retired.samples.into_iter().chain(retired.events) {
        if !agent
            .sinks
            .samples
            .iter()
            .chain(&agent.sinks.events)
            .any(|s| s.mailbox.addr() == p.mailbox.addr())
        {
            publishers::retire(p);
        }
    }
    let kept = swapped?;
    agent.converter.store(config.converter);
    if let (Some(polling), Some(plans)) = (polling, plans) {
        polling.replace_sources(plans);
    }
    Ok(kept)
}

/// The settings sections (ceilo.yaml's top-level keys) that differ between `old` and `new`.
fn changed_settings(old: &Settings, new: &Settings) -> Vec<&'static str> {
    // Compared through Debug: the settings hold no floats that print unequal when equal,
    // and nothing here prints a value (secrets stay out of logs).
    macro_rules! sections {
        ($($field:ident),*) => {{
            let mut changed = Vec::new();
            $(if format!("{:?}", old.$field) != format!("{:?}", new.$field) {
                changed.push(stringify!($field));
            })*
            changed
        }};
    }
    let mut changed = sections!(
        transport_url,
        transport_url_file,
        amqp_durable_queues,
        rabbit,
        host,
        notification,
        publisher,
        telemetry,
        polling_enabled,
        polling,
        gnocchi,
        service_credentials,
        event,
        reserved_metadata
    );
    if changed.is_empty() && format!("{old:?}") != format!("{new:?}") {
        changed.push("(other)");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_setting_is_named_by_its_section() {
        let old = Settings::default();
        let mut new = old.clone();
        assert!(changed_settings(&old, &new).is_empty());
        new.notification.batch_size += 1;
        new.transport_url = "amqp://elsewhere//".into();
        assert_eq!(changed_settings(&old, &new), ["transport_url", "notification"]);
    }

    #[test]
    fn a_reader_keeps_the_version_it_loaded() {
        let current = Current::new(Arc::new(1));
        let held = current.load();
        current.store(Arc::new(2));
        assert_eq!((*held, *current.load()), (1, 2));
    }
}
