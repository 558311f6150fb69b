//! One polling source compiled against the available pollsters ([`SourcePlan`]), and one poll
//! of it ([`SourcePlan::poll`]): discover once, run every selected pollster over its resources,
//! and hand the samples on in batches of `batch_size`.
//!
//! Failure rules are Ceilometer's (`polling/manager.py: PollingTask.poll_and_notify`): a
//! pollster that fails on a resource is logged and counted and the others go on; a permanent
//! failure disables that (pollster, resource) pair for the life of the agent.
//!
//! The agent's stop ([`Stop`], at SIGTERM) ends a running poll where it is: what it has polled
//! is handed on, the rest of the cycle is not polled (the next agent's poll measures again), so
//! a long discovery or a hung service holds no shutdown.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use super::config::SourceConfig;
use super::discovery::{Discoverer, Discovery, DiscoveryCycle, DiscoveryError, Resource, Resources};
use super::pollster::{PollContext, PollError};
use super::{Pollster, SampleSink};
use crate::config::PollingOptions;
use crate::model::Sample;
use crate::telemetry::handles::PollsterMetrics;
use crate::telemetry::metrics::SkipReason;

/// One pollster as one source uses it.
pub struct PlanEntry {
    pub pollster: Arc<Pollster>,
    /// One flag per `pollster.meters()`: selected by the source's meter filter.
    pub mask: Vec<bool>,
    /// The pollster's default discovery, used when the source yields no resources.
    pub default_discovery: Vec<(String, Discoverer)>,
    metrics: PollsterMetrics,
    /// Resource keys this pollster failed on permanently.
    disabled: Mutex<HashSet<String>>,
}

/// A source, ready to poll.
pub struct SourcePlan {
    pub config: SourceConfig,
    pub entries: Vec<PlanEntry>,
    static_resources: Arc<[Resource]>,
    discovery: Vec<(String, Discoverer)>,
    /// The samples' `source` field: Ceilometer's `Sample.SOURCE_DEFAULT` / `sample_source`
    /// (`openstack`), not the polling source's name.
    sample_source: Arc<str>,
    /// The source's meter patterns that no pollster serves (nothing is polled for them); the
    /// caller reports them once (`ceilo run` logs, `ceilo check` warns).
    pub unserved: Vec<String>,
    /// The source's meter patterns served only by pollsters of namespaces this agent does not
    /// run (`polling_namespaces`): another agent's, as with Ceilometer's agents.
    pub elsewhere: Vec<String>,
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PollReport {
    pub samples: u64,
    pub batches: u64,
    pub failures: u64,
    pub newly_disabled: u64,
    /// The output refused a batch (the agent is shutting down): the poll stopped early.
    pub output_closed: bool,
    /// The agent's [`Stop`] came during the poll: it ended there.
    pub interrupted: bool,
}

/// The agent's stop as its polls see it: set once, at SIGTERM.
#[derive(Clone)]
pub struct Stop(Arc<watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Stop {
        Stop(Arc::new(watch::channel(false).0))
    }
}

impl Stop {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// `work`'s output, or `None` when the stop comes first (`work` is then dropped: a child
    /// process killed, a request abandoned).
    async fn unless<F: Future>(&self, work: F) -> Option<F::Output> {
        let mut stopped = self.0.subscribe();
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => None,
            out = work => Some(out),
        }
    }
}

