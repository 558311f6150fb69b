//! Keystone v3 password sessions, as Ceilometer's `[service_credentials]` with
//! `auth_type = password` works through keystoneauth1: a token from
//! `POST <auth_url>/v3/auth/tokens`, kept until it is about to expire, renewed then or when the
//! service it was shown to answers 401; and the look-ups ceilo needs: Gnocchi's endpoint in
//! the token's catalog (service type `metric`, named `gnocchi` or unnamed, the configured
//! interface and region) and any other service's ([`service_endpoint`]: Cinder's), GETs to
//! those services with the token ([`Keystone::authorized_get`]), a project by name in a domain
//! (`gnocchi://`'s `filter_project`), and the name of a project or user by id (`[polling]
//! identity_name_discovery`).
//!
//! Used by the `gnocchi://` publisher ([`crate::publish::gnocchi`]) and the polling agent
//! ([`crate::polling::identity`], [`crate::polling::cinder`]); each holds one [`Keystone`]
//! session.
//!
//! Failures are [`KeystoneError`]s ("not now"): Keystone down, a refused password, a reply that
//! does not parse. The caller decides what "not now" means (the publisher retries, the name
//! look-up sends the sample without the name); the message names the auth URL and the user,
//! never the password.
//!
//! Not done: other auth types (`v3token`, application credentials, `v2password`), system and
//! domain scopes, TLS options of `[service_credentials]` (https uses the system's roots).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use crate::http::client::HttpClient;

/// keystoneauth1 renews a token that expires within this (`MIN_TOKEN_LIFE_SECONDS`).
const RENEW_BEFORE: Duration = Duration::from_secs(120);
const MAX_BODY: usize = 8 << 20;

/// `service_credentials` (or `gnocchi.keystone`) in ceilo.yaml: Ceilometer's
/// `[service_credentials]` for `auth_type = password`. A user by `user_id`, or by `username` in a domain; a project
/// scope by `project_id`, or by `project_name` in a domain (none: an unscoped token).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeystoneSettings {
    /// Keystone's identity endpoint, e.g. `http://127.0.0.1:5000/v3` (`/v3` is added when
    /// missing).
    pub auth_url: String,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password: String,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    /// The catalog region of Gnocchi's endpoint (any region when unset).
    pub region_name: Option<String>,
    /// The catalog interface: `public` (default), `internal` or `admin` (`publicURL`... too).
    pub interface: Option<String>,
    /// PEM file of the CA certificate(s) Keystone's and the catalog's https endpoints must
    /// chain to, the only ones trusted (unset: the system's roots). keystoneauth `cafile`.
    pub cafile: Option<std::path::PathBuf>,
    /// Take any certificate from the https endpoints. keystoneauth `insecure`.
    pub insecure: bool,
    /// An application credential instead of the password (keystoneauth's
    /// `v3applicationcredential`): its secret, and its id, or its name with the user who owns
    /// it. Its token is scoped to the credential's own project.
    pub application_credential_id: Option<String>,
    pub application_credential_name: Option<String>,
    pub application_credential_secret: Option<String>,
}

impl KeystoneSettings {
    /// The HTTP client of a session with these credentials: its `cafile` and `insecure`.
    pub fn http_client(&self) -> Result<HttpClient, String> {
        crate::http::client::http_client_verifying(self.cafile.as_deref(), self.insecure)
            .map_err(|e| format!("keystone credentials: {e}"))
    }

