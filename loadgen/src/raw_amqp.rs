//! A consumer without a client library: plain `amqp://`, one thread, blocking reads, frames cut
//! out of one read buffer, just enough AMQP 0-9-1 to consume and ack (`sink --ack-only --raw`).
//! It measures what consuming costs when no library stands between the socket and the loop
//! (lapin's io loop runs on a thread of its own, which a reactor wakes for every readiness of
//! its socket): the floor under any agent's consumer, not a limit the agents are held to.
//!
//! Frame layout (AMQP 0-9-1, 4.2.3): type (1 byte), channel (2), payload size (4), payload,
//! `0xCE`. Method payloads start with class and method ids (2 + 2); a content header's with the
//! class id, weight and body size (2 + 2 + 8).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lapin::uri::{AMQPScheme, AMQPUri};

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_END: u8 = 0xCE;
/// Everything but connection-level methods goes on this one channel.
const CHANNEL: u16 = 1;
/// Room kept free at the end of the read buffer for the next read.
const READ_CHUNK: usize = 64 << 10;

/// How long the broker may take to answer a method.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// `basic.deliver` (class 60, method 60).
const BASIC_DELIVER: (u16, u16) = (60, 60);

/// A frame cut out of the read buffer: its type, channel and where its payload lies.
struct Frame {
    kind: u8,
    channel: u16,
    payload: Range<usize>,
}

/// What [`RawConsumer::next_event`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message (method, header and every body frame) arrived; its body was copied out
    /// of the read buffer, as any consumer handing it on must.
    Delivered { tag: u64 },
    /// Nothing arrived within the read timeout.
    Idle,
}

pub struct RawConsumer {
    socket: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The delivery whose body is being read: its tag and the bytes still to come.
    body_of: Option<(u64, u64)>,
    body: Vec<u8>,
    /// Deliveries read while a method was awaited, not yet handed out.
    early: VecDeque<u64>,
    /// One consumer per queue.
    consumer_tags: Vec<String>,
}

