//! Readiness: the small shared state that listeners and polling schedulers set and that
//! `/readyz` and the `ceilo_ready` gauge read.
//!
//! The agent is ready when at least one condition is registered, every registered queue is
//! consuming, every registered polling source ticked within two of its intervals, no
//! publisher has been failing for longer than the publish grace, and no shutdown has begun.
//! State changes are rare (connect, disconnect, one tick per interval, a publisher starting or
//! ending a run of failures), so a mutex is cheap here; nothing on the per-batch path touches
//! it (publishers report a success only when it ends a run of failures).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Slack on top of two polling intervals before a source counts as off schedule, so that
/// jitter and a slow discovery do not flap readiness.
const POLL_GRACE: Duration = Duration::from_secs(5);

/// How long a publisher may keep failing before the agent reports not ready, unless
/// [`Readiness::set_publish_grace`] says otherwise (`telemetry.unready_after_publish_failing_s`).
pub const DEFAULT_PUBLISH_GRACE: Duration = Duration::from_secs(10);

/// Cloneable handle on the agent's readiness; clones share state.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<Mutex<State>>,
}

struct State {
    /// Queue name → consuming.
    consuming: BTreeMap<String, bool>,
    /// Polling source → when it becomes overdue.
    polling: BTreeMap<String, Instant>,
    /// Publisher → its current run of failed flushes (absent: its last flush succeeded).
    publishing: BTreeMap<String, Failing>,
    publish_grace: Duration,
    shutting_down: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            consuming: BTreeMap::new(),
            polling: BTreeMap::new(),
            publishing: BTreeMap::new(),
            publish_grace: DEFAULT_PUBLISH_GRACE,
            shutting_down: false,
        }
    }
}

/// A run of failed flushes of one publisher.
struct Failing {
    since: Instant,
    last_error: String,
}

/// The outcome of a readiness check, with what fails when it is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessReport {
    pub ready: bool,
    /// Human-readable failing conditions; empty when ready.
    pub problems: Vec<String>,
}

impl fmt::Display for ReadinessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ready {
            return f.write_str("ready\n");
        }
        f.write_str("not ready\n")?;
        for problem in &self.problems {
            writeln!(f, "- {problem}")?;
        }
        Ok(())
    }
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-updated (every update
        // is a single insert), so a poisoned lock is still good to use.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A listener started (`true`) or lost (`false`) its consumer on `queue`. Call it with
    /// `false` on connection loss and `true` again after `basic_consume` succeeds.
    pub fn set_consuming(&self, queue: &str, consuming: bool) {
        self.state().consuming.insert(queue.to_owned(), consuming);
    }

    /// A polling source ran its tick now; it is next expected within `interval`. Call it at
    /// every tick (and once when the source starts, so a first tick delayed by jitter does
    /// not count as off schedule).
    pub fn set_polling(&self, source: &str, interval: Duration) {
        let overdue = Instant::now() + interval.saturating_mul(2) + POLL_GRACE;
        self.state().polling.insert(source.to_owned(), overdue);
    }

    /// A polling source was removed (config reload): it no longer counts.
    pub fn stop_polling(&self, source: &str) {
        self.state().polling.remove(source);
    }

    /// Publishing that keeps failing for `grace` makes the agent not ready.
    pub fn set_publish_grace(&self, grace: Duration) {
        self.state().publish_grace = grace;
    }

    /// A flush of `publisher` failed (it will be retried). The first failure of a run starts
    /// its clock; `error` is kept for the report.
    pub fn publish_failed(&self, publisher: &str, error: &str) {
        let mut state = self.state();
        match state.publishing.get_mut(publisher) {
            Some(failing) => error.clone_into(&mut failing.last_error),
            None => {
                let failing = Failing {
                    since: Instant::now(),
                    last_error: error.to_owned(),
                };
                state.publishing.insert(publisher.to_owned(), failing);
            }
        }
    }

    /// A flush of `publisher` succeeded after failures: the run of failures is over.
    pub fn publish_recovered(&self, publisher: &str) {
        self.state().publishing.remove(publisher);
    }

    /// Shutdown began: report not ready from now on, so a load balancer or an orchestrator
    /// sees the drain.
    pub fn set_shutting_down(&self) {
        self.state().shutting_down = true;
    }

    pub fn report(&self) -> ReadinessReport {
        let state = self.state();
        let now = Instant::now();
        let mut problems = Vec::new();
        if state.shutting_down {
            problems.push("shutting down".to_owned());
        }
        if state.consuming.is_empty() && state.polling.is_empty() {
            problems.push("no queue consuming and no polling source started yet".to_owned());
        }
        for (queue, _) in state.consuming.iter().filter(|(_, consuming)| !**consuming) {
            problems.push(format!("queue {queue}: not consuming"));
        }
        for (source, overdue) in state.polling.iter().filter(|(_, overdue)| **overdue <= now) {
            let late = now.duration_since(*overdue);
            problems.push(format!(
                "polling source {source}: off schedule ({}s past due)",
                late.as_secs()
            ));
        }
        for (publisher, failing) in &state.publishing {
            let failed_for = now.duration_since(failing.since);
            if failed_for >= state.publish_grace {
                problems.push(format!(
                    "publisher {publisher}: publishing has failed for {}s: {}",
                    failed_for.as_secs(),
                    failing.last_error
                ));
            }
        }
        ReadinessReport {
            ready: problems.is_empty(),
            problems,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.report().ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_something_runs() {
        let readiness = Readiness::new();
        assert!(!readiness.is_ready());
        readiness.set_consuming("notifications.info", true);
        assert!(readiness.is_ready());
    }

    #[test]
    fn one_lost_queue_makes_it_unready() {
        let readiness = Readiness::new();
        readiness.set_consuming("notifications.info", true);
        readiness.set_consuming("notifications.sample", false);
        let report = readiness.report();
        assert!(!report.ready);
        assert_eq!(report.problems, vec!["queue notifications.sample: not consuming"]);
    }

    #[test]
    fn polling_goes_off_schedule_when_ticks_stop() {
        let readiness = Readiness::new();
        readiness.set_polling("some_pollsters", Duration::from_secs(300));
        assert!(readiness.is_ready());
        // Simulate a source whose deadline already passed.
        readiness
            .state()
            .polling
            .insert("stuck".into(), Instant::now() - Duration::from_secs(1));
        assert!(!readiness.is_ready());
        readiness.stop_polling("stuck");
        assert!(readiness.is_ready());
    }

    #[test]
    fn publishing_that_keeps_failing_past_the_grace_makes_it_unready_until_it_recovers() {
        let readiness = Readiness::new();
        readiness.set_consuming("q", true);
        readiness.set_publish_grace(Duration::from_secs(60));
        readiness.publish_failed("meter_sink/notifier", "first");
        assert!(readiness.is_ready(), "within the grace");
        readiness.set_publish_grace(Duration::ZERO);
        readiness.publish_failed("meter_sink/notifier", "broker refused (nack)");
        let report = readiness.report();
        assert!(!report.ready);
        assert_eq!(report.problems.len(), 1);
        assert!(
            report.problems[0].starts_with("publisher meter_sink/notifier: publishing has failed for ")
                && report.problems[0].ends_with("s: broker refused (nack)"),
            "{:?}",
            report.problems
        );
        readiness.publish_recovered("meter_sink/notifier");
        assert!(readiness.is_ready());
    }

    #[test]
    fn shutdown_wins() {
        let readiness = Readiness::new();
        readiness.set_consuming("q", true);
        readiness.set_shutting_down();
        assert!(!readiness.is_ready());
    }
}
