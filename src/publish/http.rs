//! `http://`, `https://`: samples and events as JSON POSTs, the bodies byte for byte as
//! Ceilometer's `HttpPublisher` sends them (`Content-type: application/json`):
//!
//! * samples: a list of `Sample.as_dict()`;
//! * events: a list of `event.serialize()`, or with `raw_only` the raw notification payloads
//!   (events without a truthy `raw.payload` are left out, as Ceilometer does);
//! * `batch=true` (the default): one POST per flush; `batch=false`: one POST per item, each
//!   body the item alone.
//!
//! Unlike Ceilometer, which logs and drops what a POST failed to deliver, a flush is durable
//! only when every POST got a 2xx answer: anything else (a refused connection, a timeout, a
//! 5xx, a 4xx) fails the flush, and the publisher actor retries it with backoff while its
//! deliveries stay unacked. With `batch=false` a retry resumes at the first item not yet
//! accepted, so an item is posted again only when its answer was lost.
//!
//! [`HttpSender`] is the client side that `prometheus://` and `opentelemetryhttp://` post with
//! too: the target URL, basic auth from the userinfo, TLS (`verify_ssl`, `clientcert`/
//! `clientkey`) and the per-request `timeout`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;

use super::dead_letter::DeadLetters;
use super::url::{HttpTarget, VerifySsl};
use super::{Items, Output, PublishError, Write};
use crate::event::message::write_event_serialized;
use crate::http::client::HttpClient;
use crate::model::json_write::{write_list, write_value};
use crate::model::sample::write_sample_as_dict;
use crate::model::{Event, OwnedValue, Payload};
use crate::telemetry::metrics::{LABEL_PUBLISHER, SAMPLES_REFUSED};

/// Why an HTTP publisher cannot be set up (its TLS files).
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{url}: not a valid URL: {reason}")]
    Url { url: String, reason: String },
}

/// What a POST came to, when it did not fail in a way a retry can fix.
#[derive(Debug, PartialEq)]
pub enum Posted {
    /// A 2xx answer.
    Accepted,
    /// 400, 413, 415 or 422: the request itself is refused, and sending it again cannot help.
    /// The text says the status and the start of the answer.
    Refused(String),
}

/// Answers about the request itself: the same bytes will be refused again.
pub(crate) fn refuses_for_good(status: hyper::StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 413 | 415 | 422)
}

/// Posts bodies to one target and tells whether the server accepted them (2xx).
pub struct HttpSender {
    client: HttpClient,
    url: String,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    content_type: HeaderValue,
}

impl HttpSender {
    pub fn new(target: &HttpTarget, content_type: &'static str) -> Result<HttpSender, HttpSetupError> {
        let authorization = target.basic_auth.as_ref().map(|(user, password)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            // Base64 is always a valid header value.
            HeaderValue::from_str(&format!("Basic {token}")).unwrap_or(HeaderValue::from_static(""))
        });
        Ok(HttpSender {
            client: client(target)?,
            url: target.url.clone(),
            authorization,
            timeout: target.timeout,
            content_type: HeaderValue::from_static(content_type),
        })
    }

    /// The target URL (without userinfo and options).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POST `body` to the target (or to `url` when given): accepted (2xx) or refused for good
    /// ([`Posted::Refused`]); any other outcome (no connection, timeout, 3xx, 401, 404, 429,
    /// 5xx...) is an error, to be retried.
    pub async fn post(&self, url: Option<&str>, body: Bytes) -> Result<Posted, PublishError> {
        let url = url.unwrap_or(&self.url);
        let fail = |reason: String| PublishError::Http {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| fail(format!("bad URL: {e}")))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, self.content_type.clone());
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request.body(Full::new(body)).map_err(|e| fail(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                // The hyper-util error alone says "client error (Connect)": add its cause.
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    reason.push_str(": ");
                    reason.push_str(&s.to_string());
                    source = s.source();
                }
                fail(reason)
            })?;
            let status = response.status();
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            if status.is_success() {
                return Ok(Posted::Accepted);
            }
            let text = body.unwrap_or_default();
            let text = String::from_utf8_lossy(&text[..text.len().min(200)]).into_owned();
            if refuses_for_good(status) {
                return Ok(Posted::Refused(format!("HTTP {status}: {text}")));
            }
            Err(fail(format!("HTTP {status}: {text}")))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(fail(format!("no answer in {:?}", self.timeout))),
        }
    }
}

