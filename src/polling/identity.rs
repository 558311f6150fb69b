//! `[polling] identity_name_discovery`: every polled sample's `project_name` and `user_name`
//! looked up in Keystone by its `project_id` and `user_id`, as Ceilometer's polling manager
//! does before it sends a sample (`ceilometer/polling/manager.py`, through
//! `cache_utils.CacheClient.resolve_uuid_from_cache`):
//!
//! * every sample of every pollster, when the option is on; an empty or null id is left alone;
//! * `GET /v3/projects/<id>` and `GET /v3/users/<id>` with the agent's Keystone session
//!   ([`crate::keystone`], `service_credentials`: one token, reused), the name taken from the
//!   reply;
//! * names cached by id for 600 s (Ceilometer's `CACHE_DURATION`, the expiry of its in-memory
//!   `oslo_cache.dict` region), so an id costs one request per 10 minutes whatever the
//!   number of samples;
//! * an id Keystone does not know (404) gets a null name, with one warning.
//!
//! Where ceilo differs, and why:
//! * Ceilometer 27 itself never finds a name: its Keystone client moved to openstacksdk and
//!   has no `projects`/`users` any more, so every look-up logs `Found ''Client' object has no
//!   attribute 'projects'' while resolving uuid` and leaves the name null. ceilo does what the
//!   option documents (and what Ceilometer did with keystoneclient).
//! * Ceilometer looks an unknown id up again for every sample (it caches `None` as a miss);
//!   ceilo caches "not found" like a name, for the same 600 s, so a deleted project does not
//!   cost a Keystone request per sample.
//! * Keystone unreachable or refusing: Ceilometer's exception ends the pollster's poll and its
//!   remaining samples are lost. ceilo sends the samples without the names (null), logs a
//!   warning, and asks Keystone nothing for [`RETRY_AFTER`], so that an outage does not make
//!   every sample wait for a timeout. Nothing is cached from a failure.
//!
//! Not done: notification samples (Ceilometer 27 applies the option to multi-valued meter
//! definitions too), `[cache]` backends other than in-process memory.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use simd_json::prelude::*;

use super::SampleSink;
use crate::keystone::{Identity, Keystone, KeystoneError, KeystoneSettings};
use crate::model::SampleBatch;
use crate::model::{OwnedValue, Sample};

/// How long a name (or its absence) is reused: Ceilometer's `cache_utils.CACHE_DURATION`.
pub const CACHE_FOR: Duration = Duration::from_secs(600);
/// After Keystone failed to answer, how long samples go out without names before it is asked
/// again.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// One Keystone request's bound (keystoneauth1 sets none by default; a poll must not hang).
const TIMEOUT: Duration = Duration::from_secs(10);

/// A name (or "none") by what it names, and when Keystone said it.
type Cache = HashMap<(Identity, String), (Option<String>, Instant)>;

/// The cached names, and the Keystone session they come from.
pub struct NameDiscovery {
    keystone: Keystone,
    cache: Mutex<Cache>,
    down_until: Mutex<Option<Instant>>,
}

impl NameDiscovery {
    pub fn new(settings: &KeystoneSettings) -> Result<NameDiscovery, String> {
        let keystone = Keystone::new(settings.clone(), settings.http_client()?, TIMEOUT)?;
        Ok(NameDiscovery {
            keystone,
            cache: Mutex::new(HashMap::new()),
            down_until: Mutex::new(None),
        })
    }

    /// Fill in the names of `samples` (all of them, or none past a Keystone failure).
    pub async fn name(&self, samples: &mut [Sample]) {
        for sample in samples {
            for (what, id, name) in [
                (Identity::Project, &sample.project_id, &mut sample.project_name),
                (Identity::User, &sample.user_id, &mut sample.user_name),
            ] {
                let Some(id) = id.as_str().filter(|id| !id.is_empty()) else {
                    continue;
                };
                match self.lookup(what, id).await {
                    Ok(found) => *name = found.map_or_else(OwnedValue::null, OwnedValue::from),
                    Err(()) => return,
                }
            }
        }
    }

    /// The cached name, or Keystone's answer; `Err` while Keystone is failing.
    async fn lookup(&self, what: Identity, id: &str) -> Result<Option<String>, ()> {
        let key = (what, id.to_owned());
        let now = Instant::now();
        if let Some((name, at)) = self.lock_cache().get(&key) {
            if now.duration_since(*at) < CACHE_FOR {
                return Ok(name.clone());
            }
        }
        if self.down_until().is_some_and(|until| now < until) {
            return Err(());
        }
        match self.keystone.name_of(what, id).await {
            Ok(name) => {
                if name.is_none() {
                    tracing::warn!(kind = ?what, id, "identity_name_discovery: Keystone has no such id; its name stays null");
                }
                self.lock_cache().insert(key, (name.clone(), Instant::now()));
                Ok(name)
            }
            Err(e) => {
                self.failed(&e);
                Err(())
            }
        }
    }

    fn failed(&self, e: &KeystoneError) {
        tracing::warn!(
            error = %e,
            retry_in_s = RETRY_AFTER.as_secs(),
            "identity_name_discovery: Keystone did not answer; samples are sent without user_name/project_name until it does"
        );
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + RETRY_AFTER);
    }

    fn down_until(&self) -> Option<Instant> {
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A [`SampleSink`] that names the samples of each batch, then hands it on.
pub struct NamingSink {
    pub names: Arc<NameDiscovery>,
    pub next: Arc<dyn SampleSink>,
}

impl SampleSink for NamingSink {
    fn send(&self, mut batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            self.names.name(&mut batch.samples).await;
            self.next.send(batch).await
        })
    }
}
