//! `ceilo.yaml`: the agent's own settings, with Ceilometer's defaults.
//!
//! The names follow the Ceilometer/oslo options they replace (given in each doc comment), so an
//! operator can carry a ceilometer.conf over by hand. A missing file means all defaults.

use std::path::Path;

use serde::Deserialize;

use super::{read, ConfigError, SETTINGS_FILE};

/// ceilo.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where notifications are consumed and published: `memory://` (in-process, the default:
    /// no broker needed), `amqp://user:pass@host:port/vhost` or `amqps://...` (TLS, see
    /// `rabbit.tls`). oslo `[DEFAULT] transport_url`. `CEILO_TRANSPORT_URL` and
    /// `transport_url_file` win over it, so that the password can stay out of this file (see
    /// [`super::secrets`]).
    pub transport_url: String,
    /// A file holding the transport URL (without trailing newlines): read at start, instead of
    /// `transport_url` and ceilometer.conf's; `CEILO_TRANSPORT_URL` wins over it.
    pub transport_url_file: Option<std::path::PathBuf>,
    /// Declare every exchange and queue ceilo uses durable: the queues it consumes and their
    /// control exchanges, the exchange it publishes to and its default queues, the polling
    /// agent's. oslo `[oslo_messaging_rabbit] amqp_durable_queues`, one setting as in oslo
    /// because the two sides share exchanges (`ceilometer` is consumed from and published to)
    /// and a broker refuses a second declaration of an exchange with other flags. Match what
    /// the OpenStack services on the broker use; a mismatch is reported at start.
    pub amqp_durable_queues: bool,
    /// How ceilo uses RabbitMQ (failover between a cluster's nodes, TLS); oslo
    /// `[oslo_messaging_rabbit]`. See [`crate::transport::RabbitOptions`].
    pub rabbit: crate::transport::RabbitOptions,
    /// The host name used in `publisher_id` (`telemetry.publisher.<host>`). Default: the
    /// machine's host name. oslo `[DEFAULT] host`.
    pub host: Option<String>,
    pub notification: NotificationSettings,
    pub publisher: PublisherSettings,
    /// /metrics, /healthz and /readyz (see docs/metrics.md).
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// Run the polling agent in this process (when `<config-dir>/polling.yaml` exists). Its
    /// samples leave as `telemetry.polling` notifications on `transport_url`. Unset means:
    /// on with `memory://` (everything in one process, straight to this notification agent),
    /// off with a broker, where Ceilometer runs polling as its own service
    /// (`ceilometer-polling`) and a second poller would double the samples.
    pub polling_enabled: Option<bool>,
    /// The polling agent's options (`[polling]`); its signing key is
    /// `publisher.telemetry_secret`, the one secret of the agent (`polling.telemetry_secret`
    /// is refused with that explanation). See [`Settings::polling_options`].
    pub polling: super::PollingOptions,
    /// Where `gnocchi://` publishers send to and how they authenticate
    /// (Ceilometer's `[service_credentials]`); see docs/gnocchi.md and
    /// [`Settings::gnocchi_settings`].
    pub gnocchi: super::GnocchiSettings,
    /// The agent's Keystone credentials (Ceilometer's `[service_credentials]` with
    /// `auth_type = password`): what `gnocchi://` with `auth_mode: keystone` uses when
    /// `gnocchi.keystone` is not given, and what `polling.identity_name_discovery` looks names
    /// up with.
    pub service_credentials: Option<crate::keystone::KeystoneSettings>,
    /// How notifications become events (Ceilometer's `[event]`).
    pub event: EventSettings,
    /// Which keys of a meter definition's `user_metadata` samples keep in
    /// `resource_metadata.user_metadata` (Ceilometer's `[DEFAULT] reserved_metadata_namespace`,
    /// `reserved_metadata_keys`, `reserved_metadata_length`); see
    /// [`crate::meter::ReservedMetadata`].
    pub reserved_metadata: crate::meter::ReservedMetadata,
}

/// Ceilometer's `[event]` options that shape the events made from notifications.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// Priorities (`info`, `error`, ...; any case) whose events keep the whole notification in
    /// `raw`; the others carry `{}`. Ceilometer `[event] store_raw`, default none.
    pub store_raw: Vec<String>,
    /// Make no event of a notification that no definition matches; by default it becomes an
    /// event with the default traits only. Ceilometer `[event] drop_unmatched_notifications`.
    pub drop_unmatched_notifications: bool,
}

