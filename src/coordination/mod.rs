//! Coordination between agents: group membership in Redis laid out exactly as tooz's Redis
//! driver lays it out ([`tooz_redis`]), and tooz's consistent hash ring ([`hashring`]), so that
//! ceilo polling agents and Ceilometer's `ceilometer-polling` agents of one group split the
//! same resources between them.
//!
//! A [`Coordinator`] is one member (a random UUID, as Ceilometer's) of any number of groups.
//! It runs as one task on the runtime given at start, owning the Redis connection: it beats
//! every half membership timeout (tooz's heart), and answers [`Coordinator::members`], which
//! reads a group's live members (pruning the dead, as tooz does) and re-joins this member if
//! another agent pruned it while its beats were not getting through. Callers on any runtime
//! talk to it through a channel.
//!
//! It does not decide what is partitioned, nor under which group name: that is the polling
//! side's business (`polling::partition`).

pub mod hashring;
pub mod resp;
pub mod tooz_redis;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use hashring::HashRing;
pub use tooz_redis::{BackendUrl, Members, UrlError};

use crate::telemetry::handles::CoordinationMetrics;
use crate::telemetry::metrics::CoordinationOp;

/// What went wrong talking to the coordination backend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoordinationError {
    #[error("{0}")]
    Redis(String),
    #[error("the coordinator has stopped")]
    Stopped,
}

enum Request {
    Join(Vec<String>),
    Members {
        group: String,
        reply: oneshot::Sender<Result<Members, CoordinationError>>,
    },
    Stop(oneshot::Sender<()>),
}

/// One member of tooz groups (see the module doc).
pub struct Coordinator {
    tx: mpsc::Sender<Request>,
    member: Arc<str>,
    url: BackendUrl,
}

/// Requests waiting for the coordinator task: each poll asks once per group.
const QUEUE: usize = 64;

impl Coordinator {
    /// Parse `backend_url` and start the member's task on `runtime` with a new member id. The
    /// connection opens on the task (a Redis that is down is retried at every heartbeat).
    pub fn start(backend_url: &str, runtime: &tokio::runtime::Handle) -> Result<Arc<Self>, UrlError> {
        Self::start_as(backend_url, uuid::Uuid::new_v4().to_string(), runtime)
    }

    /// [`Self::start`] with a chosen member id.
    pub fn start_as(
        backend_url: &str,
        member: String,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<Self>, UrlError> {
        let url = BackendUrl::parse(backend_url)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let redis = tooz_redis::ToozRedis::new(url.clone(), member.clone());
        runtime.spawn(run(redis, rx));
        tracing::info!(member = %member, redis = %url.addr, namespace = %url.namespace,
            membership_timeout = ?url.membership_timeout, "coordination: member started");
        Ok(Arc::new(Self {
            tx,
            member: member.into(),
            url,
        }))
    }

    /// This member's id in every group.
    pub fn member_id(&self) -> &str {
        &self.member
    }

    pub fn membership_timeout(&self) -> Duration {
        self.url.membership_timeout
    }

    /// Join (creating when needed) these groups now, without waiting for the first poll, so
    /// the other members count this one from their next cycle on.
    pub async fn join(&self, groups: Vec<String>) {
        let _ = self.tx.send(Request::Join(groups)).await;
    }

    /// The live members of `group` with their weights (this member included: it joins the
    /// group first if it is not in it).
    pub async fn members(&self, group: &str) -> Result<Members, CoordinationError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Members {
                group: group.to_owned(),
                reply,
            })
            .await
            .map_err(|_| CoordinationError::Stopped)?;
        answer.await.map_err(|_| CoordinationError::Stopped)?
    }

    /// The ring of `group`'s live members.
    pub async fn ring(&self, group: &str) -> Result<(HashRing, usize), CoordinationError> {
        let members = self.members(group).await?;
        let ring = HashRing::new(members.iter().map(|(m, w)| (m.as_str(), *w)));
        Ok((ring, members.len()))
    }

    /// Leave every group and delete the beat key: the others take this member's resources
    /// over at their next cycle instead of after the membership timeout.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Request::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }
}