fn file_error(path: &std::path::Path, reason: impl std::fmt::Display) -> HttpSetupError {
    HttpSetupError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The HTTP(S) client of one target: its roots (`verify_ssl`) and client certificate.
fn client(target: &HttpTarget) -> Result<HttpClient, HttpSetupError> {
    let (builder, provider) = crate::tls::client_builder()?;
    let builder = match &target.verify_ssl {
        VerifySsl::System => builder.with_root_certificates(crate::tls::system_roots()),
        VerifySsl::CaFile(path) => {
            builder.with_root_certificates(crate::tls::ca_roots(path).map_err(|e| file_error(path, e))?)
        }
        // `verify_ssl=False`: any server certificate is accepted.
        VerifySsl::No => builder
            .dangerous()
            .with_custom_certificate_verifier(crate::http::client::any_certificate(provider)),
    };
    let config = match &target.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_path, key_path)) => {
            let certs = crate::tls::certificates(cert_path).map_err(|e| file_error(cert_path, e))?;
            // As `requests`: without `clientkey`, the key is in the certificate's file.
            let key_path = key_path.as_ref().unwrap_or(cert_path);
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| file_error(key_path, e))?;
            builder.with_client_auth_cert(certs, key)?
        }
    };
    Ok(crate::http::client::http_client_with(config))
}

/// What an HTTP publisher does with a body its receiver refused for good: log it, publish it to
/// the dead-letter exchange (confirmed: only then does the flush go on), and count its samples
/// in `ceilo_samples_refused_total`. Never retried, never dropped unseen.
#[derive(Clone)]
pub struct Refusals {
    /// The publisher's URL, for logs and the dead letter's reason.
    pub name: String,
    /// The `publisher` label and the dead letter's routing key (`http`, `prometheus`, ...).
    pub scheme: &'static str,
    pub dead_letters: Option<DeadLetters>,
}

impl Refusals {
    pub async fn refused(&self, body: Bytes, samples: usize, reason: &str) -> Result<(), PublishError> {
        tracing::error!(publisher = %self.name, samples, reason,
            "the receiver refused a request for good: dead-lettered, not retried");
        if let Some(dl) = &self.dead_letters {
            let message = super::dead_letter::refused(
                &dl.exchange,
                body.to_vec(),
                format!("{}: {reason}", self.name),
                self.scheme.to_owned(),
            );
            dl.publisher.publish(Arc::from([message])).await?;
        }
        metrics::counter!(SAMPLES_REFUSED, LABEL_PUBLISHER => self.scheme).increment(samples as u64);
        Ok(())
    }
}

/// `raw_only`: the event's `raw.payload`, when it is truthy.
fn raw_payload(event: &Event) -> Option<&OwnedValue> {
    use simd_json::prelude::*;
    event.raw.get("payload").filter(|p| crate::model::py::truthy(*p))
}

pub struct HttpOutput {
    name: String,
    carries: Payload,
    sender: Arc<HttpSender>,
    batch: bool,
    raw_only: bool,
    refusals: Refusals,
}

impl HttpOutput {
    /// `dead_letters`: where bodies refused for good go (400, 413, 415, 422).
    pub fn new(
        target: &HttpTarget,
        carries: Payload,
        dead_letters: Option<DeadLetters>,
    ) -> Result<HttpOutput, HttpSetupError> {
        let sender = HttpSender::new(target, "application/json")?;
        let name = sender.url().to_owned();
        Ok(HttpOutput {
            refusals: Refusals {
                name: name.clone(),
                scheme: if name.starts_with("https:") {
                    "https"
                } else {
                    "http"
                },
                dead_letters,
            },
            name,
            carries,
            sender: Arc::new(sender),
            batch: target.batch,
            raw_only: target.raw_only,
        })
    }

    /// The bodies one flush is posted as (none when it holds nothing for this publisher).
    pub fn encode(&self, flush: &Items) -> Vec<Bytes> {
        let mut items: Vec<Vec<u8>> = Vec::new();
        match self.carries {
            Payload::Samples => {
                for s in &flush.samples {
                    let mut out = Vec::with_capacity(512);
                    write_sample_as_dict(&mut out, s);
                    items.push(out);
                }
            }
            Payload::Events => {
                for e in &flush.events {
                    let mut out = Vec::with_capacity(512);
                    if self.raw_only {
                        match raw_payload(e) {
                            Some(payload) => write_value(&mut out, payload),
                            None => continue,
                        }
                    } else {
                        write_event_serialized(&mut out, e);
                    }
                    items.push(out);
                }
            }
        }
        if items.is_empty() {
            // Ceilometer posts nothing for an empty batch ("Data set is empty!").
            return Vec::new();
        }
        if !self.batch {
            return items.into_iter().map(Bytes::from).collect();
        }
        let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 2).sum::<usize>() + 2);
        write_list(&mut body, &items, |out: &mut Vec<u8>, item| {
            out.extend_from_slice(item)
        });
        vec![Bytes::from(body)]
    }
}

impl Output for HttpOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let bodies = self.encode(&flush);
        // Samples per body, for the refused count (events are not counted there).
        let per_body = match (self.carries, self.batch) {
            (Payload::Samples, true) => flush.samples.len(),
            (Payload::Samples, false) => 1,
            (Payload::Events, _) => 0,
        };
        let posts: Arc<[(Option<String>, Bytes, usize)]> =
            bodies.into_iter().map(|b| (None, b, per_body)).collect();
        Ok(post_all(posts, self.sender.clone(), self.refusals.clone()))
    }
}

