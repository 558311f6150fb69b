//! Pre-registered metric handles, one struct per component, Vector style.
//!
//! A component builds its struct once, when it starts (after [`super::start`] installed the
//! recorder: handles made before that stay no-ops forever), and then calls typed methods
//! once per batch: `listener.received(batch.len())`. Building the handles up front also
//! creates every series at zero, so `rate()` sees the first increments and dashboards show
//! a flat line rather than nothing.
//!
//! Nothing here allocates or looks up a name on the hot path: each method is one atomic
//! operation on a handle (a histogram observation is one lock-free push).

use std::time::Duration;

use ::metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use super::metrics::*;
use crate::model::Payload;

/// Per-reason counters, indexed by the enum's position in its `ALL` array.
fn per_reason<const N: usize>(make: impl Fn(usize) -> Counter) -> [Counter; N] {
    std::array::from_fn(make)
}

/// A listener (one per queue): deliveries in, acks and dead-letters out.
#[derive(Clone)]
pub struct ListenerMetrics {
    received: Counter,
    acked: Counter,
    dead_lettered: [Counter; RejectReason::ALL.len()],
    unacked: Gauge,
    queue_messages: Gauge,
    consume_batch: Histogram,
}

impl ListenerMetrics {
    pub fn new(queue: &str) -> Self {
        let q = queue.to_owned();
        Self {
            received: counter!(NOTIFICATIONS_RECEIVED, LABEL_QUEUE => q.clone()),
            acked: counter!(NOTIFICATIONS_ACKED, LABEL_QUEUE => q.clone()),
            dead_lettered: per_reason(|i| {
                counter!(NOTIFICATIONS_DEAD_LETTERED, LABEL_QUEUE => q.clone(),
                    LABEL_REASON => RejectReason::ALL[i].as_str())
            }),
            unacked: gauge!(AMQP_UNACKED_DELIVERIES, LABEL_QUEUE => q.clone()),
            queue_messages: gauge!(AMQP_QUEUE_MESSAGES, LABEL_QUEUE => q),
            consume_batch: histogram!(BATCH_SIZE, LABEL_STAGE => Stage::Consume.as_str()),
        }
    }

    /// A batch of `n` deliveries was taken from the consumer and sent on.
    pub fn received(&self, n: usize) {
        self.received.increment(n as u64);
        self.unacked.increment(n as f64);
        self.consume_batch.record(n as f64);
    }

    /// `n` deliveries were acked (with `multiple: true` this is the span the ack covered).
    pub fn acked(&self, n: usize) {
        self.acked.increment(n as u64);
        self.unacked.decrement(n as f64);
    }

    /// `n` deliveries were rejected to the dead-letter exchange and the broker confirmed it.
    pub fn dead_lettered(&self, reason: RejectReason, n: usize) {
        self.dead_lettered[reason as usize].increment(n as u64);
        self.unacked.decrement(n as f64);
    }

    /// `n` deliveries leave this agent's hands without ack or dead-letter: nacked for
    /// redelivery (a publisher failed), or dropped with their channel after a connection loss
    /// (their tags are invalid then, and the broker redelivers them).
    pub fn released(&self, n: usize) {
        self.unacked.decrement(n as f64);
    }

    /// The broker's ready-message count for this queue (passive declare), i.e. the backlog.
    pub fn queue_messages(&self, messages: u32) {
        self.queue_messages.set(f64::from(messages));
    }
}

/// A converter worker: delivery batches in, samples and events out.
#[derive(Clone)]
pub struct ConverterMetrics {
    converted: Counter,
    duplicates: Counter,
    unknown_priority: Counter,
    rejected: [Counter; RejectReason::ALL.len()],
    samples: Counter,
    events: Counter,
    duration: Histogram,
}