impl SourcePlan {
    /// Match the source's meters against the pollsters. Meters no pollster serves are listed
    /// in [`Self::unserved`] (Ceilometer polls nothing for them either), not an error.
    ///
    /// The simulated fleet is a load-testing tool, not a source of data: its pollster joins
    /// only a source that names a `fleet` discoverer, never one that merely lists compute
    /// meters (as Ceilometer's own polling.yaml does).
    pub fn new(
        config: SourceConfig,
        pollsters: &[Arc<Pollster>],
        options: &PollingOptions,
    ) -> Result<Self, DiscoveryError> {
        let parse = |names: &[String]| -> Result<Vec<(String, Discoverer)>, DiscoveryError> {
            names
                .iter()
                .map(|n| Ok((n.clone(), Discoverer::parse(n, options)?)))
                .collect()
        };
        let discovery = parse(&config.discovery)?;
        let names_fleet = discovery.iter().any(|(_, d)| matches!(d, Discoverer::Fleet(_)));
        let mut entries = Vec::new();
        for p in pollsters {
            if (p.is_simulated() && !names_fleet) || !p.runs_in(&options.polling_namespaces) {
                continue;
            }
            let mask: Vec<bool> = p
                .meters()
                .iter()
                .map(|m| config.meters.accepts(&m.name))
                .collect();
            if !mask.iter().any(|&b| b) {
                continue;
            }
            entries.push(PlanEntry {
                default_discovery: parse(&[p.default_discovery()])?,
                metrics: PollsterMetrics::new(&config.name, p.name()),
                pollster: p.clone(),
                mask,
                disabled: Mutex::default(),
            });
        }
        let serves = |p: &Pollster, pattern: &str| {
            p.meters()
                .iter()
                .any(|m| super::config::fnmatch(pattern, &m.name))
        };
        let (mut unserved, mut elsewhere) = (Vec::new(), Vec::new());
        for pattern in config.meters.plain_names() {
            if entries.iter().any(|e| serves(&e.pollster, pattern)) {
                continue;
            }
            // Not counting the fleet where it does not stand in (above).
            let served = pollsters
                .iter()
                .filter(|p| names_fleet || !p.is_simulated())
                .any(|p| serves(p, pattern));
            match served {
                true => elsewhere.push(pattern.to_owned()),
                false => unserved.push(pattern.to_owned()),
            }
        }
        Ok(Self {
            unserved,
            elsewhere,
            static_resources: config
                .resources
                .iter()
                .map(|r| Resource::Endpoint(r.as_str().into()))
                .collect(),
            discovery,
            sample_source: options.sample_source.as_str().into(),
            entries,
            config,
        })
    }

    /// Poll every entry once. Batches leave as soon as they are full, so memory stays bounded
    /// by `batch_size` per source whatever the fleet size, and a slow output slows the poll.
    pub async fn poll(
        &self,
        discovery: &Discovery,
        batch_size: usize,
        output: &dyn SampleSink,
    ) -> PollReport {
        self.poll_until(discovery, batch_size, output, &Stop::default())
            .await
    }

