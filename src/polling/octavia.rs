//! Octavia's pollsters, `loadbalancer.operating` and `loadbalancer.provisioning`, as Ceilometer
//! 27's `ceilometer/load_balancer/octavia.py` polls them through its `lb_services` discoverer
//! (openstacksdk's load-balancer client):
//!
//! * Octavia's endpoint is the token's catalog entry of `[service_types] octavia`
//!   (`load-balancer`), of `[service_credentials] interface` in `region_name`, versioned as
//!   openstacksdk versions it (`.../v2`).
//! * `GET <octavia>/v2/lbaas/loadbalancers` with the agent's Keystone token, then each page's
//!   `loadbalancers_links` `next`. With the admin role, every project's load balancers.
//! * A sample per load balancer and meter: a gauge in `status` whose volume is its
//!   `operating_status` ([`OPERATING`]) or `provisioning_status` ([`PROVISIONING`]) as
//!   Ceilometer's tables number them (a status a table does not have is -1, with a warning), no
//!   user, its `project_id` as project, its `id` as resource, and the eight attributes
//!   Ceilometer copies into the metadata as Octavia sent them.
//!
//! Ceilometer 27's discoverer hands the polling manager openstacksdk's generator, which the
//! manager caches for the other pollsters of the same discoverer in that cycle already spent:
//! when one source (or two of the same interval) polls both meters, Ceilometer sends only the
//! first pollster's samples. ceilo sends both.
//!
//! As for the other central pollsters, with coordination on a load balancer is placed on the hash
//! ring by its id (Ceilometer: the `str()` of openstacksdk's object).

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, selected, MeterSpec, PollContext, PollError};
use super::service_api::{linked_page, status_volume, Page, ServiceApi};
use crate::model::{Metadata, OwnedValue, Sample};

/// The discoverer's name in polling.yaml.
pub const DISCOVERER: &str = "lb_services";

/// Ceilometer's numbers for a load balancer's `operating_status`.
pub const OPERATING: [(&str, i64); 6] = [
    ("online", 1),
    ("draining", 2),
    ("offline", 3),
    ("degraded", 4),
    ("error", 5),
    ("no_monitor", 6),
];

/// Ceilometer's numbers for a load balancer's `provisioning_status`.
pub const PROVISIONING: [(&str, i64); 6] = [
    ("active", 1),
    ("deleted", 2),
    ("error", 3),
    ("pending_create", 4),
    ("pending_update", 5),
    ("pending_delete", 6),
];

/// The attributes Ceilometer's pollsters copy into a sample's metadata.
const FIELDS: [&str; 8] = [
    "name",
    "availability_zone",
    "vip_address",
    "vip_port_id",
    "provisioning_status",
    "operating_status",
    "provider",
    "flavor_id",
];

/// One load balancer as Octavia listed it: what its samples take.
#[derive(Debug)]
pub struct LoadBalancer {
    /// Its key for logs and the partition ring ("" when it has none).
    pub id: Arc<str>,
    /// `operating_status`, `provisioning_status`.
    statuses: [Option<String>; 2],
    project_id: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl LoadBalancer {
    pub fn new(body: &OwnedValue) -> LoadBalancer {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        let metadata: simd_json::owned::Object =
            FIELDS.iter().map(|name| ((*name).into(), field(name))).collect();
        let status = |name: &str| body.get_str(name).map(str::to_owned);
        LoadBalancer {
            id: body.get_str("id").unwrap_or_default().into(),
            statuses: [status("operating_status"), status("provisioning_status")],
            project_id: field("project_id"),
            resource_id: field("id"),
            metadata: Arc::new(OwnedValue::from(metadata)),
        }
    }
}

/// Every load balancer the agent's user may see, page by page.
pub async fn load_balancers(octavia: &ServiceApi) -> Result<Vec<LoadBalancer>, String> {
    octavia
        .list_versioned("v2", "lbaas/loadbalancers", &[], read_page)
        .await
}

/// The load balancers of one page of Octavia's listing, and the next page's URL.
pub fn read_page(reply: &[u8]) -> Result<Page<LoadBalancer>, String> {
    linked_page(reply, "loadbalancers", LoadBalancer::new)
}

/// `loadbalancer.operating`, `loadbalancer.provisioning`.
pub struct LoadBalancerPollster {
    meters: [MeterSpec; 2],
}

impl Default for LoadBalancerPollster {
    fn default() -> Self {
        LoadBalancerPollster {
            meters: [
                MeterSpec::new("loadbalancer.operating", "gauge", "status"),
                MeterSpec::new("loadbalancer.provisioning", "gauge", "status"),
            ],
        }
    }
}

impl LoadBalancerPollster {
    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        let Resource::LoadBalancer(lb) = resource else {
            return Err(PollError::not_listed("loadbalancer", DISCOVERER, resource.key()));
        };
        let tables: [&[(&str, i64)]; 2] = [&OPERATING, &PROVISIONING];
        for (at, meter) in selected(&self.meters, mask) {
            let status = lb.statuses[at].as_deref();
            let name = lb.metadata.get_str("name").unwrap_or("None");
            let volume = status_volume(tables[at], status, &meter.name, name, &lb.id);
            out.push(ctx.sample(
                meter,
                OwnedValue::from(volume),
                null(),
                lb.project_id.clone(),
                lb.resource_id.clone(),
                lb.metadata.clone(),
                null(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples_of(reply: &str) -> Vec<Sample> {
        let (lbs, _) = read_page(reply.as_bytes()).expect("a page");
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let lb = Resource::LoadBalancer(Arc::new(lbs.into_iter().next().expect("a load balancer")));
        LoadBalancerPollster::default()
            .poll(&lb, &[true, true], &ctx, &mut out)
            .expect("polled");
        out
    }

    #[test]
    fn a_load_balancer_is_sampled_with_both_status_codes_and_eight_attributes() {
        let samples = samples_of(
            r#"{"loadbalancers": [{"id": "lb-1", "project_id": "p-1", "name": "web",
                "operating_status": "ONLINE", "provisioning_status": "PENDING_UPDATE",
                "vip_address": "10.0.0.9", "vip_port_id": "port-1", "provider": "amphora",
                "flavor_id": null, "availability_zone": null, "listeners": [], "pools": []}],
                "loadbalancers_links": []}"#,
        );
        let by_name = |name: &str| samples.iter().find(|s| &*s.name == name).expect(name);
        let operating = by_name("loadbalancer.operating");
        assert_eq!(operating.volume, OwnedValue::from(1));
        assert_eq!(&*operating.unit, "status");
        assert!(operating.user_id.is_null());
        assert_eq!(operating.project_id, OwnedValue::from("p-1"));
        assert_eq!(operating.resource_id, OwnedValue::from("lb-1"));
        assert_eq!(by_name("loadbalancer.provisioning").volume, OwnedValue::from(5));
        let md = &*operating.resource_metadata;
        assert_eq!(md.as_object().unwrap().len(), 8);
        assert_eq!(md.get_str("provider"), Some("amphora"));
        assert!(md.get("listeners").is_none());
    }

    #[test]
    fn a_status_ceilometer_does_not_number_is_minus_one() {
        let samples = samples_of(r#"{"loadbalancers": [{"id": "lb-2", "operating_status": "BUSY"}]}"#);
        assert_eq!(samples[0].volume, OwnedValue::from(-1));
        assert_eq!(samples[1].volume, OwnedValue::from(-1), "no provisioning_status");
    }
}
