//! `ceilometer.conf` onto ceilo's [`Settings`]: every option of Ceilometer 27 that ceilo
//! implements, under its oslo group and name (deprecated names included).
//!
//! Precedence: `ceilo.yaml` beside the pipeline file (when there is one) is read first, the options
//! set in the oslo files replace its values, and `--transport-url` replaces both. Options of
//! Ceilometer that ceilo does not implement are listed as ignored; options Ceilometer does not
//! have are listed as unknown (the caller logs both once). An option whose value would make
//! ceilo behave unlike Ceilometer without saying so is an error naming file and line.
//!
//! The definition files (`pipeline_cfg_file`, `event_pipeline_cfg_file`,
//! `[event] definitions_cfg_file`, `[polling] cfg_file`, `[meter] meter_definitions_dirs`) are
//! found as Ceilometer finds them: as given, else by oslo's `find_file` rules (in the
//! `--config-dir`s, then beside the `--config-file`s, the last one first). ceilo.yaml, when
//! there is one, and the publishers' own files (gnocchi_resources.yaml) are read in the
//! directory of the pipeline file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod credentials;
mod files;

use super::definitions::DefinitionFiles;
use super::oslo::{parse_bool, parse_list, OsloConfig, OsloError};
use super::{ConfigError, Settings};

/// The groups and names of Ceilometer 27's options (see the file's header).
const KNOWN: &str = include_str!("ceilometer_options.txt");

/// ceilometer.conf files that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error(transparent)]
    Oslo(#[from] OsloError),
    #[error(transparent)]
    Settings(#[from] ConfigError),
    #[error("{0}")]
    Invalid(String),
}

/// What the oslo files give: the settings, where the definitions are, what was not used.
#[derive(Debug)]
pub struct CeilometerConf {
    pub settings: Settings,
    /// Where the definition files are read from.
    pub files: DefinitionFiles,
    /// Ceilometer options set in the files that ceilo does not implement, `[group] name`.
    pub ignored: Vec<String>,
    /// Options set in the files that Ceilometer 27 does not have, `[group] name`.
    pub unknown: Vec<String>,
    /// Options ceilo reads whose effect is not exactly Ceilometer's, each `[group] name = value:`
    /// and what ceilo does instead.
    pub notes: Vec<String>,
    pub logging: Logging,
}

/// oslo.log's options that ceilo honours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Logging {
    /// `[DEFAULT] debug`: log at debug level.
    pub debug: bool,
    /// `[DEFAULT] log_file` (joined to `log_dir` when that is set): log there, not to stderr.
    pub log_file: Option<PathBuf>,
    /// `[DEFAULT] use_json`: one JSON object per line.
    pub json: bool,
    /// `[DEFAULT] rate_limit_burst` / `rate_limit_interval` / `rate_limit_except_level`, when
    /// both numbers are at least 1 (oslo.log's condition).
    pub rate_limit: Option<RateLimit>,
}

/// oslo.log's rate limit: at most `burst` lines in each `interval`, all commands and places
/// together, except those at `except_from` and above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub interval: std::time::Duration,
    /// `None`: every level is limited (oslo's `''`, and its default `CRITICAL`, a level ceilo
    /// never logs at).
    pub except_from: Option<tracing::Level>,
}

impl Logging {
    /// The logging options of the oslo files, read before anything is logged (the files'
    /// problems are reported when they are read again, with logging set up).
    pub fn read(files: &[PathBuf], dirs: &[PathBuf]) -> Logging {
        OsloConfig::load(files, dirs)
            .ok()
            .and_then(|conf| {
                Logging::from_reader(&mut Reader {
                    conf: &conf,
                    used: BTreeSet::new(),
                    notes: Vec::new(),
                })
                .ok()
            })
            .unwrap_or_default()
    }

    fn from_reader(r: &mut Reader) -> Result<Logging, OsloError> {
        let debug = r.bool(&[("DEFAULT", "debug")])?.unwrap_or(false);
        let json = r.bool(&[("DEFAULT", "use_json")])?.unwrap_or(false);
        let log_dir = r.string(&[("DEFAULT", "log_dir"), ("DEFAULT", "logdir")])?;
        let log_file = r
            .string(&[("DEFAULT", "log_file"), ("DEFAULT", "logfile")])?
            .filter(|f| !f.is_empty())
            .map(|f| match log_dir {
                Some(d) if !d.is_empty() => Path::new(&d).join(f),
                _ => PathBuf::from(f),
            });
        Ok(Logging {
            debug,
            log_file,
            json,
            rate_limit: rate_limit(r)?,
        })
    }
}

fn rate_limit(r: &mut Reader) -> Result<Option<RateLimit>, OsloError> {
    let burst: u32 = r.number(&[("DEFAULT", "rate_limit_burst")])?.unwrap_or(0);
    let interval: u64 = r.number(&[("DEFAULT", "rate_limit_interval")])?.unwrap_or(0);
    let except = [("DEFAULT", "rate_limit_except_level")];
    let level = r.string(&except)?.unwrap_or_else(|| "CRITICAL".into());
    let except_from = match level.as_str() {
        "CRITICAL" | "" => None,
        "ERROR" => Some(tracing::Level::ERROR),
        "WARNING" => Some(tracing::Level::WARN),
        "INFO" => Some(tracing::Level::INFO),
        "DEBUG" => Some(tracing::Level::DEBUG),
        other => {
            let problem = format!("{other:?} is not one of CRITICAL, ERROR, WARNING, INFO, DEBUG or ''");
            return Err(r.conf.value_error("DEFAULT", "rate_limit_except_level", problem));
        }
    };
    if burst < 1 || interval < 1 {
        return Ok(None);
    }
    let interval = crate::duration::whole_seconds(interval).ok_or_else(|| {
        let problem = format!("must be at most {} (a year)", crate::duration::MAX_SECONDS);
        r.conf.value_error("DEFAULT", "rate_limit_interval", problem)
    })?;
    Ok(Some(RateLimit {
        burst,
        interval,
        except_from,
    }))
}

impl CeilometerConf {
    /// Read the oslo files and map them (see the module doc for the order).
    pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Self, ConfError> {
        Self::from_oslo(&OsloConfig::load(files, dirs)?)
    }

