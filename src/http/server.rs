//! The one way ceilo serves HTTP (the telemetry endpoint, the polled-samples exporter): hyper's
//! HTTP/1.1 per connection, a deadline on reading each request's headers, `GET` and `HEAD` only,
//! and a graceful stop. What a path answers is the caller's `respond`; this module knows no
//! path.
//!
//! It does not authenticate, and serves no request bodies: both servers only expose text to
//! scrapers (bind them to loopback or a management network).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

/// A client has this long to send its request headers, or the connection is closed: a client
/// that connects and stalls cannot hold a task and a socket for ever.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The Prometheus text exposition format's content type.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How a server treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Labels the log lines.
    pub name: &'static str,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// Serve several requests per connection (HTTP/1.1 keep-alive), or close after one.
    pub keep_alive: bool,
}

/// A complete response.
pub type Reply = Response<Full<Bytes>>;

/// A plain-text response.
pub fn text(status: StatusCode, body: String) -> Reply {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// A `200` in the Prometheus text exposition format.
pub fn prometheus_text(body: String) -> Reply {
    let mut resp = text(StatusCode::OK, body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
    resp
}

/// Accepts and serves until `shutdown` flips to true (or its sender is dropped). `respond`
/// answers every `GET` and `HEAD`; any other method gets `405`. With `tls`, every connection
/// is https (its handshake bounded by the header deadline); without, plain http.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    respond: F,
    options: Options,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn(&Request<Incoming>) -> Reply + Clone + Send + Sync + 'static,
{
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // EMFILE and friends: back off instead of spinning on the error.
                        tracing::warn!(error = %err, server = options.name, "HTTP accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (respond, stopping) = (respond.clone(), shutdown.clone());
                match &tls {
                    None => {
                        tokio::spawn(serve_connection(stream, peer, respond, options, stopping));
                    }
                    Some(acceptor) => {
                        let handshake = acceptor.accept(stream);
                        tokio::spawn(async move {
                            match tokio::time::timeout(options.header_timeout, handshake).await {
                                Ok(Ok(stream)) => serve_connection(stream, peer, respond, options, stopping).await,
                                Ok(Err(err)) => {
                                    tracing::debug!(%peer, error = %err, server = options.name, "TLS handshake failed")
                                }
                                Err(_) => tracing::debug!(%peer, server = options.name, "TLS handshake timed out"),
                            }
                        });
                    }
                }
            }
        }
    }
}

async fn serve_connection<F, S>(
    stream: S,
    peer: SocketAddr,
    respond: F,
    options: Options,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn(&Request<Incoming>) -> Reply + Send + Sync + 'static,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let resp = if req.method() == Method::GET || req.method() == Method::HEAD {
            respond(&req)
        } else {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            resp
        };
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(options.keep_alive)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, server = options.name, "HTTP connection ended with an error");
            }
        }
        _ = shutdown.changed() => conn.as_mut().graceful_shutdown(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn start(header_timeout: Duration, keep_alive: bool) -> (SocketAddr, watch::Sender<bool>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(false);
        let respond = |req: &Request<Incoming>| match req.uri().path() {
            "/x" => text(StatusCode::OK, "x\n".into()),
            _ => text(StatusCode::NOT_FOUND, "no\n".into()),
        };
        let options = Options {
            name: "test",
            header_timeout,
            keep_alive,
        };
        tokio::spawn(serve(listener, respond, options, None, rx));
        (addr, tx)
    }

    async fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).await.unwrap();
        reply
    }

    #[tokio::test]
    async fn answers_get_and_head_through_respond_and_refuses_other_methods() {
        let (addr, _stop) = start(HEADER_TIMEOUT, true).await;
        let ok = exchange(addr, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
        assert!(
            ok.starts_with("HTTP/1.1 200 OK") && ok.ends_with("\r\n\r\nx\n"),
            "{ok}"
        );
        let head = exchange(addr, "HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let post = exchange(
            addr,
            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert!(post.to_ascii_lowercase().contains("allow: get, head"), "{post}");
    }

    /// A client that sends part of its headers and stalls is cut off at the deadline.
    #[tokio::test]
    async fn a_stalled_request_is_closed_after_the_header_timeout() {
        let (addr, _stop) = start(Duration::from_millis(300), true).await;
        let started = Instant::now();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /x HTTP/1.1\r\nHost: h\r\n").await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "still open after 5 s");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "closed after {waited:?}");
        assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
    }

    /// Without keep-alive, a client that reads to the end gets its one response and EOF.
    #[tokio::test]
    async fn without_keep_alive_a_connection_ends_after_one_response() {
        let (addr, _stop) = start(HEADER_TIMEOUT, false).await;
        let reply = tokio::time::timeout(
            Duration::from_secs(2),
            exchange(addr, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
        )
        .await
        .expect("the connection stayed open");
        assert!(
            reply.starts_with("HTTP/1.1 200 OK") && reply.ends_with("x\n"),
            "{reply}"
        );
    }

    #[tokio::test]
    async fn shutdown_stops_accepting() {
        let (addr, stop) = start(HEADER_TIMEOUT, true).await;
        stop.send(true).unwrap();
        // The listener is dropped once the accept loop returns: connections are refused.
        let deadline = Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(Instant::now() < deadline, "still accepting after shutdown");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
