//! The `polling:` section of ceilo.yaml: the polling agent's options, as plain settings that
//! `polling/` is started with (this module knows nothing of polling).

use std::path::PathBuf;

use serde::Deserialize;

/// The polling agent's own settings (Ceilometer's `[polling]` options plus ceilo's fleet
/// simulator). Every field has a default; see [`PollingOptions::default`]. The signing key is
/// not here: it is the agent's one `publisher.telemetry_secret`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollingOptions {
    /// Samples per `telemetry.polling` notification (Ceilometer `[polling] batch_size`, 50);
    /// 0 sends each sample in a notification of its own (Ceilometer 27).
    pub batch_size: usize,
    /// Directories of dynamic pollster definitions (`[polling] pollsters_definitions_dirs`).
    pub pollsters_definitions_dirs: Vec<PathBuf>,
    /// Where /proc and /sys are (tests point these at fixtures).
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
    /// Instances of the `fleet` discovery when the discoverer gives no count (the simulated
    /// fleet runs only for a source that names `fleet` or `fleet:N` as a discoverer).
    pub fleet_size: usize,
    /// Seed of the simulated fleet: same seed, same instances (ids, projects, flavors).
    pub fleet_seed: u64,
    /// `[polling] enable_prometheus_exporter`: expose the polled samples for Prometheus.
    pub enable_prometheus_exporter: bool,
    /// `[polling] prometheus_listen_addresses` (`host:port` each).
    pub prometheus_listen_addresses: Vec<String>,
    /// `[polling] prometheus_tls_enable`: the exporter speaks https only, presenting
    /// `prometheus_tls_certfile` (a PEM chain) with `prometheus_tls_keyfile` (its PEM key), both
    /// then required.
    pub prometheus_tls_enable: bool,
    pub prometheus_tls_certfile: Option<PathBuf>,
    pub prometheus_tls_keyfile: Option<PathBuf>,
    /// `[polling] enable_notifications`: send the samples on (false: exporter only).
    pub enable_notifications: bool,
    /// telemetry.polling notifications encoded and signed at once, each on a worker thread;
    /// 0 = one per core.
    pub notify_senders: usize,
    /// The agent's host name (the sample `host` metadata, the local_node resource).
    pub host: Option<String>,
    /// Sample `source` (Ceilometer's `[DEFAULT] sample_source`, `openstack`).
    pub sample_source: String,
    /// `[service_types] cinder`: the catalog type of Cinder's endpoint, which the `volumes`,
    /// `volume_snapshots`, `volume_backups`, `volume_services` and `volume_pools` discoverers
    /// list from.
    pub cinder_service_type: String,
    /// `[service_types] nova`: the catalog type of Nova's endpoint, asked for the flavor ids
    /// that older nova metadata leaves out (`local_instances`).
    pub nova_service_type: String,
    /// `[service_types] neutron`: the catalog type of Neutron's endpoint, which the
    /// `fip_services` discoverer lists from.
    pub neutron_service_type: String,
    /// `[service_types] octavia`: the catalog type of Octavia's endpoint, which the
    /// `lb_services` discoverer lists from.
    pub octavia_service_type: String,
    /// `[service_types] manila`: the catalog type of Manila's endpoint, which the
    /// `manila_shares` discoverer lists from.
    pub manila_service_type: String,
    /// `[service_types] designate`: the catalog type of Designate's endpoint, which the
    /// `dns_zones` discoverer lists from.
    pub designate_service_type: String,
    /// `[service_types] aodh`: the catalog type of Aodh's endpoint, which the `alarm`
    /// discoverer asks.
    pub aodh_service_type: String,
    /// `[service_types] swift`: the catalog type of Swift's endpoint, whose accounts Swift's
    /// pollsters read.
    pub swift_service_type: String,
    /// `[DEFAULT] reseller_prefix`: the prefix of a project's Swift account (the proxy's).
    pub reseller_prefix: String,
    /// `[polling] ignore_disabled_projects`: the `tenant` discoverer lists only the enabled
    /// projects of enabled domains.
    pub ignore_disabled_projects: bool,
    /// Endpoint URLs by type, for `endpoint:TYPE` discovery (dynamic pollsters do not read the
    /// Keystone catalogue).
    pub endpoints: std::collections::HashMap<String, Vec<String>>,
    /// `[DEFAULT] libvirt_type` (`kvm`, `qemu`, `lxc`, `parallels`): picks the libvirt URI of
    /// `local_instances` and the compute pollsters when `libvirt_uri` is empty.
    pub libvirt_type: String,
    /// `[DEFAULT] libvirt_uri`: the libvirt URI to read instances from (empty: by
    /// `libvirt_type`, `qemu:///system` for kvm and qemu). The connection is read-only.
    pub libvirt_uri: String,
    /// `[compute] resource_update_interval` (seconds): how long `local_instances` reuses its
    /// instance list; 0 (the default) lists the domains on every poll, as Ceilometer's
    /// libvirt_metadata discovery always does (Ceilometer reads this option only for its
    /// Nova-API discovery).
    pub resource_update_interval: u64,
    /// `[compute] report_stopped_instance_metrics`: for a shut-off instance, poll what libvirt
    /// still knows of it (`power.state`, `vcpus`, `memory` as its maximum, the disks'
    /// `disk.device.{capacity,allocation,usage}`) rather than only its flavor's disk sizes.
    pub report_stopped_instance_metrics: bool,
    /// `[coordination] backend_url`: tooz's `redis://host:port[?timeout=S&...]`. Set, the
    /// agent joins partitioning groups and polls only its share of the resources (see
    /// docs/coordination.md); empty (the default), it polls everything.
    pub coordination_backend_url: String,
    /// `[polling] partitioning_group_prefix`: agents with different polling.yaml files use
    /// different prefixes, so they never split resources with each other.
    pub partitioning_group_prefix: String,
    /// The polling namespaces this agent runs, as `ceilometer-polling --polling-namespaces`
    /// (default `compute central`): only their pollsters poll (`compute`: the host's and its
    /// instances'; `central`: Cinder's, Glance's, Neutron's, Octavia's, Manila's, Designate's, Swift's, Aodh's and, unless their definition says otherwise,
    /// the dynamic pollsters; `ipmi`: the BMC's sensors, which no default includes), and partitioning group names start with them (`central-compute-`).
    /// A pool shared with `ceilometer-polling --polling-namespaces central` sets `[central]`.
    pub polling_namespaces: Vec<String>,
    /// `[ipmi] polling_retry`: failed reads of a BMC sensor type in a row after which its
    /// pollster is disabled (negative: never), as Ceilometer's IPMI pollsters.
    pub ipmi_polling_retry: i64,
    /// `[polling] identity_name_discovery`: every polled sample's `user_name` and
    /// `project_name` looked up in Keystone by its ids, and cached (see `polling::identity`).
    pub identity_name_discovery: bool,
    /// The Keystone credentials for those look-ups: ceilo.yaml's `service_credentials`, put
    /// here by `Settings::polling_options` (not a `polling:` key).
    #[serde(skip)]
    pub keystone: Option<crate::keystone::KeystoneSettings>,
}

