//! The jsonpath dialect of Ceilometer's definition files (jsonpath-rw with jsonpath-rw-ext's
//! extensions), compiled once into an evaluator over simd-json borrowed values.
//!
//! Interface (filled in by the jsonpath work):
//! `JsonPath::compile(expr) -> Result<JsonPath, JsonPathError>` and
//! `JsonPath::find(&self, root) -> Vec<Cow<Value>>` returning every match in document order.
