//! Dynamic pollsters: Ceilometer's YAML pollster definitions (`pollsters.d/*.yaml`), polling
//! an HTTP JSON API (or a host command) and turning its entries into samples.
//!
//! Behaviour follows `ceilometer/polling/dynamic_pollster.py`:
//! * the request URL is `url_path` joined (RFC 3986, like `urljoin`) to the resource, which
//!   gets a trailing `/`; `headers` and `timeout` (30 s) apply; a non-2xx status or a network
//!   error gives no samples (logged and counted here);
//! * the response goes through `response_handlers` (`json`, `text` → `[{"out": text}]`);
//!   entries are the response itself when it is a list, else the value under
//!   `response_entries_key` (default: the first key); `next_sample_url_attribute` follows
//!   pages;
//! * attributes are dotted paths (`.` is the entry itself) with optional `| value ...`
//!   operations; `user_id_attribute`, `project_id_attribute`, `resource_id_attribute` pick the
//!   identity; `metadata_fields` (renamed by `metadata_mapping`, the originals kept unless
//!   `preserve_mapped_metadata: false`) make the metadata;
//! * `skip_sample_values` drops an entry whose value (or, for multi-metric pollsters, whose
//!   sub-metric name) is listed; `value_mapping` maps values, unknown ones to `default_value`
//!   (-1);
//! * a name ending in `.{attr}` with `value_attribute: "[list].field"` is a multi-metric
//!   pollster: one sample per element of `list`, named after its `attr`.
//!
//! Not supported (the definition is refused at load with the reason): Python `eval` beyond
//! `value OP number` and `int/float/abs/round(value)` operations, `extra_metadata_fields`,
//! `module`/`authentication_object` (non-OpenStack auth classes) and the `xml` handler.
//! There is no Keystone: `endpoint:TYPE` discovery reads URLs from the settings, and no
//! token is added to requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_yaml::Value as Yaml;
use simd_json::prelude::*;
use simd_json::Buffers;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use crate::model::py::{self, py_eq, Num};
use crate::model::{json_read, to_owned, yaml_read, OwnedValue, Sample};

/// A definition that cannot be used, with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not YAML: {source}")]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{path}: pollster {name:?}: {reason}")]
    Invalid {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

/// The largest response body read (protects the agent from a runaway API).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Pages followed at most per resource and poll (protects against a `next` loop).
const MAX_PAGES: usize = 1000;

/// A compiled attribute: a dotted path into an entry plus `| value ...` operations.
#[derive(Debug, Clone)]
pub struct Attr {
    raw: String,
    keys: Option<Vec<String>>,
    ops: Vec<Op>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// `| value`: the value itself.
    Identity,
    /// `value OP n` or, with `value_right`, `n OP value`.
    Arith {
        op: BinOp,
        n: Num,
        value_right: bool,
    },
    Int,
    Float,
    Abs,
    Round,
}

impl Attr {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut parts = raw.split('|');
        let key = parts.next().unwrap_or("").trim();
        let keys = if key == "." {
            None
        } else {
            Some(key.split('.').map(str::to_owned).collect())
        };
        let ops = parts.map(parse_op).collect::<Result<_, _>>()?;
        Ok(Self {
            raw: raw.to_owned(),
            keys,
            ops,
        })
    }

    /// `retrieve_attribute_nested_value`: a missing key is an error.
    pub fn get(&self, entry: &OwnedValue) -> Result<OwnedValue, String> {
        let mut v = entry;
        if let Some(keys) = &self.keys {
            for k in keys {
                v = match v.as_object().and_then(|o| o.get(k.as_str())) {
                    Some(next) => next,
                    None => return Err(format!("attribute {:?}: no key {k:?}", self.raw)),
                };
            }
        }
        let mut value = v.clone();
        for op in &self.ops {
            value = apply(op, value).map_err(|e| format!("attribute {:?}: {e}", self.raw))?;
        }
        Ok(value)
    }
}

fn parse_op(text: &str) -> Result<Op, String> {
    let t = text.trim();
    if !t.contains("value") {
        return Err(format!("the operation {t:?} must use the [value] variable"));
    }
    if t == "value" {
        return Ok(Op::Identity);
    }
    for (f, op) in [
        ("int", Op::Int),
        ("float", Op::Float),
        ("abs", Op::Abs),
        ("round", Op::Round),
    ] {
        if t.strip_prefix(f).map(str::trim) == Some("(value)") {
            return Ok(op);
        }
    }
    for (sym, op) in [
        ("//", BinOp::FloorDiv),
        ("+", BinOp::Add),
        ("-", BinOp::Sub),
        ("*", BinOp::Mul),
        ("/", BinOp::Div),
        ("%", BinOp::Mod),
    ] {
        if let Some((l, r)) = t.split_once(sym) {
            let (l, r) = (l.trim(), r.trim());
            let (num, value_right) = match (l, r) {
                ("value", n) => (n, false),
                (n, "value") => (n, true),
                _ => break,
            };
            if let Some(n) = number_literal(num) {
                return Ok(Op::Arith { op, n, value_right });
            }
            break;
        }
    }
    Err(format!(
        "unsupported operation {t:?} (ceilo evaluates `value OP number`, `number OP value` with + - * / // % \
         and int/float/abs/round(value))"
    ))
}

