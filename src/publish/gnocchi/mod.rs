//! `gnocchi://`: Ceilometer's default publisher — samples become measures of Gnocchi metrics
//! on resources typed and described by gnocchi_resources.yaml; events create, update and end
//! those resources.
//!
//! Layout: [`resources`] compiles gnocchi_resources.yaml; [`client`] is the HTTP client (basic
//! auth or [`crate::keystone`], timeout, and the retry/refuse split of outcomes); [`batch`] groups samples per resource
//! and pushes measures, creations and attribute updates; [`creation`] creates the resources
//! Gnocchi does not know once across concurrent flushes; [`events`] applies the event rules;
//! this module parses the URL options, says how Gnocchi is reached ([`GnocchiAccess`], taken
//! from ceilo.yaml's `gnocchi:` settings by the agent) and is the [`Output`] the publisher
//! actor drives.
//!
//! Delivery: a flush is durable (and its deliveries acked) only when Gnocchi accepted all of it.
//! Gnocchi down, 5xx, 401/403 or a timeout fail the flush and the publisher actor retries it
//! with backoff; only the work not yet done is redone. A 4xx about one resource (its creation,
//! its measures, its attributes) takes that resource's samples out of the batch: they are
//! logged, counted (`ceilo_samples_refused_total`) and published to the dead-letter exchange,
//! and the rest of the batch goes through. Ceilometer logs and drops in all these cases.
//!
//! The filtered project (`enable_filter_project`): with Keystone, `filter_project` in
//! `filter_domain` is looked up there once, before the first flush is grouped (Keystone down:
//! the flush waits and is retried; no such project: a warning and nothing is filtered, as in
//! Ceilometer); with basic auth, `gnocchi.filter_project_id` gives its id.

pub mod batch;
pub mod client;
pub mod creation;
pub mod events;
pub mod resource_types;
pub mod resources;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Method;

use super::{Items, Output, PublishError, Write};
use crate::model::Event;
use crate::problem::Problem;
use crate::telemetry::metrics::SAMPLES_REFUSED;
use batch::{AttributeCache, Grouped, ProjectFilter, Refused};
use client::{GnocchiClient, Unavailable};
use creation::Creations;
use resources::Resources;

/// `gnocchi://` URL options, as Ceilometer's `GnocchiPublisher` reads them (the last value
/// of a repeated option wins, as with `parse_qs(...)[-1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct GnocchiOptions {
    /// `archive_policy`: overrides every metric's policy.
    pub archive_policy: Option<String>,
    /// `resources_definition_file`: in the config dir; the shipped file when it is not there.
    pub resources_definition_file: String,
    /// `timeout`: per HTTP request, seconds (6.05).
    pub timeout: Duration,
    /// `enable_filter_project` (true): skip the Gnocchi service project's own activity.
    pub enable_filter_project: bool,
    /// `filter_project` (`service`) and `filter_domain` (`Default`): the project looked up in
    /// Keystone (with basic auth, its id is `gnocchi.filter_project_id`).
    pub filter_project: String,
    pub filter_domain: String,
}

impl Default for GnocchiOptions {
    fn default() -> Self {
        GnocchiOptions {
            archive_policy: None,
            resources_definition_file: "gnocchi_resources.yaml".into(),
            timeout: Duration::from_secs_f64(6.05),
            enable_filter_project: true,
            filter_project: "service".into(),
            filter_domain: "Default".into(),
        }
    }
}

impl GnocchiOptions {
    /// From the URL's query pairs; `Err((option, reason))` for a value that does not parse.
    /// As `parse_qs` reads them, a blank value is no value: the default stays.
    pub fn from_query(pairs: &[(String, String)]) -> Result<GnocchiOptions, (String, String)> {
        let mut o = GnocchiOptions::default();
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            match k.as_str() {
                "archive_policy" => o.archive_policy = Some(v.clone()),
                "resources_definition_file" => o.resources_definition_file = v.clone(),
                "timeout" => {
                    let secs: f64 = v
                        .parse()
                        .map_err(|_| (k.clone(), format!("{v:?} is not a number of seconds")))?;
                    o.timeout = crate::duration::seconds(secs)
                        .ok_or_else(|| (k.clone(), format!("must be {}", crate::duration::EXPECTED)))?;
                }
                "enable_filter_project" => o.enable_filter_project = super::url::bool_from_string(v),
                "filter_project" => o.filter_project = v.clone(),
                "filter_domain" => o.filter_domain = v.clone(),
                _ => {} // Ceilometer ignores options it does not know, too
            }
        }
        Ok(o)
    }
}

