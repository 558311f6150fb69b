//! Publishing with confirms on a connection of ceilo's own: a flush's messages are written as
//! frames into one buffer, which the connection's writer task writes as it is, and a reader
//! task settles the flushes as the broker confirms their messages.
//!
//! Why not lapin, which still declares the exchanges and queues beside it (`amqp.rs`): lapin
//! copies every body twice (into frame chunks, then into its send buffer) and hands every
//! publish and every confirm through its own I/O thread; together that was a tenth of the
//! agent's CPU in a drain (README, Performance). Here one copy is made, on the encoder's task.
//!
//! In confirm mode the broker numbers a channel's publishes 1, 2, 3... in the order it read
//! them, so a flush's delivery tags are taken and its frames queued under one lock: tags follow
//! the order on the wire. `basic.ack`/`basic.nack` settle one tag or, with `multiple`, every
//! tag up to theirs; a flush is confirmed when all of its tags are acked, refused when one is
//! nacked, and failed when the channel or the connection ends first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use metrics::Gauge;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use super::frames::*;
use super::url::Node;
use super::wire::{self, closed, Opened, WireReader, WireWriter};
use super::{OutMessage, Properties, TransportError};

/// A confirm-mode channel on a connection of its own. Dropping it closes the connection.
pub struct WirePublisher {
    writer: WireWriter,
    confirms: Arc<Mutex<Confirms>>,
    /// The largest frame the broker takes: bodies are cut into frames of at most this.
    frame_max: usize,
    /// kombu's default properties, which most messages go out with, encoded once.
    default_properties: Vec<u8>,
}

/// How a flush ended.
enum Outcome {
    Confirmed,
    /// The broker refused the message at this index of the flush.
    Nacked(usize),
    Closed(String),
}

/// A flush waiting for its confirms.
struct Flush {
    first_tag: u64,
    left: usize,
    nacked: Option<u64>,
    done: oneshot::Sender<Outcome>,
}

/// The publishes the broker has not confirmed yet.
struct Confirms {
    next_tag: u64,
    /// Unconfirmed delivery tag → the flush it belongs to.
    pending: BTreeMap<u64, u64>,
    flushes: HashMap<u64, Flush>,
    next_flush: u64,
    /// Why the channel ended, once it did: later publishes fail at once.
    closed: Option<String>,
}

impl Confirms {
    fn new() -> Confirms {
        Confirms {
            next_tag: 1,
            pending: BTreeMap::new(),
            flushes: HashMap::new(),
            next_flush: 0,
            closed: None,
        }
    }

    /// A flush of `n` messages, taking the next `n` delivery tags; `done` hears how it ended.
    fn register(&mut self, n: usize, done: oneshot::Sender<Outcome>) {
        let (first_tag, id) = (self.next_tag, self.next_flush);
        self.next_tag += n as u64;
        self.next_flush += 1;
        self.pending
            .extend((first_tag..self.next_tag).map(|tag| (tag, id)));
        self.flushes.insert(
            id,
            Flush {
                first_tag,
                left: n,
                nacked: None,
                done,
            },
        );
    }

    /// The broker's `basic.ack` (`acked`) or `basic.nack` of `tag`, or of every tag up to it.
    fn settle(&mut self, tag: u64, multiple: bool, acked: bool) {
        let settled = if multiple {
            let later = self.pending.split_off(&tag.saturating_add(1));
            std::mem::replace(&mut self.pending, later)
        } else {
            self.pending.remove_entry(&tag).into_iter().collect()
        };
        for (tag, id) in settled {
            let Some(flush) = self.flushes.get_mut(&id) else {
                continue;
            };
            flush.left -= 1;
            if !acked {
                flush.nacked.get_or_insert(tag);
            }
            if flush.left == 0 {
                if let Some(flush) = self.flushes.remove(&id) {
                    let outcome = match flush.nacked {
                        None => Outcome::Confirmed,
                        Some(tag) => Outcome::Nacked((tag - flush.first_tag) as usize),
                    };
                    // The publish may have been given up on: nobody to tell.
                    let _ = flush.done.send(outcome);
                }
            }
        }
    }

