//! Neutron's VPNaaS and FWaaS v2 pollsters, as Ceilometer 27's `ceilometer/network/services/`
//! polls them through its `vpn_services`, `ipsec_connections`, `fw_services` and `fw_policy`
//! discoverers (openstacksdk's network client, each record its `to_dict()`):
//!
//! * `GET <neutron>/v2.0/vpn/vpnservices`, `/vpn/ipsec-site-connections`,
//!   `/fwaas/firewall_groups`, `/fwaas/firewall_policies` on the endpoint Neutron's floating
//!   IPs are listed from (`neutron`), each page's `<collection>_links` `next` followed.
//! * A gauge per record: `network.services.vpn` (unit `vpnservice`) and
//!   `network.services.firewall` (`firewall`) whose volume is the record's `status` as
//!   Ceilometer's network services table numbers it ([`STATUSES`]; -1 with a warning for a
//!   status it does not have); `network.services.vpn.connections` (`ipsec_site_connection`)
//!   and `network.services.firewall.policy` (`firewall_policy`) of volume 1. No user; the
//!   record's `project_id`, or its `tenant_id` when that is empty, as project; its `id` as
//!   resource; the attributes Ceilometer copies into the metadata, under openstacksdk's names
//!   (`admin_state_up` as `is_admin_state_up` for the VPN records) and types — the IPsec
//!   connection's pre-shared key (`psk`) among them, as Ceilometer sends it.
//! * The `fw_services` discoverer leaves out a firewall group whose status is `error`: the
//!   lower-case text exactly, as Ceilometer compares it (Neutron writes `ERROR`).

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::neutron::STATUSES;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use super::service_api::{linked_page, status_volume, typed_metadata, Page, Typed};
use crate::model::{py, Metadata, OwnedValue, Sample};

/// What one discoverer lists and its pollster makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Vpn,
    IpsecConnection,
    Firewall,
    FirewallPolicy,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Vpn,
        Service::IpsecConnection,
        Service::Firewall,
        Service::FirewallPolicy,
    ];

    /// The discoverer's name in polling.yaml.
    pub fn discoverer(self) -> &'static str {
        match self {
            Service::Vpn => "vpn_services",
            Service::IpsecConnection => "ipsec_connections",
            Service::Firewall => "fw_services",
            Service::FirewallPolicy => "fw_policy",
        }
    }

    pub fn from_discoverer(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.discoverer() == name)
    }

    /// The collection under `<neutron>/v2.0/`, and the key of its records in a reply.
    pub fn collection(self) -> (&'static str, &'static str) {
        match self {
            Service::Vpn => ("vpn/vpnservices", "vpnservices"),
            Service::IpsecConnection => ("vpn/ipsec-site-connections", "ipsec_site_connections"),
            Service::Firewall => ("fwaas/firewall_groups", "firewall_groups"),
            Service::FirewallPolicy => ("fwaas/firewall_policies", "firewall_policies"),
        }
    }

    /// (meter, unit).
    fn meter(self) -> (&'static str, &'static str) {
        match self {
            Service::Vpn => ("network.services.vpn", "vpnservice"),
            Service::IpsecConnection => ("network.services.vpn.connections", "ipsec_site_connection"),
            Service::Firewall => ("network.services.firewall", "firewall"),
            Service::FirewallPolicy => ("network.services.firewall.policy", "firewall_policy"),
        }
    }

    /// The metadata: (its key, the reply's field, how openstacksdk reads it).
    fn fields(self) -> &'static [(&'static str, &'static str, Typed)] {
        use Typed::*;
        match self {
            Service::Vpn => &[
                ("is_admin_state_up", "admin_state_up", Bool),
                ("description", "description", AsSent),
                ("name", "name", AsSent),
                ("status", "status", AsSent),
                ("subnet_id", "subnet_id", AsSent),
                ("router_id", "router_id", AsSent),
                ("flavor_id", "flavor_id", AsSent),
                ("external_v4_ip", "external_v4_ip", AsSent),
                ("external_v6_ip", "external_v6_ip", AsSent),
            ],
            Service::IpsecConnection => &[
                ("name", "name", AsSent),
                ("description", "description", AsSent),
                ("peer_address", "peer_address", AsSent),
                ("peer_id", "peer_id", AsSent),
                ("peer_cidrs", "peer_cidrs", List),
                ("peer_ep_group_id", "peer_ep_group_id", AsSent),
                ("psk", "psk", AsSent),
                ("initiator", "initiator", AsSent),
                ("ikepolicy_id", "ikepolicy_id", AsSent),
                ("ipsecpolicy_id", "ipsecpolicy_id", AsSent),
                ("vpnservice_id", "vpnservice_id", AsSent),
                ("mtu", "mtu", Int),
                ("is_admin_state_up", "admin_state_up", Bool),
                ("status", "status", AsSent),
                ("project_id", "project_id", AsSent),
            ],
            Service::Firewall => &[
                ("admin_state_up", "admin_state_up", AsSent),
                ("description", "description", AsSent),
                ("name", "name", AsSent),
                ("status", "status", AsSent),
                ("ingress_firewall_policy_id", "ingress_firewall_policy_id", AsSent),
                ("egress_firewall_policy_id", "egress_firewall_policy_id", AsSent),
            ],
            Service::FirewallPolicy => &[
                ("name", "name", AsSent),
                ("description", "description", AsSent),
                ("firewall_rules", "firewall_rules", List),
                ("shared", "shared", AsSent),
                ("audited", "audited", AsSent),
            ],
        }
    }

    /// Whether the volume is the status (else 1).
    fn counts_status(self) -> bool {
        matches!(self, Service::Vpn | Service::Firewall)
    }
}

