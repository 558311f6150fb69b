//! `https://` through the real broker to a real HTTPS server (hyper over tokio-rustls) that
//! requires a client certificate: certificates made by `openssl` for the test, the CA given
//! with `verify_ssl=<ca file>`, the client certificate and key with `clientcert` (the key in
//! the same file, as `requests` allows).

mod publish_support;
mod runtime_support;
mod tls_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use publish_support::pipeline_to;
use runtime_support::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tls_support::certificates;

#[test]
fn samples_reach_an_https_server_that_requires_a_client_certificate() {
    let broker = Broker::new("https");
    let url = broker.url();
    let rt = runtime();
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(certs.path().join("ca.pem")).unwrap())
        .unwrap();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_file(certs.path().join("server.pem")).unwrap()],
            PrivateKeyDer::from_pem_file(certs.path().join("server.key")).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let samples = Arc::new(AtomicUsize::new(0));
    let with_client_cert = Arc::new(AtomicUsize::new(0));
    let (n, certified) = (samples.clone(), with_client_cert.clone());
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, n, certified) = (acceptor.clone(), n.clone(), certified.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let has_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (n, certified) = (n.clone(), certified.clone());
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let list: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        let count = list.as_array().map_or(0, Vec::len);
                        n.fetch_add(count, Ordering::SeqCst);
                        if has_cert {
                            certified.fetch_add(count, Ordering::SeqCst);
                        }
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let dir = config_dir(&settings(50, 10));
    let publisher = format!(
        "https://{addr}/collect?verify_ssl={}&clientcert={}",
        certs.path().join("ca.pem").display(),
        certs.path().join("client-with-key.pem").display()
    );
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let _agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("s", 20)));
    wait_until("20 samples over TLS", Duration::from_secs(30), || {
        samples.load(Ordering::SeqCst) >= 20
    });
    assert_eq!(
        with_client_cert.load(Ordering::SeqCst),
        samples.load(Ordering::SeqCst)
    );
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
}