    /// The channel ended: every waiting flush fails with `why`, and so will later ones.
    fn close(&mut self, why: String) {
        self.pending.clear();
        for (_, flush) in self.flushes.drain() {
            let _ = flush.done.send(Outcome::Closed(why.clone()));
        }
        self.closed = Some(why);
    }
}

/// Connects to `node` (connection name `name`), opens the channel in confirm mode and starts the
/// task that reads the broker's confirms.
///
/// `blocked` is 1 while the broker blocks the connection's publishes.
pub async fn open(node: &Node, name: &str, blocked: Gauge) -> Result<WirePublisher, TransportError> {
    let Opened {
        mut reader,
        mut write,
        heartbeat,
        frame_max,
    } = wire::open(node, name).await?;
    write
        .write_all(&method_frame(CHANNEL, CONFIRM_SELECT, &[0]))
        .await
        .map_err(wire::write_failed(node))?;
    reader.expect(CHANNEL, CONFIRM_SELECT_OK).await?;
    let (reader, writer) = wire::running(node, reader, write, heartbeat, frame_max).await?;
    let confirms = Arc::new(Mutex::new(Confirms::new()));
    let block = Block {
        connection: name.to_owned(),
        gauge: blocked,
        since: None,
    };
    tokio::spawn(read_confirms(reader, writer.clone(), confirms.clone(), block));
    Ok(WirePublisher {
        writer,
        confirms,
        frame_max: wire::frame_limit(frame_max),
        default_properties: encode_properties(&OutMessage::default_properties())?,
    })
}

