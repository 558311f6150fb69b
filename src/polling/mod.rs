//! The polling agent: polling.yaml sources on timers, discovery, pollsters, and the batches of
//! samples they produce ([`crate::model::SampleBatch`]). It does not decide where batches go:
//! that is the [`SampleSink`] given to [`start_polling`] (for `ceilo run`, the runtime's
//! telemetry.polling publisher, `agent::polling`, which wires the two; in tests, a channel).
//!
//! ```text
//! polling.yaml ─► SourceScheduler (one actor per source: offset, interval, skip-not-stack)
//!                   └─ SourcePlan::poll ─► DiscoveryCycle (cached per poll)
//!                                       ─► Pollster (host | libvirt | fleet | cinder | glance | neutron | network_services | octavia | manila | designate | swift | aodh | ipmi | dynamic), per resource
//!                                       ─► SampleBatch of ≤ batch_size ─► SampleSink
//! ```
//!
//! A poll streams: each batch leaves as soon as it is full and a full sink makes the poll wait,
//! so a poll holds one batch in the making whatever the number of resources. Between polls the
//! agent keeps discovery's lists (a simulated fleet instance: its place and uuid, 24 bytes) and nothing
//! per sample; `tests/polling_rss.rs` checks that a poll's peak memory does not grow with them.
//!
//! Entry points (inside a running `actix::System`):
//! * [`start_polling`]`(&polling_yaml, &options, output, readiness)`: the sources, polling into
//!   `output`; then [`start_exporter`] if `enable_prometheus_exporter`.
//! * Shutdown: [`PollingAgent::stop`] (then the output's own flush).
//! * Reload (SIGHUP): [`PollingAgent::plan`] on the new polling.yaml, then
//!   [`PollingAgent::replace_sources`]: new schedulers, same discovery and output.
//!
//! Its options, [`PollingOptions`], are ceilo.yaml's `polling:` section, defined with the other
//! settings in [`crate::config`]; [`check`] validates the polling side for `ceilo check`.
//!
//! With `coordination_backend_url` set, [`start_polling`] starts a
//! [`crate::coordination::Coordinator`] and every discovery passes through [`partition`]:
//! the agents of a group (ceilo or Ceilometer) each poll their share of the resources.
//!
//! Not here: the dynamic pollster features listed in [`dynamic`].

pub mod aodh;
pub mod cinder;
pub mod config;
pub mod designate;
pub mod discoverer;
pub mod discovery;
pub mod dynamic;
pub mod fleet;
pub mod glance;
pub mod host;
pub mod identity;
pub mod ipmi;
pub mod libvirt;
pub mod manila;
pub mod network_services;
pub mod neutron;
pub mod nova;
pub mod octavia;
pub mod partition;
pub mod pollster;
pub mod prometheus;
pub mod resource;
pub mod scheduler;
pub mod service_api;
pub mod source;
pub mod swift;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use actix::WeakAddr;

pub use crate::config::PollingOptions;
pub use config::{PollingConfig, SourceConfig};
pub use discovery::{Discovery, Resource};
pub use scheduler::{SourceJob, SourceScheduler};
pub use source::{PollReport, SourcePlan};

use crate::model::{Sample, SampleBatch};
use crate::problem::Problem;
use pollster::{MeterSpec, PollContext, PollError};

/// Where polled batches go. `send` waits while the receiver is full (backpressure) and
/// returns `false` once the receiver is gone, which ends the poll early.
pub trait SampleSink: Send + Sync + 'static {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// A bounded tokio channel (tests, or a non-actor consumer).
impl SampleSink for tokio::sync::mpsc::Sender<SampleBatch> {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move { tokio::sync::mpsc::Sender::send(self, batch).await.is_ok() })
    }
}

