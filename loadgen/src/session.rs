//! One measured run: the broker connection and topology, the generator and publisher, the output
//! collector, the agent under test, and the loops that publish and then wait for the output.
//!
//! The modes (`modes::*`) decide when to publish how much; the session does the work and builds
//! the report.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lapin::{Channel, Connection};
use rand::Rng;

use crate::agent::Agent;
use crate::amqp;
use crate::collect::{self, Shared};
use crate::generate::{Generator, Mix, Size, DEFAULT_MIX};
use crate::key::RunKey;
use crate::publish::Publisher;
use crate::report::{Report, Step};
use crate::tally::{Expect, Tally};
use crate::template;
use crate::wire;

/// Options every measuring mode shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Broker URL (traffic goes to 127.0.0.1 only in this project's runs).
    #[arg(
        long,
        env = "LOADGEN_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,
    /// Declare exchanges and queues durable (oslo's amqp_durable_queues); must match the agent.
    #[arg(long)]
    pub durable: bool,
    /// Declare the queues as quorum queues, durable, with durable exchanges (oslo's
    /// rabbit_quorum_queue); must match the agent.
    #[arg(long)]
    pub quorum: bool,
    /// Message mix: `family=weight,...` (nova, cinder, neutron, glance, keystone, heat, swift,
    /// polling, trove, dns, magnum, aodh, ironic, profiler), template names, `prefix*`, or `all`.
    #[arg(long, default_value = DEFAULT_MIX)]
    pub mix: String,
    /// Body size: `natural`, a target in bytes, or a range `MIN-MAX` drawn uniformly.
    #[arg(long, default_value = "natural")]
    pub size: Size,
    /// Templates file instead of the built-in ones (see data/make_templates.py).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Seed of the template and size draws (random when not given).
    #[arg(long)]
    pub seed: Option<u64>,
    /// What each input message must produce.
    #[arg(long, value_enum, default_value = "ceilometer")]
    pub expect: Expect,
    /// Where the agent's output is read: `amqp` (exchange ceilometer, metering.sample and
    /// event.sample) or `file:PATH` (a file publisher's JSON lines).
    #[arg(long, default_value = "amqp")]
    pub output: String,
    /// Command that starts the agent under test (`{url}` is replaced by --url); loadgen starts it
    /// (after filling the queues in preload), watches its CPU and memory, and stops it at the end.
    #[arg(long)]
    pub agent_cmd: Option<String>,
    /// Pid of an agent that runs already, to report its CPU and memory.
    #[arg(long)]
    pub agent_pid: Option<u32>,
    /// File for the started agent's stdout and stderr (default: a file in the temp dir).
    #[arg(long)]
    pub agent_log: Option<PathBuf>,
    /// Seconds to wait for the agent to attach a consumer to the notification queues.
    #[arg(long, default_value_t = 60.0)]
    pub ready_timeout: f64,
    /// After publishing, give up when no output and no queue progress came for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub settle: f64,
    /// Stop the agent (SIGTERM) once this many input messages are done — an agent that goes away
    /// halfway; the report then shows what it left undelivered.
    #[arg(long)]
    pub stop_agent_after: Option<u64>,
    /// Hard bound on the whole run, seconds.
    #[arg(long, default_value_t = 600.0)]
    pub max_time: f64,
    /// Empty the notification and output queues before starting.
    #[arg(long)]
    pub purge: bool,
    /// Unconfirmed publishes in flight.
    #[arg(long, default_value_t = 2000)]
    pub in_flight: usize,
    /// Write the JSON report to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the JSON report on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when anything was lost or duplicated.
    #[arg(long)]
    pub fail_on_loss: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl Common {
    /// How to declare exchanges and queues (`--durable`, `--quorum`).
    pub fn declare(&self) -> amqp::Declare {
        amqp::Declare {
            durable: self.durable,
            quorum: self.quorum,
        }
    }
}

/// A run in progress.
pub struct Session {
    /// The options.
    pub common: Common,
    mode: &'static str,
    _conn: Connection,
    ch: Channel,
    queues: Vec<String>,
    gen: Generator,
    publisher: Publisher,
    shared: Arc<Shared>,
    collector: Option<tokio::task::JoinHandle<Result<()>>>,
    agent: Option<Agent>,
    next_seq: u64,
    publish_time: Duration,
    measure_start_us: u64,
    drain_at_us: Option<u64>,
    depth: u64,
    deadline: Instant,
    /// Ramp steps.
    pub steps: Vec<Step>,
    /// Ramp knee.
    pub knee_rate: Option<f64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("mode", &self.mode)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

fn bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix:>10} [{bar:32}] {pos}/{len} {per_sec:>12} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    b.set_style(style);
    b.set_prefix(what.to_owned());
    b
}