    /// [`Self::poll`], ended early by `stop`.
    pub async fn poll_until(
        &self,
        discovery: &Discovery,
        batch_size: usize,
        output: &dyn SampleSink,
        stop: &Stop,
    ) -> PollReport {
        // Ceilometer 27 (`_internal_pollster_run`): batch_size 0 sends each sample in a
        // notification of its own.
        let batch_size = batch_size.max(1);
        let ctx = PollContext::now(self.sample_source.clone());
        let mut report = PollReport::default();
        let mut cycle = DiscoveryCycle::new(discovery);
        let source_resources = stop
            .unless(async {
                let mut resources = cycle
                    .keep_static(&self.config.resources, &self.static_resources)
                    .await;
                resources.append(cycle.resources(&self.discovery).await);
                resources.dedup()
            })
            .await;
        let Some(source_resources) = source_resources else {
            return self.ended_by_stop(report);
        };

        'entries: for entry in &self.entries {
            let discovered: Resources;
            let resources = if source_resources.is_empty() {
                match stop.unless(cycle.resources(&entry.default_discovery)).await {
                    Some(found) => discovered = found,
                    None => {
                        report.interrupted = true;
                        break 'entries;
                    }
                }
                &discovered
            } else {
                &source_resources
            };
            if resources.is_empty() {
                entry.metrics.skipped(SkipReason::NoResources);
                tracing::debug!(source = %self.config.name, pollster = entry.pollster.name(),
                    "no resources this cycle: pollster skipped");
                continue;
            }
            let started = Instant::now();
            let samples_before = report.samples;
            let mut buf: Vec<Sample> = Vec::with_capacity(batch_size.saturating_mul(2).min(4096));
            let mut first_error: Option<String> = None;
            let mut errors = 0u64;
            let disabled = entry.disabled.lock().map(|d| d.clone()).unwrap_or_default();
            for resource in resources.iter() {
                if !disabled.is_empty() && disabled.contains(&*resource.key()) {
                    continue;
                }
                // The simulated fleet and its pollster only meet each other: libvirt serves the
                // same meters and would fail on every instance, and disable and log each.
                if resource.is_simulated() != entry.pollster.is_simulated() {
                    continue;
                }
                let Some(polled) = stop
                    .unless(entry.pollster.poll(resource, &entry.mask, &ctx, &mut buf))
                    .await
                else {
                    report.interrupted = true;
                    break;
                };
                match polled {
                    Ok(()) => {}
                    Err(e) => {
                        errors += 1;
                        if let PollError::Permanent(_) = e {
                            if let Ok(mut d) = entry.disabled.lock() {
                                d.insert(resource.key().to_string());
                            }
                            report.newly_disabled += 1;
                            tracing::warn!(source = %self.config.name, pollster = entry.pollster.name(),
                                resource = %resource.key(), error = %e,
                                "pollster failed permanently: resource disabled for this pollster");
                        } else {
                            first_error.get_or_insert_with(|| format!("{}: {e}", resource.key()));
                        }
                    }
                }
                while buf.len() >= batch_size {
                    let rest = buf.split_off(batch_size);
                    let full = std::mem::replace(&mut buf, rest);
                    if !self.emit(full, output, &mut report).await {
                        break 'entries;
                    }
                }
            }
            let closed = !buf.is_empty() && !self.emit(buf, output, &mut report).await;
            // A run with failures on some resources counts as failed (its samples still went).
            if errors == 0 {
                entry
                    .metrics
                    .succeeded((report.samples - samples_before) as usize, started.elapsed());
            } else {
                entry.metrics.failed(started.elapsed());
            }
            if let Some(first) = first_error {
                tracing::warn!(source = %self.config.name, pollster = entry.pollster.name(), errors,
                    first = %first, "pollster failed on some resources; continuing");
            }
            report.failures += errors;
            if closed || report.interrupted {
                break 'entries;
            }
        }
        if report.interrupted {
            return self.ended_by_stop(report);
        }
        report
    }

    fn ended_by_stop(&self, mut report: PollReport) -> PollReport {
        report.interrupted = true;
        tracing::info!(source = %self.config.name, samples = report.samples,
            "the agent is stopping: this poll ends here (what it polled is sent)");
        report
    }

    /// The groups this source always partitions in: its discoverers' and its static
    /// resources' (joined at start; a pollster's default discovery joins at first use).
    pub fn groups(&self, partitioning: &super::partition::Partitioning) -> Vec<String> {
        let mut groups: Vec<String> = self
            .discovery
            .iter()
            .map(|(_, d)| partitioning.group_of(d))
            .collect();
        if !self.config.resources.is_empty() {
            groups.push(partitioning.static_group(&self.config.resources));
        }
        groups
    }

    /// The timer fired while the previous poll was still running: counted for every pollster.
    pub fn overrun(&self) {
        for e in &self.entries {
            e.metrics.skipped(SkipReason::Overrun);
        }
    }

    async fn emit(&self, samples: Vec<Sample>, output: &dyn SampleSink, report: &mut PollReport) -> bool {
        let n = samples.len() as u64;
        let batch = crate::model::SampleBatch {
            source: self.config.name.clone(),
            samples,
        };
        if output.send(batch).await {
            report.samples += n;
            report.batches += 1;
            true
        } else {
            report.output_closed = true;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::model::SampleBatch;
    use crate::polling::config::PollingConfig;
    use crate::polling::{fleet::FleetPollster, host::HostPollster};

    fn fixtures() -> (PathBuf, PathBuf) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        (root.join("proc"), root.join("sys"))
    }

    fn setup(yaml: &str) -> (SourcePlan, Discovery) {
        let (proc_root, sys_root) = fixtures();
        let options = PollingOptions {
            host: Some("h".into()),
            proc_root: proc_root.clone(),
            sys_root: sys_root.clone(),
            ..Default::default()
        };
        let discovery = Discovery::new(&options);
        let pollsters = vec![
            Arc::new(Pollster::Host(HostPollster::new(&proc_root, &sys_root))),
            Arc::new(Pollster::Fleet(FleetPollster::new(discovery.fleet().clone()))),
        ];
        let config = PollingConfig::parse(yaml, Path::new("polling.yaml")).unwrap();
        let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, &options).unwrap();
        (plan, discovery)
    }

    async fn poll(plan: &SourcePlan, d: &Discovery, batch: usize) -> (PollReport, Vec<SampleBatch>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let report = plan.poll(d, batch, &tx).await;
        drop(tx);
        let mut out = Vec::new();
        while let Some(b) = rx.recv().await {
            out.push(b);
        }
        (report, out)
    }

    #[tokio::test]
    async fn batches_are_at_most_batch_size_and_nothing_is_lost() {
        let (plan, d) = setup(
            "sources:\n  - name: s\n    meters: [cpu, vcpus, memory.usage]\n    discovery: ['fleet:11']\n",
        );
        let (report, batches) = poll(&plan, &d, 4).await;
        assert_eq!(report.samples, 33);
        assert!(batches
            .iter()
            .all(|b| !b.samples.is_empty() && b.samples.len() <= 4));
        assert_eq!(batches.iter().map(|b| b.samples.len()).sum::<usize>(), 33);
        assert!(batches.iter().all(|b| &*b.source == "s"));
        // The samples' own source is Ceilometer's default sample source.
        assert!(batches
            .iter()
            .all(|b| b.samples.iter().all(|s| &*s.source == "openstack")));
        // batch_size 0: one sample per notification, as Ceilometer 27 does.
        let (_, batches) = poll(&plan, &d, 0).await;
        assert_eq!(batches.len(), 33);
        assert!(batches.iter().all(|b| b.samples.len() == 1));
        let ids: HashSet<_> = batches
            .iter()
            .flat_map(|b| b.samples.iter().map(|s| s.id.clone()))
            .collect();
        assert_eq!(ids.len(), 33);
    }

    #[tokio::test]
    async fn each_pollster_uses_its_default_discovery_when_the_source_names_none() {
        let (plan, d) = setup("sources:\n  - name: s\n    meters: [hardware.cpu.load.1min, memory.usage]\n");
        let (report, batches) = poll(&plan, &d, 50).await;
        let names: Vec<String> = batches
            .iter()
            .flat_map(|b| b.samples.iter().map(|s| s.name.to_string()))
            .collect();
        // local_node for the host pollster.
        assert_eq!(names, ["hardware.cpu.load.1min"]);
        assert_eq!(report.failures, 0);
    }

    #[tokio::test]
    async fn the_simulated_fleet_polls_only_for_a_source_that_names_it() {
        // Ceilometer's own polling.yaml lists compute meters with no discovery: the fleet does
        // not stand in for the libvirt pollster (absent from this plan's pollsters).
        let (plan, d) = setup("sources:\n  - name: s\n    meters: [cpu, hardware.cpu.load.1min, vcpus]\n");
        assert!(plan.entries.iter().all(|e| !e.pollster.is_simulated()));
        assert_eq!(plan.unserved, ["cpu", "vcpus"]);
        let (report, _) = poll(&plan, &d, 50).await;
        assert_eq!(report.samples, 1);
        // Its instances are not polled by another family (here the host's), nor failed on.
        let (plan, d) = setup(
            "sources:\n  - name: s\n    meters: [cpu, hardware.cpu.load.1min]\n    discovery: ['fleet:3']\n",
        );
        assert_eq!(plan.entries.len(), 2);
        let (report, _) = poll(&plan, &d, 50).await;
        assert_eq!(
            (report.samples, report.failures, report.newly_disabled),
            (3, 0, 0)
        );
        // Named: it polls, and an empty fleet does not fall back to a default one.
        let (plan, d) = setup("sources:\n  - name: s\n    meters: [cpu]\n    discovery: ['fleet:2']\n");
        assert!(plan.unserved.is_empty());
        assert_eq!(poll(&plan, &d, 50).await.0.samples, 2);
        let (plan, d) = setup("sources:\n  - name: s\n    meters: [cpu]\n    discovery: ['fleet:0']\n");
        assert_eq!(poll(&plan, &d, 50).await.0.samples, 0);
    }

    #[tokio::test]
    async fn a_permanent_failure_disables_the_resource_and_others_go_on() {
        // The static resource is no local node: the host pollster fails on it permanently;
        // the local node keeps being polled.
        let (plan, d) = setup(
            "sources:\n  - name: s\n    meters: [cpu, hardware.cpu.load.1min]\n    resources: ['http://nowhere/']\n    discovery: [local_node]\n",
        );
        let (first, batches) = poll(&plan, &d, 50).await;
        assert_eq!(first.newly_disabled, 1);
        assert_eq!(first.failures, 1); // the host pollster on the URL
        let names: Vec<String> = batches
            .iter()
            .flat_map(|b| b.samples.iter().map(|s| s.name.to_string()))
            .collect();
        assert_eq!(names, ["hardware.cpu.load.1min"]);
        let (second, batches) = poll(&plan, &d, 50).await;
        // The URL is no longer tried.
        assert_eq!(second.failures, 0);
        assert_eq!(second.newly_disabled, 0);
        assert_eq!(batches.iter().map(|b| b.samples.len()).sum::<usize>(), 1);
    }

    #[tokio::test]
    async fn a_resource_named_twice_is_polled_once() {
        let (plan, d) =
            setup("sources:\n  - name: s\n    meters: [vcpus]\n    discovery: ['fleet:3', 'fleet:5']\n");
        let (report, _) = poll(&plan, &d, 50).await;
        assert_eq!(report.samples, 5);
    }

    #[tokio::test]
    async fn a_closed_output_ends_the_poll() {
        let (plan, d) = setup("sources:\n  - name: s\n    meters: [cpu]\n    discovery: ['fleet:10']\n");
        let (tx, rx) = tokio::sync::mpsc::channel::<SampleBatch>(1);
        drop(rx);
        let report = plan.poll(&d, 2, &tx).await;
        assert!(report.output_closed);
        assert_eq!(report.samples, 0);
    }

    #[tokio::test]
    async fn pollster_metrics_follow_the_telemetry_catalogue() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let (plan, d) = metrics::with_local_recorder(&recorder, || {
            setup(
                "sources:\n  - name: m\n    meters: [cpu, hardware.cpu.load.1min]\n    \
                 resources: ['http://nowhere/']\n    discovery: ['fleet:3']\n",
            )
        });
        // The host pollster fails on the URL (and leaves the fleet to the fleet pollster).
        poll(&plan, &d, 50).await;
        plan.overrun();
        let text = handle.render();
        let line = |name: &str, labels: &[&str]| -> Option<String> {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
                .map(str::to_owned)
        };
        let fleet = ["source=\"m\"", "pollster=\"fleet\""];
        let host = ["source=\"m\"", "pollster=\"host\""];
        assert!(
            line("ceilo_polls_run_total", &fleet).is_some_and(|l| l.ends_with(" 1")),
            "{text}"
        );
        assert!(
            line("ceilo_polls_failed_total", &host).is_some_and(|l| l.ends_with(" 1")),
            "{text}"
        );
        assert!(
            line("ceilo_polls_failed_total", &fleet).is_some_and(|l| l.ends_with(" 0")),
            "{text}"
        );
        let overrun = [fleet[0], fleet[1], "reason=\"overrun\""];
        assert!(
            line("ceilo_polls_skipped_total", &overrun).is_some_and(|l| l.ends_with(" 1")),
            "{text}"
        );
        assert!(
            line("ceilo_samples_produced_total", &["origin=\"polling\""]).is_some_and(|l| l.ends_with(" 3")),
            "{text}"
        );
    }

    #[test]
    fn check_validates_the_shipped_polling_yaml_and_names_meters_it_cannot_poll() {
        let options = PollingOptions {
            pollsters_definitions_dirs: vec![],
            ..Default::default()
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/polling.yaml");
        let warnings = crate::polling::check(&path, &options).unwrap();
        // Cinder's meters need Keystone credentials, which these options lack; the compute
        // ones are the libvirt pollster's.
        let cinder = "volume.size, volume.snapshot.size, volume.backup.size: nothing is polled for them \
                      (Cinder is reached through Keystone: set service_credentials";
        assert!(warnings.iter().any(|w| w.contains(cinder)), "{warnings:?}");
        assert!(
            !warnings.iter().any(|w| w.contains("no pollster serves")),
            "{warnings:?}"
        );
        assert!(!warnings.iter().any(|w| w.contains("\"cpu\"")), "{warnings:?}");
        assert!(!warnings.iter().any(|w| w.contains("hardware.*")), "{warnings:?}");
    }

    #[test]
    fn an_agent_polls_only_the_pollsters_of_its_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let pollsters_d = dir.path().join("pollsters.d");
        std::fs::create_dir(&pollsters_d).unwrap();
        // One dynamic pollster in the default namespace (central), one in compute.
        std::fs::write(
            pollsters_d.join("probes.yaml"),
            "- {name: probe.central, sample_type: gauge, unit: x, value_attribute: v, \
               host_command: 'echo []'}\n\
             - {name: probe.compute, sample_type: gauge, unit: x, value_attribute: v, \
               host_command: 'echo []', namespaces: [compute]}\n",
        )
        .unwrap();
        let config = crate::polling::PollingConfig::parse(
            "sources:\n  - name: all\n    interval: 60\n    meters: [cpu, hardware.cpu.load.1min, \
             volume.size, image.size, probe.central, probe.compute, no.such.meter]\n",
            Path::new("polling.yaml"),
        )
        .unwrap();
        let plan = |namespaces: &[&str]| {
            let options = PollingOptions {
                pollsters_definitions_dirs: vec![pollsters_d.clone()],
                polling_namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
                ..Default::default()
            };
            let discovery = Discovery::new(&options);
            let pollsters = crate::polling::load_pollsters(&options, &discovery).unwrap();
            let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, &options).unwrap();
            let mut polled: Vec<String> = plan
                .entries
                .iter()
                .map(|e| e.pollster.name().to_owned())
                .collect();
            polled.sort();
            (polled, plan.elsewhere, plan.unserved)
        };
        let (polled, elsewhere, unserved) = plan(&["compute"]);
        assert_eq!(polled, ["host", "libvirt", "probe.compute"]);
        assert_eq!(elsewhere, ["volume.size", "image.size", "probe.central"]);
        assert_eq!(unserved, ["no.such.meter"]);
        let (polled, elsewhere, _) = plan(&["central"]);
        assert_eq!(polled, ["image.size", "probe.central", "volume.size"]);
        assert_eq!(elsewhere, ["cpu", "hardware.cpu.load.1min", "probe.compute"]);
        let (polled, elsewhere, _) = plan(&["compute", "central"]);
        assert_eq!(polled.len(), 6, "{polled:?}");
        assert!(elsewhere.is_empty());
    }

    #[test]
    fn meters_of_a_service_without_credentials_are_named_once_per_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("polling.yaml");
        std::fs::write(
            &path,
            "sources:\n  - name: central\n    interval: 60\n    meters: [image.size, volume.size]\n",
        )
        .unwrap();
        let options = PollingOptions {
            pollsters_definitions_dirs: vec![],
            ..Default::default()
        };
        let warnings = crate::polling::check(&path, &options).unwrap();
        assert_eq!(
            warnings,
            [
                "source \"central\": volume.size: nothing is polled for them (Cinder is reached through \
                 Keystone: set service_credentials (ceilometer.conf: [service_credentials] auth_type = \
                 password))",
                "source \"central\": image.size: nothing is polled for them (Glance is reached through \
                 Keystone: set service_credentials (ceilometer.conf: [service_credentials] auth_type = \
                 password))",
            ]
        );
    }
}
