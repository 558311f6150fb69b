//! The metric catalogue: every metric ceilo exports, its type, unit, labels and help text.
//!
//! This module is the single source of metric names. Code elsewhere never spells a
//! `ceilo_*` string: it uses the constants here, or better the pre-registered handles of
//! [`super::handles`], which increment once per batch. `docs/metrics.md` is the written
//! contract for the same table, and `tests/health_catalogue.rs` keeps the two, the dashboards
//! and the alert rules in step.
//!
//! It deliberately holds no recording logic and no I/O: describing and bucketing only.

use ::metrics::Unit;

/// Whether a metric goes through the `metrics` facade or is rendered by ceilo's own collector
/// at scrape time (process figures read from `/proc/self`, readiness, build info).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Recorded through the `metrics` facade by the component that owns it.
    Facade,
    /// Computed by the telemetry endpoint when `/metrics` is scraped.
    Scrape,
}

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The word Prometheus' `# TYPE` line uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The full exported name (`ceilo_` prefix, base unit, `_total` on counters).
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<Unit>,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Label names, in the order handles pass them. Every value set is small and fixed by the
    /// binary or by the agent's configuration (queues, sinks, publishers, polling sources).
    pub labels: &'static [&'static str],
    /// Upper bounds of the histogram buckets; `None` for counters and gauges.
    pub buckets: Option<&'static [f64]>,
    pub source: Source,
}

// ---------------------------------------------------------------------------------------------
// Label names. Values: see the enums below and docs/metrics.md.
// ---------------------------------------------------------------------------------------------

/// The AMQP queue a listener consumes (from config: a handful per agent).
pub const LABEL_QUEUE: &str = "queue";
/// Why a notification was rejected; values from [`RejectReason`].
pub const LABEL_REASON: &str = "reason";
/// Where samples came from; values from [`Origin`].
pub const LABEL_ORIGIN: &str = "origin";
/// The sink name from pipeline.yaml / event_pipeline.yaml.
pub const LABEL_SINK: &str = "sink";
/// The publisher's scheme (`notifier`, `file`, `udp`, `http`, `prometheus`, ...), never its
/// URL: URLs carry credentials and unbounded variety.
pub const LABEL_PUBLISHER: &str = "publisher";
/// The polling source name from polling.yaml.
pub const LABEL_SOURCE: &str = "source";
/// The pollster (meter family) name.
pub const LABEL_POLLSTER: &str = "pollster";
/// Why a poll was skipped; values from [`SkipReason`].
pub const LABEL_SKIP_REASON: &str = "reason";
/// Where a batch size was measured; values from [`Stage`].
pub const LABEL_STAGE: &str = "stage";
/// The actor's kind; values from [`ActorKind`].
pub const LABEL_ACTOR: &str = "actor";
/// Which instance of that kind: the queue, the `<sink>/<publisher>`, the polling source, or
/// the worker index. Not named `instance`: Prometheus sets that label on every target.
pub const LABEL_ID: &str = "id";
/// The AMQP connection's role and index, e.g. `consume-0`, `publish-0`.
pub const LABEL_CONNECTION: &str = "connection";
/// A coordination group's name (`<namespaces>[-<partitioning_group_prefix>]-<discovery
/// group>`: a few per agent, fixed by its configuration).
pub const LABEL_GROUP: &str = "group";
/// What a coordination call was doing; values from [`CoordinationOp`].
pub const LABEL_OP: &str = "op";
/// A broker node, `host:port` as the transport URL names it (no credentials).
pub const LABEL_NODE: &str = "node";
/// The crate version (build info only).
pub const LABEL_VERSION: &str = "version";
/// How a SIGHUP reload of the definitions ended; values from [`ReloadResult`].
pub const LABEL_RESULT: &str = "result";
/// A sink transformer's kind: one of `transform::TRANSFORMERS` (`rate_of_change`, `delta`, ...).
pub const LABEL_TRANSFORMER: &str = "transformer";

// ---------------------------------------------------------------------------------------------
// Metric names.
// ---------------------------------------------------------------------------------------------

