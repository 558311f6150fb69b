//! Reading event_definitions.yaml: YAML (as PyYAML reads it, see [`super::yaml`]) → compiled
//! definitions, and the errors an operator needs to fix a bad file (file, line, which
//! definition and trait, what is wrong).
//!
//! yaml_serde reports syntax errors with a location but keeps no positions for values, so the
//! line of a semantically bad definition is found by scanning the text for the top-level list
//! item it came from (and, inside it, for the trait's key).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use simd_json::StaticNode;
use yaml_serde::{Mapping, Value as Yaml};

use super::coerce::TraitType;
use super::dispatch::TypeFilter;
use super::plugins::{Plugin, PluginError};
use super::traits::{Getter, TraitDefinition};
use crate::jsonpath::JsonPath;
use crate::model::yaml_outline::Outline;
use crate::model::yaml_read::{yaml_inline, yaml_kind};
use crate::problem::Problem;

/// A definition file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{}: cannot read event definitions: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: invalid YAML in event definitions: {message}", path.display())]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}:{line}: event definitions must be a list of definitions, found {found}", path.display())]
    NotAList {
        path: PathBuf,
        line: usize,
        found: &'static str,
    },
    #[error("{}:{line}: {context}: {fault}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        context: String,
        fault: DefinitionFault,
    },
}

