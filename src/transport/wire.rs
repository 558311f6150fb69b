//! The consuming connection, read on the consumer's own task: frames are cut straight out of
//! the socket's read buffer by [`WireReader::next_delivery`], which the listener's pump awaits.
//!
//! Why not lapin, which does everything else (declares, the backlog, publishing): lapin reads
//! on an I/O thread of its own, woken through a channel by the reactor for every readiness of
//! the socket, and parses with nom: every readiness wakes a tokio worker that wakes lapin's
//! thread that wakes the pump. Here the readiness wakes the pump, which saved ~8 µs of ~45 per
//! notification (README, Performance). The protocol a consumer needs is small: the handshake,
//! one channel, `basic.qos`, `basic.consume`, deliveries, `basic.ack`/`basic.nack`, heartbeats,
//! and the broker's `basic.cancel`, `channel.close` and `connection.close`.
//!
//! Writes (settles, `basic.qos` changes, heartbeats, cancel, close) go through one queue to a
//! writer task, so they leave in the order they were issued whatever task issued them.
//!
//! The frames' byte layout is `frames.rs`'s.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::frames::*;
use super::url::Node;
use super::{Acker, BoxFuture, Delivery, Properties, Settle, TransportError};

/// Room kept free at the end of the read buffer for the next read.
const READ_CHUNK: usize = 64 << 10;
/// The frame size limit before `connection.tune` says it (AMQP's minimum is 4096; RabbitMQ's
/// `connection.start` is well under this).
const HANDSHAKE_FRAME_MAX: usize = 128 << 10;
/// How long `close` waits for the broker's `close-ok`.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub(super) fn closed(what: impl Into<String>) -> TransportError {
    TransportError::Closed(what.into())
}

/// What a failed write to `node` is.
pub(super) fn write_failed(node: &Node) -> impl Fn(std::io::Error) -> TransportError + Copy + '_ {
    move |e| closed(format!("{}: write: {e}", node.address))
}

/// The largest frame a negotiated `frame_max` allows (0 is none).
pub(super) fn frame_limit(frame_max: u32) -> usize {
    match frame_max {
        0 => usize::MAX,
        n => n as usize,
    }
}

/// The broker's `channel.close` or `connection.close` in the method frame `p` on `channel`,
/// answered with its close-ok: why it closed. `None` for any other frame.
pub(super) fn closed_by_broker(channel: u16, p: &[u8], writer: &WireWriter) -> Option<String> {
    match ids(p) {
        CHANNEL_CLOSE => {
            let _ = writer.send(method_frame(CHANNEL, CHANNEL_CLOSE_OK, &[]));
            Some(format!("the broker closed the channel: {}", close_reason(p)))
        }
        CONNECTION_CLOSE if channel == 0 => {
            let _ = writer.send(method_frame(0, CONNECTION_CLOSE_OK, &[]));
            Some(format!("the broker closed the connection: {}", close_reason(p)))
        }
        _ => None,
    }
}

type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// What a consuming connection is opened with.
pub struct ConsumeSetup<'a> {
    pub node: &'a Node,
    /// The connection name the broker shows (`client_properties.connection_name`).
    pub name: &'a str,
    pub queue: &'a str,
    pub consumer_tag: &'a str,
    pub prefetch: u16,
    /// A channel-wide cap set before consuming; 0 = none.
    pub initial_limit: u16,
}

