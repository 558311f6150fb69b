//! `http.request` / `http.response`: the notifications of ceilometermiddleware (Ceilometer's
//! `HTTPRequest` and `HTTPResponse` endpoints). One delta sample of volume 1 per notification,
//! named after the event type, with the user, project and service from the request headers.

use std::sync::Arc;

use simd_json::prelude::*;

use super::definition::payload_metadata;
use super::EndpointError;
use crate::model::{py::datetime, Notification, OwnedValue, Sample};

/// The endpoints' filter regexes.
pub const EVENT_TYPES: [&str; 2] = ["http.request", "http.response"];

pub fn to_samples(n: &Notification<'_>, out: &mut Vec<Sample>) -> Result<(), EndpointError> {
    let event_type = n.event_type().unwrap_or_default();
    let request = n
        .payload()
        .and_then(|p| p.get("request"))
        .ok_or_else(|| EndpointError::new(n, "KeyError: 'request'".into()))?;
    if !request.is_object() {
        return Err(EndpointError::new(
            n,
            crate::model::py::attribute_error(request, "get"),
        ));
    }
    let header = |h: &str| {
        request
            .get(h)
            .map_or(OwnedValue::null(), |v| crate::model::to_owned(v))
    };
    let unit = event_type
        .split('.')
        .nth(1)
        .ok_or_else(|| EndpointError::new(n, "IndexError: list index out of range".into()))?;
    let ts = n.timestamp().and_then(|t| t.as_str()).unwrap_or_default();
    let ts = datetime::parse(ts).map_err(|e| EndpointError::new(n, e.to_string()))?;
    out.push(Sample {
        name: Arc::from(event_type),
        sample_type: Arc::from("delta"),
        unit: Arc::from(unit),
        volume: OwnedValue::from(1),
        user_id: header("HTTP_X_USER_ID"),
        user_name: OwnedValue::null(),
        project_id: header("HTTP_X_PROJECT_ID"),
        project_name: OwnedValue::null(),
        resource_id: header("HTTP_X_SERVICE_NAME"),
        timestamp: OwnedValue::from(ts.isoformat()),
        resource_metadata: Arc::new(payload_metadata(n)),
        source: super::default_source(),
        id: super::new_sample_id(),
        monotonic_time: OwnedValue::null(),
    });
    Ok(())
}