/// The pollster families, as a closed set: an enum, so there is no boxing or dynamic dispatch
/// per resource on the hot path. What the families share (meter specs, the poll context, the
/// error kinds) is in [`pollster`], which names none of them; a new family is a module here
/// and an arm in this enum (and in [`load_pollsters`] when it is always on).
pub enum Pollster {
    Host(host::HostPollster),
    Libvirt(libvirt::LibvirtPollster),
    Fleet(fleet::FleetPollster),
    Cinder(cinder::CinderPollster),
    Image(glance::ImagePollster),
    FloatingIp(neutron::FloatingIpPollster),
    NetworkService(network_services::ServicePollster),
    LoadBalancer(octavia::LoadBalancerPollster),
    Share(manila::SharePollster),
    Zone(designate::ZonePollster),
    Swift(swift::SwiftPollster),
    Ipmi(ipmi::IpmiPollster),
    AlarmResults(aodh::EvaluationResultPollster),
    Dynamic(Box<dynamic::DynamicPollster>),
}

impl Pollster {
    /// The pollster's name (logs and metric labels): its family's, or for a Cinder or dynamic
    /// pollster, its own.
    pub fn name(&self) -> &str {
        match self {
            Pollster::Host(_) => "host",
            Pollster::Libvirt(_) => "libvirt",
            Pollster::Fleet(_) => "fleet",
            Pollster::Cinder(c) => c.name(),
            Pollster::Image(_) => "image.size",
            Pollster::FloatingIp(_) => "ip.floating",
            Pollster::NetworkService(s) => s.name(),
            Pollster::LoadBalancer(_) => "loadbalancer",
            Pollster::Share(_) => "manila.share",
            Pollster::Zone(_) => "dns.zone",
            Pollster::Swift(_) => "swift",
            Pollster::Ipmi(i) => i.name(),
            Pollster::AlarmResults(_) => "alarm.evaluation_result",
            Pollster::Dynamic(d) => d.name(),
        }
    }

    /// Every meter the pollster can produce, in a stable order (masks index into it).
    pub fn meters(&self) -> &[MeterSpec] {
        match self {
            Pollster::Host(h) => h.meters(),
            Pollster::Libvirt(l) => l.meters(),
            Pollster::Fleet(f) => f.meters(),
            Pollster::Cinder(c) => c.meters(),
            Pollster::Image(i) => i.meters(),
            Pollster::FloatingIp(f) => f.meters(),
            Pollster::NetworkService(s) => s.meters(),
            Pollster::LoadBalancer(l) => l.meters(),
            Pollster::Share(s) => s.meters(),
            Pollster::Zone(z) => z.meters(),
            Pollster::Swift(s) => s.meters(),
            Pollster::Ipmi(i) => i.meters(),
            Pollster::AlarmResults(a) => a.meters(),
            Pollster::Dynamic(d) => d.meters(),
        }
    }

    /// Whether the pollster runs in an agent of `namespaces` (`ceilometer-polling
    /// --polling-namespaces`): the host's and the instances' in `compute`, the OpenStack
    /// services' in `central`, the BMC's sensors in `ipmi`, a dynamic pollster where its definition's `namespaces` say
    /// (Ceilometer's entry point groups `ceilometer.poll.compute`/`.central`).
    pub fn runs_in(&self, namespaces: &[String]) -> bool {
        let has = |ns: &str| namespaces.iter().any(|n| n == ns);
        match self {
            Pollster::Host(_) | Pollster::Libvirt(_) | Pollster::Fleet(_) => has("compute"),
            Pollster::Cinder(_)
            | Pollster::Image(_)
            | Pollster::FloatingIp(_)
            | Pollster::NetworkService(_)
            | Pollster::LoadBalancer(_)
            | Pollster::Share(_)
            | Pollster::Zone(_)
            | Pollster::Swift(_)
            | Pollster::AlarmResults(_) => has("central"),
            Pollster::Ipmi(_) => has("ipmi"),
            Pollster::Dynamic(d) => d.namespaces().iter().any(|ns| has(ns)),
        }
    }

    /// A simulator (the fleet), not a reader of a real system: it polls only for a source
    /// that names it (see [`SourcePlan::new`]).
    pub fn is_simulated(&self) -> bool {
        matches!(self, Pollster::Fleet(_))
    }

