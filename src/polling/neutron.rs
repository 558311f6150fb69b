//! Neutron's pollster, `ip.floating`, as Ceilometer 27's `ceilometer/network/floatingip.py`
//! polls it through its `fip_services` discoverer (`ceilometer/network/services/discovery.py`:
//! openstacksdk's network client):
//!
//! * Neutron's endpoint is the token's catalog entry of `[service_types] neutron` (`network`),
//!   of `[service_credentials] interface` in `region_name`, versioned as openstacksdk versions
//!   it (`.../v2.0`).
//! * `GET <neutron>/v2.0/floatingips` with the agent's Keystone token ([`super::service_api`]),
//!   then each page's `floatingips_links` `next` (Neutron links pages only when it is configured
//!   to cut them). What the agent's user may see is what is listed: with the admin role, every
//!   project's floating IPs.
//! * A sample per floating IP: a gauge in `ip` whose volume is its `status` as Ceilometer's
//!   table numbers it ([`STATUSES`]: `ACTIVE` 1, `DOWN` 3, ...; a status the table does not
//!   have is -1, with a warning naming the address), no user, the IP's `tenant_id` as project,
//!   its `id` as resource, and the six attributes Ceilometer copies into the metadata as Neutron
//!   sent them.
//!
//! As for Cinder and Glance, with coordination on a floating IP is placed on the hash ring by its
//! id, where Ceilometer places the `str()` of openstacksdk's object: ceilo and Ceilometer agents
//! must not share a `central` group for the `fip_services` discoverer.

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::network_services::{Record, Service};
use super::pollster::{null, MeterSpec, PollContext, PollError};
use super::service_api::{linked_page, status_volume, Page, ServiceApi};
use crate::model::{Metadata, OwnedValue, Sample};

/// The discoverer's name in polling.yaml.
pub const DISCOVERER: &str = "fip_services";

/// The attributes Ceilometer's pollster copies into a sample's metadata.
const FIELDS: [&str; 6] = [
    "router_id",
    "status",
    "floating_network_id",
    "fixed_ip_address",
    "port_id",
    "floating_ip_address",
];