/// Where Gnocchi is and who ceilo is to it: plain values, which the agent takes from
/// ceilo.yaml's `gnocchi:` section and `service_credentials` (this module does not read the
/// settings).
#[derive(Debug, Clone, PartialEq)]
pub enum GnocchiAccess {
    /// Gnocchi's basic auth (`[api] auth_mode = basic`). `endpoint` unset:
    /// [`DEFAULT_ENDPOINT`]. `filter_project_id`: the project whose activity
    /// `enable_filter_project` skips (unset: nothing is filtered, with a warning when a
    /// `gnocchi://` URL asks for filtering).
    Basic {
        endpoint: Option<String>,
        user: String,
        password: String,
        filter_project_id: Option<String>,
    },
    /// Keystone v3 password: the token, and Gnocchi's endpoint when `endpoint` is unset, come
    /// from Keystone; so does the filtered project's id.
    Keystone {
        endpoint: Option<String>,
        keystone: Box<crate::keystone::KeystoneSettings>,
    },
}

impl GnocchiAccess {
    /// A client of Gnocchi's API with these credentials, its requests bounded by `timeout`.
    pub fn client(&self, timeout: std::time::Duration) -> Result<GnocchiClient, String> {
        match self {
            GnocchiAccess::Keystone { endpoint, keystone } => {
                GnocchiClient::keystone(endpoint.as_deref(), keystone, timeout)
            }
            GnocchiAccess::Basic {
                endpoint,
                user,
                password,
                ..
            } => GnocchiClient::basic(
                endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT),
                user,
                password,
                timeout,
            ),
        }
    }
}

/// Why a `gnocchi://` publisher cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum GnocchiError {
    /// gnocchi_resources.yaml cannot be used.
    #[error(transparent)]
    Resources(#[from] Problem),
    #[error("gnocchi: {0}")]
    Client(String),
}

pub use super::dead_letter::DeadLetters;

/// Where Gnocchi is with basic auth and no `gnocchi.endpoint`.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8041";

/// What every flush of one publisher shares.
struct Shared {
    name: String,
    client: GnocchiClient,
    resources: Resources,
    cache: AttributeCache,
    creations: Creations,
    filter: Filter,
    warned_meters: Mutex<HashSet<String>>,
    /// Set once the archive policies exist; concurrent flushes wait for the one creating them.
    policies_ready: tokio::sync::OnceCell<()>,
    warned_events: Mutex<HashSet<String>>,
    dead_letters: Option<DeadLetters>,
}

/// Whose activity is filtered out.
enum Filter {
    Off,
    /// The project id (`None`: the project was not found; nothing is filtered).
    Known(Option<String>),
    /// To look up in Keystone before the first flush: (project, domain), then the answer.
    Keystone {
        project: String,
        domain: String,
        found: tokio::sync::OnceCell<Option<String>>,
    },
}

/// What is left to do of one flush (shrinks as parts succeed, so a retry redoes only the rest).
struct Job {
    samples: Vec<crate::model::Sample>,
    /// Grouped on the first try (after the filtered project is known).
    grouped: Option<Grouped>,
    measures_posted: bool,
    events: Vec<Event>,
    next_event: usize,
    refused: Vec<Refused>,
}

pub struct GnocchiOutput {
    shared: Arc<Shared>,
}

