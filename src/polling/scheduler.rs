//! One timer actor per polling source ([`SourceScheduler`]).
//!
//! The first poll comes after a random offset in `[0, interval)` so that a fleet of agents
//! started together does not poll in lockstep; then one poll per interval. A poll still
//! running when the next is due is **skipped and counted** (`reason="overrun"`),
//! never stacked: at most one poll per source is in flight. The poll itself is any
//! [`PollJob`]; production uses [`SourceJob`] (a [`SourcePlan`] plus discovery), tests use a
//! job with a controlled duration under tokio's paused clock.
//!
//! A panic inside a poll is caught at the actor boundary and stops the actor, so its
//! `Supervisor` restarts it (a panic escaping a handler would kill the arbiter instead).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_lite::FutureExt as _;
use rand::Rng;

use super::discovery::Discovery;
use super::source::{PollReport, SourcePlan, Stop};
use super::SampleSink;
use crate::telemetry::handles::ActorMetrics;
use crate::telemetry::metrics::ActorKind;
use crate::telemetry::Readiness;

/// The random start offset of a source: uniform in `[0, interval)`.
pub fn start_offset(interval: Duration, rng: &mut impl Rng) -> Duration {
    if interval.is_zero() {
        return Duration::ZERO;
    }
    let micros = interval.as_micros().min(u64::MAX as u128) as u64;
    Duration::from_micros(rng.random_range(0..micros))
}

/// The "one poll at a time" rule, on its own.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TickGate {
    running: bool,
    pub started: u64,
    pub skipped: u64,
}

impl TickGate {
    /// A tick is due: `true` if a poll may start now, `false` if it is skipped.
    pub fn try_start(&mut self) -> bool {
        if self.running {
            self.skipped += 1;
            false
        } else {
            self.running = true;
            self.started += 1;
            true
        }
    }

    pub fn finish(&mut self) {
        self.running = false;
    }

    pub fn is_running(&self) -> bool {
        self.running
    }
}

/// One poll of a source, as a future the scheduler can own.
pub trait PollJob: Send + Sync + 'static {
    fn run(&self) -> Pin<Box<dyn Future<Output = PollReport> + Send + 'static>>;
    /// A tick came while the previous run was still going (metrics only).
    fn overrun(&self) {}
}

/// The production job: poll a [`SourcePlan`] into a sink.
pub struct SourceJob {
    pub plan: Arc<SourcePlan>,
    pub discovery: Arc<Discovery>,
    pub batch_size: usize,
    pub output: Arc<dyn SampleSink>,
    /// The agent's stop, which ends a running poll.
    pub stop: Stop,
}

impl PollJob for SourceJob {
    fn run(&self) -> Pin<Box<dyn Future<Output = PollReport> + Send + 'static>> {
        let (plan, discovery, output) = (self.plan.clone(), self.discovery.clone(), self.output.clone());
        let (batch_size, stop) = (self.batch_size, self.stop.clone());
        Box::pin(async move {
            plan.poll_until(&discovery, batch_size, output.as_ref(), &stop)
                .await
        })
    }

    fn overrun(&self) {
        self.plan.overrun();
    }
}

/// The capacity a scheduler reports (`ceilo_actor_mailbox_capacity`): actix's default, which
/// nothing fills, so the scheduler sets none of its own. It receives control messages only: stop
/// and stats, sent one at a time and awaited, and retire, once per reload.
const MAILBOX: usize = 16;

/// The timer actor of one source.
pub struct SourceScheduler {
    name: Arc<str>,
    interval: Duration,
    offset: Duration,
    job: Arc<dyn PollJob>,
    gate: TickGate,
    last: Option<PollReport>,
    readiness: Option<Readiness>,
    actor_metrics: ActorMetrics,
    /// Set by [`StopPolling`]: no new poll starts (survives supervisor restarts).
    stopped: bool,
    /// Set by [`Retire`]: no timer either.
    retired: bool,
    /// The first-tick timer, then the interval timer.
    timer: Option<SpawnHandle>,
}

impl SourceScheduler {
    pub fn new(name: Arc<str>, interval: Duration, offset: Duration, job: Arc<dyn PollJob>) -> Self {
        Self {
            actor_metrics: ActorMetrics::new(ActorKind::Scheduler, &name, MAILBOX),
            readiness: None,
            name,
            interval,
            offset,
            job,
            gate: TickGate::default(),
            last: None,
            stopped: false,
            retired: false,
            timer: None,
        }
    }