impl EventSettings {
    pub fn options(&self) -> crate::event::EventOptions {
        crate::event::EventOptions::from_config(&self.store_raw, self.drop_unmatched_notifications)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            transport_url: "memory://".into(),
            transport_url_file: None,
            amqp_durable_queues: false,
            rabbit: crate::transport::RabbitOptions::default(),
            host: None,
            notification: NotificationSettings::default(),
            publisher: PublisherSettings::default(),
            telemetry: crate::telemetry::TelemetryConfig::default(),
            polling_enabled: None,
            polling: super::PollingOptions::default(),
            gnocchi: super::GnocchiSettings::default(),
            service_credentials: None,
            event: EventSettings::default(),
            reserved_metadata: crate::meter::ReservedMetadata::default(),
        }
    }
}

/// The notification agent: what it consumes, how much it keeps in flight.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Consume notifications at all.
    pub enabled: bool,
    /// Extra transports to consume from; empty means `transport_url` only.
    /// Ceilometer `[notification] messaging_urls`.
    pub messaging_urls: Vec<String>,
    /// Topics; queue `<topic>.<priority>` per topic and priority.
    /// oslo `[oslo_messaging_notifications] topics`.
    pub topics: Vec<String>,
    /// Exchanges every queue is bound to. Ceilometer `[notification] notification_control_exchanges`.
    pub control_exchanges: Vec<String>,
    /// Priorities listened to (one queue each). Ceilometer's endpoints define all seven.
    pub priorities: Vec<String>,
    /// `basic.qos` prefetch per queue: the bound on deliveries in flight (Ceilometer: 100).
    /// A delivery is acked only after its output is confirmed (convert, publish, confirm, ack:
    /// tens of milliseconds on a busy broker), so the window must cover the delivery rate ×
    /// that round trip, or the converters idle while the acks travel. The default, 4000,
    /// leaves room for that at tens of thousands of notifications a second, and 4000 bodies of
    /// a few KB bound memory at ~10 MB per queue.
    pub prefetch: u16,
    /// The largest body converted, in bytes (default 512 KiB, over a hundred times the largest
    /// notification of the reference corpus); a larger one is dead-lettered unread, with the
    /// reason. It is also the slot `inflight_bytes` counts a delivery not yet received as.
    pub max_body_bytes: u64,
    /// The most JSON the samples and events of one notification may come to, in bytes
    /// (estimated as they are made, see `convert`), or the notification is dead-lettered with
    /// the reason (`too much output: ...`). Default 16 MiB, two thousand times the largest
    /// output of the reference corpus. A meter without a `metadata:` spec copies the whole
    /// payload into each sample and a meter over a list makes a sample per element, so a
    /// payload of P bytes listing N elements writes N × P: unbounded, as in Ceilometer, with 0.
    pub max_output_bytes: u64,
    /// Bytes of delivery bodies one queue's listener may have in flight (sent by the broker
    /// and not yet acked), counting each delivery not yet received as `max_body_bytes`: the
    /// byte bound that `prefetch` alone is not (RabbitMQ ignores `prefetch_size`). Default
    /// 128 MiB: 256 bodies of `max_body_bytes` the broker may send ahead, which must cover the
    /// delivery rate × the time a raised cap takes to bring more; fewer drain slower. 0 = no
    /// bound but `prefetch`. Its memory ceiling and its speed are in docs/runtime.md.
    pub inflight_bytes: u64,
    /// Overrides `amqp_durable_queues` for the consumed queues and their exchanges. Only for
    /// brokers in `messaging_urls` set up unlike `transport_url`'s; unset, the default, follows
    /// `amqp_durable_queues`.
    pub durable: Option<bool>,
    /// Declare exchanges and queues auto-delete. oslo `amqp_auto_delete` (default false).
    pub auto_delete: bool,
    /// Deliveries per batch handed to a converter.
    pub batch_size: usize,
    /// How long a partial batch waits for more deliveries, in milliseconds.
    pub batch_timeout_ms: u64,
    /// Converter threads; 0 = the number of cores.
    pub workers: usize,
    /// Exchange (topic, durable) that undecodable or unconvertible deliveries are sent to, with
    /// the reason in the `x-ceilo-reason` header.
    pub dead_letter_exchange: String,
    /// Queue bound to the dead-letter exchange with `#`.
    pub dead_letter_queue: String,
    /// On SIGTERM, how long to wait for in-flight batches to be confirmed before giving up
    /// (unconfirmed deliveries are then requeued by the broker, and `ceilo run` exits 3), in
    /// seconds.
    pub shutdown_timeout_s: u64,
    /// What becomes of a notification whose event cannot be made (Ceilometer's event endpoint
    /// raises: an unparsable timestamp, a trait that cannot be converted). true, Ceilometer's
    /// default: logged, and the notification acked without its event, as Ceilometer does.
    /// false: the notification is dead-lettered with the reason (Ceilometer requeues it, and
    /// it fails again at every redelivery). An event that cannot be *published* is never acked
    /// early, whatever this says: the notification stays unacked and the publish is retried
    /// until the publisher confirms (with true, Ceilometer acks it and the event is lost).
    /// Ceilometer `[notification] ack_on_event_error`.
    pub ack_on_event_error: bool,
    /// Partition queues for sinks with stateful transformers (rate_of_change, delta,
    /// aggregator, arithmetic) when several agents share the queues; 0 = this agent alone
    /// owns every resource. Use the same value on every agent, and more than agents.
    pub transform_partitions: usize,
    /// Spread the transform partitions across the live agents through this tooz Redis URL:
    /// each agent consumes only the partition queues tooz's hash ring gives it in
    /// `partition_group`, and the ring follows agents that join or leave. Empty (the default):
    /// the deployment's coordination backend, `polling.coordination_backend_url`
    /// (`[coordination] backend_url`, docs/coordination.md); when that is empty too, every
    /// agent consumes every partition queue and the broker's single-active-consumer gives each
    /// to one of them (often the first agent gets them all).
    pub partition_coordination_url: String,
    /// The coordination group of the agents that share the partition queues (one per
    /// deployment: agents of another broker or vhost need another group). Empty (the
    /// default): `ceilo-transform`, or `ceilo-transform-<polling.partitioning_group_prefix>`
    /// when that is set, so that pools kept apart for polling are kept apart here too.
    pub partition_group: String,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        NotificationSettings {
            enabled: true,
            messaging_urls: Vec::new(),
            topics: strings(&["notifications"]),
            control_exchanges: strings(&[
                "nova",
                "glance",
                "neutron",
                "cinder",
                "heat",
                "keystone",
                "trove",
                "zaqar",
                "swift",
                "ceilometer",
                "magnum",
                "dns",
                "ironic",
                "aodh",
            ]),
            priorities: strings(&["audit", "critical", "debug", "error", "info", "sample", "warn"]),
            prefetch: 4000,
            max_body_bytes: 512 << 10,
            max_output_bytes: crate::convert::DEFAULT_MAX_OUTPUT_BYTES as u64,
            inflight_bytes: 128 << 20,
            durable: None,
            auto_delete: false,
            batch_size: 200,
            batch_timeout_ms: 10,
            workers: 0,
            dead_letter_exchange: "ceilo.dead-letter".into(),
            dead_letter_queue: "ceilo.dead-letter".into(),
            transform_partitions: 0,
            partition_coordination_url: String::new(),
            partition_group: String::new(),
            shutdown_timeout_s: 30,
            ack_on_event_error: true,
        }
    }
}