impl GnocchiOutput {
    /// Load the resource definitions (config dir first) and set up the client. The definitions
    /// it skips are not logged here: [`check_resources`], which the agent runs before it builds
    /// any publisher, reports them once.
    pub fn new(
        options: &GnocchiOptions,
        access: &GnocchiAccess,
        config_dir: &Path,
        dead_letters: Option<DeadLetters>,
    ) -> Result<GnocchiOutput, GnocchiError> {
        let file = resources::file_in(config_dir, &options.resources_definition_file);
        let (resources, _skipped) = Resources::load(
            config_dir,
            &options.resources_definition_file,
            options.archive_policy.as_deref(),
        )?;
        let client = access.client(options.timeout).map_err(GnocchiError::Client)?;
        let filter_project_id = match access {
            GnocchiAccess::Basic {
                filter_project_id, ..
            } => filter_project_id.clone(),
            GnocchiAccess::Keystone { .. } => None,
        };
        let filter = if !options.enable_filter_project {
            Filter::Off
        } else if client.keystone_session().is_some() {
            Filter::Keystone {
                project: options.filter_project.clone(),
                domain: options.filter_domain.clone(),
                found: tokio::sync::OnceCell::new(),
            }
        } else {
            if filter_project_id.is_none() {
                tracing::warn!(
                    project = options.filter_project,
                    domain = options.filter_domain,
                    "gnocchi:// asks to filter the Gnocchi project's activity but gnocchi.filter_project_id is not set (basic auth, no Keystone to look it up in): nothing is filtered"
                );
            }
            Filter::Known(filter_project_id)
        };
        tracing::info!(
            endpoint = client.endpoint(),
            resources = %file.display(),
            "gnocchi publisher ready"
        );
        Ok(GnocchiOutput {
            shared: Arc::new(Shared {
                name: format!("gnocchi://{}", client.endpoint()),
                client,
                resources,
                cache: AttributeCache::default(),
                creations: Creations::default(),
                filter,
                warned_meters: Mutex::new(HashSet::new()),
                policies_ready: tokio::sync::OnceCell::new(),
                warned_events: Mutex::new(HashSet::new()),
                dead_letters,
            }),
        })
    }
}

/// The resource definitions files the `gnocchi://` publishers among `urls` would load, each
/// checked once (a file several publishers name, as Ceilometer's two shipped pipelines do, is
/// one), without a client: for each, the file and the definitions it skips, or the problem that
/// makes it unusable. `ceilo check` and `ceilo run` (before it starts anything) both call this.
pub fn check_resources<'u>(
    urls: impl IntoIterator<Item = &'u super::PublisherUrl>,
    config_dir: &Path,
) -> Vec<Result<(std::path::PathBuf, Vec<Problem>), Problem>> {
    let mut seen = HashSet::new();
    urls.into_iter()
        .filter_map(|url| match url {
            super::PublisherUrl::Gnocchi(options) => Some(options),
            _ => None,
        })
        .filter(|options| seen.insert(options.resources_definition_file.as_str()))
        .map(|options| {
            let name = &options.resources_definition_file;
            let (_, skipped) = Resources::load(config_dir, name, options.archive_policy.as_deref())?;
            Ok((resources::file_in(config_dir, name), skipped))
        })
        .collect()
}

