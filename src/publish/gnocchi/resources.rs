//! gnocchi_resources.yaml compiled once: which resource type and archive policy each meter
//! goes to, the resource attributes read from a sample (jsonpath over `Sample.as_dict()`, the
//! dialect of meters.yaml through [`Field`]), and the rules that turn events into resource
//! creations, updates and ends. Only reading the file lives here; talking to Gnocchi does not.
//!
//! Ceilometer's rules kept: a metric's policy is its own `archive_policy_name`, else the file's
//! `archive_policy_default` (else `ceilometer-low`); the URL's `archive_policy` overrides both; a
//! resource type's deprecated `archive_policy` overrides even that. A resource definition that
//! does not compile is skipped with an error logged (Ceilometer logs and goes on), so one bad
//! entry does not stop the publisher. `metrics` may be a list or a mapping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_serde::Value as Yaml;

use crate::event::glob::Glob;
use crate::meter::field::Field;
use crate::model::{Sample, Value};

/// The file Ceilometer ships (publisher/data/gnocchi_resources.yaml), used when the config
/// directory has none.
pub const SHIPPED_RESOURCES: &str = include_str!("../../../config/gnocchi_resources.yaml");

/// Why gnocchi_resources.yaml cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ResourcesError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{file}: {source}")]
    Yaml { file: String, source: yaml_serde::Error },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
}

/// What an event does to the resource its rule names (Ceilometer's EVENT_CREATE/UPDATE/DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOp {
    Create,
    Update,
    Delete,
}

/// One `resources:` entry.
#[derive(Debug)]
pub struct ResourceDef {
    pub resource_type: String,
    /// Meter name → archive policy name.
    pub metrics: HashMap<String, String>,
    /// Attribute name → where its value is in `Sample.as_dict()`.
    pub attributes: Vec<(String, Field)>,
    event_create: Vec<Glob>,
    event_update: Vec<Glob>,
    event_delete: Vec<Glob>,
    /// Resource attribute → trait name.
    pub event_attributes: Vec<(String, String)>,
    /// Resource type → search query template (`%s` is the event's resource id).
    pub event_associated_resources: Vec<(String, String)>,
}

impl ResourceDef {
    /// Which operation `event_type` asks for; create rules win over delete over update, as in
    /// Ceilometer's `event_match`.
    pub fn event_match(&self, event_type: &str) -> Option<EventOp> {
        let any = |globs: &[Glob]| globs.iter().any(|g| g.matches(event_type));
        if any(&self.event_create) {
            Some(EventOp::Create)
        } else if any(&self.event_delete) {
            Some(EventOp::Delete)
        } else if any(&self.event_update) {
            Some(EventOp::Update)
        } else {
            None
        }
    }

    /// The attributes a sample gives its resource (`None` values left out), in file order.
    /// `doc` is the sample's `as_dict()` (see [`sample_document`]).
    pub fn sample_attributes(&self, doc: &Value<'_>) -> serde_json::Map<String, serde_json::Value> {
        let mut attrs = serde_json::Map::new();
        for (name, field) in &self.attributes {
            // A jsonpath that raises is a missing value here: Ceilometer's publisher would log
            // the exception for the whole batch; one attribute is not worth losing samples over.
            if let Ok(Some(v)) = field.first(doc) {
                if let Ok(json) = serde_json::to_value(v.as_ref()) {
                    attrs.insert(name.clone(), json);
                }
            }
        }
        attrs
    }
}

/// The compiled file.
#[derive(Debug)]
pub struct Resources {
    pub defs: Vec<ResourceDef>,
    /// `archive_policies:` as written, for creating the missing ones.
    pub archive_policies: Vec<serde_json::Value>,
    /// Meter name → index into `defs` (the last definition naming a meter wins, as in
    /// Ceilometer's dict comprehension).
    metric_map: HashMap<String, usize>,
}

