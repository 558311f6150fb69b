//! How a run of failed attempts is logged: a listener reconnecting to its queue, a publisher
//! writing a flush again. The first failure of a run is a warning, then one a minute while the
//! run lasts (with the error of the moment); the attempts between are at debug level, and the
//! end of the run is said once. Errors are not compared: they name the resource or URL of
//! each attempt, so every attempt would be "a new error". One [`Outage`] is shared by every attempt of one component, so a publisher with
//! 256 flushes retrying at once logs one outage, not 256 warnings a backoff round.
//!
//! What this module does not do: decide when to retry (the callers' backoffs), or readiness.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// While an outage lasts, how often it is said at warn level.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Outage {
    /// A run is under way: read on every success, so the lock is taken only while failing.
    failing: AtomicBool,
    run: Mutex<Option<Run>>,
}

struct Run {
    since: Instant,
    failed: u64,
    warned_at: Instant,
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
    pub fn failed(&self) -> Failure {
        self.failed_at(Instant::now())
    }

    /// `Some` when this success ends a run of failures.
    pub fn succeeded(&self) -> Option<Ended> {
        self.succeeded_at(Instant::now())
    }

    fn failed_at(&self, now: Instant) -> Failure {
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        self.failing.store(true, Ordering::SeqCst);
        match run.as_mut() {
            None => {
                *run = Some(Run {
                    since: now,
                    failed: 1,
                    warned_at: now,
                });
                Failure {
                    warn: true,
                    failed: 1,
                }
            }
            Some(r) => {
                r.failed += 1;
                let warn = now.duration_since(r.warned_at) >= WARN_EVERY;
                if warn {
                    r.warned_at = now;
                }
                Failure {
                    warn,
                    failed: r.failed,
                }
            }
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
    fn a_run_warns_first_and_each_minute_and_ends_once() {
        let o = Outage::default();
        let t = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(o.succeeded_at(t), None, "no run yet");
        assert_eq!(
            o.failed_at(t),
            Failure {
                warn: true,
                failed: 1
            }
        );
        assert_eq!(
            o.failed_at(t + s(10)),
            Failure {
                warn: false,
                failed: 2
            }
        );
        assert_eq!(
            o.failed_at(t + s(59)),
            Failure {
                warn: false,
                failed: 3
            }
        );
        assert_eq!(
            o.failed_at(t + s(60)),
            Failure {
                warn: true,
                failed: 4
            },
            "a minute on"
        );
        assert_eq!(
            o.failed_at(t + s(119)),
            Failure {
                warn: false,
                failed: 5
            }
        );
        assert_eq!(
            o.failed_at(t + s(120)),
            Failure {
                warn: true,
                failed: 6
            }
        );
        assert_eq!(
            o.succeeded_at(t + s(125)),
            Some(Ended {
                lasted: s(125),
                failed: 6
            })
        );
        assert_eq!(o.succeeded_at(t + s(126)), None, "said once");
        assert_eq!(
            o.failed_at(t + s(127)),
            Failure {
                warn: true,
                failed: 1
            },
            "a new run"
        );
    }
}