/// Opens a connection to `setup.node`, a channel with the prefetch (and the initial cap), and
/// consumes the queue (which must exist: the transport declared it).
pub async fn consume(setup: ConsumeSetup<'_>) -> Result<(WireReader, WireWriter), TransportError> {
    let node = setup.node;
    let Opened {
        mut reader,
        mut write,
        heartbeat,
        frame_max,
    } = open(node, setup.name).await?;
    let io = write_failed(node);
    write.write_all(&qos(setup.prefetch, false)).await.map_err(io)?;
    reader.expect(CHANNEL, BASIC_QOS_OK).await?;
    if setup.initial_limit > 0 {
        // Before the consumer starts: nothing arrives beyond it.
        write
            .write_all(&qos(setup.initial_limit, true))
            .await
            .map_err(io)?;
        reader.expect(CHANNEL, BASIC_QOS_OK).await?;
    }
    let mut args = 0u16.to_be_bytes().to_vec();
    short_str(&mut args, setup.queue);
    short_str(&mut args, setup.consumer_tag);
    args.push(0); // no-local, no-ack, exclusive, no-wait: all off
    args.extend_from_slice(&0u32.to_be_bytes()); // arguments: none
    write
        .write_all(&method_frame(CHANNEL, BASIC_CONSUME, &args))
        .await
        .map_err(io)?;
    reader.expect(CHANNEL, BASIC_CONSUME_OK).await?;
    running(node, reader, write, heartbeat, frame_max).await
}

/// A connection through its handshake with channel [`CHANNEL`] open, before the caller's own
/// setup: the reader still at the handshake's limits, the write half, what was negotiated.
pub(super) struct Opened {
    pub(super) reader: WireReader,
    pub(super) write: WriteHalf,
    pub(super) heartbeat: u16,
    /// The negotiated frame size limit; 0 is none.
    pub(super) frame_max: u32,
}

/// Connects to `node` (connection name `name`), logs in to its vhost and opens channel
/// [`CHANNEL`].
pub(super) async fn open(node: &Node, name: &str) -> Result<Opened, TransportError> {
    let (read, mut write, fd) = connect(node).await?;
    let mut reader = WireReader::new(read, Some(fd));
    let io = write_failed(node);
    write.write_all(b"AMQP\x00\x00\x09\x01").await.map_err(io)?;
    reader.expect(0, CONNECTION_START).await?;
    write
        .write_all(&method_frame(0, CONNECTION_START_OK, &start_ok(name, node)))
        .await
        .map_err(io)?;
    let tune = reader.expect(0, CONNECTION_TUNE).await?;
    let (channel_max, frame_max, proposed) = match tune.as_slice() {
        [a, b, c, d, e, f, g, h, ..] => (
            u16::from_be_bytes([*a, *b]),
            u32::from_be_bytes([*c, *d, *e, *f]),
            u16::from_be_bytes([*g, *h]),
        ),
        _ => return Err(closed("a short connection.tune")),
    };
    let heartbeat = negotiate_heartbeat(node.uri.query.heartbeat.unwrap_or(0), proposed);
    let ours = node.uri.query.frame_max.unwrap_or(super::url::DEFAULT_FRAME_MAX);
    // 0 is "no limit" on either side.
    let frame_max = match (ours, frame_max) {
        (0, theirs) => theirs,
        (ours, 0) => ours,
        (ours, theirs) => ours.min(theirs),
    };
    let mut args = channel_max.to_be_bytes().to_vec();
    args.extend_from_slice(&frame_max.to_be_bytes());
    args.extend_from_slice(&heartbeat.to_be_bytes());
    write
        .write_all(&method_frame(0, CONNECTION_TUNE_OK, &args))
        .await
        .map_err(io)?;
    let mut args = Vec::new();
    short_str(&mut args, &node.uri.vhost);
    short_str(&mut args, "");
    args.push(0);
    write
        .write_all(&method_frame(0, CONNECTION_OPEN, &args))
        .await
        .map_err(io)?;
    reader.expect(0, CONNECTION_OPEN_OK).await?;
    write
        .write_all(&method_frame(CHANNEL, CHANNEL_OPEN, &[0]))
        .await
        .map_err(io)?;
    reader.expect(CHANNEL, CHANNEL_OPEN_OK).await?;
    Ok(Opened {
        reader,
        write,
        heartbeat,
        frame_max,
    })
}