/// One record a network services discoverer listed: what its sample takes.
#[derive(Debug)]
pub struct Record {
    pub service: Service,
    /// Its key for logs and the partition ring ("" when it has none).
    pub id: Arc<str>,
    status: Option<String>,
    project_id: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl Record {
    pub fn new(service: Service, body: &OwnedValue) -> Record {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        // openstacksdk's VPN records read `project_id` from `tenant_id` when it is missing.
        let vpn = matches!(service, Service::Vpn | Service::IpsecConnection);
        let project_field = match body.get("project_id") {
            None if vpn => field("tenant_id"),
            _ => field("project_id"),
        };
        let mut metadata = typed_metadata(body, service.fields());
        if let Some(project) = metadata.get_mut("project_id") {
            *project = project_field.clone();
        }
        let project_id = match (py::truthy(&project_field), vpn) {
            (true, _) => project_field,
            (false, true) => field("tenant_id"),
            (false, false) => null(),
        };
        Record {
            service,
            id: body.get_str("id").unwrap_or_default().into(),
            status: body.get_str("status").map(str::to_owned),
            project_id,
            resource_id: field("id"),
            metadata: Arc::new(OwnedValue::from(metadata)),
        }
    }
}

/// The records of one page of `service`'s listing, and the next page's URL; a firewall group
/// whose status is `error` is left out, as Ceilometer's discoverer leaves it.
pub fn read_page(service: Service, reply: &[u8]) -> Result<Page<Record>, String> {
    let (records, next) = linked_page(reply, service.collection().1, |body| Record::new(service, body))?;
    let records = records
        .into_iter()
        .filter(|r| !(service == Service::Firewall && r.status.as_deref() == Some("error")))
        .collect();
    Ok((records, next))
}

/// One of the four meters, polling what its discoverer lists.
pub struct ServicePollster {
    service: Service,
    meters: [MeterSpec; 1],
}

impl ServicePollster {
    pub fn new(service: Service) -> ServicePollster {
        let (name, unit) = service.meter();
        ServicePollster {
            service,
            meters: [MeterSpec::new(name, "gauge", unit)],
        }
    }

    pub fn name(&self) -> &str {
        &self.meters[0].name
    }

