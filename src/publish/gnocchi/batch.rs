//! Samples into Gnocchi: grouped per resource ([`group`]), measures pushed with one batch
//! request (`POST /v1/batch/resources/metrics/measures?create_metrics=true`), resources Gnocchi
//! does not know created from their attributes (once, whichever flush needs them first:
//! [`Creations`]) and the batch retried, then changed attributes
//! PATCHed — skipped when the [`AttributeCache`] says they are what Gnocchi already has.
//!
//! Ceilometer's order and shapes are kept (see `GnocchiPublisher.publish_samples`); what differs
//! is failure: every "not now" ([`Unavailable`]) goes back to the caller, which retries the
//! remaining work, and a refusal that concerns one resource (4xx on its creation, its measures
//! or its attributes) takes that resource out of the batch as [`Refused`] — to be dead-lettered
//! — so that the rest goes through. Ceilometer logs and drops instead.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use hyper::Method;
use serde_json::{json, Map, Value as Json};

use super::client::{GnocchiClient, Reply, Unavailable};
use super::creation::Creations;
use super::resources::{sample_document, Resources};
use crate::model::{OwnedValue, Sample, Value};

/// Entries kept in the attribute cache before it starts over (a cold cache costs PATCHes,
/// never correctness).
const CACHE_LIMIT: usize = 500_000;

/// Hashes of the attributes Gnocchi holds for each resource, as this process last set them.
#[derive(Default)]
pub struct AttributeCache {
    known: Mutex<HashMap<String, u64>>,
}

impl AttributeCache {
    fn hash(attributes: &Map<String, Json>) -> u64 {
        // serde_json's Map is ordered by key: the text is canonical, as Ceilometer's
        // `json.dumps(sort_keys=True)` is.
        let mut h = DefaultHasher::new();
        Json::Object(attributes.clone()).to_string().hash(&mut h);
        h.finish()
    }

    /// True when `attributes` are what was last stored for `id`.
    pub fn is_current(&self, id: &str, attributes: &Map<String, Json>) -> bool {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(id) == Some(&Self::hash(attributes))
    }

    pub fn remember(&self, id: &str, attributes: &Map<String, Json>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= CACHE_LIMIT {
            known.clear();
        }
        known.insert(id.to_owned(), Self::hash(attributes));
    }
}

/// One resource's share of a flush.
#[derive(Debug)]
pub struct ResourceWork {
    pub resource_type: String,
    pub user_id: Json,
    /// `project_id` and the definition's attributes, later samples overriding earlier ones.
    pub attributes: Map<String, Json>,
    /// Metric name → `{measures, archive_policy_name, unit}`, the batch endpoint's shape.
    pub metrics: Map<String, Json>,
    /// Indexes of the samples behind it, for dead-lettering.
    pub samples: Vec<usize>,
}

/// A flush's samples, per Gnocchi resource id (`/` replaced by `_`, which Gnocchi forbids).
#[derive(Debug, Default)]
pub struct Grouped {
    pub resources: BTreeMap<String, ResourceWork>,
}

/// A resource taken out of the batch because Gnocchi refused something about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub resource_id: String,
    pub samples: Vec<usize>,
    pub reason: String,
}

fn json_of(v: &OwnedValue) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Python's `str()` of an id for the few that are not strings (Ceilometer would fail on them).
fn id_text(v: &OwnedValue) -> String {
    match v {
        OwnedValue::String(s) => s.clone(),
        OwnedValue::Static(simd_json::StaticNode::Null) => String::new(),
        other => json_of(other).to_string(),
    }
}

/// What the filter drops: the Gnocchi service project's own activity (Ceilometer's
/// `_is_gnocchi_activity`): its samples, and the swift account Gnocchi stores into.
pub struct ProjectFilter<'a> {
    pub project_id: &'a str,
}

impl ProjectFilter<'_> {
    fn drops(&self, s: &Sample, resources: &Resources) -> bool {
        let project = matches!(&s.project_id, OwnedValue::String(p) if p == self.project_id);
        let swift = matches!(&s.resource_id, OwnedValue::String(r) if r == self.project_id)
            && resources
                .for_metric(&s.name)
                .is_some_and(|d| d.resource_type == "swift_account");
        project || swift
    }
}

