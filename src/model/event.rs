//! An event, as Ceilometer's `ceilometer.event.models.Event` holds it: the notification's
//! message id and type, when it was generated, typed traits, and optionally the raw
//! notification. Building events is [`crate::event`]'s job; this is only the data.

use std::sync::Arc;

use chrono::NaiveDateTime;

use super::OwnedValue;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `metadata.message_id` of the notification (`None` when the notification had none).
    pub message_id: Option<String>,
    pub event_type: String,
    /// The notification's timestamp, normalized to naive UTC.
    pub generated: NaiveDateTime,
    /// In Ceilometer's order: the default traits first, then the definition's.
    pub traits: Vec<Trait>,
    /// The raw notification, kept only when `store_raw` asks for it (`{}` otherwise).
    pub raw: OwnedValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trait {
    pub name: Arc<str>,
    pub value: TraitValue,
}

/// Trait values with Ceilometer's dtype numbering: 1 text, 2 int, 3 float, 4 datetime
/// (and 0 for a trait declared `type: none`, which converts like text).
#[derive(Debug, Clone, PartialEq)]
pub enum TraitValue {
    Text(String),
    Int(i64),
    Float(f64),
    /// Naive UTC.
    Datetime(NaiveDateTime),
    /// `type: none`: a text value carried with dtype 0.
    Untyped(String),
}

impl TraitValue {
    /// Ceilometer's `Trait.dtype`.
    pub fn dtype(&self) -> u8 {
        match self {
            TraitValue::Untyped(_) => 0,
            TraitValue::Text(_) => 1,
            TraitValue::Int(_) => 2,
            TraitValue::Float(_) => 3,
            TraitValue::Datetime(_) => 4,
        }
    }
}
