//! Cinder's pollsters, as Ceilometer 27's `ceilometer/volume/cinder.py` polls them through its
//! discoveries (`ceilometer/volume/discovery.py`, openstacksdk's block-storage client):
//!
//! | meter | discoverer | listed with |
//! |---|---|---|
//! | `volume.size` | `volumes` | `GET <cinder>/volumes/detail?all_tenants=True` |
//! | `volume.snapshot.size` | `volume_snapshots` | `GET <cinder>/snapshots/detail?all_tenants=True` |
//! | `volume.backup.size` | `volume_backups` | `GET <cinder>/backups/detail?all_tenants=True` |
//! | `volume.service.health` | `volume_services` | `GET <cinder>/os-services` |
//! | `volume.provider.pool.capacity.` `total`, `free`, `provisioned`, `virtual_free`, `allocated` | `volume_pools` | `GET <cinder>/scheduler-stats/get_pools?detail=True` |
//!
//! * Cinder's endpoint is the token's catalog entry of `[service_types] cinder` (`volumev3`;
//!   its aliases `block-storage`, `volumev2`, `volume`, `block-store` too, as keystoneauth1
//!   matches them), of `[service_credentials] interface` in `region_name`; with no such entry
//!   the discoverer yields nothing and says so (Ceilometer: "Skipping volumes, volumev3 service
//!   is not registered in keystone").
//! * Every request carries the agent's Keystone token ([`crate::keystone`], renewed on 401) and
//!   the microversion openstacksdk sends for Ceilometer: `volume 3.64`, the one Ceilometer asks
//!   for, but 3.32 for services (the SDK's cap for them; from 3.49 Cinder asks its scheduler
//!   for every backend's state, and without one the listing fails after a minute); lists follow
//!   Cinder's `<collection>_links` `next` pages, each read up to 8 MiB (a page of Cinder's
//!   default 1000 volumes is about 2 MB).
//! * Samples: gauges in GiB of the record's `size`, the ids and metadata fields Ceilometer's
//!   pollsters take from openstacksdk's attributes, read from the wire names those attributes
//!   map to (`project_id` is `os-vol-tenant-attr:tenant_id` on a volume, and so on). An
//!   attribute the reply lacks is `null`, as openstacksdk gives it. A service's health is 1
//!   when its `state` is `up`, 0 when `down`, its resource `<binary>@<host>`. A pool's
//!   capacities are read from its `capabilities` as Ceilometer's five pool pollsters read them
//!   ([`pool_capacities`]), its resource the pool's name (`<host>@<backend>#<pool>`).
//!
//! Where ceilo differs, and why:
//! * Ceilometer 27 polls nothing from Cinder (seen with openstacksdk 4.22, what pip installs
//!   beside it): its client hands its oslo config to openstacksdk, which enables
//!   block-storage only when the config has a registered `[cinder]` group, and
//!   Ceilometer registers none ("Service 'block-storage' is disabled because its configuration
//!   could not be loaded"; with the default `cinder = volumev3`, "Not in the list of requested
//!   service_types"). ceilo polls what those pollsters were written to poll; its samples are
//!   the ones Ceilometer makes once that group exists (tests/keystone.rs runs the two side by
//!   side, Ceilometer with the group registered).
//! * A volume attached to something without a `server_id`: Ceilometer's pollster raises and
//!   that poll of `volume.size` sends nothing; ceilo sends the sample with `instance_id` null.
//! * Cinder unreachable or refusing: both log it and poll nothing from that discoverer this
//!   cycle; ceilo names the URL and the status.
//! * A service in a state other than up or down, a pool without a capacity its arithmetic
//!   needs: Ceilometer's pollster raises, ending that poll of the meter; ceilo reports that
//!   service or pool (transient) and samples the others.
//! * With coordination on, a record is placed on the hash ring by its id; Ceilometer places
//!   the `str()` of openstacksdk's object (every attribute and the connection's location), which
//!   no other client can reproduce: ceilo and Ceilometer agents must not share a `central`
//!   group for Cinder's discoverers.