// Notification side.
pub const NOTIFICATIONS_RECEIVED: &str = "ceilo_notifications_received_total";
pub const NOTIFICATIONS_CONVERTED: &str = "ceilo_notifications_converted_total";
pub const NOTIFICATIONS_REJECTED: &str = "ceilo_notifications_rejected_total";
pub const NOTIFICATIONS_DUPLICATE: &str = "ceilo_notifications_duplicate_total";
pub const NOTIFICATIONS_UNKNOWN_PRIORITY: &str = "ceilo_notifications_unknown_priority_total";
pub const NOTIFICATIONS_DEAD_LETTERED: &str = "ceilo_notifications_dead_lettered_total";
pub const NOTIFICATIONS_ACKED: &str = "ceilo_notifications_acked_total";
pub const CONVERSION_DURATION: &str = "ceilo_conversion_duration_seconds";

// Samples and events.
pub const SAMPLES_PRODUCED: &str = "ceilo_samples_produced_total";
pub const EVENTS_PRODUCED: &str = "ceilo_events_produced_total";
pub const SAMPLES_FILTERED: &str = "ceilo_samples_filtered_total";
pub const EVENTS_FILTERED: &str = "ceilo_events_filtered_total";
pub const SAMPLES_PUBLISHED: &str = "ceilo_samples_published_total";
pub const EVENTS_PUBLISHED: &str = "ceilo_events_published_total";
pub const SAMPLES_REFUSED: &str = "ceilo_samples_refused_total";
pub const SAMPLES_PUBLISH_FAILED: &str = "ceilo_samples_publish_failed_total";
pub const EVENTS_PUBLISH_FAILED: &str = "ceilo_events_publish_failed_total";
pub const PUBLISH_CONFIRM_DURATION: &str = "ceilo_publish_confirm_duration_seconds";
pub const END_TO_END_DELAY: &str = "ceilo_end_to_end_delay_seconds";
pub const BATCH_SIZE: &str = "ceilo_batch_size";

// Polling side.
pub const POLLS_RUN: &str = "ceilo_polls_run_total";
pub const POLLS_SKIPPED: &str = "ceilo_polls_skipped_total";
pub const POLLS_FAILED: &str = "ceilo_polls_failed_total";
pub const POLL_DURATION: &str = "ceilo_poll_duration_seconds";
pub const LIBVIRT_ERRORS: &str = "ceilo_libvirt_errors_total";
pub const LIBVIRT_RECONNECTS: &str = "ceilo_libvirt_reconnects_total";

// Coordination (polling partitioning through tooz groups).
pub const COORDINATION_GROUP_MEMBERS: &str = "ceilo_coordination_group_members";
pub const COORDINATION_RESOURCES: &str = "ceilo_coordination_resources";
pub const COORDINATION_RESOURCES_OWNED: &str = "ceilo_coordination_resources_owned";
pub const COORDINATION_ERRORS: &str = "ceilo_coordination_errors_total";

// Actors.
pub const ACTOR_MAILBOX_DEPTH: &str = "ceilo_actor_mailbox_depth";
pub const ACTOR_MAILBOX_CAPACITY: &str = "ceilo_actor_mailbox_capacity";
pub const ACTOR_RESTARTS: &str = "ceilo_actor_restarts_total";

// AMQP.
pub const AMQP_CONNECTION_UP: &str = "ceilo_amqp_connection_up";
pub const AMQP_CONNECTION_BLOCKED: &str = "ceilo_amqp_connection_blocked";
pub const AMQP_RECONNECTS: &str = "ceilo_amqp_reconnects_total";
pub const AMQP_NODE_CONNECTIONS: &str = "ceilo_amqp_node_connections";
pub const AMQP_FAILOVERS: &str = "ceilo_amqp_failovers_total";
pub const AMQP_UNACKED_DELIVERIES: &str = "ceilo_amqp_unacked_deliveries";
pub const AMQP_QUEUE_MESSAGES: &str = "ceilo_amqp_queue_messages";

// Process and agent, rendered at scrape time.
pub const PROCESS_RESIDENT_MEMORY: &str = "ceilo_process_resident_memory_bytes";
pub const PROCESS_CPU: &str = "ceilo_process_cpu_seconds_total";
pub const PROCESS_THREADS: &str = "ceilo_process_threads";
pub const PROCESS_OPEN_FDS: &str = "ceilo_process_open_fds";
pub const PROCESS_START_TIME: &str = "ceilo_process_start_time_seconds";
pub const READY: &str = "ceilo_ready";
pub const BUILD_INFO: &str = "ceilo_build_info";

// Reloads (SIGHUP, agent/reload.rs).
pub const CONFIG_RELOADS: &str = "ceilo_config_reloads_total";

