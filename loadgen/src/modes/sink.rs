//! `sink`: a stand-in agent on Ceilometer's notification queues. `--ack-only` consumes and acks
//! (the broker's consume limit); `--republish` republishes each body unchanged to
//! `ceilometer`/`metering.sample` with confirms, acking after the confirm (the broker's
//! consume-and-publish limit); `--to-sample` turns each notification into one meter message keyed
//! by its message_id (a trivial agent for tests). `--stop-after N` processes exactly N messages
//! and exits, leaving the rest queued — an agent that dies halfway. `--ack-only --raw` consumes
//! without lapin ([`crate::raw_amqp`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, PublisherConfirm};
use rand::Rng;
use serde::Deserialize;

use crate::amqp;
use crate::raw_amqp::{Event, RawConsumer};
use crate::wire;

/// What the sink does with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Ack and drop.
    AckOnly,
    /// Republish the body unchanged, ack after the confirm.
    Republish,
    /// Publish one meter message per notification, ack after the confirm.
    ToSample,
}

/// Options of `sink`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Broker URL.
    #[arg(
        long,
        env = "LOADGEN_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub url: String,
    /// Consume and ack only.
    #[arg(long)]
    pub ack_only: bool,
    /// With --ack-only: consume with loadgen's own minimal client (plain amqp://, one thread,
    /// blocking reads) instead of lapin — what consuming costs without a client library.
    #[arg(long, requires = "ack_only")]
    pub raw: bool,
    /// Republish each body unchanged to ceilometer/metering.sample with confirms.
    #[arg(long)]
    pub republish: bool,
    /// Publish one meter message per notification (resource_id = its message_id).
    #[arg(long)]
    pub to_sample: bool,
    /// Declare durable, as the agent would with amqp_durable_queues.
    #[arg(long)]
    pub durable: bool,
    /// Declare quorum queues (and durable exchanges), as the agent would with
    /// rabbit_quorum_queue.
    #[arg(long)]
    pub quorum: bool,
    /// Prefetch per queue (default: 4000 with --ack-only, the most a consumer can use; 1000
    /// otherwise, where the confirm window is the limit).
    #[arg(long)]
    pub prefetch: Option<u16>,
    /// Process exactly this many messages, then exit.
    #[arg(long)]
    pub stop_after: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 3600.0)]
    pub max_time: f64,
}

impl Args {
    fn prefetch(&self) -> u16 {
        let default = if self.behaviour() == Behaviour::AckOnly {
            4000
        } else {
            1000
        };
        self.prefetch.unwrap_or(default)
    }

    fn behaviour(&self) -> Behaviour {
        if self.republish && !self.to_sample {
            Behaviour::Republish
        } else if self.to_sample {
            Behaviour::ToSample
        } else {
            Behaviour::AckOnly
        }
    }
}

struct Budget {
    taken: AtomicU64,
    limit: Option<u64>,
    /// The limit is reached: take nothing more (what was delivered but not taken is requeued).
    stop: AtomicBool,
    /// SIGTERM/SIGINT/--max-time: cancel the consumers, finish what was already delivered.
    term: AtomicBool,
}

impl Budget {
    /// Whether one more message may be processed.
    fn take(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        let n = self.taken.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Some(l) if n >= l => {
                self.stop.store(true, Ordering::Relaxed);
                false
            }
            Some(l) => {
                if n + 1 == l {
                    self.stop.store(true, Ordering::Relaxed);
                }
                true
            }
            None => true,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "oslo.message", borrow)]
    message: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    message_id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    event_type: Option<std::borrow::Cow<'a, str>>,
}