/// The caller's setup done: the reader at the negotiated limits, the writer task started.
pub(super) async fn running(
    node: &Node,
    mut reader: WireReader,
    mut write: WriteHalf,
    heartbeat: u16,
    frame_max: u32,
) -> Result<(WireReader, WireWriter), TransportError> {
    write.flush().await.map_err(write_failed(node))?;
    reader.heartbeat = heartbeat;
    reader.frame_max = frame_limit(frame_max);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(write, rx, heartbeat));
    Ok((reader, WireWriter { tx }))
}

/// The heartbeat timeout both sides use, as lapin (and py-amqp) pick it: the smaller of the
/// two, and the broker's when ours is 0 (a client cannot turn off what the broker asks for).
fn negotiate_heartbeat(ours: u16, broker: u16) -> u16 {
    if ours == 0 || (broker != 0 && broker < ours) {
        broker
    } else {
        ours
    }
}

/// `connection.start-ok`: the connection name and capabilities, PLAIN credentials.
fn start_ok(name: &str, node: &Node) -> Vec<u8> {
    let mut capabilities = Vec::new();
    // `connection.blocked`: without it the broker blocks a publisher silently (its memory or
    // disk alarm), and nobody could say why publishing stopped.
    for cap in [
        "consumer_cancel_notify",
        "authentication_failure_close",
        "connection.blocked",
    ] {
        short_str(&mut capabilities, cap);
        capabilities.extend_from_slice(&[b't', 1]);
    }
    let mut properties = Vec::new();
    short_str(&mut properties, "connection_name");
    properties.push(b'S');
    long_str(&mut properties, name.as_bytes());
    short_str(&mut properties, "product");
    properties.push(b'S');
    long_str(&mut properties, b"ceilo");
    short_str(&mut properties, "capabilities");
    properties.push(b'F');
    long_str(&mut properties, &capabilities);
    let mut args = Vec::new();
    long_str(&mut args, &properties);
    short_str(&mut args, "PLAIN");
    let user = &node.uri.authority.userinfo;
    long_str(
        &mut args,
        format!("\0{}\0{}", user.username, user.password).as_bytes(),
    );
    short_str(&mut args, "en_US");
    args
}

/// A TCP connection to the node, over TLS when the node says so, split in two halves, and its
/// socket's descriptor (for [`WireReader::wake_after`]).
async fn connect(node: &Node) -> Result<(ReadHalf, WriteHalf, RawFd), TransportError> {
    let authority = &node.uri.authority;
    let host = authority.host.as_str();
    let failed = |e: std::io::Error| closed(format!("connect to {}: {e}", node.describe()));
    let open = async {
        let tcp = TcpStream::connect((host, authority.port)).await?;
        tcp.set_nodelay(true)?;
        let fd = tcp.as_raw_fd();
        let (read, write): (ReadHalf, WriteHalf) = match &node.tls {
            None => {
                let (r, w) = tcp.into_split();
                (Box::new(r), Box::new(w))
            }
            Some(tls) => {
                let server = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
                    .connect(server, tcp)
                    .await?;
                let (r, w) = tokio::io::split(stream);
                (Box::new(r), Box::new(w))
            }
        };
        Ok((read, write, fd))
    };
    match tokio::time::timeout(super::failover::CONNECT_TIMEOUT, open).await {
        Ok(result) => result.map_err(failed),
        Err(_) => Err(closed(format!(
            "connect to {}: no answer in {:?}",
            node.describe(),
            super::failover::CONNECT_TIMEOUT
        ))),
    }
}

