//! The PEM files of ceilo's TLS: what its clients trust (the certificates of a CA file: oslo's
//! `ssl_ca_file` for the brokers, keystoneauth's `cafile` for Keystone and the services it
//! lists; or else the system's root certificates), and what its servers present (the polled
//! samples' exporter: a certificate chain and its key). The one reader of them, for
//! `transport::tls`, `http` and `polling`; errors are the reason alone, which each caller
//! prefixes with the option that named the file.

use std::path::Path;
use std::sync::OnceLock;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// Every certificate of a PEM file; none is an error (a key file or a DER file given by
/// mistake would otherwise trust nothing, or present nothing, without saying so).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    // Read first: the PEM reader's error for a missing file does not say "No such file".
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

/// The CA certificates of a PEM file, as the only roots trusted.
pub fn ca_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    Ok(roots)
}

/// The system's roots, loaded once per process.
pub fn system_roots() -> RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!(error = %e, "a system root certificate could not be loaded");
            }
            roots.add_parsable_certificates(native.certs);
            roots
        })
        .clone()
}

/// How every HTTPS client configuration starts (the Keystone session's, dynamic pollsters', the
/// HTTP publishers'): aws-lc-rs with rustls' safe default protocol versions; and the provider,
/// which a verifier that takes any certificate still checks the handshake's signatures with.
pub fn client_builder() -> Result<
    (
        rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
        std::sync::Arc<rustls::crypto::CryptoProvider>,
    ),
    rustls::Error,
> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    Ok((builder, provider))
}

/// A server configuration presenting the chain of `certfile` with the key of `keyfile`.
pub fn server_config(certfile: &Path, keyfile: &Path) -> Result<rustls::ServerConfig, String> {
    let chain = certificates(certfile).map_err(|e| format!("{}: {e}", certfile.display()))?;
    let key = PrivateKeyDer::from_pem_file(keyfile).map_err(|e| format!("{}: {e}", keyfile.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("{} and {}: {e}", certfile.display(), keyfile.display()))
}
