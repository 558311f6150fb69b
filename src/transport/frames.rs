//! AMQP 0-9-1 frames and method payloads, as ceilo's own connections (`wire.rs`,
//! `wire_publish.rs`) write and read them: the byte layout, apart from what the connection does with it.
//!
//! Frame layout (AMQP 0-9-1, 4.2.3): type (1 byte), channel (2), payload size (4), payload,
//! `0xCE`. Method payloads start with class and method ids (2 + 2); a content header's with the
//! class id, weight and body size (2 + 2 + 8), then the properties.

pub(super) const FRAME_METHOD: u8 = 1;
pub(super) const FRAME_HEADER: u8 = 2;
pub(super) const FRAME_BODY: u8 = 3;
pub(super) const FRAME_HEARTBEAT: u8 = 8;
pub(super) const FRAME_END: u8 = 0xCE;
/// The consumer's one channel; connection methods go on channel 0.
pub(super) const CHANNEL: u16 = 1;

// Methods, as (class id, method id).
pub(super) const CONNECTION_START: (u16, u16) = (10, 10);
pub(super) const CONNECTION_START_OK: (u16, u16) = (10, 11);
pub(super) const CONNECTION_TUNE: (u16, u16) = (10, 30);
pub(super) const CONNECTION_TUNE_OK: (u16, u16) = (10, 31);
pub(super) const CONNECTION_OPEN: (u16, u16) = (10, 40);
pub(super) const CONNECTION_OPEN_OK: (u16, u16) = (10, 41);
pub(super) const CONNECTION_CLOSE: (u16, u16) = (10, 50);
pub(super) const CONNECTION_CLOSE_OK: (u16, u16) = (10, 51);
pub(super) const CONNECTION_BLOCKED: (u16, u16) = (10, 60);
pub(super) const CONNECTION_UNBLOCKED: (u16, u16) = (10, 61);
pub(super) const CHANNEL_OPEN: (u16, u16) = (20, 10);
pub(super) const CHANNEL_OPEN_OK: (u16, u16) = (20, 11);
pub(super) const CHANNEL_CLOSE: (u16, u16) = (20, 40);
pub(super) const CHANNEL_CLOSE_OK: (u16, u16) = (20, 41);
pub(super) const BASIC_QOS: (u16, u16) = (60, 10);
pub(super) const BASIC_QOS_OK: (u16, u16) = (60, 11);
pub(super) const BASIC_CONSUME: (u16, u16) = (60, 20);
pub(super) const BASIC_CONSUME_OK: (u16, u16) = (60, 21);
pub(super) const BASIC_CANCEL: (u16, u16) = (60, 30);
pub(super) const BASIC_DELIVER: (u16, u16) = (60, 60);
pub(super) const BASIC_PUBLISH: (u16, u16) = (60, 40);
pub(super) const BASIC_ACK: (u16, u16) = (60, 80);
pub(super) const BASIC_NACK: (u16, u16) = (60, 120);
pub(super) const CONFIRM_SELECT: (u16, u16) = (85, 10);
pub(super) const CONFIRM_SELECT_OK: (u16, u16) = (85, 11);

/// `basic.deliver`'s arguments.
pub(super) struct Deliver<'a> {
    pub(super) tag: u64,
    pub(super) redelivered: bool,
    pub(super) exchange: &'a str,
    pub(super) routing_key: &'a str,
}

impl<'a> Deliver<'a> {
    pub(super) fn parse(p: &'a [u8]) -> Option<Deliver<'a>> {
        let mut at = 4;
        read_short(p, &mut at)?; // consumer tag
        let tag = u64::from_be_bytes(p.get(at..at + 8)?.try_into().ok()?);
        let redelivered = p.get(at + 8)? & 1 == 1;
        at += 9;
        let exchange = read_short(p, &mut at)?;
        let routing_key = read_short(p, &mut at)?;
        Some(Deliver {
            tag,
            redelivered,
            exchange,
            routing_key,
        })
    }
}

/// The setup answers by name, for errors.
pub(super) fn method_name(ids: (u16, u16)) -> &'static str {
    match ids {
        CONNECTION_START => "connection.start",
        CONNECTION_TUNE => "connection.tune",
        CONNECTION_OPEN_OK => "connection.open-ok",
        CHANNEL_OPEN_OK => "channel.open-ok",
        BASIC_QOS_OK => "basic.qos-ok",
        BASIC_CONSUME_OK => "basic.consume-ok",
        CONFIRM_SELECT_OK => "confirm.select-ok",
        _ => "an answer",
    }
}

/// A close method's reply code and text: "404 NOT_FOUND - no queue 'x'".
pub(super) fn close_reason(p: &[u8]) -> String {
    let code = p.get(4..6).map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
    let mut at = 6;
    let text = read_short(p, &mut at).unwrap_or("");
    format!("{code} {text}")
}

pub(super) fn qos(count: u16, global: bool) -> Vec<u8> {
    let mut args = 0u32.to_be_bytes().to_vec(); // prefetch-size: no limit
    args.extend_from_slice(&count.to_be_bytes());
    args.push(u8::from(global));
    method_frame(CHANNEL, BASIC_QOS, &args)
}

pub(super) fn method_frame(channel: u16, (class, method): (u16, u16), args: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(12 + args.len());
    let start = begin_frame(&mut f, FRAME_METHOD, channel);
    f.extend_from_slice(&class.to_be_bytes());
    f.extend_from_slice(&method.to_be_bytes());
    f.extend_from_slice(args);
    end_frame(&mut f, start);
    f
}

/// A frame's type and channel, and room for its size; where it starts. Its payload follows,
/// then [`end_frame`].
pub(super) fn begin_frame(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    let start = out.len();
    out.push(kind);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    start
}

/// The size of the frame begun at `start`, and its end marker.
pub(super) fn end_frame(out: &mut Vec<u8>, start: usize) {
    let size = (out.len() - start - 7) as u32;
    out[start + 3..start + 7].copy_from_slice(&size.to_be_bytes());
    out.push(FRAME_END);
}

/// A method payload's class and method ids.
pub(super) fn ids(p: &[u8]) -> (u16, u16) {
    match p {
        [a, b, c, d, ..] => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
        _ => (0, 0),
    }
}

pub(super) fn short_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&s.as_bytes()[..n]);
}

pub(super) fn long_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

pub(super) fn read_short<'a>(p: &'a [u8], at: &mut usize) -> Option<&'a str> {
    let n = usize::from(*p.get(*at)?);
    let s = p.get(*at + 1..*at + 1 + n)?;
    *at += 1 + n;
    std::str::from_utf8(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_frame_is_laid_out_as_the_amqp_spec_says() {
        // basic.qos (60, 10): prefetch-size 0, prefetch-count 10, global off; 11 payload bytes.
        assert_eq!(
            qos(10, false),
            [1, 0, 1, 0, 0, 0, 11, 0, 60, 0, 10, 0, 0, 0, 0, 0, 10, 0, 0xCE]
        );
        let mut out = vec![9];
        let start = begin_frame(&mut out, FRAME_BODY, 7);
        out.extend_from_slice(b"abc");
        end_frame(&mut out, start);
        assert_eq!(out, [9, 3, 0, 7, 0, 0, 0, 3, b'a', b'b', b'c', 0xCE]);
    }
}