    /// What is missing or contradictory, said before anything is sent.
    pub fn validate(&self) -> Result<(), String> {
        if self.auth_url.trim().is_empty() {
            return Err("keystone credentials: auth_url is required".into());
        }
        self.auth_url
            .parse::<hyper::Uri>()
            .map_err(|e| format!("keystone credentials: auth_url {:?}: {e}", self.auth_url))?;
        if self.application_credential_secret.is_some() {
            if self.application_credential_id.is_none() && self.application_credential_name.is_none() {
                return Err("keystone credentials: application_credential_secret needs \
                            application_credential_id or application_credential_name"
                    .into());
            }
            let by_name = self.application_credential_id.is_none();
            let user_domain = self.user_domain_name.is_some() || self.user_domain_id.is_some();
            if by_name && self.user_id.is_none() && (self.username.is_none() || !user_domain) {
                return Err(
                    "keystone credentials: application_credential_name needs the user \
                            (user_id, or username with user_domain_name or user_domain_id)"
                        .into(),
                );
            }
            return self.interface().map(|_| ());
        }
        if self.user_id.is_none() && self.username.is_none() {
            return Err("keystone credentials: username (or user_id) is required".into());
        }
        if self.user_id.is_none() && self.user_domain_name.is_none() && self.user_domain_id.is_none() {
            return Err("keystone credentials: username needs user_domain_name or user_domain_id".into());
        }
        if self.project_id.is_none()
            && self.project_name.is_some()
            && self.project_domain_name.is_none()
            && self.project_domain_id.is_none()
        {
            return Err(
                "keystone credentials: project_name needs project_domain_name or project_domain_id".into(),
            );
        }
        self.interface()?;
        Ok(())
    }

    /// The catalog interface, normalized as keystoneauth1 does (`publicURL` is `public`).
    pub fn interface(&self) -> Result<&str, String> {
        let i = self.interface.as_deref().unwrap_or("public");
        match i.strip_suffix("URL").unwrap_or(i) {
            v @ ("public" | "internal" | "admin") => Ok(v),
            _ => Err(format!(
                "keystone credentials: interface {i:?}: one of public, internal, admin"
            )),
        }
    }

    /// Where endpoints are taken from in a catalog: the interface (`public` unless set) and the
    /// region (any when unset), as keystoneauth1's `get_endpoint` and `get_urls` filter them.
    pub fn catalog_scope(&self) -> (&str, Option<&str>) {
        (self.interface().unwrap_or("public"), self.region_name.as_deref())
    }

    /// `<auth_url>/v3/auth/tokens`.
    pub fn tokens_url(&self) -> String {
        format!("{}/auth/tokens", self.v3())
    }

    fn v3(&self) -> String {
        let base = self.auth_url.trim().trim_end_matches('/');
        if base.ends_with("/v3") {
            base.to_owned()
        } else {
            format!("{base}/v3")
        }
    }

    /// Who the errors name: the user (and its domain), or the application credential, at the
    /// auth URL.
    pub fn who(&self) -> String {
        if self.application_credential_secret.is_some() {
            let credential = self
                .application_credential_id
                .as_deref()
                .or(self.application_credential_name.as_deref())
                .unwrap_or("?");
            return format!("application credential {credential} at {}", self.auth_url);
        }
        let user = match (&self.user_id, &self.username) {
            (Some(id), _) => format!("user id {id}"),
            (None, Some(name)) => format!(
                "user {name} (domain {})",
                self.user_domain_name
                    .as_deref()
                    .or(self.user_domain_id.as_deref())
                    .unwrap_or("?")
            ),
            (None, None) => "no user".into(),
        };
        format!("{user} at {}", self.auth_url)
    }

