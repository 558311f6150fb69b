//! The HTTP client ceilo's outbound requests share (dynamic pollsters, the Gnocchi publisher
//! and its Keystone token requests): HTTP/1.1 over plain TCP or rustls with the platform's
//! root certificates. Only its construction lives here; each caller sets its own timeouts and
//! body limits.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A pooled client for `http://` and `https://` URLs.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client trusting the platform's root certificates (none, with a warning, when they
/// cannot be read: `https://` requests then fail to verify, `http://` ones work).
pub fn http_client() -> HttpClient {
    let provider = || Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_provider_and_native_roots(provider()) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no native root certificates: https endpoints will fail to verify");
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                });
            match config {
                Ok(c) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(c),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build a TLS configuration");
                    hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    )
                }
            }
        }
    };
    let https = builder.https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(https)
}