    /// The discoverer used when the source names none and has no static resources.
    pub fn default_discovery(&self) -> String {
        match self {
            Pollster::Host(_) => "local_node".into(),
            Pollster::Libvirt(_) => "local_instances".into(),
            // Never a default: the fleet polls only the `fleet:N` discoverers a source names,
            // so one that yields nothing (`fleet:0`) must not fall back to a fleet.
            Pollster::Fleet(_) => "fleet:0".into(),
            Pollster::Cinder(c) => c.default_discovery(),
            Pollster::Image(_) => glance::DISCOVERER.into(),
            Pollster::FloatingIp(_) => neutron::DISCOVERER.into(),
            Pollster::NetworkService(s) => s.default_discovery(),
            Pollster::LoadBalancer(_) => octavia::DISCOVERER.into(),
            Pollster::Share(_) => manila::DISCOVERER.into(),
            Pollster::Zone(_) => designate::DISCOVERER.into(),
            Pollster::Swift(_) => swift::DISCOVERER.into(),
            Pollster::Ipmi(_) => "local_node".into(),
            Pollster::AlarmResults(_) => aodh::DISCOVERER.into(),
            Pollster::Dynamic(d) => d.default_discovery(),
        }
    }

    /// Poll one resource for the meters selected by `mask` (one flag per [`Self::meters`]),
    /// appending samples to `out`.
    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        match self {
            Pollster::Host(h) => h.poll(resource, mask, ctx, out),
            Pollster::Libvirt(l) => l.poll(resource, mask, ctx, out).await,
            Pollster::Fleet(f) => f.poll(resource, mask, ctx, out),
            Pollster::Cinder(c) => c.poll(resource, mask, ctx, out),
            Pollster::Image(i) => i.poll(resource, mask, ctx, out),
            Pollster::FloatingIp(f) => f.poll(resource, mask, ctx, out),
            Pollster::NetworkService(s) => s.poll(resource, mask, ctx, out),
            Pollster::LoadBalancer(l) => l.poll(resource, mask, ctx, out),
            Pollster::Share(s) => s.poll(resource, mask, ctx, out),
            Pollster::Zone(z) => z.poll(resource, mask, ctx, out).await,
            Pollster::Swift(s) => s.poll(resource, mask, ctx, out).await,
            Pollster::Ipmi(i) => i.poll(resource, mask, ctx, out).await,
            Pollster::AlarmResults(a) => a.poll(resource, mask, ctx, out),
            Pollster::Dynamic(d) => d.poll(resource, mask, ctx, out).await,
        }
    }
}

/// Why the polling agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Definition(#[from] dynamic::DefinitionError),
    #[error("prometheus exporter on {addr}: {source}")]
    Exporter {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("prometheus exporter: {0}")]
    ExporterTls(String),
    #[error("polling.libvirt_type {0:?}: not one of kvm, qemu, lxc, parallels (Ceilometer's choices)")]
    LibvirtType(String),
    #[error(transparent)]
    Coordination(#[from] crate::coordination::UrlError),
    #[error("polling.identity_name_discovery: {0}")]
    Identity(String),
    #[error("source {source_name:?}: {error}")]
    Discovery {
        source_name: String,
        #[source]
        error: discovery::DiscoveryError,
    },
}

impl StartError {
    /// A polling.yaml or pollster definition file that cannot be used, as the one [`Problem`]
    /// `ceilo check` and `ceilo run` print; any other reason (a setting, the exporter's
    /// socket) as it is.
    pub fn into_problem(self) -> Result<Problem, StartError> {
        match self {
            StartError::Config(e) => Ok(e.into()),
            StartError::Definition(e) => Ok(e.into()),
            other => Err(other),
        }
    }
}

