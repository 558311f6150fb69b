//! `ceilo run` from start to exit: declare every broker's topology, start /metrics, the agent
//! and the polling agent, reload at SIGHUP, and at SIGTERM/SIGINT stop gracefully — stop
//! consuming, publish and confirm what is held, ack — within `notification.shutdown_timeout_s`.
//!
//! What this module does not do: build the actor tree ([`super::builder`]) or apply a reload
//! ([`super::reload`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;

use super::config::topologies;
use super::publisher::{Drain, PublisherActor};
use super::{pipeline, polling, reload, Agent, AgentConfig, AgentError};
use crate::transport::{self, TransportError};

/// The exit status of `ceilo run` when SIGTERM's graceful stop gave up after
/// `notification.shutdown_timeout_s` with deliveries still unconfirmed (the broker requeues
/// them: nothing is lost, some may be published twice). 1 is a failure to start, 2 a usage error.
pub const EXIT_SHUTDOWN_TIMED_OUT: u8 = 3;

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
            // Polls end and their notifications are confirmed before the listeners stop, so
            // with memory:// they still go through this process' pipeline. The sender never
            // gives up: the shutdown timeout bounds the wait.
            if tokio::time::timeout_at(deadline, polling.stop()).await.is_err() {
                tracing::warn!("shutdown timed out before the running polls ended");
                polled_confirmed = false;
            } else if tokio::time::timeout_at(deadline, sender.flush()).await.is_err() {
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

impl Agent {
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

    /// Every publisher: the sinks', the dead-letter one, the partitions'.
    fn all_publishers(&self) -> Vec<Addr<PublisherActor>> {
        let sinks = self.sinks.samples.iter().chain(&self.sinks.events);
        sinks
            .map(|p| p.mailbox.addr().clone())
            .chain(self.publishers.iter().cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
