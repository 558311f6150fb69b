//! `steady`: hold a target rate for a bounded time against a running agent, then wait for the
//! output; reports delay percentiles from the send time in each key to the output's arrival.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::report::Report;
use crate::session::{Common, Session};

/// Options of `steady`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Target rate, messages per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// How long to publish, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// At most this many messages (default: rate × duration).
    #[arg(long)]
    pub count: Option<u64>,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `steady`.
pub async fn run(args: Args) -> Result<Report> {
    let mut s = Session::open(args.common, "steady").await?;
    s.start_agent()?;
    if !s.wait_for_consumer().await? {
        eprintln!("loadgen: no consumer on the notification queues yet; publishing anyway");
    }
    s.mark_measure_start();
    let count = args.count.unwrap_or((args.rate * args.duration).ceil() as u64);
    let until = Instant::now() + Duration::from_secs_f64(args.duration);
    s.publish(count, Some(args.rate), Some(until), "sending").await?;
    let why = s.settle("settling").await?;
    s.finish(why).await
}
