//! Splitting discovered resources between the polling agents of a group, as Ceilometer 27
//! does (`polling/manager.py`): each discoverer's resources are partitioned in the group
//! `<namespaces>[-<partitioning_group_prefix>]-<discoverer group id>`, and an agent polls a
//! resource only when tooz's hash ring of the group's live members gives it to this agent.
//!
//! Group ids are Ceilometer's: `global` for `endpoint:` (and every central discoverer, so
//! ceilo's simulated `fleet` too), the host for `local_instances`, `LocalNode-<host>` for
//! `local_node`. Objects are hashed as Ceilometer hashes them, `str(resource)`: the endpoint
//! URL, the instance id, the host. Static `resources:` of a source get a group of their own;
//! Ceilometer names that group with Python's `hash()` of the resource set, which differs in
//! every process (string hashing is randomised), so no two agents ever share it there; ceilo
//! names it with an MD5 of the sorted set (`static-<16 hex>`), so ceilo agents do.
//!
//! One [`PartitionCycle`] per poll reads each group's members once (Ceilometer refreshes its
//! rings once per polling cycle too). When the members cannot be read, the group's resources
//! are not polled that cycle: polling them could double another member's samples.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

use super::discovery::{Discoverer, Resource};
use crate::coordination::{Coordinator, HashRing};
use crate::telemetry::handles::GroupMetrics;

/// How this agent partitions: its coordinator and the group names it uses.
pub struct Partitioning {
    coordinator: Arc<Coordinator>,
    prefix: String,
    host: String,
    metrics: Mutex<HashMap<String, GroupMetrics>>,
}

/// Ceilometer's group prefix: the sorted polling namespaces joined by `-`, then
/// `-<partitioning_group_prefix>` when set (`central`, `central-compute`, `central-pool-a`).
pub fn group_prefix(namespaces: &[String], partitioning_group_prefix: Option<&str>) -> String {
    let mut sorted = namespaces.to_vec();
    sorted.sort();
    let base = sorted.join("-");
    match partitioning_group_prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{base}-{p}"),
        None => base,
    }
}

impl Partitioning {
    pub fn new(coordinator: Arc<Coordinator>, prefix: String, host: &str) -> Self {
        Self {
            coordinator,
            prefix,
            host: host.to_owned(),
            metrics: Mutex::default(),
        }
    }

    pub fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    /// The group a discoverer's resources are partitioned in.
    pub fn group_of(&self, discoverer: &Discoverer) -> String {
        let id = match discoverer {
            Discoverer::LocalNode => format!("LocalNode-{}", self.host),
            Discoverer::LocalInstances => self.host.clone(),
            Discoverer::Endpoint(_)
            | Discoverer::Fleet(_)
            | Discoverer::Cinder(_)
            | Discoverer::Images
            | Discoverer::FloatingIps
            | Discoverer::NetworkServices(_)
            | Discoverer::LoadBalancers
            | Discoverer::Shares
            | Discoverer::Zones
            | Discoverer::AlarmResults
            | Discoverer::Tenants => "global".to_owned(),
        };
        format!("{}-{id}", self.prefix)
    }

    /// The group of a source's static `resources:` (see the module doc).
    pub fn static_group(&self, resources: &[String]) -> String {
        let mut sorted: Vec<&str> = resources.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let digest = Md5::digest(sorted.join("\n").as_bytes());
        format!("{}-static-{}", self.prefix, &hex::encode(digest)[..16])
    }

    fn metrics(&self, group: &str) -> GroupMetrics {
        let mut m = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(group.to_owned())
            .or_insert_with(|| GroupMetrics::new(group))
            .clone()
    }
}

/// The rings of one poll: each group's members are read once.
pub struct PartitionCycle<'a> {
    partitioning: &'a Partitioning,
    /// `None`: the members could not be read this cycle.
    rings: HashMap<String, Option<HashRing>>,
    /// Resources seen and kept per group this cycle (for the gauges).
    counts: HashMap<String, (usize, usize)>,
}

impl<'a> PartitionCycle<'a> {
    pub fn new(partitioning: &'a Partitioning) -> Self {
        Self {
            partitioning,
            rings: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    /// The resources of `group` that belong to this agent.
    pub async fn keep(&mut self, group: &str, resources: &[Resource]) -> Vec<Resource> {
        let p = self.partitioning;
        if !self.rings.contains_key(group) {
            let ring = match p.coordinator.ring(group).await {
                Ok((ring, members)) => {
                    p.metrics(group).members(members);
                    tracing::debug!(%group, members, "coordination: group read");
                    Some(ring)
                }
                Err(e) => {
                    tracing::warn!(%group, error = %e,
                        "coordination: cannot read the group's members; its resources are not polled this cycle");
                    None
                }
            };
            self.rings.insert(group.to_owned(), ring);
        }
        let me = p.coordinator.member_id();
        let kept: Vec<Resource> = match &self.rings[group] {
            Some(ring) => resources
                .iter()
                .filter(|r| ring.owner(r.key().as_bytes()) == Some(me))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let counts = self.counts.entry(group.to_owned()).or_default();
        counts.0 += resources.len();
        counts.1 += kept.len();
        p.metrics(group).partitioned(counts.0, counts.1);
        kept
    }

    pub fn partitioning(&self) -> &Partitioning {
        self.partitioning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_ceilometers() {
        let ns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(group_prefix(&ns(&["central"]), None), "central");
        assert_eq!(
            group_prefix(&ns(&["compute", "central"]), None),
            "central-compute"
        );
        assert_eq!(group_prefix(&ns(&["central"]), Some("pool-a")), "central-pool-a");
        assert_eq!(group_prefix(&ns(&["central"]), Some("")), "central");
    }

    #[tokio::test]
    async fn discoverer_groups_follow_ceilometers_group_ids() {
        // The coordinator's task is never asked anything here: no Redis needed.
        let c = Coordinator::start("redis://127.0.0.1:1", &tokio::runtime::Handle::current()).unwrap();
        let p = Partitioning::new(c, "central".into(), "node-1");
        assert_eq!(p.group_of(&Discoverer::Endpoint("x".into())), "central-global");
        assert_eq!(p.group_of(&Discoverer::Fleet(3)), "central-global");
        assert_eq!(p.group_of(&Discoverer::LocalInstances), "central-node-1");
        assert_eq!(p.group_of(&Discoverer::LocalNode), "central-LocalNode-node-1");
        let a = p.static_group(&["http://b".into(), "http://a".into()]);
        assert_eq!(
            a,
            p.static_group(&["http://a".into(), "http://b".into(), "http://a".into()])
        );
        assert_ne!(a, p.static_group(&["http://a".into()]));
        assert!(
            a.starts_with("central-static-") && a.len() == "central-static-".len() + 16,
            "{a}"
        );
    }
}