/// ceilo joins every group with tooz's default weight, as Ceilometer does.
const WEIGHT: u32 = 1;

async fn run(mut redis: tooz_redis::ToozRedis, mut rx: mpsc::Receiver<Request>) {
    let metrics = CoordinationMetrics::new();
    let mut joined: BTreeSet<String> = BTreeSet::new();
    let period = (redis.url.membership_timeout / 2).max(Duration::from_millis(100));
    // tooz beats once on start, before joining anything: a member must never be seen in a
    // group without its beat key, or the others prune it. The next beat is a period later (an
    // interval's first tick is immediate: it would beat twice, the second at an arbitrary point
    // among the first requests).
    let mut beating = redis.heartbeat().await.is_ok();
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !beating {
        metrics.error(CoordinationOp::Heartbeat);
    }
    loop {
        tokio::select! {
            _ = beat.tick() => {
                match redis.heartbeat().await {
                    Ok(()) => {
                        if !beating {
                            tracing::info!(member = redis.member(), "coordination: heartbeats get through again");
                            beating = true;
                        }
                    }
                    Err(e) => {
                        metrics.error(CoordinationOp::Heartbeat);
                        if beating {
                            tracing::warn!(member = redis.member(), error = %e,
                                "coordination: heartbeat failed; other members drop this one after the membership timeout");
                        }
                        beating = false;
                    }
                }
            }
            request = rx.recv() => match request {
                None => break,
                Some(Request::Join(groups)) => {
                    for group in groups {
                        let joining = async {
                            redis.heartbeat().await?;
                            redis.join(&group, WEIGHT).await
                        };
                        if let Err(e) = joining.await {
                            metrics.error(CoordinationOp::Join);
                            tracing::warn!(%group, error = %e, "coordination: cannot join the group yet (retried at the next poll)");
                        } else if joined.insert(group.clone()) {
                            tracing::info!(%group, member = redis.member(), "coordination: joined group");
                        }
                    }
                }
                Some(Request::Members { group, reply }) => {
                    let result = members(&mut redis, &group, &mut joined).await;
                    if result.is_err() {
                        metrics.error(CoordinationOp::Members);
                    }
                    let _ = reply.send(result);
                }
                Some(Request::Stop(done)) => {
                    for group in &joined {
                        let _ = redis.leave(group).await;
                    }
                    if let Err(e) = redis.stop().await {
                        tracing::warn!(error = %e, "coordination: could not remove the heartbeat key on stop");
                    }
                    tracing::info!(member = redis.member(), "coordination: left every group");
                    let _ = done.send(());
                    break;
                }
            }
        }
    }
}

async fn members(
    redis: &mut tooz_redis::ToozRedis,
    group: &str,
    joined: &mut BTreeSet<String>,
) -> Result<Members, CoordinationError> {
    let err = |e: resp::RespError| CoordinationError::Redis(e.to_string());
    if !joined.contains(group) {
        redis.heartbeat().await.map_err(err)?;
        redis.join(group, WEIGHT).await.map_err(err)?;
        joined.insert(group.to_owned());
        tracing::info!(%group, member = redis.member(), "coordination: joined group");
    }
    let me = redis.member().to_owned();
    match redis.members(group).await.map_err(err)? {
        Some(m) if m.iter().any(|(id, _)| *id == me) => Ok(m),
        _ => {
            // Pruned (our beats did not get through in time) or the group was deleted.
            tracing::warn!(%group, member = %me, "coordination: this member was no longer in the group: joining again");
            redis.heartbeat().await.map_err(err)?;
            redis.join(group, WEIGHT).await.map_err(err)?;
            Ok(redis.members(group).await.map_err(err)?.unwrap_or_default())
        }
    }
}