/// What one converted delivery batch amounted to, reported in one call.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConversionOutcome {
    /// Notifications converted without error.
    pub converted: usize,
    /// Notifications rejected because they are not oslo notifications.
    pub rejected_envelope: usize,
    /// Notifications rejected because an endpoint raised on them.
    pub rejected_endpoint: usize,
    /// Notifications rejected because their output was over `notification.max_output_bytes`.
    pub rejected_output: usize,
    /// Notifications dropped as duplicates (see [`crate::agent::duplicates`]).
    pub duplicates: usize,
    /// Notifications acked unprocessed: no priority oslo knows (see [`crate::convert`]).
    pub unknown_priority: usize,
    pub samples: usize,
    pub events: usize,
}

impl ConverterMetrics {
    /// `queue`: where the batch came from (a converter serving several queues builds one
    /// `ConverterMetrics` per queue; they share the unlabelled series).
    pub fn new(queue: &str) -> Self {
        let q = queue.to_owned();
        Self {
            converted: counter!(NOTIFICATIONS_CONVERTED, LABEL_QUEUE => q.clone()),
            duplicates: counter!(NOTIFICATIONS_DUPLICATE, LABEL_QUEUE => q.clone()),
            unknown_priority: counter!(NOTIFICATIONS_UNKNOWN_PRIORITY, LABEL_QUEUE => q.clone()),
            rejected: per_reason(|i| {
                counter!(NOTIFICATIONS_REJECTED, LABEL_QUEUE => q.clone(),
                    LABEL_REASON => RejectReason::ALL[i].as_str())
            }),
            samples: counter!(SAMPLES_PRODUCED, LABEL_ORIGIN => Origin::Notification.as_str()),
            events: counter!(EVENTS_PRODUCED),
            duration: histogram!(CONVERSION_DURATION),
        }
    }

    /// One delivery batch was converted in `elapsed`.
    pub fn batch(&self, outcome: ConversionOutcome, elapsed: Duration) {
        self.converted.increment(outcome.converted as u64);
        self.duplicates.increment(outcome.duplicates as u64);
        self.unknown_priority.increment(outcome.unknown_priority as u64);
        self.rejected[RejectReason::Envelope as usize].increment(outcome.rejected_envelope as u64);
        self.rejected[RejectReason::Endpoint as usize].increment(outcome.rejected_endpoint as u64);
        self.rejected[RejectReason::Output as usize].increment(outcome.rejected_output as u64);
        self.samples.increment(outcome.samples as u64);
        self.events.increment(outcome.events as u64);
        self.duration.record(elapsed.as_secs_f64());
    }

    /// For code that rejects outside a batch (e.g. an oversize body caught by the listener).
    pub fn rejected(&self, reason: RejectReason, n: usize) {
        self.rejected[reason as usize].increment(n as u64);
    }
}

/// The pipeline: what source filters and transformers drop.
#[derive(Clone)]
pub struct PipelineMetrics {
    samples_filtered: Counter,
    events_filtered: Counter,
}

impl PipelineMetrics {
    pub fn new() -> Self {
        Self {
            samples_filtered: counter!(SAMPLES_FILTERED),
            events_filtered: counter!(EVENTS_FILTERED),
        }
    }

    pub fn samples_filtered(&self, n: usize) {
        self.samples_filtered.increment(n as u64);
    }

    pub fn events_filtered(&self, n: usize) {
        self.events_filtered.increment(n as u64);
    }
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A publisher (one per sink and publisher URL).
#[derive(Clone)]
pub struct PublisherMetrics {
    samples_published: Counter,
    events_published: Counter,
    samples_failed: Counter,
    events_failed: Counter,
    confirm: Histogram,
    delay: Histogram,
    batch: Histogram,
}

impl PublisherMetrics {
    /// `sink`: the sink's name in the pipeline file; `publisher`: the URL's scheme only.
    pub fn new(sink: &str, publisher: &str) -> Self {
        let (s, p) = (sink.to_owned(), publisher.to_owned());
        Self {
            samples_published: counter!(SAMPLES_PUBLISHED, LABEL_SINK => s.clone(), LABEL_PUBLISHER => p.clone()),
            events_published: counter!(EVENTS_PUBLISHED, LABEL_SINK => s.clone(), LABEL_PUBLISHER => p.clone()),
            samples_failed: counter!(SAMPLES_PUBLISH_FAILED, LABEL_SINK => s.clone(), LABEL_PUBLISHER => p.clone()),
            events_failed: counter!(EVENTS_PUBLISH_FAILED, LABEL_SINK => s.clone(), LABEL_PUBLISHER => p.clone()),
            confirm: histogram!(PUBLISH_CONFIRM_DURATION, LABEL_SINK => s, LABEL_PUBLISHER => p),
            delay: histogram!(END_TO_END_DELAY),
            batch: histogram!(BATCH_SIZE, LABEL_STAGE => Stage::Publish.as_str()),
        }
    }

