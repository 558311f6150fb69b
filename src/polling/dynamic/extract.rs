//! What a definition does with a response, without I/O: decode the body with the response
//! handlers, find the entries, and turn each into samples (identity, value, skips, value
//! mapping, metadata), as Ceilometer's `PollsterSampleGatherer` and `DynamicPollster` do.

use simd_json::prelude::*;
use simd_json::Buffers;

use super::attr::Attr;
use super::definition::{DynamicDefinition, Handler, ValueSpec};
use crate::model::py::py_eq;
use crate::model::{json_read, to_owned, OwnedValue, Sample};
use crate::polling::pollster::{null, PollContext};

impl DynamicDefinition {
    /// Turn the decoded response into samples (no I/O: the testable heart of the pollster).
    /// Returns the samples and the next page URL, if any.
    pub fn extract(
        &self,
        response: OwnedValue,
        ctx: &PollContext,
    ) -> Result<(Vec<Sample>, Option<String>), String> {
        let empty = match &response {
            OwnedValue::Array(a) => a.is_empty(),
            OwnedValue::Object(o) => o.is_empty(),
            OwnedValue::String(s) => s.is_empty(),
            _ => false,
        };
        if empty {
            return Ok((Vec::new(), None));
        }
        let next = match (&self.next_sample_url_attribute, response.as_object()) {
            (Some(a), Some(_)) => a.get(&response).ok().and_then(|v| v.as_str().map(str::to_owned)),
            _ => None,
        }
        .filter(|u| !u.is_empty());
        let entries = match response {
            OwnedValue::Array(a) => *a,
            OwnedValue::Object(ref o) => {
                let found = match &self.response_entries_key {
                    Some(k) => k.get(&response)?,
                    None => {
                        let first = o.keys().next().cloned().unwrap_or_default();
                        Attr::parse(&first)?.get(&response)?
                    }
                };
                match found {
                    OwnedValue::Array(a) => *a,
                    // One entry where a list was expected: Ceilometer sets each entry's ids by
                    // iterating over what it found, here the dict's keys, and a key is text
                    // that an id attribute other than the default cannot be read from.
                    OwnedValue::Object(o) if !o.is_empty() && self.reads_ids() => {
                        return Err("TypeError: string indices must be integers, not 'str'".into());
                    }
                    other => vec![other],
                }
            }
            other => vec![other],
        };
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            self.entry_samples(entry, ctx, &mut out)?;
        }
        Ok((out, next))
    }

    /// Whether an id is read through an attribute other than its default key.
    fn reads_ids(&self) -> bool {
        [
            (&self.user_id_attribute, "user_id"),
            (&self.project_id_attribute, "project_id"),
            (&self.resource_id_attribute, "id"),
        ]
        .iter()
        .any(|(attr, key)| !attr.raw.is_empty() && attr.raw != *key)
    }

    fn id(&self, entry: &OwnedValue, attr: &Attr, default_key: &str) -> Result<OwnedValue, String> {
        if attr.raw == default_key {
            // Ceilometer reads the default key with `.get()`: missing is None.
            return Ok(entry.get(default_key).cloned().unwrap_or_else(null));
        }
        attr.get(entry)
    }

    fn entry_samples(
        &self,
        entry: &OwnedValue,
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), String> {
        let user_id = self.id(entry, &self.user_id_attribute, "user_id")?;
        let project_id = self.id(entry, &self.project_id_attribute, "project_id")?;
        let resource_id = self.id(entry, &self.resource_id_attribute, "id")?;
        let sample = |name: Option<&str>, volume: OwnedValue, metadata: OwnedValue| {
            let mut s = ctx.sample(
                &self.meter,
                volume,
                user_id.clone(),
                project_id.clone(),
                resource_id.clone(),
                metadata,
                null(),
            );
            if let Some(n) = name {
                s.name = n.into();
            }
            s
        };
        match &self.value {
            ValueSpec::Single(attr) => {
                let value = attr.get(entry)?;
                if self.skip_sample_values.iter().any(|s| py_eq(s, &value)) {
                    return Ok(());
                }
                let value = self.map_value(value);
                out.push(sample(None, value, self.metadata(entry)?));
            }
            ValueSpec::Multi {
                list,
                field,
                placeholder,
                sub_attr,
            } => {
                let OwnedValue::Array(items) = list.get(entry)? else {
                    return Err(format!(
                        "multi metric pollster: the value of [{}] is not a list of objects",
                        list.raw
                    ));
                };
                for item in items.iter() {
                    let sub = item
                        .get(sub_attr.as_str())
                        .ok_or_else(|| format!("multi metric pollster: an element has no {sub_attr:?}"))?;
                    // `name.replace(placeholder, sub_name)` raises for anything but a string.
                    let sub_name = sub.as_str().ok_or_else(|| {
                        format!(
                            "multi metric pollster: replace() argument 2 must be str, not {}",
                            crate::model::py::type_name(sub)
                        )
                    })?;
                    let value = field.get(item)?;
                    if self
                        .skip_sample_values
                        .iter()
                        .any(|s| py_eq(s, &value) || s.as_str() == Some(sub_name))
                    {
                        continue;
                    }
                    let name = self.name.replace(placeholder.as_str(), sub_name);
                    out.push(sample(Some(&name), value, self.metadata(entry)?));
                }
            }
        }
        Ok(())
    }

    fn map_value(&self, value: OwnedValue) -> OwnedValue {
        if self.value_mapping.is_empty() {
            return value;
        }
        match self.value_mapping.iter().find(|(k, _)| py_eq(k, &value)) {
            Some((_, mapped)) => mapped.clone(),
            None => {
                tracing::warn!(
                    pollster = %self.name,
                    value = %value.encode(),
                    default = %self.default_value.encode(),
                    "value not found in value_mapping; using the default"
                );
                self.default_value.clone()
            }
        }
    }

    fn metadata(&self, entry: &OwnedValue) -> Result<OwnedValue, String> {
        let mut meta = simd_json::owned::Object::with_capacity_and_hasher(
            self.metadata_fields.len(),
            Default::default(),
        );
        for f in &self.metadata_fields {
            meta.insert(f.raw.clone(), f.get(entry)?);
        }
        if !meta.is_empty() {
            for (from, to) in &self.metadata_mapping {
                if let Some(v) = meta.get(from.as_str()).cloned() {
                    meta.insert(to.clone(), v);
                    if !self.preserve_mapped_metadata {
                        meta.remove(from.as_str());
                    }
                }
            }
        }
        Ok(OwnedValue::from(meta))
    }

    /// Decode a body with the configured handlers, first success wins.
    pub fn handle(&self, body: &[u8]) -> Result<OwnedValue, String> {
        let mut failed = Vec::new();
        for h in &self.response_handlers {
            match h {
                Handler::Json => {
                    // As requests' .json(): Python's json, NaN and Infinity included.
                    let mut buf = Vec::new();
                    let parsed =
                        json_read::read(body, &mut buf, &mut Buffers::default()).map(|v| to_owned(&v));
                    match parsed {
                        Ok(v) => return Ok(v),
                        Err(_) => failed.push("json"),
                    }
                }
                Handler::Xml => match super::xml::xml_to_dict(body) {
                    Ok(v) => return Ok(v),
                    Err(_) => failed.push("xml"),
                },
                Handler::Text => {
                    let text = String::from_utf8_lossy(body);
                    let mut o = simd_json::owned::Object::with_capacity_and_hasher(1, Default::default());
                    o.insert("out".into(), OwnedValue::from(text.into_owned()));
                    return Ok(OwnedValue::Array(Box::new(vec![OwnedValue::from(o)])));
                }
            }
        }
        Err(format!(
            "no remaining handlers to handle the response, used [{}]",
            failed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_json::json;

    fn def(yaml: &str) -> DynamicDefinition {
        DynamicDefinition::from_yaml(&yaml_serde::from_str(yaml).unwrap()).unwrap()
    }

    fn ctx() -> PollContext {
        PollContext::now("src".into())
    }

    /// Ceilometer's `value in skip_sample_values` and `value in value_mapping` are Python `==`:
    /// exact for big ints (`9007199254740992 in [9007199254740993]` is False).
    #[test]
    fn skip_and_value_mapping_compare_big_ints_exactly() {
        let d = def(
            "name: n\nsample_type: gauge\nunit: u\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\n\
                     skip_sample_values: [9007199254740993]\n\
                     value_mapping: {9007199254740992: 1, 1.5: 2}\ndefault_value: 0\n",
        );
        let (s, _) = d
            .extract(
                json!([{"id": "a", "v": 9007199254740992_u64}, {"id": "b", "v": 9007199254740993_u64},
                       {"id": "c", "v": 1.5}, {"id": "d", "v": 9007199254740994_u64}]),
                &ctx(),
            )
            .unwrap();
        let got: Vec<(OwnedValue, OwnedValue)> = s
            .iter()
            .map(|s| (s.resource_id.clone(), s.volume.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (json!("a"), json!(1)),
                (json!("c"), json!(2)),
                (json!("d"), json!(0))
            ]
        );
    }

    #[test]
    fn extracts_entries_ids_metadata_mapping_and_skips() {
        let d = def(r#"
name: dynamic.server.status
sample_type: gauge
unit: server
value_attribute: status
url_path: v2/servers
endpoint_type: compute
response_entries_key: body.servers
resource_id_attribute: uuid
user_id_attribute: owner.user
project_id_attribute: owner.project
metadata_fields: [name, "flavor.ram | value / 1024"]
metadata_mapping: {name: display_name}
preserve_mapped_metadata: false
skip_sample_values: [deleted]
value_mapping: {ACTIVE: 1, SHUTOFF: 0}
default_value: 9
"#);
        let response = json!({"body": {"servers": [
            {"uuid": "u-1", "owner": {"user": "us", "project": "pr"}, "status": "ACTIVE", "name": "web", "flavor": {"ram": 2048}},
            {"uuid": "u-2", "owner": {"user": "us", "project": "pr"}, "status": "deleted", "name": "old", "flavor": {"ram": 1024}},
            {"uuid": "u-3", "owner": {"user": "us", "project": "pr"}, "status": "ERROR", "name": "bad", "flavor": {"ram": 512}}
        ]}});
        let (samples, next) = d.extract(response, &ctx()).unwrap();
        assert!(next.is_none());
        assert_eq!(samples.len(), 2);
        let s = &samples[0];
        assert_eq!(&*s.name, "dynamic.server.status");
        assert_eq!((&*s.sample_type, &*s.unit), ("gauge", "server"));
        assert_eq!(s.resource_id, json!("u-1"));
        assert_eq!(
            (s.user_id.clone(), s.project_id.clone()),
            (json!("us"), json!("pr"))
        );
        assert_eq!(s.volume, json!(1));
        assert_eq!(
            *s.resource_metadata,
            json!({"display_name": "web", "flavor.ram | value / 1024": 2.0})
        );
        assert_eq!(samples[1].volume, json!(9));
    }

    #[test]
    fn default_ids_and_first_key_entries() {
        let d = def("name: n\nsample_type: cumulative\nunit: B\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\nmetadata_fields: [m]\nmetadata_mapping: {m: mm}\n");
        let (s, _) = d
            .extract(json!({"items": [{"id": "r", "v": 5, "m": "x"}]}), &ctx())
            .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].resource_id, json!("r"));
        assert!(s[0].user_id.is_null() && s[0].project_id.is_null());
        // preserve_mapped_metadata defaults to true: both keys.
        assert_eq!(*s[0].resource_metadata, json!({"m": "x", "mm": "x"}));
        // A bare list is the entries; an empty response gives nothing.
        assert_eq!(
            d.extract(json!([{"id": "r", "v": 1, "m": 0}]), &ctx())
                .unwrap()
                .0
                .len(),
            1
        );
        assert!(d.extract(json!({}), &ctx()).unwrap().0.is_empty());
        // A missing value attribute fails the poll, as Ceilometer's KeyError does.
        assert!(d.extract(json!([{"id": "r"}]), &ctx()).is_err());
    }

    #[test]
    fn multi_metric_pollsters_emit_one_sample_per_element() {
        let d = def(r#"
name: dynamic.usage.{category}
sample_type: gauge
unit: B
value_attribute: "[usage].bytes"
url_path: u
endpoint_type: e
skip_sample_values: [images, 0]
"#);
        let r = json!([{"id": "p1", "usage": [
            {"category": "volumes", "bytes": 10},
            {"category": "images", "bytes": 20},
            {"category": "backups", "bytes": 0},
            {"category": "snapshots", "bytes": 30}
        ]}]);
        let (s, _) = d.extract(r, &ctx()).unwrap();
        let got: Vec<(String, OwnedValue)> =
            s.iter().map(|s| (s.name.to_string(), s.volume.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("dynamic.usage.volumes".to_string(), json!(10)),
                ("dynamic.usage.snapshots".to_string(), json!(30))
            ]
        );
        assert!(d.extract(json!([{"id": "p", "usage": 3}]), &ctx()).is_err());
    }

    #[test]
    fn next_page_url_comes_from_the_response() {
        let d = def("name: n\nsample_type: gauge\nunit: u\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\nresponse_entries_key: items\nnext_sample_url_attribute: links.next\n");
        let (_, next) = d
            .extract(
                json!({"items": [{"v": 1}], "links": {"next": "x?page=2"}}),
                &ctx(),
            )
            .unwrap();
        assert_eq!(next.as_deref(), Some("x?page=2"));
        let (_, next) = d
            .extract(json!({"items": [{"v": 1}], "links": {}}), &ctx())
            .unwrap();
        assert_eq!(next, None);
    }

    #[test]
    fn response_handlers_in_order() {
        let d = def("name: n\nsample_type: gauge\nunit: u\nvalue_attribute: out\nurl_path: x\nendpoint_type: e\nresponse_handlers: [json, text]\n");
        assert_eq!(d.handle(b"[1]").unwrap(), json!([1]));
        assert_eq!(d.handle(b"plain 42").unwrap(), json!([{"out": "plain 42"}]));
        let j =
            def("name: n\nsample_type: gauge\nunit: u\nvalue_attribute: v\nurl_path: x\nendpoint_type: e\n");
        assert!(j.handle(b"nope").is_err());
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(
            j.handle(deep.as_bytes()).is_err(),
            "too deep to walk: not handled as JSON"
        );
    }
}
