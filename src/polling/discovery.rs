//! Discovery: which resources a poll covers. Static `resources` from polling.yaml, the local
//! host (`local_node`), the nova instances of the local libvirt (`local_instances`, see
//! [`super::libvirt::discovery`]), endpoint URLs by type (`endpoint:TYPE`, from the settings instead of a
//! Keystone catalogue), and a synthetic `fleet` (`fleet` or `fleet:N`) of N simulated instances
//! with stable ids, projects, users and flavors, to drive the polling path at cluster scale.
//! The fleet is a load-testing tool: it exists only for a source that names it (no pollster
//! falls back to it), so Ceilometer's own polling.yaml never polls made-up instances.
//!
//! A [`Discovery`] is resolved once, at start; a [`DiscoveryCycle`] is the per-poll cache that
//! the pollsters of one source share, so a discoverer runs at most once per poll.
//! With coordination on, each discoverer's resources pass through the poll's
//! [`super::partition::PartitionCycle`] before anyone sees them (Ceilometer partitions inside
//! `discover` too), so the per-poll cache holds only this agent's share.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simd_json::json;

use crate::config::PollingOptions;
use crate::model::OwnedValue;

use super::service_api::ServiceApi;

pub use super::discoverer::{Discoverer, DiscoveryError};
pub use super::resource::{Resource, ResourceKey};

/// Everything discovery needs to know, resolved once at start and shared by all sources.
pub struct Discovery {
    host: Arc<str>,
    fleet: Arc<Fleet>,
    endpoints: HashMap<String, Vec<String>>,
    fleets: std::sync::Mutex<HashMap<u32, Arc<[Resource]>>>,
    hypervisor: Arc<super::libvirt::Hypervisor>,
    /// `[compute] resource_update_interval`: reuse the instance list this long (0: every poll).
    instances_ttl: Duration,
    instances: tokio::sync::Mutex<Option<(Instant, Arc<[Resource]>)>>,
    /// Set when `[coordination] backend_url` is: resources are split between the group.
    partitioning: Option<Arc<super::partition::Partitioning>>,
    /// The Cinder API the `volume*` discoverers list.
    pub cinder: ServiceApi,
    /// The Glance API the `images` discoverer lists.
    pub glance: ServiceApi,
    /// The Neutron API the `fip_services` discoverer lists.
    pub neutron: ServiceApi,
    /// The Swift API Swift's pollsters ask for each project's account.
    pub swift: Arc<super::swift::SwiftApi>,
    /// The Octavia API the `lb_services` discoverer lists.
    pub octavia: ServiceApi,
    /// The Manila API the `manila_shares` discoverer lists.
    pub manila: ServiceApi,
    /// The Designate API the `dns_zones` discoverer lists and the recordsets pollster asks.
    pub designate: Arc<ServiceApi>,
    /// The Aodh API the `alarm` discoverer asks.
    pub aodh: ServiceApi,
    /// Keystone itself, which the `tenant` discoverer lists projects from; with
    /// `ignore_disabled_projects`, only the enabled ones.
    keystone: super::service_api::Session,
    ignore_disabled_projects: bool,
    /// Asked for the flavor ids older nova metadata leaves out.
    nova: super::nova::NovaApi,
}

impl Discovery {
    pub fn new(options: &PollingOptions) -> Self {
        let host: Arc<str> = local_host_name(options).into();
        // Keystone and every service polled are asked with one token.
        let session = super::service_api::session(options.keystone.as_ref());
        let api =
            |name, service_type: &str| ServiceApi::new(name, session.clone(), vec![service_type.to_owned()]);
        Self {
            fleet: Arc::new(Fleet::new(options.fleet_seed, host.clone())),
            host,
            endpoints: options.endpoints.clone(),
            fleets: Default::default(),
            hypervisor: Arc::new(super::libvirt::Hypervisor::new(super::libvirt::uri(
                &options.libvirt_type,
                &options.libvirt_uri,
            ))),
            instances_ttl: Duration::from_secs(options.resource_update_interval),
            instances: Default::default(),
            partitioning: None,
            cinder: super::cinder::api(session.clone(), &options.cinder_service_type),
            glance: api("Glance", "image"),
            neutron: api("Neutron", &options.neutron_service_type),
            swift: Arc::new(super::swift::SwiftApi::new(
                session.clone(),
                &options.swift_service_type,
                &options.reseller_prefix,
            )),
            octavia: api("Octavia", &options.octavia_service_type),
            manila: api("Manila", &options.manila_service_type),
            designate: Arc::new(api("Designate", &options.designate_service_type)),
            aodh: api("Aodh", &options.aodh_service_type),
            keystone: session.clone(),
            ignore_disabled_projects: options.ignore_disabled_projects,
            nova: super::nova::NovaApi::new(session, &options.nova_service_type),
        }
    }

