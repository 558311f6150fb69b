//! `ceilo upgrade` against a real Gnocchi 4.7, as `ceilometer-upgrade` prepares one: a Gnocchi
//! left by an old Ceilometer (an `instance` type with its first attributes only, one instance
//! in it) ends with Ceilometer 27's resource types exactly (src/publish/gnocchi/
//! resource_types.json, dumped after Ceilometer 27's own `ceilometer-upgrade`); a second run
//! changes nothing; a Gnocchi that does not answer is an error once the retries are spent.

mod common;
mod gnocchi_support;
mod runtime_support;

use std::collections::BTreeMap;
use std::process::Command;

use gnocchi_support::Gnocchi;
use runtime_support::config_dir;
use serde_json::{json, Value as Json};

fn upgrade(dir: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(["upgrade", "--config-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("ceilo upgrade");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// name → attributes of every resource type but Gnocchi's own `generic`.
fn resource_types(types: &Json) -> BTreeMap<String, Json> {
    types
        .as_array()
        .expect("a list")
        .iter()
        .filter(|t| t["name"] != "generic")
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["attributes"].clone()))
        .collect()
}

#[test]
fn upgrade_brings_gnocchi_to_ceilometers_resource_types_and_then_changes_nothing() {
    let gnocchi = Gnocchi::start_empty("upgrade");
    // What the first ceilometer-upgrade made of `instance`, and an instance in it.
    let text =
        |required: bool| json!({"type": "string", "min_length": 0, "max_length": 255, "required": required});
    let (code, body) = gnocchi.post(
        "/v1/resource_type",
        &json!({"name": "instance", "attributes": {
            "flavor_id": text(true), "image_ref": text(false), "host": text(true),
            "display_name": text(true), "server_group": text(false)}}),
    );
    assert_eq!(code, 201, "{body}");
    let id = "8f3d1b5e-0c4b-4c5e-9d8e-3f1f2a7b6c01";
    let (code, body) = gnocchi.post(
        "/v1/resource/instance",
        &json!({"id": id, "flavor_id": "1", "host": "h", "display_name": "vm"}),
    );
    assert_eq!(code, 201, "{body}");

    let dir = config_dir(&format!("gnocchi:\n  endpoint: {}\n  user: admin\n", gnocchi.url));
    let (ok, out) = upgrade(dir.path(), &[]);
    assert!(ok, "{out}");
    assert!(out.contains("created resource type volume"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("resource type instance: added") && l.contains("flavor_name")),
        "{out}"
    );
    let wanted: Json =
        serde_json::from_str(include_str!("../src/publish/gnocchi/resource_types.json")).unwrap();
    let (have, wanted) = (
        resource_types(&gnocchi.get("/v1/resource_type")),
        resource_types(&wanted),
    );
    let differing: Vec<String> = wanted
        .iter()
        .filter(|(name, attributes)| have.get(*name) != Some(attributes))
        .map(|(name, attributes)| format!("{name}: {:?} wanted {attributes}", have.get(name)))
        .collect();
    assert!(
        differing.is_empty(),
        "not as Ceilometer 27 leaves them:\n{}",
        differing.join("\n")
    );
    assert_eq!(have.len(), wanted.len(), "{:?}", have.keys());
    // The instance kept its values; the required attributes added since are filled, empty.
    let instance = gnocchi.get(&format!("/v1/resource/instance/{id}"));
    assert_eq!(
        (instance["flavor_id"].as_str(), instance["flavor_name"].as_str()),
        (Some("1"), Some(""))
    );

    let (ok, again) = upgrade(dir.path(), &[]);
    assert!(ok, "{again}");
    assert!(again.contains("resource types up to date (0 changes)"), "{again}");
}

#[test]
fn a_gnocchi_that_does_not_answer_fails_once_the_retries_are_spent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = config_dir(&format!(
        "gnocchi:\n  endpoint: http://127.0.0.1:{port}\n  user: admin\n"
    ));
    let (ok, out) = upgrade(dir.path(), &["--retry", "1"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("gnocchi does not answer") && out.contains(&format!("127.0.0.1:{port}")),
        "{out}"
    );
    let (ok, out) = upgrade(dir.path(), &["--skip-gnocchi-resource-types"]);
    assert!(ok, "{out}");
}