// Sink transformers (docs/transformers.md), per transformer kind.
pub const TRANSFORM_SAMPLES_DROPPED: &str = "ceilo_transform_samples_dropped_total";
pub const TRANSFORM_STATE_EVICTIONS: &str = "ceilo_transform_state_evictions_total";
pub const TRANSFORM_EARLY_FLUSHES: &str = "ceilo_transform_early_flushes_total";

// ---------------------------------------------------------------------------------------------
// Histogram buckets (upper bounds, seconds or items).
// ---------------------------------------------------------------------------------------------

/// Converting one delivery batch: tens of microseconds for a small batch on a warm core, up
/// to about a second for a thousand-notification batch on a starved one.
pub const CONVERSION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A broker confirm is sub-millisecond on loopback; an HTTP publisher under load takes
/// seconds; past 30 s the retry policy has taken over anyway.
pub const CONFIRM_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Notification timestamp to confirmed publish: tens of milliseconds when keeping up,
/// minutes when a backlog builds (the alert threshold sits at 60 s).
pub const DELAY_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// One pollster run: /proc reads take a millisecond, fleet or HTTP discovery can take a
/// minute; 300 s is Ceilometer's default polling interval, so anything past it overruns.
pub const POLL_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Items per batch: single deliveries when idle, thousands under load.
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

// ---------------------------------------------------------------------------------------------
// Label value sets that the binary fixes.
// ---------------------------------------------------------------------------------------------

/// Why a notification was rejected (and dead-lettered). Mirrors [`crate::convert::ConvertError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The body is not an oslo.messaging notification (bad JSON, bad envelope, missing fields).
    Envelope,
    /// A Ceilometer endpoint raised on it (a definition failed on this payload).
    Endpoint,
    /// Its samples and events would be over `notification.max_output_bytes`.
    Output,
}

impl RejectReason {
    pub const ALL: [RejectReason; 3] = [
        RejectReason::Envelope,
        RejectReason::Endpoint,
        RejectReason::Output,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Envelope => "envelope",
            RejectReason::Endpoint => "endpoint",
            RejectReason::Output => "output",
        }
    }
}

impl From<&crate::convert::ConvertError> for RejectReason {
    fn from(err: &crate::convert::ConvertError) -> Self {
        match err {
            crate::convert::ConvertError::Envelope(_) => RejectReason::Envelope,
            crate::convert::ConvertError::Endpoint(_) => RejectReason::Endpoint,
            crate::convert::ConvertError::Output(_) => RejectReason::Output,
        }
    }
}

/// Where samples came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Converted from a notification by meters.yaml.
    Notification,
    /// Produced by a pollster of this agent.
    Polling,
}

impl Origin {
    pub const ALL: [Origin; 2] = [Origin::Notification, Origin::Polling];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Notification => "notification",
            Origin::Polling => "polling",
        }
    }
}

/// Why a poll did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The previous cycle of the source was still running when the timer fired.
    Overrun,
    /// Discovery returned no resources for this pollster (or none in this agent's partition).
    NoResources,
}

impl SkipReason {
    pub const ALL: [SkipReason; 2] = [SkipReason::Overrun, SkipReason::NoResources];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overrun => "overrun",
            SkipReason::NoResources => "no_resources",
        }
    }
}

/// What went wrong talking to libvirt (never fatal: logged, counted, retried next cycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibvirtErrorReason {
    /// No connection to libvirtd (not running, permission denied, bad URI).
    Connect,
    /// A call on an open connection failed (listing domains, stats).
    Call,
    /// A discovered domain was gone (or shut off) when its stats were read.
    Vanished,
}

impl LibvirtErrorReason {
    pub const ALL: [LibvirtErrorReason; 3] = [
        LibvirtErrorReason::Connect,
        LibvirtErrorReason::Call,
        LibvirtErrorReason::Vanished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LibvirtErrorReason::Connect => "connect",
            LibvirtErrorReason::Call => "call",
            LibvirtErrorReason::Vanished => "vanished",
        }
    }
}

/// What a failed coordination call was doing (never fatal: logged, counted, retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinationOp {
    /// Renewing this member's beat key.
    Heartbeat,
    /// Creating or joining a group.
    Join,
    /// Reading a group's live members (once per group and poll): that poll skips the group's
    /// resources rather than polling resources another member may own.
    Members,
}