impl Session {
    /// Connects, declares the topology, starts the collector.
    pub async fn open(common: Common, mode: &'static str) -> Result<Self> {
        let templates = match &common.templates {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                template::parse(&text, &p.display().to_string())?
            }
            None => template::builtin()?,
        };
        let seed = common.seed.unwrap_or_else(|| rand::rng().random());
        let mix = Mix::parse(&common.mix, &templates, seed)?;
        let run = RunKey::new(rand::rng().random());
        let conn = amqp::connect(&common.url).await?;
        let ch = conn.create_channel().await.context("opening a channel")?;
        amqp::declare_notification_queues(&ch, common.declare()).await?;
        let mut extra: Vec<&str> = templates
            .iter()
            .map(|t| t.exchange.as_str())
            .filter(|e| !amqp::CONTROL_EXCHANGES.contains(e))
            .collect();
        extra.dedup();
        amqp::declare_exchanges(&ch, &extra, common.declare()).await?;
        let queues = amqp::notification_queues();
        let shared = Arc::new(Shared {
            tally: Mutex::new(Tally::new(common.expect, &templates, mix.clone())),
            last_output_us: AtomicU64::new(0),
            t0: Instant::now(),
            run,
        });
        if common.purge {
            amqp::declare_output_queues(&ch, common.declare()).await?;
            let out: Vec<String> = amqp::OUTPUT_KEYS.iter().map(|s| s.to_string()).collect();
            let n = amqp::purge(&ch, &queues).await? + amqp::purge(&ch, &out).await?;
            if n > 0 {
                eprintln!("loadgen: purged {n} old messages");
            }
        }
        let collector = match (common.expect, common.output.as_str()) {
            (Expect::None, _) => None,
            (_, "amqp") => {
                let cconn = amqp::connect(&common.url).await?;
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = tokio::spawn(collect::consume_amqp(cconn, shared.clone(), common.declare(), tx));
                match tokio::time::timeout(Duration::from_secs(30), rx).await {
                    Ok(Ok(())) => Some(task),
                    // The collector ended before attaching: report why.
                    Ok(Err(_)) => {
                        return match task.await {
                            Ok(Err(e)) => Err(e.context("starting the output collector")),
                            _ => Err(anyhow::anyhow!("the output collector did not start")),
                        }
                    }
                    Err(_) => {
                        task.abort();
                        bail!("the output collector did not attach within 30 s");
                    }
                }
            }
            (_, o) => match o.strip_prefix("file:") {
                Some(path) => Some(tokio::spawn(collect::follow_file(
                    PathBuf::from(path),
                    shared.clone(),
                ))),
                None => bail!("--output must be amqp or file:PATH, not {o:?}"),
            },
        };
        if collector.is_some() && common.output == "amqp" {
            let out: Vec<String> = amqp::OUTPUT_KEYS.iter().map(|s| s.to_string()).collect();
            let (_, consumers) = amqp::depth(&ch, &out).await?;
            if consumers > out.len() as u64 {
                eprintln!(
                    "loadgen: metering.sample/event.sample have other consumers; they will take part of \
                     the output and it will count as lost (use a vhost of your own)"
                );
            }
        }
        let publisher = Publisher::new(&conn, wire::properties(), common.in_flight).await?;
        let gen = Generator::new(templates, mix, common.size, run);
        let deadline = Instant::now() + Duration::from_secs_f64(common.max_time);
        Ok(Self {
            common,
            mode,
            _conn: conn,
            ch,
            queues,
            gen,
            publisher,
            shared,
            collector,
            agent: None,
            next_seq: 0,
            publish_time: Duration::ZERO,
            measure_start_us: 0,
            drain_at_us: None,
            depth: 0,
            deadline,
            steps: Vec::new(),
            knee_rate: None,
        })
    }

    /// Starts (`--agent-cmd`) or attaches to (`--agent-pid`) the agent, if any.
    pub fn start_agent(&mut self) -> Result<()> {
        if let Some(cmd) = &self.common.agent_cmd {
            let log = self.common.agent_log.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("loadgen-agent-{}.log", self.shared.run.tag()))
            });
            self.agent = Some(Agent::spawn(cmd, &self.common.url, &log)?);
        } else if let Some(pid) = self.common.agent_pid {
            self.agent = Some(Agent::attach(pid)?);
        }
        Ok(())
    }

    /// Waits until some consumer is attached to the notification queues; returns whether one is.
    pub async fn wait_for_consumer(&mut self) -> Result<bool> {
        let until = Instant::now() + Duration::from_secs_f64(self.common.ready_timeout);
        loop {
            let (depth, consumers) = amqp::depth(&self.ch, &self.queues).await?;
            self.depth = depth;
            if consumers > 0 {
                return Ok(true);
            }
            if let Some(a) = self.agent.as_mut() {
                a.sample();
                if a.exited() {
                    bail!("the agent exited before consuming: {:?}", a.stats());
                }
            }
            if Instant::now() >= until || Instant::now() >= self.deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Consumers attached to the notification queues now.
    pub async fn consumers(&mut self) -> Result<u64> {
        let (depth, consumers) = amqp::depth(&self.ch, &self.queues).await?;
        self.depth = depth;
        Ok(consumers)
    }

    /// Messages in the notification queues at the last look.
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// Marks the start of the measurement (agent CPU counted from here).
    pub fn mark_measure_start(&mut self) {
        self.measure_start_us = self.shared.now_us();
        if let Some(a) = self.agent.as_mut() {
            a.mark_start();
        }
    }

    /// Whether the run's time bound has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Messages published so far.
    pub fn published(&self) -> u64 {
        self.next_seq
    }

    /// Publishes `count` messages at `rate` per second (as fast as possible when `None`),
    /// stopping early at `until` or the run's deadline. Returns how many were published.
    pub async fn publish(
        &mut self,
        count: u64,
        rate: Option<f64>,
        until: Option<Instant>,
        what: &str,
    ) -> Result<u64> {
        let pb = bar(self.common.quiet, count, what);
        let start = Instant::now();
        let first = self.next_seq;
        let stop = until.map_or(self.deadline, |u| u.min(self.deadline));
        let mut last_agent_sample = Instant::now();
        while self.next_seq - first < count && Instant::now() < stop {
            let done = self.next_seq - first;
            let due = match rate {
                None => count - done,
                Some(r) => ((start.elapsed().as_secs_f64() * r) as u64).min(count) - done.min(count),
            };
            if due == 0 {
                // Publish in bursts of a few ms: lapin then writes many frames per syscall.
                tokio::time::sleep(Duration::from_millis(4)).await;
                continue;
            }
            for _ in 0..due.min(500) {
                let seq = self.next_seq;
                let m = self.gen.next(seq, self.shared.now_us(), chrono::Utc::now());
                self.publisher
                    .publish(seq, m.exchange, m.routing_key, m.body)
                    .await?;
                self.next_seq += 1;
            }
            pb.set_position(self.next_seq - first);
            if last_agent_sample.elapsed() > Duration::from_millis(100) {
                last_agent_sample = Instant::now();
                if let Some(a) = self.agent.as_mut() {
                    a.sample();
                }
                let t = self.shared.tally.lock().map(|t| t.completed()).unwrap_or(0);
                pb.set_message(format!("done {t}"));
            }
        }
        self.publisher.flush().await?;
        pb.finish_and_clear();
        self.publish_time += start.elapsed();
        Ok(self.next_seq - first)
    }

    /// Input messages done so far: complete (with output), or consumed (`--expect none`).
    pub async fn done(&mut self) -> Result<u64> {
        let (depth, _) = amqp::depth(&self.ch, &self.queues).await?;
        self.depth = depth;
        if depth == 0 && self.drain_at_us.is_none() {
            self.drain_at_us = Some(self.shared.now_us());
        } else if depth > 0 {
            self.drain_at_us = None;
        }
        Ok(match self.common.expect {
            Expect::None => self.next_seq.saturating_sub(depth),
            _ => self.shared.tally.lock().map(|t| t.completed()).unwrap_or(0),
        })
    }

    /// Takes the delays of the records seen since the last call.
    pub fn take_window(&self) -> crate::tally::Delays {
        self.shared
            .tally
            .lock()
            .map(|mut t| t.take_window())
            .unwrap_or_default()
    }

    /// Samples the agent's /proc.
    pub fn sample_agent(&mut self) {
        if let Some(a) = self.agent.as_mut() {
            a.sample();
        }
    }

    /// Waits until every published message is done, nothing progressed for `--settle` seconds, or
    /// the deadline. Returns why it stopped.
    pub async fn settle(&mut self, what: &str) -> Result<String> {
        let expected = {
            let t = self
                .shared
                .tally
                .lock()
                .map_err(|_| anyhow::anyhow!("tally lock poisoned"))?;
            (0..self.next_seq).map(|s| t.expected_of(s)).sum::<u64>()
        };
        let total = self.next_seq;
        let pb = bar(self.common.quiet, total, what);
        let idle = Duration::from_secs_f64(self.common.settle);
        let mut last_progress = Instant::now();
        let mut last = (u64::MAX, u64::MAX);
        loop {
            let done = self.done().await?;
            self.sample_agent();
            let matched = self.shared.tally.lock().map(|t| t.matched()).unwrap_or(0);
            if let (Some(limit), Some(a)) = (self.common.stop_agent_after, self.agent.as_mut()) {
                if done >= limit && !a.exited() {
                    a.stop(Duration::from_secs(15)).await;
                }
            }
            pb.set_position(done);
            pb.set_message(format!("queued {}", self.depth));
            if self.common.expect == Expect::None && self.depth == 0 {
                pb.finish_and_clear();
                return Ok("queues empty".into());
            }
            if self.common.expect != Expect::None && matched >= expected {
                pb.finish_and_clear();
                return Ok("all output arrived".into());
            }
            if (matched, self.depth) != last {
                last = (matched, self.depth);
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= idle {
                pb.finish_and_clear();
                return Ok(format!("no progress for {:.1} s", self.common.settle));
            }
            if self.past_deadline() {
                pb.finish_and_clear();
                return Ok("max-time".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the collector and the agent and builds the report.
    pub async fn finish(mut self, ended_by: String) -> Result<Report> {
        let end_us = self.shared.now_us();
        let _ = self.done().await;
        if let Some(a) = self.agent.as_mut() {
            a.sample_now();
        }
        let agent_stats = self.agent.as_ref().map(Agent::stats);
        if let Some(a) = self.agent.as_mut() {
            a.stop(Duration::from_secs(15)).await;
            // What the stopped agent left (requeued deliveries included).
            let _ = self.done().await;
        }
        if let Some(c) = self.collector.take() {
            if c.is_finished() {
                if let Ok(Err(e)) = c.await {
                    eprintln!("loadgen: the output collector failed: {e:#}");
                }
            } else {
                c.abort();
            }
        }
        let mut agent_stats = agent_stats;
        if let (Some(s), Some(a)) = (agent_stats.as_mut(), self.agent.as_ref()) {
            s.exit = a.stats().exit;
        }
        let tally = self
            .shared
            .tally
            .lock()
            .map_err(|_| anyhow::anyhow!("tally lock poisoned"))?;
        let totals = tally.finish(self.next_seq, self.publisher.nacked());
        let delay = tally.delays();
        let records = tally.records();
        drop(tally);
        let secs = |us: u64| us.saturating_sub(self.measure_start_us) as f64 / 1e6;
        let last_out = self.shared.last_output_us.load(Ordering::Relaxed);
        let output_seconds = (last_out > 0).then(|| secs(last_out));
        let drain_seconds = if self.mode == "preload" {
            self.drain_at_us.map(secs)
        } else {
            None
        };
        let messages_in = self.publisher.confirmed();
        let per = |n: f64, s: Option<f64>| s.filter(|s| *s > 0.0).map_or(0.0, |s| n / s);
        let drain_rate = drain_seconds.map(|s| per(messages_in as f64, Some(s)));
        let throughput = match self.common.expect {
            Expect::None => drain_rate.unwrap_or(0.0),
            _ => per(totals.messages_complete as f64, output_seconds),
        };
        let publish_seconds = self.publish_time.as_secs_f64();
        let agent_cpu_ms_per_message = agent_stats
            .as_ref()
            .filter(|_| messages_in > 0)
            .map(|a| a.cpu_seconds * 1000.0 / messages_in as f64);
        Ok(Report {
            mode: self.mode.to_owned(),
            run_tag: self.shared.run.tag().to_owned(),
            url: amqp::redact(&self.common.url),
            mix: self.common.mix.clone(),
            size: self.common.size.to_string(),
            expect: self.common.expect,
            messages_in,
            messages_refused: self.publisher.nacked().len() as u64,
            avg_body_bytes: if self.next_seq > 0 {
                self.publisher.bytes() as f64 / self.next_seq as f64
            } else {
                0.0
            },
            publish_seconds,
            publish_rate: per(self.next_seq as f64, Some(publish_seconds)),
            measure_seconds: secs(end_us),
            drain_seconds,
            drain_rate,
            output_seconds,
            throughput,
            records_rate: per(records as f64, output_seconds),
            totals,
            delay,
            queue_depth_end: self.depth,
            ended_by,
            steps: std::mem::take(&mut self.steps),
            knee_rate: self.knee_rate,
            agent: agent_stats,
            agent_cpu_ms_per_message,
        })
    }
}