    /// Report the source's ticks to `/readyz` (a source that misses two intervals is not ready).
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = Some(readiness);
        self
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopped {
            return;
        }
        if let Some(r) = &self.readiness {
            r.set_polling(&self.name, self.interval);
        }
        if !self.gate.try_start() {
            self.job.overrun();
            tracing::warn!(source = %self.name, interval = ?self.interval,
                "previous poll still running: this one is skipped");
            return;
        }
        let fut = AssertUnwindSafe(self.job.run()).catch_unwind();
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            act.gate.finish();
            match result {
                Ok(report) => {
                    tracing::debug!(source = %act.name, ?report, "poll done");
                    act.last = Some(report);
                }
                Err(_) => {
                    tracing::error!(source = %act.name, "poll panicked: restarting the source scheduler");
                    ctx.stop();
                }
            }
        }));
    }
}

impl Actor for SourceScheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        if let Some(r) = &self.readiness {
            // The first tick waits for the offset (< interval): not "off schedule" meanwhile.
            r.set_polling(&self.name, self.interval);
        }
        tracing::info!(source = %self.name, interval = ?self.interval, offset = ?self.offset, "polling source scheduled");
        let interval = self.interval;
        self.timer = Some(ctx.run_later(self.offset, move |act, ctx| {
            act.tick(ctx);
            act.timer = Some(ctx.run_interval(interval, |act, ctx| act.tick(ctx)));
        }));
    }
}

impl Supervised for SourceScheduler {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The poll that was running died with the old context, and so did the timer.
        self.gate.finish();
        self.timer = None;
        self.actor_metrics.restarted();
    }
}

/// Graceful shutdown: start no new poll (a running one ends at the agent's [`Stop`], which
/// [`super::PollingAgent::stop`] sets first). Answers once no poll is running any more is not
/// guaranteed; ask [`GetStats`] for `running`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopPolling;

impl Handler<StopPolling> for SourceScheduler {
    type Result = ();

    fn handle(&mut self, _: StopPolling, _: &mut Context<Self>) {
        self.stopped = true;
    }
}

/// A reload replaced this source: no new poll starts and the timer stops, so the actor ends
/// once the poll it may be running is done and nothing refers to it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for SourceScheduler {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.stopped = true;
        self.retired = true;
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
    }
}

/// Ask a scheduler how it is doing.
#[derive(Message)]
#[rtype(result = "SchedulerStats")]
pub struct GetStats;

#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerStats {
    pub started: u64,
    pub skipped: u64,
    pub running: bool,
    pub last: Option<PollReport>,
}

impl Handler<GetStats> for SourceScheduler {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(SchedulerStats {
            started: self.gate.started,
            skipped: self.gate.skipped,
            running: self.gate.is_running(),
            last: self.last.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rand::SeedableRng;
    use tokio::time::Instant;

    use super::*;

    #[test]
    fn start_offsets_stay_within_the_interval_and_spread() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let interval = Duration::from_secs(300);
        let offsets: Vec<Duration> = (0..10_000).map(|_| start_offset(interval, &mut rng)).collect();
        assert!(offsets.iter().all(|o| *o < interval));
        // Spread over the whole interval, not bunched at one end.
        assert!(offsets.iter().any(|o| *o < Duration::from_secs(30)));
        assert!(offsets.iter().any(|o| *o > Duration::from_secs(270)));
        assert_eq!(start_offset(Duration::ZERO, &mut rng), Duration::ZERO);
    }

    #[test]
    fn the_gate_skips_while_running() {
        let mut g = TickGate::default();
        assert!(g.try_start());
        assert!(!g.try_start());
        assert!(!g.try_start());
        g.finish();
        assert!(g.try_start());
        assert_eq!((g.started, g.skipped), (2, 2));
    }

    /// A job that takes `duration` of (paused) tokio time and records when it ran.
    struct SlowJob {
        duration: Duration,
        runs: Arc<Mutex<Vec<(Instant, Instant)>>>,
        panic_on_first: bool,
    }

    impl PollJob for SlowJob {
        fn run(&self) -> Pin<Box<dyn Future<Output = PollReport> + Send + 'static>> {
            let (d, runs) = (self.duration, self.runs.clone());
            let panic_now = self.panic_on_first && runs.lock().unwrap().is_empty();
            Box::pin(async move {
                let start = Instant::now();
                if panic_now {
                    runs.lock().unwrap().push((start, start));
                    panic!("boom");
                }
                tokio::time::sleep(d).await;
                runs.lock().unwrap().push((start, Instant::now()));
                PollReport::default()
            })
        }
    }

