//! What a pollster measures ([`Resource`]: the host, a guest, a record an OpenStack service
//! listed, ...) and the text it is known by ([`ResourceKey`]): what a failing resource is
//! disabled under, what the partition ring hashes and what logs name.

use std::sync::Arc;

use super::discovery::FleetInstance;

/// One thing a pollster measures.
#[derive(Debug, Clone)]
pub enum Resource {
    /// The machine the agent runs on.
    LocalNode(Arc<str>),
    /// A nova instance of the local libvirt.
    Guest(Arc<super::libvirt::Guest>),
    /// A simulated instance of the fleet: its place and uuid, inline (a fleet's list is as
    /// long as the fleet, so an entry is the enum's 24 bytes and nothing on the heap).
    Instance(FleetInstance),
    /// A static resource or an endpoint URL.
    Endpoint(Arc<str>),
    /// A volume, snapshot or backup Cinder listed.
    Cinder(Arc<super::cinder::Record>),
    /// An image Glance listed.
    Image(Arc<super::glance::Image>),
    /// A floating IP Neutron listed.
    FloatingIp(Arc<super::neutron::FloatingIp>),
    /// A load balancer Octavia listed.
    LoadBalancer(Arc<super::octavia::LoadBalancer>),
    /// A VPN service, IPsec connection, firewall group or policy Neutron listed.
    NetworkService(Arc<super::network_services::Record>),
    /// A share Manila listed.
    Share(Arc<super::manila::Share>),
    /// A DNS zone Designate listed.
    Zone(Arc<super::designate::Zone>),
    /// Aodh's evaluation results (`alarm`): one document.
    AlarmResults(Arc<super::aodh::EvaluationResults>),
    /// A Keystone project's id (`tenant`).
    Project(Arc<str>),
}

impl Resource {
    /// An instance of the simulated fleet (polled by the fleet pollster only).
    pub fn is_simulated(&self) -> bool {
        matches!(self, Resource::Instance(_))
    }

    /// The resource as text: what a permanently failing resource is disabled under, what the
    /// partition ring hashes (Ceilometer's `str(resource)`) and what logs name.
    pub fn key(&self) -> ResourceKey<'_> {
        ResourceKey(match self {
            Resource::LocalNode(h) => KeyText::Borrowed(h),
            Resource::Guest(g) => KeyText::Borrowed(&g.id),
            Resource::Instance(i) => {
                let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
                i.id.hyphenated().encode_lower(&mut text);
                KeyText::Uuid(text)
            }
            Resource::Endpoint(u) => KeyText::Borrowed(u),
            Resource::Cinder(r) => KeyText::Borrowed(&r.id),
            Resource::Image(i) => KeyText::Borrowed(&i.id),
            Resource::FloatingIp(f) => KeyText::Borrowed(&f.id),
            Resource::LoadBalancer(lb) => KeyText::Borrowed(&lb.id),
            Resource::NetworkService(record) => KeyText::Borrowed(&record.id),
            Resource::Share(share) => KeyText::Borrowed(&share.id),
            Resource::Zone(zone) => KeyText::Borrowed(&zone.id),
            Resource::Project(p) => KeyText::Borrowed(p),
            Resource::AlarmResults(_) => KeyText::Borrowed("aodh evaluation results"),
        })
    }
}

/// [`Resource::key`]: borrowed from the resource, or a fleet instance's uuid written out on the
/// stack (the fleet keeps its ids as their 16 bytes). Derefs to `str`; compares as one.
#[derive(Clone, Copy)]
pub struct ResourceKey<'a>(KeyText<'a>);

#[derive(Clone, Copy)]
enum KeyText<'a> {
    Borrowed(&'a str),
    /// Hyphenated lower-case hex: ASCII.
    Uuid([u8; uuid::fmt::Hyphenated::LENGTH]),
}

impl std::ops::Deref for ResourceKey<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            KeyText::Borrowed(s) => s,
            KeyText::Uuid(text) => std::str::from_utf8(text).unwrap_or_default(),
        }
    }
}

impl PartialEq for ResourceKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for ResourceKey<'_> {}

impl std::hash::Hash for ResourceKey<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Display for ResourceKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for ResourceKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}