    /// Split every discoverer's resources with the other members of its group.
    pub fn with_partitioning(mut self, partitioning: Arc<super::partition::Partitioning>) -> Self {
        self.partitioning = Some(partitioning);
        self
    }

    pub fn partitioning(&self) -> Option<&Arc<super::partition::Partitioning>> {
        self.partitioning.as_ref()
    }

    pub fn host(&self) -> &Arc<str> {
        &self.host
    }

    /// The simulated fleet `fleet:N` lists and the fleet pollster polls.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// The agent's Keystone session (none without `service_credentials`), which dynamic
    /// pollsters' requests carry the token of.
    pub fn keystone(&self) -> Option<&Arc<crate::keystone::Keystone>> {
        self.keystone.as_ref().ok()
    }

    /// The libvirt connection `local_instances` and the libvirt pollsters share.
    pub fn hypervisor(&self) -> &Arc<super::libvirt::Hypervisor> {
        &self.hypervisor
    }

    /// Run one discoverer. The fleet's list is generated once per size and then reused: its
    /// instances are stable by construction, and listed as ids only ([`FleetInstance`]). A
    /// libvirt failure is logged and counted and yields no instances (Ceilometer: a failing
    /// discoverer gives no resources that cycle).
    pub async fn discover(&self, discoverer: &Discoverer) -> Arc<[Resource]> {
        match discoverer {
            Discoverer::LocalNode => Arc::from([Resource::LocalNode(self.host.clone())]),
            Discoverer::LocalInstances => self.local_instances().await,
            Discoverer::Endpoint(t) => match self.endpoints.get(t) {
                Some(urls) => urls
                    .iter()
                    .map(|u| Resource::Endpoint(u.as_str().into()))
                    .collect(),
                None => self.catalog_endpoints(t).await,
            },
            Discoverer::Fleet(n) => {
                let mut fleets = self.fleets.lock().unwrap_or_else(|p| p.into_inner());
                fleets
                    .entry(*n)
                    .or_insert_with(|| {
                        (0..*n)
                            .map(|i| Resource::Instance(self.fleet.instance(i)))
                            .collect()
                    })
                    .clone()
            }
            Discoverer::Cinder(listing) => {
                let records = super::cinder::list(&self.cinder, *listing);
                self.cinder
                    .resources(listing.discoverer(), records, Resource::Cinder)
                    .await
            }
            Discoverer::Images => {
                let images = super::glance::images(&self.glance);
                self.glance
                    .resources(super::glance::DISCOVERER, images, Resource::Image)
                    .await
            }
            Discoverer::FloatingIps => {
                let ips = super::neutron::floating_ips(&self.neutron);
                self.neutron
                    .resources(super::neutron::DISCOVERER, ips, Resource::FloatingIp)
                    .await
            }
            Discoverer::NetworkServices(service) => {
                let records = super::neutron::services(&self.neutron, *service);
                self.neutron
                    .resources(service.discoverer(), records, Resource::NetworkService)
                    .await
            }
            Discoverer::LoadBalancers => {
                let lbs = super::octavia::load_balancers(&self.octavia);
                self.octavia
                    .resources(super::octavia::DISCOVERER, lbs, Resource::LoadBalancer)
                    .await
            }
            Discoverer::Shares => {
                let shares = super::manila::shares(&self.manila);
                self.manila
                    .resources(super::manila::DISCOVERER, shares, Resource::Share)
                    .await
            }
            Discoverer::Zones => {
                let zones = super::designate::zones(&self.designate);
                self.designate
                    .resources(super::designate::DISCOVERER, zones, Resource::Zone)
                    .await
            }
            Discoverer::AlarmResults => {
                let results = super::aodh::evaluation_results(&self.aodh);
                self.aodh
                    .resources(super::aodh::DISCOVERER, results, Resource::AlarmResults)
                    .await
            }
            Discoverer::Tenants => {
                let listed = self.keystone.as_ref().ok().map(|keystone| async move {
                    keystone
                        .project_ids(self.ignore_disabled_projects)
                        .await
                        .map_err(|e| e.to_string())
                });
                super::service_api::resources("Keystone", super::swift::DISCOVERER, listed, |id| {
                    Resource::Project(id.into())
                })
                .await
            }
        }
    }
}