/// Every pollster ceilo has: host, libvirt (reading through `discovery`'s libvirt
/// connection), fleet, Cinder's, Glance's, Neutron's, Octavia's, Manila's, Designate's, Swift's, Aodh's, the
/// BMC's (IPMI), then the dynamic pollsters found in
/// `pollsters_definitions_dirs`.
pub fn load_pollsters(
    options: &PollingOptions,
    discovery: &Discovery,
) -> Result<Vec<Arc<Pollster>>, StartError> {
    if !libvirt::LIBVIRT_TYPES.contains(&options.libvirt_type.as_str()) {
        return Err(StartError::LibvirtType(options.libvirt_type.clone()));
    }
    let mut out = vec![
        Arc::new(Pollster::Host(host::HostPollster::new(
            &options.proc_root,
            &options.sys_root,
        ))),
        Arc::new(Pollster::Libvirt(libvirt::LibvirtPollster::new(
            discovery.hypervisor().clone(),
            options.report_stopped_instance_metrics,
        ))),
        Arc::new(Pollster::Fleet(fleet::FleetPollster::new(
            discovery.fleet().clone(),
        ))),
    ];
    out.extend(
        cinder::Meter::ALL.map(|meter| Arc::new(Pollster::Cinder(cinder::CinderPollster::new(meter)))),
    );
    out.push(Arc::new(Pollster::Image(glance::ImagePollster::default())));
    out.push(Arc::new(Pollster::FloatingIp(
        neutron::FloatingIpPollster::default(),
    )));
    out.extend(network_services::Service::ALL.map(|service| {
        Arc::new(Pollster::NetworkService(network_services::ServicePollster::new(
            service,
        )))
    }));
    out.push(Arc::new(Pollster::LoadBalancer(
        octavia::LoadBalancerPollster::default(),
    )));
    out.push(Arc::new(Pollster::Share(manila::SharePollster::default())));
    out.push(Arc::new(Pollster::Zone(designate::ZonePollster::new(
        discovery.designate.clone(),
    ))));
    out.push(Arc::new(Pollster::Swift(swift::SwiftPollster::new(
        discovery.swift.clone(),
    ))));
    out.push(Arc::new(Pollster::AlarmResults(
        aodh::EvaluationResultPollster::default(),
    )));
    let ipmitool = Arc::new(ipmi::Ipmitool::default());
    out.extend(ipmi::Sensor::ALL.map(|sensor| {
        Arc::new(Pollster::Ipmi(ipmi::IpmiPollster::new(
            sensor,
            ipmitool.clone(),
            options.ipmi_polling_retry,
        )))
    }));
    for def in dynamic::load_definitions(&options.pollsters_definitions_dirs)? {
        tracing::info!(pollster = %def.name, "dynamic pollster loaded");
        out.push(Arc::new(Pollster::Dynamic(Box::new(
            dynamic::DynamicPollster::new(def, discovery.keystone().cloned()),
        ))));
    }
    Ok(out)
}

/// The Keystone name look-ups when `identity_name_discovery` is on (which needs credentials).
fn name_discovery(options: &PollingOptions) -> Result<Option<Arc<identity::NameDiscovery>>, StartError> {
    if !options.identity_name_discovery {
        return Ok(None);
    }
    let Some(keystone) = &options.keystone else {
        return Err(StartError::Identity(
            "names are looked up in Keystone: set service_credentials (ceilometer.conf: \
             [service_credentials] auth_type = password)"
                .into(),
        ));
    };
    let names = identity::NameDiscovery::new(keystone).map_err(StartError::Identity)?;
    Ok(Some(Arc::new(names)))
}

/// `ceilo check` for the polling side: polling.yaml parses, every discoverer is known, every
/// dynamic pollster definition is valid, the coordination backend URL is one ceilo can use.
/// Returns one line per meter of a source that no pollster serves (Ceilometer polls nothing
/// for those either; worth a warning, not an error).
pub fn check(polling_yaml: &std::path::Path, options: &PollingOptions) -> Result<Vec<String>, StartError> {
    let config = PollingConfig::load(polling_yaml)?;
    name_discovery(options)?;
    if !options.coordination_backend_url.is_empty() {
        crate::coordination::BackendUrl::parse(&options.coordination_backend_url)?;
    }
    exporter_tls(options)?;
    // Nothing connects to libvirt here: the connection opens on the first poll.
    let discovery = Discovery::new(options);
    let pollsters = load_pollsters(options, &discovery)?;
    let mut warnings = Vec::new();
    for source in &config.sources {
        let plan =
            SourcePlan::new(source.clone(), &pollsters, options).map_err(|error| StartError::Discovery {
                source_name: source.name.to_string(),
                error,
            })?;
        warnings.extend(
            plan.unserved
                .iter()
                .map(|meter| format!("source {:?}: no pollster serves meter {meter:?}", source.name)),
        );
        for why in unreachable(&plan, &discovery) {
            warnings.push(format!("source {:?}: {why}", source.name));
        }
    }
    Ok(warnings)
}