    #[actix::test]
    async fn a_poll_that_overruns_its_interval_is_skipped_not_stacked() {
        tokio::time::pause();
        let t0 = Instant::now();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let job = Arc::new(SlowJob {
            duration: Duration::from_secs(25),
            runs: runs.clone(),
            panic_on_first: false,
        });
        let offset = Duration::from_secs(3);
        let addr = SourceScheduler::new("s".into(), Duration::from_secs(10), offset, job).start();
        tokio::time::sleep(Duration::from_secs(100)).await;
        let stats = addr.send(GetStats).await.unwrap();
        let runs = runs.lock().unwrap().clone();
        // Ticks at 3, 13, 23, ..., 93: 10 ticks. Polls start at 3, 33, 63, 93.
        let starts: Vec<u64> = runs.iter().map(|(s, _)| (*s - t0).as_secs()).collect();
        assert_eq!(starts, [3, 33, 63]);
        assert_eq!(stats.started, 4);
        assert!(stats.running);
        assert_eq!(stats.skipped, 6);
        // Never two at once.
        for w in runs.windows(2) {
            assert!(w[1].0 >= w[0].1);
        }
    }

    #[actix::test]
    async fn a_retired_scheduler_finishes_its_poll_then_ends() {
        tokio::time::pause();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let job = Arc::new(SlowJob {
            duration: Duration::from_secs(5),
            runs: runs.clone(),
            panic_on_first: false,
        });
        let addr = SourceScheduler::new("s".into(), Duration::from_secs(10), Duration::ZERO, job).start();
        tokio::time::sleep(Duration::from_secs(1)).await;
        addr.send(Retire).await.expect("retire");
        let weak = addr.downgrade();
        drop(addr);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(weak.upgrade().is_some(), "alive while its poll runs");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            runs.lock().unwrap().len(),
            1,
            "the poll finished, no other started"
        );
        assert!(weak.upgrade().is_none(), "ended once the poll was done");
    }

    #[actix::test]
    async fn the_first_poll_waits_for_the_offset_then_follows_the_interval() {
        tokio::time::pause();
        let t0 = Instant::now();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let job = Arc::new(SlowJob {
            duration: Duration::from_secs(1),
            runs: runs.clone(),
            panic_on_first: false,
        });
        let addr = SourceScheduler::new(
            "s".into(),
            Duration::from_secs(30),
            Duration::from_millis(7_500),
            job,
        )
        .start();
        tokio::time::sleep(Duration::from_secs(100)).await;
        let starts: Vec<u128> = runs
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| (*s - t0).as_millis())
            .collect();
        // tokio's timer wheel has a 1 ms resolution.
        let expected = [7_500, 37_500, 67_500, 97_500];
        assert_eq!(starts.len(), expected.len(), "{starts:?}");
        for (s, e) in starts.iter().zip(expected) {
            assert!(s.abs_diff(e) <= 5, "{starts:?}");
        }
        assert_eq!(addr.send(GetStats).await.unwrap().skipped, 0);
    }

    #[actix::test]
    async fn a_panicking_poll_restarts_the_scheduler_under_its_supervisor() {
        tokio::time::pause();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let job: Arc<dyn PollJob> = Arc::new(SlowJob {
            duration: Duration::from_secs(1),
            runs: runs.clone(),
            panic_on_first: true,
        });
        let addr = Supervisor::start(move |_| {
            SourceScheduler::new("s".into(), Duration::from_secs(10), Duration::ZERO, job.clone())
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        // The first poll panicked; the restarted actor went on polling.
        assert!(
            runs.lock().unwrap().len() >= 3,
            "{:?}",
            runs.lock().unwrap().len()
        );
        assert!(addr.send(GetStats).await.is_ok());
    }
}