impl Discovery {
    /// `endpoint:TYPE` for a type the settings give no URLs for: every URL of the type in the
    /// Keystone catalog, of `[service_credentials] interface` in `region_name`, as Ceilometer's
    /// endpoint discovery lists them. None without credentials, or when the catalog has none
    /// (said, as Ceilometer says it).
    async fn catalog_endpoints(&self, service_type: &str) -> Arc<[Resource]> {
        let keystone = match &self.keystone {
            Ok(keystone) => keystone,
            Err(why) => {
                tracing::warn!(service_type, reason = %why,
                    "endpoint discovery: no URLs in the settings' endpoints, and no Keystone catalog");
                return Arc::from([]);
            }
        };
        let token = match keystone.token().await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(service_type, error = %e,
                    "endpoint discovery: no token, so no catalog; nothing polled from it this cycle");
                return Arc::from([]);
            }
        };
        let (interface, region) = keystone.settings().catalog_scope();
        let urls = crate::keystone::service_urls(&token.catalog, service_type, interface, region);
        if urls.is_empty() {
            tracing::warn!(service_type, interface, region, "No endpoints found for service");
        }
        urls.into_iter().map(|u| Resource::Endpoint(u.into())).collect()
    }

    async fn local_instances(&self) -> Arc<[Resource]> {
        let mut cached = self.instances.lock().await;
        if let Some((at, found)) = cached.as_ref() {
            if !self.instances_ttl.is_zero() && at.elapsed() < self.instances_ttl {
                return found.clone();
            }
        }
        match super::libvirt::discovery::discover(&self.hypervisor, self.host.clone()).await {
            Ok(mut found) => {
                for (id, why) in &found.skipped {
                    tracing::error!(domain = %id, reason = %why,
                        "domain has nova metadata but not what an instance needs: skipped");
                }
                self.nova.set_flavor_ids(&mut found.guests).await;
                let resources: Arc<[Resource]> = found
                    .guests
                    .into_iter()
                    .map(|g| Resource::Guest(Arc::new(g)))
                    .collect();
                *cached = Some((Instant::now(), resources.clone()));
                resources
            }
            Err(e) => {
                tracing::warn!(uri = %self.hypervisor.uri(), error = %e,
                    "local_instances: cannot list the libvirt domains; no instances this cycle");
                Arc::from([])
            }
        }
    }
}

/// The resources of one poll: the discoverers' lists themselves, shared with the per-poll
/// cache and not copied (a fleet's list is as long as the fleet).
#[derive(Debug, Clone, Default)]
pub struct Resources(Vec<Arc<[Resource]>>);

impl Resources {
    pub fn len(&self) -> usize {
        self.0.iter().map(|part| part.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|part| part.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.0.iter().flat_map(|part| part.iter())
    }

    /// `other`'s resources after these.
    pub fn append(&mut self, other: Resources) {
        self.0.extend(other.0);
    }

    /// Each resource once, where it first appears: several discoverers (or the static
    /// resources and one) may name the same one, and Ceilometer polls it once too. A single
    /// discoverer's list is kept as it is, not copied.
    pub fn dedup(self) -> Self {
        if self.0.len() <= 1 {
            return self;
        }
        let mut seen = HashSet::new();
        let unique: Vec<Resource> = self.iter().filter(|r| seen.insert(r.key())).cloned().collect();
        Resources(vec![unique.into()])
    }
}

/// Per-poll cache: each discoverer runs at most once per cycle of a source.
pub struct DiscoveryCycle<'a> {
    discovery: &'a Discovery,
    cache: HashMap<String, Arc<[Resource]>>,
    partition: Option<super::partition::PartitionCycle<'a>>,
}

impl<'a> DiscoveryCycle<'a> {
    pub fn new(discovery: &'a Discovery) -> Self {
        Self {
            discovery,
            cache: HashMap::new(),
            partition: discovery
                .partitioning
                .as_deref()
                .map(super::partition::PartitionCycle::new),
        }
    }