/// Why the meters `plan` reads from an OpenStack service (Cinder, Glance, Neutron, Octavia, Manila, Designate, Swift, Aodh) cannot be polled (no
/// usable Keystone credentials to reach it), naming them: one line per service.
fn unreachable(plan: &SourcePlan, discovery: &Discovery) -> Vec<String> {
    let mut lines: Vec<(String, Vec<&str>)> = Vec::new();
    for entry in &plan.entries {
        let why = match &*entry.pollster {
            Pollster::Cinder(_) => discovery.cinder.unavailable(),
            Pollster::Image(_) => discovery.glance.unavailable(),
            Pollster::FloatingIp(_) | Pollster::NetworkService(_) => discovery.neutron.unavailable(),
            Pollster::LoadBalancer(_) => discovery.octavia.unavailable(),
            Pollster::Share(_) => discovery.manila.unavailable(),
            Pollster::Zone(_) => discovery.designate.unavailable(),
            Pollster::Swift(_) => discovery.swift.unavailable(),
            Pollster::AlarmResults(_) => discovery.aodh.unavailable(),
            _ => None,
        };
        let Some(why) = why else { continue };
        let meters = entry.pollster.meters().iter().zip(&entry.mask);
        let meters = meters
            .filter(|(_, selected)| **selected)
            .map(|(meter, _)| &*meter.name);
        match lines.iter_mut().find(|(w, _)| *w == why) {
            Some((_, names)) => names.extend(meters),
            None => lines.push((why, meters.collect())),
        }
    }
    lines
        .into_iter()
        .filter(|(_, meters)| !meters.is_empty())
        .map(|(why, meters)| format!("{}: nothing is polled for them ({why})", meters.join(", ")))
        .collect()
}

/// What `ceilo run` says once per source at start: the meters nothing is polled for, and
/// that a simulated fleet is being polled (its samples are not real data).
fn log_plan(plan: &SourcePlan, discovery: &Discovery) {
    let source = &plan.config.name;
    if !plan.unserved.is_empty() {
        tracing::warn!(
            %source,
            meters = %plan.unserved.join(", "),
            "no pollster serves these meters: nothing is polled for them"
        );
    }
    if !plan.elsewhere.is_empty() {
        tracing::info!(
            %source,
            meters = %plan.elsewhere.join(", "),
            "these meters are polled by agents of other polling namespaces, not this one"
        );
    }
    for why in unreachable(plan, discovery) {
        tracing::warn!(%source, "{why}");
    }
    if plan.entries.iter().any(|e| e.pollster.is_simulated()) {
        tracing::warn!(
            %source,
            "this source polls the SIMULATED fleet (a load-testing tool): its samples describe \
             made-up instances and projects"
        );
    }
}

/// The running polling agent: one supervised scheduler per source.
pub struct PollingAgent {
    pub schedulers: Vec<(Arc<str>, Addr<SourceScheduler>)>,
    /// Schedulers that a reload replaced: each ends once its last poll is done; until then
    /// [`PollingAgent::stop`] waits for that poll too.
    retired: Vec<WeakAddr<SourceScheduler>>,
    pub discovery: Arc<Discovery>,
    /// The polled-samples registry when `enable_prometheus_exporter` is set.
    pub exporter: Option<Arc<prometheus::SampleRegistry>>,
    /// The coordination member when partitioning is on.
    pub coordinator: Option<Arc<crate::coordination::Coordinator>>,
    /// Where every source's batches go (after the exporter and `enable_notifications`).
    output: Arc<dyn SampleSink>,
    /// Set by [`PollingAgent::stop`]: running polls end where they are.
    stopping: source::Stop,
    readiness: Option<crate::telemetry::Readiness>,
    batch_size: usize,
}