impl Resources {
    /// `name` from the config dir when it is there (or an absolute path), else the shipped file.
    /// Returns the file actually used, for logs and `ceilo check`.
    pub fn load(
        config_dir: &Path,
        name: &str,
        archive_policy_override: Option<&str>,
    ) -> Result<(Resources, String), ResourcesError> {
        let path = config_dir.join(name);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|source| ResourcesError::Read {
                path: path.clone(),
                source,
            })?;
            let file = path.display().to_string();
            Ok((Self::parse(&text, &file, archive_policy_override)?, file))
        } else {
            let file = "<shipped gnocchi_resources.yaml>".to_owned();
            Ok((
                Self::parse(SHIPPED_RESOURCES, &file, archive_policy_override)?,
                file,
            ))
        }
    }

    pub fn parse(
        text: &str,
        file: &str,
        archive_policy_override: Option<&str>,
    ) -> Result<Resources, ResourcesError> {
        let doc: Yaml = yaml_serde::from_str(text).map_err(|source| ResourcesError::Yaml {
            file: file.to_owned(),
            source,
        })?;
        let invalid = |problem: String| ResourcesError::Invalid {
            file: file.to_owned(),
            problem,
        };
        let default_policy = doc
            .get("archive_policy_default")
            .and_then(Yaml::as_str)
            .unwrap_or("ceilometer-low");
        let archive_policies = match doc.get("archive_policies") {
            None | Some(Yaml::Null) => Vec::new(),
            Some(v) => serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .ok_or_else(|| invalid("archive_policies must be a list".into()))?,
        };
        let mut defs = Vec::new();
        let entries = doc.get("resources").and_then(Yaml::as_sequence);
        for (i, entry) in entries.into_iter().flatten().enumerate() {
            match compile_def(entry, default_policy, archive_policy_override) {
                Ok(def) => defs.push(def),
                Err(problem) => {
                    tracing::error!(file, resource = i, %problem, "skipping a Gnocchi resource definition")
                }
            }
        }
        let metric_map = defs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.metrics.keys().map(move |m| (m.clone(), i)))
            .collect();
        Ok(Resources {
            defs,
            archive_policies,
            metric_map,
        })
    }

    /// The definition a meter's samples go to.
    pub fn for_metric(&self, meter: &str) -> Option<&ResourceDef> {
        self.metric_map.get(meter).map(|&i| &self.defs[i])
    }

    /// The first definition with an event rule for `event_type`, and what it asks for.
    pub fn for_event(&self, event_type: &str) -> Option<(&ResourceDef, EventOp)> {
        self.defs
            .iter()
            .find_map(|d| d.event_match(event_type).map(|op| (d, op)))
    }
}