impl DefinitionError {
    /// The 1-based line the error points at, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            DefinitionError::Io { .. } => None,
            DefinitionError::Yaml { line, .. }
            | DefinitionError::NotAList { line, .. }
            | DefinitionError::Invalid { line, .. } => Some(*line),
        }
    }

    /// What is wrong with a definition, for the semantic errors.
    pub fn fault(&self) -> Option<&DefinitionFault> {
        match self {
            DefinitionError::Invalid { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

impl From<DefinitionError> for Problem {
    /// The same words, as the one [`Problem`] that `ceilo check` and `ceilo run` print.
    fn from(e: DefinitionError) -> Problem {
        match e {
            DefinitionError::Io { path, source } => {
                Problem::new(&path, None, format!("cannot read event definitions: {source}"))
            }
            DefinitionError::Yaml {
                path,
                line,
                column,
                message,
            } => Problem::new(
                &path,
                Some(line),
                format!("invalid YAML in event definitions: {message}"),
            )
            .at_column(column),
            DefinitionError::NotAList { path, line, found } => Problem::new(
                &path,
                Some(line),
                format!("event definitions must be a list of definitions, found {found}"),
            ),
            DefinitionError::Invalid {
                path,
                line,
                context,
                fault,
            } => Problem::new(&path, Some(line), format!("{context}: {fault}")),
        }
    }
}

/// What is wrong with one definition or trait (the file and line are the
/// [`DefinitionError`]'s).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionFault {
    #[error("a definition must be a mapping with event_type and traits")]
    NotAMapping,
    #[error("required field {0} not specified")]
    MissingField(&'static str),
    #[error("event_type must be a string or a list of strings")]
    BadEventType,
    #[error("traits must be a mapping of trait names to trait definitions")]
    BadTraits,
    #[error("trait name {0} is not a string")]
    BadTraitName(String),
    #[error("the field 'fields' is required")]
    MissingFields,
    #[error("fields must be a jsonpath, a list of jsonpaths or an integer")]
    BadFields,
    #[error("parse error in JSONPath specification {expr:?}: {error}")]
    BadJsonPath { expr: String, error: String },
    #[error("invalid trait type {0:?} (expected text, int, float or datetime)")]
    UnknownTraitType(String),
    #[error("plugin specified, but no plugin name supplied")]
    PluginWithoutName,
    #[error("plugin must be a name or a mapping with name and parameters")]
    BadPlugin,
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// A compiled definition.
#[derive(Debug)]
pub struct EventDefinition {
    pub(crate) filter: TypeFilter,
    /// Default traits first (possibly overridden in place), then the definition's own.
    pub(crate) traits: Vec<TraitDefinition>,
    /// 1-based line of the definition's list item.
    pub(crate) line: usize,
}

/// Ceilometer's `EventDefinition.DEFAULT_TRAITS`, in its order: every event gets these unless
/// its definition overrides them.
pub(crate) const DEFAULT_TRAITS: [(&str, &[&str]); 5] = [
    ("service", &["publisher_id"]),
    ("request_id", &["ctxt.request_id"]),
    ("project_id", &["payload.tenant_id", "ctxt.project_id"]),
    ("user_id", &["payload.user_id", "ctxt.user_id"]),
    ("tenant_id", &["payload.tenant_id", "ctxt.project_id"]),
];

/// Compiles each distinct jsonpath once, as Ceilometer's getter cache does.
#[derive(Default)]
pub(crate) struct Paths(HashMap<String, Arc<JsonPath>>);

impl Paths {
    pub(crate) fn compile(&mut self, expr: &str) -> Result<Arc<JsonPath>, DefinitionFault> {
        if let Some(path) = self.0.get(expr) {
            return Ok(Arc::clone(path));
        }
        let path = JsonPath::compile(expr).map_err(|e| DefinitionFault::BadJsonPath {
            expr: expr.to_owned(),
            error: e.to_string(),
        })?;
        let path = Arc::new(path);
        self.0.insert(expr.to_owned(), Arc::clone(&path));
        Ok(path)
    }

    /// A `fields` list, joined as Ceilometer does: one element as is, more as `(a)|(b)`.
    pub(crate) fn compile_list(&mut self, exprs: &[&str]) -> Result<Arc<JsonPath>, DefinitionFault> {
        match exprs {
            [one] => self.compile(one),
            many => self.compile(
                &many
                    .iter()
                    .map(|e| format!("({e})"))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
        }
    }
}

/// Parse and compile a definitions document. `path` is only used in error messages.
pub(crate) fn compile_document(
    text: &str,
    path: &Path,
) -> Result<(Vec<EventDefinition>, Paths), DefinitionError> {
    let doc = super::yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        DefinitionError::Yaml {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let lines = Outline::of(text).list();
    let items = match &doc {
        // An empty file is no definitions: every event then takes the catch-all.
        Yaml::Null => return Ok((Vec::new(), Paths::default())),
        Yaml::Sequence(items) => items,
        other => {
            return Err(DefinitionError::NotAList {
                path: path.to_owned(),
                line: 1,
                found: yaml_kind(other),
            });
        }
    };
    let mut paths = Paths::default();
    let mut definitions = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        // A top-level list in flow style has no lines for its items: line 1.
        let outline = lines.get(index);
        let line = outline.map_or(1, |o| o.line);
        let label = definition_label(index, item);
        let invalid = |line: usize, context: String, fault: DefinitionFault| DefinitionError::Invalid {
            path: path.to_owned(),
            line,
            context,
            fault,
        };
        let definition =
            compile_definition(item, line, &mut paths).map_err(|(trait_name, fault)| match trait_name {
                Some(name) => {
                    // A trait merged in from an anchor elsewhere is not written in the item.
                    let line = outline
                        .and_then(|o| o.value("traits"))
                        .and_then(|traits| traits.key_line(&name))
                        .unwrap_or(line);
                    invalid(line, format!("{label}, trait {name:?}"), fault)
                }
                None => invalid(line, label.clone(), fault),
            })?;
        definitions.push(definition);
    }
    Ok((definitions, paths))
}

type TraitProblem = (Option<String>, DefinitionFault);

fn compile_definition(item: &Yaml, line: usize, paths: &mut Paths) -> Result<EventDefinition, TraitProblem> {
    let whole = |p: DefinitionFault| (None, p);
    let Yaml::Mapping(map) = item else {
        return Err(whole(DefinitionFault::NotAMapping));
    };
    let event_type = map
        .get("event_type")
        .ok_or(whole(DefinitionFault::MissingField("event_type")))?;
    let patterns: Vec<&str> = match event_type {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Sequence(seq) => seq
            .iter()
            .map(|p| p.as_str().ok_or(whole(DefinitionFault::BadEventType)))
            .collect::<Result<_, _>>()?,
        _ => return Err(whole(DefinitionFault::BadEventType)),
    };
    let own_traits = match map.get("traits") {
        None => return Err(whole(DefinitionFault::MissingField("traits"))),
        Some(Yaml::Mapping(traits)) => traits,
        Some(_) => return Err(whole(DefinitionFault::BadTraits)),
    };
    let mut traits = Vec::with_capacity(DEFAULT_TRAITS.len() + own_traits.len());
    for (name, fields) in DEFAULT_TRAITS {
        let getter = Getter::Path(paths.compile_list(fields).map_err(whole)?);
        traits.push(TraitDefinition {
            name: name.into(),
            ty: TraitType::Text,
            getter,
            plugin: None,
        });
    }
    for (name, cfg) in own_traits {
        let Some(name) = name.as_str() else {
            return Err(whole(DefinitionFault::BadTraitName(yaml_inline(name))));
        };
        let compiled = compile_trait(name, cfg, paths).map_err(|p| (Some(name.to_owned()), p))?;
        // Same name as a default (or an earlier key): replace in place, as a Python dict does.
        match traits.iter_mut().find(|t| *t.name == *name) {
            Some(slot) => *slot = compiled,
            None => traits.push(compiled),
        }
    }
    Ok(EventDefinition {
        filter: TypeFilter::new(patterns),
        traits,
        line,
    })
}

/// Ceilometer's `TraitDefinition.__init__` (via `declarative.Definition`).
fn compile_trait(name: &str, cfg: &Yaml, paths: &mut Paths) -> Result<TraitDefinition, DefinitionFault> {
    let (fields, type_name, plugin) = match cfg {
        Yaml::Mapping(map) => {
            let fields = map.get("fields").ok_or(DefinitionFault::MissingFields)?;
            let type_name = match map.get("type") {
                None => "text",
                Some(Yaml::String(t)) => t.as_str(),
                Some(other) => return Err(DefinitionFault::UnknownTraitType(yaml_inline(other))),
            };
            let plugin = match map.get("plugin") {
                None => None,
                Some(plugin) => Some(compile_plugin(plugin, paths)?),
            };
            (fields, type_name, plugin)
        }
        // "name: jsonpath" shorthand.
        other => (other, "text", None),
    };
    let getter = match fields {
        Yaml::String(expr) => Getter::Path(paths.compile(expr)?),
        Yaml::Sequence(list) => {
            let exprs: Vec<&str> = list
                .iter()
                .map(|e| e.as_str().ok_or(DefinitionFault::BadFields))
                .collect::<Result<_, _>>()?;
            if exprs.is_empty() {
                return Err(DefinitionFault::BadJsonPath {
                    expr: String::new(),
                    error: "empty list of fields".into(),
                });
            }
            Getter::Path(paths.compile_list(&exprs)?)
        }
        Yaml::Number(n) => Getter::Constant(StaticNode::I64(n.as_i64().ok_or(DefinitionFault::BadFields)?)),
        Yaml::Bool(b) => Getter::Constant(StaticNode::Bool(*b)),
        _ => return Err(DefinitionFault::BadFields),
    };
    let ty = TraitType::from_name(type_name)
        .ok_or_else(|| DefinitionFault::UnknownTraitType(type_name.to_owned()))?;
    Ok(TraitDefinition {
        name: name.into(),
        ty,
        getter,
        plugin,
    })
}

fn compile_plugin(cfg: &Yaml, paths: &mut Paths) -> Result<Plugin, DefinitionFault> {
    let empty = Mapping::new();
    let (name, params) = match cfg {
        Yaml::String(name) => (name.as_str(), &empty),
        Yaml::Mapping(map) => {
            let name = match map.get("name") {
                Some(Yaml::String(name)) => name.as_str(),
                Some(_) => return Err(DefinitionFault::BadPlugin),
                None => return Err(DefinitionFault::PluginWithoutName),
            };
            let params = match map.get("parameters") {
                None | Some(Yaml::Null) => &empty,
                Some(Yaml::Mapping(params)) => params,
                Some(_) => return Err(DefinitionFault::BadPlugin),
            };
            (name, params)
        }
        _ => return Err(DefinitionFault::BadPlugin),
    };
    let mut compile = |expr: &str| paths.compile(expr).map_err(|p| p.to_string());
    Ok(Plugin::configure(name, params, &mut compile)?)
}

/// "definition 3 (event_type 'compute.instance.*')": which definition an error is about.
fn definition_label(index: usize, item: &Yaml) -> String {
    let types = match item.get("event_type") {
        Some(Yaml::String(s)) => format!("{s:?}"),
        Some(Yaml::Sequence(seq)) => seq
            .iter()
            .map(|t| t.as_str().map_or_else(|| yaml_inline(t), |s| format!("{s:?}")))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "?".to_owned(),
    };
    format!("definition {} (event_type {types})", index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line a definitions document's first problem names.
    fn problem_line(text: &str) -> usize {
        let e = compile_document(text, Path::new("e.yaml"))
            .err()
            .expect("a problem");
        e.line().expect("a line")
    }

    #[test]
    fn problems_name_the_line_of_their_definition_or_trait() {
        let bad_trait = "      fields: '..!!'\n";
        // Comments, a document marker, a flow list over two lines, a quoted trait name.
        let text = format!(
            "---\n# c\n- event_type: a\n  traits: {{}}\n- event_type: [b,\n    c]\n  traits:\n    'y':\n{bad_trait}"
        );
        assert_eq!(problem_line(&text), 8);
        // A trait named like a trait's own keys: the trait's line, not the earlier `type:`.
        let text = "- event_type: a\n  traits:\n    x:\n      fields: p\n      type: int\n    \
                    type:\n      fields: q\n      type: integer\n";
        assert_eq!(problem_line(text), 6);
        // A list with an anchor on the document marker.
        assert_eq!(
            problem_line(&format!(
                "--- &defs\n- event_type: a\n  traits:\n    x:\n{bad_trait}"
            )),
            4
        );
        // Flow style has no inner lines: the item's line, or line 1.
        assert_eq!(
            problem_line("- event_type: a\n  traits: {x: {fields: '..!!'}}\n"),
            1
        );
        assert_eq!(
            problem_line("\n[{event_type: a, traits: {x: {fields: '..!!'}}}]\n"),
            1
        );
    }
}