use std::sync::Arc;

use simd_json::json;
use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use super::service_api::{as_bool, as_int, as_list, ServiceApi, Session};
use crate::model::{py, Metadata, OwnedValue, Sample};

/// Ceilometer's block-storage microversion: user ids on snapshots need 3.41, user and
/// project ids on backups 3.56, `volume_type_id` on volumes 3.63.
const MICROVERSION: &str = "volume 3.64";
/// openstacksdk's cap for services (what Ceilometer's `list_services` sends).
const SERVICES_MICROVERSION: &str = "volume 3.32";
/// The block-storage service type and its aliases (os-service-types), which keystoneauth1
/// treats as one when it looks a type up in the catalog.
const BLOCK_STORAGE: [&str; 5] = ["block-storage", "volumev3", "volumev2", "volume", "block-store"];

/// What a Cinder discoverer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listing {
    Volumes,
    Snapshots,
    Backups,
    Services,
    Pools,
}

impl Listing {
    pub const ALL: [Listing; 5] = [
        Listing::Volumes,
        Listing::Snapshots,
        Listing::Backups,
        Listing::Services,
        Listing::Pools,
    ];

    /// The discoverer's name in polling.yaml.
    pub fn discoverer(self) -> &'static str {
        match self {
            Listing::Volumes => "volumes",
            Listing::Snapshots => "volume_snapshots",
            Listing::Backups => "volume_backups",
            Listing::Services => "volume_services",
            Listing::Pools => "volume_pools",
        }
    }

    pub fn from_discoverer(name: &str) -> Option<Listing> {
        Listing::ALL.into_iter().find(|l| l.discoverer() == name)
    }

    /// The reply's list (and the prefix of its `_links`).
    fn collection(self) -> &'static str {
        match self {
            Listing::Volumes => "volumes",
            Listing::Snapshots => "snapshots",
            Listing::Backups => "backups",
            Listing::Services => "services",
            Listing::Pools => "pools",
        }
    }

    /// What is asked for under the endpoint, and with which microversion.
    fn request(self) -> (&'static str, &'static str) {
        match self {
            Listing::Volumes => ("volumes/detail?all_tenants=True", MICROVERSION),
            Listing::Snapshots => ("snapshots/detail?all_tenants=True", MICROVERSION),
            Listing::Backups => ("backups/detail?all_tenants=True", MICROVERSION),
            Listing::Services => ("os-services", SERVICES_MICROVERSION),
            Listing::Pools => ("scheduler-stats/get_pools?detail=True", MICROVERSION),
        }
    }
}

/// A Cinder pollster: one meter, sampled from what one discoverer lists (a pool gives five).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meter {
    VolumeSize,
    SnapshotSize,
    BackupSize,
    ServiceHealth,
    PoolTotal,
    PoolFree,
    PoolProvisioned,
    PoolVirtualFree,
    PoolAllocated,
}

impl Meter {
    pub const ALL: [Meter; 9] = [
        Meter::VolumeSize,
        Meter::SnapshotSize,
        Meter::BackupSize,
        Meter::ServiceHealth,
        Meter::PoolTotal,
        Meter::PoolFree,
        Meter::PoolProvisioned,
        Meter::PoolVirtualFree,
        Meter::PoolAllocated,
    ];

    /// The discoverer whose records it samples (its default discovery).
    pub fn listing(self) -> Listing {
        match self {
            Meter::VolumeSize => Listing::Volumes,
            Meter::SnapshotSize => Listing::Snapshots,
            Meter::BackupSize => Listing::Backups,
            Meter::ServiceHealth => Listing::Services,
            _ => Listing::Pools,
        }
    }

