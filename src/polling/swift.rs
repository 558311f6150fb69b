//! Swift's pollsters, as Ceilometer 27's `ceilometer/objectstore/swift.py` polls them, for
//! every project the `tenant` discoverer lists from Keystone:
//!
//! * Swift's endpoint is the token's catalog entry of `[service_types] swift` (`object-store`),
//!   of `[service_credentials] interface` in `region_name`; a project's account is
//!   `<endpoint up to /v1>/v1/<reseller_prefix><project id>` (`[DEFAULT] reseller_prefix`,
//!   `AUTH_`, as the proxy's).
//! * `storage.objects`, `storage.objects.size`, `storage.objects.containers` (gauges in
//!   `object`, `B`, `container`): one `HEAD` of the account, its `X-Account-Object-Count`,
//!   `-Bytes-Used` and `-Container-Count`; the project is both project and resource, the
//!   metadata `{}`, no user.
//! * `storage.containers.objects`, `storage.containers.objects.size` (`object`, `B`): one
//!   `GET` of the account's listing (`?format=json`, its first page, as Ceilometer asks for
//!   it), a sample per container: its `count` and `bytes`, resource `<project>/<container>`,
//!   metadata `storage_policy` (`null` when the listing has none).
//! * An account Swift does not have (404) is a warning, one the agent may not read (403, the
//!   agent's user lacks Swift's reseller admin role) an error: both leave that project without
//!   samples and the poll goes on. Any other failure is the project's alone (Ceilometer gives up
//!   the pollster's whole cycle at the first).
//!
//! With coordination on, a project is placed on the hash ring by its id, where Ceilometer
//! places the `str()` of keystoneclient's project: ceilo and Ceilometer agents must not share a
//! `central` group for the `tenant` discoverer.

use std::sync::Arc;

use hyper::Method;
use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use super::service_api::{ServiceApi, Session};
use crate::model::{py, Metadata, OwnedValue, Sample};

/// The discoverer's name in polling.yaml: Keystone's projects.
pub const DISCOVERER: &str = "tenant";

/// The five meters, in [`SwiftPollster::meters`]' order: the account's three, then the
/// containers' two.
const METERS: [(&str, &str); 5] = [
    ("storage.objects", "object"),
    ("storage.objects.size", "B"),
    ("storage.objects.containers", "container"),
    ("storage.containers.objects", "object"),
    ("storage.containers.objects.size", "B"),
];

/// The account headers of the account's three meters, in their order.
const ACCOUNT_HEADERS: [&str; 3] = [
    "x-account-object-count",
    "x-account-bytes-used",
    "x-account-container-count",
];

/// The Swift API, reached through the agent's Keystone session.
pub struct SwiftApi {
    api: ServiceApi,
    reseller_prefix: String,
}

/// What Swift answered for one project's account.
enum Reply {
    Found(u16, hyper::HeaderMap, bytes::Bytes),
    /// 404 or 403: said, and no samples.
    Skipped,
}

impl SwiftApi {
    pub fn new(session: Session, service_type: &str, reseller_prefix: &str) -> SwiftApi {
        SwiftApi {
            api: ServiceApi::new("Swift", session, vec![service_type.to_owned()]),
            reseller_prefix: reseller_prefix.to_owned(),
        }
    }

    /// Why Swift cannot be asked at all (no usable `service_credentials`).
    pub fn unavailable(&self) -> Option<String> {
        self.api.unavailable()
    }

    /// `method` on `project`'s account (`query` appended).
    async fn account(&self, method: Method, project: &str, query: &str) -> Result<Reply, String> {
        let url = account_url(&self.api.endpoint().await?, &self.reseller_prefix, project);
        let (status, headers, body) = self.api.request(method.clone(), &format!("{url}{query}")).await?;
        match status {
            200..=299 => Ok(Reply::Found(status, headers, body)),
            404 => {
                tracing::warn!(project, "Swift tenant id not found");
                Ok(Reply::Skipped)
            }
            403 => {
                tracing::error!(
                    project,
                    "the credentials configured do not have the roles to access this Swift tenant id"
                );
                Ok(Reply::Skipped)
            }
            _ => {
                let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                Err(format!("{method} {url}: HTTP {status}: {text}"))
            }
        }
    }
}

/// A project's account URL, as Ceilometer's `_neaten_url` makes it from the catalog's
/// endpoint (whatever project that names): the endpoint up to `/v1`, then
/// `/v1/<prefix><project>`.
fn account_url(endpoint: &str, reseller_prefix: &str, project: &str) -> String {
    let root = endpoint
        .split("/v1")
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    format!("{root}/v1/{reseller_prefix}{project}")
}

/// `storage.objects*` and `storage.containers.objects*`.
pub struct SwiftPollster {
    api: Arc<SwiftApi>,
    meters: [MeterSpec; 5],
}