/// One meter message for a notification, inside an oslo envelope on `metering`.
fn meter_body(notification: &[u8]) -> Result<Vec<u8>> {
    let env: Envelope<'_> = serde_json::from_slice(notification).context("not an oslo 2.0 envelope")?;
    let head: Head<'_> = serde_json::from_str(&env.message).context("inner message without message_id")?;
    let now = chrono::Utc::now();
    let uuid = || uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid();
    let sample = serde_json::json!({
        "source": "openstack", "counter_name": "loadgen.sink", "counter_type": "delta",
        "counter_unit": "notification", "counter_volume": 1, "user_id": null, "user_name": null,
        "project_id": null, "project_name": null, "resource_id": head.message_id,
        "timestamp": now.to_rfc3339(), "resource_metadata": {"event_type": head.event_type},
        "message_id": uuid().to_string(), "monotonic_time": null, "message_signature": "",
    });
    let inner = serde_json::json!({
        "message_id": uuid().to_string(), "publisher_id": "telemetry.publisher.loadgen-sink",
        "event_type": "metering", "priority": "SAMPLE", "payload": [sample],
        "timestamp": wire::timestamp(now), "_unique_id": uuid().simple().to_string(),
    });
    let mut out = Vec::new();
    wire::envelope(&inner.to_string(), &mut out);
    Ok(out)
}

/// Deliveries acked per `basic.ack(multiple)` by the ack-only sink.
const ACK_EVERY: u32 = 250;

/// Between two of these ticks the ack-only sink acks what is pending and looks at the budget,
/// so no timer is set per delivery.
const TICK: Duration = Duration::from_millis(20);

