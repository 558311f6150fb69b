//! oslo's duplicate detection: a notification whose `_unique_id` is among the last 16 this
//! listener took is logged and dropped (acked, nothing made from it). A producer that re-sends
//! after losing its connection re-sends the same `_unique_id`; without this, its samples would
//! be published twice.
//!
//! A delivery the broker marks `redelivered` is never dropped: it is one of ours coming back
//! (requeued after a failed publish, or left unacked by a crash), and nothing made from it was
//! published. Its id is still remembered, so a later fresh copy is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many ids a listener remembers (oslo's `DUP_MSG_CHECK_SIZE`).
pub const REMEMBERED: usize = 16;

/// The last [`REMEMBERED`] unique ids one listener took, shared by the converter workers that
/// convert its batches.
#[derive(Debug, Default)]
pub struct RecentIds {
    ids: VecDeque<String>,
}

/// What every batch of one listener carries.
pub type SharedRecentIds = Arc<Mutex<RecentIds>>;

impl RecentIds {
    /// Whether a delivery carrying `id` is a duplicate to drop; remembers `id` either way.
    pub fn is_duplicate(&mut self, id: &str, redelivered: bool) -> bool {
        if self.ids.iter().any(|seen| seen == id) {
            return !redelivered;
        }
        if self.ids.len() == REMEMBERED {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
        false
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
}