impl SwiftPollster {
    pub fn new(api: Arc<SwiftApi>) -> SwiftPollster {
        SwiftPollster {
            api,
            meters: METERS.map(|(name, unit)| MeterSpec::new(name, "gauge", unit)),
        }
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        let Resource::Project(project) = resource else {
            return Err(PollError::not_listed("swift", DISCOVERER, resource.key()));
        };
        let selected = |at: usize| mask.get(at).copied().unwrap_or(false);
        if (0..3).any(selected) {
            if let Reply::Found(_, headers, _) = self
                .api
                .account(Method::HEAD, project, "")
                .await
                .map_err(PollError::Transient)?
            {
                let project_id = OwnedValue::from(&**project);
                // Ceilometer's `Sample` makes the `None` it is given `{}`.
                let no_metadata: Metadata = Arc::new(OwnedValue::from(simd_json::owned::Object::new()));
                for (at, header) in ACCOUNT_HEADERS.iter().enumerate().filter(|(at, _)| selected(*at)) {
                    let volume = headers
                        .get(*header)
                        .and_then(|v| v.to_str().ok())
                        .and_then(py::text::int_of_str)
                        .and_then(|n| i64::try_from(n).ok())
                        .ok_or_else(|| {
                            PollError::Transient(format!(
                                "account {project}: no integer {header} in Swift's reply"
                            ))
                        })?;
                    out.push(ctx.sample(
                        &self.meters[at],
                        OwnedValue::from(volume),
                        null(),
                        project_id.clone(),
                        project_id.clone(),
                        no_metadata.clone(),
                        null(),
                    ));
                }
            }
        }
        if (3..5).any(selected) {
            if let Reply::Found(status, _, body) = self
                .api
                .account(Method::GET, project, "?format=json")
                .await
                .map_err(PollError::Transient)?
            {
                // An account without containers answers 204, with no listing.
                let containers = if status == 204 || body.is_empty() {
                    Vec::new()
                } else {
                    read_listing(&body)
                        .map_err(|e| PollError::Transient(format!("account {project}: {e}")))?
                };
                for container in containers {
                    for (at, volume) in [(3, &container.count), (4, &container.bytes)] {
                        if selected(at) {
                            out.push(ctx.sample(
                                &self.meters[at],
                                volume.clone(),
                                null(),
                                OwnedValue::from(&**project),
                                OwnedValue::from(format!("{project}/{}", container.name)),
                                container.metadata.clone(),
                                null(),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// One container of an account's listing.
#[derive(Debug)]
pub struct Container {
    name: String,
    count: OwnedValue,
    bytes: OwnedValue,
    metadata: Metadata,
}

/// The containers of an account listing (`?format=json`): each one's `count` and `bytes` as
/// Python's `int()` makes them, and its `storage_policy` as metadata.
pub fn read_listing(body: &[u8]) -> Result<Vec<Container>, String> {
    let listing =
        simd_json::to_owned_value(&mut body.to_vec()).map_err(|e| format!("the listing is not JSON: {e}"))?;
    let Some(containers) = listing.as_array() else {
        return Err("the listing is not a list".into());
    };
    let int = |c: &OwnedValue, field: &str| -> Result<OwnedValue, String> {
        let value = c.get(field).cloned().unwrap_or_else(null);
        py::int_of(&value)
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .map(OwnedValue::from)
            .ok_or_else(|| format!("a container's {field} is not an integer: {value}"))
    };
    containers
        .iter()
        .map(|c| {
            let policy = c.get("storage_policy").cloned().unwrap_or_else(null);
            Ok(Container {
                name: c.get_str("name").unwrap_or_default().to_owned(),
                count: int(c, "count")?,
                bytes: int(c, "bytes")?,
                metadata: Arc::new(simd_json::json!({ "storage_policy": policy })),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_url_is_the_catalog_endpoint_up_to_v1_then_the_project() {
        let url = |endpoint: &str| account_url(endpoint, "AUTH_", "p-1");
        assert_eq!(
            url("http://swift:8080/v1/AUTH_service"),
            "http://swift:8080/v1/AUTH_p-1"
        );
        assert_eq!(url("http://swift:8080"), "http://swift:8080/v1/AUTH_p-1");
        assert_eq!(
            url("http://ctl/object-store/v1/AUTH_x/"),
            "http://ctl/object-store/v1/AUTH_p-1"
        );
        assert_eq!(account_url("http://s/v1", "", "p"), "http://s/v1/p");
    }

    #[test]
    fn a_listing_gives_each_container_its_count_bytes_and_policy() {
        let containers = read_listing(
            br#"[{"name": "c1", "count": 2, "bytes": 10, "last_modified": "2026-12-07T09:00:00.000000",
                  "storage_policy": "gold"},
                 {"name": "c 2", "count": 0, "bytes": 0}]"#,
        )
        .expect("a listing");
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0].count, OwnedValue::from(2));
        assert_eq!(containers[0].bytes, OwnedValue::from(10));
        assert_eq!(containers[0].metadata.get_str("storage_policy"), Some("gold"));
        assert_eq!(containers[1].name, "c 2");
        assert!(containers[1].metadata.get("storage_policy").unwrap().is_null());
        assert!(read_listing(br#"[{"name": "c", "count": "x", "bytes": 1}]"#)
            .unwrap_err()
            .contains("count is not an integer"));
        assert!(read_listing(b"{}").unwrap_err().contains("not a list"));
    }
}