/// The write of a flush posted as `posts` (`(url, body, samples in it)`, `None`: the target):
/// in order, a retry resuming at the first post not yet accepted or dead-lettered.
pub fn post_all(
    posts: Arc<[(Option<String>, Bytes, usize)]>,
    sender: Arc<HttpSender>,
    refusals: Refusals,
) -> Write {
    let done = Arc::new(AtomicUsize::new(0));
    Arc::new(move || {
        let (posts, sender, refusals, done) = (posts.clone(), sender.clone(), refusals.clone(), done.clone());
        Box::pin(async move {
            while let Some((url, body, samples)) = posts.get(done.load(Ordering::Acquire)) {
                if let Posted::Refused(reason) = sender.post(url.as_deref(), body.clone()).await? {
                    refusals.refused(body.clone(), *samples, &reason).await?;
                }
                done.fetch_add(1, Ordering::AcqRel);
            }
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::fixtures;
    use crate::publish::PublisherUrl;

    fn output(url: &str, carries: Payload) -> HttpOutput {
        match PublisherUrl::parse(url).unwrap() {
            PublisherUrl::Http(target) => HttpOutput::new(&target, carries, None).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn flush_of_fixture_samples() -> Items {
        Items {
            samples: fixtures::samples(),
            ..Items::default()
        }
    }

    #[test]
    fn batch_body_is_what_ceilometer_posts() {
        let posts = fixtures::posts("http_batch.json");
        assert_eq!(posts.len(), 1);
        let out = output("http://127.0.0.1:1/post?x=1", Payload::Samples);
        assert_eq!(out.sender.url(), "http://127.0.0.1:1/post?x=1");
        let bodies = out.encode(&flush_of_fixture_samples());
        assert_eq!(bodies.len(), 1);
        assert_eq!(std::str::from_utf8(&bodies[0]).unwrap(), posts[0].2);
        assert_eq!(posts[0].1, "application/json");
    }

    #[test]
    fn unbatched_bodies_are_what_ceilometer_posts_one_by_one() {
        let posts = fixtures::posts("http_single.json");
        assert_eq!(posts.len(), fixtures::samples().len());
        let out = output("http://127.0.0.1:1/post?batch=False", Payload::Samples);
        assert_eq!(out.sender.url(), "http://127.0.0.1:1/post");
        let bodies = out.encode(&flush_of_fixture_samples());
        let bodies: Vec<&str> = bodies.iter().map(|b| std::str::from_utf8(b).unwrap()).collect();
        let want: Vec<&str> = posts.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(bodies, want);
    }

    /// events.json's events as Ceilometer 27's HttpPublisher posted them: `event.serialize()`
    /// in one list, one by one, and with `raw_only` the raw payloads.
    #[test]
    fn event_bodies_are_what_ceilometer_posts() {
        let flush = Items {
            events: fixtures::events(),
            ..Items::default()
        };
        for (url, recording) in [
            ("http://127.0.0.1:1/events", "http_events_batch.json"),
            ("http://127.0.0.1:1/events?batch=False", "http_events_single.json"),
            (
                "http://127.0.0.1:1/events?raw_only=true",
                "http_events_raw_only.json",
            ),
        ] {
            let bodies = output(url, Payload::Events).encode(&flush);
            let bodies: Vec<&str> = bodies.iter().map(|b| std::str::from_utf8(b).unwrap()).collect();
            let posts = fixtures::posts(recording);
            let want: Vec<&str> = posts.iter().map(|p| p.2.as_str()).collect();
            assert_eq!(bodies, want, "{recording}");
            assert!(posts.iter().all(|p| p.1 == "application/json"), "{recording}");
        }
    }

    #[test]
    fn nothing_is_posted_for_a_flush_without_items_for_this_publisher() {
        let out = output("http://127.0.0.1:1/", Payload::Events);
        assert!(out.encode(&flush_of_fixture_samples()).is_empty());
    }

    #[test]
    fn raw_only_posts_the_truthy_raw_payloads() {
        let event = |raw: &str| {
            let raw = simd_json::to_owned_value(&mut raw.as_bytes().to_vec()).unwrap();
            Event {
                message_id: Some("m".into()),
                event_type: "compute.instance.update".into(),
                generated: chrono::NaiveDateTime::default(),
                traits: Vec::new(),
                raw,
            }
        };
        let flush = Items {
            events: vec![
                event(r#"{"payload": {"a": 1}}"#),
                event(r#"{"payload": {}}"#),
                event(r#"{}"#),
                event(r#"{"payload": "x"}"#),
            ],
            ..Items::default()
        };
        let out = output("http://127.0.0.1:1/?raw_only=true", Payload::Events);
        assert_eq!(out.encode(&flush), vec![Bytes::from(r#"[{"a": 1}, "x"]"#)]);
        let out = output("http://127.0.0.1:1/", Payload::Events);
        let body = out.encode(&flush);
        assert!(body[0].starts_with(
            br#"[{"message_id": "m", "event_type": "compute.instance.update", "generated": "1970-01-01T00:00:00", "traits": [], "raw": {"payload": {"a": 1}}}, "#
        ));
    }
}
