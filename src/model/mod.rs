//! The data ceilo moves: notifications as decoded from the wire, samples, events, and their
//! wire encodings (oslo envelope, meter messages, signatures).

pub mod envelope;
pub mod event;
pub mod meter_message;
pub mod notification;
pub mod pyrepr;
pub mod sample;
pub mod signature;
pub mod timestamp;

pub use event::{Event, Trait, TraitValue};
pub use notification::{Notification, Priority};
pub use sample::Sample;

/// A JSON value borrowed from a message buffer (the hot path's currency).
pub type Value<'a> = simd_json::BorrowedValue<'a>;
/// A JSON value that owns its data (what samples and events carry once they leave the buffer).
pub type OwnedValue = simd_json::OwnedValue;