impl PollingAgent {
    /// Graceful stop: no new poll starts, the polls that are running end where they are, and
    /// this returns once they have handed their last batch to the output (then flush the
    /// output to wait for the broker's confirms).
    pub async fn stop(&self) {
        self.stopping.trigger();
        for (_, addr) in &self.schedulers {
            let _ = addr.send(scheduler::StopPolling).await;
        }
        let retired = self.retired.iter().filter_map(WeakAddr::upgrade);
        for addr in self.schedulers.iter().map(|(_, a)| a.clone()).chain(retired) {
            while matches!(addr.send(scheduler::GetStats).await, Ok(s) if s.running) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        if let Some(c) = &self.coordinator {
            c.stop().await;
        }
    }

    /// A reload's first half: the sources of `config` planned as at start, with the dynamic
    /// pollster definitions read again. Nothing changes yet: an error leaves the running
    /// sources as they are.
    pub fn plan(
        &self,
        config: &PollingConfig,
        options: &PollingOptions,
    ) -> Result<Vec<SourcePlan>, StartError> {
        let pollsters = load_pollsters(options, &self.discovery)?;
        self.plan_with(config, &pollsters, options)
    }

    fn plan_with(
        &self,
        config: &PollingConfig,
        pollsters: &[Arc<Pollster>],
        options: &PollingOptions,
    ) -> Result<Vec<SourcePlan>, StartError> {
        config
            .sources
            .iter()
            .map(|source| {
                SourcePlan::new(source.clone(), pollsters, options).map_err(|error| StartError::Discovery {
                    source_name: source.name.to_string(),
                    error,
                })
            })
            .collect()
    }

    /// The second half: the planned sources replace the running ones (same discovery, same
    /// output). A poll in progress finishes into the output; a source that is gone leaves
    /// /readyz.
    pub fn replace_sources(&mut self, plans: Vec<SourcePlan>) {
        let old = std::mem::take(&mut self.schedulers);
        self.spawn_sources(plans);
        self.retired.retain(|w| w.upgrade().is_some());
        for (name, addr) in old {
            addr.do_send(scheduler::Retire);
            let kept = self.schedulers.iter().any(|(n, _)| *n == name);
            if let (Some(r), false) = (&self.readiness, kept) {
                r.stop_polling(&name);
            }
            self.retired.push(addr.downgrade());
        }
    }

    /// One supervised scheduler per plan, at a random offset within its interval.
    fn spawn_sources(&mut self, plans: Vec<SourcePlan>) {
        let mut rng = rand::rng();
        for plan in plans {
            log_plan(&plan, &self.discovery);
            if let (Some(c), Some(p)) = (&self.coordinator, self.discovery.partitioning()) {
                let (c, groups) = (c.clone(), plan.groups(p));
                tokio::spawn(async move { c.join(groups).await });
            }
            let (name, interval) = (plan.config.name.clone(), plan.config.interval);
            let job: Arc<dyn scheduler::PollJob> = Arc::new(SourceJob {
                plan: Arc::new(plan),
                discovery: self.discovery.clone(),
                batch_size: self.batch_size,
                output: self.output.clone(),
                stop: self.stopping.clone(),
            });
            let offset = scheduler::start_offset(interval, &mut rng);
            let readiness = self.readiness.clone();
            if let Some(r) = &readiness {
                // Registered now, not when the actor gets to `started`: /readyz knows the
                // source from the moment this returns.
                r.set_polling(&name, interval);
            }
            let id = name.clone();
            let addr = Supervisor::start(move |_| {
                let scheduler = SourceScheduler::new(name, interval, offset, job);
                match readiness {
                    Some(r) => scheduler.with_readiness(r),
                    None => scheduler,
                }
            });
            self.schedulers.push((id, addr));
        }
    }
}

/// Start the polling agent inside the current `actix::System`: one supervised
/// [`SourceScheduler`] per source of `config`, each polling into `output`. With `readiness`,
/// every source reports its ticks to `/readyz`.
pub fn start_polling(
    config: &PollingConfig,
    options: &PollingOptions,
    output: Arc<dyn SampleSink>,
    readiness: Option<crate::telemetry::Readiness>,
) -> Result<PollingAgent, StartError> {
    let mut discovery = Discovery::new(options);
    let mut coordinator = None;
    if !options.coordination_backend_url.is_empty() {
        let c = crate::coordination::Coordinator::start(
            &options.coordination_backend_url,
            &tokio::runtime::Handle::current(),
        )?;
        let prefix = partition::group_prefix(
            &options.polling_namespaces,
            Some(&options.partitioning_group_prefix),
        );
        let host = discovery.host().to_string();
        discovery =
            discovery.with_partitioning(Arc::new(partition::Partitioning::new(c.clone(), prefix, &host)));
        coordinator = Some(c);
    }
    let discovery = Arc::new(discovery);
    let pollsters = load_pollsters(options, &discovery)?;
    let output: Arc<dyn SampleSink> = if options.enable_notifications {
        output
    } else {
        Arc::new(DiscardSink)
    };
    let mut exporter = None;
    let output: Arc<dyn SampleSink> = if options.enable_prometheus_exporter {
        let registry = Arc::new(prometheus::SampleRegistry::new());
        exporter = Some(registry.clone());
        Arc::new(prometheus::ExportingSink {
            registry,
            next: output,
        })
    } else {
        output
    };
    // Named first, so that the exporter and the notifications both carry the names.
    let output = match name_discovery(options)? {
        Some(names) => Arc::new(identity::NamingSink { names, next: output }),
        None => output,
    };
    let mut agent = PollingAgent {
        schedulers: Vec::new(),
        retired: Vec::new(),
        discovery,
        exporter,
        coordinator,
        output,
        stopping: source::Stop::default(),
        readiness,
        batch_size: options.batch_size,
    };
    let plans = agent.plan_with(config, &pollsters, options)?;
    agent.spawn_sources(plans);
    Ok(agent)
}

/// Start the Prometheus exposition of polled samples on every configured address, if
/// enabled (a separate step: binding is async). Returns the bound addresses.
pub async fn start_exporter(
    agent: &PollingAgent,
    options: &PollingOptions,
) -> Result<Vec<std::net::SocketAddr>, StartError> {
    let Some(registry) = &agent.exporter else {
        return Ok(Vec::new());
    };
    let tls = exporter_tls(options)?.map(|config| tokio_rustls::TlsAcceptor::from(Arc::new(config)));
    let mut bound = Vec::new();
    for addr in &options.prometheus_listen_addresses {
        let local = prometheus::serve(addr, registry.clone(), tls.clone())
            .await
            .map_err(|source| StartError::Exporter {
                addr: addr.clone(),
                source,
            })?;
        tracing::info!(%local, "polled samples exposed for Prometheus");
        bound.push(local);
    }
    Ok(bound)
}

/// The exporter's TLS (`prometheus_tls_enable`), its files read now; none when it is off.
/// Enabled without both files, or with files that cannot be used, it is refused (Ceilometer:
/// "Certfile and keyfile must be provided.").
fn exporter_tls(options: &PollingOptions) -> Result<Option<rustls::ServerConfig>, StartError> {
    if !options.enable_prometheus_exporter || !options.prometheus_tls_enable {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&options.prometheus_tls_certfile, &options.prometheus_tls_keyfile) else {
        return Err(StartError::ExporterTls(
            "prometheus_tls_enable needs prometheus_tls_certfile and prometheus_tls_keyfile".into(),
        ));
    };
    crate::tls::server_config(cert, key)
        .map(Some)
        .map_err(StartError::ExporterTls)
}

/// `[polling] enable_notifications = false`: polled samples go nowhere but the exporter.
struct DiscardSink;

impl SampleSink for DiscardSink {
    fn send(&self, _batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async { true })
    }
}
