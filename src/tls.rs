//! What ceilo's TLS clients trust: the certificates of a PEM CA file (oslo's `ssl_ca_file` for
//! the brokers, keystoneauth's `cafile` for Keystone and the services it lists), or else the
//! system's root certificates. The one reader of both, for `transport::tls` and `http::client`;
//! errors are the reason alone, which each caller prefixes with the option that named the file.

use std::path::Path;
use std::sync::OnceLock;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
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
