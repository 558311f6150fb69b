//! The polling agent's own metrics: every name in one place, handles registered once per
//! source (and per pollster) so the poll loop only increments them.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `ceilo_polls_total` | counter | source |
//! | `ceilo_polls_skipped_total` | counter | source (a poll still running when the next was due) |
//! | `ceilo_poll_duration_seconds` | histogram | source |
//! | `ceilo_polled_samples_total` | counter | source |
//! | `ceilo_pollster_failures_total` | counter | source, pollster, kind (transient, permanent) |
//! | `ceilo_polling_resources_disabled` | gauge | source, pollster |
//! | `ceilo_polling_notifications_total` | counter | outcome (confirmed, failed) |
//! | `ceilo_polling_notified_samples_total` | counter | — |

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

pub const POLLS: &str = "ceilo_polls_total";
pub const SKIPPED: &str = "ceilo_polls_skipped_total";
pub const DURATION: &str = "ceilo_poll_duration_seconds";
pub const SAMPLES: &str = "ceilo_polled_samples_total";
pub const FAILURES: &str = "ceilo_pollster_failures_total";
pub const DISABLED: &str = "ceilo_polling_resources_disabled";
pub const NOTIFICATIONS: &str = "ceilo_polling_notifications_total";
pub const NOTIFIED_SAMPLES: &str = "ceilo_polling_notified_samples_total";

/// Handles of one source.
#[derive(Clone)]
pub struct SourceMetrics {
    pub polls: Counter,
    pub skipped: Counter,
    pub duration: Histogram,
    pub samples: Counter,
}

impl SourceMetrics {
    pub fn new(source: &str) -> Self {
        let s = source.to_owned();
        Self {
            polls: counter!(POLLS, "source" => s.clone()),
            skipped: counter!(SKIPPED, "source" => s.clone()),
            duration: histogram!(DURATION, "source" => s.clone()),
            samples: counter!(SAMPLES, "source" => s),
        }
    }
}

/// Handles of one pollster within one source.
#[derive(Clone)]
pub struct PollsterMetrics {
    pub transient: Counter,
    pub permanent: Counter,
    pub disabled: Gauge,
}

impl PollsterMetrics {
    pub fn new(source: &str, pollster: &str) -> Self {
        let (s, p) = (source.to_owned(), pollster.to_owned());
        Self {
            transient: counter!(FAILURES, "source" => s.clone(), "pollster" => p.clone(), "kind" => "transient"),
            permanent: counter!(FAILURES, "source" => s.clone(), "pollster" => p.clone(), "kind" => "permanent"),
            disabled: gauge!(DISABLED, "source" => s, "pollster" => p),
        }
    }
}

/// Handles of the notify sender.
#[derive(Clone)]
pub struct NotifyMetrics {
    pub confirmed: Counter,
    pub failed: Counter,
    pub samples: Counter,
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        Self {
            confirmed: counter!(NOTIFICATIONS, "outcome" => "confirmed"),
            failed: counter!(NOTIFICATIONS, "outcome" => "failed"),
            samples: counter!(NOTIFIED_SAMPLES),
        }
    }
}