    pub fn from_oslo(conf: &OsloConfig) -> Result<Self, ConfError> {
        let mut r = Reader {
            conf,
            used: BTreeSet::new(),
            notes: Vec::new(),
        };
        let files = files::definition_files(&mut r)?;
        let mut settings = Settings::load(&files.dir)?;
        apply(&mut r, &mut settings)?;
        // The environment and ceilo.yaml's secret files win over the oslo files' values too.
        super::secrets::resolve(&mut settings)
            .and_then(|()| settings.validate())
            .map_err(|problem| {
                ConfError::Invalid(format!(
                    "{}: {problem}",
                    r.conf
                        .search_dirs()
                        .first()
                        .map_or_else(String::new, |d| d.display().to_string())
                ))
            })?;
        let logging = Logging::from_reader(&mut r)?;
        let known: BTreeSet<(&str, &str)> = KNOWN
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .collect();
        let (mut ignored, mut unknown) = (Vec::new(), Vec::new());
        for (group, name) in conf.set_options() {
            if r.used.contains(&(group.to_owned(), name.to_owned())) {
                continue;
            }
            if known.contains(&(group, name)) {
                ignored.push(format!("[{group}] {name}"));
            } else {
                unknown.push(format!("[{group}] {name}"));
            }
        }
        Ok(CeilometerConf {
            settings,
            files,
            ignored,
            unknown,
            notes: r.notes,
            logging,
        })
    }

    /// Log, once, what the files set that ceilo does not use.
    pub fn log_unused(&self) {
        if !self.ignored.is_empty() {
            tracing::info!(
                options = %self.ignored.join(", "),
                "ceilometer.conf options ceilo does not implement, ignored"
            );
        }
        for option in &self.unknown {
            tracing::warn!(%option, "unknown ceilometer.conf option (not one of Ceilometer 27's), ignored");
        }
        for note in &self.notes {
            tracing::info!("ceilometer.conf {note}");
        }
    }
}

/// Reads options by their names (the current one first, then deprecated ones) and remembers
/// every name it was asked for as implemented.
struct Reader<'a> {
    conf: &'a OsloConfig,
    used: BTreeSet<(String, String)>,
    /// What ceilo does instead, for options it reads whose effect differs from Ceilometer's.
    notes: Vec<String>,
}

type Names<'n> = &'n [(&'n str, &'n str)];

impl Reader<'_> {
    /// The name set in the files, of `names`.
    fn which(&mut self, names: Names) -> Option<(String, String)> {
        for (g, n) in names {
            self.used.insert((normalize(g), (*n).to_owned()));
        }
        names
            .iter()
            .find(|(g, n)| self.conf.is_set(g, n))
            .map(|(g, n)| (normalize(g), (*n).to_owned()))
    }

    /// `[group] name`, an option Ceilometer 27 registers there but reads from `[reads_from]`
    /// only: when set, ignored as Ceilometer ignores it, with a note saying so.
    fn unread(&mut self, group: &str, name: &str, reads_from: &str) {
        if self.which(&[(group, name)]).is_some() {
            self.notes.push(format!(
                "[{group}] {name} is ignored, as Ceilometer 27 ignores it: it reads [{reads_from}] {name}"
            ));
        }
    }

    fn string(&mut self, names: Names) -> Result<Option<String>, OsloError> {
        match self.which(names) {
            Some((g, n)) => self.conf.get(&g, &n),
            None => Ok(None),
        }
    }

    fn multi(&mut self, names: Names) -> Result<Option<Vec<String>>, OsloError> {
        match self.which(names) {
            Some((g, n)) => self.conf.get_multi(&g, &n).map(Some),
            None => Ok(None),
        }
    }

    fn list(&mut self, names: Names) -> Result<Option<Vec<String>>, OsloError> {
        Ok(self.string(names)?.map(|v| parse_list(&v)))
    }

    fn bool(&mut self, names: Names) -> Result<Option<bool>, OsloError> {
        let Some((g, n)) = self.which(names) else {
            return Ok(None);
        };
        let v = self.conf.get(&g, &n)?.unwrap_or_default();
        parse_bool(&v)
            .map(Some)
            .ok_or_else(|| self.conf.value_error(&g, &n, format!("{v:?} is not a boolean")))
    }

    fn number<T: FromStr>(&mut self, names: Names) -> Result<Option<T>, OsloError> {
        let Some((g, n)) = self.which(names) else {
            return Ok(None);
        };
        let v = self.conf.get(&g, &n)?.unwrap_or_default();
        v.trim().parse().map(Some).map_err(|_| {
            self.conf
                .value_error(&g, &n, format!("{v:?} is not a valid number here"))
        })
    }
}

fn normalize(group: &str) -> String {
    if group == "DEFAULT" {
        group.to_owned()
    } else {
        group.to_lowercase()
    }
}

