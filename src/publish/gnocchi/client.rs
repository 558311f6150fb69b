//! The HTTP side of `gnocchi://`: JSON requests to Gnocchi's v1 API with basic auth and a
//! per-request timeout, on hyper's pooled client (the one dynamic pollsters use).
//!
//! The one rule here is the split of outcomes, which the publisher's delivery guarantee rests
//! on: a reply Gnocchi gave about the request itself (2xx, and 4xx other than 401/403) is a
//! [`Reply`]; everything that says "not now" — connection refused, timeout, 5xx, 401/403
//! (credentials being fixed, Keystone restarting) — is a [`Unavailable`] error, which the
//! caller retries and never turns into a dropped sample.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::Method;

use crate::polling::dynamic::{http_client, HttpClient};

/// Error bodies are read up to this size (they are short JSON or HTML pages).
const MAX_BODY: usize = 4 << 20;

/// Gnocchi could not answer this request now; try again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("gnocchi {method} {url}: {reason}")]
pub struct Unavailable {
    pub method: Method,
    pub url: String,
    pub reason: String,
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

/// A Gnocchi API endpoint with its credentials.
#[derive(Clone)]
pub struct GnocchiClient {
    http: HttpClient,
    /// `http://host:port` (no trailing `/`); requests go to `<base>/v1/...`.
    base: String,
    auth: HeaderValue,
    timeout: Duration,
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
        let base = endpoint.trim_end_matches('/').to_owned();
        base.parse::<hyper::Uri>()
            .map_err(|e| format!("gnocchi endpoint {endpoint:?}: {e}"))?;
        Ok(GnocchiClient {
            http: http_client(),
            base,
            auth,
            timeout,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// One request to `<base>/v1/<path>` with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, Unavailable> {
        let url = format!("{}/v1/{}", self.base, path.trim_start_matches('/'));
        let fail = |reason: String| Unavailable {
            method: method.clone(),
            url: url.clone(),
            reason,
        };
        let payload = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).map_err(|e| fail(e.to_string()))?),
            None => Bytes::new(),
        };
        let request = hyper::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(payload))
            .map_err(|e| fail(e.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| fail(format!("{e:?}")))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| fail(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok::<_, Unavailable>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| fail(format!("no reply within {:?}", self.timeout)))??;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let reply = Reply { status, body, text };
        if status >= 500 || status == 401 || status == 403 {
            return Err(fail(format!("HTTP {status}: {}", reply.description())));
        }
        Ok(reply)
    }
}