    pub fn default_discovery(&self) -> String {
        self.service.discoverer().into()
    }

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
        let not_listed = || PollError::not_listed(self.name(), self.service.discoverer(), resource.key());
        let Resource::NetworkService(record) = resource else {
            return Err(not_listed());
        };
        if record.service != self.service {
            return Err(not_listed());
        }
        let volume = if self.service.counts_status() {
            let name = record.metadata.get_str("name").unwrap_or("None");
            status_volume(&STATUSES, record.status.as_deref(), self.name(), name, &record.id)
        } else {
            1
        };
        out.push(ctx.sample(
            &self.meters[0],
            OwnedValue::from(volume),
            null(),
            record.project_id.clone(),
            record.resource_id.clone(),
            record.metadata.clone(),
            null(),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples_of(service: Service, reply: &str) -> Vec<Sample> {
        let (records, _) = read_page(service, reply.as_bytes()).expect("a page");
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        for record in records {
            let resource = Resource::NetworkService(Arc::new(record));
            ServicePollster::new(service)
                .poll(&resource, &[true], &ctx, &mut out)
                .expect("polled");
        }
        out
    }

    #[test]
    fn a_vpn_service_is_its_status_under_sdk_names() {
        let s = samples_of(
            Service::Vpn,
            r#"{"vpnservices": [{"id": "v-1", "tenant_id": "t-1", "name": "v", "status": "PENDING_CREATE",
                "admin_state_up": 1, "router_id": "r", "subnet_id": "s", "external_v4_ip": "172.24.4.9"}]}"#,
        );
        assert_eq!(s[0].volume, OwnedValue::from(2));
        assert_eq!(&*s[0].unit, "vpnservice");
        assert_eq!(
            s[0].project_id,
            OwnedValue::from("t-1"),
            "tenant_id when no project_id"
        );
        let md = &*s[0].resource_metadata;
        assert_eq!(md.get_bool("is_admin_state_up"), Some(true));
        assert!(md.get("admin_state_up").is_none());
        assert!(md.get("flavor_id").is_some_and(|f| f.is_null()));
        assert_eq!(md.as_object().unwrap().len(), 9);
    }

    #[test]
    fn an_ipsec_connection_is_one_with_its_psk_and_typed_attributes() {
        let s = samples_of(
            Service::IpsecConnection,
            r#"{"ipsec_site_connections": [{"id": "c-1", "project_id": "", "tenant_id": "t-2",
                "psk": "secret", "mtu": "1500", "peer_cidrs": "10.1.0.0/24", "status": "DOWN"}]}"#,
        );
        assert_eq!(s[0].volume, OwnedValue::from(1));
        assert_eq!(
            s[0].project_id,
            OwnedValue::from("t-2"),
            "tenant_id when project_id is empty"
        );
        let md = &*s[0].resource_metadata;
        assert_eq!(md.get_str("psk"), Some("secret"));
        assert_eq!(md.get_i64("mtu"), Some(1500));
        assert_eq!(
            md.get("peer_cidrs").and_then(|c| c.as_array()).map(Vec::len),
            Some(1)
        );
        assert_eq!(md.get_str("project_id"), Some(""));
    }

    #[test]
    fn firewall_groups_in_lower_case_error_are_not_listed_and_an_unknown_status_is_minus_one() {
        let s = samples_of(
            Service::Firewall,
            r#"{"firewall_groups": [{"id": "f-1", "project_id": "p", "status": "error"},
                {"id": "f-2", "project_id": "p", "status": "ERROR"},
                {"id": "f-3", "project_id": "p", "status": "BUSY", "admin_state_up": true}]}"#,
        );
        let ids: Vec<_> = s
            .iter()
            .map(|s| s.resource_id.as_str().unwrap_or_default())
            .collect();
        assert_eq!(ids, ["f-2", "f-3"]);
        assert_eq!(s[0].volume, OwnedValue::from(7));
        assert_eq!(s[1].volume, OwnedValue::from(-1));
        assert_eq!(s[1].resource_metadata.get_bool("admin_state_up"), Some(true));
    }

    #[test]
    fn a_firewall_policy_is_one_with_its_rules() {
        let s = samples_of(
            Service::FirewallPolicy,
            r#"{"firewall_policies": [{"id": "fp-1", "project_id": "p", "name": "allow",
                "firewall_rules": ["r1", "r2"], "shared": false, "audited": true}]}"#,
        );
        assert_eq!(s[0].volume, OwnedValue::from(1));
        assert_eq!(&*s[0].unit, "firewall_policy");
        let md = &*s[0].resource_metadata;
        assert_eq!(md.as_object().unwrap().len(), 5);
        assert_eq!(
            md.get("firewall_rules").and_then(|r| r.as_array()).map(Vec::len),
            Some(2)
        );
    }
}
