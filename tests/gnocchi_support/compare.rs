//! The comparison of two Gnocchis fed the same notifications (one by Ceilometer, one by ceilo):
//! a [`Snapshot`] keeps what a publisher decides — resources (type, original id, user, project,
//! attributes, whether `ended_at` is set) with their metric names, each metric's archive
//! policy and unit, and its aggregated measures (timestamp, granularity, value) — and leaves
//! out what Gnocchi generates (uuids, revisions, `started_at`, the creator, `ended_at`'s time).
//! [`differences`] lists every difference, one line each, by kind.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::Gnocchi;

/// What one Gnocchi holds, keyed by original resource id.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// original id → the resource without generated fields.
    pub resources: BTreeMap<String, Json>,
    /// (original id, metric name) → {archive_policy, unit, measures}.
    pub metrics: BTreeMap<(String, String), Json>,
}

/// Fields Gnocchi fills in itself.
const GENERATED: [&str; 9] = [
    "id",
    "revision_start",
    "revision_end",
    "started_at",
    "creator",
    "created_by_user_id",
    "created_by_project_id",
    "metrics",
    "ended_at",
];

pub fn snapshot(g: &Gnocchi) -> Snapshot {
    let mut resources = BTreeMap::new();
    let mut metrics = BTreeMap::new();
    for r in g.resources() {
        let original = r["original_resource_id"].as_str().unwrap_or_default().to_owned();
        let mut kept = r.as_object().cloned().unwrap_or_default();
        for f in GENERATED {
            kept.remove(f);
        }
        kept.insert("ended".into(), Json::Bool(!r["ended_at"].is_null()));
        let names: Vec<Json> = r["metrics"]
            .as_object()
            .map(|m| m.keys().map(|k| Json::from(k.as_str())).collect())
            .unwrap_or_default();
        kept.insert("metric_names".into(), Json::Array(names));
        for (name, id) in r["metrics"].as_object().into_iter().flatten() {
            let id = id.as_str().unwrap_or_default();
            let metric = g.get(&format!("/v1/metric/{id}"));
            metrics.insert(
                (original.clone(), name.clone()),
                serde_json::json!({
                    "archive_policy": metric["archive_policy"]["name"],
                    "unit": metric["unit"],
                    "measures": g.measures(id),
                }),
            );
        }
        resources.insert(original, Json::Object(kept));
    }
    Snapshot { resources, metrics }
}

/// The differences of [`diff`], by kind.
#[derive(Debug, Default)]
pub struct Differences {
    /// Resources or metrics both have, which differ.
    pub changed: Vec<String>,
    /// Only in the reference (`a`).
    pub missing: Vec<String>,
    /// Only in `b`.
    pub extra: Vec<String>,
}

/// The differences between `a` (the reference) and `b`, labelled with `names`.
pub fn differences(a: &Snapshot, b: &Snapshot, names: (&str, &str)) -> Differences {
    let (na, nb) = names;
    let mut d = Differences::default();
    for (id, ra) in &a.resources {
        match b.resources.get(id) {
            None => d.missing.push(format!("resource {id}: only in {na}: {ra}")),
            Some(rb) if rb != ra => d.changed.push(format!("resource {id}: {na} {ra}\n    {nb} {rb}")),
            Some(_) => {}
        }
    }
    for id in b.resources.keys().filter(|id| !a.resources.contains_key(*id)) {
        d.extra
            .push(format!("resource {id}: only in {nb}: {}", b.resources[id]));
    }
    for (key, ma) in &a.metrics {
        match b.metrics.get(key) {
            None => d.missing.push(format!("metric {key:?}: only in {na}")),
            Some(mb) if mb != ma => d
                .changed
                .push(format!("metric {key:?}: {na} {ma}\n    {nb} {mb}")),
            Some(_) => {}
        }
    }
    for key in b.metrics.keys().filter(|k| !a.metrics.contains_key(*k)) {
        d.extra.push(format!("metric {key:?}: only in {nb}"));
    }
    d
}
