//! `tcp://host[:port]` (port 4952): each sample as Ceilometer's `TCPPublisher` frames it, an
//! 8-byte little-endian length and then `msgpack.dumps(meter_message_from_counter(sample,
//! telemetry_secret, host), use_bin_type=True)` (so the message carries, and signs,
//! `publisher_id` = the agent's host), on one kept-open connection. Samples only (Ceilometer's
//! publisher raises for events; ceilo sends none).
//!
//! A flush is durable once all its frames are written to the socket. A connection the receiver
//! has closed is replaced before a flush is written to it; a failed connect or write drops the
//! connection and fails the flush; the retry reconnects and writes the whole flush
//! again, so a receiver may see a flush twice (and, before a dropped connection, a frame cut
//! short, which it must discard as Ceilometer's receivers do). Ceilometer instead gives up on
//! the rest of its batch after one failed reconnect.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::url::HostPort;
use super::{Items, Output, PublishError, Write};
use crate::model::meter_message::meter_message_value_from;
use crate::model::msgpack::write_msgpack;
use crate::model::Sample;

/// How long a connect may take before the flush fails (and is retried).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Appends the frame of one sample.
pub fn write_frame(out: &mut Vec<u8>, sample: &Sample, secret: &[u8], host: &str) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    write_msgpack(out, &meter_message_value_from(sample, secret, Some(host)));
    let len = (out.len() - start - 8) as u64;
    out[start..start + 8].copy_from_slice(&len.to_le_bytes());
}

struct Connection {
    target: HostPort,
    name: String,
    stream: Mutex<Option<TcpStream>>,
}

impl Connection {
    fn fail(&self, reason: impl std::fmt::Display) -> PublishError {
        PublishError::Http {
            url: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    async fn send(&self, frames: &[u8]) -> Result<(), PublishError> {
        let mut stream = self.stream.lock().await;
        if stream.as_ref().is_some_and(peer_closed) {
            // Written now, the frames would be taken by the kernel and lost to the reset.
            *stream = None;
        }
        if stream.is_none() {
            let connect = TcpStream::connect((self.target.host.as_str(), self.target.port));
            let s = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| self.fail(format!("no connection in {CONNECT_TIMEOUT:?}")))?
                .map_err(|e| self.fail(format!("connect: {e}")))?;
            let _ = s.set_nodelay(true);
            *stream = Some(s);
        }
        let Some(s) = stream.as_mut() else {
            return Err(self.fail("not connected"));
        };
        let written = async {
            s.write_all(frames).await?;
            s.flush().await
        }
        .await;
        if let Err(e) = written {
            *stream = None; // reconnect on the retry
            return Err(self.fail(format!("write: {e}")));
        }
        Ok(())
    }
}

/// Whether the receiver has closed the connection (it never sends anything, so a readable
/// socket means end of stream or an error).
fn peer_closed(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false, // unexpected bytes from the receiver: ignored
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

pub struct TcpOutput {
    name: String,
    secret: Vec<u8>,
    host: String,
    connection: Arc<Connection>,
}

impl TcpOutput {
    /// `host`: the agent's host name, the messages' `publisher_id`.
    pub fn new(target: &HostPort, secret: &str, host: &str) -> TcpOutput {
        let name = format!("tcp://{}:{}", target.host, target.port);
        TcpOutput {
            name: name.clone(),
            secret: secret.as_bytes().to_vec(),
            host: host.to_owned(),
            connection: Arc::new(Connection {
                target: target.clone(),
                name,
                stream: Mutex::new(None),
            }),
        }
    }

    /// The bytes a flush is written as.
    pub fn encode(&self, samples: &[Sample]) -> Vec<u8> {
        let mut out = Vec::with_capacity(samples.len() * 600);
        for s in samples {
            write_frame(&mut out, s, &self.secret, &self.host);
        }
        out
    }
}

impl Output for TcpOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let frames: Arc<[u8]> = self.encode(&flush.samples).into();
        let connection = self.connection.clone();
        Ok(Arc::new(move || {
            let (frames, connection) = (frames.clone(), connection.clone());
            Box::pin(async move {
                if frames.is_empty() {
                    return Ok(());
                }
                connection.send(&frames).await
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::fixtures;

    /// The stream Ceilometer's `TCPPublisher` wrote for the fixture samples (default secret,
    /// host `ceilo-test-host`).
    #[test]
    fn frames_are_what_ceilometer_writes() {
        let out = TcpOutput::new(
            &HostPort {
                host: "127.0.0.1".into(),
                port: 1,
            },
            "change this for valid signing",
            "ceilo-test-host",
        );
        let want = fixtures::read("tcp.hex");
        assert_eq!(hex::encode(out.encode(&fixtures::samples())), want.trim());
    }
}