impl Default for PollingOptions {
    fn default() -> Self {
        Self {
            batch_size: 50,
            pollsters_definitions_dirs: vec![PathBuf::from("/etc/ceilometer/pollsters.d")],
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            fleet_size: 100,
            fleet_seed: 42,
            enable_prometheus_exporter: false,
            prometheus_listen_addresses: vec!["127.0.0.1:9101".into()],
            prometheus_tls_enable: false,
            prometheus_tls_certfile: None,
            prometheus_tls_keyfile: None,
            enable_notifications: true,
            notify_senders: 0,
            host: None,
            sample_source: "openstack".into(),
            cinder_service_type: "volumev3".into(),
            nova_service_type: "compute".into(),
            neutron_service_type: "network".into(),
            swift_service_type: "object-store".into(),
            octavia_service_type: "load-balancer".into(),
            manila_service_type: "sharev2".into(),
            designate_service_type: "dns".into(),
            aodh_service_type: "alarming".into(),
            reseller_prefix: "AUTH_".into(),
            ignore_disabled_projects: false,
            endpoints: Default::default(),
            libvirt_type: "kvm".into(),
            libvirt_uri: String::new(),
            resource_update_interval: 0,
            report_stopped_instance_metrics: false,
            coordination_backend_url: String::new(),
            partitioning_group_prefix: String::new(),
            polling_namespaces: vec!["compute".into(), "central".into()],
            ipmi_polling_retry: 3,
            identity_name_discovery: false,
            keystone: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// config/ceilo.yaml lists the `polling:` options, commented out, with their values: every
    /// name is an option and every value the default (but `host`, an example).
    #[test]
    fn the_options_config_ceilo_yaml_lists_are_the_defaults() {
        let text = include_str!("../../config/ceilo.yaml");
        let (before, _) = text
            .split_once("\npolling: {}")
            .expect("ceilo.yaml's polling section");
        let (_, block) = before.rsplit_once("\n\n").expect("the section's comment");
        let options: String = block
            .lines()
            .filter_map(|l| l.strip_prefix("#   "))
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut listed: PollingOptions = yaml_serde::from_str(&options).expect("the listed options parse");
        assert_eq!(listed.host.take().as_deref(), Some("compute-1"));
        assert!(options.lines().count() >= 19, "{options}");
        assert_eq!(format!("{listed:?}"), format!("{:?}", PollingOptions::default()));
    }
}