/// Every implemented option onto `s`, in Ceilometer's groups and names.
fn apply(r: &mut Reader, s: &mut Settings) -> Result<(), ConfError> {
    macro_rules! set {
        ($target:expr, $value:expr) => {
            if let Some(v) = $value {
                $target = v;
            }
        };
    }
    // Ceilometer's agents publish and consume notifications only, on oslo's notification
    // transport: `[oslo_messaging_notifications] transport_url` where it is set (deployments
    // that give notifications a broker or vhost of their own), else the RPC bus's. Empty counts
    // as unset, as oslo reads it.
    let rpc = r.string(&[("DEFAULT", "transport_url")])?;
    let notifications = r
        .string(&[("oslo_messaging_notifications", "transport_url")])?
        .filter(|url| !url.trim().is_empty());
    set!(s.transport_url, notifications.or(rpc));
    if let Some(host) = r.string(&[("DEFAULT", "host")])? {
        s.host = Some(host);
    }
    set!(
        s.publisher.control_exchange,
        r.string(&[("DEFAULT", "control_exchange")])?
    );
    set!(
        s.notification.topics,
        r.list(&[("oslo_messaging_notifications", "topics")])?
    );
    set!(s.event.store_raw, r.multi(&[("event", "store_raw")])?);
    set!(
        s.event.drop_unmatched_notifications,
        r.bool(&[("event", "drop_unmatched_notifications")])?
    );
    let reserved = &mut s.reserved_metadata;
    set!(
        reserved.namespace,
        r.list(&[("DEFAULT", "reserved_metadata_namespace")])?
    );
    set!(reserved.keys, r.list(&[("DEFAULT", "reserved_metadata_keys")])?);
    set!(
        reserved.length,
        r.number(&[("DEFAULT", "reserved_metadata_length")])?
    );
    let n = &mut s.notification;
    set!(
        n.workers,
        r.number(&[("notification", "workers"), ("DEFAULT", "notification_workers")])?
    );
    set!(n.batch_size, r.number(&[("notification", "batch_size")])?);
    // oslo.service's wait for a graceful stop; 0, its endless wait, is the longest ceilo takes.
    if let Some(seconds) = r.number::<u64>(&[("DEFAULT", "graceful_shutdown_timeout")])? {
        const YEAR: u64 = 365 * 24 * 3600;
        n.shutdown_timeout_s = if seconds == 0 { YEAR } else { seconds };
    }
    if let Some(seconds) = r.number::<u64>(&[("notification", "batch_timeout")])? {
        n.batch_timeout_ms = seconds.saturating_mul(1000);
    }
    set!(n.messaging_urls, r.multi(&[("notification", "messaging_urls")])?);
    if let Some(ack) = r.bool(&[("notification", "ack_on_event_error")])? {
        n.ack_on_event_error = ack;
        r.notes.push(if ack {
            "[notification] ack_on_event_error = true: a notification whose event cannot be made \
             is acked without it, as in Ceilometer; one whose event cannot be published is not \
             acked but held and retried until the publisher confirms (Ceilometer acks it and \
             loses the event)"
                .into()
        } else {
            "[notification] ack_on_event_error = false: a notification whose event cannot be made \
             is dead-lettered with the reason (Ceilometer requeues it, and it fails again at every \
             redelivery); one whose event cannot be published is held and retried, never acked \
             early, as with true"
                .into()
        });
    }
    set!(
        n.control_exchanges,
        r.multi(&[
            ("notification", "notification_control_exchanges"),
            ("DEFAULT", "http_control_exchanges"),
        ])?
    );
    // ceilo's qos is its in-flight bound and 0 (oslo's default: unlimited) is refused, so an
    // explicit 0 leaves ceilo's bound.
    if let Some(prefetch) = r.number::<u16>(&[("oslo_messaging_rabbit", "rabbit_qos_prefetch_count")])? {
        if prefetch > 0 {
            s.notification.prefetch = prefetch;
        }
    }
    set!(
        s.amqp_durable_queues,
        r.bool(&[("oslo_messaging_rabbit", "amqp_durable_queues")])?
    );
    set!(
        s.notification.auto_delete,
        r.bool(&[("oslo_messaging_rabbit", "amqp_auto_delete")])?
    );
    let failover = [("oslo_messaging_rabbit", "kombu_failover_strategy")];
    if let Some(strategy) = r.string(&failover)? {
        s.rabbit.failover_strategy = strategy.parse().map_err(|problem| {
            r.conf
                .value_error("oslo_messaging_rabbit", "kombu_failover_strategy", problem)
        })?;
    }
    let rabbit = &mut s.rabbit;
    set!(
        rabbit.quorum_queue,
        r.bool(&[("oslo_messaging_rabbit", "rabbit_quorum_queue")])?
    );
    set!(
        rabbit.quorum_delivery_limit,
        r.number(&[("oslo_messaging_rabbit", "rabbit_quorum_delivery_limit")])?
    );
    set!(
        rabbit.quorum_max_memory_length,
        r.number(&[("oslo_messaging_rabbit", "rabbit_quorum_max_memory_length")])?
    );
    set!(
        rabbit.quorum_max_memory_bytes,
        r.number(&[("oslo_messaging_rabbit", "rabbit_quorum_max_memory_bytes")])?
    );
    heartbeat(r, &mut s.rabbit)?;
    let tls = &mut s.rabbit.tls;
    set!(tls.enabled, r.bool(&[("oslo_messaging_rabbit", "ssl")])?);
    // oslo's default for the files is '': no file.
    for (target, name) in [
        (&mut tls.ca_file, "ssl_ca_file"),
        (&mut tls.cert_file, "ssl_cert_file"),
        (&mut tls.key_file, "ssl_key_file"),
    ] {
        if let Some(v) = r.string(&[("oslo_messaging_rabbit", name)])? {
            *target = (!v.is_empty()).then(|| PathBuf::from(v));
        }
    }
    set!(
        tls.version,
        r.string(&[("oslo_messaging_rabbit", "ssl_version")])?
    );
    let p = &mut s.publisher;
    set!(
        p.telemetry_secret,
        r.string(&[("publisher", "telemetry_secret")])?
    );
    set!(
        p.metering_topic,
        r.string(&[("publisher_notifier", "metering_topic")])?
    );
    set!(p.event_topic, r.string(&[("publisher_notifier", "event_topic")])?);
    let drivers = [
        ("publisher_notifier", "telemetry_driver"),
        ("publisher_notifier", "metering_driver"),
    ];
    if let Some(driver) = r.string(&drivers)? {
        if driver != "messagingv2" {
            let (g, n) = r
                .which(&drivers)
                .unwrap_or_else(|| ("publisher_notifier".into(), "telemetry_driver".into()));
            return Err(r
                .conf
                .value_error(
                    &g,
                    &n,
                    format!("{driver:?}: ceilo's notifier:// publishes messagingv2 only"),
                )
                .into());
        }
    }
    let poll = &mut s.polling;
    set!(poll.batch_size, r.number(&[("polling", "batch_size")])?);
    // Ceilometer 27's polling manager reads this one option of `[polling]`'s from `[DEFAULT]`
    // (`conf.pollsters_definitions_dirs`; oslo registers the polling options in both groups).
    if let Some(dirs) = r.multi(&[("DEFAULT", "pollsters_definitions_dirs")])? {
        poll.pollsters_definitions_dirs = dirs.into_iter().map(PathBuf::from).collect();
    }
    r.unread("polling", "pollsters_definitions_dirs", "DEFAULT");
    set!(
        poll.enable_notifications,
        r.bool(&[("polling", "enable_notifications")])?
    );
    set!(
        poll.enable_prometheus_exporter,
        r.bool(&[("polling", "enable_prometheus_exporter")])?
    );
    set!(
        poll.prometheus_listen_addresses,
        r.list(&[("polling", "prometheus_listen_addresses")])?
    );
    set!(
        poll.prometheus_tls_enable,
        r.bool(&[("polling", "prometheus_tls_enable")])?
    );
    r.unread("DEFAULT", "prometheus_tls_enable", "polling");
    for (target, name) in [
        (&mut poll.prometheus_tls_certfile, "prometheus_tls_certfile"),
        (&mut poll.prometheus_tls_keyfile, "prometheus_tls_keyfile"),
    ] {
        if let Some(path) = r.string(&[("polling", name)])? {
            *target = Some(path.into());
        }
        r.unread("DEFAULT", name, "polling");
    }
    set!(
        poll.identity_name_discovery,
        r.bool(&[
            ("polling", "identity_name_discovery"),
            ("polling", "tenant_name_discovery"),
        ])?
    );
    set!(poll.sample_source, r.string(&[("DEFAULT", "sample_source")])?);
    set!(
        poll.cinder_service_type,
        r.string(&[("service_types", "cinder")])?
    );
    set!(poll.nova_service_type, r.string(&[("service_types", "nova")])?);
    set!(
        poll.neutron_service_type,
        r.string(&[("service_types", "neutron")])?
    );
    set!(poll.swift_service_type, r.string(&[("service_types", "swift")])?);
    set!(
        poll.octavia_service_type,
        r.string(&[("service_types", "octavia")])?
    );
    set!(poll.aodh_service_type, r.string(&[("service_types", "aodh")])?);
    set!(
        poll.manila_service_type,
        r.string(&[("service_types", "manila")])?
    );
    set!(
        poll.designate_service_type,
        r.string(&[("service_types", "designate")])?
    );
    set!(poll.reseller_prefix, r.string(&[("DEFAULT", "reseller_prefix")])?);
    set!(
        poll.ignore_disabled_projects,
        r.bool(&[("polling", "ignore_disabled_projects")])?
    );
    r.unread("DEFAULT", "ignore_disabled_projects", "polling");
    set!(poll.libvirt_type, r.string(&[("DEFAULT", "libvirt_type")])?);
    set!(poll.libvirt_uri, r.string(&[("DEFAULT", "libvirt_uri")])?);
    set!(
        poll.resource_update_interval,
        r.number(&[("compute", "resource_update_interval")])?
    );
    // ceilometer-polling's --polling-namespaces, which oslo also reads from the files.
    set!(
        poll.polling_namespaces,
        r.multi(&[("DEFAULT", "polling_namespaces")])?
    );
    set!(poll.ipmi_polling_retry, r.number(&[("ipmi", "polling_retry")])?);
    set!(
        poll.report_stopped_instance_metrics,
        r.bool(&[("compute", "report_stopped_instance_metrics")])?
    );
    set!(
        poll.coordination_backend_url,
        r.string(&[("coordination", "backend_url")])?
    );
    set!(
        poll.partitioning_group_prefix,
        r.string(&[
            ("polling", "partitioning_group_prefix"),
            ("central", "partitioning_group_prefix"),
        ])?
    );
    r.unread("DEFAULT", "partitioning_group_prefix", "polling");
    workload_partitioning(r, s)?;
    credentials::apply(r, s)?;
    Ok(())
}

