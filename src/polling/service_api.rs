//! An OpenStack service's API as the central pollsters reach it: its endpoint from the token's
//! catalog, every request with the agent's Keystone token (renewed on 401), listings followed
//! page by page. Each service's module (`cinder`, `glance`, `neutron`, `swift`) says what it asks and how its
//! pages link.

use std::sync::Arc;
use std::time::Duration;

use simd_json::prelude::*;
use simd_json::StaticNode;

use super::discovery::Resource;
use crate::keystone::{service_endpoint, Keystone, KeystoneSettings};
use crate::model::{py, OwnedValue};

/// Pages followed at most per list (a page holds up to the service's limit, often 1000).
const MAX_PAGES: usize = 10_000;

/// One request's bound.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The agent's Keystone session for the services it polls, shared by them (one token), or why
/// there is none.
pub type Session = Result<Arc<Keystone>, String>;

/// The session of `credentials` (`[service_credentials]`).
pub fn session(credentials: Option<&KeystoneSettings>) -> Session {
    match credentials {
        Some(settings) => settings
            .http_client()
            .and_then(|http| Keystone::new(settings.clone(), http, TIMEOUT))
            .map(Arc::new)
            .map_err(|e| format!("service_credentials: {e}")),
        None => Err(
            "set service_credentials (ceilometer.conf: [service_credentials] auth_type = password)".into(),
        ),
    }
}

/// One service, reached through the agent's Keystone session.
pub struct ServiceApi {
    /// The service's name in messages (`Cinder`).
    name: &'static str,
    keystone: Session,
    /// Catalog types tried in turn: the configured one, then its aliases.
    service_types: Vec<String>,
}

/// A page of a listing: its records, and the next page's URL if there is one.
pub type Page<R> = (Vec<R>, Option<String>);

impl ServiceApi {
    pub fn new(name: &'static str, session: Session, service_types: Vec<String>) -> ServiceApi {
        ServiceApi {
            name,
            keystone: session,
            service_types,
        }
    }

    /// Why the service cannot be asked at all (no usable `service_credentials`).
    pub fn unavailable(&self) -> Option<String> {
        let why = self.keystone.as_ref().err()?;
        Some(format!("{} is reached through Keystone: {why}", self.name))
    }

    fn session(&self) -> Result<&Keystone, String> {
        self.keystone
            .as_deref()
            .map_err(|_| self.unavailable().unwrap_or_default())
    }

    /// The service's endpoint in the catalog of a current token (without a trailing `/`).
    pub async fn endpoint(&self) -> Result<String, String> {
        let keystone = self.session()?;
        let token = keystone.token().await.map_err(|e| e.to_string())?;
        let (interface, region) = keystone.settings().catalog_scope();
        let types: Vec<&str> = self.service_types.iter().map(String::as_str).collect();
        service_endpoint(&token.catalog, &types, interface, region).ok_or_else(|| {
            format!(
                "{} service is not registered in keystone (no {interface} endpoint{} in the catalog)",
                self.service_types[0],
                region.map(|r| format!(" in {r}")).unwrap_or_default()
            )
        })
    }

    /// One request without a body to the service, with the agent's token: the status,
    /// headers and body of the reply.
    pub async fn request(
        &self,
        method: hyper::Method,
        url: &str,
    ) -> Result<(u16, hyper::HeaderMap, bytes::Bytes), String> {
        self.session()?
            .authorized(method, self.name, url, &[], bytes::Bytes::new())
            .await
            .map_err(|e| e.to_string())
    }

    /// What the service's `discoverer` lists, as resources: `listing`, run only when the service
    /// can be asked at all (without credentials there is nothing to ask, and `ceilo run` said so
    /// at start), each record made a resource by `resource` (a [`Resource`] variant).
    pub async fn resources<R>(
        &self,
        discoverer: &str,
        listing: impl std::future::Future<Output = Result<Vec<R>, String>>,
        resource: impl Fn(Arc<R>) -> Resource,
    ) -> Arc<[Resource]> {
        let listing = self.unavailable().is_none().then_some(listing);
        resources(self.name, discoverer, listing, |record| {
            resource(Arc::new(record))
        })
        .await
    }

