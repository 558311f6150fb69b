//! Creating the resources Gnocchi does not know yet, once across a publisher's concurrent
//! flushes.
//!
//! Flushes run concurrently (up to the publisher's in-flight bound) and, at start-up, carry the
//! same new resources: every one of their batches is answered `Unknown resources` for the same
//! ids. Each creation costs Gnocchi's API as much as a real one even when it ends in 409, so
//! [`Creations`] is one record, shared by the flushes, of the creations in progress and done:
//! the first flush that needs a resource creates it, and the others wait for that creation
//! and then post their batch again.
//!
//! A creation that did not succeed is not an answer for the waiting flushes: Gnocchi refused
//! the creator's attributes (a 4xx: those samples are dead-lettered, and another flush's may
//! be fine), Gnocchi was unavailable, or the creating flush was dropped. Each waiter then
//! tries again with its own attributes.
//!
//! A creation done is reused only by a flush whose batch went out before it finished (Gnocchi
//! answered that batch without seeing it). A flush that sent its batch later and still hears
//! "unknown" creates the resource again: it was deleted meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;

use hyper::Method;
use serde_json::{Map, Value as Json};
use tokio::sync::watch;

use super::batch::{path_segment, AttributeCache, Grouped};
use super::client::{GnocchiClient, Unavailable};

/// Finished creations kept before the record keeps only those in progress (forgetting one
/// costs at most a 409, never correctness).
const DONE_LIMIT: usize = 10_000;

#[derive(Default)]
pub struct Creations {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Counts finished creations; a batch notes it when sent ([`Creations::mark`]).
    clock: u64,
    entries: HashMap<String, Entry>,
}

enum Entry {
    /// Being created; the value turns true when created, the sender is dropped when not.
    Creating(watch::Receiver<bool>),
    /// Created at this clock tick.
    Created(u64),
}

/// When a batch was sent, on the [`Creations`] clock.
#[derive(Debug, Clone, Copy)]
pub struct Mark(u64);

/// The right to create one resource; dropped without [`Claim::created`], the entry is removed
/// and the waiters try themselves.
struct Claim<'a> {
    creations: &'a Creations,
    id: String,
    done: watch::Sender<bool>,
}

impl Claim<'_> {
    fn created(self) {
        let mut inner = self.creations.lock();
        inner.clock += 1;
        let at = inner.clock;
        if inner.entries.len() >= DONE_LIMIT {
            inner.entries.retain(|_, e| matches!(e, Entry::Creating(_)));
        }
        inner.entries.insert(self.id.clone(), Entry::Created(at));
        self.done.send_replace(true);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if *self.done.borrow() {
            return;
        }
        let mut inner = self.creations.lock();
        if matches!(inner.entries.get(&self.id), Some(Entry::Creating(_))) {
            inner.entries.remove(&self.id);
        }
    }
}

impl Creations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Taken just before a batch is sent.
    pub fn mark(&self) -> Mark {
        Mark(self.lock().clock)
    }

    /// Make sure the resources `ids` of `grouped` exist, Gnocchi having answered a batch sent
    /// at `sent` that they do not: create those no flush is creating, wait for the others.
    /// Returns the ones Gnocchi refused to create, with why.
    pub async fn ensure(
        &self,
        client: &GnocchiClient,
        grouped: &Grouped,
        ids: Vec<String>,
        sent: Mark,
        cache: &AttributeCache,
    ) -> Result<Vec<(String, String)>, Unavailable> {
        let mut refused = Vec::new();
        let mut left = ids;
        while !left.is_empty() {
            let (mine, waits) = self.claim(left.drain(..), sent);
            // Every claim is held before the first await: if this flush fails or is dropped
            // midway, the claims not done are released and their waiters go on.
            for claim in mine {
                match create(client, grouped, &claim.id, cache).await? {
                    None => claim.created(),
                    Some(reason) => refused.push((claim.id.clone(), reason)),
                }
            }
            for (id, mut rx) in waits {
                if rx.wait_for(|created| *created).await.is_err() {
                    left.push(id);
                }
            }
        }
        Ok(refused)
    }

    /// Sort `ids` into the ones this flush is to create (claimed now) and the ones another
    /// flush is creating (to wait for); those created since `sent` are neither.
    fn claim(
        &self,
        ids: impl Iterator<Item = String>,
        sent: Mark,
    ) -> (Vec<Claim<'_>>, Vec<(String, watch::Receiver<bool>)>) {
        let mut mine = Vec::new();
        let mut waits = Vec::new();
        let mut inner = self.lock();
        for id in ids {
            match inner.entries.get(&id) {
                Some(Entry::Created(at)) if *at > sent.0 => {}
                // A sender gone without a word: its claim is being dropped right now.
                Some(Entry::Creating(rx)) if rx.has_changed().is_ok() => waits.push((id, rx.clone())),
                _ => {
                    let (done, rx) = watch::channel(false);
                    inner.entries.insert(id.clone(), Entry::Creating(rx));
                    mine.push(Claim {
                        creations: self,
                        id,
                        done,
                    });
                }
            }
        }
        (mine, waits)
    }
}

