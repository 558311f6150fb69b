//! `ceilo upgrade`'s work, as `ceilometer-upgrade` does it: the resource types Ceilometer's
//! Gnocchi publisher writes to, brought to what Ceilometer 27 leaves in Gnocchi. A type that is
//! missing is created with every attribute; a type that exists gets the attributes it lacks
//! (a required one filled with `""` on the resources it already has, as Ceilometer's update
//! operations fill them) and those Ceilometer redefined (made optional) redefined; nothing is
//! removed, and running it again changes nothing.
//!
//! `resource_types.json` is that end state, dumped from a Gnocchi that Ceilometer 27's
//! `ceilometer-upgrade` had set up (the test harness creates its types from it too).

use hyper::Method;
use serde_json::{json, Value as Json};

use super::client::{GnocchiClient, Reply, Unavailable};

/// Ceilometer 27's resource types: `[{"name": ..., "attributes": {name: definition}}]`.
const RESOURCE_TYPES: &str = include_str!("resource_types.json");

/// Why the upgrade stopped.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// Gnocchi (or Keystone) did not answer, or answered 5xx: worth trying again.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// Gnocchi refused a request: trying again changes nothing.
    #[error("gnocchi refused {what}: HTTP {status}: {description}")]
    Refused {
        what: String,
        status: u16,
        description: String,
    },
}

/// Brings Gnocchi's resource types to Ceilometer 27's; returns what it did, one line per
/// change (empty: they already were).
pub async fn upgrade(client: &GnocchiClient) -> Result<Vec<String>, UpgradeError> {
    let wanted: Vec<Json> = serde_json::from_str(RESOURCE_TYPES).expect("resource_types.json is JSON");
    let mut done = Vec::new();
    for rt in &wanted {
        let name = rt["name"].as_str().unwrap_or_default();
        let attributes = rt["attributes"].as_object().cloned().unwrap_or_default();
        let found = client
            .call(Method::GET, &format!("resource_type/{name}"), None)
            .await?;
        if found.status == 404 {
            let created = client
                .call(
                    Method::POST,
                    "resource_type",
                    Some(&json!({"name": name, "attributes": attributes})),
                )
                .await?;
            // 409: another upgrade created it meanwhile.
            if created.status != 409 {
                refused_unless_ok(&created, || format!("creating resource type {name}"))?;
                done.push(format!("created resource type {name}"));
            }
            continue;
        }
        refused_unless_ok(&found, || format!("reading resource type {name}"))?;
        let existing = &found.body["attributes"];
        // JSON Patch's `add` of an attribute that exists replaces its definition (Ceilometer
        // makes `instance.host` and the image formats optional that way).
        let added: Vec<Json> = attributes
            .iter()
            .filter(|(attribute, definition)| existing.get(attribute.as_str()) != Some(definition))
            .map(|(attribute, definition)| {
                let mut value = definition.clone();
                if definition["required"] == true && existing.get(attribute.as_str()).is_none() {
                    value["options"] = json!({"fill": ""});
                }
                json!({"op": "add", "path": format!("/attributes/{attribute}"), "value": value})
            })
            .collect();
        if added.is_empty() {
            continue;
        }
        let patched = client
            .json_patch(&format!("resource_type/{name}"), &Json::Array(added.clone()))
            .await?;
        refused_unless_ok(&patched, || format!("adding attributes to resource type {name}"))?;
        let names: Vec<&str> = added
            .iter()
            .filter_map(|op| op["path"].as_str())
            .map(|path| path.trim_start_matches("/attributes/"))
            .collect();
        done.push(format!("resource type {name}: added {}", names.join(", ")));
    }
    Ok(done)
}

fn refused_unless_ok(reply: &Reply, what: impl FnOnce() -> String) -> Result<(), UpgradeError> {
    if reply.is_success() {
        return Ok(());
    }
    Err(UpgradeError::Refused {
        what: what(),
        status: reply.status,
        description: reply.description(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_state_holds_ceilometers_types() {
        let types: Vec<Json> = serde_json::from_str(RESOURCE_TYPES).unwrap();
        let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
        for name in [
            "instance",
            "instance_disk",
            "instance_network_interface",
            "volume",
            "image",
        ] {
            assert!(names.contains(&name), "{names:?}");
        }
        let instance = types.iter().find(|t| t["name"] == "instance").unwrap();
        assert_eq!(instance["attributes"]["flavor_name"]["required"], true);
    }
}
