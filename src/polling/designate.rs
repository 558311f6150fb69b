//! Designate's pollsters, `dns.zone.status`, `.recordsets`, `.ttl` and `.serial`, as Ceilometer
//! 27's `ceilometer/dns/designate.py` polls them through its `dns_zones` discoverer
//! (openstacksdk's DNS client):
//!
//! * Designate's endpoint is the token's catalog entry of `[service_types] designate` (`dns`),
//!   of `[service_credentials] interface` in `region_name`, versioned as openstacksdk versions
//!   it (`.../v2`).
//! * `GET <dns>/v2/zones` with the agent's Keystone token and `x-auth-all-projects: True`, then
//!   each page's `links.next` (Designate pages every listing, 20 records by default).
//! * A gauge per zone and meter: its `status` as Ceilometer's table numbers it ([`STATUS`]; -1
//!   with a warning for any other), the number of its recordsets (one more listing per zone,
//!   `GET <dns>/v2/zones/<id>/recordsets`, all pages, asked only when that meter is polled), its
//!   `ttl` in seconds and its SOA `serial` (0 when Designate gives none); `project_id` as
//!   project, the zone's `id` as resource, no user, and the nine attributes Ceilometer copies
//!   into the metadata, typed as openstacksdk types them ([`FIELDS`]).
//!
//! Ceilometer 27's discoverer hands the polling manager openstacksdk's generator, as Octavia's
//! does (see `octavia`): when one source polls several of these meters, Ceilometer sends only
//! the first pollster's samples. ceilo sends them all.

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, selected, MeterSpec, PollContext, PollError};
use super::service_api::{as_int, path_segment, status_volume, typed_metadata, Page, ServiceApi, Typed};
use crate::model::{Metadata, OwnedValue, Sample};

/// The discoverer's name in polling.yaml.
pub const DISCOVERER: &str = "dns_zones";

/// Ceilometer's numbers for a zone's `status`.
pub const STATUS: [(&str, i64); 4] = [("active", 1), ("pending", 2), ("error", 3), ("deleted", 4)];

/// The attributes Ceilometer copies into a sample's metadata: (their name in the metadata and in
/// Designate's reply, how openstacksdk reads them).
const FIELDS: [(&str, &str, Typed); 9] = [
    ("name", "name", Typed::AsSent),
    ("email", "email", Typed::AsSent),
    ("ttl", "ttl", Typed::Int),
    ("description", "description", Typed::AsSent),
    ("type", "type", Typed::AsSent),
    ("status", "status", Typed::AsSent),
    ("action", "action", Typed::AsSent),
    ("serial", "serial", Typed::Int),
    ("pool_id", "pool_id", Typed::AsSent),
];

/// What openstacksdk sends to list every project's records (`all_projects=True`).
const ALL_PROJECTS: [(&str, &str); 1] = [("x-auth-all-projects", "True")];