/// A Python number literal (`2`, `1_024`, `1e9`, `.5`): an int when it reads as one, else a
/// float; `inf` or `nan` would be names in Python, not numbers.
fn number_literal(text: &str) -> Option<Num> {
    if !text.is_ascii() {
        return None;
    }
    if let Some(i) = py::int_of_str(text) {
        return Some(Num::Int(i));
    }
    py::float_of_str(text)
        .filter(|_| text.bytes().any(|b| b.is_ascii_digit()))
        .map(Num::Float)
}

/// The operations evaluated as Ceilometer's `eval()` does with `value` bound to the entry's
/// value: Python's `int()`, `float()`, `abs()`, `round()` and arithmetic ([`crate::model::py`]).
fn apply(op: &Op, v: OwnedValue) -> Result<OwnedValue, String> {
    let number = |what: &str| Num::of_owned(&v).ok_or_else(|| format!("{what} of {}", v.encode()));
    Ok(match op {
        Op::Identity => v,
        Op::Int => {
            Num::Int(py::int_of(&v).map_err(|e| format!("int({}): {e}", v.encode()))?).to_owned_value()
        }
        Op::Float => OwnedValue::from(py::float_of(&v).map_err(|e| format!("float({}): {e}", v.encode()))?),
        Op::Abs => number("abs()")?.abs().to_owned_value(),
        Op::Round => match number("round()")? {
            Num::Int(i) => Num::Int(i),
            // round(float) is an int, half to even; it raises for NaN and the infinities.
            Num::Float(f) if f.is_finite() => Num::Int(f.round_ties_even() as i128),
            Num::Float(f) => return Err(format!("round({f})")),
        }
        .to_owned_value(),
        Op::Arith { op, n, value_right } => {
            let x = number("arithmetic")?;
            let (a, b) = if *value_right { (*n, x) } else { (x, *n) };
            match op {
                BinOp::Add => Ok(a + b),
                BinOp::Sub => Ok(a - b),
                BinOp::Mul => Ok(a * b),
                BinOp::Div => a.truediv(b),
                BinOp::FloorDiv => a.floordiv(b),
                BinOp::Mod => a.modulo(b),
            }
            .map_err(|e| e.to_string())?
            .to_owned_value()
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Handler {
    Json,
    Text,
}

/// How the value of an entry is found.
#[derive(Debug, Clone)]
enum ValueSpec {
    Single(Attr),
    /// `[list].field` with a name ending in `.{sub_attr}`.
    Multi {
        list: Attr,
        field: Attr,
        placeholder: String,
        sub_attr: String,
    },
}

/// One dynamic pollster definition, validated.
#[derive(Debug, Clone)]
pub struct DynamicDefinition {
    pub name: String,
    meter: MeterSpec,
    value: ValueSpec,
    endpoint_type: Option<String>,
    url_path: String,
    host_command: Option<String>,
    metadata_fields: Vec<Attr>,
    skip_sample_values: Vec<OwnedValue>,
    value_mapping: Vec<(OwnedValue, OwnedValue)>,
    default_value: OwnedValue,
    metadata_mapping: Vec<(String, String)>,
    preserve_mapped_metadata: bool,
    response_entries_key: Option<Attr>,
    next_sample_url_attribute: Option<Attr>,
    user_id_attribute: Attr,
    project_id_attribute: Attr,
    resource_id_attribute: Attr,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    response_handlers: Vec<Handler>,
}

fn is_valid_name(name: &str) -> bool {
    // ^([\w-]+)(\.[\w-]+)*(\.{[\w-]+})?$
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    let parts: Vec<&str> = name.split('.').collect();
    let last = parts.len() - 1;
    let valid = parts.iter().enumerate().all(|(i, p)| {
        if i == last && i > 0 {
            if let Some(inner) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                return word(inner);
            }
        }
        word(p)
    });
    valid
}

impl DynamicDefinition {
    /// Validate one YAML mapping; `Err` is the reason.
    pub fn from_yaml(v: &Yaml) -> Result<Self, (String, String)> {
        let map = v
            .as_mapping()
            .ok_or_else(|| ("?".to_owned(), "a definition must be a mapping".to_owned()))?;
        let get = |k: &str| map.get(k).filter(|v| !v.is_null());
        let name = get("name").and_then(Yaml::as_str).unwrap_or("").to_owned();
        let fail = |reason: String| (name.clone(), reason);
        let text = |k: &str| -> Result<Option<String>, (String, String)> {
            match get(k) {
                None => Ok(None),
                Some(Yaml::String(s)) => Ok(Some(s.clone())),
                Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(fail(format!("{k} must be a string"))),
            }
        };
        for unsupported in ["extra_metadata_fields", "module", "authentication_object"] {
            if get(unsupported).is_some() {
                return Err(fail(format!("{unsupported} is not supported by ceilo")));
            }
        }
        let host_command = text("host_command")?;
        let mut missing = Vec::new();
        for k in ["name", "sample_type", "unit", "value_attribute"] {
            if text(k)?.filter(|s| !s.is_empty()).is_none() {
                missing.push(k);
            }
        }
        if host_command.is_none() {
            for k in ["endpoint_type", "url_path"] {
                if text(k)?.filter(|s| !s.is_empty()).is_none() {
                    missing.push(k);
                }
            }
        }
        if !missing.is_empty() {
            return Err(fail(format!("required fields {missing:?} not specified")));
        }
        if !is_valid_name(&name) {
            return Err(fail(format!("name {name:?} is not a valid pollster name")));
        }
        let sample_type = text("sample_type")?.unwrap_or_default();
        if !["gauge", "delta", "cumulative"].contains(&sample_type.as_str()) {
            return Err(fail(format!(
                "invalid sample type {sample_type:?} (gauge, delta, cumulative)"
            )));
        }
        let unit = text("unit")?.unwrap_or_default();
        let value_attribute = text("value_attribute")?.unwrap_or_default();
        let attr = |s: &str| Attr::parse(s).map_err(fail);

        let value = match name.rsplit_once('.') {
            Some((_, last)) if last.starts_with('{') && last.ends_with('}') => {
                // ^(\[(\w+)\])((\.\w+)+)$
                let bad = || {
                    fail(format!(
                        "multi metric value_attribute {value_attribute:?} must be like [list].field"
                    ))
                };
                let (list, rest) = value_attribute
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']'))
                    .ok_or_else(bad)?;
                let field = rest.strip_prefix('.').ok_or_else(bad)?;
                let w = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
                if !w(list) || !field.split('.').all(w) {
                    return Err(bad());
                }
                ValueSpec::Multi {
                    list: attr(list)?,
                    field: attr(field)?,
                    placeholder: last.to_owned(),
                    sub_attr: last[1..last.len() - 1].to_owned(),
                }
            }
            _ => ValueSpec::Single(attr(&value_attribute)?),
        };

        let list_of_strings = |k: &str| -> Result<Vec<String>, (String, String)> {
            match get(k) {
                None => Ok(Vec::new()),
                Some(Yaml::Sequence(s)) => s
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| fail(format!("{k} must list strings")))
                    })
                    .collect(),
                Some(_) => Err(fail(format!("{k} must be a list"))),
            }
        };
        let metadata_fields = list_of_strings("metadata_fields")?
            .iter()
            .map(|s| attr(s))
            .collect::<Result<_, _>>()?;
        let skip_sample_values = match get("skip_sample_values") {
            None => Vec::new(),
            Some(Yaml::Sequence(s)) => s.iter().map(yaml_read::to_json).collect(),
            Some(_) => return Err(fail("skip_sample_values must be a list".into())),
        };
        let mapping = |k: &str| -> Result<Vec<(Yaml, Yaml)>, (String, String)> {
            match get(k) {
                None => Ok(Vec::new()),
                Some(Yaml::Mapping(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                Some(_) => Err(fail(format!("{k} must be a mapping"))),
            }
        };
        let value_mapping = mapping("value_mapping")?
            .iter()
            .map(|(k, v)| (yaml_read::to_json(k), yaml_read::to_json(v)))
            .collect();
        let default_value = get("default_value").map_or(OwnedValue::from(-1i64), yaml_read::to_json);
        let metadata_mapping = mapping("metadata_mapping")?
            .iter()
            .map(|(k, v)| (yaml_read::key_text(k), yaml_read::key_text(v)))
            .collect();
        let preserve_mapped_metadata = match get("preserve_mapped_metadata") {
            None => true,
            Some(Yaml::Bool(b)) => *b,
            Some(_) => return Err(fail("preserve_mapped_metadata must be a boolean".into())),
        };
        let optional_attr = |k: &str| -> Result<Option<Attr>, (String, String)> {
            text(k)?.filter(|s| !s.is_empty()).map(|s| attr(&s)).transpose()
        };
        let id_attr = |k: &str, default: &str| -> Result<Attr, (String, String)> {
            Ok(optional_attr(k)?.unwrap_or(attr(default)?))
        };
        let headers = mapping("headers")?
            .iter()
            .map(|(k, v)| {
                let k = yaml_read::key_text(k);
                let v = match v {
                    Yaml::String(s) => s.clone(),
                    other => yaml_read::key_text(other),
                };
                Ok((
                    HeaderName::from_bytes(k.as_bytes()).map_err(|e| fail(format!("header {k:?}: {e}")))?,
                    HeaderValue::from_str(&v).map_err(|e| fail(format!("header {k:?}: {e}")))?,
                ))
            })
            .collect::<Result<_, (String, String)>>()?;
        let timeout = match get("timeout") {
            None => Duration::from_secs(30),
            Some(v) => v
                .as_f64()
                .filter(|t| *t > 0.0 && t.is_finite())
                .map(Duration::from_secs_f64)
                .ok_or_else(|| fail("timeout must be a positive number of seconds".into()))?,
        };
        let response_handlers = match get("response_handlers") {
            None => vec![Handler::Json],
            Some(Yaml::Sequence(s)) => s
                .iter()
                .map(|h| match h.as_str() {
                    Some("json") => Ok(Handler::Json),
                    Some("text") => Ok(Handler::Text),
                    Some("xml") => Err(fail("the xml response handler is not supported by ceilo".into())),
                    _ => Err(fail(format!("invalid response_handler {h:?} (json, text)"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(fail("response_handlers must be a list".into())),
        };
        Ok(Self {
            meter: MeterSpec::new(&name, &sample_type, &unit),
            value,
            endpoint_type: text("endpoint_type")?,
            url_path: text("url_path")?.unwrap_or_default(),
            host_command,
            metadata_fields,
            skip_sample_values,
            value_mapping,
            default_value,
            metadata_mapping,
            preserve_mapped_metadata,
            response_entries_key: optional_attr("response_entries_key")?,
            next_sample_url_attribute: optional_attr("next_sample_url_attribute")?,
            user_id_attribute: id_attr("user_id_attribute", "user_id")?,
            project_id_attribute: id_attr("project_id_attribute", "project_id")?,
            resource_id_attribute: id_attr("resource_id_attribute", "id")?,
            headers,
            timeout,
            response_handlers,
            name,
        })
    }

    /// Parse a file holding a list of definitions.
    pub fn parse_file(text: &str, path: &Path) -> Result<Vec<Self>, DefinitionError> {
        let doc: Yaml = crate::model::yaml_read::from_str(text).map_err(|source| DefinitionError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        let items = match doc {
            Yaml::Null => Vec::new(),
            Yaml::Sequence(s) => s,
            other => vec![other],
        };
        items
            .iter()
            .map(|v| {
                Self::from_yaml(v).map_err(|(name, reason)| DefinitionError::Invalid {
                    path: path.to_owned(),
                    name,
                    reason,
                })
            })
            .collect()
    }

    /// Turn the decoded response into samples (no I/O: the testable heart of the pollster).
    /// Returns the samples and the next page URL, if any.
    pub fn extract(
        &self,
        response: OwnedValue,
        ctx: &PollContext,
    ) -> Result<(Vec<Sample>, Option<String>), String> {
        let empty = match &response {
            OwnedValue::Array(a) => a.is_empty(),
            OwnedValue::Object(o) => o.is_empty(),
            OwnedValue::String(s) => s.is_empty(),
            _ => false,
        };
        if empty {
            return Ok((Vec::new(), None));
        }
        let next = match (&self.next_sample_url_attribute, response.as_object()) {
            (Some(a), Some(_)) => a.get(&response).ok().and_then(|v| v.as_str().map(str::to_owned)),
            _ => None,
        }
        .filter(|u| !u.is_empty());
        let entries = match response {
            OwnedValue::Array(a) => *a,
            OwnedValue::Object(ref o) => {
                let found = match &self.response_entries_key {
                    Some(k) => k.get(&response)?,
                    None => {
                        let first = o.keys().next().cloned().unwrap_or_default();
                        Attr::parse(&first)?.get(&response)?
                    }
                };
                match found {
                    OwnedValue::Array(a) => *a,
                    other => vec![other],
                }
            }
            other => vec![other],
        };
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            self.entry_samples(entry, ctx, &mut out)?;
        }
        Ok((out, next))
    }

    fn id(&self, entry: &OwnedValue, attr: &Attr, default_key: &str) -> Result<OwnedValue, String> {
        if attr.raw == default_key {
            // Ceilometer reads the default key with `.get()`: missing is None.
            return Ok(entry.get(default_key).cloned().unwrap_or_else(null));
        }
        attr.get(entry)
    }

    fn entry_samples(
        &self,
        entry: &OwnedValue,
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), String> {
        let user_id = self.id(entry, &self.user_id_attribute, "user_id")?;
        let project_id = self.id(entry, &self.project_id_attribute, "project_id")?;
        let resource_id = self.id(entry, &self.resource_id_attribute, "id")?;
        let sample = |name: Option<&str>, volume: OwnedValue, metadata: OwnedValue| {
            let mut s = ctx.sample(
                &self.meter,
                volume,
                user_id.clone(),
                project_id.clone(),
                resource_id.clone(),
                metadata,
                null(),
            );
            if let Some(n) = name {
                s.name = n.into();
            }
            s
        };
        match &self.value {
            ValueSpec::Single(attr) => {
                let value = attr.get(entry)?;
                if self.skip_sample_values.iter().any(|s| py_eq(s, &value)) {
                    return Ok(());
                }
                let value = self.map_value(value);
                out.push(sample(None, value, self.metadata(entry)?));
            }
            ValueSpec::Multi {
                list,
                field,
                placeholder,
                sub_attr,
            } => {
                let OwnedValue::Array(items) = list.get(entry)? else {
                    return Err(format!(
                        "multi metric pollster: the value of [{}] is not a list of objects",
                        list.raw
                    ));
                };
                for item in items.iter() {
                    let sub = item
                        .get(sub_attr.as_str())
                        .ok_or_else(|| format!("multi metric pollster: an element has no {sub_attr:?}"))?;
                    let sub_name = sub.as_str().map_or_else(|| sub.encode(), str::to_owned);
                    let value = field.get(item)?;
                    if self
                        .skip_sample_values
                        .iter()
                        .any(|s| py_eq(s, &value) || s.as_str() == Some(sub_name.as_str()))
                    {
                        continue;
                    }
                    let name = self.name.replace(placeholder.as_str(), &sub_name);
                    out.push(sample(Some(&name), value, self.metadata(entry)?));
                }
            }
        }
        Ok(())
    }

    fn map_value(&self, value: OwnedValue) -> OwnedValue {
        if self.value_mapping.is_empty() {
            return value;
        }
        match self.value_mapping.iter().find(|(k, _)| py_eq(k, &value)) {
            Some((_, mapped)) => mapped.clone(),
            None => {
                tracing::warn!(
                    pollster = %self.name,
                    value = %value.encode(),
                    default = %self.default_value.encode(),
                    "value not found in value_mapping; using the default"
                );
                self.default_value.clone()
            }
        }
    }

    fn metadata(&self, entry: &OwnedValue) -> Result<OwnedValue, String> {
        let mut meta = simd_json::owned::Object::with_capacity_and_hasher(
            self.metadata_fields.len(),
            Default::default(),
        );
        for f in &self.metadata_fields {
            meta.insert(f.raw.clone(), f.get(entry)?);
        }
        if !meta.is_empty() {
            for (from, to) in &self.metadata_mapping {
                if let Some(v) = meta.get(from.as_str()).cloned() {
                    meta.insert(to.clone(), v);
                    if !self.preserve_mapped_metadata {
                        meta.remove(from.as_str());
                    }
                }
            }
        }
        Ok(OwnedValue::from(meta))
    }

    /// Decode a body with the configured handlers, first success wins.
    fn handle(&self, body: &[u8]) -> Result<OwnedValue, String> {
        let mut failed = Vec::new();
        for h in &self.response_handlers {
            match h {
                Handler::Json => {
                    // As requests' .json(): Python's json, NaN and Infinity included.
                    let mut buf = Vec::new();
                    let parsed =
                        json_read::read(body, &mut buf, &mut Buffers::default()).map(|v| to_owned(&v));
                    match parsed {
                        Ok(v) => return Ok(v),
                        Err(_) => failed.push("json"),
                    }
                }
                Handler::Text => {
                    let text = String::from_utf8_lossy(body);
                    let mut o = simd_json::owned::Object::with_capacity_and_hasher(1, Default::default());
                    o.insert("out".into(), OwnedValue::from(text.into_owned()));
                    return Ok(OwnedValue::Array(Box::new(vec![OwnedValue::from(o)])));
                }
            }
        }
        Err(format!(
            "no remaining handlers to handle the response, used [{}]",
            failed.join(", ")
        ))
    }
}

/// `urljoin(base + "/", path)` for the cases pollsters use: an absolute URL replaces the base,
/// `/path` replaces the base's path, `?query` and relative paths resolve against it.
pub fn url_join(base: &str, path: &str) -> String {
    if path.contains("://") {
        return path.to_owned();
    }
    let base = if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    };
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    if let Some(p) = path.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("http");
        return format!("{scheme}://{p}");
    }
    if path.starts_with('/') {
        return format!("{}{path}", &base[..origin_end]);
    }
    if path.is_empty() {
        return base;
    }
    // Drop the base's query/fragment and last segment (it ends with '/', so nothing).
    let cut = base.find(['?', '#']).unwrap_or(base.len());
    let dir = &base[..cut];
    let dir = &dir[..dir.rfind('/').map_or(dir.len(), |i| i + 1)];
    let mut segs: Vec<&str> = dir[origin_end..].split('/').collect();
    segs.pop();
    let (rel, query) = match path.find(['?', '#']) {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    for s in rel.split('/') {
        match s {
            "." => {}
            ".." => {
                if segs.len() > 1 {
                    segs.pop();
                }
            }
            s => segs.push(s),
        }
    }
    format!("{}{}{}", &base[..origin_end], segs.join("/"), query)
}

pub(crate) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) fn http_client() -> HttpClient {
    let provider = || Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_provider_and_native_roots(provider()) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no native root certificates: https endpoints will fail to verify");
            let config = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                });
            match config {
                Ok(c) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(c),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build a TLS configuration");
                    hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    )
                }
            }
        }
    };
    let https = builder.https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// A dynamic pollster: its definition plus the HTTP client it polls with.