    /// The body of `POST /v3/auth/tokens`.
    fn auth_body(&self) -> Json {
        let domain = |id: &Option<String>, name: &Option<String>| match (id, name) {
            (Some(id), _) => Some(json!({ "id": id })),
            (None, Some(name)) => Some(json!({ "name": name })),
            (None, None) => None,
        };
        let mut user = serde_json::Map::new();
        match (&self.user_id, &self.username) {
            (Some(id), _) => {
                user.insert("id".into(), json!(id));
            }
            (None, name) => {
                user.insert("name".into(), json!(name));
                if let Some(d) = domain(&self.user_domain_id, &self.user_domain_name) {
                    user.insert("domain".into(), d);
                }
            }
        }
        if let Some(secret) = &self.application_credential_secret {
            let credential = match (&self.application_credential_id, &self.application_credential_name) {
                (Some(id), _) => json!({ "id": id, "secret": secret }),
                (None, name) => json!({ "name": name, "secret": secret, "user": user }),
            };
            return json!({ "auth": { "identity": {
                "methods": ["application_credential"],
                "application_credential": credential,
            } } });
        }
        user.insert("password".into(), json!(self.password));
        let mut auth = json!({
            "identity": { "methods": ["password"], "password": { "user": user } }
        });
        let scope = match (&self.project_id, &self.project_name) {
            (Some(id), _) => Some(json!({ "project": { "id": id } })),
            (None, Some(name)) => {
                let mut project = json!({ "name": name });
                if let Some(d) = domain(&self.project_domain_id, &self.project_domain_name) {
                    project["domain"] = d;
                }
                Some(json!({ "project": project }))
            }
            (None, None) => None,
        };
        if let Some(scope) = scope {
            auth["scope"] = scope;
        }
        json!({ "auth": auth })
    }
}

/// Keystone could not answer now (unreachable, refused, or a reply that makes no sense).
#[derive(Debug, Clone, thiserror::Error)]
#[error("keystone {method} {url}: {reason}")]
pub struct KeystoneError {
    pub method: Method,
    pub url: String,
    /// What went wrong, and who asked (user and auth URL).
    pub reason: String,
}

/// What [`Keystone::name_of`] looks up: `GET /v3/projects/<id>` or `GET /v3/users/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    Project,
    User,
}

impl Identity {
    fn collection(self) -> &'static str {
        match self {
            Identity::Project => "projects",
            Identity::User => "users",
        }
    }
}

/// A token and what came with it.
#[derive(Clone)]
pub struct Token {
    pub header: HeaderValue,
    /// Gnocchi's endpoint from the catalog (`None` when the catalog has none).
    pub metric_endpoint: Option<String>,
    /// The token's catalog (empty when it came without one), for [`service_endpoint`].
    pub catalog: std::sync::Arc<[Json]>,
    /// When to stop using it and fetch another.
    renew_at: Instant,
}

/// Why a token is fetched, for the log.
#[derive(Debug, Clone, Copy)]
pub enum Renewal {
    First,
    ExpiresSoon,
    Refused,
}

/// A Keystone session: the cached token, renewed as keystoneauth1 renews it.
pub struct Keystone {
    settings: KeystoneSettings,
    http: HttpClient,
    timeout: Duration,
    cached: tokio::sync::Mutex<Option<Token>>,
}