/// Writes the queued frames in order, and a heartbeat whenever half the timeout passed without
/// a write. Ends when every sender is gone, after the frame marked last (`connection.close`),
/// or on a write error (the senders then see the queue closed).
async fn write_loop(mut out: WriteHalf, mut queued: mpsc::UnboundedReceiver<Outgoing>, heartbeat: u16) {
    let mut beat = tokio::time::interval(Duration::from_millis(u64::from(heartbeat.max(1)) * 500));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    let mut wrote = false;
    let mut pending = Vec::new();
    loop {
        tokio::select! {
            next = queued.recv() => {
                let Some(mut next) = next else { break };
                let mut last = next.last;
                // One frame (a publisher's whole flush, say) is written as it is; several
                // are gathered into one write.
                let written = if last || queued.is_empty() {
                    out.write_all(&next.frame).await
                } else {
                    pending.clear();
                    pending.extend_from_slice(&next.frame);
                    while !next.last {
                        let Ok(more) = queued.try_recv() else { break };
                        pending.extend_from_slice(&more.frame);
                        next = more;
                    }
                    last = next.last;
                    out.write_all(&pending).await
                };
                if written.is_err() || out.flush().await.is_err() || last {
                    break;
                }
                wrote = true;
            }
            _ = beat.tick(), if heartbeat > 0 => {
                if !wrote && out.write_all(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]).await.is_err() {
                    break;
                }
                wrote = false;
            }
        }
    }
    let _ = out.shutdown().await;
}

/// A frame for the writer; `last` ends the connection's writes.
struct Outgoing {
    frame: Vec<u8>,
    last: bool,
}

/// Sends frames on the consuming connection, in call order.
#[derive(Clone)]
pub struct WireWriter {
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl WireWriter {
    pub(super) fn send(&self, frame: Vec<u8>) -> Result<(), TransportError> {
        self.tx
            .send(Outgoing { frame, last: false })
            .map_err(|_| closed("the connection is closed"))
    }

    /// `connection.close` (reply 200), after everything queued before it; nothing is written
    /// after it.
    pub fn close(&self) {
        let mut args = 200u16.to_be_bytes().to_vec();
        short_str(&mut args, "ceilo shutting down");
        args.extend_from_slice(&[0; 4]); // the class and method that failed: none
        let frame = method_frame(0, CONNECTION_CLOSE, &args);
        let _ = self.tx.send(Outgoing { frame, last: true });
    }

    /// Ends the connection's writes (after what is queued) and closes it: the reader found it
    /// broken or silent, and settles issued later fail instead of going to a dead peer.
    pub(super) fn abandon(&self) {
        let _ = self.tx.send(Outgoing {
            frame: Vec::new(),
            last: true,
        });
    }

    /// `basic.cancel`: the broker stops deliveries (its `cancel-ok` is not awaited: what it
    /// sent meanwhile is requeued when the channel closes).
    pub fn cancel(&self, consumer_tag: &str) -> Result<(), TransportError> {
        let mut args = Vec::new();
        short_str(&mut args, consumer_tag);
        args.push(0);
        self.send(method_frame(CHANNEL, BASIC_CANCEL, &args))
    }
}

#[cfg(test)]
impl WireWriter {
    /// A writer to nowhere, for tests that only build frames.
    pub(super) fn detached() -> WireWriter {
        let (tx, _) = mpsc::unbounded_channel();
        WireWriter { tx }
    }
}

impl Acker for WireWriter {
    fn settle(&self, up_to: u64, how: Settle) -> BoxFuture<'static, Result<(), TransportError>> {
        let mut args = up_to.to_be_bytes().to_vec();
        let sent = match how {
            Settle::Ack => {
                args.push(1); // multiple
                self.send(method_frame(CHANNEL, BASIC_ACK, &args))
            }
            Settle::Requeue => {
                args.push(0b11); // multiple, requeue
                self.send(method_frame(CHANNEL, BASIC_NACK, &args))
            }
        };
        Box::pin(async move { sent })
    }

    /// `basic.qos` with `global`, queued after the settles issued before it; its `qos-ok` is
    /// not awaited (the broker applies a channel's methods in order).
    fn limit(&self, max_unacked: u16) -> BoxFuture<'static, Result<(), TransportError>> {
        let sent = self.send(qos(max_unacked, true));
        Box::pin(async move { sent })
    }
}

