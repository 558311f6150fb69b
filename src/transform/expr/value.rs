//! What an expression reads and computes: [`Val`], Python's view of a sample field during
//! evaluation, and [`Field`] / [`Var`], the sample fields an expression may name.

use crate::model::py::Num;
use crate::model::{OwnedValue, Sample};
use simd_json::prelude::*;

use super::EvalError;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(Num),
    Bool(bool),
    Str(String),
    /// A missing field, JSON null, or an empty object: all falsy, none a number.
    None,
    /// A non-empty object or array: truthy, but no arithmetic.
    Opaque,
}

impl Val {
    pub(super) fn truthy(&self) -> bool {
        match self {
            Val::Num(n) => n.truthy(),
            Val::Bool(b) => *b,
            Val::Str(s) => !s.is_empty(),
            Val::None => false,
            Val::Opaque => true,
        }
    }

    pub(super) fn num(&self) -> Result<Num, EvalError> {
        match self {
            Val::Num(n) => Ok(*n),
            Val::Bool(b) => Ok(Num::Int(i128::from(*b))),
            Val::Str(s) => Err(EvalError(format!("not a number: {s:?}"))),
            Val::None => Err(EvalError("not a number: a missing field".into())),
            Val::Opaque => Err(EvalError("not a number: an object".into())),
        }
    }

    pub(super) fn from_json(v: &OwnedValue) -> Val {
        if let Some(b) = v.as_bool() {
            return Val::Bool(b);
        }
        if let Some(n) = Num::of_owned(v) {
            return Val::Num(n);
        }
        if let Some(s) = v.as_str() {
            return Val::Str(s.to_owned());
        }
        if let Some(o) = v.as_object() {
            return if o.is_empty() { Val::None } else { Val::Opaque };
        }
        if let Some(a) = v.as_array() {
            return if a.is_empty() { Val::None } else { Val::Opaque };
        }
        Val::None
    }
}

/// A field of a sample, as `Sample.as_dict()` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Type,
    Unit,
    Volume,
    UserId,
    UserName,
    ProjectId,
    ProjectName,
    ResourceId,
    Timestamp,
    ResourceMetadata,
    Source,
    Id,
    MonotonicTime,
}

impl Field {
    pub(super) fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "name" => Field::Name,
            "type" => Field::Type,
            "unit" => Field::Unit,
            "volume" => Field::Volume,
            "user_id" => Field::UserId,
            "user_name" => Field::UserName,
            "project_id" => Field::ProjectId,
            "project_name" => Field::ProjectName,
            "resource_id" => Field::ResourceId,
            "timestamp" => Field::Timestamp,
            "resource_metadata" => Field::ResourceMetadata,
            "source" => Field::Source,
            "id" => Field::Id,
            "monotonic_time" => Field::MonotonicTime,
            _ => return None,
        })
    }

    pub(super) fn read(self, s: &Sample) -> Val {
        match self {
            Field::Name => Val::Str(s.name.to_string()),
            Field::Type => Val::Str(s.sample_type.to_string()),
            Field::Unit => Val::Str(s.unit.to_string()),
            Field::Source => Val::Str(s.source.to_string()),
            Field::Id => Val::Str(s.id.clone()),
            Field::Volume => Val::from_json(&s.volume),
            Field::UserId => Val::from_json(&s.user_id),
            Field::UserName => Val::from_json(&s.user_name),
            Field::ProjectId => Val::from_json(&s.project_id),
            Field::ProjectName => Val::from_json(&s.project_name),
            Field::ResourceId => Val::from_json(&s.resource_id),
            Field::Timestamp => Val::from_json(&s.timestamp),
            Field::ResourceMetadata => Val::from_json(&s.resource_metadata),
            Field::MonotonicTime => Val::from_json(&s.monotonic_time),
        }
    }

    pub(super) fn json(self, s: &Sample) -> Option<&OwnedValue> {
        match self {
            Field::ResourceMetadata => Some(&s.resource_metadata),
            Field::Volume => Some(&s.volume),
            Field::UserId => Some(&s.user_id),
            Field::ProjectId => Some(&s.project_id),
            Field::ResourceId => Some(&s.resource_id),
            _ => None,
        }
    }
}

impl Field {
    /// Whether `.attr` can follow: only the JSON-valued fields hold objects.
    pub(super) fn has_attributes(self) -> bool {
        matches!(
            self,
            Field::ResourceMetadata | Field::Volume | Field::UserId | Field::ProjectId | Field::ResourceId
        )
    }
}

/// A reference to a field of one of the samples in scope: slot 0 for `scale`, the meter's
/// slot for `$(meter)` in `arithmetic`; `path` walks into nested objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub slot: usize,
    pub field: Field,
    pub path: Box<[Box<str>]>,
}