    /// A source's static `resources:`, this agent's share of them when partitioning.
    pub async fn keep_static(&mut self, names: &[String], resources: &Arc<[Resource]>) -> Resources {
        if resources.is_empty() {
            return Resources::default();
        }
        match &mut self.partition {
            Some(pc) => {
                let group = pc.partitioning().static_group(names);
                Resources(vec![pc.keep(&group, resources).await.into()])
            }
            None => Resources(vec![resources.clone()]),
        }
    }

    /// The resources of several discoverers, concatenated (Ceilometer's `manager.discover`).
    pub async fn resources(&mut self, discoverers: &[(String, Discoverer)]) -> Resources {
        let mut out = Resources::default();
        for (name, d) in discoverers {
            let found = match self.cache.get(name) {
                Some(found) => found.clone(),
                None => {
                    let mut found = self.discovery.discover(d).await;
                    if let Some(pc) = &mut self.partition {
                        let group = pc.partitioning().group_of(d);
                        found = pc.keep(&group, &found).await.into();
                    }
                    self.cache.insert(name.clone(), found.clone());
                    found
                }
            };
            out.0.push(found);
        }
        out
    }

    /// How many discoverer runs this cycle made (each name at most once).
    pub fn runs(&self) -> usize {
        self.cache.len()
    }
}

fn local_host_name(options: &PollingOptions) -> String {
    if let Some(h) = &options.host {
        return h.clone();
    }
    std::fs::read_to_string(options.proc_root.join("sys/kernel/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A Nova flavor, as the compute agent puts it in sample metadata.
#[derive(Debug)]
pub struct Flavor {
    pub id: &'static str,
    pub name: &'static str,
    pub vcpus: u64,
    pub ram: u64,
    pub disk: u64,
}

/// Nova's classic default flavors.
pub const FLAVORS: [Flavor; 5] = [
    Flavor {
        id: "1",
        name: "m1.tiny",
        vcpus: 1,
        ram: 512,
        disk: 1,
    },
    Flavor {
        id: "2",
        name: "m1.small",
        vcpus: 1,
        ram: 2048,
        disk: 20,
    },
    Flavor {
        id: "3",
        name: "m1.medium",
        vcpus: 2,
        ram: 4096,
        disk: 40,
    },
    Flavor {
        id: "4",
        name: "m1.large",
        vcpus: 4,
        ram: 8192,
        disk: 80,
    },
    Flavor {
        id: "5",
        name: "m1.xlarge",
        vcpus: 8,
        ram: 16384,
        disk: 160,
    },
];

/// A simulated Nova instance. Everything is derived from (seed, index): the same fleet comes
/// back after a restart, so resource ids and counters stay continuous.
#[derive(Debug)]
pub struct Instance {
    pub index: u64,
    /// Nova uuid: the resource_id of instance meters.
    pub id: String,
    /// libvirt name `instance-%08x`.
    pub name: String,
    pub display_name: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor: &'static Flavor,
    pub image_id: String,
    /// Hypervisor host name (`instance_host`); `host` metadata is its hash, as in Nova.
    pub instance_host: String,
    pub host_id: String,
    pub vnic: String,
    pub mac: String,
    /// Per-instance activity level in (0, 1]: scales every simulated rate.
    pub activity: f64,
    /// Seconds since the epoch at which the instance "booted" (counters start there).
    pub launched_at: f64,
}

/// The simulated fleet: every instance is derived from (seed, index) and the agent's host
/// name, so a list of fleet instances needs only their places and ids, and each poll derives
/// the rest again ([`Fleet::details`]) and drops it with its samples.
#[derive(Debug)]
pub struct Fleet {
    seed: u64,
    agent_host: Arc<str>,
}

impl Fleet {
    /// The largest fleet: instances are numbered by a `u32`.
    pub const MAX: u32 = u32::MAX;

    pub fn new(seed: u64, agent_host: Arc<str>) -> Self {
        Self { seed, agent_host }
    }

    /// A fleet size as a count of instances, if it is one.
    pub fn size(n: usize) -> Option<u32> {
        u32::try_from(n).ok()
    }

    /// The instance at `index`, as discovery lists it.
    pub fn instance(&self, index: u32) -> FleetInstance {
        FleetInstance {
            index,
            id: instance_rng(self.seed, index.into()).uuid_bytes(),
        }
    }

    /// Everything the instance's samples carry.
    pub fn details(&self, instance: &FleetInstance) -> Instance {
        Instance::simulated(self.seed, instance.index.into(), &self.agent_host)
    }
}

/// A simulated instance as the fleet's discovery lists it: where it sits in the fleet and its
/// Nova uuid ([`Instance::id`], the resource key), 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetInstance {
    pub index: u32,
    pub id: uuid::Uuid,
}

/// The generator an instance's own values come from, uuid first.
fn instance_rng(seed: u64, index: u64) -> SplitMix {
    SplitMix::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F))
}