fn strings(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::String(s)) => vec![s.clone()],
        Some(Yaml::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn string_map(v: Option<&Yaml>, what: &str) -> Result<Vec<(String, String)>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let map = v
        .as_mapping()
        .ok_or_else(|| format!("{what} must be a mapping"))?;
    map.iter()
        .map(|(k, v)| match (k.as_str(), v.as_str()) {
            (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{what}: keys and values must be strings")),
        })
        .collect()
}

fn compile_def(entry: &Yaml, default_policy: &str, overridden: Option<&str>) -> Result<ResourceDef, String> {
    let resource_type = entry
        .get("resource_type")
        .and_then(Yaml::as_str)
        .ok_or("Required field resource_type not specified")?
        .to_owned();
    let deprecated_policy = entry.get("archive_policy").and_then(Yaml::as_str);
    if let Some(p) = deprecated_policy {
        tracing::warn!(
            resource_type,
            policy = p,
            "archive_policy for a resource type is deprecated, set it for each metric instead"
        );
    }
    let policy_of = |extra: Option<&Yaml>| -> String {
        let own = extra
            .and_then(|e| e.get("archive_policy_name"))
            .and_then(Yaml::as_str)
            .filter(|s| !s.is_empty());
        deprecated_policy
            .or(overridden)
            .or(own)
            .unwrap_or(default_policy)
            .to_owned()
    };
    let metrics = match entry.get("metrics") {
        Some(Yaml::Sequence(names)) => names
            .iter()
            .map(|n| n.as_str().map(|n| (n.to_owned(), policy_of(None))))
            .collect::<Option<HashMap<_, _>>>()
            .ok_or("metrics: names must be strings")?,
        Some(Yaml::Mapping(m)) => m
            .iter()
            .map(|(k, extra)| k.as_str().map(|n| (n.to_owned(), policy_of(Some(extra)))))
            .collect::<Option<HashMap<_, _>>>()
            .ok_or("metrics: names must be strings")?,
        _ => {
            return Err(format!(
                "{resource_type}: Required field metrics should be a list or a mapping"
            ))
        }
    };
    let mut attributes = Vec::new();
    if let Some(attrs) = entry.get("attributes").and_then(Yaml::as_mapping) {
        for (k, cfg) in attrs {
            let name = k.as_str().ok_or("attribute names must be strings")?;
            let field = Field::compile(name, cfg).map_err(|e| format!("{resource_type}: {e}"))?;
            attributes.push((name.to_owned(), field));
        }
    }
    let event_attributes = string_map(entry.get("event_attributes"), "event_attributes")?;
    let def = ResourceDef {
        event_create: strings(entry.get("event_create"))
            .iter()
            .map(|g| Glob::new(g))
            .collect(),
        event_update: strings(entry.get("event_update"))
            .iter()
            .map(|g| Glob::new(g))
            .collect(),
        event_delete: strings(entry.get("event_delete"))
            .iter()
            .map(|g| Glob::new(g))
            .collect(),
        event_associated_resources: string_map(
            entry.get("event_associated_resources"),
            "event_associated_resources",
        )?,
        resource_type,
        metrics,
        attributes,
        event_attributes,
    };
    let has_events =
        !(def.event_create.is_empty() && def.event_update.is_empty() && def.event_delete.is_empty());
    if has_events && !def.event_attributes.iter().any(|(k, _)| k == "id") {
        return Err(format!(
            "{}: Required field id not specified in event_attributes",
            def.resource_type
        ));
    }
    Ok(def)
}

/// A sample as Ceilometer's `Sample.as_dict()`, the document attribute paths are read from.
pub fn sample_document(s: &Sample) -> crate::model::OwnedValue {
    use crate::model::OwnedValue;
    let mut m = simd_json::owned::Object::with_capacity_and_hasher(14, Default::default());
    let text = |t: &str| OwnedValue::String(t.to_owned());
    m.insert("name".into(), text(&s.name));
    m.insert("type".into(), text(&s.sample_type));
    m.insert("unit".into(), text(&s.unit));
    m.insert("volume".into(), s.volume.clone());
    m.insert("user_id".into(), s.user_id.clone());
    m.insert("user_name".into(), s.user_name.clone());
    m.insert("project_id".into(), s.project_id.clone());
    m.insert("project_name".into(), s.project_name.clone());
    m.insert("resource_id".into(), s.resource_id.clone());
    m.insert("timestamp".into(), s.timestamp.clone());
    m.insert("resource_metadata".into(), (*s.resource_metadata).clone());
    m.insert("source".into(), text(&s.source));
    m.insert("id".into(), text(&s.id));
    m.insert("monotonic_time".into(), s.monotonic_time.clone());
    OwnedValue::Object(Box::new(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(overridden: Option<&str>) -> Resources {
        Resources::parse(SHIPPED_RESOURCES, "shipped", overridden).unwrap()
    }

    #[test]
    fn every_shipped_definition_compiles() {
        let r = shipped(None);
        let expected = SHIPPED_RESOURCES.matches("- resource_type:").count();
        assert_eq!(r.defs.len(), expected);
        assert_eq!(r.archive_policies.len(), 4);
    }

    #[test]
    fn the_config_dirs_file_is_used_else_the_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        let (r, file) = Resources::load(dir.path(), "gnocchi_resources.yaml", None).unwrap();
        assert_eq!(file, "<shipped gnocchi_resources.yaml>");
        assert_eq!(r.defs.len(), shipped(None).defs.len());
        std::fs::write(
            dir.path().join("mine.yaml"),
            "resources:\n  - resource_type: generic\n    metrics:\n      my.meter:\n",
        )
        .unwrap();
        let (r, file) = Resources::load(dir.path(), "mine.yaml", None).unwrap();
        assert!(file.ends_with("mine.yaml"), "{file}");
        assert_eq!(r.for_metric("my.meter").unwrap().resource_type, "generic");
        assert!(r.for_metric("cpu").is_none(), "only the config dir's file");
        std::fs::write(dir.path().join("bad.yaml"), "resources: [\n").unwrap();
        let e = Resources::load(dir.path(), "bad.yaml", None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bad.yaml"), "the error names the file: {e}");
    }

    #[test]
    fn archive_policies_follow_ceilometers_precedence() {
        let r = shipped(None);
        assert_eq!(r.for_metric("cpu").unwrap().metrics["cpu"], "ceilometer-low-rate");
        assert_eq!(
            r.for_metric("memory").unwrap().metrics["memory"],
            "ceilometer-low"
        );
        assert_eq!(r.for_metric("memory").unwrap().resource_type, "instance");
        let r = shipped(Some("ceilometer-high"));
        assert_eq!(r.for_metric("cpu").unwrap().metrics["cpu"], "ceilometer-high");
        let text = "resources:\n  - resource_type: x\n    archive_policy: old\n    metrics: [a]\n";
        let r = Resources::parse(text, "t", Some("ceilometer-high")).unwrap();
        assert_eq!(r.for_metric("a").unwrap().metrics["a"], "old");
        assert!(r.for_metric("b").is_none());
    }

    #[test]
    fn event_rules_match_like_fnmatch() {
        let r = shipped(None);
        let (def, op) = r.for_event("compute.instance.delete.start").unwrap();
        assert_eq!((def.resource_type.as_str(), op), ("instance", EventOp::Delete));
        let (def, op) = r.for_event("volume.transfer.accept.end").unwrap();
        assert_eq!((def.resource_type.as_str(), op), ("volume", EventOp::Update));
        assert_eq!(
            r.for_event("compute.instance.create.end").unwrap().1,
            EventOp::Create
        );
        assert!(r.for_event("compute.instance.update").is_none());
        assert_eq!(
            def.event_attributes[0],
            ("id".to_owned(), "resource_id".to_owned())
        );
    }

    #[test]
    fn a_bad_definition_is_skipped_not_fatal() {
        let text = "resources:\n  - resource_type: bad\n    metrics: [a]\n    attributes:\n      x: 'a[?'\n  - resource_type: good\n    metrics: [b]\n";
        let r = Resources::parse(text, "t", None).unwrap();
        assert!(r.for_metric("a").is_none());
        assert_eq!(r.for_metric("b").unwrap().resource_type, "good");
    }

    #[test]
    fn attributes_are_read_from_the_sample_with_the_meters_dialect() {
        let r = shipped(None);
        let def = r.for_metric("memory").unwrap();
        let meta: simd_json::OwnedValue = simd_json::json!({
            "host": "compute-1", "display_name": "vm", "flavor": {"id": "f1", "name": "m1.tiny"},
            "image_ref": null,
        });
        let sample = Sample {
            name: "memory".into(),
            sample_type: "gauge".into(),
            unit: "MB".into(),
            volume: 512.into(),
            user_id: "u".into(),
            user_name: ().into(),
            project_id: "p".into(),
            project_name: ().into(),
            resource_id: "r".into(),
            timestamp: "2026-01-01T00:00:00".into(),
            resource_metadata: std::sync::Arc::new(meta),
            source: "openstack".into(),
            id: "x".into(),
            monotonic_time: ().into(),
        };
        let doc = Value::from(sample_document(&sample));
        let attrs = def.sample_attributes(&doc);
        assert_eq!(
            serde_json::Value::Object(attrs),
            serde_json::json!({"host": "compute-1", "display_name": "vm", "flavor_id": "f1", "flavor_name": "m1.tiny"})
        );
    }
}