pub struct DynamicPollster {
    def: DynamicDefinition,
    meters: Vec<MeterSpec>,
    client: HttpClient,
}

impl DynamicPollster {
    pub fn new(def: DynamicDefinition) -> Self {
        Self {
            meters: vec![def.meter.clone()],
            client: http_client(),
            def,
        }
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub fn default_discovery(&self) -> String {
        match (&self.def.host_command, &self.def.endpoint_type) {
            (Some(_), _) => "local_node".into(),
            (None, Some(t)) => format!("endpoint:{t}"),
            (None, None) => "local_node".into(),
        }
    }

    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        if !mask.first().copied().unwrap_or(false) {
            return Ok(());
        }
        if let Some(cmd) = &self.def.host_command {
            let body = self.run_command(cmd).await?;
            let response = self.def.handle(&body).map_err(PollError::Transient)?;
            let (samples, _) = self.def.extract(response, ctx).map_err(PollError::Transient)?;
            out.extend(samples);
            return Ok(());
        }
        let Resource::Endpoint(base) = resource else {
            return Err(PollError::Permanent(format!(
                "dynamic pollster {} needs an endpoint URL, not {:?}",
                self.def.name,
                resource.key()
            )));
        };
        let mut url = url_join(base, &self.def.url_path);
        for _ in 0..MAX_PAGES {
            let body = self.get(&url).await?;
            let response = self
                .def
                .handle(&body)
                .map_err(|e| PollError::Transient(format!("{url}: {e}")))?;
            let (samples, next) = self
                .def
                .extract(response, ctx)
                .map_err(|e| PollError::Transient(format!("{url}: {e}")))?;
            out.extend(samples);
            match next {
                Some(n) => url = url_join(base, &n),
                None => return Ok(()),
            }
        }
        Err(PollError::Transient(format!(
            "{}: more than {MAX_PAGES} pages",
            self.def.name
        )))
    }