impl Keystone {
    pub fn new(settings: KeystoneSettings, http: HttpClient, timeout: Duration) -> Result<Keystone, String> {
        settings.validate()?;
        Ok(Keystone {
            settings,
            http,
            timeout,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    pub fn settings(&self) -> &KeystoneSettings {
        &self.settings
    }

    /// The client its requests go out through (its `cafile`, `insecure`).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The current token, fetched when there is none or it is about to expire.
    pub async fn token(&self) -> Result<Token, KeystoneError> {
        let mut cached = self.cached.lock().await;
        let why = match &*cached {
            Some(t) if Instant::now() < t.renew_at => return Ok(t.clone()),
            Some(_) => Renewal::ExpiresSoon,
            None => Renewal::First,
        };
        let token = self.fetch(why).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// A service (Gnocchi, Cinder, Keystone) refused `used` (401): forget it, so that the next
    /// [`Keystone::token`] fetches a new one (unless another request did already).
    pub async fn refused(&self, used: &HeaderValue) -> Result<Token, KeystoneError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = &*cached {
            if t.header != *used {
                return Ok(t.clone());
            }
        }
        let token = self.fetch(Renewal::Refused).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    fn error(&self, method: Method, url: &str, reason: String) -> KeystoneError {
        KeystoneError {
            method,
            url: url.to_owned(),
            reason: format!("{reason} ({})", self.settings.who()),
        }
    }

    async fn fetch(&self, why: Renewal) -> Result<Token, KeystoneError> {
        let url = self.settings.tokens_url();
        let body = Bytes::from(self.settings.auth_body().to_string());
        let (status, headers, bytes) = self
            .send("Keystone", Method::POST, &url, None, &[], body)
            .await
            .map_err(|reason| self.error(Method::POST, &url, reason))?;
        if status != 201 && status != 200 {
            let what = match status {
                401 => "Keystone refused the credentials (wrong password or unknown user)",
                403 => "Keystone refused the scope (no role on the project?)",
                _ => "Keystone did not issue a token",
            };
            return Err(self.error(
                Method::POST,
                &url,
                format!("{what}: HTTP {status}: {}", error_text(&bytes)),
            ));
        }
        let header = headers
            .get("x-subject-token")
            .cloned()
            .ok_or_else(|| self.error(Method::POST, &url, "no X-Subject-Token in the reply".into()))?;
        let reply: TokenReply = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(Method::POST, &url, format!("the token reply does not parse: {e}")))?;
        let lifetime = reply.lifetime().unwrap_or(RENEW_BEFORE * 2);
        // keystoneauth1 renews 120 s before expiry; a token that short-lived is used for half
        // of its life instead of for no request at all.
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 2));
        let (interface, region) = self.settings.catalog_scope();
        let catalog: std::sync::Arc<[Json]> = reply.token.catalog.unwrap_or_default().into();
        let metric_endpoint = metric_endpoint(&catalog, interface, region);
        tracing::info!(
            auth_url = self.settings.auth_url,
            user = self.settings.who(),
            reason = ?why,
            expires_at = reply.token.expires_at.as_deref().unwrap_or("?"),
            "keystone token issued"
        );
        Ok(Token {
            header,
            metric_endpoint,
            catalog,
            renew_at,
        })
    }

    /// The id of project `name` (a name or an id) in domain `domain` (a name or an id), as
    /// Ceilometer's `find_domain` + `find_project`; `Ok(None)` when there is none.
    pub async fn find_project(&self, name: &str, domain: &str) -> Result<Option<String>, KeystoneError> {
        let Some(domain_id) = self.find_one("domains", domain, None).await? else {
            return Ok(None);
        };
        self.find_one("projects", name, Some(&domain_id)).await
    }

    /// The name of the project or user `id` (`None` when Keystone has none: 404, or a reply
    /// without a name), as keystoneclient's `projects.get(id).name`.
    pub async fn name_of(&self, what: Identity, id: &str) -> Result<Option<String>, KeystoneError> {
        let url = format!("{}/{}/{}", self.settings.v3(), what.collection(), enc(id));
        let single = what.collection().trim_end_matches('s');
        Ok(self
            .get(&url)
            .await?
            .and_then(|one| one[single]["name"].as_str().map(str::to_owned)))
    }

    /// The ids of the projects of every domain, as Ceilometer's `tenant` discoverer lists them
    /// (`GET /v3/domains`, then `/v3/projects?domain_id=..` for each); with `enabled_only`
    /// (`[polling] ignore_disabled_projects`), the enabled projects of the enabled domains.
    pub async fn project_ids(&self, enabled_only: bool) -> Result<Vec<String>, KeystoneError> {
        let enabled = if enabled_only { "enabled=True" } else { "" };
        let ids = |list: Option<Json>, kind: &str| -> Vec<String> {
            list.and_then(|l| l[kind].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|one| one["id"].as_str().map(str::to_owned))
                .collect()
        };
        let domains = ids(
            self.get(&format!("{}/domains?{enabled}", self.settings.v3()))
                .await?,
            "domains",
        );
        let mut projects = Vec::new();
        for domain in domains {
            let url = format!(
                "{}/projects?domain_id={}&{enabled}",
                self.settings.v3(),
                enc(&domain)
            );
            projects.extend(ids(self.get(&url).await?, "projects"));
        }
        Ok(projects)
    }

    /// `GET /v3/<kind>?name=..`, then `/v3/<kind>/<id>`: the id of the one that matches.
    async fn find_one(
        &self,
        kind: &str,
        name_or_id: &str,
        domain_id: Option<&str>,
    ) -> Result<Option<String>, KeystoneError> {
        let mut by_name = format!("{}/{kind}?name={}", self.settings.v3(), enc(name_or_id));
        if let Some(d) = domain_id {
            by_name.push_str(&format!("&domain_id={}", enc(d)));
        }
        if let Some(list) = self.get(&by_name).await? {
            let found: Vec<&Json> = list[kind]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            match found.as_slice() {
                [one] => return Ok(one["id"].as_str().map(str::to_owned)),
                [] => {}
                _ => {
                    return Err(self.error(
                        Method::GET,
                        &by_name,
                        format!("more than one of {kind} is named {name_or_id:?}"),
                    ))
                }
            }
        }
        let by_id = format!("{}/{kind}/{}", self.settings.v3(), enc(name_or_id));
        let single = kind.trim_end_matches('s');
        Ok(self.get(&by_id).await?.and_then(|one| {
            let one = &one[single];
            let in_domain = domain_id.is_none_or(|d| one["domain_id"].as_str() == Some(d));
            in_domain.then(|| one["id"].as_str().map(str::to_owned)).flatten()
        }))
    }

    /// A GET with the current token (renewed once on 401); `None` on 404.
    async fn get(&self, url: &str) -> Result<Option<Json>, KeystoneError> {
        let (status, bytes) = self.authorized_get("Keystone", url, &[]).await?;
        match status {
            200..=299 => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.error(Method::GET, url, format!("the reply does not parse: {e}"))),
            404 => Ok(None),
            _ => Err(self.error(Method::GET, url, format!("HTTP {status}: {}", error_text(&bytes)))),
        }
    }