/// Group `samples` per resource. Meters the file does not name are skipped, warned about once
/// each (`warned` remembers them across flushes).
pub fn group(
    samples: &[Sample],
    resources: &Resources,
    filter: Option<&ProjectFilter<'_>>,
    warned: &mut HashSet<String>,
) -> Grouped {
    let mut grouped = Grouped::default();
    for (i, s) in samples.iter().enumerate() {
        if filter.is_some_and(|f| f.drops(s, resources)) {
            continue;
        }
        let Some(def) = resources.for_metric(&s.name) else {
            if warned.insert(s.name.to_string()) {
                tracing::warn!(meter = %s.name, "metric {} is not handled by Gnocchi", s.name);
            }
            continue;
        };
        let id = id_text(&s.resource_id).replace('/', "_");
        let work = grouped.resources.entry(id).or_insert_with(|| ResourceWork {
            resource_type: def.resource_type.clone(),
            user_id: json_of(&s.user_id),
            attributes: Map::new(),
            metrics: Map::new(),
            samples: Vec::new(),
        });
        work.samples.push(i);
        work.attributes
            .insert("project_id".into(), json_of(&s.project_id));
        if !def.attributes.is_empty() {
            let doc = Value::from(sample_document(s));
            work.attributes.extend(def.sample_attributes(&doc));
        }
        let metric = work.metrics.entry(s.name.to_string()).or_insert_with(|| {
            json!({
                "measures": [],
                "archive_policy_name": def.metrics.get(&*s.name).cloned().unwrap_or_default(),
                "unit": &*s.unit,
            })
        });
        if let Some(Json::Array(measures)) = metric.get_mut("measures") {
            measures.push(json!({"timestamp": json_of(&s.timestamp), "value": json_of(&s.volume)}));
        }
    }
    grouped
}

/// `id` as one path segment.
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const BATCH_PATH: &str = "batch/resources/metrics/measures?create_metrics=true";

/// The resource ids a batch 400 names: `Unknown resources` lists them in `detail`; a
/// validation error's `detail` is a path into the body that starts with one.
fn named_resources(reply: &Reply, grouped: &Grouped) -> (bool, Vec<String>) {
    let description = reply.body.get("description");
    let cause = description.and_then(|d| d.get("cause")).and_then(Json::as_str);
    let detail = description.and_then(|d| d.get("detail")).and_then(Json::as_array);
    let unknown = cause == Some("Unknown resources");
    let ids = detail
        .into_iter()
        .flatten()
        .filter_map(|d| match d {
            Json::Object(o) => o.get("original_resource_id").and_then(Json::as_str),
            Json::String(s) => Some(s.as_str()),
            _ => None,
        })
        .filter(|id| grouped.resources.contains_key(*id))
        .map(str::to_owned)
        .take(if unknown { usize::MAX } else { 1 })
        .collect();
    (unknown, ids)
}

