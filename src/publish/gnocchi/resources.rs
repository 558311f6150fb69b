//! gnocchi_resources.yaml compiled once: which resource type and archive policy each meter
//! goes to, the resource attributes read from a sample (jsonpath over `Sample.as_dict()`, the
//! dialect of meters.yaml through `Field`), and the rules that turn events into resource
//! creations, updates and ends. Only reading the file lives here; talking to Gnocchi does not.
//!
//! Ceilometer's rules kept: a metric's policy is its own `archive_policy_name`, else the file's
//! `archive_policy_default` (else `ceilometer-low`); the URL's `archive_policy` overrides both; a
//! resource type's deprecated `archive_policy` overrides even that. A resource definition that
//! does not compile is skipped (Ceilometer logs and goes on), so one bad entry does not stop the
//! publisher: it is returned as a [`Problem`] at its entry's line, for the caller to warn of. A
//! file that cannot be used at all (unreadable, not YAML, `archive_policies` not a list) is a
//! `Problem` too, and nothing loads. `metrics` may be a list or a mapping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_serde::Value as Yaml;

use crate::event::glob::Glob;
use crate::meter::field::Field;
use crate::model::yaml_outline::Outline;
use crate::model::{Sample, Value};
use crate::problem::Problem;

/// The file Ceilometer ships (publisher/data/gnocchi_resources.yaml), used when the config
/// directory has none.
pub const SHIPPED_RESOURCES: &str = include_str!("../../../config/gnocchi_resources.yaml");

/// How the shipped file is named in logs and reports.
pub const SHIPPED_NAME: &str = "<shipped>/gnocchi_resources.yaml";