    async fn get(&self, url: &str) -> Result<Bytes, PollError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| PollError::Permanent(format!("{url}: not a valid URL: {e}")))?;
        let mut req = hyper::Request::get(uri);
        for (k, v) in &self.def.headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| PollError::Permanent(format!("{url}: {e}")))?;
        let fetch = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| PollError::Transient(format!("GET {url}: {e}")))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(PollError::Transient(format!("GET {url}: HTTP {status}")));
            }
            Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| PollError::Transient(format!("GET {url}: reading the body: {e}")))
        };
        tokio::time::timeout(self.def.timeout, fetch)
            .await
            .map_err(|_| PollError::Transient(format!("GET {url}: timed out after {:?}", self.def.timeout)))?
    }

    async fn run_command(&self, cmd: &str) -> Result<Vec<u8>, PollError> {
        let run = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(self.def.timeout, run)
            .await
            .map_err(|_| PollError::Transient(format!("host command {cmd:?} timed out")))?
            .map_err(|e| PollError::Transient(format!("host command {cmd:?}: {e}")))?;
        // subprocess.getoutput: stdout and stderr together, the last newline stripped.
        let mut body = output.stdout;
        body.extend_from_slice(&output.stderr);
        if body.last() == Some(&b'\n') {
            body.pop();
        }
        Ok(body)
    }
}

