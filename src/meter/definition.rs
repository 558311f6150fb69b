//! One meters.yaml entry compiled, and how it turns a notification into samples
//! (Ceilometer's `MeterDefinition` and `Sample.from_notification`, quirks included).

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use simd_json::prelude::*;
use yaml_serde::Value as Yaml;

use super::field::{Field, FieldError};
use super::{EndpointError, ReservedMetadata};
use crate::model::meter_message::message_len_by;
use crate::model::output_size::OutputBudget;
use crate::model::py::repr::str_of;
use crate::model::{py, py::datetime, yaml_read, Metadata, Notification, OwnedValue, Sample, Value};

/// The sample attributes a definition may set, in Ceilometer's order.
const ATTRIBUTES: [&str; 8] = [
    "name",
    "type",
    "volume",
    "unit",
    "timestamp",
    "user_id",
    "project_id",
    "resource_id",
];
const REQUIRED: [&str; 6] = ["name", "type", "event_type", "unit", "volume", "resource_id"];
const TYPES: [&str; 3] = ["gauge", "delta", "cumulative"];
const NAME: usize = 0;
const TYPE: usize = 1;
const VOLUME: usize = 2;
const UNIT: usize = 3;
const TIMESTAMP: usize = 4;
const USER_ID: usize = 5;
const PROJECT_ID: usize = 6;
const RESOURCE_ID: usize = 7;

/// A compiled meter definition.
#[derive(Debug)]
pub struct MeterDefinition {
    /// The configured `name`, `type` and `unit` texts: the values a sample keeps when their
    /// jsonpath finds nothing (a plain `type: gauge` is a jsonpath that finds nothing).
    defaults: [Arc<str>; 3],
    event_types: Vec<fancy_regex::Regex>,
    attributes: [Option<Field>; 8],
    metadata: Vec<(String, Field)>,
    user_metadata: Option<Field>,
    /// `metadata` and `user_metadata` as configured: definitions configured alike make the same
    /// `resource_metadata` from a notification (meters.yaml shares one anchor among many). The
    /// loader makes equal specs one `Arc`, so sharing is a pointer comparison; specs it did not
    /// unify are never taken for each other.
    pub(super) metadata_spec: Arc<str>,
    /// Attribute names whose matches make one sample each.
    lookup: Option<Vec<String>>,
}

/// Ceilometer's built-in `user_id` and `project_id` fallbacks, the same for every definition.
/// jsonpath-rw binds `|` tighter than `.`, so these read `ctxt.(user_id|ctxt).user` and
/// practically never match: kept for fidelity.
static FALLBACK_IDS: LazyLock<[Field; 2]> = LazyLock::new(|| {
    let compile = |name, path: &str| {
        Field::compile(name, &Yaml::from(path)).unwrap_or_else(|e| unreachable!("built-in path {path}: {e}"))
    };
    [
        compile("user_id", "ctxt.user_id|ctxt.user"),
        compile("project_id", "ctxt.project_id|ctxt.tenant_id"),
    ]
});

/// What every matching definition would compute alike from one notification, made once by the
/// first that needs it: `resource_metadata` (per metadata spec: the last one made, with the
/// bytes it writes), the fallback ids, and the rendered timestamp of the last timestamp text.
#[derive(Default)]
pub struct NotificationMemo<'v, 'a> {
    metadata: Option<(Arc<str>, Metadata, usize)>,
    fallback_ids: Option<[Option<Cow<'v, Value<'a>>>; 2]>,
    timestamp: Option<(String, String)>,
}