    /// A batch of `n` items was confirmed `confirm` after it was handed over. `oldest_age` is
    /// now minus the oldest item's notification (or poll) timestamp; pass `None` when unknown.
    pub fn confirmed(&self, payload: Payload, n: usize, confirm: Duration, oldest_age: Option<Duration>) {
        match payload {
            Payload::Samples => self.samples_published.increment(n as u64),
            Payload::Events => self.events_published.increment(n as u64),
        }
        self.batch.record(n as f64);
        self.confirm.record(confirm.as_secs_f64());
        if let Some(age) = oldest_age {
            self.delay.record(age.as_secs_f64());
        }
    }

    /// A publish attempt of `n` items failed (it will be retried or the deliveries nacked).
    pub fn failed(&self, payload: Payload, n: usize) {
        match payload {
            Payload::Samples => self.samples_failed.increment(n as u64),
            Payload::Events => self.events_failed.increment(n as u64),
        }
    }
}

/// How long ago `timestamp` (a notification's or a poll's, as the model parses it) was, for
/// [`PublisherMetrics::confirmed`]. Clamped at zero because producer clocks run ahead of ours
/// now and then, and a histogram has no negative buckets.
pub fn age_since(timestamp: &crate::model::py::datetime::Timestamp) -> Duration {
    let seconds = crate::model::py::datetime::Timestamp::now_utc().seconds_since(timestamp);
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
}

/// One pollster of one polling source.
#[derive(Clone)]
pub struct PollsterMetrics {
    run: Counter,
    skipped: [Counter; SkipReason::ALL.len()],
    failed: Counter,
    duration: Histogram,
    samples: Counter,
    batch: Histogram,
}

impl PollsterMetrics {
    pub fn new(source: &str, pollster: &str) -> Self {
        let (s, p) = (source.to_owned(), pollster.to_owned());
        Self {
            run: counter!(POLLS_RUN, LABEL_SOURCE => s.clone(), LABEL_POLLSTER => p.clone()),
            skipped: per_reason(|i| {
                counter!(POLLS_SKIPPED, LABEL_SOURCE => s.clone(), LABEL_POLLSTER => p.clone(),
                    LABEL_SKIP_REASON => SkipReason::ALL[i].as_str())
            }),
            failed: counter!(POLLS_FAILED, LABEL_SOURCE => s.clone(), LABEL_POLLSTER => p.clone()),
            duration: histogram!(POLL_DURATION, LABEL_SOURCE => s, LABEL_POLLSTER => p),
            samples: counter!(SAMPLES_PRODUCED, LABEL_ORIGIN => Origin::Polling.as_str()),
            batch: histogram!(BATCH_SIZE, LABEL_STAGE => Stage::Poll.as_str()),
        }
    }

    /// A run produced `samples` samples in `elapsed`.
    pub fn succeeded(&self, samples: usize, elapsed: Duration) {
        self.run.increment(1);
        self.duration.record(elapsed.as_secs_f64());
        self.samples.increment(samples as u64);
        self.batch.record(samples as f64);
    }

    /// A run ended in an error after `elapsed`.
    pub fn failed(&self, elapsed: Duration) {
        self.run.increment(1);
        self.duration.record(elapsed.as_secs_f64());
        self.failed.increment(1);
    }