impl Shared {
    /// Create the archive policies the file names (once per publisher; 409 = already there).
    async fn ensure_archive_policies(&self) -> Result<(), Unavailable> {
        self.policies_ready
            .get_or_try_init(|| async {
                for policy in &self.resources.archive_policies {
                    let reply = self
                        .client
                        .call(Method::POST, "archive_policy", Some(policy))
                        .await?;
                    if !reply.is_success() && reply.status != 409 {
                        tracing::error!(policy = %policy.get("name").unwrap_or(&serde_json::Value::Null), status = reply.status, reason = reply.description(), "cannot create an archive policy");
                    }
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The id of the project whose activity is filtered out (looked up in Keystone once).
    async fn filter_project_id(&self) -> Result<Option<&str>, Unavailable> {
        match &self.filter {
            Filter::Off => Ok(None),
            Filter::Known(id) => Ok(id.as_deref()),
            Filter::Keystone {
                project,
                domain,
                found,
            } => {
                let id = found
                    .get_or_try_init(|| async {
                        let keystone = self.client.keystone_session().ok_or_else(|| Unavailable {
                            method: Method::GET,
                            url: String::new(),
                            reason: "no keystone session".into(),
                            status: None,
                        })?;
                        let id = keystone.find_project(project, domain).await?;
                        match &id {
                            Some(id) => tracing::info!(
                                project,
                                domain,
                                id,
                                "the filtered project (its activity is not sent to Gnocchi)"
                            ),
                            None => tracing::warn!(
                                project,
                                domain,
                                "filtered project not found in keystone, ignoring the filter_project option"
                            ),
                        }
                        Ok::<_, Unavailable>(id)
                    })
                    .await?;
                Ok(id.as_deref())
            }
        }
    }

    async fn run(&self, job: &mut Job) -> Result<(), PublishError> {
        let unavailable = PublishError::Gnocchi;
        if job.grouped.is_none() {
            let project_id = self.filter_project_id().await.map_err(unavailable)?;
            let filter = project_id.map(|project_id| ProjectFilter { project_id });
            let mut warned = self.warned_meters.lock().unwrap_or_else(|p| p.into_inner());
            job.grouped = Some(batch::group(
                &job.samples,
                &self.resources,
                filter.as_ref(),
                &mut warned,
            ));
        }
        let grouped = job.grouped.as_mut().expect("grouped above");
        if !grouped.resources.is_empty() {
            self.ensure_archive_policies().await.map_err(unavailable)?;
            let refused = batch::push(
                &self.client,
                grouped,
                &mut job.measures_posted,
                &self.cache,
                &self.creations,
            )
            .await
            .map_err(unavailable)?;
            job.refused.extend(refused);
        }
        while job.next_event < job.events.len() {
            let mut warned =
                std::mem::take(&mut *self.warned_events.lock().unwrap_or_else(|p| p.into_inner()));
            let res = events::apply(
                &self.client,
                &self.resources,
                &self.cache,
                &job.events[job.next_event],
                &mut warned,
            )
            .await;
            *self.warned_events.lock().unwrap_or_else(|p| p.into_inner()) = warned;
            res.map_err(unavailable)?;
            job.next_event += 1;
        }
        if !job.refused.is_empty() {
            self.dead_letter(job).await?;
        }
        Ok(())
    }

    /// Publish refused samples to the dead-letter exchange (confirmed), then count them.
    async fn dead_letter(&self, job: &mut Job) -> Result<(), PublishError> {
        let count: usize = job.refused.iter().map(|r| r.samples.len()).sum();
        if let Some(dl) = &self.dead_letters {
            let messages: Arc<[_]> = job
                .refused
                .iter()
                .map(|r| {
                    let mut body = b"[".to_vec();
                    for (n, &i) in r.samples.iter().enumerate() {
                        if n > 0 {
                            body.extend_from_slice(b", ");
                        }
                        crate::model::sample::write_sample_as_dict(&mut body, &job.samples[i]);
                    }
                    body.push(b']');
                    super::dead_letter::refused(
                        &dl.exchange,
                        body,
                        format!("{}: resource {}: {}", self.name, r.resource_id, r.reason),
                        "gnocchi".into(),
                    )
                })
                .collect();
            dl.publisher.publish(messages).await?;
        } else {
            tracing::error!(
                samples = count,
                "no dead-letter exchange: refused samples are only logged"
            );
        }
        metrics::counter!(SAMPLES_REFUSED, "publisher" => "gnocchi").increment(count as u64);
        job.refused.clear();
        Ok(())
    }
}

impl Output for GnocchiOutput {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let job = Arc::new(tokio::sync::Mutex::new(Job {
            samples: flush.samples,
            grouped: None,
            measures_posted: false,
            events: flush.events,
            next_event: 0,
            refused: Vec::new(),
        }));
        let shared = self.shared.clone();
        Ok(Arc::new(move || {
            let (job, shared) = (job.clone(), shared.clone());
            Box::pin(async move {
                let mut job = job.lock().await;
                shared.run(&mut job).await
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn url_options_as_ceilometer_reads_them() {
        let o = GnocchiOptions::from_query(&pairs(
            "archive_policy=low&archive_policy=high&timeout=2.5&enable_filter_project=false&filter_project=gnocchi&filter_domain=ops&resources_definition_file=r.yaml",
        ))
        .unwrap();
        assert_eq!(o.filter_domain, "ops");
        assert_eq!(o.archive_policy.as_deref(), Some("high"));
        assert_eq!(o.timeout, Duration::from_millis(2500));
        assert!(!o.enable_filter_project);
        assert_eq!(o.filter_project, "gnocchi");
        assert_eq!(o.resources_definition_file, "r.yaml");
        let d = GnocchiOptions::from_query(&[]).unwrap();
        assert_eq!(d, GnocchiOptions::default());
        assert!(d.enable_filter_project);
        // Blank values are dropped by `parse_qs`: the defaults stay.
        assert_eq!(
            GnocchiOptions::from_query(&pairs("filter_project=&timeout=&archive_policy=")).unwrap(),
            GnocchiOptions::default()
        );
        assert!(GnocchiOptions::from_query(&pairs("timeout=soon")).is_err());
        assert!(GnocchiOptions::from_query(&pairs("timeout=0")).is_err());
    }
}
