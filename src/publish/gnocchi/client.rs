//! The HTTP side of `gnocchi://`: JSON requests to Gnocchi's v1 API with basic auth or a
//! Keystone token ([`crate::keystone`]: renewed and the request retried once on 401, the
//! endpoint from the catalog unless configured) and a per-request timeout, on hyper's pooled
//! client ([`crate::http::client`], the one dynamic pollsters use).
//!
//! The one rule here is the split of outcomes, which the publisher's delivery guarantee rests
//! on: a reply Gnocchi gave about the request itself (2xx, and 4xx other than 401/403) is a
//! [`Reply`]; everything that says "not now" — connection refused, timeout, 5xx, 401/403
//! (credentials being fixed, Keystone restarting) — is a [`Unavailable`] error, which the
//! caller retries and never turns into a dropped sample.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::Method;

use crate::http::client::{http_client, HttpClient};
use crate::keystone::{Keystone, KeystoneError, KeystoneSettings, Token};

const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// Error bodies are read up to this size (they are short JSON or HTML pages).
const MAX_BODY: usize = 4 << 20;

/// Gnocchi could not answer this request now; try again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("gnocchi {method} {url}: {reason}")]
pub struct Unavailable {
    pub method: Method,
    pub url: String,
    pub reason: String,
    /// The HTTP status, when there was a reply (401 makes a Keystone client renew its token).
    pub status: Option<u16>,
}

/// Keystone not answering is Gnocchi not answering: retried the same way.
impl From<KeystoneError> for Unavailable {
    fn from(e: KeystoneError) -> Unavailable {
        Unavailable {
            method: e.method,
            url: e.url,
            reason: format!("keystone: {}", e.reason),
            status: None,
        }
    }
}

/// A request's body and its content type.
#[derive(Clone)]
struct Body {
    payload: Bytes,
    content_type: &'static str,
}

/// What Gnocchi answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The JSON body (`Null` when empty or not JSON; then `text` has it).
    pub body: serde_json::Value,
    pub text: String,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Gnocchi's error `description` (a JSON object or a sentence), for logs.
    pub fn description(&self) -> String {
        match self.body.get("description") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => self.text.chars().take(500).collect(),
        }
    }
}

/// How requests are authenticated.
#[derive(Clone)]
enum Auth {
    /// `Authorization: Basic ...`, the same on every request.
    Basic(HeaderValue),
    /// `X-Auth-Token` from Keystone.
    Keystone(Arc<Keystone>),
}

/// A Gnocchi API endpoint with its credentials.
#[derive(Clone)]
pub struct GnocchiClient {
    http: HttpClient,
    /// `http://host:port` (no trailing `/`); requests go to `<base>/v1/...`. Empty: the
    /// Keystone catalog's `metric` endpoint.
    base: String,
    auth: Auth,
    timeout: Duration,
}

fn base_url(endpoint: &str) -> Result<String, String> {
    let base = endpoint.trim_end_matches('/').to_owned();
    base.parse::<hyper::Uri>()
        .map_err(|e| format!("gnocchi endpoint {endpoint:?}: {e}"))?;
    Ok(base)
}