impl CoordinationOp {
    pub const ALL: [CoordinationOp; 3] = [
        CoordinationOp::Heartbeat,
        CoordinationOp::Join,
        CoordinationOp::Members,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoordinationOp::Heartbeat => "heartbeat",
            CoordinationOp::Join => "join",
            CoordinationOp::Members => "members",
        }
    }
}

/// How a reload of the definitions ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReloadResult {
    /// The new definitions took over.
    Applied,
    /// They were invalid (or need a restart): the agent kept the ones it had.
    Failed,
}

impl ReloadResult {
    pub const ALL: [ReloadResult; 2] = [ReloadResult::Applied, ReloadResult::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Failed => "failed",
        }
    }
}

/// Where a batch size is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Deliveries per DeliveryBatch, listener → converter.
    Consume,
    /// Samples or events per publish call.
    Publish,
    /// Samples produced by one pollster run.
    Poll,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Consume, Stage::Publish, Stage::Poll];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Consume => "consume",
            Stage::Publish => "publish",
            Stage::Poll => "poll",
        }
    }
}

/// The kinds of long-lived actor that receive batches through a metered mailbox (the `actor`
/// label; docs/metrics.md). `Batcher` labels the mailbox's own tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    Listener,
    Converter,
    Pipeline,
    Publisher,
    Scheduler,
    Batcher,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Listener => "listener",
            ActorKind::Converter => "converter",
            ActorKind::Pipeline => "pipeline",
            ActorKind::Publisher => "publisher",
            ActorKind::Scheduler => "scheduler",
            ActorKind::Batcher => "batcher",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue.
// ---------------------------------------------------------------------------------------------

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Counter,
        unit: None,
        help,
        labels,
        buckets: None,
        source: Source::Facade,
    }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Gauge,
        unit: None,
        help,
        labels,
        buckets: None,
        source: Source::Facade,
    }
}

const fn histogram(
    name: &'static str,
    unit: Unit,
    labels: &'static [&'static str],
    buckets: &'static [f64],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Histogram,
        unit: Some(unit),
        help,
        labels,
        buckets: Some(buckets),
        source: Source::Facade,
    }
}

const fn scraped(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind,
        unit: None,
        help,
        labels,
        buckets: None,
        source: Source::Scrape,
    }
}