    pub fn skipped(&self, reason: SkipReason) {
        self.skipped[reason as usize].increment(1);
    }
}

/// The libvirt connection of the compute pollsters and `local_instances` discovery.
#[derive(Clone)]
pub struct LibvirtMetrics {
    errors: [Counter; LibvirtErrorReason::ALL.len()],
    reconnects: Counter,
}

impl Default for LibvirtMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LibvirtMetrics {
    pub fn new() -> Self {
        Self {
            errors: per_reason(
                |i| counter!(LIBVIRT_ERRORS, LABEL_REASON => LibvirtErrorReason::ALL[i].as_str()),
            ),
            reconnects: counter!(LIBVIRT_RECONNECTS),
        }
    }

    pub fn error(&self, reason: LibvirtErrorReason) {
        self.errors[reason as usize].increment(1);
    }

    pub fn reconnected(&self) {
        self.reconnects.increment(1);
    }
}

/// SIGHUP reloads of the definitions (agent/reload.rs).
#[derive(Clone)]
pub struct ReloadMetrics {
    results: [Counter; ReloadResult::ALL.len()],
}

impl Default for ReloadMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ReloadMetrics {
    pub fn new() -> Self {
        Self {
            results: per_reason(|i| counter!(CONFIG_RELOADS, LABEL_RESULT => ReloadResult::ALL[i].as_str())),
        }
    }

    pub fn ended(&self, result: ReloadResult) {
        self.results[result as usize].increment(1);
    }
}

/// The coordination member: failed backend calls.
#[derive(Clone)]
pub struct CoordinationMetrics {
    errors: [Counter; CoordinationOp::ALL.len()],
}

impl Default for CoordinationMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CoordinationMetrics {
    pub fn new() -> Self {
        Self {
            errors: per_reason(
                |i| counter!(COORDINATION_ERRORS, LABEL_OP => CoordinationOp::ALL[i].as_str()),
            ),
        }
    }

    pub fn error(&self, op: CoordinationOp) {
        self.errors[op as usize].increment(1);
    }
}

/// One partitioning group, as the last poll saw it.
#[derive(Clone)]
pub struct GroupMetrics {
    members: Gauge,
    resources: Gauge,
    owned: Gauge,
}

impl GroupMetrics {
    pub fn new(group: &str) -> Self {
        let g = group.to_owned();
        Self {
            members: gauge!(COORDINATION_GROUP_MEMBERS, LABEL_GROUP => g.clone()),
            resources: gauge!(COORDINATION_RESOURCES, LABEL_GROUP => g.clone()),
            owned: gauge!(COORDINATION_RESOURCES_OWNED, LABEL_GROUP => g),
        }
    }

    pub fn members(&self, n: usize) {
        self.members.set(n as f64);
    }

    /// `owned` of `resources` went to this agent.
    pub fn partitioned(&self, resources: usize, owned: usize) {
        self.resources.set(resources as f64);
        self.owned.set(owned as f64);
    }
}

/// One actor's mailbox and restarts. actix does not expose a mailbox's length, so the
/// sender takes a [`MailboxSlot`] with [`ActorMetrics::enqueue`] just before `send`, the
/// message carries it, and the handler drops it as it takes the message: the gauge is the
/// number of slots alive. A message that never reaches its handler (the actor is gone, the
/// sender gave up) drops its slot with it, so the gauge cannot drift.
/// `crate::agent::mailbox::Mailbox` does this for every send to a metered actor, and holds
/// the mailbox to [`ActorMetrics::capacity`].
#[derive(Clone)]
pub struct ActorMetrics {
    depth: Gauge,
    restarts: Counter,
    capacity: usize,
}

impl ActorMetrics {
    /// `id`: which instance of the kind (queue, `<sink>/<publisher>`, source, worker index).
    pub fn new(actor: ActorKind, id: &str, mailbox_capacity: usize) -> Self {
        let (a, i) = (actor.as_str(), id.to_owned());
        gauge!(ACTOR_MAILBOX_CAPACITY, LABEL_ACTOR => a, LABEL_ID => i.clone()).set(mailbox_capacity as f64);
        Self {
            depth: gauge!(ACTOR_MAILBOX_DEPTH, LABEL_ACTOR => a, LABEL_ID => i.clone()),
            restarts: counter!(ACTOR_RESTARTS, LABEL_ACTOR => a, LABEL_ID => i),
            capacity: mailbox_capacity,
        }
    }

