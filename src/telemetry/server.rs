//! The HTTP listener: `/metrics`, `/healthz`, `/readyz`, on a thread and a tokio runtime of
//! its own.
//!
//! Why its own thread: the actix arbiters are exactly what is saturated when an operator
//! most needs the numbers; a current-thread runtime here is never queued behind conversion
//! work. It does not serve anything else, and it does not authenticate (bind it to loopback
//! or a management network). Connections are served by [`crate::http::server`], as the
//! polled-samples exporter's are.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use super::metrics::{BUILD_INFO, LABEL_VERSION, READY};
use super::process::{render_single, ProcessStats};
use super::readiness::Readiness;
use crate::http::server::{self as http, prometheus_text, text, Reply, HEADER_TIMEOUT};

/// Scrapers keep their connection between scrapes.
const OPTIONS: http::Options = http::Options {
    name: "telemetry",
    header_timeout: HEADER_TIMEOUT,
    keep_alive: true,
};

/// How often histogram data is drained when nobody scrapes, so an unscraped agent's memory
/// stays bounded (metrics-exporter-prometheus leaves this to the caller).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the request handler needs; cloned per connection.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) prometheus: PrometheusHandle,
    pub(crate) readiness: Readiness,
}

impl Endpoint {
    /// The full scrape: the facade's metrics, then the figures computed now.
    pub(crate) fn render_metrics(&self) -> String {
        let mut out = self.prometheus.render();
        ProcessStats::read().render(&mut out);
        let ready = if self.readiness.is_ready() { 1.0 } else { 0.0 };
        render_single(&mut out, READY, &[], ready);
        render_single(
            &mut out,
            BUILD_INFO,
            &[(LABEL_VERSION, env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        out
    }

    fn respond(&self, req: &Request<Incoming>) -> Reply {
        match req.uri().path() {
            "/metrics" => prometheus_text(self.render_metrics()),
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            "/readyz" => {
                let report = self.readiness.report();
                let status = if report.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                text(status, report.to_string())
            }
            "/" => text(StatusCode::OK, "ceilo: /metrics /healthz /readyz\n".into()),
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics /healthz /readyz\n".into(),
            ),
        }
    }
}

/// Accepts and serves until `shutdown` flips to true, draining the histograms every
/// [`UPKEEP_INTERVAL`] meanwhile.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    endpoint: Endpoint,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let prometheus = endpoint.prometheus.clone();
    let upkeep = async move {
        let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            upkeep.tick().await;
            prometheus.run_upkeep();
        }
    };
    let respond = move |req: &Request<Incoming>| endpoint.respond(req);
    tokio::select! {
        () = http::serve(listener, respond, OPTIONS, None, shutdown) => {}
        () = upkeep => {}
    }
    Ok(())
}