/// Every metric ceilo exports; docs/metrics.md lists the same rows.
pub const CATALOGUE: &[MetricDef] = &[
    counter(
        NOTIFICATIONS_RECEIVED,
        &[LABEL_QUEUE],
        "Notifications (AMQP deliveries) received from the broker.",
    ),
    counter(
        NOTIFICATIONS_CONVERTED,
        &[LABEL_QUEUE],
        "Notifications decoded and converted without error (possibly into zero samples or events).",
    ),
    counter(
        NOTIFICATIONS_REJECTED,
        &[LABEL_QUEUE, LABEL_REASON],
        "Notifications that could not be decoded or converted, by reason.",
    ),
    counter(
        NOTIFICATIONS_DUPLICATE,
        &[LABEL_QUEUE],
        "Notifications dropped as duplicates: their _unique_id was among the listener's last 16.",
    ),
    counter(
        NOTIFICATIONS_UNKNOWN_PRIORITY,
        &[LABEL_QUEUE],
        "Notifications acked unprocessed, as oslo does, because their priority is none oslo knows (or missing).",
    ),
    counter(
        NOTIFICATIONS_DEAD_LETTERED,
        &[LABEL_QUEUE, LABEL_REASON],
        "Rejected notifications the broker confirmed into the dead-letter queue, by reason.",
    ),
    counter(
        NOTIFICATIONS_ACKED,
        &[LABEL_QUEUE],
        "Notifications acked to the broker after every publisher confirmed their output.",
    ),
    histogram(
        CONVERSION_DURATION,
        Unit::Seconds,
        &[],
        CONVERSION_BUCKETS,
        "Wall time to decode and convert one delivery batch.",
    ),
    counter(SAMPLES_PRODUCED, &[LABEL_ORIGIN], "Samples produced by conversion or polling."),
    counter(EVENTS_PRODUCED, &[], "Events produced by conversion."),
    counter(SAMPLES_FILTERED, &[], "Samples dropped by pipeline source filters or consumed by transformers."),
    counter(EVENTS_FILTERED, &[], "Events dropped by event pipeline source filters."),
    counter(
        SAMPLES_PUBLISHED,
        &[LABEL_SINK, LABEL_PUBLISHER],
        "Samples a publisher confirmed (broker confirm, fsync, HTTP 2xx).",
    ),
    counter(EVENTS_PUBLISHED, &[LABEL_SINK, LABEL_PUBLISHER], "Events a publisher confirmed."),
    counter(
        SAMPLES_PUBLISH_FAILED,
        &[LABEL_SINK, LABEL_PUBLISHER],
        "Samples in publish attempts that failed (each retry counts again).",
    ),
    counter(
        SAMPLES_REFUSED,
        &[LABEL_PUBLISHER],
        "Samples a publisher's receiver refused for good (Gnocchi: 4xx for their resource), dead-lettered.",
    ),
    counter(
        EVENTS_PUBLISH_FAILED,
        &[LABEL_SINK, LABEL_PUBLISHER],
        "Events in publish attempts that failed (each retry counts again).",
    ),
    histogram(
        PUBLISH_CONFIRM_DURATION,
        Unit::Seconds,
        &[LABEL_SINK, LABEL_PUBLISHER],
        CONFIRM_BUCKETS,
        "Time from handing a batch to a publisher to its confirm.",
    ),
    histogram(
        END_TO_END_DELAY,
        Unit::Seconds,
        &[],
        DELAY_BUCKETS,
        "Age of the oldest item of each confirmed publish batch: notification (or poll) timestamp to confirm.",
    ),
    histogram(BATCH_SIZE, Unit::Count, &[LABEL_STAGE], BATCH_BUCKETS, "Items per batch, by stage."),
    counter(POLLS_RUN, &[LABEL_SOURCE, LABEL_POLLSTER], "Pollster runs started."),
    counter(
        POLLS_SKIPPED,
        &[LABEL_SOURCE, LABEL_POLLSTER, LABEL_SKIP_REASON],
        "Pollster runs skipped, by reason.",
    ),
    counter(POLLS_FAILED, &[LABEL_SOURCE, LABEL_POLLSTER], "Pollster runs that ended in an error."),
    histogram(
        POLL_DURATION,
        Unit::Seconds,
        &[LABEL_SOURCE, LABEL_POLLSTER],
        POLL_BUCKETS,
        "Wall time of one pollster run, discovery excluded.",
    ),
    counter(
        LIBVIRT_ERRORS,
        &[LABEL_REASON],
        "libvirt calls of the compute pollsters and discovery that failed, by reason.",
    ),
    counter(LIBVIRT_RECONNECTS, &[], "libvirt connections reopened after they broke (libvirtd restart)."),
    gauge(
        COORDINATION_GROUP_MEMBERS,
        &[LABEL_GROUP],
        "Live members of a partitioning group (ceilo and Ceilometer agents alike) at the last poll.",
    ),
    gauge(
        COORDINATION_RESOURCES,
        &[LABEL_GROUP],
        "Resources the group's discovery found at the last poll, before partitioning.",
    ),
    gauge(
        COORDINATION_RESOURCES_OWNED,
        &[LABEL_GROUP],
        "Of those, the resources the hash ring gave this agent (the ones it polled).",
    ),
    counter(
        COORDINATION_ERRORS,
        &[LABEL_OP],
        "Coordination backend calls that failed, by what they were doing.",
    ),
    counter(
        CONFIG_RELOADS,
        &[LABEL_RESULT],
        "SIGHUP reloads of the definitions: applied, or failed (the agent kept the ones it had).",
    ),
    counter(
        TRANSFORM_SAMPLES_DROPPED,
        &[LABEL_TRANSFORMER, LABEL_REASON],
        "Samples a sink transformer dropped, by reason.",
    ),
    counter(
        TRANSFORM_STATE_EVICTIONS,
        &[LABEL_TRANSFORMER],
        "Keys a stateful transformer evicted at its state_limit (that resource primes again).",
    ),
    counter(
        TRANSFORM_EARLY_FLUSHES,
        &[LABEL_TRANSFORMER],
        "Times an aggregator released everything it held early, at its key bound (state_limit).",
    ),
    gauge(ACTOR_MAILBOX_DEPTH, &[LABEL_ACTOR, LABEL_ID], "Messages waiting in an actor's mailbox."),
    gauge(ACTOR_MAILBOX_CAPACITY, &[LABEL_ACTOR, LABEL_ID], "Configured capacity of an actor's mailbox."),
    counter(ACTOR_RESTARTS, &[LABEL_ACTOR, LABEL_ID], "Actor restarts by its supervisor."),
    gauge(AMQP_CONNECTION_UP, &[LABEL_CONNECTION], "1 while the AMQP connection is open, else 0."),
    counter(AMQP_RECONNECTS, &[LABEL_CONNECTION], "AMQP connections re-established after a loss."),
    gauge(
        AMQP_CONNECTION_BLOCKED,
        &[LABEL_CONNECTION],
        "1 while the broker blocks the connection's publishes (its memory or disk alarm), else 0.",
    ),
    gauge(
        AMQP_NODE_CONNECTIONS,
        &[LABEL_NODE],
        "AMQP connections (consumers, publishers) whose last connection went to this node of the transport URL.",
    ),
    counter(
        AMQP_FAILOVERS,
        &[LABEL_CONNECTION],
        "AMQP connections re-established on another node of the transport URL than before.",
    ),
    gauge(
        AMQP_UNACKED_DELIVERIES,
        &[LABEL_QUEUE],
        "Deliveries received and not yet acked or rejected (bounded by prefetch).",
    ),
    gauge(
        AMQP_QUEUE_MESSAGES,
        &[LABEL_QUEUE],
        "Messages ready in the broker queue, as last seen by a passive declare (the backlog).",
    ),
    scraped(PROCESS_RESIDENT_MEMORY, Kind::Gauge, &[], "Resident set size of the process."),
    scraped(PROCESS_CPU, Kind::Counter, &[], "User and system CPU time spent by the process."),
    scraped(PROCESS_THREADS, Kind::Gauge, &[], "Threads of the process."),
    scraped(PROCESS_OPEN_FDS, Kind::Gauge, &[], "Open file descriptors of the process."),
    scraped(PROCESS_START_TIME, Kind::Gauge, &[], "Start time of the process since the Unix epoch."),
    scraped(READY, Kind::Gauge, &[], "1 when /readyz answers 200 (consuming or polling on schedule), else 0."),
    scraped(BUILD_INFO, Kind::Gauge, &[LABEL_VERSION], "Always 1; the version label says which ceilo runs."),
];

