//! The run key: what loadgen embeds in each notification so that the agent's output can be traced
//! back to the input message and its send time.
//!
//! A key looks like a UUID, `RRRRRRRR-SSSS-SSSS-SSSS-TTTTTTTTTTTT`: a random 32-bit run tag, a
//! 48-bit sequence number and the send time in microseconds since the run started (48 bits, about
//! 8.9 years). It replaces the notification's `message_id` (which Ceilometer copies into every
//! event) and the ids that Ceilometer copies into a sample's `resource_id` (instance_id,
//! volume_id, image id, ...), so it survives unchanged into both outputs. This module does not
//! know where the key goes; the templates do.

/// Number of bytes of an encoded key.
pub const KEY_LEN: usize = 36;

/// What a key carries besides the run tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Sequence number of the input message in its run.
    pub seq: u64,
    /// Send time, microseconds since the run's start.
    pub sent_us: u64,
}

/// Encodes and finds keys of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunKey {
    tag: [u8; 8],
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const MASK48: u64 = (1 << 48) - 1;

fn put_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    s.iter().try_fold(0u64, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some(acc << 4 | u64::from(d))
    })
}

impl RunKey {
    /// A key space for the run whose tag is `tag`.
    pub fn new(tag: u32) -> Self {
        let mut t = [0u8; 8];
        put_hex(&mut t, u64::from(tag));
        Self { tag: t }
    }

    /// The run tag as 8 lower-case hex characters.
    pub fn tag(&self) -> &str {
        std::str::from_utf8(&self.tag).unwrap_or("")
    }

    /// Writes the key for `stamp` into `out`.
    pub fn encode(&self, stamp: Stamp) -> [u8; KEY_LEN] {
        let mut k = [b'-'; KEY_LEN];
        k[..8].copy_from_slice(&self.tag);
        let seq = stamp.seq & MASK48;
        put_hex(&mut k[9..13], seq >> 32);
        put_hex(&mut k[14..18], (seq >> 16) & 0xffff);
        put_hex(&mut k[19..23], seq & 0xffff);
        put_hex(&mut k[24..36], stamp.sent_us & MASK48);
        k
    }

    /// Finds this run's key anywhere in `s` (a resource id may wrap it, e.g.
    /// `instance-0000002a-<key>-tap1c2d3e4f-5a`). `None` for ids of other runs or of nobody.
    pub fn find(&self, s: &str) -> Option<Stamp> {
        let b = s.as_bytes();
        let mut from = 0;
        while from + KEY_LEN <= b.len() {
            let pos = b[from..].windows(8).position(|w| w == self.tag)? + from;
            if let Some(stamp) = b.get(pos..pos + KEY_LEN).and_then(|k| self.decode_at(k)) {
                return Some(stamp);
            }
            from = pos + 1;
        }
        None
    }

    fn decode_at(&self, k: &[u8]) -> Option<Stamp> {
        if k[8] != b'-' || k[13] != b'-' || k[18] != b'-' || k[23] != b'-' {
            return None;
        }
        let seq = parse_hex(&k[9..13])? << 32 | parse_hex(&k[14..18])? << 16 | parse_hex(&k[19..23])?;
        let sent_us = parse_hex(&k[24..36])?;
        Some(Stamp { seq, sent_us })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_and_is_found_inside_a_wrapped_id() {
        let rk = RunKey::new(0xdead_beef);
        let stamp = Stamp {
            seq: 0x1234_5678_9abc,
            sent_us: 987_654_321,
        };
        let key = rk.encode(stamp);
        let key = std::str::from_utf8(&key).expect("ascii");
        assert_eq!(&key[..9], "deadbeef-");
        assert_eq!(rk.find(key), Some(stamp));
        let wrapped = format!("instance-0000002a-{key}-tap1c2d3e4f-5a");
        assert_eq!(rk.find(&wrapped), Some(stamp));
    }

    #[test]
    fn keys_of_other_runs_and_plain_uuids_are_not_found() {
        let rk = RunKey::new(1);
        let other = RunKey::new(2).encode(Stamp { seq: 5, sent_us: 6 });
        assert_eq!(rk.find(std::str::from_utf8(&other).expect("ascii")), None);
        assert_eq!(rk.find("3e1a0000-1b2c-4d3e-8f40-5a6b7c8d9e00"), None);
        assert_eq!(rk.find("00000001-zzzz"), None);
    }
}
