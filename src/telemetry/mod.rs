//! The agent's own health: metrics, Prometheus exporter, /healthz and /readyz.
//!
//! * [`metrics`]: the catalogue, the one place metric names are spelled (docs/metrics.md).
//! * [`handles`]: pre-registered handles per component; hot code calls them once per batch.
//! * [`Readiness`]: what listeners and schedulers set and `/readyz` reads.
//! * [`start`]: installs the Prometheus recorder and serves the endpoint on its own thread.
//! * [`scrape`]: a small HTTP client and text-format parser (`ceilo top`, tests).
//! * [`systemd`]: tells systemd (`Type=notify`) when the agent is ready and when it stops.
//!
//! It does not decide what the agent does when unhealthy: it only reports.
//!
//! How `ceilo run` wires it (the order matters: handles built before [`start`] are no-ops):
//!
//! ```no_run
//! use ceilo::telemetry::{self, handles::ListenerMetrics, TelemetryConfig};
//!
//! # fn main() -> Result<(), telemetry::TelemetryError> {
//! let config = TelemetryConfig::default(); // from the agent config's `telemetry:` section
//! let telemetry = if config.enabled { Some(telemetry::start(config.listen)?) } else { None };
//! let readiness = telemetry.as_ref().map(|t| t.readiness()).unwrap_or_default();
//!
//! // In each listener, once per queue, then once per batch:
//! let metrics = ListenerMetrics::new("notifications.info");
//! readiness.set_consuming("notifications.info", true); // after basic_consume succeeds
//! metrics.received(128);
//! metrics.acked(128); // when every publisher confirmed the batch's output
//!
//! // On SIGTERM, before draining:
//! readiness.set_shutting_down();
//! # Ok(())
//! # }
//! ```

pub mod handles;
pub mod metrics;
mod process;
mod readiness;
pub mod scrape;
mod server;
pub mod systemd;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Mutex;
use std::thread::JoinHandle;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tokio::sync::watch;

pub use process::ProcessStats;
pub use readiness::{Readiness, ReadinessReport, DEFAULT_PUBLISH_GRACE};

/// The default listen address: loopback, so an agent never exposes its metrics to the
/// network unless told to. 9464 is the port OpenTelemetry's Prometheus exporters use by
/// convention, free of the other services a Ceilometer host runs.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9464));

/// The `telemetry:` section of the agent config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Serve /metrics, /healthz and /readyz. On by default.
    pub enabled: bool,
    /// Address of the HTTP listener. Default `127.0.0.1:9464`; use `0.0.0.0:9464` (behind a
    /// firewall) for a fleet-wide Prometheus scrape.
    pub listen: SocketAddr,
    /// `/readyz` turns not ready once a publisher's flushes have failed for this many seconds
    /// in a row (a broker refusing publishes, a declaration conflict, a full disk), with the
    /// publisher and its last error in the body. Default 10: longer than a reconnection.
    pub unready_after_publish_failing_s: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: DEFAULT_LISTEN,
            unready_after_publish_failing_s: DEFAULT_PUBLISH_GRACE.as_secs(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "telemetry: cannot install the Prometheus recorder (another metrics recorder is installed?): {0}"
    )]
    Recorder(#[from] BuildError),
    #[error("telemetry: cannot start the listener thread: {0}")]
    Thread(std::io::Error),
}

/// The Prometheus recorder is process-global and can be installed once; later `start` calls
/// (tests, a restarted listener) reuse it.
static RECORDER: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder (once per process) with the catalogue's histogram
/// buckets and descriptions, and returns a handle that renders it. [`start`] calls this;
/// call it directly only to record without serving (benches).
pub fn install_recorder() -> Result<PrometheusHandle, TelemetryError> {
    let mut installed = RECORDER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for def in metrics::CATALOGUE {
        if let Some(buckets) = def.buckets {
            builder = builder.set_buckets_for_metric(Matcher::Full(def.name.to_owned()), buckets)?;
        }
    }
    let handle = builder.install_recorder()?;
    metrics::describe_all();
    *installed = Some(handle.clone());
    Ok(handle)
}

/// Installs the recorder and serves `/metrics`, `/healthz` and `/readyz` on `addr` (port 0
/// picks a free one; [`TelemetryHandle::local_addr`] says which), on a dedicated thread.
/// Call it before building any component's metric handles.
pub fn start(addr: SocketAddr) -> Result<TelemetryHandle, TelemetryError> {
    let prometheus = install_recorder()?;
    // Bind here, not on the thread, so a taken port is an error the caller sees at start.
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| TelemetryError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| TelemetryError::Bind { addr, source })?;

    let readiness = Readiness::new();
    let endpoint = server::Endpoint {
        prometheus,
        readiness: readiness.clone(),
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("ceilo-telemetry".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!(error = %err, "telemetry: cannot build its runtime; endpoint down");
                    return;
                }
            };
            if let Err(err) = runtime.block_on(server::serve(listener, endpoint, shutdown_rx)) {
                tracing::error!(error = %err, "telemetry: listener failed; endpoint down");
            }
        })
        .map_err(TelemetryError::Thread)?;
    tracing::info!(addr = %local_addr, "telemetry: serving /metrics /healthz /readyz");
    Ok(TelemetryHandle {
        local_addr,
        readiness,
        shutdown: shutdown_tx,
        thread: Some(thread),
    })
}

/// The running endpoint. Dropping it stops the listener.
pub struct TelemetryHandle {
    local_addr: SocketAddr,
    readiness: Readiness,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl TelemetryHandle {
    /// Where the listener is bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The readiness state `/readyz` reports; clone it into listeners and schedulers.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Stops the listener and waits for its thread. Recorded metrics stay in the recorder.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            // The thread only panics on a bug in hyper or in the handler; nothing to add.
            let _ = thread.join();
        }
    }
}

impl Drop for TelemetryHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_to_loopback_9464_and_on() {
        let config: TelemetryConfig = yaml_serde::from_str("{}").expect("empty section");
        assert_eq!(
            config,
            TelemetryConfig {
                enabled: true,
                listen: "127.0.0.1:9464".parse().expect("addr"),
                unready_after_publish_failing_s: 10,
            }
        );
        let config: TelemetryConfig = yaml_serde::from_str("listen: 0.0.0.0:9100").expect("listen only");
        assert!(config.enabled);
        assert_eq!(config.listen.port(), 9100);
        assert!(yaml_serde::from_str::<TelemetryConfig>("listen: nowhere").is_err());
        assert!(
            yaml_serde::from_str::<TelemetryConfig>("lisen: 0.0.0.0:1").is_err(),
            "typos are errors"
        );
    }
}