    fn spec(self) -> MeterSpec {
        let (name, unit) = match self {
            Meter::VolumeSize => ("volume.size", "GiB"),
            Meter::SnapshotSize => ("volume.snapshot.size", "GiB"),
            Meter::BackupSize => ("volume.backup.size", "GiB"),
            Meter::ServiceHealth => ("volume.service.health", "health"),
            Meter::PoolTotal => ("volume.provider.pool.capacity.total", "GiB"),
            Meter::PoolFree => ("volume.provider.pool.capacity.free", "GiB"),
            Meter::PoolProvisioned => ("volume.provider.pool.capacity.provisioned", "GiB"),
            Meter::PoolVirtualFree => ("volume.provider.pool.capacity.virtual_free", "GiB"),
            Meter::PoolAllocated => ("volume.provider.pool.capacity.allocated", "GiB"),
        };
        MeterSpec::new(name, "gauge", unit)
    }
}

/// One volume, snapshot, backup, service or pool, as Cinder listed it: what its sample takes from
/// the reply, read when it is listed. The reply itself is not kept (most of a volume's — links,
/// its own metadata, timestamps, flags — no sample uses), so a poll of a large cloud holds
/// only that.
#[derive(Debug)]
pub struct Record {
    pub listing: Listing,
    /// Its key for logs and the partition ring: the record's `id` ("" when it has none), a
    /// service's `<binary>@<host>`, a pool's name.
    pub id: Arc<str>,
    /// The value of each meter that has a sample of it, or why Ceilometer's pollster would
    /// raise instead (a service in an unknown state, a pool without a capacity it needs).
    values: Vec<(Meter, Result<OwnedValue, String>)>,
    user_id: OwnedValue,
    project_id: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl Record {
    pub fn new(listing: Listing, body: OwnedValue) -> Record {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        let id = match listing {
            Listing::Services => service_id(&body),
            Listing::Pools => body
                .get("name")
                .map(|n| py::repr::str_of(n).into_owned())
                .unwrap_or_default(),
            _ => body.get_str("id").unwrap_or_default().to_owned(),
        };
        let (values, user_id, project_id, resource_id) = match listing {
            Listing::Services => {
                let health = vec![(Meter::ServiceHealth, health(&body))];
                (health, null(), null(), OwnedValue::from(id.as_str()))
            }
            Listing::Pools => (pool_capacities(&body), null(), null(), field("name")),
            listing => {
                let (meter, project_key) = match listing {
                    Listing::Volumes => (Meter::VolumeSize, "os-vol-tenant-attr:tenant_id"),
                    Listing::Snapshots => (Meter::SnapshotSize, "os-extended-snapshot-attributes:project_id"),
                    _ => (Meter::BackupSize, "os-backup-project-attr:project_id"),
                };
                let size = vec![(meter, Ok(as_int(field("size"))))];
                (size, field("user_id"), field(project_key), field("id"))
            }
        };
        Record {
            listing,
            id: id.into(),
            values,
            user_id,
            project_id,
            resource_id,
            metadata: metadata(listing, &body),
        }
    }

    /// Ceilometer's sample of the record for `meter`, if it sends one.
    fn sample(&self, meter: Meter, spec: &MeterSpec, ctx: &PollContext) -> Result<Option<Sample>, PollError> {
        let Some((_, value)) = self.values.iter().find(|(m, _)| *m == meter) else {
            return Ok(None);
        };
        let volume = value.clone().map_err(PollError::Transient)?;
        Ok(Some(ctx.sample(
            spec,
            volume,
            self.user_id.clone(),
            self.project_id.clone(),
            self.resource_id.clone(),
            self.metadata.clone(),
            null(),
        )))
    }
}

/// `f'{svc.binary}@{svc.host}'` (an attribute the reply lacks is `None`).
fn service_id(body: &OwnedValue) -> String {
    let text = |name: &str| body.get(name).map_or("None".into(), |v| py::repr::str_of(v));
    format!("{}@{}", text("binary"), text("host"))
}

/// The Cinder API, reached through the agent's Keystone session: the catalog's entry of
/// `service_type` or one of its aliases.
pub fn api(session: Session, service_type: &str) -> ServiceApi {
    ServiceApi::new("Cinder", session, catalog_types(service_type))
}

/// Every record of `listing`, in every project, page by page.
pub async fn list(cinder: &ServiceApi, listing: Listing) -> Result<Vec<Record>, String> {
    let endpoint = cinder.endpoint().await?;
    let (path, microversion) = listing.request();
    cinder
        .list(
            format!("{endpoint}/{path}"),
            &[("openstack-api-version", microversion)],
            |reply| read_page(listing, reply),
        )
        .await
}

/// The catalog types Cinder is looked up by, in turn: `service_type`, then its aliases.
fn catalog_types(service_type: &str) -> Vec<String> {
    let mut types = vec![service_type.to_owned()];
    if BLOCK_STORAGE.contains(&service_type) {
        types.extend(
            BLOCK_STORAGE
                .iter()
                .filter(|t| **t != service_type)
                .map(|t| t.to_string()),
        );
    }
    types
}

/// The records of one page of `listing` as Cinder answered it, and the next page's URL.
pub fn read_page(listing: Listing, reply: &[u8]) -> Result<(Vec<Record>, Option<String>), String> {
    let collection = listing.collection();
    let mut page =
        simd_json::to_owned_value(&mut reply.to_vec()).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let next = next_page(&page, collection);
    let Some(OwnedValue::Array(items)) = page.get_mut(collection).map(std::mem::take) else {
        return Err(format!("the reply has no {collection:?} list"));
    };
    Ok((
        items.into_iter().map(|body| Record::new(listing, body)).collect(),
        next,
    ))
}

/// The `next` link of a page (`<collection>_links`, as openstacksdk follows them).
fn next_page(page: &OwnedValue, collection: &str) -> Option<String> {
    let links = page.get(format!("{collection}_links").as_str())?.as_array()?;
    links
        .iter()
        .find(|l| l.get_str("rel") == Some("next"))
        .and_then(|l| l.get_str("href"))
        .map(str::to_owned)
}

/// The pollster of one [`Meter`].
pub struct CinderPollster {
    meter: Meter,
    meters: [MeterSpec; 1],
}

impl CinderPollster {
    pub fn new(meter: Meter) -> CinderPollster {
        CinderPollster {
            meter,
            meters: [meter.spec()],
        }
    }