/// A frame cut out of the read buffer: its type, channel and where its payload lies.
pub(super) struct Frame {
    pub(super) kind: u8,
    pub(super) channel: u16,
    payload: std::ops::Range<usize>,
}

/// A delivery whose content is still arriving, and how many body bytes are still to come.
struct Partial {
    delivery: Delivery,
    left: u64,
}

/// Reads the consuming connection.
pub struct WireReader {
    socket: ReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The negotiated heartbeat timeout (0: none): a broker silent for twice of it is gone.
    heartbeat: u16,
    /// The largest frame the broker may send (the negotiated `frame_max`): the read buffer
    /// never grows past it, whatever a frame's size field says.
    frame_max: usize,
    partial: Option<Partial>,
    /// The socket's descriptor, open as long as `socket` is (`None` for a stream that is not a
    /// socket, in tests), and the receive low-water mark last set on it.
    fd: Option<RawFd>,
    wake_bytes: usize,
    /// The last delivery's exchange and routing key: a queue's deliveries nearly always share
    /// them, so each delivery takes a reference instead of two new strings.
    names: (Arc<str>, Arc<str>),
}

/// What the broker told the consumer, other than a delivery part.
enum Control {
    /// The broker cancelled the consumer (the queue was deleted, say).
    Cancelled,
    /// The broker closed the channel or the connection (`close-ok` sent back).
    Closed(String),
}

impl WireReader {
    /// A reader for the handshake: no heartbeat yet, frames up to [`HANDSHAKE_FRAME_MAX`].
    /// `fd` is the socket under `socket` (`None` for a stream that is not one).
    fn new(socket: ReadHalf, fd: Option<RawFd>) -> WireReader {
        WireReader {
            socket,
            buf: vec![0; 2 * READ_CHUNK],
            start: 0,
            end: 0,
            heartbeat: 0,
            frame_max: HANDSHAKE_FRAME_MAX,
            partial: None,
            fd,
            wake_bytes: 1,
            names: (Arc::from(""), Arc::from("")),
        }
    }

    /// Until told otherwise, a read waiting on the socket is woken only once `bytes` have
    /// arrived (`SO_RCVLOWAT`; 1 is every arrival). The broker writes a few deliveries at a
    /// time, and each write would wake the thread parked in `epoll_wait`, even while the pump
    /// is not waiting for anything but a batch to fill: a threshold turns those wake-ups into
    /// one per threshold's worth. Lowering it makes the kernel signal at once what arrived
    /// under it. True when it lowered the threshold.
    pub fn wake_after(&mut self, bytes: usize) -> bool {
        let bytes = bytes.clamp(1, i32::MAX as usize);
        let Some(fd) = self.fd else { return false };
        if bytes == self.wake_bytes {
            return false;
        }
        let value = bytes as libc::c_int;
        // SAFETY: `fd` is this reader's socket, kept open by `self.socket`; the option value
        // is a c_int on the stack, passed with its size, as setsockopt(2) requires.
        let set = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set != 0 {
            return false;
        }
        let lowered = bytes < self.wake_bytes;
        self.wake_bytes = bytes;
        lowered
    }

    /// The next whole delivery; `None` once the broker cancelled the consumer; an error when
    /// the channel or the connection is gone. Cancel-safe: what was read stays buffered.
    pub async fn next_delivery(&mut self, writer: &WireWriter) -> Option<Result<Delivery, TransportError>> {
        loop {
            let frame = match self.frame().await {
                Ok(frame) => frame,
                Err(e) => {
                    writer.abandon();
                    return Some(Err(e));
                }
            };
            match self.take(&frame, writer) {
                Ok(Some(delivery)) => return Some(Ok(delivery)),
                Ok(None) => {}
                Err(Control::Cancelled) => return None,
                Err(Control::Closed(why)) => {
                    writer.abandon();
                    return Some(Err(closed(why)));
                }
            }
        }
    }

