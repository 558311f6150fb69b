//! `udp://host[:port]` (port 4952): one datagram per sample holding
//! `msgpack.dumps(meter_message_from_counter(sample, telemetry_secret), use_bin_type=True)`,
//! byte for byte what Ceilometer's `UDPPublisher` sends. Samples only (Ceilometer's publisher
//! raises for events; ceilo sends none).
//!
//! **At most once.** A datagram is not acknowledged: a flush counts as delivered once every
//! datagram was handed to the kernel, and one lost on the way (receiver down, full buffer,
//! network) is lost. What ceilo adds over Ceilometer: a send that fails locally (no route, host
//! not resolved, no buffer) fails the flush, which is retried from the first datagram not yet
//! sent (none is sent twice); a datagram that can never be sent (larger than UDP allows) is
//! logged, counted in `ceilo_samples_publish_failed_total` and skipped, so that it cannot stall
//! the publisher.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::Mutex;

use super::url::HostPort;
use super::{Items, Output, PublishError, Write};
use crate::model::meter_message::meter_message_value;
use crate::model::msgpack::write_msgpack;
use crate::model::{Payload, Sample};
use crate::telemetry::handles::PublisherMetrics;

/// The datagram of one sample.
pub fn datagram(sample: &Sample, secret: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_msgpack(&mut out, &meter_message_value(sample, secret));
    out
}

/// The socket, bound for the address family the host last resolved to.
struct Socket {
    target: HostPort,
    socket: Mutex<Option<(bool, Arc<UdpSocket>)>>,
}

impl Socket {
    fn fail(&self, reason: impl std::fmt::Display) -> PublishError {
        PublishError::Http {
            url: format!("udp://{}:{}", self.target.host, self.target.port),
            reason: reason.to_string(),
        }
    }

    /// The address to send to (resolved per flush: the host may move) and a socket for it.
    async fn get(&self) -> Result<(SocketAddr, Arc<UdpSocket>), PublishError> {
        let host = (self.target.host.as_str(), self.target.port);
        let addr = tokio::net::lookup_host(host)
            .await
            .map_err(|e| self.fail(format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| self.fail("resolves to no address"))?;
        let mut socket = self.socket.lock().await;
        match &*socket {
            Some((v6, s)) if *v6 == addr.is_ipv6() => Ok((addr, s.clone())),
            _ => {
                let bind = if addr.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
                let s = Arc::new(UdpSocket::bind(bind).await.map_err(|e| self.fail(e))?);
                *socket = Some((addr.is_ipv6(), s.clone()));
                Ok((addr, s))
            }
        }
    }
}

pub struct UdpOutput {
    name: String,
    secret: Vec<u8>,
    socket: Arc<Socket>,
    metrics: PublisherMetrics,
}

impl UdpOutput {
    /// `metrics`: this publisher's counters, where datagrams that cannot be sent are counted.
    pub fn new(target: &HostPort, secret: &str, metrics: PublisherMetrics) -> UdpOutput {
        UdpOutput {
            name: format!("udp://{}:{}", target.host, target.port),
            secret: secret.as_bytes().to_vec(),
            socket: Arc::new(Socket {
                target: target.clone(),
                socket: Mutex::new(None),
            }),
            metrics,
        }
    }
}

impl Output for UdpOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let datagrams: Arc<[Vec<u8>]> = flush.samples.iter().map(|s| datagram(s, &self.secret)).collect();
        let (socket, metrics, name) = (self.socket.clone(), self.metrics.clone(), self.name.clone());
        let sent = Arc::new(AtomicUsize::new(0));
        Ok(Arc::new(move || {
            let (datagrams, socket, metrics, sent, name) = (
                datagrams.clone(),
                socket.clone(),
                metrics.clone(),
                sent.clone(),
                name.clone(),
            );
            Box::pin(async move {
                if datagrams.is_empty() {
                    return Ok(());
                }
                let (addr, udp) = socket.get().await?;
                while let Some(d) = datagrams.get(sent.load(Ordering::Acquire)) {
                    match udp.send_to(d, addr).await {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                            tracing::error!(publisher = %name, bytes = d.len(), error = %e,
                                "a sample's datagram is too large for UDP: not sent");
                            metrics.failed(Payload::Samples, 1);
                        }
                        Err(e) => return Err(socket.fail(e)),
                    }
                    sent.fetch_add(1, Ordering::AcqRel);
                }
                Ok(())
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::fixtures;

    /// The datagrams Ceilometer's `UDPPublisher` sent for the fixture samples (default secret).
    #[test]
    fn datagrams_are_what_ceilometer_sends() {
        let want: Vec<String> = fixtures::read("udp.hex").lines().map(str::to_owned).collect();
        let got: Vec<String> = fixtures::samples()
            .iter()
            .map(|s| hex::encode(datagram(s, b"change this for valid signing")))
            .collect();
        assert_eq!(got, want);
    }
}
