//! TEMPORARY stand-in for the jsonpath dialect (replaced by the jsonpath branch at merge):
//! only `$.a.b` / `a.b` field chains.

use std::borrow::Cow;

use simd_json::prelude::*;

use crate::model::Value;

#[derive(Debug, thiserror::Error)]
#[error("invalid jsonpath {expr:?}: {message}")]
pub struct JsonPathError {
    pub expr: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    fields: Vec<String>,
}

impl JsonPath {
    pub fn compile(expr: &str) -> Result<JsonPath, JsonPathError> {
        let body = expr.strip_prefix("$.").unwrap_or(expr);
        Ok(JsonPath {
            source: expr.to_owned(),
            fields: body.split('.').map(str::to_owned).collect(),
        })
    }

    pub fn find<'v, 'a>(&self, root: &'v Value<'a>) -> Vec<Cow<'v, Value<'a>>> {
        let mut cur = root;
        for f in &self.fields {
            match cur.get(f.as_str()) {
                Some(v) => cur = v,
                None => return Vec::new(),
            }
        }
        vec![Cow::Borrowed(cur)]
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}