    /// Reads until the broker's `connection.close-ok` (or anything ending the connection), at
    /// most [`CLOSE_WAIT`].
    pub async fn close_ok(&mut self) {
        let wait = async {
            while let Ok(frame) = self.frame().await {
                let p = &self.buf[frame.payload.clone()];
                if frame.kind == FRAME_METHOD && frame.channel == 0 && ids(p) == CONNECTION_CLOSE_OK {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, wait).await;
    }

    /// One frame's part in a delivery; `Some` when it completed one.
    fn take(&mut self, frame: &Frame, writer: &WireWriter) -> Result<Option<Delivery>, Control> {
        let p = &self.buf[frame.payload.clone()];
        match frame.kind {
            FRAME_METHOD => match ids(p) {
                BASIC_DELIVER => {
                    let deliver = Deliver::parse(p)
                        .ok_or_else(|| Control::Closed("the broker sent a malformed basic.deliver".into()))?;
                    let exchange = shared(&mut self.names.0, deliver.exchange);
                    let routing_key = shared(&mut self.names.1, deliver.routing_key);
                    self.partial = Some(Partial {
                        delivery: Delivery {
                            tag: deliver.tag,
                            body: Vec::new(),
                            exchange,
                            routing_key,
                            redelivered: deliver.redelivered,
                            properties: Properties::default(),
                        },
                        left: 0,
                    });
                }
                BASIC_CANCEL => return Err(Control::Cancelled),
                // Otherwise qos-ok, cancel-ok, connection.blocked/unblocked: nothing to do.
                _ => {
                    if let Some(why) = closed_by_broker(frame.channel, p, writer) {
                        return Err(Control::Closed(why));
                    }
                }
            },
            FRAME_HEADER => {
                let bad = || Control::Closed("the broker sent a malformed content header".into());
                let d = self.partial.as_mut().ok_or_else(bad)?;
                let size = p.get(4..12).ok_or_else(bad)?;
                let size = u64::from_be_bytes(size.try_into().map_err(|_| bad())?);
                let (_, properties) = lapin::protocol::basic::parse_properties(p.get(12..).ok_or_else(bad)?)
                    .map_err(|_| bad())?;
                d.delivery.properties = properties;
                d.left = size;
                d.delivery.body = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 26));
                if size == 0 {
                    return Ok(self.partial.take().map(|d| d.delivery));
                }
            }
            FRAME_BODY => {
                let d = self
                    .partial
                    .as_mut()
                    .ok_or_else(|| Control::Closed("the broker sent a body without a delivery".into()))?;
                d.delivery.body.extend_from_slice(p);
                d.left = d.left.saturating_sub(p.len() as u64);
                if d.left == 0 {
                    return Ok(self.partial.take().map(|d| d.delivery));
                }
            }
            _ => {} // heartbeats: reading them was the point
        }
        Ok(None)
    }