impl WirePublisher {
    /// False once the channel or the connection ended: a new publisher is needed.
    pub fn is_open(&self) -> bool {
        self.lock().closed.is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Confirms> {
        self.confirms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `messages` and waits until the broker confirmed them all.
    pub async fn publish(&self, messages: &[OutMessage]) -> Result<(), TransportError> {
        if messages.is_empty() {
            return Ok(());
        }
        let size: usize = messages.iter().map(|m| m.body.len() + 128).sum();
        let mut frames = Vec::with_capacity(size + size / self.frame_max.max(1) * 8);
        for m in messages {
            self.write_message(&mut frames, m)?;
        }
        let (done, outcome) = oneshot::channel();
        {
            let mut confirms = self.lock();
            if let Some(why) = &confirms.closed {
                return Err(closed(why.clone()));
            }
            // Queued under the lock: the tags are the order the broker reads them in.
            if let Err(e) = self.writer.send(frames) {
                confirms.close(e.to_string());
                return Err(e);
            }
            confirms.register(messages.len(), done);
        }
        match outcome.await {
            Ok(Outcome::Confirmed) => Ok(()),
            Ok(Outcome::Nacked(at)) => {
                let m = &messages[at.min(messages.len() - 1)];
                Err(TransportError::Nacked {
                    exchange: m.exchange.clone(),
                    routing_key: m.routing_key.clone(),
                })
            }
            Ok(Outcome::Closed(why)) => Err(closed(why)),
            Err(_) => Err(closed("the publishing connection ended")),
        }
    }

    /// `basic.publish`, the content header and the body frames of `m`.
    fn write_message(&self, out: &mut Vec<u8>, m: &OutMessage) -> Result<(), TransportError> {
        let start = begin_frame(out, FRAME_METHOD, CHANNEL);
        out.extend_from_slice(&BASIC_PUBLISH.0.to_be_bytes());
        out.extend_from_slice(&BASIC_PUBLISH.1.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes()); // reserved (ticket)
        for name in [&m.exchange, &m.routing_key] {
            if name.len() > 255 {
                return Err(closed(format!(
                    "cannot publish to {name:?}: longer than 255 bytes"
                )));
            }
            short_str(out, name);
        }
        out.push(0); // mandatory, immediate: off
        end_frame(out, start);
        let start = begin_frame(out, FRAME_HEADER, CHANNEL);
        out.extend_from_slice(&BASIC_PUBLISH.0.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes()); // weight
        out.extend_from_slice(&(m.body.len() as u64).to_be_bytes());
        if m.properties.is_none() && m.headers.is_empty() {
            out.extend_from_slice(&self.default_properties);
        } else {
            out.extend_from_slice(&encode_properties(&m.wire_properties())?);
        }
        end_frame(out, start);
        for chunk in m.body.chunks(self.frame_max.saturating_sub(8).max(1)) {
            let start = begin_frame(out, FRAME_BODY, CHANNEL);
            out.extend_from_slice(chunk);
            end_frame(out, start);
        }
        Ok(())
    }
}

impl Drop for WirePublisher {
    fn drop(&mut self) {
        // The broker answers with close-ok and closes the socket, which ends the reader task.
        self.writer.close();
    }
}

/// A content header's property flags and values.
fn encode_properties(properties: &Properties) -> Result<Vec<u8>, TransportError> {
    cookie_factory::gen_simple(lapin::protocol::basic::gen_properties(properties), Vec::new())
        .map_err(|e| closed(format!("cannot encode the message's properties: {e:?}")))
}

/// The broker blocking a connection's publishes (`connection.blocked`, sent while a memory or
/// disk alarm lasts): its writes wait unread in the socket and its flushes wait for confirms,
/// so what was consumed stays unacked within the prefetch. Logged, and shown as a gauge, so
/// that a stalled agent says why.
struct Block {
    connection: String,
    gauge: Gauge,
    since: Option<Instant>,
}

impl Block {
    fn blocked(&mut self, reason: &str) {
        self.since.get_or_insert_with(Instant::now);
        self.gauge.set(1.0);
        tracing::warn!(
            connection = %self.connection,
            "the broker blocked publishing: {reason}; what was consumed waits unacked until it unblocks"
        );
    }

    fn unblocked(&mut self) {
        let lasted = self.since.take().map(|t| t.elapsed().as_secs_f64());
        self.gauge.set(0.0);
        tracing::info!(
            connection = %self.connection,
            seconds = lasted.unwrap_or(0.0),
            "the broker unblocked publishing"
        );
    }
}

impl Drop for Block {
    /// A new connection starts unblocked: the broker blocks it again if its alarm lasts.
    fn drop(&mut self) {
        self.gauge.set(0.0);
    }
}

/// Settles flushes as the broker confirms them, until the channel or the connection ends
/// (which fails the flushes still waiting).
async fn read_confirms(
    mut reader: WireReader,
    writer: WireWriter,
    confirms: Arc<Mutex<Confirms>>,
    mut block: Block,
) {
    let lock = || confirms.lock().unwrap_or_else(PoisonError::into_inner);
    let why = loop {
        let frame = match reader.frame().await {
            Ok(frame) => frame,
            Err(e) => break e.to_string(),
        };
        if frame.kind != FRAME_METHOD {
            continue; // heartbeats
        }
        let p = reader.payload(&frame);
        match ids(p) {
            got @ (BASIC_ACK | BASIC_NACK) => {
                let (Some(tag), Some(bits)) = (p.get(4..12), p.get(12)) else {
                    break "the broker sent a malformed confirm".to_owned();
                };
                let tag = u64::from_be_bytes(tag.try_into().unwrap_or_default());
                lock().settle(tag, bits & 1 == 1, got == BASIC_ACK);
            }
            CONNECTION_BLOCKED if frame.channel == 0 => {
                let mut at = 4;
                block.blocked(read_short(p, &mut at).unwrap_or("no reason given"));
            }
            CONNECTION_UNBLOCKED if frame.channel == 0 => block.unblocked(),
            _ => {
                if let Some(why) = wire::closed_by_broker(frame.channel, p, &writer) {
                    break why;
                }
            }
        }
    };
    writer.abandon();
    lock().close(why);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flush of `n` messages taking the next tags; its outcome's receiver.
    fn flush(c: &mut Confirms, n: usize) -> oneshot::Receiver<Outcome> {
        let (done, outcome) = oneshot::channel();
        c.register(n, done);
        outcome
    }

    fn outcome(rx: &mut oneshot::Receiver<Outcome>) -> Option<String> {
        rx.try_recv().ok().map(|o| match o {
            Outcome::Confirmed => "confirmed".to_owned(),
            Outcome::Nacked(at) => format!("nacked {at}"),
            Outcome::Closed(why) => format!("closed: {why}"),
        })
    }

    #[test]
    fn a_flush_is_confirmed_when_all_its_tags_are_whatever_the_order() {
        let mut c = Confirms::new();
        let (mut a, mut b, mut d) = (flush(&mut c, 2), flush(&mut c, 3), flush(&mut c, 1));
        // Out of order, one at a time, then `multiple` over the rest.
        c.settle(4, false, true);
        c.settle(2, false, true);
        assert_eq!((outcome(&mut a), outcome(&mut b)), (None, None));
        c.settle(5, true, true);
        assert_eq!(outcome(&mut a).as_deref(), Some("confirmed"));
        assert_eq!(outcome(&mut b).as_deref(), Some("confirmed"));
        assert_eq!(outcome(&mut d), None);
        // A nack of one message refuses its flush, naming the message.
        let mut e = flush(&mut c, 3);
        c.settle(8, false, false);
        c.settle(9, true, true);
        assert_eq!(outcome(&mut d).as_deref(), Some("confirmed"));
        assert_eq!(outcome(&mut e).as_deref(), Some("nacked 1"));
        assert!(c.pending.is_empty() && c.flushes.is_empty());
    }

    #[test]
    fn the_channel_ending_fails_every_waiting_flush() {
        let mut c = Confirms::new();
        let mut a = flush(&mut c, 2);
        c.settle(1, false, true);
        c.close("the broker closed the connection: 320 CONNECTION_FORCED".into());
        assert_eq!(
            outcome(&mut a).as_deref(),
            Some("closed: the broker closed the connection: 320 CONNECTION_FORCED")
        );
        assert!(c.closed.is_some() && c.flushes.is_empty());
    }

    /// (type, payload) of each frame in `out`, checking their sizes and end markers.
    fn frames(out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut at = 0;
        while at < out.len() {
            let size = u32::from_be_bytes(out[at + 3..at + 7].try_into().unwrap()) as usize;
            assert_eq!(out[at + 7 + size], FRAME_END);
            frames.push((out[at], out[at + 7..at + 7 + size].to_vec()));
            at += size + 8;
        }
        frames
    }

    #[test]
    fn a_message_is_a_publish_a_header_and_bodies_cut_at_the_frame_limit() {
        let publisher = WirePublisher {
            writer: WireWriter::detached(),
            confirms: Arc::new(Mutex::new(Confirms::new())),
            frame_max: 8 + 4,
            default_properties: encode_properties(&OutMessage::default_properties()).unwrap(),
        };
        let m = OutMessage {
            exchange: "ceilometer".into(),
            routing_key: "metering.sample".into(),
            body: b"0123456789".to_vec(),
            headers: Vec::new(),
            properties: None,
        };
        let mut out = Vec::new();
        publisher.write_message(&mut out, &m).unwrap();
        let f = frames(&out);
        let kinds: Vec<u8> = f.iter().map(|f| f.0).collect();
        assert_eq!(
            kinds,
            [FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_BODY, FRAME_BODY]
        );
        assert_eq!(ids(&f[0].1), BASIC_PUBLISH);
        assert_eq!(&f[0].1[6..], b"\x0aceilometer\x0fmetering.sample\x00");
        assert_eq!(&f[1].1[4..12], &10u64.to_be_bytes());
        let (_, properties) = lapin::protocol::basic::parse_properties(&f[1].1[12..]).unwrap();
        assert_eq!(properties, OutMessage::default_properties());
        let body: Vec<u8> = f[2..].iter().flat_map(|f| f.1.clone()).collect();
        assert_eq!(body, m.body);
        // A dead letter goes out with its headers.
        let dead = OutMessage {
            headers: vec![("x-reason".into(), "output".into())],
            ..m
        };
        let mut out = Vec::new();
        publisher.write_message(&mut out, &dead).unwrap();
        let header = &frames(&out)[1].1;
        let (_, properties) = lapin::protocol::basic::parse_properties(&header[12..]).unwrap();
        assert_eq!(properties, dead.wire_properties());
    }
}