impl GnocchiClient {
    /// Basic auth as Gnocchi's `auth_mode = basic` expects it: the user name is the identity,
    /// the password is not checked by Gnocchi but sent as given.
    pub fn basic(
        endpoint: &str,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<GnocchiClient, String> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let auth = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|e| format!("gnocchi user/password cannot go in a header: {e}"))?;
        Ok(GnocchiClient {
            http: http_client(),
            base: base_url(endpoint)?,
            auth: Auth::Basic(auth),
            timeout,
        })
    }

    /// Keystone v3 password auth; `endpoint` `None`: Gnocchi's URL from the catalog.
    pub fn keystone(
        endpoint: Option<&str>,
        settings: &KeystoneSettings,
        timeout: Duration,
    ) -> Result<GnocchiClient, String> {
        let http = settings.http_client()?;
        let keystone = Keystone::new(settings.clone(), http.clone(), timeout)?;
        Ok(GnocchiClient {
            http,
            base: endpoint.map(base_url).transpose()?.unwrap_or_default(),
            auth: Auth::Keystone(Arc::new(keystone)),
            timeout,
        })
    }

    /// The configured endpoint; with Keystone and none configured, where it comes from.
    pub fn endpoint(&self) -> String {
        match &self.auth {
            Auth::Keystone(k) if self.base.is_empty() => {
                format!("catalog of {}", k.settings().auth_url)
            }
            _ => self.base.clone(),
        }
    }

    /// The Keystone session, when requests are authenticated by Keystone.
    pub fn keystone_session(&self) -> Option<&Keystone> {
        match &self.auth {
            Auth::Keystone(k) => Some(k),
            Auth::Basic(_) => None,
        }
    }

    /// The base URL for a request made with `token`.
    fn base_for(&self, token: Option<&Token>) -> Result<String, String> {
        if !self.base.is_empty() {
            return Ok(self.base.clone());
        }
        match (token, &self.auth) {
            (Some(t), Auth::Keystone(k)) => t.metric_endpoint.clone().ok_or_else(|| {
                let s = k.settings();
                let (interface, region) = s.catalog_scope();
                format!(
                    "the Keystone catalog ({}) has no `metric` endpoint for interface {interface} in region {}: register Gnocchi or set gnocchi.endpoint",
                    s.who(),
                    region.unwrap_or("(any)")
                )
            }),
            _ => Ok(self.base.clone()),
        }
    }

    /// One request to `<base>/v1/<path>` with an optional JSON body. With Keystone, a 401 gets
    /// a new token and one retry.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, Unavailable> {
        self.call_as(method, path, body, "application/json").await
    }

    /// A JSON Patch (`application/json-patch+json`, what Gnocchi takes to change a resource
    /// type) of `path` with `ops`.
    pub async fn json_patch(&self, path: &str, ops: &serde_json::Value) -> Result<Reply, Unavailable> {
        self.call_as(Method::PATCH, path, Some(ops), "application/json-patch+json")
            .await
    }

    async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        content_type: &'static str,
    ) -> Result<Reply, Unavailable> {
        let payload = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).map_err(|e| Unavailable {
                method: method.clone(),
                url: path.to_owned(),
                reason: e.to_string(),
                status: None,
            })?),
            None => Bytes::new(),
        };
        let body = Body {
            payload,
            content_type,
        };
        match &self.auth {
            Auth::Basic(header) => self.send(&method, path, AUTHORIZATION, header, None, body).await,
            Auth::Keystone(keystone) => {
                let (method, body) = (&method, &body);
                let send = |token: Token| async move {
                    self.send(
                        method,
                        path,
                        X_AUTH_TOKEN,
                        &token.header,
                        Some(&token),
                        body.clone(),
                    )
                    .await
                };
                let refused =
                    |reply: &Result<Reply, Unavailable>| matches!(reply, Err(e) if e.status == Some(401));
                keystone.with_token("gnocchi", send, refused).await?
            }
        }
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        auth_name: HeaderName,
        auth: &HeaderValue,
        token: Option<&Token>,
        body: Body,
    ) -> Result<Reply, Unavailable> {
        let fail = |url: &str, reason: String, status: Option<u16>| Unavailable {
            method: method.clone(),
            url: url.to_owned(),
            reason,
            status,
        };
        let base = self.base_for(token).map_err(|r| fail(path, r, None))?;
        let url = format!("{base}/v1/{}", path.trim_start_matches('/'));
        let request = hyper::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(auth_name, auth.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, body.content_type)
            .body(Full::new(body.payload))
            .map_err(|e| fail(&url, e.to_string(), None))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| fail(&url, format!("{e:?}"), None))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| fail(&url, format!("reading the reply: {e}"), None))?
                .to_bytes();
            Ok::<_, Unavailable>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| fail(&url, format!("no reply within {:?}", self.timeout), None))??;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let reply = Reply { status, body, text };
        if status >= 500 || status == 401 || status == 403 {
            return Err(fail(
                &url,
                format!("HTTP {status}: {}", reply.description()),
                Some(status),
            ));
        }
        Ok(reply)
    }
}
