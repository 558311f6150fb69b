//! The HTTP client ceilo's outbound requests share (dynamic pollsters, the Gnocchi publisher
//! and its Keystone token requests): HTTP/1.1 over plain TCP or rustls with the platform's
//! root certificates, or, for a Keystone session, the CA file or the lack of verification its
//! credentials ask for (keystoneauth's `cafile`, `insecure`). Only its construction lives
//! here; each caller sets its own timeouts and body limits.

use std::path::Path;
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
    let roots = crate::tls::system_roots();
    if roots.is_empty() {
        tracing::warn!("no native root certificates: https endpoints will fail to verify");
    }
    let config = match crate::tls::client_builder() {
        Ok((builder, _)) => builder.with_root_certificates(roots).with_no_client_auth(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build a TLS configuration");
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        }
    };
    http_client_with(config)
}

/// A client trusting only the certificates of `cafile` (keystoneauth's `cafile`, which
/// requests then verifies every https endpoint of the session against), or none at all with
/// `insecure`; with neither, [`http_client`]. A CA file that cannot be used is an error naming it.
pub fn http_client_verifying(cafile: Option<&Path>, insecure: bool) -> Result<HttpClient, String> {
    let (builder, provider) =
        crate::tls::client_builder().map_err(|e| format!("cannot build a TLS configuration: {e}"))?;
    let config = match (insecure, cafile) {
        (true, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(any_certificate(provider))
            .with_no_client_auth(),
        (false, Some(path)) => {
            let roots = crate::tls::ca_roots(path).map_err(|e| format!("cafile {}: {e}", path.display()))?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        (false, None) => return Ok(http_client()),
    };
    Ok(http_client_with(config))
}

/// A client for `http://` and `https://` URLs with this TLS configuration.
pub fn http_client_with(config: rustls::ClientConfig) -> HttpClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// A verifier that takes any certificate, as requests' `verify=False` does (keystoneauth's
/// `insecure`, an HTTP publisher's `verify_ssl=False`); the handshake's signatures are still
/// checked, so the peer holds the key of the certificate it sent.
pub fn any_certificate(
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Arc<dyn rustls::client::danger::ServerCertVerifier> {
    Arc::new(NoVerification(provider))
}

#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
