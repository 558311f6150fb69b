//! One configured value of a definition, as Ceilometer's `declarative.Definition` reads it:
//! a constant integer, a jsonpath, a list of jsonpaths (tried as a union, in order), or a dict
//! `{fields: ..., plugin: name | {name, parameters}}` whose matches go through a plugin.

use std::borrow::Cow;

use simd_json::prelude::*;
use yaml_serde::Value as Yaml;

use crate::event::plugins::Plugin;
use crate::jsonpath::JsonPath;
use crate::model::{OwnedValue, Value};

/// A compiled field.
#[derive(Debug)]
pub enum Field {
    /// `volume: 1`: Ceilometer returns integers as they are, without looking at the message.
    Constant(OwnedValue),
    Path {
        path: JsonPath,
        plugin: Option<Plugin>,
    },
}

/// Why a field does not compile; the caller adds file, line and definition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

impl Field {
    /// Compile `cfg` for the attribute `name` (used in messages only).
    pub fn compile(name: &str, cfg: &Yaml) -> Result<Field, FieldError> {
        let (fields, plugin) = match cfg {
            Yaml::Mapping(map) => {
                let fields = map
                    .get("fields")
                    .ok_or_else(|| FieldError(format!("The field 'fields' is required for {name}")))?;
                let plugin = map.get("plugin").map(plugin_from_config).transpose()?;
                (fields, plugin)
            }
            other => (other, None),
        };
        let expr = match fields {
            // Python's bool is an int, so `true` is a constant too.
            Yaml::Number(n) if n.is_i64() || n.is_u64() => {
                return Ok(Field::Constant(crate::model::yaml_read::to_json(fields)));
            }
            Yaml::Bool(b) => return Ok(Field::Constant(OwnedValue::from(*b))),
            Yaml::String(s) => Cow::Borrowed(s.as_str()),
            Yaml::Sequence(items) => {
                let paths: Vec<&str> = items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .ok_or_else(|| FieldError(format!("{name}: fields must be strings")))
                    })
                    .collect::<Result<_, _>>()?;
                match paths.as_slice() {
                    [one] => Cow::Borrowed(*one),
                    // Ceilometer joins a list of fallbacks into one union expression.
                    many => Cow::Owned(
                        many.iter()
                            .map(|p| format!("({p})"))
                            .collect::<Vec<_>>()
                            .join("|"),
                    ),
                }
            }
            other => {
                return Err(FieldError(format!(
                    "{name}: cannot parse {other:?} as a jsonpath"
                )))
            }
        };
        let path = JsonPath::compile(&expr).map_err(|e| {
            FieldError(format!(
                "Parse error in JSONPath specification '{expr}' for {name}: {e}"
            ))
        })?;
        Ok(Field::Path { path, plugin })
    }

    /// The first non-null value (Ceilometer's `parse(message)`), or `None`. `Err` is an
    /// exception jsonpath-rw raises while evaluating (Ceilometer lets it propagate).
    pub fn first<'v, 'a>(&self, root: &'v Value<'a>) -> Result<Option<Cow<'v, Value<'a>>>, String> {
        match self {
            Field::Constant(v) => Ok(Some(Cow::Owned(to_borrowed(v)))),
            Field::Path { path, plugin: None } => path.first_non_null(root).map_err(|e| e.to_string()),
            Field::Path {
                path,
                plugin: Some(plugin),
            } => {
                let values: Vec<_> = path
                    .try_find(root)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|v| !v.is_null())
                    .collect();
                Ok(plugin.apply(root, &values))
            }
        }
    }

    /// Every match, nulls included (Ceilometer's `parse(message, return_all_values=True)`),
    /// used by `lookup` definitions. `Err` is what Ceilometer raises at message time.
    pub fn all<'v, 'a>(&self, root: &'v Value<'a>) -> Result<Vec<Cow<'v, Value<'a>>>, String> {
        match self {
            Field::Constant(v) => Err(format!(
                "object of type 'int' has no len() (constant {v} in a lookup)"
            )),
            Field::Path { path, plugin: None } => path.try_find(root).map_err(|e| e.to_string()),
            Field::Path {
                path,
                plugin: Some(plugin),
            } => Err(format!(
                "Plugin {:?} don't allows to return multiple values ({})",
                plugin,
                path.source()
            )),
        }
    }
}

/// `plugin: name` or `plugin: {name: ..., parameters: {...}}`, configured with the same trait
/// plugins event definitions use (Ceilometer shares one plugin namespace).
fn plugin_from_config(cfg: &Yaml) -> Result<Plugin, FieldError> {
    let empty = yaml_serde::Mapping::new();
    let (name, params) = match cfg {
        Yaml::String(name) => (name.as_str(), &empty),
        Yaml::Mapping(m) => {
            let name = m
                .get("name")
                .and_then(Yaml::as_str)
                .ok_or_else(|| FieldError("Plugin specified, but no plugin name supplied".into()))?;
            (
                name,
                m.get("parameters").and_then(Yaml::as_mapping).unwrap_or(&empty),
            )
        }
        other => return Err(FieldError(format!("bad plugin specification {other:?}"))),
    };
    let mut compile = |p: &str| {
        JsonPath::compile(p)
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string())
    };
    Plugin::configure(name, params, &mut compile).map_err(|e| FieldError(e.to_string()))
}

/// An owned value viewed as a borrowed one (constants and plugin results are small).
fn to_borrowed<'a>(v: &OwnedValue) -> Value<'a> {
    Value::from(v.clone())
}
