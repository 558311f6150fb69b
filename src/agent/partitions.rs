//! Spreading the transform-partition queues (`ceilo-transform.<p>`, see
//! [`crate::publish::partition`]) across the live agents: with a coordination URL
//! (`notification.partition_coordination_url`, else `[coordination] backend_url`), every agent
//! is a member of the tooz group of `Settings::partition_group` ([`crate::coordination`], the
//! same Redis layout and hash ring as the polling agents'), and consumes partition `p` only while the ring of the group's live
//! members gives the object `str(p)` to it. The ring is read again every half membership
//! timeout, so a joining agent takes its share and a leaving one's share moves within about a
//! membership timeout (at once on SIGTERM: it leaves the group).
//!
//! The queues stay single-active-consumer: while the ring moves, two agents may both be
//! subscribed for a moment, and the broker still delivers to one. When the group cannot be
//! read (Redis down), every gate opens: every agent subscribes to every partition and the broker
//! picks, as without coordination. This module decides ownership; the listeners
//! ([`super::listener`]) start and stop consuming on it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::AgentError;
use crate::config::Settings;
use crate::coordination::{Coordinator, UrlError};
use crate::telemetry::handles::GroupMetrics;

/// One gate per partition queue (`None`: always consume) as the settings ask: with a
/// coordination URL, this agent's membership and gates. A bad URL that the operator gave for
/// the partitions stops the start; a `[coordination] backend_url` ceilo cannot use (set for
/// other agents, say tooz's ZooKeeper driver) only leaves the partitions unspread, as they were
/// before it applied to them.
pub fn gates(
    settings: &Settings,
    partitions: usize,
    runtime: &tokio::runtime::Handle,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<Option<watch::Receiver<bool>>>, AgentError> {
    let url = settings.partition_coordination_url();
    if partitions == 0 || url.is_empty() {
        return Ok(vec![None; partitions]);
    }
    let group = settings.partition_group();
    match start(url, &group, partitions, runtime, shutdown) {
        Ok(owned) => Ok(owned.into_iter().map(Some).collect()),
        Err(e) if settings.notification.partition_coordination_url.is_empty() => {
            tracing::warn!(error = %e,
                "transform partitions not spread: every agent consumes every partition queue and \
                 the broker gives each to one of them (set notification.partition_coordination_url \
                 to a redis:// URL to spread them)");
            Ok(vec![None; partitions])
        }
        Err(UrlError::Invalid { url, reason }) => Err(AgentError::Runtime(format!(
            "notification.partition_coordination_url {url:?}: {reason}"
        ))),
    }
}

/// Starts this agent's membership and the task that keeps one gate per partition: `true`
/// while the partition is this agent's. The task ends at `shutdown`, leaving the group.
pub fn start(
    backend_url: &str,
    group: &str,
    partitions: usize,
    runtime: &tokio::runtime::Handle,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<watch::Receiver<bool>>, UrlError> {
    let coordinator = Coordinator::start(backend_url, runtime)?;
    let (gates, owned): (Vec<_>, Vec<_>) = (0..partitions).map(|_| watch::channel(false)).unzip();
    let period =
        (coordinator.membership_timeout() / 2).clamp(Duration::from_millis(200), Duration::from_secs(5));
    runtime.spawn(assign(coordinator, group.to_owned(), gates, period, shutdown));
    Ok(owned)
}

/// The partitions the ring gives `member`: partition `p` is the object `str(p)`.
pub fn owned_by(ring: &crate::coordination::HashRing, member: &str, partitions: usize) -> Vec<bool> {
    (0..partitions)
        .map(|p| ring.owner(p.to_string().as_bytes()) == Some(member))
        .collect()
}

async fn assign(
    coordinator: Arc<Coordinator>,
    group: String,
    gates: Vec<watch::Sender<bool>>,
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let metrics = GroupMetrics::new(&group);
    coordinator.join(vec![group.clone()]).await;
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut readable = true;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let mine = match coordinator.ring(&group).await {
            Ok((ring, members)) => {
                metrics.members(members);
                if !readable {
                    tracing::info!(%group, "partitions: the group can be read again");
                    readable = true;
                }
                owned_by(&ring, coordinator.member_id(), gates.len())
            }
            Err(e) => {
                if readable {
                    tracing::warn!(%group, error = %e,
                        "partitions: cannot read the group; consuming every partition (the broker gives each to one agent)");
                    readable = false;
                }
                vec![true; gates.len()]
            }
        };
        let changed = gates.iter().zip(&mine).fold(false, |changed, (gate, &m)| {
            gate.send_if_modified(|o| std::mem::replace(o, m) != m) || changed
        });
        let owned: Vec<usize> = (0..mine.len()).filter(|&p| mine[p]).collect();
        metrics.partitioned(gates.len(), owned.len());
        if changed {
            tracing::info!(%group, member = coordinator.member_id(), partitions = ?owned, "partitions: this agent's share");
        }
    }
    coordinator.stop().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordination::HashRing;

    #[test]
    fn every_partition_has_exactly_one_owner_and_each_member_some() {
        let members = ["a-member", "b-member", "c-member"];
        let ring = HashRing::new(members.iter().map(|m| (*m, 1)));
        let shares: Vec<Vec<bool>> = members.iter().map(|m| owned_by(&ring, m, 12)).collect();
        for p in 0..12 {
            assert_eq!(shares.iter().filter(|s| s[p]).count(), 1, "partition {p}");
        }
        assert!(shares.iter().all(|s| s.iter().any(|&o| o)), "{shares:?}");
    }
}