    /// The next frame, reading as needed; an error when the socket ends, fails, or stays
    /// silent for twice the heartbeat timeout.
    pub(super) async fn frame(&mut self) -> Result<Frame, TransportError> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if avail.len() >= 7 {
                let size = u32::from_be_bytes([avail[3], avail[4], avail[5], avail[6]]) as usize;
                if size + 8 > self.frame_max {
                    return Err(closed(format!(
                        "the broker sent a frame of {size} bytes, over the frame_max of {}",
                        self.frame_max
                    )));
                }
                if avail.len() > size + 7 {
                    if avail[size + 7] != FRAME_END {
                        return Err(closed("the broker sent a frame without its end marker"));
                    }
                    let frame = Frame {
                        kind: avail[0],
                        channel: u16::from_be_bytes([avail[1], avail[2]]),
                        payload: self.start + 7..self.start + 7 + size,
                    };
                    self.start += size + 8;
                    return Ok(frame);
                }
                if size + 8 + READ_CHUNK > self.buf.len() {
                    self.buf.resize(size + 8 + READ_CHUNK, 0);
                }
            }
            if self.buf.len() - self.end < READ_CHUNK {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            let read = self.socket.read(&mut self.buf[self.end..]);
            let read = match self.heartbeat {
                0 => read.await,
                s => {
                    let silent = Duration::from_secs(2 * u64::from(s));
                    let waited = tokio::time::timeout(silent, read).await;
                    if waited.is_err() && self.wake_bytes > 1 {
                        // Heartbeats under the threshold wake nobody: look again at every
                        // arrival before calling the broker silent.
                        self.wake_after(1);
                        continue;
                    }
                    waited.unwrap_or_else(|_| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("nothing from the broker in {silent:?} (heartbeat {s} s)"),
                        ))
                    })
                }
            };
            match read {
                Ok(0) => return Err(closed("the broker closed the connection")),
                Ok(n) => self.end += n,
                Err(e) => return Err(closed(format!("reading from the broker: {e}"))),
            }
        }
    }

    /// The payload of `frame`, the last frame [`WireReader::frame`] returned.
    pub(super) fn payload(&self, frame: &Frame) -> &[u8] {
        &self.buf[frame.payload.clone()]
    }

    /// The next method frame on `channel` during the handshake and setup, which must be `want`;
    /// its arguments. A close from the broker (a refused login, a missing queue) is an error
    /// with the broker's reason.
    pub(super) async fn expect(&mut self, channel: u16, want: (u16, u16)) -> Result<Vec<u8>, TransportError> {
        loop {
            let frame = self.frame().await?;
            let p = &self.buf[frame.payload.clone()];
            if frame.kind != FRAME_METHOD {
                continue;
            }
            let got = ids(p);
            if got == CONNECTION_CLOSE || got == CHANNEL_CLOSE {
                return Err(closed(format!(
                    "the broker refused (waiting for {}): {}",
                    method_name(want),
                    close_reason(p)
                )));
            }
            if frame.channel == channel && got == want {
                return Ok(p[4..].to_vec());
            }
        }
    }
}