    /// A GET to `service` (Keystone itself, or a service from the catalog) with the current
    /// token and `headers`, the token renewed and the request sent again once when it is
    /// refused (401): the status and body of the reply (at most 8 MiB).
    pub async fn authorized_get(
        &self,
        service: &str,
        url: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<(u16, Bytes), KeystoneError> {
        let (status, _, bytes) = self
            .authorized(Method::GET, service, url, headers, Bytes::new())
            .await?;
        Ok((status, bytes))
    }

    /// [`Self::authorized_get`] for any method, with `body` (JSON; empty for none): the status,
    /// headers and body of the reply (`HEAD`'s is all in its headers).
    pub async fn authorized(
        &self,
        method: Method,
        service: &str,
        url: &str,
        headers: &[(&'static str, &str)],
        body: Bytes,
    ) -> Result<(u16, hyper::HeaderMap, Bytes), KeystoneError> {
        let (method, body) = (&method, &body);
        let send = |token: Token| async move {
            self.send(
                service,
                method.clone(),
                url,
                Some(&token.header),
                headers,
                body.clone(),
            )
            .await
        };
        let reply = self
            .with_token(service, send, |reply| matches!(reply, Ok((401, _, _))))
            .await?;
        reply.map_err(|reason| self.error(method.clone(), url, reason))
    }

    /// `request` sent with the current token and, when `service` refuses it (`refused` says so
    /// of the reply: a 401), once more with a new one, as keystoneauth1 re-authenticates once:
    /// the reply.
    pub async fn with_token<R, Reply: std::future::Future<Output = R>>(
        &self,
        service: &str,
        mut request: impl FnMut(Token) -> Reply,
        refused: impl Fn(&R) -> bool,
    ) -> Result<R, KeystoneError> {
        let token = self.token().await?;
        let used = token.header.clone();
        let reply = request(token).await;
        if !refused(&reply) {
            return Ok(reply);
        }
        tracing::info!(service, "the keystone token was refused: renewing it, once");
        let renewed = self.refused(&used).await?;
        Ok(request(renewed).await)
    }

    async fn send(
        &self,
        service: &str,
        method: Method,
        url: &str,
        token: Option<&HeaderValue>,
        headers: &[(&'static str, &str)],
        body: Bytes,
    ) -> Result<(u16, hyper::HeaderMap, Bytes), String> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            request = request.header("x-auth-token", t.clone());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| format!("cannot reach {service}: {e:?}"))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the reply: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, headers, bytes))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no reply from {service} within {:?}", self.timeout))?
    }
}

/// Percent-encoding for a query value or a path segment (unreserved characters as they are).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Keystone's error message (`{"error": {"message": ..}}`), else the start of the body.
fn error_text(bytes: &[u8]) -> String {
    let body: Json = serde_json::from_slice(bytes).unwrap_or(Json::Null);
    match body["error"]["message"].as_str() {
        Some(m) => m.to_owned(),
        None => String::from_utf8_lossy(bytes).chars().take(300).collect(),
    }
}

#[derive(Deserialize)]
struct TokenReply {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    expires_at: Option<String>,
    issued_at: Option<String>,
    catalog: Option<Vec<Json>>,
}

impl TokenReply {
    /// From `issued_at` to `expires_at` (Keystone's clock on both ends, so skew cancels).
    fn lifetime(&self) -> Option<Duration> {
        let parse = |s: &Option<String>| {
            chrono::DateTime::parse_from_rfc3339(s.as_deref()?)
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let ms = parse(&self.token.expires_at)? - parse(&self.token.issued_at)?;
        u64::try_from(ms).ok().map(Duration::from_millis)
    }
}

/// Gnocchi's URL in a v3 catalog: service type `metric` named `gnocchi` (or unnamed), an
/// endpoint of `interface` in `region` (any region when `None`), as keystoneauth1 filters it
/// for Ceilometer's `get_endpoint(service_type='metric', service_name='gnocchi', ...)`.
pub fn metric_endpoint(catalog: &[Json], interface: &str, region: Option<&str>) -> Option<String> {
    let services = catalog
        .iter()
        .filter(|s| s["type"] == "metric")
        .filter(|s| s["name"].as_str().is_none_or(|n| n.is_empty() || n == "gnocchi"));
    endpoint_of(services, interface, region)
}

/// The URL of the first of `types` the catalog has an endpoint of `interface` in `region`
/// for (`types` in order of preference: a service type and its aliases, as keystoneauth1
/// matches `volumev3` to `block-storage`).
pub fn service_endpoint(
    catalog: &[Json],
    types: &[&str],
    interface: &str,
    region: Option<&str>,
) -> Option<String> {
    types.iter().find_map(|t| {
        let services = catalog.iter().filter(|s| s["type"] == *t);
        endpoint_of(services, interface, region)
    })
}

/// Every URL the catalog has for `service_type` on `interface` in `region` (any region when
/// `None`), as registered, as keystoneauth1's `get_urls` gives Ceilometer's `endpoint:TYPE`
/// discovery.
pub fn service_urls(
    catalog: &[Json],
    service_type: &str,
    interface: &str,
    region: Option<&str>,
) -> Vec<String> {
    let services = catalog.iter().filter(|s| s["type"] == service_type);
    urls_of(services, interface, region).map(str::to_owned).collect()
}

fn endpoint_of<'a>(
    services: impl Iterator<Item = &'a Json>,
    interface: &'a str,
    region: Option<&'a str>,
) -> Option<String> {
    urls_of(services, interface, region)
        .next()
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// The non-empty URLs of `services`' endpoints on `interface` in `region`.
fn urls_of<'a>(
    services: impl Iterator<Item = &'a Json>,
    interface: &'a str,
    region: Option<&'a str>,
) -> impl Iterator<Item = &'a str> {
    services
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .filter(move |e| e["interface"] == interface)
        .filter(move |e| region.is_none_or(|r| e["region_id"].as_str().or(e["region"].as_str()) == Some(r)))
        .filter_map(|e| e["url"].as_str().filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KeystoneSettings {
        KeystoneSettings {
            auth_url: "http://ks:5000".into(),
            username: Some("ceilometer".into()),
            password: "secret".into(),
            user_domain_name: Some("Default".into()),
            project_name: Some("service".into()),
            project_domain_id: Some("default".into()),
            ..KeystoneSettings::default()
        }
    }

    #[test]
    fn an_application_credential_is_sent_by_id_or_by_name_with_its_user_and_no_scope() {
        let by_id = KeystoneSettings {
            application_credential_id: Some("ac1".into()),
            application_credential_secret: Some("s".into()),
            ..settings()
        };
        by_id.validate().unwrap();
        assert_eq!(
            by_id.auth_body(),
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"id": "ac1", "secret": "s"}}}})
        );
        assert_eq!(by_id.who(), "application credential ac1 at http://ks:5000");
        let by_name = KeystoneSettings {
            application_credential_name: Some("monitoring".into()),
            ..by_id.clone()
        };
        let by_name = KeystoneSettings {
            application_credential_id: None,
            ..by_name
        };
        assert_eq!(
            by_name.auth_body()["auth"]["identity"]["application_credential"],
            json!({"name": "monitoring", "secret": "s",
                   "user": {"name": "ceilometer", "domain": {"name": "Default"}}})
        );
        by_name.validate().unwrap();
        let no_domain = KeystoneSettings {
            user_domain_name: None,
            ..by_name.clone()
        };
        assert!(no_domain.validate().unwrap_err().contains("needs the user"));
        let no_user = KeystoneSettings {
            username: None,
            ..by_name
        };
        assert!(no_user.validate().unwrap_err().contains("needs the user"));
    }

    #[test]
    fn the_password_request_is_keystone_v3s() {
        let s = settings();
        assert_eq!(s.tokens_url(), "http://ks:5000/v3/auth/tokens");
        let with_v3 = KeystoneSettings {
            auth_url: "http://ks:5000/v3/".into(),
            ..settings()
        };
        assert_eq!(with_v3.tokens_url(), "http://ks:5000/v3/auth/tokens");
        assert_eq!(
            s.auth_body(),
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "ceilometer", "domain": {"name": "Default"}, "password": "secret"}}},
                "scope": {"project": {"name": "service", "domain": {"id": "default"}}}
            }})
        );
        let by_ids = KeystoneSettings {
            user_id: Some("u1".into()),
            project_id: Some("p1".into()),
            ..settings()
        };
        assert_eq!(
            by_ids.auth_body()["auth"]["identity"]["password"]["user"],
            json!({"id": "u1", "password": "secret"})
        );
        assert_eq!(
            by_ids.auth_body()["auth"]["scope"],
            json!({"project": {"id": "p1"}})
        );
        assert!(!s.who().contains("secret"));
        assert!(s.who().contains("ceilometer") && s.who().contains("http://ks:5000"));
    }

    #[test]
    fn settings_missing_what_keystone_needs_are_refused() {
        assert!(settings().validate().is_ok());
        let no_url = KeystoneSettings {
            auth_url: String::new(),
            ..settings()
        };
        assert!(no_url.validate().unwrap_err().contains("auth_url"));
        let no_domain = KeystoneSettings {
            user_domain_name: None,
            ..settings()
        };
        assert!(no_domain.validate().unwrap_err().contains("user_domain"));
        let bad_interface = KeystoneSettings {
            interface: Some("private".into()),
            ..settings()
        };
        assert!(bad_interface.validate().is_err());
        let url_suffix = KeystoneSettings {
            interface: Some("internalURL".into()),
            ..settings()
        };
        assert_eq!(url_suffix.interface(), Ok("internal"));
    }

    #[test]
    fn gnocchi_is_found_in_the_catalog_by_type_interface_and_region() {
        let catalog: Vec<Json> = serde_json::from_value(json!([
            {"type": "identity", "name": "keystone", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://ks/v3"}]},
            {"type": "metric", "name": "other-metrics", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://wrong"}]},
            {"type": "metric", "name": "gnocchi", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://g1:8041/"},
                {"interface": "internal", "region_id": "R1", "url": "http://g1-internal:8041"},
                {"interface": "public", "region_id": "R2", "url": "http://g2:8041"}]}
        ]))
        .unwrap();
        let find = |i, r| metric_endpoint(&catalog, i, r);
        assert_eq!(find("public", Some("R1")).as_deref(), Some("http://g1:8041"));
        assert_eq!(find("public", Some("R2")).as_deref(), Some("http://g2:8041"));
        assert_eq!(find("internal", None).as_deref(), Some("http://g1-internal:8041"));
        assert_eq!(find("admin", None), None);
        assert_eq!(find("public", Some("R3")), None);
    }

    #[test]
    fn every_url_of_a_type_interface_and_region_is_listed_as_registered() {
        let catalog: Vec<Json> = serde_json::from_value(json!([
            {"type": "image", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://glance-a:9292/"},
                {"interface": "internal", "region_id": "R1", "url": "http://glance-internal:9292"},
                {"interface": "public", "region_id": "R2", "url": "http://glance-b:9292"},
                {"interface": "public", "region_id": "R1", "url": ""}]},
            {"type": "image", "endpoints": [
                {"interface": "public", "region": "R1", "url": "http://glance-c:9292"}]},
            {"type": "volumev3", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://cinder:8776"}]}
        ]))
        .unwrap();
        let urls = |i, r| service_urls(&catalog, "image", i, r);
        assert_eq!(
            urls("public", Some("R1")),
            ["http://glance-a:9292/", "http://glance-c:9292"]
        );
        assert_eq!(
            urls("public", None),
            [
                "http://glance-a:9292/",
                "http://glance-b:9292",
                "http://glance-c:9292"
            ]
        );
        assert_eq!(urls("internal", None), ["http://glance-internal:9292"]);
        assert!(urls("admin", None).is_empty());
        assert!(service_urls(&catalog, "metric", "public", None).is_empty());
    }

    #[test]
    fn a_service_is_found_by_the_first_of_its_types_the_catalog_has() {
        let catalog: Vec<Json> = serde_json::from_value(json!([
            {"type": "block-storage", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://bs:8776/v3/p"}]},
            {"type": "volumev3", "endpoints": [
                {"interface": "public", "region_id": "R1", "url": "http://v3:8776/v3/p/"},
                {"interface": "internal", "region": "R2", "url": "http://v3-internal:8776/v3/p"}]}
        ]))
        .unwrap();
        let find = |types: &[&str], i, r| service_endpoint(&catalog, types, i, r);
        let aliases = ["volumev3", "block-storage"];
        assert_eq!(
            find(&aliases, "public", None).as_deref(),
            Some("http://v3:8776/v3/p")
        );
        assert_eq!(
            find(&["block-storage", "volumev3"], "public", None).as_deref(),
            Some("http://bs:8776/v3/p")
        );
        // Not in R2 under the first type: the alias that has it.
        assert_eq!(
            find(&aliases, "internal", Some("R2")).as_deref(),
            Some("http://v3-internal:8776/v3/p")
        );
        assert_eq!(find(&["block-storage"], "internal", None), None);
        assert_eq!(find(&["volume"], "public", None), None);
    }

    #[test]
    fn a_tokens_lifetime_is_keystones_issued_to_expires() {
        let reply: TokenReply = serde_json::from_value(json!({"token": {
            "issued_at": "2026-12-03T22:41:26.000000Z",
            "expires_at": "2026-12-03T22:42:26.000000Z"}}))
        .unwrap();
        assert_eq!(reply.lifetime(), Some(Duration::from_secs(60)));
    }
}
