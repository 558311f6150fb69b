//! Duplicate detection per listener, two kinds:
//!
//! * oslo's: a notification whose `_unique_id` is among the last 16 this listener took is
//!   logged and dropped (acked, nothing made from it). A producer that re-sends after losing
//!   its connection re-sends the same `_unique_id`; without this, its samples would be
//!   published twice. A delivery the broker marks `redelivered` is not dropped by this rule: it
//!   is one of ours coming back (requeued after a failed publish, or left unacked by a crash).
//!   Its id is still remembered, so a later fresh copy is dropped.
//! * ceilo's, for connection losses: the ids of the deliveries whose output is confirmed and
//!   whose ack may not have reached the broker (see [`RecentIds::settled`]). When the channel
//!   dies, the broker redelivers them; they are acked and dropped instead of being published
//!   a second time. A kill -9 forgets them (at-least-once).

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// How many ids a listener remembers (oslo's `DUP_MSG_CHECK_SIZE`).
pub const REMEMBERED: usize = 16;

/// A `_unique_id` as a number: oslo's are uuid4 hex (32 digits), read as such; any other text
/// is hashed to 128 bits, where a collision is as unlikely as a uuid4 one.
pub type IdKey = u128;

/// The key of a `_unique_id`.
pub fn key(id: &str) -> IdKey {
    if id.len() == 32 {
        if let Ok(k) = u128::from_str_radix(id, 16) {
            return k;
        }
    }
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Keys are uuids (or 128-bit hashes): already uniform, so hashing them again is waste.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, k: u128) {
        self.0 = (k as u64) ^ ((k >> 64) as u64);
    }
}

/// What one listener remembers, shared by the converter workers that convert its batches
/// and by its ack trackers (one per channel, across reconnections).
#[derive(Default)]
pub struct RecentIds {
    ids: VecDeque<String>,
    /// The last `settled_capacity` keys of deliveries settled with an ack, oldest first.
    settled: VecDeque<IdKey>,
    settled_set: HashSet<IdKey, BuildHasherDefault<KeyHasher>>,
    settled_capacity: usize,
}

impl std::fmt::Debug for RecentIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentIds")
            .field("recent", &self.ids.len())
            .field("settled", &self.settled.len())
            .finish()
    }
}

/// What every batch of one listener carries.
pub type SharedRecentIds = Arc<Mutex<RecentIds>>;

impl RecentIds {
    /// A listener's memory, keeping the ids of the last `settled_capacity` acked deliveries.
    ///
    /// Why the last `prefetch` acks cover every ack a dead channel may have lost: acks go out
    /// in order on one connection, so the lost ones are the latest; and each delivery they
    /// cover was unacked at the broker at the same moment, which prefetch caps.
    pub fn new(settled_capacity: usize) -> RecentIds {
        RecentIds {
            settled_capacity,
            ..RecentIds::default()
        }
    }

    /// A shared [`RecentIds::new`].
    pub fn shared(settled_capacity: usize) -> SharedRecentIds {
        Arc::new(Mutex::new(RecentIds::new(settled_capacity)))
    }

    /// Whether a delivery carrying `id` is a duplicate to drop; remembers `id` either way.
    /// A delivery whose output was already confirmed (its ack was lost with its channel) is a
    /// duplicate, redelivered or not.
    pub fn is_duplicate(&mut self, id: &str, redelivered: bool) -> bool {
        if !self.settled_set.is_empty() && self.settled_set.contains(&key(id)) {
            return true;
        }
        if self.ids.iter().any(|seen| seen == id) {
            return !redelivered;
        }
        if self.ids.len() == REMEMBERED {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
        false
    }

    /// Deliveries with these ids are confirmed and about to be acked: remember them, so that
    /// if the ack is lost with the channel their redelivery is dropped.
    pub fn settled(&mut self, keys: impl IntoIterator<Item = IdKey>) {
        if self.settled_capacity == 0 {
            return;
        }
        for k in keys {
            if !self.settled_set.insert(k) {
                continue;
            }
            if self.settled.len() == self.settled_capacity {
                if let Some(oldest) = self.settled.pop_front() {
                    self.settled_set.remove(&oldest);
                }
            }
            self.settled.push_back(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_copy_of_a_recent_id_is_a_duplicate_and_an_old_one_is_not() {
        let mut recent = RecentIds::default();
        assert!(!recent.is_duplicate("a", false));
        assert!(recent.is_duplicate("a", false), "the same id again");
        for i in 0..REMEMBERED - 1 {
            assert!(!recent.is_duplicate(&format!("x{i}"), false));
        }
        assert!(recent.is_duplicate("a", false), "16 ids back: still remembered");
        assert!(!recent.is_duplicate("x-last", false));
        assert!(!recent.is_duplicate("a", false), "17 ids back: forgotten");
    }

    #[test]
    fn a_redelivery_is_never_a_duplicate_but_is_remembered() {
        let mut recent = RecentIds::default();
        assert!(!recent.is_duplicate("a", false));
        assert!(
            !recent.is_duplicate("a", true),
            "ours, requeued: convert it again"
        );
        assert!(!recent.is_duplicate("b", true));
        assert!(
            recent.is_duplicate("b", false),
            "a fresh copy after the redelivery"
        );
    }

    #[test]
    fn a_redelivery_of_a_settled_delivery_is_a_duplicate_for_the_last_capacity_acks() {
        let mut recent = RecentIds::new(3);
        let ids = ["0123456789abcdef0123456789abcdef", "not-hex-id", "c", "d"];
        assert!(!recent.is_duplicate(ids[0], false));
        recent.settled(ids.iter().map(|id| key(id)));
        assert!(
            !recent.is_duplicate(ids[0], true),
            "pushed out by the three later acks"
        );
        for id in &ids[1..] {
            assert!(recent.is_duplicate(id, true), "{id}: acked, its ack maybe lost");
        }
        assert!(!recent.is_duplicate("e", true), "never settled: convert it");
    }

    #[test]
    fn keys_read_uuid_hex_and_hash_anything_else() {
        assert_eq!(key("000000000000000000000000000000ff"), 255);
        assert_ne!(key("ab"), key("ba"));
        assert_eq!(key("some id"), key("some id"));
    }
}
