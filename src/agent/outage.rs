//! How a run of failed attempts is logged: a listener reconnecting to its queue, a publisher
//! writing a flush again. Each cause of failure is a warning the first time it is seen in a
//! run, and again a minute later if it goes on (at most `CAUSES_A_MINUTE` causes a minute);
//! the attempts between are at debug level, and the end of the run is said once. A cause is
//! the error without where it happened (the callers strip the URL or resource each attempt
//! names), so a receiver that stops refusing connections and starts answering 503 is said.
//! One [`Outage`] is shared by every attempt of one component, so a publisher with 256
//! flushes retrying at once logs one outage, not 256 warnings a backoff round.
//!
//! What this module does not do: decide when to retry (the callers' backoffs), or readiness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// While an outage lasts, how often a cause still seen is said again at warn level.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// A bound on the warnings of one minute, should causes keep changing.
const CAUSES_A_MINUTE: usize = 8;

#[derive(Default)]
pub struct Outage {
    /// A run is under way: read on every success, so the lock is taken only while failing.
    failing: AtomicBool,
    run: Mutex<Option<Run>>,
}

struct Run {
    since: Instant,
    failed: u64,
    /// When the causes said so far were last forgotten.
    window: Instant,
    said: Vec<String>,
}

/// What a failed attempt should say.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// At warn level (else debug).
    pub warn: bool,
    /// Failed attempts in this run, this one included.
    pub failed: u64,
}

/// A run of failures that a success ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Ended {
    pub lasted: Duration,
    pub failed: u64,
}

impl Outage {
    pub fn failed(&self, cause: &str) -> Failure {
        self.failed_at(cause, Instant::now())
    }

    /// The failed attempts of the current run; 0 when not failing.
    pub fn failed_attempts(&self) -> u64 {
        if !self.failing.load(Ordering::SeqCst) {
            return 0;
        }
        let run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        run.as_ref().map_or(0, |r| r.failed)
    }

    /// `Some` when this success ends a run of failures.
    pub fn succeeded(&self) -> Option<Ended> {
        self.succeeded_at(Instant::now())
    }

    fn failed_at(&self, cause: &str, now: Instant) -> Failure {
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        self.failing.store(true, Ordering::SeqCst);
        let r = run.get_or_insert_with(|| Run {
            since: now,
            failed: 0,
            window: now,
            said: Vec::new(),
        });
        r.failed += 1;
        if now.duration_since(r.window) >= WARN_EVERY {
            r.window = now;
            r.said.clear();
        }
        let warn = r.said.len() < CAUSES_A_MINUTE && !r.said.iter().any(|c| c == cause);
        if warn {
            r.said.push(cause.to_owned());
        }
        Failure {
            warn,
            failed: r.failed,
        }
    }

    fn succeeded_at(&self, now: Instant) -> Option<Ended> {
        if !self.failing.load(Ordering::SeqCst) {
            return None;
        }
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        self.failing.store(false, Ordering::SeqCst);
        let run = run.take()?;
        Some(Ended {
            lasted: now.duration_since(run.since),
            failed: run.failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_warns_once_a_minute_a_new_one_at_once_and_the_end_once() {
        let o = Outage::default();
        let t = Instant::now();
        let at = |secs| t + Duration::from_secs(secs);
        assert_eq!(o.succeeded_at(t), None, "no run yet");
        // (seconds in, cause, said at warn level, failed attempts so far)
        for (secs, cause, warn, failed) in [
            (0, "refused", true, 1),
            (10, "refused", false, 2),
            (20, "503", true, 3),
            (30, "refused", false, 4),
            (59, "503", false, 5),
            (60, "503", true, 6),
            (61, "refused", true, 7),
            (119, "503", false, 8),
        ] {
            assert_eq!(
                o.failed_at(cause, at(secs)),
                Failure { warn, failed },
                "{secs} s in"
            );
            assert_eq!(o.failed_attempts(), failed);
        }
        let ended = Ended {
            lasted: Duration::from_secs(125),
            failed: 8,
        };
        assert_eq!(o.succeeded_at(at(125)), Some(ended));
        assert_eq!(o.succeeded_at(at(126)), None, "said once");
        assert_eq!(o.failed_attempts(), 0, "the next attempt waits no backoff");
        assert!(o.failed_at("503", at(127)).warn, "a new run");
    }

    #[test]
    fn causes_that_keep_changing_are_bounded_a_minute() {
        let o = Outage::default();
        let t = Instant::now();
        let warned = (0..100)
            .filter(|i| o.failed_at(&format!("cause {i}"), t).warn)
            .count();
        assert_eq!(warned, CAUSES_A_MINUTE);
        assert!(o.failed_at("cause 100", t + WARN_EVERY).warn, "a minute later");
    }
}
