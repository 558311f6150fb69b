//! Events into Gnocchi, by the `event_create` / `event_update` / `event_delete` rules of
//! gnocchi_resources.yaml (Ceilometer's `GnocchiPublisher.publish_events`): a create event
//! creates the resource from its `event_attributes`, an update PATCHes them (skipped when the
//! [`AttributeCache`] says nothing changed), a delete sets `ended_at` to now on the resource and
//! on the resources `event_associated_resources` finds (an instance's disks and interfaces).
//!
//! As in Ceilometer, a resource that does not exist (404) or already exists (409) is not an
//! error, and other refusals are logged; "not now" ([`Unavailable`]) goes back to the caller,
//! which retries — events are acked only once Gnocchi has them.

use std::collections::HashSet;

use hyper::Method;
use serde_json::{Map, Value as Json};

use super::batch::{path_segment, AttributeCache};
use super::client::{GnocchiClient, Unavailable};
use super::resources::{EventOp, ResourceDef, Resources};
use crate::model::py::datetime::IsoText;
use crate::model::{Event, TraitValue};

fn trait_json(v: &TraitValue) -> Json {
    match v {
        TraitValue::Text(s) | TraitValue::Untyped(s) => Json::String(s.clone()),
        TraitValue::Int(i) => Json::from(*i),
        TraitValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        TraitValue::Datetime(t) => Json::String(IsoText::new(t).as_str().to_owned()),
    }
}

/// `{type, <attr>: <trait value>...}` (Ceilometer's `event_attributes`).
fn event_attributes(def: &ResourceDef, event: &Event) -> Map<String, Json> {
    let mut attrs = Map::new();
    attrs.insert("type".into(), Json::String(def.resource_type.clone()));
    for (attr, trait_name) in &def.event_attributes {
        if let Some(t) = event.traits.iter().find(|t| &*t.name == trait_name.as_str()) {
            attrs.insert(attr.clone(), trait_json(&t.value));
        }
    }
    attrs
}

/// Apply one event. `warned` remembers event types without a rule (logged once each).
pub async fn apply(
    client: &GnocchiClient,
    resources: &Resources,
    cache: &AttributeCache,
    event: &Event,
    warned: &mut HashSet<String>,
) -> Result<(), Unavailable> {
    let Some((def, op)) = resources.for_event(&event.event_type) else {
        if warned.insert(event.event_type.clone()) {
            tracing::debug!(
                event_type = event.event_type,
                "no gnocchi definition for this event type"
            );
        }
        return Ok(());
    };
    let mut resource = event_attributes(def, event);
    match op {
        EventOp::Create => {
            let kind = resource
                .remove("type")
                .and_then(|t| t.as_str().map(str::to_owned))
                .unwrap_or_default();
            let path = format!("resource/{}", path_segment(&kind));
            let reply = client
                .call(Method::POST, &path, Some(&Json::Object(resource)))
                .await?;
            match reply.status {
                200..=299 => {}
                409 => tracing::debug!(
                    event_type = event.event_type,
                    "create event for an existing resource, ignored"
                ),
                s => tracing::error!(
                    event_type = event.event_type,
                    status = s,
                    reason = reply.description(),
                    "Gnocchi refused the resource of a create event"
                ),
            }
        }
        EventOp::Delete => {
            let ended_at = IsoText::new(&chrono::Utc::now().naive_utc()).as_str().to_owned();
            let mut to_end = vec![resource.clone()];
            to_end.extend(associated(client, def, &resource).await?);
            for r in to_end {
                let (Some(kind), Some(id)) = (r.get("type").and_then(Json::as_str), id_of(&r)) else {
                    continue;
                };
                let path = format!("resource/{}/{}", path_segment(kind), path_segment(&id));
                let body = serde_json::json!({ "ended_at": ended_at });
                let reply = client.call(Method::PATCH, &path, Some(&body)).await?;
                match reply.status {
                    200..=299 | 404 => {}
                    s => tracing::error!(
                        resource_id = id,
                        status = s,
                        reason = reply.description(),
                        "Gnocchi refused ended_at"
                    ),
                }
            }
        }
        EventOp::Update => {
            let mut to_update = vec![resource.clone()];
            to_update.extend(associated(client, def, &resource).await?);
            for mut r in to_update {
                let id = id_of(&r);
                r.remove("id");
                let kind = r.remove("type");
                let (Some(kind), Some(id)) = (kind.as_ref().and_then(Json::as_str), id) else {
                    continue;
                };
                if cache.is_current(&id, &r) {
                    continue;
                }
                let path = format!("resource/{}/{}", path_segment(kind), path_segment(&id));
                let reply = client
                    .call(Method::PATCH, &path, Some(&Json::Object(r.clone())))
                    .await?;
                match reply.status {
                    200..=299 => cache.remember(&id, &r),
                    404 => tracing::debug!(
                        resource_id = id,
                        "update event for a resource Gnocchi does not have, ignored"
                    ),
                    s => tracing::error!(
                        resource_id = id,
                        status = s,
                        reason = reply.description(),
                        "Gnocchi refused an update event's attributes"
                    ),
                }
            }
        }
    }
    Ok(())
}

fn id_of(r: &Map<String, Json>) -> Option<String> {
    match r.get("id")? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}

/// The resources `event_associated_resources` finds for `resource` (by search queries with
/// the resource's id in place of `%s`), with their `type` set for the caller.
async fn associated(
    client: &GnocchiClient,
    def: &ResourceDef,
    resource: &Map<String, Json>,
) -> Result<Vec<Map<String, Json>>, Unavailable> {
    let Some(id) = id_of(resource) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for (kind, template) in &def.event_associated_resources {
        let query = template.replace("%s", &id);
        let Ok(query) = serde_json::from_str::<Json>(&query) else {
            tracing::error!(
                resource_type = kind,
                query,
                "event_associated_resources query is not JSON"
            );
            continue;
        };
        let path = format!("search/resource/{}", path_segment(kind));
        let reply = client.call(Method::POST, &path, Some(&query)).await?;
        if !reply.is_success() {
            tracing::error!(
                resource_type = kind,
                status = reply.status,
                reason = reply.description(),
                "searching associated resources failed"
            );
            continue;
        }
        for r in reply.body.as_array().into_iter().flatten() {
            if let Some(id) = r.get("id") {
                let mut m = Map::new();
                m.insert("id".into(), id.clone());
                m.insert("type".into(), Json::String(kind.clone()));
                found.push(m);
            }
        }
    }
    Ok(found)
}