/// `--ack-only`: per delivery only the budget check and remembering its tag, one `multiple`
/// ack per [`ACK_EVERY`] deliveries and the rest at the next [`TICK`], so that the limit it
/// measures is the broker's and not this loop's.
async fn ack_only(ch: &Channel, mut consumer: lapin::Consumer, tag: &str, budget: &Budget) -> Result<u64> {
    let mut processed = 0u64;
    let mut pending: Option<u64> = None;
    let mut since_ack = 0u32;
    let mut cancelled_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ack = |tag: u64| async move {
        ch.basic_ack(tag, BasicAckOptions { multiple: true })
            .await
            .context("acking")
    };
    loop {
        tokio::select! {
            next = consumer.next() => {
                let Some(delivery) = next else { break };
                let delivery = delivery.context("sink delivery")?;
                if !budget.take() {
                    break; // not acked: the broker requeues it when the channel closes
                }
                processed += 1;
                pending = Some(delivery.delivery_tag);
                since_ack += 1;
                if since_ack >= ACK_EVERY {
                    if let Some(t) = pending.take() {
                        ack(t).await?;
                    }
                    since_ack = 0;
                }
            }
            _ = tick.tick() => {
                if let Some(t) = pending.take() {
                    ack(t).await?;
                    since_ack = 0;
                }
                if budget.stop.load(Ordering::Relaxed) {
                    break;
                }
                match cancelled_at {
                    None if budget.term.load(Ordering::Relaxed) => {
                        // Graceful stop: no new deliveries; those already here are still acked.
                        ch.basic_cancel(tag.into(), BasicCancelOptions::default())
                            .await
                            .context("cancelling the sink consumer")?;
                        cancelled_at = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() > Duration::from_millis(200) => break,
                    _ => {}
                }
            }
        }
    }
    if let Some(t) = pending.take() {
        ack(t).await?;
    }
    let _ = ch.close(200, "sink done".into()).await;
    Ok(processed)
}

/// `--ack-only --raw`: as [`ack_only`], every queue on one channel of [`RawConsumer`]'s. Delivery
/// tags count up in the order the deliveries arrive, so a `multiple` ack through the last one
/// taken acks exactly what was taken.
fn raw_ack_only(args: &Args, budget: &Budget) -> Result<u64> {
    let queues = amqp::notification_queues();
    let mut consumer = RawConsumer::consume(&args.url, &queues, args.prefetch(), TICK)?;
    let (mut processed, mut pending, mut since_ack) = (0u64, None, 0u32);
    let mut cancelled = false;
    loop {
        if !cancelled && budget.term.load(Ordering::Relaxed) {
            // Graceful stop, as the lapin sink's: no new deliveries; those already here are still
            // acked.
            consumer.cancel()?;
            cancelled = true;
        }
        match consumer.next_event()? {
            Event::Delivered { tag } => {
                if !budget.take() {
                    break; // not acked: the broker requeues it when the connection closes
                }
                processed += 1;
                pending = Some(tag);
                since_ack += 1;
                if since_ack >= ACK_EVERY {
                    consumer.ack_through(tag)?;
                    (pending, since_ack) = (None, 0);
                }
            }
            Event::Idle if cancelled => break,
            Event::Idle => {
                if let Some(t) = pending.take() {
                    consumer.ack_through(t)?;
                    since_ack = 0;
                }
            }
        }
    }
    if let Some(t) = pending {
        consumer.ack_through(t)?;
    }
    consumer.close()?;
    Ok(processed)
}

async fn serve_queue(conn: Arc<Connection>, queue: String, args: Args, budget: Arc<Budget>) -> Result<u64> {
    let ch = conn.create_channel().await.context("opening a sink channel")?;
    ch.basic_qos(args.prefetch(), BasicQosOptions::default())
        .await
        .context("sink qos")?;
    let out: Option<Channel> = match args.behaviour() {
        Behaviour::AckOnly => None,
        _ => {
            let p = conn
                .create_channel()
                .await
                .context("opening a sink publishing channel")?;
            p.confirm_select(ConfirmSelectOptions::default())
                .await
                .context("sink confirms")?;
            Some(p)
        }
    };
    let tag = format!("loadgen-sink-{queue}");
    let mut consumer = ch
        .basic_consume(
            queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("consuming {queue}"))?;
    let Some(p) = out else {
        return ack_only(&ch, consumer, &tag, &budget).await;
    };
    let props = wire::properties();
    let mut window: VecDeque<(u64, PublisherConfirm)> = VecDeque::new();
    let mut unacked_last: Option<u64> = None;
    let mut unacked = 0u32;
    let mut processed = 0u64;
    let mut cancelled_at: Option<Instant> = None;
    let ack = |tag: u64| {
        let ch = ch.clone();
        async move {
            ch.basic_ack(tag, BasicAckOptions { multiple: true })
                .await
                .context("acking")
        }
    };
    loop {
        if cancelled_at.is_none() && budget.term.load(Ordering::Relaxed) {
            // Graceful stop: no new deliveries; those already here are still processed.
            ch.basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await
                .context("cancelling the sink consumer")?;
            cancelled_at = Some(Instant::now());
        }
        let next = tokio::time::timeout(Duration::from_millis(20), consumer.next()).await;
        let delivery = match next {
            Err(_) => {
                // Idle: ack what is done.
                while let Some((t, c)) = window.pop_front() {
                    c.await.context("sink publish confirm")?;
                    unacked_last = Some(t);
                }
                if let Some(t) = unacked_last.take() {
                    ack(t).await?;
                    unacked = 0;
                }
                if budget.stop.load(Ordering::Relaxed) || cancelled_at.is_some() {
                    break;
                }
                continue;
            }
            Ok(None) => break,
            Ok(Some(d)) => d.context("sink delivery")?,
        };
        if cancelled_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
            break;
        }
        if !budget.take() {
            break; // not acked: the broker requeues it when the channel closes
        }
        processed += 1;
        let body = if args.behaviour() == Behaviour::Republish {
            delivery.data.clone()
        } else {
            meter_body(&delivery.data).unwrap_or_else(|e| {
                eprintln!("loadgen sink: {e:#}");
                Vec::new()
            })
        };
        if !body.is_empty() {
            let c = p
                .basic_publish(
                    amqp::OUTPUT_EXCHANGE.into(),
                    amqp::OUTPUT_KEYS[0].into(),
                    BasicPublishOptions::default(),
                    &body,
                    props.clone(),
                )
                .await
                .context("sink publish")?;
            window.push_back((delivery.delivery_tag, c));
        } else {
            unacked_last = Some(delivery.delivery_tag);
        }
        while window.len() > 256 {
            if let Some((t, c)) = window.pop_front() {
                c.await.context("sink publish confirm")?;
                unacked_last = Some(t);
                unacked += 1;
            }
        }
        if unacked >= 64 {
            if let Some(t) = unacked_last.take() {
                ack(t).await?;
                unacked = 0;
            }
        }
    }
    while let Some((t, c)) = window.pop_front() {
        c.await.context("sink publish confirm")?;
        unacked_last = Some(t);
    }
    if let Some(t) = unacked_last.take() {
        ack(t).await?;
    }
    let _ = ch.close(200, "sink done".into()).await;
    Ok(processed)
}