/// What the publishers need besides their URL options.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublisherSettings {
    /// HMAC key for `message_signature`. Ceilometer `[publisher] telemetry_secret`.
    /// `CEILO_TELEMETRY_SECRET` and `telemetry_secret_file` win over it.
    pub telemetry_secret: String,
    /// A file holding `telemetry_secret` (without trailing newlines), read at start;
    /// `CEILO_TELEMETRY_SECRET` wins over it.
    pub telemetry_secret_file: Option<std::path::PathBuf>,
    /// Exchange `notifier://` publishes to. oslo `control_exchange` as Ceilometer sets it.
    pub control_exchange: String,
    /// Topic of samples (`<topic>.sample`). Ceilometer `[publisher_notifier] metering_topic`.
    pub metering_topic: String,
    /// Topic of events. Ceilometer `[publisher_notifier] event_topic`.
    pub event_topic: String,
    /// Samples or events per published notification, at most (a flush that gathered more is
    /// sent as several notifications); also the size at which a gathering flush is written.
    pub batch_size: usize,
    /// How long a partial batch waits before it is published, in milliseconds.
    pub batch_timeout_ms: u64,
    /// Overrides `amqp_durable_queues` for the exchange `notifier://` publishes to and its
    /// default queues; unset, the default, follows it.
    pub durable: Option<bool>,
}