/// The catalogue row for `name`, if ceilo exports it.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    CATALOGUE.iter().find(|def| def.name == name)
}

/// Whether `series` (a sample name as Prometheus stores it, e.g. a histogram's `_bucket`,
/// `_sum` or `_count` series) belongs to a catalogue metric.
pub fn is_exported_series(series: &str) -> bool {
    if lookup(series).is_some() {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        series
            .strip_suffix(suffix)
            .and_then(lookup)
            .is_some_and(|def| def.kind == Kind::Histogram)
    })
}

/// Registers the help text and unit of every facade metric with the installed recorder.
/// [`super::start`] calls it; call it yourself only when installing another recorder.
pub fn describe_all() {
    for def in CATALOGUE.iter().filter(|def| def.source == Source::Facade) {
        let unit = def.unit.unwrap_or(Unit::Count);
        match def.kind {
            Kind::Counter => ::metrics::describe_counter!(def.name, unit, def.help),
            Kind::Gauge => ::metrics::describe_gauge!(def.name, unit, def.help),
            Kind::Histogram => ::metrics::describe_histogram!(def.name, unit, def.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for def in CATALOGUE {
            assert!(seen.insert(def.name), "{} listed twice", def.name);
            assert!(
                def.name.starts_with("ceilo_"),
                "{} lacks the ceilo_ prefix",
                def.name
            );
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                def.name
            );
            assert_eq!(
                def.kind == Kind::Counter,
                def.name.ends_with("_total"),
                "{}: _total iff counter",
                def.name
            );
            if def.unit == Some(Unit::Seconds) {
                assert!(
                    def.name.ends_with("_seconds"),
                    "{} must end in _seconds",
                    def.name
                );
            }
            assert_eq!(
                def.kind == Kind::Histogram,
                def.buckets.is_some(),
                "{}: buckets iff histogram",
                def.name
            );
            if let Some(buckets) = def.buckets {
                assert!(
                    buckets.windows(2).all(|w| w[0] < w[1]),
                    "{} buckets not increasing",
                    def.name
                );
            }
            assert!(!def.help.is_empty());
        }
    }

    #[test]
    fn histogram_series_are_recognised() {
        assert!(is_exported_series("ceilo_poll_duration_seconds_bucket"));
        assert!(is_exported_series("ceilo_notifications_received_total"));
        assert!(!is_exported_series("ceilo_notifications_received_total_bucket"));
        assert!(!is_exported_series("ceilo_nope_total"));
    }
}