/// Push a flush's measures and attributes. Resources done are removed from `grouped`, so a
/// retry after [`Unavailable`] redoes only what is left (re-posting a measure Gnocchi already
/// has is harmless: same metric and timestamp, same value). Returns the refused resources.
pub async fn push(
    client: &GnocchiClient,
    grouped: &mut Grouped,
    measures_posted: &mut bool,
    cache: &AttributeCache,
    creations: &Creations,
) -> Result<Vec<Refused>, Unavailable> {
    let mut refused = Vec::new();
    let mut refuse = |grouped: &mut Grouped, id: &str, reason: String| {
        if let Some(work) = grouped.resources.remove(id) {
            tracing::error!(resource_id = id, resource_type = work.resource_type, %reason, "Gnocchi refused a resource's samples; dead-lettering them");
            refused.push(Refused {
                resource_id: id.to_owned(),
                samples: work.samples,
                reason,
            });
        }
    };
    // Each round either succeeds or takes at least one resource out (created or refused),
    // so this ends; the bound only guards against a Gnocchi that keeps naming new problems.
    let mut rounds = 0;
    while !*measures_posted && !grouped.resources.is_empty() {
        let body: Map<String, Json> = grouped
            .resources
            .iter()
            .map(|(id, w)| (id.clone(), Json::Object(w.metrics.clone())))
            .collect();
        let sent = creations.mark();
        let reply = client
            .call(Method::POST, BATCH_PATH, Some(&Json::Object(body)))
            .await?;
        if reply.is_success() {
            *measures_posted = true;
            break;
        }
        rounds += 1;
        let (unknown, ids) = named_resources(&reply, grouped);
        if unknown && !ids.is_empty() && rounds <= 3 {
            for (id, reason) in creations.ensure(client, grouped, ids, sent, cache).await? {
                refuse(grouped, &id, reason);
            }
        } else if let Some(id) = ids.first() {
            refuse(
                grouped,
                id,
                format!("measures refused: HTTP {}: {}", reply.status, reply.description()),
            );
        } else if grouped.resources.len() == 1 || rounds > 3 {
            // Nothing says which resource is wrong: with one left, it is that one.
            let ids: Vec<String> = grouped.resources.keys().cloned().collect();
            for id in ids {
                refuse(
                    grouped,
                    &id,
                    format!("measures refused: HTTP {}: {}", reply.status, reply.description()),
                );
            }
        } else {
            // Find the culprit by posting each resource on its own.
            let ids: Vec<String> = grouped.resources.keys().cloned().collect();
            for id in ids {
                let Some(work) = grouped.resources.get(&id) else {
                    continue;
                };
                let body = json!({ id.clone(): Json::Object(work.metrics.clone()) });
                let reply = client.call(Method::POST, BATCH_PATH, Some(&body)).await?;
                if !reply.is_success() && !named_resources(&reply, grouped).0 {
                    refuse(
                        grouped,
                        &id,
                        format!("measures refused: HTTP {}: {}", reply.status, reply.description()),
                    );
                }
            }
        }
    }
    // Attributes, for resources that existed already (created ones were cached on creation).
    let ids: Vec<String> = grouped.resources.keys().cloned().collect();
    for id in ids {
        let Some(work) = grouped.resources.get(&id) else {
            continue;
        };
        if work.attributes.is_empty() || cache.is_current(&id, &work.attributes) {
            grouped.resources.remove(&id);
            continue;
        }
        let path = format!(
            "resource/{}/{}",
            path_segment(&work.resource_type),
            path_segment(&id)
        );
        let reply = client
            .call(Method::PATCH, &path, Some(&Json::Object(work.attributes.clone())))
            .await?;
        if reply.is_success() {
            cache.remember(&id, &work.attributes);
            grouped.resources.remove(&id);
        } else {
            refuse(
                grouped,
                &id,
                format!(
                    "attributes refused: HTTP {}: {}",
                    reply.status,
                    reply.description()
                ),
            );
        }
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::gnocchi::resources::SHIPPED_RESOURCES;

    fn sample(name: &str, resource: &str, project: &str, volume: f64, meta: OwnedValue) -> Sample {
        Sample {
            name: name.into(),
            sample_type: "gauge".into(),
            unit: "MB".into(),
            volume: volume.into(),
            user_id: "u".into(),
            user_name: ().into(),
            project_id: project.into(),
            project_name: ().into(),
            resource_id: resource.into(),
            timestamp: "2026-01-01T00:00:00".into(),
            resource_metadata: std::sync::Arc::new(meta),
            source: "openstack".into(),
            id: "x".into(),
            monotonic_time: ().into(),
        }
    }

    #[test]
    fn groups_per_resource_like_ceilometer() {
        let r = Resources::parse(SHIPPED_RESOURCES, std::path::Path::new("shipped"), None)
            .unwrap()
            .0;
        let meta = simd_json::json!({"host": "h1", "display_name": "vm1"});
        let later = simd_json::json!({"host": "h2"});
        let samples = vec![
            sample("memory", "i/1", "p", 1.0, meta),
            sample("cpu", "i/1", "p2", 5.0, later),
            sample("unknown.meter", "x", "p", 1.0, simd_json::json!({})),
            sample("unknown.meter", "y", "p", 1.0, simd_json::json!({})),
            sample("memory", "svc", "gnocchi-project", 1.0, simd_json::json!({})),
        ];
        let mut warned = HashSet::new();
        let filter = ProjectFilter {
            project_id: "gnocchi-project",
        };
        let g = group(&samples, &r, Some(&filter), &mut warned);
        assert_eq!(warned.len(), 1);
        assert_eq!(g.resources.len(), 1);
        let w = &g.resources["i_1"];
        assert_eq!(w.resource_type, "instance");
        assert_eq!(w.samples, vec![0, 1]);
        assert_eq!(
            Json::Object(w.attributes.clone()),
            json!({"project_id": "p2", "host": "h2", "display_name": "vm1"})
        );
        assert_eq!(w.metrics["cpu"]["archive_policy_name"], "ceilometer-low-rate");
        assert_eq!(
            w.metrics["memory"]["measures"],
            json!([{"timestamp": "2026-01-01T00:00:00", "value": 1.0}])
        );
    }

    #[test]
    fn the_filter_drops_the_projects_samples_and_its_swift_account() {
        let r = Resources::parse(SHIPPED_RESOURCES, std::path::Path::new("shipped"), None)
            .unwrap()
            .0;
        let none = || simd_json::json!({});
        let samples = vec![
            sample("memory", "i1", "svc", 1.0, none()),
            // Gnocchi's own swift account: the resource is the project, whoever's sample it is.
            sample("storage.objects", "svc", "other", 1.0, none()),
            // Another project's account, and a resource merely named like the project.
            sample("storage.objects", "acct", "other", 1.0, none()),
            sample("memory", "svc", "other", 1.0, none()),
        ];
        let filter = ProjectFilter { project_id: "svc" };
        let g = group(&samples, &r, Some(&filter), &mut HashSet::new());
        let ids: Vec<&str> = g.resources.keys().map(String::as_str).collect();
        assert_eq!(ids, vec!["acct", "svc"]);
        assert_eq!(g.resources["svc"].resource_type, "instance");
        assert_eq!(group(&samples, &r, None, &mut HashSet::new()).resources.len(), 3);
    }

    #[test]
    fn cache_knows_unchanged_attributes() {
        let cache = AttributeCache::default();
        let a: Map<String, Json> = json!({"b": 1, "a": "x"}).as_object().cloned().unwrap();
        assert!(!cache.is_current("r", &a));
        cache.remember("r", &a);
        assert!(cache.is_current("r", &a));
        let mut changed = a.clone();
        changed.insert("a".into(), json!("y"));
        assert!(!cache.is_current("r", &changed));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(path_segment("0df2-x_y.z"), "0df2-x_y.z");
    }
}