    /// The mailbox capacity given at [`ActorMetrics::new`] (`ceilo_actor_mailbox_capacity`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// One message is on its way into the mailbox: depth +1 until the slot is dropped.
    pub fn enqueue(&self) -> MailboxSlot {
        self.depth.increment(1.0);
        MailboxSlot {
            depth: self.depth.clone(),
        }
    }

    /// From `Supervised::restarting`. The mailbox survives a restart, so depth is kept.
    pub fn restarted(&self) {
        self.restarts.increment(1);
    }
}

/// One message counted in its actor's `ceilo_actor_mailbox_depth`; dropping it takes the
/// message out of the count.
pub struct MailboxSlot {
    depth: Gauge,
}

impl Drop for MailboxSlot {
    fn drop(&mut self) {
        self.depth.decrement(1.0);
    }
}

/// One AMQP connection (`consume-0`, `publish-0`, ...), and where it is in a cluster: the
/// node it counts in for `ceilo_amqp_node_connections`, and its failovers.
#[derive(Clone)]
pub struct AmqpConnectionMetrics {
    up: Gauge,
    blocked: Gauge,
    reconnects: Counter,
    /// One gauge per node of the transport URL, in its order.
    nodes: Vec<Gauge>,
    failovers: Counter,
}

impl AmqpConnectionMetrics {
    /// `nodes`: the URL's nodes as `host:port`.
    pub fn new(connection: &str, nodes: &[&str]) -> Self {
        let c = connection.to_owned();
        Self {
            up: gauge!(AMQP_CONNECTION_UP, LABEL_CONNECTION => c.clone()),
            blocked: gauge!(AMQP_CONNECTION_BLOCKED, LABEL_CONNECTION => c.clone()),
            reconnects: counter!(AMQP_RECONNECTS, LABEL_CONNECTION => c.clone()),
            nodes: nodes
                .iter()
                .map(|n| gauge!(AMQP_NODE_CONNECTIONS, LABEL_NODE => (*n).to_owned()))
                .collect(),
            failovers: counter!(AMQP_FAILOVERS, LABEL_CONNECTION => c),
        }
    }

    /// The connection opened on node `to` (an index of the URL's nodes), having been on `from`
    /// before (`None` the first time); `reconnect` is true when it replaces a lost one.
    pub fn connected(&self, reconnect: bool, from: Option<usize>, to: usize) {
        self.up.set(1.0);
        if reconnect {
            self.reconnects.increment(1);
        }
        if from != Some(to) {
            if let Some(g) = from.and_then(|f| self.nodes.get(f)) {
                g.decrement(1.0);
            }
            if let Some(g) = self.nodes.get(to) {
                g.increment(1.0);
            }
            if from.is_some() {
                self.failovers.increment(1);
            }
        }
    }

    pub fn disconnected(&self) {
        self.up.set(0.0);
        self.blocked.set(0.0);
    }

    /// The gauge the connection's reader sets while the broker blocks its publishes.
    pub fn blocked(&self) -> Gauge {
        self.blocked.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::py::datetime::{parse, Timestamp};

    #[test]
    fn age_is_clamped_at_zero_for_clocks_ahead() {
        let future = parse("2999-01-01T00:00:00Z").expect("timestamp");
        assert_eq!(age_since(&future), Duration::ZERO);
        let past = Timestamp::from_utc(Timestamp::now_utc().utc() - chrono::Duration::seconds(90));
        let age = age_since(&past);
        assert!(
            age >= Duration::from_secs(90) && age < Duration::from_secs(100),
            "{age:?}"
        );
    }
}
