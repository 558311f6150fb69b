//! A discoverer as polling.yaml names it (`local_instances`, `fleet:100`, `endpoint:image`,
//! `volumes`, ...), parsed once when a source is planned; [`super::discovery::Discovery`] runs
//! it at each poll.

use super::discovery::Fleet;
use crate::config::PollingOptions;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "unknown discoverer {0:?} (known: local_node, local_instances, fleet, fleet:N, endpoint:TYPE, \
         volumes, volume_snapshots, volume_backups, volume_services, volume_pools, images, fip_services, vpn_services, ipsec_connections, fw_services, fw_policy, lb_services, manila_shares, dns_zones, tenant, alarm)"
    )]
    Unknown(String),
    #[error("discoverer {name:?}: {reason}")]
    Invalid { name: String, reason: String },
}

/// A discoverer, parsed from its polling.yaml name.
#[derive(Debug, Clone, PartialEq)]
pub enum Discoverer {
    LocalNode,
    LocalInstances,
    /// `fleet:N`: the first N instances of the [`Fleet`].
    Fleet(u32),
    Endpoint(String),
    /// `volumes`, `volume_snapshots`, `volume_backups`, `volume_services`, `volume_pools`: what
    /// Cinder lists.
    Cinder(super::cinder::Listing),
    /// `images`: what Glance lists.
    Images,
    /// `fip_services`: the floating IPs Neutron lists.
    FloatingIps,
    /// `vpn_services`, `ipsec_connections`, `fw_services`, `fw_policy`: what Neutron's VPNaaS
    /// and FWaaS list.
    NetworkServices(super::network_services::Service),
    /// `lb_services`: the load balancers Octavia lists.
    LoadBalancers,
    /// `manila_shares`: the shares Manila lists.
    Shares,
    /// `dns_zones`: the zones Designate lists.
    Zones,
    /// `alarm`: Aodh's evaluation results.
    AlarmResults,
    /// `tenant`: every project Keystone lists.
    Tenants,
}

impl Discoverer {
    pub fn parse(name: &str, options: &PollingOptions) -> Result<Self, DiscoveryError> {
        let (kind, param) = match name.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (name, None),
        };
        match (kind, param) {
            ("local_node", None) => Ok(Discoverer::LocalNode),
            ("local_instances", None) => Ok(Discoverer::LocalInstances),
            ("fleet", None) => Fleet::size(options.fleet_size)
                .map(Discoverer::Fleet)
                .ok_or_else(|| DiscoveryError::Invalid {
                    name: name.into(),
                    reason: format!("fleet_size is at most {}", Fleet::MAX),
                }),
            ("fleet", Some(n)) => n
                .trim()
                .parse()
                .ok()
                .and_then(Fleet::size)
                .map(Discoverer::Fleet)
                .ok_or_else(|| DiscoveryError::Invalid {
                    name: name.into(),
                    reason: format!("the fleet size must be an integer from 0 to {}", Fleet::MAX),
                }),
            ("endpoint", Some(t)) if !t.is_empty() => Ok(Discoverer::Endpoint(t.to_owned())),
            (super::glance::DISCOVERER, None) => Ok(Discoverer::Images),
            (super::neutron::DISCOVERER, None) => Ok(Discoverer::FloatingIps),
            (super::swift::DISCOVERER, None) => Ok(Discoverer::Tenants),
            (super::octavia::DISCOVERER, None) => Ok(Discoverer::LoadBalancers),
            (super::manila::DISCOVERER, None) => Ok(Discoverer::Shares),
            (super::designate::DISCOVERER, None) => Ok(Discoverer::Zones),
            (super::aodh::DISCOVERER, None) => Ok(Discoverer::AlarmResults),
            (kind, None) => super::cinder::Listing::from_discoverer(kind)
                .map(Discoverer::Cinder)
                .or_else(|| {
                    super::network_services::Service::from_discoverer(kind).map(Discoverer::NetworkServices)
                })
                .ok_or_else(|| DiscoveryError::Unknown(name.into())),
            _ => Err(DiscoveryError::Unknown(name.into())),
        }
    }
}