/// Create resource `id` from its attributes. `Ok(None)` when it exists now (created, or
/// created meanwhile by another agent: 409), `Ok(Some(reason))` when Gnocchi refused it.
async fn create(
    client: &GnocchiClient,
    grouped: &Grouped,
    id: &str,
    cache: &AttributeCache,
) -> Result<Option<String>, Unavailable> {
    let Some(work) = grouped.resources.get(id) else {
        return Ok(None);
    };
    let mut body = Map::new();
    body.insert("id".into(), Json::String(id.to_owned()));
    body.insert("user_id".into(), work.user_id.clone());
    body.extend(work.attributes.clone());
    let path = format!("resource/{}", path_segment(&work.resource_type));
    let reply = client
        .call(Method::POST, &path, Some(&Json::Object(body)))
        .await?;
    match reply.status {
        200..=299 => {
            cache.remember(id, &work.attributes);
            Ok(None)
        }
        409 => Ok(None),
        // The resource type is missing: the deployment is not set up (`ceilo upgrade`, or
        // Ceilometer's `ceilometer-upgrade`, creates the types), not a bad sample. Hold
        // everything until it is.
        404 => Err(Unavailable {
            method: Method::POST,
            url: path,
            reason: format!(
                "{} (create Ceilometer's resource types: ceilo upgrade, or ceilometer-upgrade)",
                reply.description()
            ),
            status: Some(404),
        }),
        status => Ok(Some(format!(
            "creating the {} resource refused: HTTP {status}: {}",
            work.resource_type,
            reply.description()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> impl Iterator<Item = String> {
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter()
    }

    type Claimed<'a> = (Vec<Claim<'a>>, Vec<(String, watch::Receiver<bool>)>);

    fn claimed<'b>(c: &'b Claimed<'_>) -> (Vec<&'b str>, Vec<&'b str>) {
        (
            c.0.iter().map(|c| c.id.as_str()).collect(),
            c.1.iter().map(|w| w.0.as_str()).collect(),
        )
    }

    #[test]
    fn one_flush_creates_the_others_wait_and_reuse_it() {
        let c = Creations::default();
        let sent = c.mark();
        let (mut a, b) = (c.claim(ids(&["x", "y"]), sent), c.claim(ids(&["y", "z"]), sent));
        assert_eq!(claimed(&a), (vec!["x", "y"], vec![]));
        assert_eq!(claimed(&b), (vec!["z"], vec!["y"]));
        let mut waiter = b.1[0].1.clone();
        a.0.pop().expect("y").created();
        assert!(*waiter.borrow_and_update(), "the waiter sees y created");
        // A batch that went out before y was created reuses the creation...
        assert_eq!(claimed(&c.claim(ids(&["y"]), sent)), (vec![], vec![]));
        // ...one sent after it hears "unknown" because y was deleted since: create it again.
        assert_eq!(claimed(&c.claim(ids(&["y"]), c.mark())), (vec!["y"], vec![]));
    }

    #[test]
    fn a_creation_that_fails_or_is_dropped_lets_the_waiters_try() {
        let c = Creations::default();
        let sent = c.mark();
        let a = c.claim(ids(&["x"]), sent);
        let b = c.claim(ids(&["x"]), sent);
        let mut waiter = b.1[0].1.clone();
        drop(a); // refused, unavailable or the flush dropped: the claim is released
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert!(rt.block_on(waiter.wait_for(|created| *created)).is_err());
        assert_eq!(claimed(&c.claim(ids(&["x"]), sent)), (vec!["x"], vec![]));
    }

    #[test]
    fn the_record_of_done_creations_is_bounded() {
        let c = Creations::default();
        let sent = c.mark();
        for i in 0..DONE_LIMIT + 5 {
            let (mut mine, _) = c.claim(std::iter::once(format!("r{i}")), sent);
            mine.pop().expect("claimed").created();
        }
        assert!(c.lock().entries.len() <= DONE_LIMIT);
    }
}