    /// Every record of `path` under the API's `version` (the endpoint [`versioned`]), page by
    /// page, each request with `headers`.
    pub async fn list_versioned<R>(
        &self,
        version: &str,
        path: &str,
        headers: &[(&'static str, &str)],
        read_page: impl Fn(&[u8]) -> Result<Page<R>, String>,
    ) -> Result<Vec<R>, String> {
        let versioned = versioned(&self.endpoint().await?, version);
        self.list(format!("{versioned}/{path}"), headers, read_page).await
    }

    /// Every record of a listing: `url` first, then each next page `read_page` finds.
    pub async fn list<R>(
        &self,
        mut url: String,
        headers: &[(&'static str, &str)],
        read_page: impl Fn(&[u8]) -> Result<Page<R>, String>,
    ) -> Result<Vec<R>, String> {
        let keystone = self.session()?;
        let mut records = Vec::new();
        for _ in 0..MAX_PAGES {
            let (status, bytes) = keystone
                .authorized_get(self.name, &url, headers)
                .await
                .map_err(|e| e.to_string())?;
            if !(200..300).contains(&status) {
                let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
                return Err(format!("GET {url}: HTTP {status}: {text}"));
            }
            let (page, next) = read_page(&bytes).map_err(|e| format!("GET {url}: {e}"))?;
            records.extend(page);
            match next {
                Some(next) if next != url => url = next,
                _ => return Ok(records),
            }
        }
        Err(format!(
            "more than {MAX_PAGES} pages from {url} (a `next` link loop?)"
        ))
    }
}

/// What an OpenStack service's discoverer lists, as resources ([`ServiceApi::resources`], and
/// Keystone's projects). `listing` is `None` without credentials. A listing that fails is said
/// here and yields nothing this cycle (Ceilometer: a failing discoverer gives no resources).
pub async fn resources<R>(
    service: &str,
    discoverer: &str,
    listing: Option<impl std::future::Future<Output = Result<Vec<R>, String>>>,
    resource: impl Fn(R) -> Resource,
) -> Arc<[Resource]> {
    let Some(listing) = listing else {
        return Arc::from([]);
    };
    match listing.await {
        Ok(records) => records.into_iter().map(resource).collect(),
        Err(e) => {
            tracing::warn!(discoverer, error = %e,
                "cannot list from {service}; nothing polled from it this cycle");
            Arc::from([])
        }
    }
}

/// The records of one page of a listing whose records are under `key` (`floatingips`), each
/// made by `record`, and the next page's URL: the `href` of the `<key>_links` entry whose `rel`
/// is `next`, as Neutron, Octavia, Manila and Nova link their pages and openstacksdk follows them.
pub fn linked_page<R>(reply: &[u8], key: &str, record: impl Fn(&OwnedValue) -> R) -> Result<Page<R>, String> {
    let page =
        simd_json::to_owned_value(&mut reply.to_vec()).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let Some(records) = page.get(key).and_then(|r| r.as_array()) else {
        return Err(format!("the reply has no {key:?} list"));
    };
    let next = page
        .get(format!("{key}_links").as_str())
        .and_then(|links| links.as_array())
        .into_iter()
        .flatten()
        .find(|link| link.get_str("rel") == Some("next"))
        .and_then(|link| link.get_str("href"))
        .map(str::to_owned);
    Ok((records.iter().map(record).collect(), next))
}

/// A status as one of Ceilometer's status tables numbers it (`value.lower()` looked up);
/// `None` for a status the table does not have, or none at all (Ceilometer's -1, said with a
/// warning by the pollster).
pub fn status_code(table: &[(&str, i64)], status: Option<&str>) -> Option<i64> {
    let status = status?.to_lowercase();
    table
        .iter()
        .find(|(name, _)| *name == status)
        .map(|(_, code)| *code)
}

/// A record's status as its sample's volume: [`status_code`], or Ceilometer's -1 with the
/// warning its pollsters log, naming the meter and the record (`record`: its name or address).
pub fn status_volume(
    table: &[(&str, i64)],
    status: Option<&str>,
    meter: &str,
    record: &str,
    id: &str,
) -> i64 {
    status_code(table, status).unwrap_or_else(|| {
        tracing::warn!(
            meter,
            status = status.unwrap_or("None"),
            record,
            id,
            "unknown status, setting volume to -1"
        );
        -1
    })
}

/// `version` (`v2`, `v2.0`) of the API under a catalog endpoint, as openstacksdk's discovery
/// versions it: the endpoint itself when it names a version of that major already.
pub fn versioned(endpoint: &str, version: &str) -> String {
    let major = version.split('.').next().unwrap_or(version);
    let last = endpoint.rsplit('/').next().unwrap_or_default();
    if last.starts_with(major) {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/{version}")
    }
}

/// `text` as one segment of a URL's path: everything but `A-Za-z0-9_.-~` percent-encoded, so
/// that an id a service gives cannot reach another path.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// openstacksdk's typed attributes: what Ceilometer's pollsters read off its objects.

/// An openstacksdk `type=int` attribute, as its `fields._convert_type` makes one: an int (a bool
/// is one) as it is, a float truncated, a text of digits its number, anything else `0`; `null`
/// stays `null`. What makes the SDK raise (an infinite float) and what does not fit an i64 are
/// left as they are.
pub fn as_int(v: OwnedValue) -> OwnedValue {
    let number = |v: OwnedValue| match py::int_of(&v) {
        Ok(i) => i64::try_from(i).map_or(v, OwnedValue::from),
        Err(_) => v,
    };
    match &v {
        OwnedValue::Static(
            StaticNode::Null | StaticNode::Bool(_) | StaticNode::I64(_) | StaticNode::U64(_),
        ) => v,
        OwnedValue::Static(StaticNode::F64(_)) => number(v),
        OwnedValue::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => number(v),
        _ => OwnedValue::from(0),
    }
}

/// An openstacksdk `type=str` attribute: `str(value)` (`null` stays `null`).
pub fn as_str(v: OwnedValue) -> OwnedValue {
    match v {
        OwnedValue::Static(StaticNode::Null) | OwnedValue::String(_) => v,
        other => OwnedValue::from(py::repr::str_of(&other).into_owned()),
    }
}

/// An openstacksdk `type=bool` attribute: `bool(value)` (`null` stays `null`).
pub fn as_bool(v: OwnedValue) -> OwnedValue {
    match v {
        OwnedValue::Static(StaticNode::Null | StaticNode::Bool(_)) => v,
        other => OwnedValue::from(py::truthy(&other)),
    }
}

/// How openstacksdk reads an attribute Ceilometer copies into a sample's metadata.
#[derive(Debug, Clone, Copy)]
pub enum Typed {
    /// No `type=`: as the service sent it.
    AsSent,
    Str,
    Bool,
    Int,
    List,
}

impl Typed {
    /// `value` as openstacksdk reads it ([`as_str`], [`as_bool`], [`as_int`], [`as_list`]).
    pub fn read(self, value: OwnedValue) -> OwnedValue {
        match self {
            Typed::AsSent => value,
            Typed::Str => as_str(value),
            Typed::Bool => as_bool(value),
            Typed::Int => as_int(value),
            Typed::List => as_list(value),
        }
    }
}

/// The metadata Ceilometer copies from a listed record `body`: for each of `fields` (its key in
/// the metadata, the record's field, how openstacksdk reads it), the field so read (`null`
/// when the record has none).
pub fn typed_metadata(body: &OwnedValue, fields: &[(&str, &str, Typed)]) -> simd_json::owned::Object {
    fields
        .iter()
        .map(|(key, name, typed)| {
            let value = body.get(*name).cloned().unwrap_or_else(OwnedValue::null);
            ((*key).into(), typed.read(value))
        })
        .collect()
}

/// An openstacksdk `type=list` attribute: a list as it is, anything else in a list of one.
pub fn as_list(v: OwnedValue) -> OwnedValue {
    match &v {
        OwnedValue::Static(StaticNode::Null) | OwnedValue::Array(_) => v,
        _ => OwnedValue::Array(Box::new(vec![v])),
    }
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::*;

    #[test]
    fn the_api_is_versioned_unless_the_catalog_says_a_version() {
        assert_eq!(versioned("http://glance:9292", "v2"), "http://glance:9292/v2");
        assert_eq!(versioned("http://ctl/image", "v2"), "http://ctl/image/v2");
        assert_eq!(versioned("http://glance:9292/v2", "v2"), "http://glance:9292/v2");
        assert_eq!(
            versioned("http://glance:9292/v2.1", "v2"),
            "http://glance:9292/v2.1"
        );
        assert_eq!(
            versioned("http://neutron:9696", "v2.0"),
            "http://neutron:9696/v2.0"
        );
        assert_eq!(
            versioned("http://neutron:9696/v2.0", "v2.0"),
            "http://neutron:9696/v2.0"
        );
    }

    #[test]
    fn a_path_segment_keeps_ids_and_encodes_what_would_leave_the_segment() {
        assert_eq!(path_segment("58b908b4-17cf-4fee"), "58b908b4-17cf-4fee");
        assert_eq!(path_segment("../a/b?c d"), "..%2Fa%2Fb%3Fc%20d");
    }

    #[test]
    fn an_int_attribute_is_converted_as_openstacksdk_converts_it() {
        let int = |v: OwnedValue| as_int(v);
        assert_eq!(int(OwnedValue::from(3)), OwnedValue::from(3));
        assert_eq!(int(OwnedValue::from(true)), OwnedValue::from(true));
        assert!(int(OwnedValue::null()).is_null());
        assert_eq!(int(OwnedValue::from(2.9)), OwnedValue::from(2));
        assert_eq!(int(OwnedValue::from("12")), OwnedValue::from(12));
        // `str.isdigit()` is false for these: the SDK's fallback, `int()`.
        for text in ["-3", " 12", "1.5", "", "x"] {
            assert_eq!(int(OwnedValue::from(text)), OwnedValue::from(0), "{text:?}");
        }
        assert_eq!(int(simd_json::json!([1])), OwnedValue::from(0));
        assert_eq!(int(simd_json::json!({"a": 1})), OwnedValue::from(0));
    }
}