/// `name` as an `Arc<str>`: `last` again when it is the same text.
pub(super) fn shared(last: &mut Arc<str>, name: &str) -> Arc<str> {
    if &**last != name {
        *last = Arc::from(name);
    }
    last.clone()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn deliveries_share_a_repeated_name_and_take_a_new_one() {
        let mut last: Arc<str> = Arc::from("");
        let nova = shared(&mut last, "nova");
        assert_eq!(&*nova, "nova");
        assert!(
            Arc::ptr_eq(&nova, &shared(&mut last, "nova")),
            "same text, same allocation"
        );
        assert_eq!(&*shared(&mut last, "glance"), "glance");
        assert_eq!(&*last, "glance");
    }

    #[test]
    fn the_heartbeat_is_the_smaller_one_and_the_brokers_when_ours_is_off() {
        assert_eq!(negotiate_heartbeat(60, 60), 60);
        assert_eq!(negotiate_heartbeat(17, 60), 17);
        assert_eq!(negotiate_heartbeat(120, 60), 60);
        assert_eq!(negotiate_heartbeat(0, 60), 60);
        assert_eq!(negotiate_heartbeat(30, 0), 30);
        assert_eq!(negotiate_heartbeat(0, 0), 0);
    }

    /// A reader on one end of an in-memory stream (the broker's end is returned), and a writer
    /// whose frames land in the receiver.
    fn wired() -> (
        tokio::io::DuplexStream,
        WireReader,
        WireWriter,
        mpsc::UnboundedReceiver<Outgoing>,
    ) {
        let (broker, client) = tokio::io::duplex(1 << 20);
        let (read, _) = tokio::io::split(client);
        let (tx, rx) = mpsc::unbounded_channel();
        (
            broker,
            WireReader::new(Box::new(read), None),
            WireWriter { tx },
            rx,
        )
    }

    fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&channel.to_be_bytes());
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f.push(FRAME_END);
        f
    }

    /// basic.deliver, a content header without properties and the body in frames of `chunk`.
    fn delivery(tag: u64, body: &[u8], chunk: usize) -> Vec<u8> {
        let mut args = Vec::new();
        short_str(&mut args, "ctag");
        args.extend_from_slice(&tag.to_be_bytes());
        args.push(1); // redelivered
        short_str(&mut args, "nova");
        short_str(&mut args, "notifications.info");
        let mut out = method_frame(CHANNEL, BASIC_DELIVER, &args);
        let mut header = 60u16.to_be_bytes().to_vec();
        header.extend_from_slice(&[0, 0]);
        header.extend_from_slice(&(body.len() as u64).to_be_bytes());
        header.extend_from_slice(&[0, 0]); // no properties
        out.extend(frame(FRAME_HEADER, CHANNEL, &header));
        for part in body.chunks(chunk) {
            out.extend(frame(FRAME_BODY, CHANNEL, part));
        }
        out
    }

    #[tokio::test]
    async fn deliveries_are_cut_from_any_split_of_the_stream_with_heartbeats_between() {
        let (mut broker, mut reader, writer, _written) = wired();
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut stream = delivery(1, b"{}", 1024);
        stream.extend(frame(FRAME_HEARTBEAT, 0, &[]));
        stream.extend(delivery(2, &big, 30_000));
        stream.extend(delivery(3, b"", 1));
        // Written a few bytes at a time, so that frames and their headers straddle reads.
        let feed = tokio::spawn(async move {
            for piece in stream.chunks(7) {
                broker.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            broker
        });
        let mut got = Vec::new();
        for _ in 0..3 {
            match reader.next_delivery(&writer).await {
                Some(Ok(d)) => got.push(d),
                other => panic!("{other:?}"),
            }
        }
        let _broker = feed.await.unwrap();
        assert_eq!(got.iter().map(|d| d.tag).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(got[0].body, b"{}");
        assert!(got[1].body == big, "the 200 KB body arrived changed");
        assert!(got[2].body.is_empty());
        assert!(got.iter().all(|d| d.redelivered));
        assert_eq!(
            (&*got[1].exchange, &*got[1].routing_key),
            ("nova", "notifications.info")
        );
        assert!(
            Arc::ptr_eq(&got[0].exchange, &got[2].exchange),
            "a repeated name is shared"
        );
    }

    #[tokio::test]
    async fn a_frame_over_frame_max_is_an_error_not_an_allocation() {
        let (mut broker, mut reader, writer, _written) = wired();
        broker
            .write_all(&[FRAME_BODY, 0, 1, 0x40, 0, 0, 0])
            .await
            .unwrap();
        match reader.next_delivery(&writer).await {
            Some(Err(e)) => assert!(e.to_string().contains("over the frame_max of 131072"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(reader.buf.len() <= 2 * READ_CHUNK);
    }

    #[tokio::test]
    async fn a_broker_close_ends_with_its_reason_and_is_answered_with_close_ok() {
        let (mut broker, mut reader, writer, mut rx) = wired();
        let mut args = 404u16.to_be_bytes().to_vec();
        short_str(&mut args, "NOT_FOUND - no queue 'q'");
        args.extend_from_slice(&[0, 60, 0, 20]);
        broker
            .write_all(&method_frame(CHANNEL, CHANNEL_CLOSE, &args))
            .await
            .unwrap();
        match reader.next_delivery(&writer).await {
            Some(Err(e)) => assert!(e.to_string().contains("404 NOT_FOUND - no queue 'q'"), "{e}"),
            other => panic!("{other:?}"),
        }
        let answer = rx.recv().await.unwrap();
        assert_eq!(ids(&answer.frame[7..]), CHANNEL_CLOSE_OK);
        assert!(rx.recv().await.unwrap().last, "and the connection's writes end");
    }
}