/// splitmix64: a tiny, well-distributed generator; enough for stable synthetic ids.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uuid_bytes(&mut self) -> uuid::Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
    fn uuid(&mut self) -> String {
        self.uuid_bytes().to_string()
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Instance {
    pub fn simulated(seed: u64, index: u64, agent_host: &str) -> Self {
        let mut rng = instance_rng(seed, index);
        let id = rng.uuid();
        // Tenants are shared: about 20 instances per project, 4 users per project.
        let project = index / 20;
        let mut prng = SplitMix::new(seed ^ 0x5EED ^ project.wrapping_mul(0xE703_7ED1_A0B4_28DB));
        let project_id = prng.uuid().replace('-', "");
        let mut urng =
            SplitMix::new(seed ^ 0x05E4 ^ (project * 4 + index % 4).wrapping_mul(0x8EBC_6AF0_9C88_C6E3));
        let user_id = urng.uuid().replace('-', "");
        let flavor = &FLAVORS[(rng.next_u64() % FLAVORS.len() as u64) as usize];
        let mut irng = SplitMix::new(seed ^ 0x1AA6E ^ (rng.next_u64() % 8));
        let image_id = irng.uuid();
        let instance_host = format!("{agent_host}-compute-{}", index / 50);
        let host_id = format!("{:016x}", SplitMix::new(seed ^ (index / 50)).next_u64());
        let tap = rng.uuid();
        let vnic = format!("tap{}", &tap[..11]);
        let mac = format!("fa:16:3e:{}:{}:{}", &tap[0..2], &tap[2..4], &tap[4..6]);
        let activity = 0.05 + 0.95 * rng.unit();
        // Booted some time within the 30 days before 2025-01-01.
        let launched_at = 1_735_689_600.0 - rng.unit() * 30.0 * 86_400.0;
        Self {
            index,
            id,
            name: format!("instance-{index:08x}"),
            display_name: format!("vm-{index}"),
            project_id,
            user_id,
            flavor,
            image_id,
            instance_host,
            host_id,
            vnic,
            mac,
            activity,
            launched_at,
        }
    }

    /// The instance metadata the compute agent attaches to instance meters
    /// (`ceilometer/compute/util.py`-shaped).
    pub fn metadata(&self) -> OwnedValue {
        let f = self.flavor;
        json!({
            "display_name": self.display_name.as_str(),
            "name": self.name.as_str(),
            "instance_id": self.id.as_str(),
            "instance_type": f.name,
            "host": self.host_id.as_str(),
            "instance_host": self.instance_host.as_str(),
            "flavor": {"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
                       "ephemeral": 0, "swap": 0},
            "status": "active",
            "state": "running",
            "task_state": "",
            "image": {"id": self.image_id.as_str()},
            "image_ref": self.image_id.as_str(),
            "image_ref_url": null,
            "architecture": "x86_64",
            "os_type": "hvm",
            "vcpus": f.vcpus,
            "memory_mb": f.ram,
            "disk_gb": f.disk,
            "ephemeral_gb": 0,
            "root_gb": f.disk,
        })
    }

    /// `instance` (its [`Self::metadata`]) plus `cpu_number`, as the compute agent's cpu
    /// pollster sends.
    pub fn cpu_metadata(&self, instance: &OwnedValue) -> OwnedValue {
        with_key(instance, "cpu_number", OwnedValue::from(self.flavor.vcpus))
    }

    /// `instance` plus `disk_name`, as the per-device disk pollsters send.
    pub fn disk_metadata(&self, instance: &OwnedValue, disk: &str) -> OwnedValue {
        with_key(instance, "disk_name", OwnedValue::from(disk))
    }

    /// The interface metadata of the compute agent's network pollsters.
    pub fn vnic_metadata(&self) -> OwnedValue {
        json!({
            "name": self.vnic.as_str(),
            "mac": self.mac.as_str(),
            "fref": null,
            "parameters": {"interfaceid": null, "bridge": null},
            "vnic_name": self.vnic.as_str(),
            "instance_id": self.id.as_str(),
            "instance_type": self.flavor.name,
        })
    }
}

fn with_key(map: &OwnedValue, key: &str, value: OwnedValue) -> OwnedValue {
    let mut m = map.clone();
    if let Some(o) = simd_json::prelude::ValueAsMutObject::as_object_mut(&mut m) {
        o.insert(key.into(), value);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> PollingOptions {
        PollingOptions {
            host: Some("agent-1".into()),
            fleet_size: 7,
            ..Default::default()
        }
    }

    #[test]
    fn parses_discoverer_names() {
        let o = options();
        assert_eq!(
            Discoverer::parse("local_node", &o).unwrap(),
            Discoverer::LocalNode
        );
        assert_eq!(Discoverer::parse("fleet", &o).unwrap(), Discoverer::Fleet(7));
        assert_eq!(
            Discoverer::parse("fleet:100000", &o).unwrap(),
            Discoverer::Fleet(100_000)
        );
        assert_eq!(
            Discoverer::parse("endpoint:metric", &o).unwrap(),
            Discoverer::Endpoint("metric".into())
        );
        for bad in ["fleet:x", "fleet:-1", "fleet:4294967296"] {
            assert!(
                matches!(Discoverer::parse(bad, &o), Err(DiscoveryError::Invalid { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            Discoverer::parse("local_instances", &o).unwrap(),
            Discoverer::LocalInstances
        );
        assert!(matches!(
            Discoverer::parse("local_instances:x", &o),
            Err(DiscoveryError::Unknown(_))
        ));
    }

    #[test]
    fn a_listed_resource_is_24_bytes_and_a_fleet_instance_nothing_more() {
        // A fleet's list is as long as the fleet: this is its cost per instance.
        assert_eq!(std::mem::size_of::<Resource>(), 24);
    }

    #[tokio::test]
    async fn the_fleet_is_stable_across_agents_with_the_same_seed() {
        let (da, db) = (Discovery::new(&options()), Discovery::new(&options()));
        let a = da.discover(&Discoverer::Fleet(50)).await;
        let b = db.discover(&Discoverer::Fleet(50)).await;
        let ids = |r: &[Resource]| r.iter().map(|r| r.key().to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        let unique: std::collections::HashSet<_> = ids(&a).into_iter().collect();
        assert_eq!(unique.len(), 50);
        let Resource::Instance(i) = &a[3] else { panic!() };
        let Resource::Instance(j) = &b[3] else { panic!() };
        let (i, j) = (da.fleet().details(i), db.fleet().details(j));
        // The key is the uuid the samples carry.
        assert_eq!(&*a[3].key(), i.id);
        assert_eq!(uuid::Uuid::parse_str(&i.id).unwrap().get_version_num(), 4);
        assert_eq!(
            (&i.project_id, &i.user_id, i.flavor.name),
            (&j.project_id, &j.user_id, j.flavor.name)
        );
        assert_eq!(i.project_id.len(), 32);
        // Instances share projects.
        let projects: std::collections::HashSet<_> = a
            .iter()
            .map(|r| match r {
                Resource::Instance(i) => da.fleet().details(i).project_id,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(projects.len(), 3);
    }

    #[tokio::test]
    async fn a_cycle_runs_each_discoverer_once() {
        let d = Discovery::new(&options());
        let mut cycle = DiscoveryCycle::new(&d);
        let fleet = vec![("fleet".to_string(), Discoverer::Fleet(7))];
        let first = cycle.resources(&fleet).await;
        let again = cycle.resources(&fleet).await;
        assert_eq!(first.len(), 7);
        assert_eq!(again.len(), 7);
        assert_eq!(cycle.runs(), 1);
        let local = vec![("local_node".to_string(), Discoverer::LocalNode)];
        let local = cycle.resources(&local).await;
        assert_eq!(
            local.iter().next().map(|r| r.key().to_string()).as_deref(),
            Some("agent-1")
        );
        assert_eq!(cycle.runs(), 2);
    }

    #[tokio::test]
    async fn endpoints_come_from_the_settings() {
        let mut o = options();
        o.endpoints
            .insert("metric".into(), vec!["http://127.0.0.1:1/".into()]);
        let d = Discovery::new(&o);
        assert_eq!(d.discover(&Discoverer::Endpoint("metric".into())).await.len(), 1);
        assert_eq!(d.discover(&Discoverer::Endpoint("other".into())).await.len(), 0);
    }
}
