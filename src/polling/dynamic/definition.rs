//! A dynamic pollster definition (one entry of a `pollsters.d/*.yaml` file) validated as
//! Ceilometer's `PollsterDefinitions` validates it, and the loading of every file of the
//! definition directories. What a definition does with a response is in [`super::extract`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use yaml_serde::Value as Yaml;

use super::attr::Attr;
use crate::model::{yaml_read, OwnedValue};
use crate::polling::pollster::MeterSpec;
use crate::problem::Problem;

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
        source: yaml_serde::Error,
    },
    #[error("{path}: pollster {name:?}: {reason}")]
    Invalid {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

impl From<DefinitionError> for Problem {
    /// The same words, as the one [`Problem`] `ceilo check` and `ceilo run` print (a YAML
    /// error names its line).
    fn from(e: DefinitionError) -> Problem {
        match e {
            DefinitionError::Read { path, source } => {
                Problem::new(&path, None, format!("cannot read: {source}"))
            }
            DefinitionError::Yaml { path, source } => Problem::new(
                &path,
                source.location().map(|l| l.line()),
                format!("not YAML: {source}"),
            ),
            DefinitionError::Invalid { path, name, reason } => {
                Problem::new(&path, None, format!("pollster {name:?}: {reason}"))
            }
        }
    }
}

/// How a response body is decoded (`response_handlers`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Handler {
    Json,
    Text,
    Xml,
}

/// How the value of an entry is found.
#[derive(Debug, Clone)]
pub(super) enum ValueSpec {
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
    /// The polling namespaces the pollster runs in (`namespaces`: one or a list; default
    /// `central`, as Ceilometer's `create_dynamic_pollsters`).
    pub(super) namespaces: Vec<String>,
    pub(super) meter: MeterSpec,
    pub(super) value: ValueSpec,
    pub(super) endpoint_type: Option<String>,
    pub(super) url_path: String,
    pub(super) host_command: Option<String>,
    pub(super) metadata_fields: Vec<Attr>,
    pub(super) skip_sample_values: Vec<OwnedValue>,
    pub(super) value_mapping: Vec<(OwnedValue, OwnedValue)>,
    pub(super) default_value: OwnedValue,
    pub(super) metadata_mapping: Vec<(String, String)>,
    pub(super) preserve_mapped_metadata: bool,
    pub(super) response_entries_key: Option<Attr>,
    pub(super) next_sample_url_attribute: Option<Attr>,
    pub(super) user_id_attribute: Attr,
    pub(super) project_id_attribute: Attr,
    pub(super) resource_id_attribute: Attr,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) timeout: Duration,
    pub(super) response_handlers: Vec<Handler>,
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
                .and_then(crate::duration::seconds)
                .ok_or_else(|| fail(format!("timeout must be {}", crate::duration::EXPECTED)))?,
        };
        let response_handlers = match get("response_handlers") {
            None => vec![Handler::Json],
            Some(Yaml::Sequence(s)) => s
                .iter()
                .map(|h| match h.as_str() {
                    Some("json") => Ok(Handler::Json),
                    Some("text") => Ok(Handler::Text),
                    Some("xml") => Ok(Handler::Xml),
                    _ => Err(fail(format!("invalid response_handler {h:?} (json, xml, text)"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(fail("response_handlers must be a list".into())),
        };
        let namespaces = match get("namespaces") {
            None => vec!["central".to_owned()],
            Some(Yaml::Sequence(list)) => list
                .iter()
                .map(|ns| match ns {
                    Yaml::String(ns) => Ok(ns.clone()),
                    _ => Err(fail("namespaces must be names".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => vec![text("namespaces")?.unwrap_or_default()],
        };
        Ok(Self {
            namespaces,
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

    fn def(yaml: &str) -> DynamicDefinition {
        DynamicDefinition::from_yaml(&yaml_serde::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn validates_definitions_like_ceilometer() {
        let bad = |yaml: &str, needle: &str| {
            let e = DynamicDefinition::from_yaml(&yaml_serde::from_str(yaml).unwrap()).unwrap_err();
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
        bad("name: a\nsample_type: gauge\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\nresponse_handlers: [yaml]\n", "json, xml, text");
        bad("name: a\nsample_type: gauge\nunit: u\nvalue_attribute: v\nendpoint_type: e\nurl_path: p\nextra_metadata_fields: []\n", "not supported");
        // host_command pollsters need neither endpoint_type nor url_path.
        def("name: a\nsample_type: gauge\nunit: u\nvalue_attribute: out\nhost_command: echo 1\n");
    }
}
