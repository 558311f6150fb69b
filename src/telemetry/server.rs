//! The HTTP listener: `/metrics`, `/healthz`, `/readyz`, on a thread and a tokio runtime of
//! its own.
//!
//! Why its own thread: the actix arbiters are exactly what is saturated when an operator
//! most needs the numbers; a current-thread runtime here is never queued behind conversion
//! work. It does not serve anything else, and it does not authenticate (bind it to loopback
//! or a management network).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use super::metrics::{BUILD_INFO, LABEL_VERSION, READY};
use super::process::{render_single, ProcessStats};
use super::readiness::Readiness;

/// How often histogram data is drained when nobody scrapes, so an unscraped agent's memory
/// stays bounded (metrics-exporter-prometheus leaves this to the caller).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A client has this long to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

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

    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        match req.uri().path() {
            "/metrics" => {
                let mut resp = text(StatusCode::OK, self.render_metrics());
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
                resp
            }
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

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Accepts and serves until `shutdown` flips to true.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    endpoint: Endpoint,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = upkeep.tick() => endpoint.prometheus.run_upkeep(),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // EMFILE and friends: back off instead of spinning on the error.
                        tracing::warn!(error = %err, "telemetry: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                tokio::spawn(serve_connection(stream, peer, endpoint.clone(), shutdown.clone()));
            }
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    endpoint: Endpoint,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| {
        let resp = endpoint.respond(&req);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "telemetry: connection ended with an error");
            }
        }
        _ = shutdown.changed() => conn.as_mut().graceful_shutdown(),
    }
}