/// Runs `sink` until `--stop-after` (the rest stays queued), or `--max-time` or SIGTERM/SIGINT
/// (consumers cancelled, what was already delivered is processed and acked); returns the count
/// processed.
pub async fn run(args: Args) -> Result<u64> {
    if [args.ack_only, args.republish, args.to_sample]
        .iter()
        .filter(|b| **b)
        .count()
        != 1
    {
        anyhow::bail!("sink needs exactly one of --ack-only, --republish, --to-sample");
    }
    let conn = Arc::new(amqp::connect(&args.url).await?);
    let setup = conn.create_channel().await.context("opening a channel")?;
    let how = amqp::Declare {
        durable: args.durable,
        quorum: args.quorum,
    };
    amqp::declare_notification_queues(&setup, how).await?;
    if args.behaviour() != Behaviour::AckOnly {
        amqp::declare_output_queues(&setup, how).await?;
    }
    let budget = Arc::new(Budget {
        taken: AtomicU64::new(0),
        limit: args.stop_after,
        stop: AtomicBool::new(false),
        term: AtomicBool::new(false),
    });
    let mut tasks = Vec::new();
    if args.raw {
        let (args, budget) = (args.clone(), budget.clone());
        tasks.push(tokio::task::spawn_blocking(move || raw_ack_only(&args, &budget)));
    } else {
        for q in amqp::notification_queues() {
            tasks.push(tokio::spawn(serve_queue(
                conn.clone(),
                q,
                args.clone(),
                budget.clone(),
            )));
        }
    }
    let started = Instant::now();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(Duration::from_secs_f64(args.max_time)) => {}
        _ = async {
            while !budget.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } => {}
    }
    budget.term.store(true, Ordering::Relaxed);
    let mut processed = 0;
    for t in tasks {
        processed += t.await.context("sink task")??;
    }
    let _ = conn.close(200, "sink done".into()).await;
    eprintln!(
        "loadgen sink: processed {processed} messages in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(processed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_body_keys_the_sample_by_the_notification_message_id() {
        let mut n = Vec::new();
        wire::envelope(
            r#"{"message_id": "abc", "event_type": "x.y", "payload": {}}"#,
            &mut n,
        );
        let out = meter_body(&n).expect("meter body");
        let outer: serde_json::Value = serde_json::from_slice(&out).expect("json");
        let inner: serde_json::Value =
            serde_json::from_str(outer["oslo.message"].as_str().expect("str")).expect("inner");
        assert_eq!(inner["payload"][0]["resource_id"], "abc");
        assert_eq!(inner["priority"], "SAMPLE");
        assert!(meter_body(b"{}").is_err());
    }

    #[test]
    fn the_budget_lets_exactly_the_limit_through() {
        let b = Budget {
            taken: AtomicU64::new(0),
            limit: Some(3),
            stop: AtomicBool::new(false),
            term: AtomicBool::new(false),
        };
        let ok = (0..10).filter(|_| b.take()).count();
        assert_eq!(ok, 3);
        assert!(b.stop.load(Ordering::Relaxed));
    }
}