/// Every `*.yaml` definition in the given directories (missing directories are skipped, as
/// Ceilometer does). Files are read in name order.
pub fn load_definitions(dirs: &[PathBuf]) -> Result<Vec<DynamicDefinition>, DefinitionError> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| DefinitionError::Read {
                path: path.clone(),
                source,
            })?;
            out.extend(DynamicDefinition::parse_file(&text, &path)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_json::json;

    fn def(yaml: &str) -> DynamicDefinition {
        DynamicDefinition::from_yaml(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    fn ctx() -> PollContext {
        PollContext::now("src".into())
    }

    #[test]
    fn attributes_follow_dotted_paths_and_operations() {
        let e = json!({"a": {"b": {"c": 2048}}, "s": "12", "f": 2.5});
        assert_eq!(Attr::parse("a.b.c").unwrap().get(&e).unwrap(), json!(2048));
        assert_eq!(
            Attr::parse("a.b.c | value / 1024").unwrap().get(&e).unwrap(),
            json!(2.0)
        );
        assert_eq!(
            Attr::parse("a.b.c | value // 1000").unwrap().get(&e).unwrap(),
            json!(2)
        );
        assert_eq!(
            Attr::parse("a.b.c | value * 2 | value - 1")
                .unwrap()
                .get(&e)
                .unwrap(),
            json!(4095)
        );
        assert_eq!(Attr::parse("s | int(value)").unwrap().get(&e).unwrap(), json!(12));
        assert_eq!(
            Attr::parse("f | round(value)").unwrap().get(&e).unwrap(),
            json!(2)
        );
        assert_eq!(
            Attr::parse("f | 10 - value").unwrap().get(&e).unwrap(),
            json!(7.5)
        );
        assert_eq!(Attr::parse(".").unwrap().get(&e).unwrap(), e);
        // Python's int arithmetic and int(): 9007199254740993 * 2 == 18014398509481986,
        // 9007199254740993 // 2 == 4503599627370496, int(' 1_000 ') == 1000, -7 % 3 == 2
        let big = json!({"n": 9007199254740993_u64, "s": " 1_000 ", "m": -7});
        let get = |attr: &str| Attr::parse(attr).unwrap().get(&big).unwrap();
        assert_eq!(get("n | value * 2"), json!(18014398509481986_u64));
        assert_eq!(get("n | value // 2"), json!(4503599627370496_u64));
        assert_eq!(get("s | int(value)"), json!(1000));
        assert_eq!(get("m | value % 3"), json!(2));
        assert!(Attr::parse("a.x").unwrap().get(&e).is_err());
        assert!(Attr::parse("a | len(x)").is_err());
        assert!(Attr::parse("a | value.upper()").is_err());
    }

    /// Ceilometer's `value in skip_sample_values` and `value in value_mapping` are Python `==`:
    /// exact for big ints (`9007199254740992 in [9007199254740993]` is False).
    #[test]
    fn skip_and_value_mapping_compare_big_ints_exactly() {
        let d = def(
            "name: n\nsample_type: gauge\nunit: u\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\n\
                     skip_sample_values: [9007199254740993]\n\
                     value_mapping: {9007199254740992: 1, 1.5: 2}\ndefault_value: 0\n",
        );
        let (s, _) = d
            .extract(
                json!([{"id": "a", "v": 9007199254740992_u64}, {"id": "b", "v": 9007199254740993_u64},
                       {"id": "c", "v": 1.5}, {"id": "d", "v": 9007199254740994_u64}]),
                &ctx(),
            )
            .unwrap();
        let got: Vec<(OwnedValue, OwnedValue)> = s
            .iter()
            .map(|s| (s.resource_id.clone(), s.volume.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (json!("a"), json!(1)),
                (json!("c"), json!(2)),
                (json!("d"), json!(0))
            ]
        );
    }

    #[test]
    fn url_join_is_urljoin() {
        assert_eq!(url_join("http://h:1", "v2/x"), "http://h:1/v2/x");
        assert_eq!(url_join("http://h:1/api", "v2/x?a=1"), "http://h:1/api/v2/x?a=1");
        assert_eq!(url_join("http://h:1/api/", "/v2/x"), "http://h:1/v2/x");
        assert_eq!(url_join("http://h:1/api/", "http://o/y"), "http://o/y");
        assert_eq!(url_join("http://h:1/a/b/", "../c"), "http://h:1/a/c");
    }

    #[test]
    fn validates_definitions_like_ceilometer() {
        let bad = |yaml: &str, needle: &str| {
            let e = DynamicDefinition::from_yaml(&serde_yaml::from_str(yaml).unwrap()).unwrap_err();
            assert!(e.1.contains(needle), "{yaml}: {e:?}");
        };
        bad("name: a\nsample_type: gauge\nunit: u\n", "required fields");
        bad(
            "name: a b\nsample_type: gauge\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\n",
            "valid pollster name",
        );
        bad(
            "name: a\nsample_type: rate\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\n",
            "sample type",
        );
        bad(
            "name: a.{b}\nsample_type: gauge\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\n",
            "[list].field",
        );
        bad("name: a\nsample_type: gauge\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\nresponse_handlers: [xml]\n", "xml");
        bad("name: a\nsample_type: gauge\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\nextra_metadata_fields: []\n", "not supported");
        // host_command pollsters need neither endpoint_type nor url_path.
        def("name: a\nsample_type: gauge\nunit: u\nvalue_attribute: out\nhost_command: echo 1\n");
    }

    #[test]
    fn extracts_entries_ids_metadata_mapping_and_skips() {
        let d = def(r#"
name: dynamic.server.status
sample_type: gauge
unit: server
value_attribute: status
url_path: v2/servers
endpoint_type: compute
response_entries_key: body.servers
resource_id_attribute: uuid
user_id_attribute: owner.user
project_id_attribute: owner.project
metadata_fields: [name, "flavor.ram | value / 1024"]
metadata_mapping: {name: display_name}
preserve_mapped_metadata: false
skip_sample_values: [deleted]
value_mapping: {ACTIVE: 1, SHUTOFF: 0}
default_value: 9
"#);
        let response = json!({"body": {"servers": [
            {"uuid": "u-1", "owner": {"user": "us", "project": "pr"}, "status": "ACTIVE", "name": "web", "flavor": {"ram": 2048}},
            {"uuid": "u-2", "owner": {"user": "us", "project": "pr"}, "status": "deleted", "name": "old", "flavor": {"ram": 1024}},
            {"uuid": "u-3", "owner": {"user": "us", "project": "pr"}, "status": "ERROR", "name": "bad", "flavor": {"ram": 512}}
        ]}});
        let (samples, next) = d.extract(response, &ctx()).unwrap();
        assert!(next.is_none());
        assert_eq!(samples.len(), 2);
        let s = &samples[0];
        assert_eq!(&*s.name, "dynamic.server.status");
        assert_eq!((&*s.sample_type, &*s.unit), ("gauge", "server"));
        assert_eq!(s.resource_id, json!("u-1"));
        assert_eq!(
            (s.user_id.clone(), s.project_id.clone()),
            (json!("us"), json!("pr"))
        );
        assert_eq!(s.volume, json!(1));
        assert_eq!(
            *s.resource_metadata,
            json!({"display_name": "web", "flavor.ram | value / 1024": 2.0})
        );
        assert_eq!(samples[1].volume, json!(9));
    }

    #[test]
    fn default_ids_and_first_key_entries() {
        let d = def("name: n\nsample_type: cumulative\nunit: B\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\nmetadata_fields: [m]\nmetadata_mapping: {m: mm}\n");
        let (s, _) = d
            .extract(json!({"items": [{"id": "r", "v": 5, "m": "x"}]}), &ctx())
            .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].resource_id, json!("r"));
        assert!(s[0].user_id.is_null() && s[0].project_id.is_null());
        // preserve_mapped_metadata defaults to true: both keys.
        assert_eq!(*s[0].resource_metadata, json!({"m": "x", "mm": "x"}));
        // A bare list is the entries; an empty response gives nothing.
        assert_eq!(
            d.extract(json!([{"id": "r", "v": 1, "m": 0}]), &ctx())
                .unwrap()
                .0
                .len(),
            1
        );
        assert!(d.extract(json!({}), &ctx()).unwrap().0.is_empty());
        // A missing value attribute fails the poll, as Ceilometer's KeyError does.
        assert!(d.extract(json!([{"id": "r"}]), &ctx()).is_err());
    }

    #[test]
    fn multi_metric_pollsters_emit_one_sample_per_element() {
        let d = def(r#"
name: dynamic.usage.{category}
sample_type: gauge
unit: B
value_attribute: "[usage].bytes"
url_path: u
endpoint_type: e
skip_sample_values: [images, 0]
"#);
        let r = json!([{"id": "p1", "usage": [
            {"category": "volumes", "bytes": 10},
            {"category": "images", "bytes": 20},
            {"category": "backups", "bytes": 0},
            {"category": "snapshots", "bytes": 30}
        ]}]);
        let (s, _) = d.extract(r, &ctx()).unwrap();
        let got: Vec<(String, OwnedValue)> =
            s.iter().map(|s| (s.name.to_string(), s.volume.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("dynamic.usage.volumes".to_string(), json!(10)),
                ("dynamic.usage.snapshots".to_string(), json!(30))
            ]
        );
        assert!(d.extract(json!([{"id": "p", "usage": 3}]), &ctx()).is_err());
    }

    #[test]
    fn next_page_url_comes_from_the_response() {
        let d = def("name: n\nsample_type: gauge\nunit: u\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\nresponse_entries_key: items\nnext_sample_url_attribute: links.next\n");
        let (_, next) = d
            .extract(
                json!({"items": [{"v": 1}], "links": {"next": "x?page=2"}}),
                &ctx(),
            )
            .unwrap();
        assert_eq!(next.as_deref(), Some("x?page=2"));
        let (_, next) = d
            .extract(json!({"items": [{"v": 1}], "links": {}}), &ctx())
            .unwrap();
        assert_eq!(next, None);
    }

    #[test]
    fn response_handlers_in_order() {
        let d = def("name: n\nsample_type: gauge\nunit: u\nvalue_attribute: out\nurl_path: x\nendpoint_type: e\nresponse_handlers: [json, text]\n");
        assert_eq!(d.handle(b"[1]").unwrap(), json!([1]));
        assert_eq!(d.handle(b"plain 42").unwrap(), json!([{"out": "plain 42"}]));
        let j =
            def("name: n\nsample_type: gauge\nunit: u\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\n");
        assert!(j.handle(b"nope").is_err());
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(
            j.handle(deep.as_bytes()).is_err(),
            "too deep to walk: not handled as JSON"
        );
    }
}
