//! TLS to RabbitMQ: oslo's `[oslo_messaging_rabbit] ssl`, `ssl_ca_file`, `ssl_cert_file`,
//! `ssl_key_file` and `ssl_version` (ceilo.yaml `rabbit: {tls: ...}`), turned into one rustls client
//! configuration per transport.
//!
//! The files are read when the configuration is built, which `ceilo check` and the start of
//! `ceilo run` both do: a CA, certificate or key that cannot be read or parsed is an error
//! naming the file, never a connection that fails later. Connecting is not done here (see
//! [`super::amqp`]), nor is deciding which URLs use TLS (`amqps://`, or `enabled`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use serde::Deserialize;

/// How ceilo talks TLS to its brokers: every `amqps://` URL, and every `amqp://`/`rabbit://`
/// URL when `enabled` (as oslo's `ssl` applies to every rabbit transport of the service).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsOptions {
    /// Connect to every broker over TLS (a URL without a port keeps 5672, as in oslo).
    /// oslo `[oslo_messaging_rabbit] ssl`. An `amqps://` URL is TLS (default port 5671)
    /// whatever this says.
    pub enabled: bool,
    /// PEM file of the CA certificate(s) the broker's certificate must chain to; only these
    /// are trusted. Unset: the system's root certificates. The broker's name (the URL's host)
    /// is always verified against its certificate. oslo `ssl_ca_file`.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) presented to a broker that asks for one
    /// (`verify_peer`). oslo `ssl_cert_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`; unset, the key is read from `cert_file`.
    /// oslo `ssl_key_file`.
    pub key_file: Option<PathBuf>,
    /// Protocol versions: empty, `sslv23` or `tls` for TLS 1.2 or 1.3 (the best both sides
    /// speak); `tlsv1_2` or `tlsv1_3` for that version only. oslo `ssl_version`; its `tlsv1`,
    /// `tlsv1_1`, `sslv2` and `sslv3` are refused (insecure, and not spoken by rustls).
    pub version: String,
}

/// A TLS file or option that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("rabbit.tls {what} {}: {reason}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("rabbit.tls: {0}")]
    Invalid(String),
}

/// A built client configuration and what it trusts, for errors.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<rustls::ClientConfig>,
    /// `CA file <path>` or `the system's root certificates`: what a broker certificate was
    /// checked against, said in connection errors.
    pub trust: String,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("trust", &self.trust).finish()
    }
}

impl TlsOptions {
    /// The rustls client configuration these options describe (files read now).
    pub fn client(&self) -> Result<ClientTls, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let versions = self.versions()?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Invalid(format!("version {:?}: {e}", self.version)))?;
        let (roots, trust) = match &self.ca_file {
            Some(path) => (
                crate::tls::ca_roots(path).map_err(|r| file_error("ca_file", path, r))?,
                format!("CA file {}", path.display()),
            ),
            None => (
                crate::tls::system_roots(),
                "the system's root certificates".to_owned(),
            ),
        };
        let builder = builder.with_root_certificates(roots);
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (None, Some(key)) => {
                return Err(TlsError::Invalid(format!(
                    "key_file {} without cert_file: give the client certificate too",
                    key.display()
                )))
            }
            (Some(cert), key) => {
                let key = key.as_ref().unwrap_or(cert);
                let chain = crate::tls::certificates(cert).map_err(|r| file_error("cert_file", cert, r))?;
                let private =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("key_file", key, e))?;
                builder
                    .with_client_auth_cert(chain, private)
                    .map_err(|e| file_error("key_file", key, format!("does not fit the certificate: {e}")))?
            }
        };
        Ok(ClientTls {
            config: Arc::new(config),
            trust,
        })
    }

    fn versions(&self) -> Result<&'static [&'static rustls::SupportedProtocolVersion], TlsError> {
        static BOTH: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        static TLS13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self.version.to_ascii_lowercase().as_str() {
            "" | "sslv23" | "tls" => Ok(&BOTH),
            "tlsv1_2" => Ok(&TLS12),
            "tlsv1_3" => Ok(&TLS13),
            "tlsv1" | "tlsv1_1" | "sslv2" | "sslv3" => Err(TlsError::Invalid(format!(
                "version {:?} is not supported (insecure): use tlsv1_2, tlsv1_3 or leave it empty",
                self.version
            ))),
            _ => Err(TlsError::Invalid(format!(
                "unknown version {:?}: one of sslv23, tlsv1_2, tlsv1_3, or empty",
                self.version
            ))),
        }
    }
}

fn file_error(what: &'static str, path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oslo_versions_map_to_rustls_and_insecure_ones_are_refused() {
        let with = |v: &str| TlsOptions {
            version: v.into(),
            ..Default::default()
        };
        assert_eq!(with("").versions().unwrap().len(), 2);
        assert_eq!(with("SSLv23").versions().unwrap().len(), 2);
        assert_eq!(
            with("TLSv1_2").versions().unwrap()[0].version,
            rustls::ProtocolVersion::TLSv1_2
        );
        assert_eq!(
            with("tlsv1_3").versions().unwrap()[0].version,
            rustls::ProtocolVersion::TLSv1_3
        );
        let refused = with("TLSv1").versions().unwrap_err().to_string();
        assert!(refused.contains("\"TLSv1\" is not supported"), "{refused}");
        assert!(with("tls2").versions().is_err());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing-ca.pem");
        let options = TlsOptions {
            enabled: true,
            ca_file: Some(missing.clone()),
            ..Default::default()
        };
        let e = options.client().unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("rabbit.tls ca_file {}: ", missing.display())),
            "{e}"
        );
        assert!(e.contains("No such file"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let options = TlsOptions {
            ca_file: Some(empty),
            ..Default::default()
        };
        let e = options.client().unwrap_err().to_string();
        assert!(e.contains("no PEM certificate in it"), "{e}");
    }

    #[test]
    fn a_key_without_a_certificate_is_refused() {
        let options = TlsOptions {
            key_file: Some("client.key".into()),
            ..Default::default()
        };
        let e = options.client().unwrap_err().to_string();
        assert!(e.contains("key_file client.key without cert_file"), "{e}");
    }

    #[test]
    fn without_a_ca_file_the_system_roots_are_trusted() {
        let tls = TlsOptions::default().client().unwrap();
        assert_eq!(tls.trust, "the system's root certificates");
    }
}