impl MeterDefinition {
    /// Compile one entry of the `metric` list.
    pub fn compile(cfg: &Yaml) -> Result<MeterDefinition, FieldError> {
        let get = |key: &str| cfg.get(key).filter(|v| py::truthy(&yaml_read::to_json(v)));
        let missing: Vec<&str> = REQUIRED.iter().copied().filter(|k| get(k).is_none()).collect();
        if !missing.is_empty() {
            return Err(FieldError(format!("Required fields {missing:?} not specified")));
        }
        let lookup = match cfg.get("lookup") {
            None | Some(Yaml::Null) => None,
            Some(Yaml::String(s)) => Some(vec![s.clone()]),
            Some(Yaml::Sequence(items)) => Some(
                items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).unwrap_or_default())
                    .collect(),
            ),
            Some(other) => {
                return Err(FieldError(format!(
                    "lookup must be a name or a list, not {other:?}"
                )))
            }
        };
        let type_text = yaml_text(&cfg["type"]);
        let type_in_lookup = lookup.as_ref().is_some_and(|l| l.iter().any(|n| n == "type"));
        if !type_in_lookup && !TYPES.contains(&type_text.as_str()) {
            return Err(FieldError(format!("Invalid type {type_text} specified")));
        }
        // Ceilometer compiles each with re.compile, which raises on anything but a string.
        let not_text = || FieldError("event_type must be a string or a list of strings".into());
        let event_types: Vec<&str> = match &cfg["event_type"] {
            Yaml::Sequence(items) => items
                .iter()
                .map(|i| i.as_str().ok_or_else(not_text))
                .collect::<Result<_, _>>()?,
            other => vec![other.as_str().ok_or_else(not_text)?],
        };
        let event_types = event_types
            .iter()
            .map(|p| {
                // Validate the pattern as written (so error positions are the operator's), then
                // anchor it at the start only, as Python's re.match does.
                let bad = |e: fancy_regex::Error| FieldError(format!("bad event_type pattern {p:?}: {e}"));
                fancy_regex::Regex::new(p).map_err(bad)?;
                fancy_regex::Regex::new(&format!("^(?:{p})")).map_err(bad)
            })
            .collect::<Result<_, _>>()?;
        let mut attributes: [Option<Field>; 8] = Default::default();
        for (slot, name) in attributes.iter_mut().zip(ATTRIBUTES) {
            if let Some(attr) = get(name) {
                *slot = Some(Field::compile(name, attr)?);
            }
        }
        let mut metadata = Vec::new();
        if let Some(Yaml::Mapping(map)) = cfg.get("metadata") {
            for (key, value) in map {
                let key = yaml_text(key);
                let field = Field::compile(&key, value)?;
                metadata.push((key, field));
            }
        }
        let user_metadata = get("user_metadata")
            .map(|v| Field::compile("user_metadata", v))
            .transpose()?;
        let metadata_spec = Arc::from(format!("{:?} {:?}", cfg.get("metadata"), get("user_metadata")));
        Ok(MeterDefinition {
            defaults: [
                Arc::from(yaml_text(&cfg["name"])),
                Arc::from(type_text),
                Arc::from(yaml_text(&cfg["unit"])),
            ],
            event_types,
            attributes,
            metadata,
            user_metadata,
            metadata_spec,
            lookup,
        })
    }

    /// The configured name (the key duplicates are detected by).
    pub fn name(&self) -> &str {
        &self.defaults[NAME]
    }

    /// Whether any `event_type` pattern matches at the start of `event_type`.
    pub fn matches(&self, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|re| re.is_match(event_type).unwrap_or(false))
    }

    /// Append this definition's samples for `n` to `out`. `memo` holds what the definitions
    /// before this one made from `n`; what this one makes alike is taken from it. Each sample
    /// is charged to `budget` as it is made; once it is over, no more are made.
    pub fn to_samples<'v, 'a>(
        &self,
        n: &'v Notification<'a>,
        memo: &mut NotificationMemo<'v, 'a>,
        reserved: &ReservedMetadata,
        out: &mut Vec<Sample>,
        budget: &mut OutputBudget,
    ) -> Result<(), EndpointError> {
        let root = &n.root;
        let (metadata, metadata_len) = match &memo.metadata {
            Some((spec, metadata, len)) if Arc::ptr_eq(spec, &self.metadata_spec) => (metadata.clone(), *len),
            _ => {
                let metadata = self.resource_metadata(n, reserved)?;
                // Counted once here; every sample carrying it is charged this much.
                let len = budget.measure().value_len(&*metadata);
                memo.metadata = Some((self.metadata_spec.clone(), metadata.clone(), len));
                (metadata, len)
            }
        };
        let mut push = |sample: Sample| {
            let within = budget.charge(message_len_by(&sample, metadata_len, budget.measure()));
            out.push(sample);
            within
        };
        let raised = |e: String| EndpointError::new(n, e);
        let [fallback_user, fallback_project] = match &memo.fallback_ids {
            Some(ids) => ids.clone(),
            None => {
                let [user, project] = &*FALLBACK_IDS;
                let ids = [
                    user.first(root).map_err(raised)?,
                    project.first(root).map_err(raised)?,
                ];
                memo.fallback_ids = Some(ids.clone());
                ids
            }
        };
        let Some(lookup) = &self.lookup else {
            let mut values: [Option<Cow<'_, Value<'_>>>; 8] = Default::default();
            values[USER_ID] = fallback_user;
            values[PROJECT_ID] = fallback_project;
            for (slot, field) in values.iter_mut().zip(&self.attributes) {
                if let Some(field) = field {
                    if let Some(v) = field.first(root).map_err(raised)? {
                        *slot = Some(v);
                    }
                }
            }
            push(self.sample(n, &values, metadata, &mut memo.timestamp)?);
            return Ok(());
        };
        // One list per attribute; a single value is broadcast to every sample unless the
        // attribute is a lookup attribute.
        // Every attribute starts as a one-element list of its default (`None`: the configured
        // text for name, type and unit, null otherwise).
        let mut columns: [Vec<Option<Cow<'_, Value<'_>>>>; 8] = std::array::from_fn(|_| vec![None]);
        columns[USER_ID] = vec![fallback_user];
        columns[PROJECT_ID] = vec![fallback_project];
        for (i, field) in self.attributes.iter().enumerate() {
            let Some(field) = field else { continue };
            let name = ATTRIBUTES[i];
            let forced = i == NAME || lookup.iter().any(|l| l == name);
            match field {
                Field::Constant(c) if forced || py::truthy(c) => {
                    return Err(EndpointError::new(
                        n,
                        format!("{name}: a constant cannot be a lookup list"),
                    ));
                }
                Field::Constant(_) => {}
                Field::Path { .. } => {
                    let found = field.all(root).map_err(|e| EndpointError::new(n, e))?;
                    if forced || !found.is_empty() {
                        columns[i] = found.into_iter().map(Some).collect();
                    }
                }
            }
        }
        let count = columns[NAME].len();
        if count == 0 {
            return Ok(());
        }
        for (i, column) in columns.iter().enumerate() {
            let len = column.len();
            let broadcast = len == 1 && !lookup.iter().any(|l| l == ATTRIBUTES[i]);
            if len != count && !broadcast {
                tracing::warn!(
                    meter = self.name(),
                    "Only {len} fetched meters contain \"{}\" field instead of {count}.",
                    ATTRIBUTES[i]
                );
                return Ok(());
            }
        }
        for k in 0..count {
            let values: [Option<Cow<'_, Value<'_>>>; 8] = std::array::from_fn(|i| match columns[i].len() {
                0 => None,
                1 => columns[i][0].clone(),
                _ => columns[i][k].clone(),
            });
            if !push(self.sample(n, &values, metadata.clone(), &mut memo.timestamp)?) {
                break;
            }
        }
        Ok(())
    }

    /// `Sample.from_notification`'s metadata: the configured fields, or the payload when there
    /// are none.
    fn resource_metadata(
        &self,
        n: &Notification<'_>,
        reserved: &ReservedMetadata,
    ) -> Result<Metadata, EndpointError> {
        let metadata = self.metadata(&n.root, reserved)?;
        Ok(Arc::new(if metadata.is_empty() {
            payload_metadata(n)
        } else {
            OwnedValue::from(metadata)
        }))
    }

    /// `metadata` fields with truthy values, plus the reserved keys of `user_metadata`.
    fn metadata(
        &self,
        root: &Value<'_>,
        reserved: &ReservedMetadata,
    ) -> Result<simd_json::owned::Object, EndpointError> {
        let mut md =
            simd_json::owned::Object::with_capacity_and_hasher(self.metadata.len() + 1, Default::default());
        let raised = |e: String| EndpointError::from_root(root, e);
        for (key, field) in &self.metadata {
            if let Some(v) = field.first(root).map_err(raised)?.filter(|v| py::truthy(&**v)) {
                md.insert(key.clone(), crate::model::to_owned(&v));
            }
        }
        if let Some(field) = &self.user_metadata {
            if let Some(meta) = field.first(root).map_err(raised)?.filter(|v| py::truthy(&**v)) {
                reserved.add(&meta, &mut md).map_err(raised)?;
            }
        }
        Ok(md)
    }

    /// `Sample.from_notification`: the timestamp is parsed and re-rendered with `isoformat()`.
    /// `last_timestamp` is the last timestamp text rendered, with its rendering.
    fn sample(
        &self,
        n: &Notification<'_>,
        values: &[Option<Cow<'_, Value<'_>>>; 8],
        metadata: Metadata,
        last_timestamp: &mut Option<(String, String)>,
    ) -> Result<Sample, EndpointError> {
        // name, type and unit: the found value, or the configured text.
        let text_or = |i: usize, default: usize| -> Arc<str> {
            match &values[i] {
                Some(v) => v.as_str().map_or_else(|| Arc::from(v.encode()), Arc::from),
                None => self.defaults[default].clone(),
            }
        };
        let owned = |i: usize| {
            values[i]
                .as_ref()
                .map_or(OwnedValue::null(), |v| crate::model::to_owned(v))
        };
        let ts = values[TIMESTAMP]
            .as_deref()
            .filter(|v| py::truthy(*v))
            .or_else(|| n.timestamp());
        let timestamp = match ts.and_then(|t| t.as_str()) {
            Some(text) => match last_timestamp {
                Some((last, rendered)) if *last == text => rendered.clone(),
                _ => {
                    let rendered = datetime::parse(text)
                        .map_err(|e| EndpointError::new(n, e.to_string()))?
                        .isoformat();
                    *last_timestamp = Some((text.to_owned(), rendered.clone()));
                    rendered
                }
            },
            None => return Err(EndpointError::new(n, format!("Expecting a string, got {ts:?}"))),
        };
        let checked =
            |i: usize, default: usize, check: fn(&Value<'_>) -> Result<Arc<str>, String>| match &values[i] {
                Some(v) => check(v).map_err(|e| EndpointError::new(n, e)),
                None => Ok(self.defaults[default].clone()),
            };
        Ok(Sample {
            name: checked(NAME, 0, super::meter_name)?,
            sample_type: checked(TYPE, 1, super::sample_type)?,
            unit: text_or(UNIT, 2),
            volume: owned(VOLUME),
            user_id: owned(USER_ID),
            user_name: OwnedValue::null(),
            project_id: owned(PROJECT_ID),
            project_name: OwnedValue::null(),
            resource_id: owned(RESOURCE_ID),
            timestamp: OwnedValue::from(timestamp),
            resource_metadata: metadata,
            source: super::default_source(),
            id: super::new_sample_id(),
            monotonic_time: OwnedValue::null(),
        })
    }
}

/// A shallow copy of a dict payload (or `{}`), plus `event_type` and `host`.
pub(super) fn payload_metadata(n: &Notification<'_>) -> OwnedValue {
    let mut md = match n.payload() {
        Some(payload @ Value::Object(_)) => crate::model::to_owned(payload),
        _ => OwnedValue::object(),
    };
    if let Some(obj) = md.as_object_mut() {
        let field = |k: &str| {
            n.root
                .get(k)
                .map_or(OwnedValue::null(), |v| crate::model::to_owned(v))
        };
        obj.insert("event_type".into(), field("event_type"));
        obj.insert("host".into(), field("publisher_id"));
    }
    md
}

/// A YAML value as the text Python would see (`str()` of it).
pub(super) fn yaml_text(v: &Yaml) -> String {
    str_of(&yaml_read::to_json(v)).into_owned()
}
