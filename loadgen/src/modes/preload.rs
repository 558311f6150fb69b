//! `preload`: fill Ceilometer's queues with N messages while no agent consumes, then start the
//! agent and measure how fast it drains them and delivers their output.

use anyhow::{bail, Result};

use crate::report::Report;
use crate::session::{Common, Session};

/// Options of `preload`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Messages to queue.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `preload`.
pub async fn run(args: Args) -> Result<Report> {
    let mut s = Session::open(args.common, "preload").await?;
    let consumers = s.consumers().await?;
    if s.common.agent_cmd.is_none() && consumers > 0 {
        bail!(
            "an agent already consumes the notification queues: \
             preload needs them idle (stop it, or use steady)"
        );
    }
    let queued = s.depth();
    if queued > 0 {
        bail!("{queued} messages are already in the notification queues; empty them with --purge");
    }
    let n = s.publish(args.count, None, None, "queueing").await?;
    if s.common.agent_cmd.is_none() && s.common.agent_pid.is_none() {
        eprintln!("loadgen: {n} messages queued; start the agent now");
    }
    s.start_agent()?;
    if !s.wait_for_consumer().await? {
        let why = "no consumer attached within --ready-timeout".to_owned();
        s.mark_measure_start();
        return s.finish(why).await;
    }
    s.mark_measure_start();
    let why = s.settle("draining").await?;
    s.finish(why).await
}
