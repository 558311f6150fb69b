//! An event, as Ceilometer's `ceilometer.event.models.Event` holds it.
//! (Placeholder shape; the events work owns and refines it.)

use std::sync::Arc;

use super::OwnedValue;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub message_id: String,
    pub event_type: String,
    /// Naive-UTC ISO 8601.
    pub generated: String,
    pub traits: Vec<Trait>,
    /// The raw notification, kept only when `store_raw` asks for it (`{}` otherwise).
    pub raw: OwnedValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trait {
    pub name: Arc<str>,
    pub value: TraitValue,
}

/// Trait values with Ceilometer's dtype numbering: 1 text, 2 int, 3 float, 4 datetime.
#[derive(Debug, Clone, PartialEq)]
pub enum TraitValue {
    Text(String),
    Int(i64),
    Float(f64),
    /// Naive-UTC ISO 8601.
    Datetime(String),
}
