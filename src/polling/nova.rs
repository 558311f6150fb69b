//! What libvirt's nova metadata leaves out and Ceilometer 27's `libvirt_metadata` discovery
//! asks Nova for: the id of a flavor by its name. Nova writes the id into a guest's metadata
//! since 2025.2; a guest started before has only the name, and Ceilometer then asks
//! `novaclient`'s `flavors.find(name=..., is_public=None)` (API 2.1, the catalog type of
//! `[service_types] nova`, `compute`) and keeps the answer per name for the agent's life;
//! a name Nova does not know keeps the name as id.
//!
//! ceilo asks the same listing (`GET <nova>/flavors?is_public=None`, what `find` lists by name;
//! each page's `next` link followed, where novaclient reads the first page only) once for all
//! the names it has not seen, and keeps every answer, a name Nova
//! does not know included. Where Ceilometer's discovery fails (Nova unreachable, a name two
//! flavors share), no guest goes unpolled: the name stands in for the id, the failure is
//! logged, and an unreachable Nova is asked again at the next discovery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use simd_json::prelude::*;

use super::libvirt::Guest;
use super::service_api::{linked_page, Page, ServiceApi, Session};

/// The compute API version novaclient is made with.
const API_VERSION: (&str, &str) = ("X-OpenStack-Nova-API-Version", "2.1");

/// Nova's flavors, asked by name and kept.
pub struct NovaApi {
    api: ServiceApi,
    /// Flavor name → its id, or `None` when Nova has none or several of that name.
    ids: tokio::sync::Mutex<HashMap<String, Option<String>>>,
    /// Set once the agent has said that it cannot ask Nova (no credentials).
    said_unavailable: AtomicBool,
}

impl NovaApi {
    pub fn new(session: Session, service_type: &str) -> NovaApi {
        NovaApi {
            api: ServiceApi::new("Nova", session, vec![service_type.to_owned()]),
            ids: Default::default(),
            said_unavailable: AtomicBool::new(false),
        }
    }

    /// Nova's ids for the flavors of `guests` whose metadata names the flavor only; without an
    /// answer the name stays.
    pub async fn set_flavor_ids(&self, guests: &mut [Guest]) {
        let mut names: Vec<String> = guests
            .iter()
            .filter(|g| !g.flavor.id_in_metadata)
            .map(|g| g.flavor.name.clone())
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            return;
        }
        if let Some(why) = self.unavailable() {
            if !self.said_unavailable.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %why,
                    "local_instances: guests whose nova metadata has no flavor id get the flavor name as id");
            }
            return;
        }
        let asked: Vec<&str> = names.iter().map(String::as_str).collect();
        match self.flavor_ids(&asked).await {
            Ok(ids) => {
                for guest in guests.iter_mut().filter(|g| !g.flavor.id_in_metadata) {
                    if let Some(Some(id)) = ids.get(&guest.flavor.name) {
                        guest.set_flavor_id(id);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e,
                "local_instances: cannot ask Nova for flavor ids; this cycle, guests without one in \
                 their metadata get the flavor name as id"),
        }
    }

    /// Why Nova cannot be asked at all (no usable `service_credentials`).
    pub fn unavailable(&self) -> Option<String> {
        self.api.unavailable()
    }

    /// The ids of the flavors `names` name, as far as Nova knows them: one listing when any
    /// name has not been asked before, none otherwise.
    async fn flavor_ids(&self, names: &[&str]) -> Result<HashMap<String, Option<String>>, String> {
        let mut ids = self.ids.lock().await;
        if names.iter().any(|n| !ids.contains_key(*n)) {
            let listed = self.list().await?;
            for name in names {
                let mut matching = listed.iter().filter(|(n, _)| n == name).map(|(_, id)| id);
                let id = match (matching.next(), matching.next()) {
                    (Some(id), None) => Some(id.clone()),
                    (None, _) => None,
                    (Some(_), Some(_)) => {
                        tracing::warn!(flavor = %name,
                            "Nova has several flavors of this name: its guests get the name as flavor id");
                        None
                    }
                };
                ids.insert((*name).to_owned(), id);
            }
        }
        Ok(names
            .iter()
            .map(|n| ((*n).to_owned(), ids.get(*n).cloned().flatten()))
            .collect())
    }

    /// Every flavor the agent's user may see, as (name, id).
    async fn list(&self) -> Result<Vec<(String, String)>, String> {
        let versioned = versioned(&self.api.endpoint().await?);
        self.api
            .list(
                format!("{versioned}/flavors?is_public=None"),
                &[API_VERSION],
                read_page,
            )
            .await
    }
}

/// The 2.1 API under a catalog endpoint: the endpoint itself when it names a version already
/// (`…/v2.1`, `…/v2.1/<project>`), as deployments register Nova.
fn versioned(endpoint: &str) -> String {
    let path = endpoint.splitn(4, '/').nth(3).unwrap_or_default();
    if path.split('/').any(|part| part.starts_with("v2")) {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v2.1")
    }
}

/// One page of `flavors`: (name, id) of each flavor, and the `next` link.
pub fn read_page(reply: &[u8]) -> Result<Page<(String, String)>, String> {
    let (flavors, next) = linked_page(reply, "flavors", |f| {
        Some((f.get_str("name")?.to_owned(), f.get_str("id")?.to_owned()))
    })?;
    Ok((flavors.into_iter().flatten().collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_names_ids_and_the_next_link() {
        let reply = br#"{"flavors": [{"id": "1", "name": "m1.tiny", "ram": 512},
            {"id": "c0ffee", "name": "m1.custom", "links": []}, {"name": "no id"}],
            "flavors_links": [{"href": "http://nova:8774/v2.1/flavors?is_public=None&marker=c0ffee", "rel": "next"}]}"#;
        let (flavors, next) = read_page(reply).unwrap();
        assert_eq!(
            flavors,
            [
                ("m1.tiny".into(), "1".into()),
                ("m1.custom".into(), "c0ffee".into())
            ]
        );
        assert_eq!(
            next.as_deref(),
            Some("http://nova:8774/v2.1/flavors?is_public=None&marker=c0ffee")
        );
        let (_, next) = read_page(br#"{"flavors": []}"#).unwrap();
        assert_eq!(next, None);
        assert!(read_page(br#"{"servers": []}"#).is_err());
    }

    #[test]
    fn the_endpoint_is_versioned_unless_it_is_already() {
        assert_eq!(versioned("http://nova:8774"), "http://nova:8774/v2.1");
        assert_eq!(versioned("http://nova:8774/v2.1"), "http://nova:8774/v2.1");
        assert_eq!(
            versioned("http://nova:8774/v2.1/abc"),
            "http://nova:8774/v2.1/abc"
        );
        assert_eq!(
            versioned("https://cloud/compute/v2.1"),
            "https://cloud/compute/v2.1"
        );
        assert_eq!(versioned("http://v2-nova:8774"), "http://v2-nova:8774/v2.1");
    }
}