/// Ceilometer before Stein (12.0) spread its pipeline queues over the notification agents with
/// `[notification] workload_partitioning` and `pipeline_processing_queues`, through
/// `[coordination] backend_url`; ceilo's transform partitions are that, for the stateful
/// transformers it keeps (Ceilometer 27 has neither the options nor the transformers).
fn workload_partitioning(r: &mut Reader, s: &mut Settings) -> Result<(), ConfError> {
    const GROUP: &str = "notification";
    let queues = r.number::<usize>(&[(GROUP, "pipeline_processing_queues")])?;
    match r.bool(&[(GROUP, "workload_partitioning")])? {
        Some(true) => {
            // Ceilometer's default and minimum.
            let queues = queues.unwrap_or(10);
            if queues == 0 {
                let problem = "0: at least 1 queue (Ceilometer's minimum)";
                return Err(r
                    .conf
                    .value_error(GROUP, "pipeline_processing_queues", problem)
                    .into());
            }
            s.notification.transform_partitions = queues;
            r.notes.push(format!(
                "[{GROUP}] workload_partitioning = true (Ceilometer before Stein): samples of \
                 stateful sinks go through {queues} partition queues ceilo-transform.<p> \
                 (notification.transform_partitions; ceilo's own queues, not Ceilometer's)"
            ));
        }
        Some(false) => {
            let replaced = std::mem::take(&mut s.notification.transform_partitions);
            if replaced > 0 {
                r.notes.push(format!(
                    "[{GROUP}] workload_partitioning = false: no transform partitions, though \
                     ceilo.yaml sets notification.transform_partitions: {replaced} (the oslo \
                     files win; remove the option to keep the partitions)"
                ));
            }
        }
        None if queues.is_some() => r.notes.push(format!(
            "[{GROUP}] pipeline_processing_queues: no effect without workload_partitioning = true, \
             as in Ceilometer"
        )),
        None => {}
    }
    let url = &s.polling.coordination_backend_url;
    if s.notification.transform_partitions > 0
        && s.notification.partition_coordination_url.is_empty()
        && !url.is_empty()
    {
        r.notes.push(format!(
            "[coordination] backend_url: the notification agents also spread the transform \
             partitions over themselves through it, in the group {} (Ceilometer 27's \
             notification agent has no partitions and does not read it)",
            s.partition_group()
        ));
    }
    Ok(())
}

