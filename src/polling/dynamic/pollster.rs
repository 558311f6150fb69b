//! The dynamic pollster itself: a definition plus the HTTP client it polls with (or the host
//! command it runs), following next-page links, with the definition's timeout and a cap on
//! body size and pages. With the agent's Keystone session (`service_credentials`) every request
//! carries its token, renewed and sent again once when refused (401), and goes out through the
//! session's client (its `cafile`, `insecure`): Ceilometer sends every dynamic pollster's
//! request through its Keystone session (`authenticated=True`).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::definition::DynamicDefinition;
use super::url::url_join;
use crate::http::client::{http_client, HttpClient};
use crate::keystone::Keystone;
use crate::model::Sample;
use crate::polling::discovery::Resource;
use crate::polling::pollster::{MeterSpec, PollContext, PollError};

/// The largest response body read (protects the agent from a runaway API).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Pages followed at most per resource and poll (protects against a `next` loop).
const MAX_PAGES: usize = 1000;

/// A dynamic pollster: its definition plus the HTTP client it polls with.
pub struct DynamicPollster {
    def: DynamicDefinition,
    meters: Vec<MeterSpec>,
    client: HttpClient,
    /// The agent's Keystone session, whose token every request carries (none without
    /// `service_credentials`).
    keystone: Option<Arc<Keystone>>,
}

impl DynamicPollster {
    pub fn new(def: DynamicDefinition, keystone: Option<Arc<Keystone>>) -> Self {
        Self {
            meters: vec![def.meter.clone()],
            client: keystone.as_ref().map_or_else(http_client, |k| k.http().clone()),
            keystone,
            def,
        }
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub fn namespaces(&self) -> &[String] {
        &self.def.namespaces
    }

    pub fn default_discovery(&self) -> String {
        match (&self.def.host_command, &self.def.endpoint_type) {
            (Some(_), _) => "local_node".into(),
            (None, Some(t)) => format!("endpoint:{t}"),
            (None, None) => "local_node".into(),
        }
    }

    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        if !mask.first().copied().unwrap_or(false) {
            return Ok(());
        }
        if let Some(cmd) = &self.def.host_command {
            let body = self.run_command(cmd).await?;
            let response = self.def.handle(&body).map_err(PollError::Transient)?;
            let (samples, _) = self.def.extract(response, ctx).map_err(PollError::Transient)?;
            out.extend(samples);
            return Ok(());
        }
        let Resource::Endpoint(base) = resource else {
            return Err(PollError::Permanent(format!(
                "dynamic pollster {} needs an endpoint URL, not {:?}",
                self.def.name,
                resource.key()
            )));
        };
        let mut url = url_join(base, &self.def.url_path);
        for _ in 0..MAX_PAGES {
            let body = self.get(&url).await?;
            let response = self
                .def
                .handle(&body)
                .map_err(|e| PollError::Transient(format!("{url}: {e}")))?;
            let (samples, next) = self
                .def
                .extract(response, ctx)
                .map_err(|e| PollError::Transient(format!("{url}: {e}")))?;
            out.extend(samples);
            match next {
                Some(n) => url = url_join(base, &n),
                None => return Ok(()),
            }
        }
        Err(PollError::Transient(format!(
            "{}: more than {MAX_PAGES} pages",
            self.def.name
        )))
    }

    /// The body of a GET of `url`, with the session's token when there is one (renewed and
    /// asked again once when refused).
    async fn get(&self, url: &str) -> Result<Bytes, PollError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| PollError::Permanent(format!("{url}: not a valid URL: {e}")))?;
        let Some(keystone) = &self.keystone else {
            return self.send(&uri, url, None).await.map_err(PollError::from);
        };
        let uri = &uri;
        let send =
            |token: crate::keystone::Token| async move { self.send(uri, url, Some(&token.header)).await };
        let refused = |reply: &Result<Bytes, Refused>| matches!(reply, Err(Refused::Unauthorized(_)));
        let reply = keystone
            .with_token(&self.def.name, send, refused)
            .await
            .map_err(|e| PollError::Transient(e.to_string()))?;
        reply.map_err(PollError::from)
    }

    async fn send(
        &self,
        uri: &hyper::Uri,
        url: &str,
        token: Option<&hyper::header::HeaderValue>,
    ) -> Result<Bytes, Refused> {
        let mut req = hyper::Request::get(uri.clone());
        for (k, v) in &self.def.headers {
            req = req.header(k, v);
        }
        if let Some(token) = token {
            req = req.header("x-auth-token", token.clone());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| Refused::Other(PollError::Permanent(format!("{url}: {e}"))))?;
        let fetch = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| PollError::Transient(format!("GET {url}: {e}")))?;
            let status = resp.status();
            if status == hyper::StatusCode::UNAUTHORIZED {
                return Err(Refused::Unauthorized(format!("GET {url}: HTTP {status}")));
            }
            if !status.is_success() {
                return Err(PollError::Transient(format!("GET {url}: HTTP {status}")).into());
            }
            Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| PollError::Transient(format!("GET {url}: reading the body: {e}")).into())
        };
        let timed_out = || PollError::Transient(format!("GET {url}: timed out after {:?}", self.def.timeout));
        tokio::time::timeout(self.def.timeout, fetch)
            .await
            .map_err(|_| Refused::Other(timed_out()))?
    }

    async fn run_command(&self, cmd: &str) -> Result<Vec<u8>, PollError> {
        let run = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(self.def.timeout, run)
            .await
            .map_err(|_| PollError::Transient(format!("host command {cmd:?} timed out")))?
            .map_err(|e| PollError::Transient(format!("host command {cmd:?}: {e}")))?;
        // subprocess.getoutput: stdout and stderr together, the last newline stripped.
        let mut body = output.stdout;
        body.extend_from_slice(&output.stderr);
        if body.last() == Some(&b'\n') {
            body.pop();
        }
        Ok(body)
    }
}

/// Why a request got no body: refused for its token (401), or anything else.
enum Refused {
    Unauthorized(String),
    Other(PollError),
}

impl From<PollError> for Refused {
    fn from(e: PollError) -> Refused {
        Refused::Other(e)
    }
}

impl From<Refused> for PollError {
    fn from(refused: Refused) -> PollError {
        match refused {
            Refused::Unauthorized(why) => PollError::Transient(why),
            Refused::Other(e) => e,
        }
    }
}
