//! `ramp`: raise the rate step by step until the agent stops keeping up, and report the knee —
//! the highest rate at which, at the end of its step, the backlog was under `--max-lag` seconds'
//! worth of messages.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::report::{Report, Step};
use crate::session::{Common, Session};

/// Options of `ramp`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// First rate, messages per second.
    #[arg(long, default_value_t = 500.0)]
    pub start_rate: f64,
    /// Each step multiplies the rate by this.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 5.0)]
    pub step: f64,
    /// Stop after this rate.
    #[arg(long, default_value_t = 200_000.0)]
    pub max_rate: f64,
    /// The agent keeps up while its backlog stays under this many seconds of input.
    #[arg(long, default_value_t = 1.0)]
    pub max_lag: f64,
    /// At most this many messages over the whole ramp.
    #[arg(long, default_value_t = 5_000_000)]
    pub max_count: u64,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `ramp`.
pub async fn run(args: Args) -> Result<Report> {
    let mut s = Session::open(args.common, "ramp").await?;
    s.start_agent()?;
    if !s.wait_for_consumer().await? {
        eprintln!("loadgen: no consumer on the notification queues yet; ramping anyway");
    }
    s.mark_measure_start();
    let mut rate = args.start_rate.max(1.0);
    let mut knee = None;
    let mut why = "max-rate".to_owned();
    while rate <= args.max_rate {
        let left = args.max_count.saturating_sub(s.published());
        if left == 0 {
            why = "max-count".into();
            break;
        }
        let done_before = s.done().await?;
        s.take_window();
        let start = Instant::now();
        let want = ((rate * args.step).ceil() as u64).min(left);
        let until = start + Duration::from_secs_f64(args.step);
        let sent = s
            .publish(want, Some(rate), Some(until), &format!("{rate:.0}/s"))
            .await?;
        // Let the step run its full length when publishing finished early.
        if let Some(rest) = until.checked_duration_since(Instant::now()) {
            tokio::time::sleep(rest).await;
        }
        let secs = start.elapsed().as_secs_f64();
        let done = s.done().await?;
        s.sample_agent();
        let backlog = s.published().saturating_sub(done);
        let kept_up = backlog as f64 <= rate * args.max_lag && sent as f64 >= 0.9 * want as f64;
        let step = Step {
            target_rate: rate,
            sent_rate: sent as f64 / secs,
            done_rate: done.saturating_sub(done_before) as f64 / secs,
            backlog,
            delay: s.take_window(),
            kept_up,
        };
        if !s.common.quiet {
            eprintln!(
                "loadgen: step {:>8.0}/s sent {:>8.0}/s done {:>8.0}/s backlog {:>7} p99 {:>8.1} ms {}",
                step.target_rate,
                step.sent_rate,
                step.done_rate,
                step.backlog,
                step.delay.p99_ms,
                if kept_up { "ok" } else { "BEHIND" }
            );
        }
        s.steps.push(step);
        if !kept_up {
            why = if sent as f64 >= 0.9 * want as f64 {
                "agent fell behind".into()
            } else {
                "generator could not reach the rate".into()
            };
            break;
        }
        knee = Some(rate);
        if s.past_deadline() {
            why = "max-time".into();
            break;
        }
        rate *= args.factor.max(1.01);
    }
    s.knee_rate = knee;
    let settled = s.settle("settling").await?;
    s.finish(format!("{why}; then {settled}")).await
}