/// oslo's AMQP heartbeat options: the timeout is negotiated as oslo negotiates it; the rate at
/// which oslo's thread checks it has no counterpart (lapin's timer sends at half the timeout).
fn heartbeat(r: &mut Reader, rabbit: &mut crate::transport::RabbitOptions) -> Result<(), ConfError> {
    const GROUP: &str = "oslo_messaging_rabbit";
    if let Some(seconds) = r.number::<i64>(&[(GROUP, "heartbeat_timeout_threshold")])? {
        // oslo: 0 or less is no heartbeat.
        rabbit.heartbeat_timeout_threshold = u16::try_from(seconds.max(0)).map_err(|_| {
            r.conf.value_error(
                GROUP,
                "heartbeat_timeout_threshold",
                format!("{seconds}: an AMQP heartbeat timeout is at most 65535 seconds"),
            )
        })?;
        if seconds <= 0 {
            r.notes.push(format!(
                "[{GROUP}] heartbeat_timeout_threshold = {seconds}: ceilo's AMQP client takes \
                 the broker's heartbeat timeout instead of none, so heartbeats are off only if \
                 the broker has them off (RabbitMQ heartbeat = 0)"
            ));
        }
    }
    if let Some(rate) = r.number::<i64>(&[(GROUP, "heartbeat_rate")])? {
        // py-amqp sends a heartbeat after timeout / rate without traffic (a rate of 0 or less
        // is its default, 2); lapin always after timeout / 2.
        if rate > 0 && rate != 2 {
            r.notes.push(format!(
                "[{GROUP}] heartbeat_rate = {rate}: ceilo's AMQP client sends a heartbeat after \
                 half the timeout without traffic (a rate of 2) and drops a broker silent for twice \
                 the timeout, as oslo does; its rate is fixed"
            ));
        }
    }
    if let Some(codec) = r.string(&[(GROUP, "kombu_compression")])? {
        r.notes.push(format!(
            "[{GROUP}] kombu_compression = {codec}: ceilo reads notifications compressed with \
             gzip or bzip2 whatever this says, and publishes its own uncompressed, which every \
             kombu consumer reads too"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::definitions::{Managers, MeterDir};

    fn conf(dir: &Path, text: &str) -> Result<CeilometerConf, ConfError> {
        let file = dir.join("ceilometer.conf");
        std::fs::write(&file, text).unwrap();
        CeilometerConf::load(&[file], &[])
    }

    #[test]
    fn pipelines_choose_the_managers_that_run() {
        let tmp = tempfile::tempdir().unwrap();
        let managers = |text: &str| {
            let c = conf(tmp.path(), text).unwrap();
            (c.files.managers, c.notes)
        };
        assert_eq!(managers("").0, Managers::default());
        let only = |meter, event| Managers { meter, event };
        assert_eq!(
            managers("[notification]\npipelines = meter\n"),
            (only(true, false), vec![])
        );
        assert_eq!(
            managers("[notification]\npipelines = event\n").0,
            only(false, true)
        );
        assert_eq!(
            managers("[notification]\npipelines = event\npipelines = meter\n").0,
            only(true, true)
        );
        let (m, notes) = managers("[notification]\npipelines = meter\npipelines = samples\n");
        assert_eq!(m, only(true, false));
        assert_eq!(
            notes,
            [
                "[notification] pipelines = samples: no such pipeline (Ceilometer's are meter and \
              event), none runs for it"
            ]
        );
    }

    #[test]
    fn graceful_shutdown_timeout_is_how_long_a_stop_waits() {
        let tmp = tempfile::tempdir().unwrap();
        let wait = |text: &str| {
            let c = conf(tmp.path(), text).unwrap();
            assert!(c.ignored.is_empty(), "{:?}", c.ignored);
            c.settings.notification.shutdown_timeout_s
        };
        assert_eq!(wait(""), Settings::default().notification.shutdown_timeout_s);
        assert_eq!(wait("[DEFAULT]\ngraceful_shutdown_timeout = 120\n"), 120);
        assert_eq!(wait("[DEFAULT]\ngraceful_shutdown_timeout = 0\n"), 31_536_000);
    }

    #[test]
    fn kombu_compression_is_a_note_saying_what_ceilo_does() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(tmp.path(), "[oslo_messaging_rabbit]\nkombu_compression = gzip\n").unwrap();
        assert!(c.ignored.is_empty(), "{:?}", c.ignored);
        assert_eq!(
            c.notes,
            [
                "[oslo_messaging_rabbit] kombu_compression = gzip: ceilo reads notifications \
              compressed with gzip or bzip2 whatever this says, and publishes its own \
              uncompressed, which every kombu consumer reads too"
            ]
        );
    }

    #[test]
    fn the_transport_is_oslos_notification_transport() {
        let tmp = tempfile::tempdir().unwrap();
        let url = |text: &str| conf(tmp.path(), text).unwrap().settings.transport_url;
        let rpc = "[DEFAULT]\ntransport_url = rabbit://u:p@rpc:5672/\n";
        assert_eq!(url(rpc), "rabbit://u:p@rpc:5672/");
        assert_eq!(
            url(&format!(
                "{rpc}[oslo_messaging_notifications]\ntransport_url = rabbit://n:p@notify:5672/n\n"
            )),
            "rabbit://n:p@notify:5672/n"
        );
        assert_eq!(
            url(&format!("{rpc}[oslo_messaging_notifications]\ntransport_url =\n")),
            "rabbit://u:p@rpc:5672/"
        );
        let c = conf(
            tmp.path(),
            "[oslo_messaging_notifications]\ntransport_url = rabbit://n:p@notify:5672/\n",
        )
        .unwrap();
        assert_eq!(c.settings.transport_url, "rabbit://n:p@notify:5672/");
        assert!(c.ignored.is_empty(), "{:?}", c.ignored);
    }

    #[test]
    fn ceilometer_options_land_on_ceilos_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(
            tmp.path(),
            "[DEFAULT]\ntransport_url = rabbit://u:p@r1:5672,u:p@r2:5672/v\nhost = node-1\n\
             polling_namespaces = central\n\
             notification_workers = 3\ncontrol_exchange = telemetry\ndebug = true\n\
             reserved_metadata_namespace = metering., custom.\nreserved_metadata_keys = fqdn\n\
             reserved_metadata_length = 64\n\
             log_dir = /var/log/ceilometer\nlog_file = agent.log\n\
             [notification]\nbatch_size = 50\nbatch_timeout = 2\n\
             messaging_urls = amqp://a/\nmessaging_urls = amqp://b/\n\
             notification_control_exchanges = nova\nnotification_control_exchanges = glance\n\
             pipelines = event\npipelines = meter\n\
             [oslo_messaging_notifications]\ntopics = notifications, other\n\
             [oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 64\namqp_durable_queues = true\n\
             amqp_auto_delete = yes\nssl = false\nkombu_failover_strategy = shuffle\n\
             rabbit_quorum_delivery_limit = 4\nrabbit_quorum_max_memory_length = 100\n\
             rabbit_quorum_max_memory_bytes = 65536\n\
             heartbeat_timeout_threshold = 17\nheartbeat_rate = 2\n\
             [publisher]\ntelemetry_secret = s3cret\n\
             [publisher_notifier]\nmetering_topic = m\nevent_topic = e\ntelemetry_driver = messagingv2\n\
             [polling]\nbatch_size = 7\nignore_disabled_projects = true\n\
             partitioning_group_prefix = pool-a\n\
             prometheus_tls_enable = true\nprometheus_tls_certfile = /c.pem\nprometheus_tls_keyfile = /k.pem\n\
             [coordination]\nbackend_url = redis://127.0.0.1:6379?timeout=5\n\
             [compute]\nresource_update_interval = 60\nreport_stopped_instance_metrics = true\n\
             [ipmi]\npolling_retry = -1\n\
             [service_types]\ncinder = block-storage\nnova = compute-legacy\nneutron = net\nswift = objects\noctavia = lb\naodh = alarms\nmanila = shares\ndesignate = zones\n\
             [DEFAULT]\nreseller_prefix = KEY_\npollsters_definitions_dirs = /a\npollsters_definitions_dirs = /b\n",
        )
        .unwrap();
        let s = &c.settings;
        assert_eq!(s.transport_url, "rabbit://u:p@r1:5672,u:p@r2:5672/v");
        assert_eq!(
            s.rabbit.failover_strategy,
            crate::transport::FailoverStrategy::Shuffle
        );
        assert_eq!(
            (
                s.rabbit.quorum_queue,
                s.rabbit.quorum_delivery_limit,
                s.rabbit.quorum_max_memory_length,
                s.rabbit.quorum_max_memory_bytes
            ),
            (false, 4, 100, 65536)
        );
        assert_eq!(s.rabbit.heartbeat_timeout_threshold, 17);
        assert_eq!(
            s.reserved_metadata,
            crate::meter::ReservedMetadata {
                namespace: vec!["metering.".into(), "custom.".into()],
                keys: vec!["fqdn".into()],
                length: 64,
            }
        );
        assert_eq!(s.host.as_deref(), Some("node-1"));
        assert_eq!(s.publisher.control_exchange, "telemetry");
        assert_eq!(s.notification.workers, 3);
        assert_eq!(s.notification.batch_size, 50);
        assert_eq!(s.notification.batch_timeout_ms, 2000);
        assert_eq!(s.notification.messaging_urls, ["amqp://a/", "amqp://b/"]);
        assert_eq!(s.notification.control_exchanges, ["nova", "glance"]);
        assert_eq!(s.notification.topics, ["notifications", "other"]);
        assert_eq!(s.notification.prefetch, 64);
        assert!(s.amqp_durable_queues && s.notification.auto_delete);
        assert_eq!(s.publisher.telemetry_secret, "s3cret");
        assert_eq!(
            (
                s.publisher.metering_topic.as_str(),
                s.publisher.event_topic.as_str()
            ),
            ("m", "e")
        );
        assert_eq!(s.polling.batch_size, 7);
        assert_eq!(
            s.polling.pollsters_definitions_dirs,
            [PathBuf::from("/a"), "/b".into()]
        );
        assert_eq!(s.polling.resource_update_interval, 60);
        assert!(s.polling.report_stopped_instance_metrics);
        assert_eq!(s.polling.polling_namespaces, ["central"]);
        assert_eq!(s.polling.ipmi_polling_retry, -1);
        assert!(s.polling.prometheus_tls_enable);
        assert_eq!(
            (
                s.polling.prometheus_tls_certfile.as_deref(),
                s.polling.prometheus_tls_keyfile.as_deref()
            ),
            (Some(Path::new("/c.pem")), Some(Path::new("/k.pem")))
        );
        assert_eq!(s.polling.cinder_service_type, "block-storage");
        assert_eq!(s.polling.nova_service_type, "compute-legacy");
        assert_eq!(s.polling.neutron_service_type, "net");
        assert_eq!(s.polling.swift_service_type, "objects");
        assert_eq!(s.polling.octavia_service_type, "lb");
        assert_eq!(s.polling.aodh_service_type, "alarms");
        assert_eq!(s.polling.manila_service_type, "shares");
        assert_eq!(s.polling.designate_service_type, "zones");
        assert_eq!(s.polling.reseller_prefix, "KEY_");
        assert!(s.polling.ignore_disabled_projects);
        assert_eq!(
            s.polling.coordination_backend_url,
            "redis://127.0.0.1:6379?timeout=5"
        );
        assert_eq!(s.polling.partitioning_group_prefix, "pool-a");
        assert!(c.logging.debug && !c.logging.json);
        assert_eq!(
            c.logging.log_file,
            Some(PathBuf::from("/var/log/ceilometer/agent.log"))
        );
        assert!(
            c.ignored.is_empty() && c.unknown.is_empty() && c.notes.is_empty(),
            "{:?} {:?} {:?}",
            c.ignored,
            c.unknown,
            c.notes
        );
    }

    #[test]
    fn a_polling_option_set_in_the_group_ceilometer_does_not_read_it_from_is_ignored_with_a_note() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(
            tmp.path(),
            "[polling]\npollsters_definitions_dirs = /p\n[DEFAULT]\nignore_disabled_projects = true\n\
             prometheus_tls_enable = true\npartitioning_group_prefix = pool-b\n",
        )
        .unwrap();
        let defaults = crate::config::PollingOptions::default();
        assert_eq!(
            c.settings.polling.pollsters_definitions_dirs,
            defaults.pollsters_definitions_dirs
        );
        assert!(!c.settings.polling.ignore_disabled_projects);
        assert!(!c.settings.polling.prometheus_tls_enable);
        assert_eq!(
            c.settings.polling.partitioning_group_prefix,
            defaults.partitioning_group_prefix
        );
        assert!(
            c.ignored.is_empty() && c.unknown.is_empty(),
            "{:?} {:?}",
            c.ignored,
            c.unknown
        );
        assert_eq!(
            c.notes,
            [
                "[polling] pollsters_definitions_dirs is ignored, as Ceilometer 27 ignores it: it reads \
                 [DEFAULT] pollsters_definitions_dirs",
                "[DEFAULT] prometheus_tls_enable is ignored, as Ceilometer 27 ignores it: it reads \
                 [polling] prometheus_tls_enable",
                "[DEFAULT] ignore_disabled_projects is ignored, as Ceilometer 27 ignores it: it reads \
                 [polling] ignore_disabled_projects",
                "[DEFAULT] partitioning_group_prefix is ignored, as Ceilometer 27 ignores it: it reads \
                 [polling] partitioning_group_prefix",
            ]
        );
    }

    #[test]
    fn an_empty_reserved_namespace_keeps_no_user_metadata_and_defaults_are_ceilometers() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(tmp.path(), "").unwrap();
        assert_eq!(
            c.settings.reserved_metadata,
            crate::meter::ReservedMetadata::default()
        );
        assert_eq!(c.settings.reserved_metadata.namespace, ["metering."]);
        assert_eq!(c.settings.reserved_metadata.length, 256);
        let c = conf(tmp.path(), "[DEFAULT]\nreserved_metadata_namespace =\n").unwrap();
        assert!(c.settings.reserved_metadata.namespace.is_empty());
        let e = conf(tmp.path(), "[DEFAULT]\nreserved_metadata_length = long\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[DEFAULT] reserved_metadata_length: \"long\""), "{e}");
    }

    #[test]
    fn ack_on_event_error_is_read_and_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(tmp.path(), "").unwrap();
        assert!(c.settings.notification.ack_on_event_error, "Ceilometer's default");
        for (value, says) in [
            ("false", "is dead-lettered with the reason"),
            ("true", "is acked without it, as in Ceilometer"),
        ] {
            let c = conf(
                tmp.path(),
                &format!("[notification]\nack_on_event_error = {value}\n"),
            )
            .unwrap();
            assert_eq!(c.settings.notification.ack_on_event_error, value == "true");
            assert!(c.ignored.is_empty(), "{:?}", c.ignored);
            assert_eq!(c.notes.len(), 1);
            assert!(
                c.notes[0].starts_with(&format!("[notification] ack_on_event_error = {value}: "))
                    && c.notes[0].contains(says)
                    && c.notes[0].contains("held and retried"),
                "{:?}",
                c.notes
            );
        }
    }

    #[test]
    fn heartbeat_options_are_oslos_with_notes_where_ceilo_differs() {
        let tmp = tempfile::tempdir().unwrap();
        let rabbit = |text: &str| conf(tmp.path(), &format!("[oslo_messaging_rabbit]\n{text}"));
        let c = rabbit("").unwrap();
        assert_eq!(
            c.settings.rabbit.heartbeat_timeout_threshold, 60,
            "oslo's default"
        );
        // oslo: 0 (or less) is no heartbeat; lapin takes the broker's timeout for 0.
        for off in ["0", "-5"] {
            let c = rabbit(&format!("heartbeat_timeout_threshold = {off}\n")).unwrap();
            assert_eq!(c.settings.rabbit.heartbeat_timeout_threshold, 0);
            assert_eq!(
                c.notes,
                [format!(
                    "[oslo_messaging_rabbit] heartbeat_timeout_threshold = {off}: ceilo's AMQP \
                     client takes the broker's heartbeat timeout instead of none, so heartbeats \
                     are off only if the broker has them off (RabbitMQ heartbeat = 0)"
                )]
            );
            assert!(c.ignored.is_empty());
        }
        let e = rabbit("heartbeat_timeout_threshold = 70000\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ceilometer.conf:2: [oslo_messaging_rabbit] heartbeat_timeout_threshold: 70000: an AMQP heartbeat timeout is at most 65535 seconds"),
            "{e}"
        );
        // oslo's default rate (3) is not lapin's (2): said, not ignored silently.
        let c = rabbit("heartbeat_rate = 3\n").unwrap();
        assert!(c.ignored.is_empty());
        assert_eq!(c.notes.len(), 1);
        assert!(
            c.notes[0].starts_with("[oslo_messaging_rabbit] heartbeat_rate = 3: ceilo's AMQP client sends a heartbeat after half the timeout"),
            "{:?}",
            c.notes
        );
        for same in ["2", "0"] {
            let c = rabbit(&format!("heartbeat_rate = {same}\n")).unwrap();
            assert!(
                c.notes.is_empty() && c.ignored.is_empty(),
                "{same}: {:?}",
                c.notes
            );
        }
        assert!(rabbit("heartbeat_rate = often\n").is_err());
    }

    #[test]
    fn oslo_ssl_options_set_the_brokers_tls() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(
            tmp.path(),
            "[oslo_messaging_rabbit]\nssl = true\nssl_ca_file = /etc/ssl/ca.pem\n\
             ssl_cert_file = /etc/ssl/client.pem\nssl_key_file =\nssl_version = TLSv1_2\n",
        )
        .unwrap();
        let tls = &c.settings.rabbit.tls;
        assert!(tls.enabled);
        assert_eq!(tls.ca_file.as_deref(), Some(Path::new("/etc/ssl/ca.pem")));
        assert_eq!(tls.cert_file.as_deref(), Some(Path::new("/etc/ssl/client.pem")));
        assert_eq!(tls.key_file, None, "oslo's empty value is no file");
        assert_eq!(tls.version, "TLSv1_2");
        assert!(c.ignored.is_empty() && c.unknown.is_empty(), "{:?}", c.unknown);
    }

    #[test]
    fn unimplemented_options_are_ignored_and_others_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(
            tmp.path(),
            "[DEFAULT]\nrootwrap_config = /x\n[event]\nstore_raw = info\ndrop_unmatched_notifications = true\n\
             [oslo_messaging_rabbit]\nrabbit_retry_interval = 3\n[bogus]\nthing = 1\n[polling]\nnonsense = 2\n",
        )
        .unwrap();
        assert_eq!(
            c.ignored,
            [
                "[DEFAULT] rootwrap_config",
                "[oslo_messaging_rabbit] rabbit_retry_interval"
            ]
        );
        assert_eq!(c.settings.event.store_raw, ["info"]);
        assert!(c.settings.event.drop_unmatched_notifications);
        assert_eq!(c.unknown, ["[bogus] thing", "[polling] nonsense"]);
    }

    #[test]
    fn ceilo_yaml_beside_the_pipeline_is_read_and_the_conf_wins() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
        std::fs::write(
            tmp.path().join("ceilo.yaml"),
            "host: from-yaml\nnotification: {prefetch: 10}\n",
        )
        .unwrap();
        let c = conf(tmp.path(), "[DEFAULT]\nhost = from-conf\n").unwrap();
        assert_eq!(c.files.dir, tmp.path());
        assert_eq!(c.settings.host.as_deref(), Some("from-conf"));
        assert_eq!(c.settings.notification.prefetch, 10);
    }

    #[test]
    fn pre_stein_workload_partitioning_spreads_the_transform_partitions_through_coordination() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(
            tmp.path(),
            "[notification]\nworkload_partitioning = true\npipeline_processing_queues = 12\n\
             [polling]\npartitioning_group_prefix = pool-a\n\
             [coordination]\nbackend_url = redis://127.0.0.1:6379?timeout=5\n",
        )
        .unwrap();
        let s = &c.settings;
        assert_eq!(s.notification.transform_partitions, 12);
        assert_eq!(s.partition_coordination_url(), "redis://127.0.0.1:6379?timeout=5");
        assert_eq!(s.partition_group(), "ceilo-transform-pool-a");
        assert!(
            c.unknown.is_empty() && c.ignored.is_empty(),
            "{:?} {:?}",
            c.unknown,
            c.ignored
        );
        assert!(
            c.notes.iter().any(|n| n.contains("workload_partitioning = true"))
                && c.notes.iter().any(|n| n.contains("ceilo-transform-pool-a")),
            "{:?}",
            c.notes
        );

        // Ceilometer's default number of queues; no coordination, no prefix.
        let c = conf(tmp.path(), "[notification]\nworkload_partitioning = true\n").unwrap();
        assert_eq!(c.settings.notification.transform_partitions, 10);
        assert_eq!(c.settings.partition_coordination_url(), "");
        assert_eq!(c.settings.partition_group(), "ceilo-transform");

        let e = conf(
            tmp.path(),
            "[notification]\nworkload_partitioning = true\npipeline_processing_queues = 0\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("pipeline_processing_queues"), "{e}");
    }

    #[test]
    fn ceilo_yaml_partitions_use_the_coordination_backend_unless_they_name_their_own() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
        let yaml = tmp.path().join("ceilo.yaml");
        let backend = "[coordination]\nbackend_url = redis://10.0.0.5:6379\n";
        std::fs::write(&yaml, "notification: {transform_partitions: 6}\n").unwrap();
        let c = conf(tmp.path(), backend).unwrap();
        assert_eq!(c.settings.partition_coordination_url(), "redis://10.0.0.5:6379");
        assert_eq!(c.settings.partition_group(), "ceilo-transform");
        assert!(
            c.notes.iter().any(|n| n.contains("[coordination] backend_url")),
            "{:?}",
            c.notes
        );

        std::fs::write(
            &yaml,
            "notification:\n  transform_partitions: 6\n  \
             partition_coordination_url: redis://10.0.0.9:6379\n  partition_group: mine\n",
        )
        .unwrap();
        let c = conf(tmp.path(), backend).unwrap();
        assert_eq!(c.settings.partition_coordination_url(), "redis://10.0.0.9:6379");
        assert_eq!(c.settings.partition_group(), "mine");
        assert!(c.notes.is_empty(), "{:?}", c.notes);

        // An old ceilometer.conf's explicit false wins, and says what it replaced.
        let c = conf(tmp.path(), "[notification]\nworkload_partitioning = false\n").unwrap();
        assert_eq!(c.settings.notification.transform_partitions, 0);
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("ceilo.yaml sets notification.transform_partitions: 6")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn refuses_what_it_would_otherwise_silently_do_differently() {
        let tmp = tempfile::tempdir().unwrap();
        for (text, wanted) in [
            (
                "[oslo_messaging_rabbit]\nrabbit_quorum_queue = true\namqp_auto_delete = true\n",
                "notification.auto_delete (oslo amqp_auto_delete) cannot be used with rabbit.quorum_queue",
            ),
            (
                "[DEFAULT]\ntransport_url = rabbit://u:p@h/\n\
                 [oslo_messaging_rabbit]\nssl = true\nssl_ca_file = /nonexistent/ca.pem\n",
                "transport_url: rabbit.tls ca_file /nonexistent/ca.pem: No such file",
            ),
            (
                "[DEFAULT]\ntransport_url = rabbit://u:p@h/\n\
                 [oslo_messaging_rabbit]\nssl = true\nssl_version = TLSv1\n",
                "transport_url: rabbit.tls: version \"TLSv1\" is not supported",
            ),
            (
                "[publisher_notifier]\nmetering_driver = noop\n",
                "[publisher_notifier] metering_driver: \"noop\"",
            ),
            (
                "[oslo_messaging_rabbit]\nkombu_failover_strategy = random\n",
                "ceilometer.conf:2: [oslo_messaging_rabbit] kombu_failover_strategy: \"random\" is not one of round-robin, shuffle",
            ),
            (
                "[DEFAULT]\ntransport_url = rabbit://u:p@h1:5672,u:p@h2:port/v\n",
                "transport_url: invalid transport URL \"rabbit://u:***@h1:5672,u:***@h2:port/v\": node rabbit://u:***@h2:port/v: invalid port number",
            ),
            (
                "[notification]\nbatch_size = many\n",
                "[notification] batch_size: \"many\" is not a valid number",
            ),
            (
                "[DEFAULT]\ntransport_url = kafka://k/\n",
                "transport_url: invalid transport URL",
            ),
        ] {
            let e = conf(tmp.path(), text).unwrap_err().to_string();
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
    }

    #[test]
    fn definition_files_are_found_as_ceilometer_finds_them_wherever_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let (etc, other) = (tmp.path().join("etc"), tmp.path().join("other"));
        for d in [&etc, &other, &other.join("m")] {
            std::fs::create_dir_all(d).unwrap();
        }
        for f in [
            other.join("pipe.yaml"),
            other.join("ev.yaml"),
            other.join("poll.yaml"),
            etc.join("ep.yaml"),
        ] {
            std::fs::write(f, "").unwrap();
        }
        let packaged = "/usr/lib/python3/dist-packages/ceilometer/data/meters.d";
        let c = conf(
            &etc,
            &format!(
                "[DEFAULT]\npipeline_cfg_file = {other}/pipe.yaml\nevent_pipeline_cfg_file = ep.yaml\n\
                 [event]\ndefinitions_cfg_file = {other}/ev.yaml\n[polling]\ncfg_file = {other}/poll.yaml\n\
                 [meter]\nmeter_definitions_dirs = {other}/m\nmeter_definitions_dirs = /nonexistent/m\n\
                 meter_definitions_dirs = {packaged}\n",
                other = other.display()
            ),
        )
        .unwrap();
        assert_eq!(
            c.files,
            DefinitionFiles {
                dir: other.clone(),
                pipeline: other.join("pipe.yaml"),
                // Relative: found beside the --config-file.
                event_pipeline: etc.join("ep.yaml"),
                event_definitions: other.join("ev.yaml"),
                polling: other.join("poll.yaml"),
                meter_dirs: vec![
                    MeterDir::Path(other.join("m")),
                    MeterDir::Path("/nonexistent/m".into()),
                    MeterDir::Shipped
                ],
                shipped_meters_when_none: false,
                managers: Managers::default(),
            }
        );
        assert_eq!(
            c.notes,
            [
                "[meter] meter_definitions_dirs = /nonexistent/m: no such directory, no meter \
              definitions from it (as Ceilometer)"
            ]
        );
        assert!(
            c.ignored.is_empty() && c.unknown.is_empty(),
            "{:?} {:?}",
            c.ignored,
            c.unknown
        );

        // Ceilometer's defaults: the files beside the --config-file, its meters.d then the
        // packaged one.
        let c = conf(&etc, "").unwrap();
        assert_eq!(
            c.files,
            DefinitionFiles {
                meter_dirs: vec![MeterDir::Path(etc.join("meters.d")), MeterDir::Shipped],
                shipped_meters_when_none: false,
                event_pipeline: etc.join("event_pipeline.yaml"),
                ..DefinitionFiles::in_dir(&etc)
            }
        );
    }

    #[test]
    fn oslo_logs_rate_limit_applies_when_burst_and_interval_are_set() {
        let tmp = tempfile::tempdir().unwrap();
        let logging = |text: &str| conf(tmp.path(), text).map(|c| c.logging.rate_limit);
        assert_eq!(logging("[DEFAULT]\n").unwrap(), None, "off by default");
        assert_eq!(
            logging("[DEFAULT]\nrate_limit_burst = 5\n").unwrap(),
            None,
            "an interval is needed too"
        );
        let limit = |burst, secs, except_from| RateLimit {
            burst,
            interval: std::time::Duration::from_secs(secs),
            except_from,
        };
        assert_eq!(
            logging("[DEFAULT]\nrate_limit_burst = 5\nrate_limit_interval = 30\n").unwrap(),
            Some(limit(5, 30, None)),
            "CRITICAL by default: nothing ceilo logs is excepted"
        );
        assert_eq!(
            logging("[DEFAULT]\nrate_limit_burst = 2\nrate_limit_interval = 1\nrate_limit_except_level = WARNING\n")
                .unwrap(),
            Some(limit(2, 1, Some(tracing::Level::WARN)))
        );
        let err = logging(
            "[DEFAULT]\nrate_limit_burst = 2\nrate_limit_interval = 1\nrate_limit_except_level = LOUD\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ceilometer.conf:4: [DEFAULT] rate_limit_except_level: \"LOUD\" is not one of"),
            "{err}"
        );
        // Past a year, the first limited line would have panicked adding it to an Instant.
        let err = logging("[DEFAULT]\nrate_limit_burst = 2\nrate_limit_interval = 18446744073709551615\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "ceilometer.conf:3: [DEFAULT] rate_limit_interval: must be at most 31536000 (a year)"
            ),
            "{err}"
        );
    }
}