/// One floating IP as Neutron listed it: what its sample takes.
#[derive(Debug)]
pub struct FloatingIp {
    /// Its key for logs and the partition ring ("" when it has none).
    pub id: Arc<str>,
    status: Option<String>,
    tenant_id: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl FloatingIp {
    pub fn new(body: &OwnedValue) -> FloatingIp {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        let metadata: simd_json::owned::Object =
            FIELDS.iter().map(|name| ((*name).into(), field(name))).collect();
        FloatingIp {
            id: body.get_str("id").unwrap_or_default().into(),
            status: body.get_str("status").map(str::to_owned),
            tenant_id: field("tenant_id"),
            resource_id: field("id"),
            metadata: Arc::new(OwnedValue::from(metadata)),
        }
    }
}

/// A network service's statuses as Ceilometer's network pollsters number them
/// (`ceilometer/network/services/base.py`).
pub const STATUSES: [(&str, i64); 8] = [
    ("inactive", 0),
    ("active", 1),
    ("pending_create", 2),
    ("down", 3),
    ("created", 4),
    ("pending_update", 5),
    ("pending_delete", 6),
    ("error", 7),
];

/// Every floating IP the agent's user may see, page by page.
pub async fn floating_ips(neutron: &ServiceApi) -> Result<Vec<FloatingIp>, String> {
    neutron
        .list_versioned("v2.0", "floatingips", &[], read_page)
        .await
}

/// Every VPNaaS or FWaaS record of `service` the agent's user may see, page by page.
pub async fn services(neutron: &ServiceApi, service: Service) -> Result<Vec<Record>, String> {
    neutron
        .list_versioned("v2.0", service.collection().0, &[], |reply| {
            super::network_services::read_page(service, reply)
        })
        .await
}

/// The floating IPs of one page of Neutron's listing, and the next page's URL.
pub fn read_page(reply: &[u8]) -> Result<Page<FloatingIp>, String> {
    linked_page(reply, "floatingips", FloatingIp::new)
}

/// `ip.floating`.
pub struct FloatingIpPollster {
    meters: [MeterSpec; 1],
}

impl Default for FloatingIpPollster {
    fn default() -> Self {
        FloatingIpPollster {
            meters: [MeterSpec::new("ip.floating", "gauge", "ip")],
        }
    }
}

impl FloatingIpPollster {
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
        if !mask.first().copied().unwrap_or(false) {
            return Ok(());
        }
        let Resource::FloatingIp(ip) = resource else {
            return Err(PollError::not_listed("ip.floating", DISCOVERER, resource.key()));
        };
        let address = ip.metadata.get_str("floating_ip_address").unwrap_or("None");
        let volume = status_volume(&STATUSES, ip.status.as_deref(), "ip.floating", address, &ip.id);
        out.push(ctx.sample(
            &self.meters[0],
            OwnedValue::from(volume),
            null(),
            ip.tenant_id.clone(),
            ip.resource_id.clone(),
            ip.metadata.clone(),
            null(),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::polling::service_api::status_code;

    fn sample_of(reply: &str) -> Sample {
        let (ips, _) = read_page(reply.as_bytes()).expect("a page");
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let ip = Resource::FloatingIp(Arc::new(ips.into_iter().next().expect("an IP")));
        FloatingIpPollster::default()
            .poll(&ip, &[true], &ctx, &mut out)
            .expect("polled");
        out.pop().expect("a sample")
    }

    #[test]
    fn a_floating_ip_is_sampled_with_its_status_code_and_six_attributes() {
        let s = sample_of(
            r#"{"floatingips": [{"id": "f-1", "tenant_id": "p-1", "project_id": "p-1",
                "status": "ACTIVE", "router_id": "r-1", "floating_network_id": "n-1",
                "fixed_ip_address": "10.0.0.3", "port_id": "port-1",
                "floating_ip_address": "172.24.4.7", "description": "", "tags": []}]}"#,
        );
        assert_eq!(
            (&*s.name, &*s.sample_type, &*s.unit),
            ("ip.floating", "gauge", "ip")
        );
        assert_eq!(s.volume, OwnedValue::from(1));
        assert!(s.user_id.is_null());
        assert_eq!(s.project_id, OwnedValue::from("p-1"));
        assert_eq!(s.resource_id, OwnedValue::from("f-1"));
        let md = &*s.resource_metadata;
        assert_eq!(md.as_object().unwrap().len(), 6);
        assert_eq!(md.get_str("status"), Some("ACTIVE"));
        assert_eq!(md.get_str("floating_ip_address"), Some("172.24.4.7"));
        assert!(md.get("description").is_none());
    }

    #[test]
    fn statuses_are_numbered_as_ceilometer_numbers_them() {
        let code = |status| status_code(&STATUSES, status);
        assert_eq!(code(Some("DOWN")), Some(3));
        assert_eq!(code(Some("inactive")), Some(0));
        assert_eq!(code(Some("Error")), Some(7));
        assert_eq!(code(Some("MIGRATING")), None);
        assert_eq!(code(Some("")), None);
        assert_eq!(code(None), None);
        let s = sample_of(r#"{"floatingips": [{"id": "f-2", "status": "MIGRATING"}]}"#);
        assert_eq!(s.volume, OwnedValue::from(-1));
        assert!(s.project_id.is_null());
        assert!(s.resource_metadata.get("router_id").unwrap().is_null());
    }

    #[test]
    fn pages_link_to_the_next_by_rel() {
        let next = |links: &str| {
            read_page(format!(r#"{{"floatingips": [], "floatingips_links": {links}}}"#).as_bytes())
                .expect("a page")
                .1
        };
        assert_eq!(
            next(
                r#"[{"rel": "previous", "href": "http://n/v2.0/floatingips?marker=a&page_reverse=True"},
                     {"rel": "next", "href": "http://n/v2.0/floatingips?marker=b"}]"#
            ),
            Some("http://n/v2.0/floatingips?marker=b".into())
        );
        assert_eq!(next(r#"[{"rel": "previous", "href": "x"}]"#), None);
        assert_eq!(read_page(br#"{"floatingips": []}"#).unwrap().1, None);
        assert!(read_page(b"{}").unwrap_err().contains("no \"floatingips\" list"));
    }
}