impl Default for PublisherSettings {
    fn default() -> Self {
        PublisherSettings {
            telemetry_secret: "change this for valid signing".into(),
            telemetry_secret_file: None,
            control_exchange: "ceilometer".into(),
            metering_topic: "metering".into(),
            event_topic: "event".into(),
            batch_size: 500,
            batch_timeout_ms: 100,
            durable: None,
        }
    }
}

/// The most threads (or queues, each with its consumer) one count in the settings may start.
const MAX_THREADS: u64 = 1024;

impl Settings {
    /// Load `<dir>/ceilo.yaml`, or the defaults when there is none, with the secrets from the
    /// environment and the files it names ([`super::secrets`]).
    pub fn load(dir: &Path) -> Result<Settings, ConfigError> {
        let path = dir.join(SETTINGS_FILE);
        if !path.exists() {
            return Self::parse("", &path);
        }
        Self::parse(&read(&path)?, &path)
    }

    /// Parse and validate ceilo.yaml text, as [`Settings::load`]; `path` only names the file in
    /// errors.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let path = path.to_owned();
        let settings: Settings = if text.trim().is_empty() {
            Settings::default()
        } else {
            crate::model::yaml_read::from_str(text).map_err(|source| match misplaced_option(text) {
                Some(problem) => ConfigError::Invalid {
                    path: path.clone(),
                    problem,
                },
                None => ConfigError::Yaml {
                    path: path.clone(),
                    source,
                },
            })?
        };
        let mut settings = settings;
        super::secrets::resolve(&mut settings)
            .and_then(|()| settings.validate())
            .map_err(|problem| ConfigError::Invalid { path, problem })?;
        Ok(settings)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let n = &self.notification;
        if n.prefetch == 0 {
            return Err("notification.prefetch must be at least 1 (0 would mean unbounded)".into());
        }
        if n.max_body_bytes == 0 {
            return Err("notification.max_body_bytes must be at least 1".into());
        }
        if n.inflight_bytes != 0 && n.inflight_bytes < n.max_body_bytes {
            return Err(format!(
                "notification.inflight_bytes ({}) must hold at least one body of max_body_bytes ({}), or be 0",
                n.inflight_bytes, n.max_body_bytes
            ));
        }
        if n.batch_size == 0 || self.publisher.batch_size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        // Counts the agent turns into threads or queues, or into a buffer allocated up front:
        // past these it could not start them (a thread that cannot get its stack aborts the
        // process; a batch buffer of 2^64 deliveries overflows its capacity). Durations: at most
        // a year (crate::duration), zero allowed where it means "none"; past what an Instant
        // holds, the first timer or deadline would panic.
        let year = crate::duration::MAX_SECONDS;
        for (key, value, most, what) in [
            (
                "notification.workers",
                n.workers as u64,
                MAX_THREADS,
                "converter threads",
            ),
            (
                "polling.notify_senders",
                self.polling.notify_senders as u64,
                MAX_THREADS,
                "encoders",
            ),
            (
                "notification.transform_partitions",
                n.transform_partitions as u64,
                MAX_THREADS,
                "queues",
            ),
            // basic.qos counts unacked deliveries in 16 bits: no batch can hold more.
            (
                "notification.batch_size",
                n.batch_size as u64,
                u64::from(u16::MAX),
                "deliveries",
            ),
            (
                "notification.batch_timeout_ms",
                n.batch_timeout_ms,
                year * 1000,
                "a year",
            ),
            (
                "publisher.batch_timeout_ms",
                self.publisher.batch_timeout_ms,
                year * 1000,
                "a year",
            ),
            (
                "notification.shutdown_timeout_s",
                n.shutdown_timeout_s,
                year,
                "a year",
            ),
            (
                "polling.resource_update_interval",
                self.polling.resource_update_interval,
                year,
                "a year",
            ),
        ] {
            if value > most {
                return Err(format!("{key} must be at most {most} ({what}), got {value}"));
            }
        }
        for p in &n.priorities {
            if crate::model::Priority::parse(p) == crate::model::Priority::Unknown {
                return Err(format!("notification.priorities: unknown priority {p:?}"));
            }
        }
        self.check_durability()?;
        self.gnocchi_settings().validate()?;
        if self.polling.identity_name_discovery {
            match &self.service_credentials {
                Some(k) => k.validate()?,
                None => {
                    return Err(
                        "polling.identity_name_discovery looks names up in Keystone: it needs \
                                service_credentials (ceilometer.conf: [service_credentials] \
                                auth_type = password)"
                            .into(),
                    )
                }
            }
        }
        self.check_quorum()?;
        // The transport's own parser, so that check refuses exactly what run would.
        let urls = std::iter::once(("transport_url", &self.transport_url)).chain(
            n.messaging_urls
                .iter()
                .map(|u| ("notification.messaging_urls", u)),
        );
        for (key, url) in urls {
            crate::transport::check_url(url, &self.rabbit).map_err(|e| format!("{key}: {e}"))?;
        }
        Ok(())
    }

    /// The host name for `publisher_id`.
    pub fn host(&self) -> String {
        if let Some(h) = &self.host {
            return h.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    }

    /// The polling agent's options as `ceilo run` uses them and `ceilo check` checks them:
    /// the `polling:` section, with the agent's `host` when it names none, and
    /// `service_credentials` for the Keystone look-ups.
    pub fn polling_options(&self) -> super::PollingOptions {
        let mut options = self.polling.clone();
        if options.host.is_none() {
            options.host = self.host.clone();
        }
        options.keystone.clone_from(&self.service_credentials);
        options
    }

    /// The `gnocchi:` section as the publisher uses it: with `auth_mode: keystone` and no
    /// `gnocchi.keystone`, the agent's `service_credentials` (as Ceilometer's `[gnocchi]`
    /// group overrides `[service_credentials]` only when set).
    pub fn gnocchi_settings(&self) -> super::GnocchiSettings {
        let mut gnocchi = self.gnocchi.clone();
        if gnocchi.keystone.is_none() {
            gnocchi.keystone.clone_from(&self.service_credentials);
        }
        gnocchi
    }

    /// Whether the polling agent runs in this process (see `polling_enabled`).
    pub fn polling_enabled(&self) -> bool {
        self.polling_enabled
            .unwrap_or_else(|| self.transport_url.starts_with("memory:"))
    }

    /// Whether the consumed queues and their exchanges (and the polling agent's, which feed
    /// them) are declared durable. Quorum queues are durable, whatever `amqp_durable_queues`
    /// says (as in oslo).
    pub fn consume_durable(&self) -> bool {
        self.rabbit.quorum_queue || self.notification.durable.unwrap_or(self.amqp_durable_queues)
    }

    /// Whether the exchange `notifier://` publishes to and its default queues are durable.
    pub fn publish_durable(&self) -> bool {
        self.rabbit.quorum_queue || self.publisher.durable.unwrap_or(self.amqp_durable_queues)
    }

    /// A quorum queue is durable and never auto-delete: a setting that asks otherwise is
    /// refused here rather than by the broker at every declaration.
    fn check_quorum(&self) -> Result<(), String> {
        if !self.rabbit.quorum_queue {
            return Ok(());
        }
        for (key, value) in [
            ("notification.durable", self.notification.durable),
            ("publisher.durable", self.publisher.durable),
        ] {
            if value == Some(false) {
                return Err(format!(
                    "{key}: false, but rabbit.quorum_queue is on and quorum queues are durable; \
                     remove {key}"
                ));
            }
        }
        if self.notification.auto_delete {
            return Err(
                "notification.auto_delete (oslo amqp_auto_delete) cannot be used with \
                        rabbit.quorum_queue (oslo rabbit_quorum_queue): RabbitMQ refuses auto-delete \
                        quorum queues"
                    .into(),
            );
        }
        Ok(())
    }

    /// The two overrides may differ only where they declare nothing in common: the broker
    /// refuses the second declaration of an exchange with other flags, and every publish (or
    /// consumer) behind it then fails until someone notices.
    fn check_durability(&self) -> Result<(), String> {
        let (consume, publish) = (self.consume_durable(), self.publish_durable());
        let exchange = &self.publisher.control_exchange;
        let shared = self.consume_urls().contains(&self.transport_url)
            && self.notification.control_exchanges.contains(exchange);
        if consume != publish && shared {
            return Err(format!(
                "notification.durable ({consume}) and publisher.durable ({publish}) differ, but both \
                 declare exchange {exchange:?} on transport_url, and the broker refuses the second \
                 declaration: set amqp_durable_queues alone"
            ));
        }
        Ok(())
    }

    /// The tooz URL the transform partitions are spread through (see
    /// `notification.partition_coordination_url`); empty: none.
    pub fn partition_coordination_url(&self) -> &str {
        match self.notification.partition_coordination_url.as_str() {
            "" => &self.polling.coordination_backend_url,
            url => url,
        }
    }

    /// The coordination group of the transform partitions (see `notification.partition_group`).
    pub fn partition_group(&self) -> String {
        match (
            self.notification.partition_group.as_str(),
            self.polling.partitioning_group_prefix.as_str(),
        ) {
            ("", "") => "ceilo-transform".into(),
            ("", prefix) => format!("ceilo-transform-{prefix}"),
            (group, _) => group.to_owned(),
        }
    }

    /// The URLs the notification agent consumes from.
    pub fn consume_urls(&self) -> Vec<String> {
        if self.notification.messaging_urls.is_empty() {
            vec![self.transport_url.clone()]
        } else {
            self.notification.messaging_urls.clone()
        }
    }
}

