//! One compiled trait definition (Ceilometer's `TraitDefinition`): where the value comes from
//! (a jsonpath, or a constant integer as `fields: 5` allows), an optional plugin, and the type
//! it is coerced to.

use std::borrow::Cow;
use std::sync::Arc;

use simd_json::prelude::*;
use simd_json::StaticNode;

use super::coerce::{coerce, CoerceError, TraitType};
use super::plugins::Plugin;
use crate::jsonpath::{EvalError, JsonPath};
use crate::model::{Trait, Value};

/// Where Python raises while building a trait (and so drops the whole event).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraitError {
    /// jsonpath-rw itself raised while walking the notification (an index into a dict, ...).
    #[error("jsonpath {expr:?}: {error}")]
    JsonPath { expr: String, error: EvalError },
    #[error(transparent)]
    Coerce(#[from] CoerceError),
}

#[derive(Debug)]
pub struct TraitDefinition {
    pub(crate) name: Arc<str>,
    pub(crate) ty: TraitType,
    pub(crate) getter: Getter,
    pub(crate) plugin: Option<Plugin>,
}

/// Where a trait's value comes from.
#[derive(Debug)]
pub enum Getter {
    /// A jsonpath over the notification dict; a list of `fields` is compiled as Ceilometer
    /// joins it, `(a)|(b)|...`.
    Path(Arc<JsonPath>),
    /// `fields` given as an integer (or a YAML bool, which Python counts as one): the value,
    /// whatever the notification holds.
    Constant(StaticNode),
}

impl TraitDefinition {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `TraitDefinition.to_trait`: `Ok(None)` when the trait is left out of the event, an
    /// error where Python raises (which drops the whole event).
    pub fn to_trait(&self, root: &Value<'_>) -> Result<Option<Trait>, TraitError> {
        let value = match &self.getter {
            // A constant skips the plugin and the null filter, as `Definition.parse` returns it
            // straight away.
            Getter::Constant(node) => Some(Cow::Owned(Value::Static(*node))),
            Getter::Path(path) => {
                let raised = |error| TraitError::JsonPath {
                    expr: path.source().to_owned(),
                    error,
                };
                match &self.plugin {
                    None => path.first_non_null(root).map_err(raised)?,
                    Some(plugin) => {
                        let mut matches = path.try_find(root).map_err(raised)?;
                        matches.retain(|m| !m.is_null());
                        plugin.apply(root, &matches)
                    }
                }
            }
        };
        let Some(value) = value else {
            return Ok(None);
        };
        Ok(coerce(self.ty, &value)?.map(|value| Trait {
            name: Arc::clone(&self.name),
            value,
        }))
    }
}