/// The file `name` is: in the config dir when it is there (or an absolute path), else the
/// shipped one ([`SHIPPED_NAME`]).
pub fn file_in(config_dir: &Path, name: &str) -> PathBuf {
    let path = config_dir.join(name);
    if path.exists() {
        path
    } else {
        PathBuf::from(SHIPPED_NAME)
    }
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
    /// The file [`file_in`] names, compiled (see [`Resources::parse`]).
    pub fn load(
        config_dir: &Path,
        name: &str,
        archive_policy_override: Option<&str>,
    ) -> Result<(Resources, Vec<Problem>), Problem> {
        let path = file_in(config_dir, name);
        if path == Path::new(SHIPPED_NAME) {
            return Self::parse(SHIPPED_RESOURCES, &path, archive_policy_override);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Problem::new(&path, None, format!("cannot read: {e}")))?;
        Self::parse(&text, &path, archive_policy_override)
    }

    /// The definitions that compile, and one problem per definition skipped. `path` names the
    /// file in the problems.
    pub fn parse(
        text: &str,
        path: &Path,
        archive_policy_override: Option<&str>,
    ) -> Result<(Resources, Vec<Problem>), Problem> {
        let doc: Yaml = crate::model::yaml_read::from_str(text).map_err(|e| match e.location() {
            Some(at) => {
                Problem::new(path, Some(at.line()), format!("invalid YAML: {e}")).at_column(at.column())
            }
            None => Problem::new(path, None, format!("invalid YAML: {e}")),
        })?;
        let outline = Outline::of(text);
        let default_policy = doc
            .get("archive_policy_default")
            .and_then(Yaml::as_str)
            .unwrap_or("ceilometer-low");
        let archive_policies = match doc.get("archive_policies") {
            None | Some(Yaml::Null) => Vec::new(),
            Some(v) => serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .ok_or_else(|| {
                    let line = outline.key_line("archive_policies");
                    Problem::new(path, line, "archive_policies must be a list")
                })?,
        };
        let mut defs = Vec::new();
        let mut skipped = Vec::new();
        let lines = outline.items("resources");
        let entries = doc.get("resources").and_then(Yaml::as_sequence);
        for (i, entry) in entries.into_iter().flatten().enumerate() {
            match compile_def(entry, default_policy, archive_policy_override) {
                Ok(def) => defs.push(def),
                Err(why) => {
                    let which = match entry.get("resource_type").and_then(Yaml::as_str) {
                        Some(name) => format!("resource_type {name:?}"),
                        None => format!("resources[{i}]"),
                    };
                    let line = lines.get(i).map(|item| item.line);
                    skipped.push(Problem::new(path, line, format!("{which}: {why}")));
                }
            }
        }
        let metric_map = defs
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.metrics.keys().map(move |m| (m.clone(), i)))
            .collect();
        let resources = Resources {
            defs,
            archive_policies,
            metric_map,
        };
        Ok((resources, skipped))
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
        _ => return Err("Required field metrics should be a list or a mapping".into()),
    };
    let mut attributes = Vec::new();
    if let Some(attrs) = entry.get("attributes").and_then(Yaml::as_mapping) {
        for (k, cfg) in attrs {
            let name = k.as_str().ok_or("attribute names must be strings")?;
            let field = Field::compile(name, cfg).map_err(|e| format!("attribute {name:?}: {e}"))?;
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
        return Err("Required field id not specified in event_attributes".into());
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
        let (r, skipped) = Resources::parse(SHIPPED_RESOURCES, Path::new(SHIPPED_NAME), overridden).unwrap();
        assert_eq!(skipped, []);
        r
    }

    fn parse(text: &str) -> Result<(Resources, Vec<Problem>), Problem> {
        Resources::parse(text, Path::new("r.yaml"), None)
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
        let name = "gnocchi_resources.yaml";
        assert_eq!(file_in(dir.path(), name), Path::new(SHIPPED_NAME));
        let (r, _) = Resources::load(dir.path(), name, None).unwrap();
        assert_eq!(r.defs.len(), shipped(None).defs.len());
        std::fs::write(
            dir.path().join("mine.yaml"),
            "resources:\n  - resource_type: generic\n    metrics:\n      my.meter:\n",
        )
        .unwrap();
        assert_eq!(file_in(dir.path(), "mine.yaml"), dir.path().join("mine.yaml"));
        let (r, _) = Resources::load(dir.path(), "mine.yaml", None).unwrap();
        assert_eq!(r.for_metric("my.meter").unwrap().resource_type, "generic");
        assert!(r.for_metric("cpu").is_none(), "only the config dir's file");
        std::fs::write(dir.path().join("bad.yaml"), "resources: [\n").unwrap();
        let e = Resources::load(dir.path(), "bad.yaml", None).err().unwrap();
        assert_eq!(e.path, dir.path().join("bad.yaml"));
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
        let (r, _) = Resources::parse(text, Path::new("t"), Some("ceilometer-high")).unwrap();
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
    fn a_bad_definition_is_skipped_not_fatal_and_named_at_its_line() {
        let text = "---\n# types\nresources:\n  - resource_type: bad\n    metrics: [a]\n    attributes:\n      x: 'a[?'\n  - resource_type: good\n    metrics: [b]\n  - metrics: [c]\n  - resource_type: ev\n    metrics: [d]\n    event_create: [x.*]\n";
        let (r, skipped) = parse(text).unwrap();
        assert!(r.for_metric("a").is_none());
        assert_eq!(r.for_metric("b").unwrap().resource_type, "good");
        let lines: Vec<_> = skipped.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(4), Some(10), Some(11)]);
        assert!(
            skipped[0]
                .to_string()
                .starts_with("r.yaml:4: resource_type \"bad\": attribute \"x\": "),
            "{}",
            skipped[0]
        );
        assert_eq!(
            skipped[1].to_string(),
            "r.yaml:10: resources[2]: Required field resource_type not specified"
        );
        assert_eq!(
            skipped[2].to_string(),
            "r.yaml:11: resource_type \"ev\": Required field id not specified in event_attributes"
        );
    }

    #[test]
    fn a_file_that_cannot_be_used_is_one_problem_at_its_line() {
        let e = parse("resources:\n  - resource_type: x\n    metrics: [a\n")
            .err()
            .unwrap();
        assert_eq!((e.path.as_path(), e.line), (Path::new("r.yaml"), Some(4)), "{e}");
        assert!(e.column.is_some(), "{e}");
        assert!(e.message.starts_with("invalid YAML: "), "{e}");
        let e = parse("archive_policy_default: low\narchive_policies: {name: x}\nresources: []\n")
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "r.yaml:2: archive_policies must be a list");
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