    /// Its meter's name, as Ceilometer names its pollsters.
    pub fn name(&self) -> &str {
        &self.meters[0].name
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub fn default_discovery(&self) -> String {
        self.meter.listing().discoverer().into()
    }

    pub fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        if !mask.first().copied().unwrap_or(false) {
            return Ok(());
        }
        let listing = self.meter.listing();
        let Resource::Cinder(record) = resource else {
            return Err(PollError::not_listed(
                &self.meters[0].name,
                listing.discoverer(),
                resource.key(),
            ));
        };
        if record.listing != listing {
            return Err(PollError::Permanent(format!(
                "{} polls what the {} discoverer lists, not what {} lists",
                self.meters[0].name,
                listing.discoverer(),
                record.listing.discoverer()
            )));
        }
        out.extend(record.sample(self.meter, &self.meters[0], ctx)?);
        Ok(())
    }
}

/// A pool's capacities as Ceilometer's five pool pollsters read its `capabilities`: total and
/// free when set (not null), provisioned and virtual free when provisioned is set and not 0,
/// allocated always (where a capacity they need is missing or not a number, their
/// arithmetic raises: an `Err` here).
fn pool_capacities(body: &OwnedValue) -> Vec<(Meter, Result<OwnedValue, String>)> {
    let caps = body.get("capabilities");
    let cap = |key: &str| caps.and_then(|c| c.get(key));
    let set = |key: &str| cap(key).filter(|v| !v.is_null()).cloned();
    let mut out = Vec::new();
    if let Some(total) = set("total_capacity_gb") {
        out.push((Meter::PoolTotal, Ok(total)));
    }
    if let Some(free) = set("free_capacity_gb") {
        out.push((Meter::PoolFree, Ok(free)));
    }
    if let Some(provisioned) = cap("provisioned_capacity_gb").filter(|v| py::truthy(*v)) {
        out.push((Meter::PoolProvisioned, Ok(provisioned.clone())));
        out.push((Meter::PoolVirtualFree, virtual_free(&cap).map(OwnedValue::from)));
    }
    let allocated = cap("allocated_capacity_gb").cloned();
    out.push((
        Meter::PoolAllocated,
        allocated.ok_or_else(|| "no allocated_capacity_gb".into()),
    ));
    out
}

/// What a thin pool can still promise: `ratio × (total − floor(reserved% × total)) −
/// provisioned`, the ratio `max_over_subscription_ratio` when thin provisioning is supported
/// and 1 otherwise, as Ceilometer computes it (always a float).
fn virtual_free<'a>(cap: &dyn Fn(&str) -> Option<&'a OwnedValue>) -> Result<f64, String> {
    let number = |key: &str| -> Result<f64, String> {
        let v = cap(key).ok_or_else(|| format!("no {key}"))?;
        match v {
            OwnedValue::Static(node) => py::Num::from_static(*node)
                .map(py::Num::as_f64)
                .ok_or_else(|| format!("{key} is not a number")),
            _ => Err(format!("{key} is not a number: {}", py::repr::str_of(v))),
        }
    };
    let total = number("total_capacity_gb")?;
    let reserved = (number("reserved_percentage")? / 100.0 * total).floor();
    let thin = cap("thin_provisioning_support").ok_or("no thin_provisioning_support")?;
    let ratio = match (py::truthy(thin), cap("max_over_subscription_ratio")) {
        (false, _) | (true, None) => 1.0,
        (true, Some(r)) => py::float_of(r).map_err(|_| {
            format!(
                "max_over_subscription_ratio {} is not a number",
                py::repr::str_of(r)
            )
        })?,
    };
    Ok(ratio * (total - reserved) - number("provisioned_capacity_gb")?)
}