/// One zone as Designate listed it: what its samples take.
#[derive(Debug)]
pub struct Zone {
    /// Its key for logs, the partition ring and its recordsets' URL ("" when it has none).
    pub id: Arc<str>,
    status: Option<String>,
    ttl: OwnedValue,
    serial: OwnedValue,
    project_id: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl Zone {
    pub fn new(body: &OwnedValue) -> Zone {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        let metadata = typed_metadata(body, &FIELDS);
        Zone {
            id: body.get_str("id").unwrap_or_default().into(),
            status: body.get_str("status").map(str::to_owned),
            ttl: as_int(field("ttl")),
            serial: as_int(field("serial")),
            project_id: field("project_id"),
            resource_id: field("id"),
            metadata: Arc::new(OwnedValue::from(metadata)),
        }
    }
}

/// Every project's zones, page by page.
pub async fn zones(designate: &ServiceApi) -> Result<Vec<Zone>, String> {
    designate
        .list_versioned("v2", "zones", &ALL_PROJECTS, |reply| {
            read_page(reply, "zones", Zone::new)
        })
        .await
}

/// How many recordsets zone `id` has, every page counted.
pub async fn recordset_count(designate: &ServiceApi, id: &str) -> Result<usize, String> {
    let path = format!("zones/{}/recordsets", path_segment(id));
    let recordsets = designate
        .list_versioned("v2", &path, &ALL_PROJECTS, |reply| {
            read_page(reply, "recordsets", |_| ())
        })
        .await?;
    Ok(recordsets.len())
}

/// The records of one page of a Designate listing, under `key`, each made by `record`, and
/// the next page's URL: `links.next`, as Designate links its pages and openstacksdk follows them.
pub fn read_page<R>(reply: &[u8], key: &str, record: impl Fn(&OwnedValue) -> R) -> Result<Page<R>, String> {
    let page =
        simd_json::to_owned_value(&mut reply.to_vec()).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let Some(records) = page.get(key).and_then(|r| r.as_array()) else {
        return Err(format!("the reply has no {key:?} list"));
    };
    let next = page
        .get("links")
        .and_then(|links| links.get_str("next"))
        .map(str::to_owned);
    Ok((records.iter().map(record).collect(), next))
}

/// `dns.zone.status`, `.recordsets`, `.ttl`, `.serial`.
pub struct ZonePollster {
    meters: [MeterSpec; 4],
    /// Designate's API, asked for each zone's recordsets.
    designate: Arc<ServiceApi>,
}

impl ZonePollster {
    pub fn new(designate: Arc<ServiceApi>) -> ZonePollster {
        ZonePollster {
            meters: [
                MeterSpec::new("dns.zone.status", "gauge", "status"),
                MeterSpec::new("dns.zone.recordsets", "gauge", "recordset"),
                MeterSpec::new("dns.zone.ttl", "gauge", "second"),
                MeterSpec::new("dns.zone.serial", "gauge", "serial"),
            ],
            designate,
        }
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    /// A zone whose recordsets cannot be listed gets its other samples, and the error.
    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        let Resource::Zone(zone) = resource else {
            return Err(PollError::not_listed("dns.zone", DISCOVERER, resource.key()));
        };
        let mut failed = None;
        for (at, meter) in selected(&self.meters, mask) {
            let volume = match at {
                0 => {
                    let name = zone.metadata.get_str("name").unwrap_or("None");
                    let status = zone.status.as_deref();
                    OwnedValue::from(status_volume(&STATUS, status, &meter.name, name, &zone.id))
                }
                1 => match recordset_count(&self.designate, &zone.id).await {
                    Ok(count) => OwnedValue::from(count as u64),
                    Err(e) => {
                        failed = Some(PollError::Transient(format!(
                            "recordsets of zone {}: {e}",
                            zone.id
                        )));
                        continue;
                    }
                },
                2 => or_zero(&zone.ttl),
                _ => or_zero(&zone.serial),
            };
            out.push(ctx.sample(
                meter,
                volume,
                null(),
                zone.project_id.clone(),
                zone.resource_id.clone(),
                zone.metadata.clone(),
                null(),
            ));
        }
        failed.map_or(Ok(()), Err)
    }
}

/// An attribute as the pollsters' volume: 0 when Designate gives none.
fn or_zero(value: &OwnedValue) -> OwnedValue {
    if value.is_null() {
        OwnedValue::from(0)
    } else {
        value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"zones": [{"id": "z-1", "pool_id": "p-0", "project_id": "p-1",
        "name": "a.example.com.", "email": "admin@example.com", "description": null, "ttl": 3600,
        "serial": 1796654109, "shared": false, "status": "ACTIVE", "action": "NONE", "version": 1,
        "attributes": {}, "type": "PRIMARY", "masters": [], "links": {"self": "http://d/v2/zones/z-1"}}],
        "links": {"self": "http://d/v2/zones", "next": "http://d/v2/zones?marker=z-1"},
        "metadata": {"total_count": 3}}"#;

    /// The first zone of `reply` polled for the meters of `mask`, by a pollster that cannot
    /// reach Designate (no credentials).
    fn poll(reply: &str, mask: &[bool]) -> (Result<(), PollError>, Vec<Sample>) {
        let (zones, _) = read_page(reply.as_bytes(), "zones", Zone::new).expect("a page");
        let zone = Resource::Zone(Arc::new(zones.into_iter().next().expect("a zone")));
        let pollster = ZonePollster::new(Arc::new(ServiceApi::new(
            "Designate",
            Err("no credentials".into()),
            vec!["dns".into()],
        )));
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let result = runtime.block_on(pollster.poll(&zone, mask, &ctx, &mut out));
        (result, out)
    }

    fn samples_of(reply: &str, mask: &[bool]) -> Vec<Sample> {
        let (result, samples) = poll(reply, mask);
        result.expect("polled");
        samples
    }

    #[test]
    fn a_page_links_the_next_by_links_next() {
        let (zones, next) = read_page(PAGE.as_bytes(), "zones", Zone::new).unwrap();
        assert_eq!(&*zones[0].id, "z-1");
        assert_eq!(next.as_deref(), Some("http://d/v2/zones?marker=z-1"));
        let (_, last) = read_page(br#"{"zones": [], "links": {"self": "x"}}"#, "zones", Zone::new).unwrap();
        assert_eq!(last, None);
        assert!(read_page(br#"{"links": {}}"#, "zones", Zone::new).is_err());
    }

    #[test]
    fn a_zone_is_sampled_with_its_status_code_ttl_serial_and_nine_attributes() {
        let samples = samples_of(PAGE, &[true, false, true, true]);
        let names: Vec<&str> = samples.iter().map(|s| &*s.name).collect();
        assert_eq!(names, ["dns.zone.status", "dns.zone.ttl", "dns.zone.serial"]);
        assert_eq!(samples[0].volume, OwnedValue::from(1));
        assert_eq!(&*samples[0].unit, "status");
        assert_eq!(samples[1].volume, OwnedValue::from(3600));
        assert_eq!(&*samples[1].unit, "second");
        assert_eq!(samples[2].volume, OwnedValue::from(1796654109));
        let s = &samples[0];
        assert!(s.user_id.is_null());
        assert_eq!(s.project_id, OwnedValue::from("p-1"));
        assert_eq!(s.resource_id, OwnedValue::from("z-1"));
        let md = s.resource_metadata.as_object().unwrap();
        let keys: Vec<&str> = md.keys().map(|k| k.as_ref()).collect();
        let mut expected: Vec<&str> = FIELDS.iter().map(|(name, _, _)| *name).collect();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys_sorted, expected);
        assert!(md.get("description").is_some_and(|d| d.is_null()));
        assert_eq!(md.get("pool_id").and_then(|p| p.as_str()), Some("p-0"));
    }

    #[test]
    fn no_ttl_or_serial_is_zero_and_a_status_ceilometer_does_not_number_is_minus_one() {
        for status in [r#""SUCCESS""#, r#""""#, "null"] {
            let reply = format!(r#"{{"zones": [{{"id": "z-2", "status": {status}, "ttl": null}}]}}"#);
            let samples = samples_of(&reply, &[true, false, true, true]);
            assert_eq!(samples[0].volume, OwnedValue::from(-1), "{status}");
            assert_eq!(samples[1].volume, OwnedValue::from(0));
            assert_eq!(samples[2].volume, OwnedValue::from(0));
        }
    }

    #[test]
    fn the_int_attributes_are_typed_as_openstacksdk_types_them() {
        let samples = samples_of(
            r#"{"zones": [{"id": "z-3", "status": "pending", "ttl": "300", "serial": 7.9, "name": 5}]}"#,
            &[true, false, true, true],
        );
        assert_eq!(samples[0].volume, OwnedValue::from(2));
        assert_eq!(samples[1].volume, OwnedValue::from(300));
        assert_eq!(samples[2].volume, OwnedValue::from(7));
        let md = &*samples[0].resource_metadata;
        assert_eq!(md.get_i64("ttl"), Some(300));
        assert_eq!(
            md.get_i64("name"),
            Some(5),
            "an untyped attribute stays as it came"
        );
    }

    #[test]
    fn recordsets_that_cannot_be_listed_fail_that_meter_only() {
        let (result, out) = poll(PAGE, &[true, true, false, false]);
        assert!(
            matches!(result, Err(PollError::Transient(ref e)) if e.contains("z-1")),
            "{result:?}"
        );
        assert_eq!(out.len(), 1);
        assert_eq!(&*out[0].name, "dns.zone.status");
    }
}