impl RawConsumer {
    /// Connects to `url` (PLAIN credentials, no heartbeats), opens a channel with
    /// `basic.qos(prefetch)` and consumes each of `queues`.
    pub fn consume(url: &str, queues: &[String], prefetch: u16, idle: Duration) -> Result<RawConsumer> {
        let uri: AMQPUri = url.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        if uri.scheme != AMQPScheme::AMQP {
            bail!("the raw consumer speaks plain amqp:// only");
        }
        let a = &uri.authority;
        let socket = TcpStream::connect((a.host.as_str(), a.port))
            .with_context(|| format!("connecting to {}:{}", a.host, a.port))?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(ANSWER_WITHIN))?;
        let mut c = RawConsumer {
            socket,
            buf: vec![0; 2 * READ_CHUNK],
            start: 0,
            end: 0,
            body_of: None,
            body: Vec::new(),
            early: VecDeque::new(),
            consumer_tags: queues.iter().map(|q| format!("loadgen-raw-sink-{q}")).collect(),
        };
        c.socket.write_all(b"AMQP\x00\x00\x09\x01")?;
        c.expect(0, (10, 10))?; // connection.start
        let mut args = Vec::new();
        args.extend_from_slice(&0u32.to_be_bytes()); // client properties: an empty table
        short_str(&mut args, "PLAIN");
        long_str(
            &mut args,
            format!("\0{}\0{}", a.userinfo.username, a.userinfo.password).as_bytes(),
        );
        short_str(&mut args, "en_US");
        c.send(0, (10, 11), &args)?; // connection.start-ok
        let tune = c.expect(0, (10, 30))?;
        let mut args = tune[..6].to_vec(); // channel-max and frame-max as the server offers them
        args.extend_from_slice(&0u16.to_be_bytes()); // no heartbeats
        c.send(0, (10, 31), &args)?; // connection.tune-ok
        let mut args = Vec::new();
        short_str(&mut args, &uri.vhost);
        short_str(&mut args, "");
        args.push(0);
        c.send(0, (10, 40), &args)?; // connection.open
        c.expect(0, (10, 41))?;
        c.send(CHANNEL, (20, 10), &[0])?; // channel.open
        c.expect(CHANNEL, (20, 11))?;
        let mut args = 0u32.to_be_bytes().to_vec();
        args.extend_from_slice(&prefetch.to_be_bytes());
        args.push(0);
        c.send(CHANNEL, (60, 10), &args)?; // basic.qos, per consumer
        c.expect(CHANNEL, (60, 11))?;
        for (q, tag) in queues.iter().zip(c.consumer_tags.clone()) {
            let mut args = 0u16.to_be_bytes().to_vec();
            short_str(&mut args, q);
            short_str(&mut args, &tag);
            args.push(0);
            args.extend_from_slice(&0u32.to_be_bytes());
            c.send(CHANNEL, (60, 20), &args)?; // basic.consume
            c.expect(CHANNEL, (60, 21))?;
        }
        c.socket.set_read_timeout(Some(idle))?;
        Ok(c)
    }

    /// The next whole delivery, or [`Event::Idle`] after the read timeout.
    pub fn next_event(&mut self) -> Result<Event> {
        if let Some(tag) = self.early.pop_front() {
            return Ok(Event::Delivered { tag });
        }
        loop {
            let Some(frame) = self.frame()? else {
                return Ok(Event::Idle);
            };
            if let Some(done) = self.take(&frame)? {
                return Ok(done);
            }
        }
    }

    /// `basic.ack` of every delivery up to `tag`.
    pub fn ack_through(&mut self, tag: u64) -> Result<()> {
        let mut args = tag.to_be_bytes().to_vec();
        args.push(1); // multiple
        self.send(CHANNEL, (60, 80), &args)
    }

    /// One frame's part in a delivery; `Some` when it completed one.
    fn take(&mut self, frame: &Frame) -> Result<Option<Event>> {
        let p = &self.buf[frame.payload.clone()];
        match frame.kind {
            FRAME_METHOD if ids(p) == BASIC_DELIVER => {
                // consumer-tag (a short string), then the delivery tag.
                let at = 5 + usize::from(p[4]);
                let tag = p.get(at..at + 8).context("a short basic.deliver")?;
                self.body_of = Some((u64::from_be_bytes(tag.try_into()?), 0));
            }
            FRAME_HEADER => {
                let size = p.get(4..12).context("a short content header")?;
                let (tag, _) = self.body_of.context("a content header without basic.deliver")?;
                let size = u64::from_be_bytes(size.try_into()?);
                self.body.clear();
                if size == 0 {
                    self.body_of = None;
                    return Ok(Some(Event::Delivered { tag }));
                }
                self.body_of = Some((tag, size));
            }
            FRAME_BODY => {
                let (tag, left) = self.body_of.context("a body frame without a header")?;
                self.body.extend_from_slice(p);
                let left = left.saturating_sub(p.len() as u64);
                if left == 0 {
                    self.body_of = None;
                    return Ok(Some(Event::Delivered { tag }));
                }
                self.body_of = Some((tag, left));
            }
            FRAME_METHOD => {
                let (class, method) = ids(p);
                bail!("the broker sent method {class}.{method} (a close or cancel?)");
            }
            _ => {} // heartbeats: none were asked for, and they need no answer
        }
        Ok(None)
    }

    /// The next frame; `None` on read timeout.
    fn frame(&mut self) -> Result<Option<Frame>> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if avail.len() >= 7 {
                let size = u32::from_be_bytes([avail[3], avail[4], avail[5], avail[6]]) as usize;
                if avail.len() > size + 7 {
                    if avail[size + 7] != FRAME_END {
                        bail!("a frame without its end marker");
                    }
                    let frame = Frame {
                        kind: avail[0],
                        channel: u16::from_be_bytes([avail[1], avail[2]]),
                        payload: self.start + 7..self.start + 7 + size,
                    };
                    self.start += size + 8;
                    return Ok(Some(frame));
                }
                if size + 8 + READ_CHUNK > self.buf.len() {
                    self.buf.resize(size + 8 + READ_CHUNK, 0);
                }
            }
            if self.buf.len() - self.end < READ_CHUNK {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            match self.socket.read(&mut self.buf[self.end..]) {
                Ok(0) => bail!("the broker closed the connection"),
                Ok(n) => self.end += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `basic.cancel` of every consumer, each `cancel-ok` awaited: no delivery comes after, and
    /// those that came before are handed out by [`RawConsumer::next_event`] (then it is idle).
    pub fn cancel(&mut self) -> Result<()> {
        for tag in self.consumer_tags.clone() {
            let mut args = Vec::new();
            short_str(&mut args, &tag);
            args.push(0); // wait for cancel-ok
            self.send(CHANNEL, (60, 30), &args)?;
            self.expect(CHANNEL, (60, 31))?;
        }
        Ok(())
    }

    /// `connection.close`, and its `close-ok` awaited: what arrives meanwhile is not acked, so
    /// the broker requeues it.
    pub fn close(mut self) -> Result<()> {
        let mut args = 200u16.to_be_bytes().to_vec();
        short_str(&mut args, "sink done");
        args.extend_from_slice(&[0; 4]); // the class and method that failed: none
        self.send(0, (10, 50), &args)?;
        self.socket.set_read_timeout(Some(ANSWER_WITHIN))?;
        self.expect(0, (10, 51)).map(drop)
    }

    /// The next method frame on `channel` other than a delivery, which must be `want`; its
    /// arguments. Deliveries read meanwhile (before the last `consume-ok`, or at close) are kept
    /// for [`RawConsumer::next_event`].
    fn expect(&mut self, channel: u16, want: (u16, u16)) -> Result<Vec<u8>> {
        loop {
            let Some(frame) = self.frame()? else {
                bail!(
                    "no answer from the broker (method {}.{} expected)",
                    want.0,
                    want.1
                );
            };
            let p = &self.buf[frame.payload.clone()];
            if frame.kind == FRAME_METHOD && frame.channel == channel && ids(p) != BASIC_DELIVER {
                if ids(p) != want {
                    let (class, method) = ids(p);
                    bail!(
                        "expected method {}.{}, the broker sent {class}.{method}",
                        want.0,
                        want.1
                    );
                }
                return Ok(p[4..].to_vec());
            }
            if let Some(Event::Delivered { tag }) = self.take(&frame)? {
                self.early.push_back(tag);
            }
        }
    }

    fn send(&mut self, channel: u16, (class, method): (u16, u16), args: &[u8]) -> Result<()> {
        let mut f = Vec::with_capacity(12 + args.len());
        f.push(FRAME_METHOD);
        f.extend_from_slice(&channel.to_be_bytes());
        f.extend_from_slice(&((4 + args.len()) as u32).to_be_bytes());
        f.extend_from_slice(&class.to_be_bytes());
        f.extend_from_slice(&method.to_be_bytes());
        f.extend_from_slice(args);
        f.push(FRAME_END);
        self.socket.write_all(&f).context("writing to the broker")
    }
}

/// A method payload's class and method ids.
fn ids(p: &[u8]) -> (u16, u16) {
    match p {
        [a, b, c, d, ..] => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
        _ => (0, 0),
    }
}

fn short_str(out: &mut Vec<u8>, s: &str) {
    out.push(s.len().min(255) as u8);
    out.extend_from_slice(&s.as_bytes()[..s.len().min(255)]);
}

fn long_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}