/// A service's health: 1 up, 0 down (its `state`, any case), as Ceilometer's `SERVICE_STATE`.
fn health(body: &OwnedValue) -> Result<OwnedValue, String> {
    let state = body.get_str("state").unwrap_or_default().to_lowercase();
    match state.as_str() {
        "up" => Ok(OwnedValue::from(1)),
        "down" => Ok(OwnedValue::from(0)),
        _ => Err(format!(
            "unknown service state {:?} for {}",
            body.get("state").map(|s| py::repr::str_of(s).into_owned()),
            service_id(body)
        )),
    }
}

/// The metadata fields of Ceilometer's pollster, from the wire names of openstacksdk's
/// attributes.
fn metadata(listing: Listing, body: &OwnedValue) -> Metadata {
    let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
    let meta = match listing {
        Listing::Volumes => {
            // `obj.volume_image_metadata.get("image_id")` when it is set and not empty, and
            // `obj.attachments[0]["server_id"]` when there are attachments.
            let set = |name: &str| body.get(name).filter(|v| py::truthy(*v));
            let image_id = set("volume_image_metadata").and_then(|m| m.get("image_id"));
            let instance_id = set("attachments")
                .and_then(|a| a.get_idx(0))
                .and_then(|a| a.get("server_id"));
            let (image_id, instance_id) = (
                image_id.cloned().unwrap_or_else(null),
                instance_id.cloned().unwrap_or_else(null),
            );
            json!({
                "name": field("name"),
                "status": field("status"),
                "volume_type": field("volume_type"),
                "volume_type_id": field("volume_type_id"),
                "availability_zone": field("availability_zone"),
                "migration_status": field("os-vol-mig-status-attr:migstat"),
                "attachments": as_list(field("attachments")),
                "snapshot_id": field("snapshot_id"),
                "image_id": image_id,
                "instance_id": instance_id,
                "os-vol-host-attr:host": field("os-vol-host-attr:host"),
                "source_volid": field("source_volid"),
            })
        }
        Listing::Snapshots => json!({
            "name": field("name"),
            "volume_id": field("volume_id"),
            "status": field("status"),
            "description": field("description"),
            "metadata": field("metadata"),
            "os-extended-snapshot-attributes:progress": field("os-extended-snapshot-attributes:progress"),
        }),
        Listing::Pools => {
            // `caps.get("pool_name") or None`, and the name up to its `#` (`<host>@<backend>`).
            let pool_name = body
                .get("capabilities")
                .and_then(|c| c.get("pool_name"))
                .filter(|v| py::truthy(*v))
                .cloned()
                .unwrap_or_else(null);
            let provider = body
                .get_str("name")
                .map_or_else(null, |n| OwnedValue::from(n.split('#').next().unwrap_or(n)));
            json!({"pool_name": pool_name, "provider": provider})
        }
        Listing::Services => json!({
            "binary": field("binary"),
            "host": field("host"),
            "status": field("status"),
            "zone": field("zone"),
        }),
        Listing::Backups => json!({
            "name": field("name"),
            "is_incremental": as_bool(field("is_incremental")),
            "object_count": as_int(field("object_count")),
            "container": field("container"),
            "volume_id": field("volume_id"),
            "status": field("status"),
            "description": field("description"),
        }),
    };
    Arc::new(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(listing: Listing, body: OwnedValue) -> Record {
        Record::new(listing, body)
    }

    /// The sample of the (first) meter of `listing`.
    fn poll(listing: Listing, body: OwnedValue) -> Sample {
        let meter = Meter::ALL.into_iter().find(|m| m.listing() == listing).unwrap();
        let mut out = poll_meter(meter, body).expect("polled");
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    }

    fn poll_meter(meter: Meter, body: OwnedValue) -> Result<Vec<Sample>, PollError> {
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let resource = Resource::Cinder(Arc::new(record(meter.listing(), body)));
        CinderPollster::new(meter).poll(&resource, &[true], &ctx, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_volume_is_sampled_with_ceilometers_ids_and_metadata() {
        let s = poll(
            Listing::Volumes,
            json!({
                "id": "v-1", "size": 3, "user_id": "u", "os-vol-tenant-attr:tenant_id": "p",
                "name": "data", "status": "in-use", "volume_type": "ssd", "volume_type_id": "t",
                "availability_zone": "nova", "migration_status": "ignored",
                "os-vol-mig-status-attr:migstat": "migrating",
                "attachments": [{"server_id": "i-1"}, {"server_id": "i-2"}],
                "volume_image_metadata": {"image_id": "img"},
                "os-vol-host-attr:host": "h@lvm#pool", "source_volid": "v-0"
            }),
        );
        assert_eq!(&*s.name, "volume.size");
        assert_eq!((&*s.sample_type, &*s.unit), ("gauge", "GiB"));
        assert_eq!(s.volume, 3);
        assert_eq!(
            (s.user_id.as_str(), s.project_id.as_str()),
            (Some("u"), Some("p"))
        );
        assert_eq!(s.resource_id.as_str(), Some("v-1"));
        let m = &*s.resource_metadata;
        assert_eq!(
            m["migration_status"], "migrating",
            "the SDK's migration_status is migstat"
        );
        assert_eq!(m["instance_id"], "i-1");
        assert_eq!(m["image_id"], "img");
        assert_eq!(m["os-vol-host-attr:host"], "h@lvm#pool");
        assert_eq!(m["source_volid"], "v-0");
        assert_eq!(
            m["snapshot_id"],
            OwnedValue::null(),
            "absent: null, as the SDK gives it"
        );
        assert_eq!(m.as_object().unwrap().len(), 12);
    }

    #[test]
    fn a_detached_volume_without_image_has_null_instance_and_image() {
        let s = poll(
            Listing::Volumes,
            json!({"id": "v", "size": "2", "attachments": [], "volume_image_metadata": {}}),
        );
        assert_eq!(s.volume, 2, "int(size)");
        assert_eq!(s.resource_metadata["instance_id"], OwnedValue::null());
        assert_eq!(s.resource_metadata["image_id"], OwnedValue::null());
        let s = poll(Listing::Volumes, json!({"id": "v", "attachments": [{"id": "a"}]}));
        assert_eq!(s.resource_metadata["instance_id"], OwnedValue::null());
        assert_eq!(s.volume, OwnedValue::null());
    }

    #[test]
    fn snapshots_and_backups_take_their_projects_and_fields() {
        let s = poll(
            Listing::Snapshots,
            json!({"id": "s", "size": 1, "user_id": "u",
                   "os-extended-snapshot-attributes:project_id": "p",
                   "os-extended-snapshot-attributes:progress": "100%", "metadata": {"k": "v"}}),
        );
        assert_eq!(&*s.name, "volume.snapshot.size");
        assert_eq!(s.project_id.as_str(), Some("p"));
        assert_eq!(
            s.resource_metadata["os-extended-snapshot-attributes:progress"],
            "100%"
        );
        assert_eq!(s.resource_metadata["metadata"]["k"], "v");
        assert_eq!(s.resource_metadata.as_object().unwrap().len(), 6);
        let b = poll(
            Listing::Backups,
            json!({"id": "b", "size": 5, "user_id": "u", "os-backup-project-attr:project_id": "p",
                   "is_incremental": 1, "object_count": "7", "container": "c"}),
        );
        assert_eq!(&*b.name, "volume.backup.size");
        assert_eq!(b.project_id.as_str(), Some("p"));
        assert_eq!(b.resource_metadata["is_incremental"], true, "bool(1)");
        assert_eq!(b.resource_metadata["object_count"], 7, "int('7')");
        assert_eq!(b.resource_metadata.as_object().unwrap().len(), 7);
    }

    #[test]
    fn a_services_health_is_its_state_and_its_resource_binary_at_host() {
        let body = json!({"binary": "cinder-volume", "host": "h@lvm", "zone": "nova", "status": "enabled",
                          "state": "UP", "updated_at": "2026-12-06T12:00:00"});
        let s = poll(Listing::Services, body);
        assert_eq!((&*s.name, &*s.unit), ("volume.service.health", "health"));
        assert_eq!(s.volume, 1);
        assert_eq!(s.resource_id, "cinder-volume@h@lvm");
        assert_eq!((s.user_id.is_null(), s.project_id.is_null()), (true, true));
        assert_eq!(s.resource_metadata["zone"], "nova");
        assert_eq!(s.resource_metadata.as_object().unwrap().len(), 4);
        assert_eq!(
            poll(Listing::Services, json!({"host": "h", "state": "down"})).resource_id,
            "None@h"
        );
        let ctx = PollContext::now("src".into());
        let odd = Resource::Cinder(Arc::new(record(
            Listing::Services,
            json!({"binary": "b", "host": "h", "state": "frozen"}),
        )));
        let err = CinderPollster::new(Meter::ServiceHealth)
            .poll(&odd, &[true], &ctx, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(err, PollError::Transient(_)), "{err}");
        assert!(err.to_string().contains("b@h"), "{err}");
    }

    fn pool(caps: OwnedValue) -> OwnedValue {
        json!({"name": "node-1@lvm#pool", "capabilities": caps})
    }

    /// The value of `meter`'s sample of the pool, `None` when there is none.
    fn capacity(meter: Meter, caps: OwnedValue) -> Result<Option<OwnedValue>, PollError> {
        let mut out = poll_meter(meter, pool(caps))?;
        Ok(out.pop().map(|s| s.volume))
    }

    #[test]
    fn a_pool_gives_ceilometers_five_capacities() {
        let caps = json!({"pool_name": "pool", "total_capacity_gb": 100, "free_capacity_gb": 60.5,
            "provisioned_capacity_gb": 30, "allocated_capacity_gb": 25, "reserved_percentage": 10,
            "thin_provisioning_support": true, "max_over_subscription_ratio": "2.0"});
        let s = poll_meter(Meter::PoolTotal, pool(caps.clone()))
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(&*s.name, "volume.provider.pool.capacity.total");
        assert_eq!(
            (s.volume.clone(), s.resource_id.clone()),
            (json!(100), json!("node-1@lvm#pool"))
        );
        assert_eq!(
            *s.resource_metadata,
            json!({"pool_name": "pool", "provider": "node-1@lvm"})
        );
        let value = |m| capacity(m, caps.clone()).unwrap();
        assert_eq!(value(Meter::PoolFree), Some(json!(60.5)));
        assert_eq!(value(Meter::PoolProvisioned), Some(json!(30)));
        assert_eq!(value(Meter::PoolAllocated), Some(json!(25)));
        // 2.0 × (100 − floor(0.1 × 100)) − 30, a float as in Python.
        assert_eq!(value(Meter::PoolVirtualFree), Some(json!(150.0)));
        let mut thick = caps.clone();
        thick.insert("thin_provisioning_support", false).unwrap();
        assert_eq!(
            capacity(Meter::PoolVirtualFree, thick).unwrap(),
            Some(json!(60.0))
        );
    }

    #[test]
    fn a_pool_without_a_capacity_has_no_sample_of_it_or_an_error_where_ceilometer_raises() {
        let caps = json!({"total_capacity_gb": null, "provisioned_capacity_gb": 0});
        for meter in [
            Meter::PoolTotal,
            Meter::PoolFree,
            Meter::PoolProvisioned,
            Meter::PoolVirtualFree,
        ] {
            assert_eq!(capacity(meter, caps.clone()).unwrap(), None, "{meter:?}");
        }
        assert!(capacity(Meter::PoolAllocated, caps).is_err());
        let odd = json!({"total_capacity_gb": "infinite", "provisioned_capacity_gb": 5,
            "reserved_percentage": 0, "thin_provisioning_support": true, "allocated_capacity_gb": 0});
        let err = capacity(Meter::PoolVirtualFree, odd.clone()).unwrap_err();
        assert!(err.to_string().contains("total_capacity_gb"), "{err}");
        assert_eq!(capacity(Meter::PoolTotal, odd).unwrap(), Some(json!("infinite")));
        let s = poll_meter(
            Meter::PoolAllocated,
            json!({"name": "h@b", "capabilities": {"allocated_capacity_gb": 1}}),
        );
        let s = s.unwrap().pop().unwrap();
        assert_eq!(
            *s.resource_metadata,
            json!({"pool_name": null, "provider": "h@b"})
        );
    }

    #[test]
    fn a_pollster_refuses_what_another_discoverer_listed() {
        let ctx = PollContext::now("src".into());
        let volume = Resource::Cinder(Arc::new(record(Listing::Volumes, json!({"id": "v"}))));
        let err = CinderPollster::new(Meter::BackupSize)
            .poll(&volume, &[true], &ctx, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("volume_backups"), "{err}");
    }

    #[test]
    fn the_block_storage_aliases_follow_the_configured_type() {
        let types = catalog_types("volumev3");
        assert_eq!(types[..2], ["volumev3", "block-storage"]);
        assert_eq!(types.len(), 5);
        assert_eq!(catalog_types("my-cinder"), ["my-cinder"]);
    }

    #[test]
    fn next_pages_are_the_collections_next_links() {
        let page = json!({"volumes": [], "volumes_links": [{"rel": "self", "href": "a"}, {"rel": "next", "href": "b"}]});
        assert_eq!(next_page(&page, "volumes").as_deref(), Some("b"));
        assert_eq!(next_page(&json!({"volumes": []}), "volumes"), None);
    }
}