/// A key Ceilometer has in another section, given where an operator may look for it: the
/// reason ceilo.yaml did not parse, said plainly instead of as an unknown field.
fn misplaced_option(text: &str) -> Option<String> {
    let doc: yaml_serde::Value = crate::model::yaml_read::from_str(text).ok()?;
    // Ceilometer signs polled samples with [publisher] telemetry_secret; it has no
    // [polling] telemetry_secret.
    doc.get("polling")?.get("telemetry_secret")?;
    Some(
        "polling.telemetry_secret is not an option: polled samples are signed with \
         publisher.telemetry_secret (Ceilometer's [publisher] telemetry_secret), like every \
         sample the agent publishes; move it there"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ceilometers() {
        let s: Settings = yaml_serde::from_str("{}").unwrap();
        assert_eq!(s.transport_url, "memory://");
        assert_eq!(s.notification.control_exchanges.len(), 14);
        assert_eq!(s.notification.priorities.len(), 7);
        assert_eq!(s.notification.prefetch, 4000);
        assert_eq!(s.publisher.metering_topic, "metering");
    }

    #[test]
    fn polling_runs_in_process_by_default_only_without_a_broker() {
        let mut s = Settings::default();
        assert!(s.polling_enabled());
        s.transport_url = "amqp://guest:guest@localhost:5672/".into();
        assert!(!s.polling_enabled());
        s.polling_enabled = Some(true);
        assert!(s.polling_enabled());
    }

    #[test]
    fn rejects_transport_urls_the_transport_cannot_use() {
        for (yaml, key) in [
            ("transport_url: kafka://", "transport_url"),
            ("transport_url: amqp://h:notaport/", "transport_url"),
            (
                "notification: {messaging_urls: ['kafka://k:9092']}",
                "notification.messaging_urls",
            ),
        ] {
            let s: Settings = yaml_serde::from_str(yaml).unwrap();
            let problem = s.validate().expect_err(yaml);
            assert!(
                problem.starts_with(&format!("{key}: invalid transport URL")),
                "{problem}"
            );
        }
    }

    #[test]
    fn one_setting_makes_both_sides_durable_and_overrides_may_not_conflict() {
        let s: Settings = yaml_serde::from_str("amqp_durable_queues: true").unwrap();
        assert!(s.consume_durable() && s.publish_durable());
        assert!(s.validate().is_ok());
        // Setting one side only is what used to stall: the shared `ceilometer` exchange.
        let s: Settings = yaml_serde::from_str("notification: {durable: true}").unwrap();
        let problem = s.validate().expect_err("one side durable");
        assert!(
            problem.starts_with("notification.durable (true) and publisher.durable (false) differ")
                && problem.contains("\"ceilometer\""),
            "{problem}"
        );
        // Nothing shared (the consumed broker is another one): the override is allowed.
        let s: Settings = yaml_serde::from_str(
            "transport_url: amqp://out/\nnotification: {durable: true, messaging_urls: ['amqp://in/']}",
        )
        .unwrap();
        assert!(s.validate().is_ok());
        assert!(s.consume_durable() && !s.publish_durable());
    }

    #[test]
    fn quorum_queues_are_durable_and_never_auto_delete() {
        let s: Settings = yaml_serde::from_str("rabbit: {quorum_queue: true}").unwrap();
        assert!(s.validate().is_ok());
        assert!(
            s.consume_durable() && s.publish_durable(),
            "durable whatever amqp_durable_queues says"
        );
        for (yaml, wanted) in [
            (
                "rabbit: {quorum_queue: true}\nnotification: {durable: false}",
                "notification.durable: false",
            ),
            (
                "rabbit: {quorum_queue: true}\npublisher: {durable: false}",
                "publisher.durable: false",
            ),
            (
                "rabbit: {quorum_queue: true}\nnotification: {auto_delete: true}",
                "notification.auto_delete",
            ),
        ] {
            let s: Settings = yaml_serde::from_str(yaml).unwrap();
            let problem = s.validate().expect_err(yaml);
            assert!(problem.starts_with(wanted), "{problem}");
        }
        let s: Settings = yaml_serde::from_str(
            "rabbit: {quorum_queue: true, quorum_delivery_limit: 3, quorum_max_memory_length: 10, quorum_max_memory_bytes: 4096}",
        )
        .unwrap();
        assert_eq!(
            (
                s.rabbit.quorum_delivery_limit,
                s.rabbit.quorum_max_memory_length,
                s.rabbit.quorum_max_memory_bytes
            ),
            (3, 10, 4096)
        );
    }

    #[test]
    fn reserved_metadata_options_in_ceilo_yaml() {
        let s: Settings =
            yaml_serde::from_str("reserved_metadata: {namespace: [custom.], length: 8}").unwrap();
        assert_eq!(s.reserved_metadata.namespace, ["custom."]);
        assert!(s.reserved_metadata.keys.is_empty(), "unset keys keep the default");
        assert_eq!(s.reserved_metadata.length, 8);
        assert!(yaml_serde::from_str::<Settings>("reserved_metadata: {prefix: [x.]}").is_err());
    }

    #[test]
    fn rejects_unknown_keys_and_zero_prefetch() {
        assert!(yaml_serde::from_str::<Settings>("bogus: 1").is_err());
        let s: Settings = yaml_serde::from_str("notification: {prefetch: 0}").unwrap();
        assert!(s.validate().is_err());
        let s: Settings =
            yaml_serde::from_str("notification: {max_body_bytes: 2000, inflight_bytes: 1000}").unwrap();
        assert!(s.validate().is_err(), "a budget smaller than one body");
    }

    /// Each of these started `ceilo run` and then aborted it (100,000 converter threads: no
    /// stack for one of them) or panicked in every listener (a batch buffer of 2^64 deliveries)
    /// or on the first timer or deadline (durations past what an Instant holds).
    #[test]
    fn rejects_counts_and_durations_the_agent_cannot_start() {
        for (yaml, problem) in [
            (
                "notification: {workers: 100000}",
                "notification.workers must be at most 1024 (converter threads), got 100000",
            ),
            (
                "polling: {notify_senders: 2000}",
                "polling.notify_senders must be at most 1024",
            ),
            (
                "notification: {transform_partitions: 18446744073709551615}",
                "notification.transform_partitions must be at most 1024",
            ),
            (
                "notification: {batch_size: 18446744073709551615}",
                "notification.batch_size must be at most 65535 (deliveries)",
            ),
            (
                "notification: {batch_timeout_ms: 18446744073709551615}",
                "notification.batch_timeout_ms must be at most 31536000000 (a year)",
            ),
            (
                "publisher: {batch_timeout_ms: 31536000001}",
                "publisher.batch_timeout_ms must be at most 31536000000 (a year)",
            ),
            (
                "notification: {shutdown_timeout_s: 31536001}",
                "notification.shutdown_timeout_s must be at most 31536000 (a year)",
            ),
            (
                "polling: {resource_update_interval: 18446744073709551615}",
                "polling.resource_update_interval must be at most 31536000 (a year)",
            ),
        ] {
            let s: Settings = yaml_serde::from_str(yaml).unwrap();
            let got = s.validate().expect_err(yaml);
            assert!(got.starts_with(problem), "{yaml}: {got}");
        }
        let s: Settings = yaml_serde::from_str(
            "notification: {workers: 1024, batch_size: 65535, shutdown_timeout_s: 31536000}",
        )
        .unwrap();
        assert_eq!(s.validate(), Ok(()));
    }
}
