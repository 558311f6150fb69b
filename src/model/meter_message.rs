//! A sample in the wire shape of Ceilometer's `meter_message_from_counter`, signed.
//! TEMPORARY until the signing work lands: unsigned, built as a value.

use super::{OwnedValue, Sample};

pub fn meter_message_value(s: &Sample, _secret: &[u8]) -> OwnedValue {
    let mut m = simd_json::owned::Object::default();
    m.insert("source".into(), OwnedValue::from(&*s.source));
    m.insert("counter_name".into(), OwnedValue::from(&*s.name));
    m.insert("counter_type".into(), OwnedValue::from(&*s.sample_type));
    m.insert("counter_unit".into(), OwnedValue::from(&*s.unit));
    m.insert("counter_volume".into(), s.volume.clone());
    m.insert("user_id".into(), s.user_id.clone());
    m.insert("user_name".into(), s.user_name.clone());
    m.insert("project_id".into(), s.project_id.clone());
    m.insert("project_name".into(), s.project_name.clone());
    m.insert("resource_id".into(), s.resource_id.clone());
    m.insert("timestamp".into(), s.timestamp.clone());
    m.insert("resource_metadata".into(), s.resource_metadata.clone());
    m.insert("message_id".into(), OwnedValue::from(s.id.clone()));
    m.insert("monotonic_time".into(), s.monotonic_time.clone());
    OwnedValue::from(m)
}
