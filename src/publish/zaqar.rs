//! `zaqar://?queue=NAME[&ttl=SECONDS]`: samples and events as the messages of a Zaqar queue,
//! as Ceilometer's `ZaqarPublisher` posts them through zaqarclient: `POST
//! <endpoint>/v2/queues/<queue>/messages` with the agent's Keystone token and a `Client-ID` of
//! the publisher's, the body `{"messages": [{"body": ..., "ttl": ...}, ...]}`, each body a
//! `Sample.as_dict()` or an `event.serialize()` (what `http://` posts too). The endpoint is the
//! `messaging` service's `public` one in the token's catalog, in any region, as zaqarclient asks
//! keystoneauth for it whatever `[service_credentials]` says of interfaces and regions.
//!
//! Unlike Ceilometer, which posts a whole publish at once and logs and drops it when Zaqar
//! says no: a flush is posted in parts of at most [`MAX_POST_BYTES`] (Zaqar's default
//! `max_messages_post_size`, over which it refuses the post), and it is durable once every part
//! got a 2xx answer. A refused token is renewed and the part sent again once; a part Zaqar
//! refuses for good (400, 413, 415, 422: a ttl out of its range, a queue name too long) is
//! dead-lettered with its reason; anything else (no answer, 5xx, 503 while its store is away)
//! fails the flush, which the publisher actor retries with its deliveries unacked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;

use super::dead_letter::DeadLetters;
use super::http::{refuses_for_good, Posted, Refusals};
use super::url::ZaqarTarget;
use super::{Items, Output, PublishError, Write};
use crate::event::message::write_event_serialized;
use crate::keystone::{service_endpoint, Keystone, KeystoneSettings};
use crate::model::json_write::write_i64;
use crate::model::sample::write_sample_as_dict;
use crate::model::Payload;

/// The largest post: Zaqar's default `max_messages_post_size` (256 KiB).
pub const MAX_POST_BYTES: usize = 256 * 1024;

/// Keystone's and Zaqar's answers, each.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct ZaqarOutput {
    name: String,
    carries: Payload,
    queue: String,
    ttl: i64,
    /// zaqarclient's `client_uuid`: one per publisher.
    client_id: String,
    keystone: Arc<Keystone>,
    refusals: Refusals,
}

impl ZaqarOutput {
    /// `credentials`: Ceilometer's `[service_credentials]` (its `[zaqar] auth_section`).
    pub fn new(
        target: &ZaqarTarget,
        carries: Payload,
        credentials: &KeystoneSettings,
        dead_letters: Option<DeadLetters>,
    ) -> Result<ZaqarOutput, String> {
        let keystone = Keystone::new(credentials.clone(), credentials.http_client()?, TIMEOUT)?;
        let name = format!("zaqar://?queue={}&ttl={}", target.queue, target.ttl);
        Ok(ZaqarOutput {
            refusals: Refusals {
                name: name.clone(),
                scheme: "zaqar",
                dead_letters,
            },
            name,
            carries,
            queue: target.queue.clone(),
            ttl: target.ttl,
            client_id: uuid::Uuid::new_v4().simple().to_string(),
            keystone: Arc::new(keystone),
        })
    }

    /// The posts of one flush: `(body, samples in it)`, each body at most [`MAX_POST_BYTES`]
    /// unless one message alone is larger (then that message is a post of its own).
    pub fn encode(&self, flush: &Items) -> Vec<(Bytes, usize)> {
        let mut messages: Vec<Vec<u8>> = Vec::new();
        let mut message = |write: &dyn Fn(&mut Vec<u8>)| {
            let mut out = Vec::with_capacity(512);
            out.extend_from_slice(b"{\"body\": ");
            write(&mut out);
            out.extend_from_slice(b", \"ttl\": ");
            write_i64(&mut out, self.ttl);
            out.push(b'}');
            messages.push(out);
        };
        let samples = match self.carries {
            Payload::Samples => {
                for s in &flush.samples {
                    message(&|out| write_sample_as_dict(out, s));
                }
                true
            }
            Payload::Events => {
                for e in &flush.events {
                    message(&|out| write_event_serialized(out, e));
                }
                false
            }
        };
        let (head, tail) = (&b"{\"messages\": ["[..], &b"]}"[..]);
        let mut posts = Vec::new();
        let mut body: Vec<u8> = Vec::new();
        let mut in_body = 0;
        for m in messages {
            let grown = body.len() + 2 + m.len() + tail.len();
            if in_body > 0 && grown > MAX_POST_BYTES {
                body.extend_from_slice(tail);
                posts.push((
                    Bytes::from(std::mem::take(&mut body)),
                    if samples { in_body } else { 0 },
                ));
                in_body = 0;
            }
            body.extend_from_slice(if in_body == 0 { head } else { b", " });
            body.extend_from_slice(&m);
            in_body += 1;
        }
        if in_body > 0 {
            body.extend_from_slice(tail);
            posts.push((Bytes::from(body), if samples { in_body } else { 0 }));
        }
        posts
    }
}

/// Where one post goes and with what.
struct Poster {
    keystone: Arc<Keystone>,
    queue: String,
    client_id: String,
}

impl Poster {
    async fn post(&self, body: Bytes) -> Result<Posted, PublishError> {
        let fail = |url: &str, reason: String| PublishError::Http {
            url: url.to_owned(),
            reason,
        };
        let token = self
            .keystone
            .token()
            .await
            .map_err(|e| fail("zaqar://", e.to_string()))?;
        let endpoint = service_endpoint(&token.catalog, &["messaging"], "public", None).ok_or_else(|| {
            fail(
                "zaqar://",
                format!(
                    "the Keystone catalog ({}) has no public `messaging` endpoint: Zaqar is not registered",
                    self.keystone.settings().who()
                ),
            )
        })?;
        let url = format!("{endpoint}/v2/queues/{}/messages", self.queue);
        let headers = [("client-id", self.client_id.as_str())];
        let (status, _, reply) = self
            .keystone
            .authorized(Method::POST, "Zaqar", &url, &headers, body)
            .await
            .map_err(|e| fail(&url, e.to_string()))?;
        let status = hyper::StatusCode::from_u16(status).map_err(|e| fail(&url, e.to_string()))?;
        if status.is_success() {
            return Ok(Posted::Accepted);
        }
        let text = String::from_utf8_lossy(&reply[..reply.len().min(200)]).into_owned();
        if refuses_for_good(status) {
            return Ok(Posted::Refused(format!("HTTP {status}: {text}")));
        }
        Err(fail(&url, format!("HTTP {status}: {text}")))
    }
}

impl Output for ZaqarOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let posts: Arc<[(Bytes, usize)]> = self.encode(&flush).into();
        let poster = Arc::new(Poster {
            keystone: self.keystone.clone(),
            queue: self.queue.clone(),
            client_id: self.client_id.clone(),
        });
        let refusals = self.refusals.clone();
        // A retry resumes at the first part not yet accepted or dead-lettered.
        let done = Arc::new(AtomicUsize::new(0));
        Ok(Arc::new(move || {
            let (posts, poster, refusals, done) =
                (posts.clone(), poster.clone(), refusals.clone(), done.clone());
            Box::pin(async move {
                while let Some((body, samples)) = posts.get(done.load(Ordering::Acquire)) {
                    if let Posted::Refused(reason) = poster.post(body.clone()).await? {
                        refusals.refused(body.clone(), *samples, &reason).await?;
                    }
                    done.fetch_add(1, Ordering::AcqRel);
                }
                Ok(())
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::fixtures;

    fn output(ttl: i64) -> ZaqarOutput {
        let credentials = KeystoneSettings {
            auth_url: "http://ks:5000".into(),
            username: Some("ceilometer".into()),
            password: "secret".into(),
            user_domain_name: Some("Default".into()),
            project_name: Some("service".into()),
            project_domain_id: Some("default".into()),
            ..KeystoneSettings::default()
        };
        let target = ZaqarTarget {
            queue: "q".into(),
            ttl,
        };
        ZaqarOutput::new(&target, Payload::Samples, &credentials, None).expect("an output")
    }

    fn samples(n: usize, note: &str) -> Items {
        let mut samples: Vec<_> = fixtures::samples().into_iter().cycle().take(n).collect();
        if let Some(first) = samples.first_mut() {
            first.resource_id = note.into();
        }
        Items {
            samples,
            ..Items::default()
        }
    }

    #[test]
    fn a_flush_is_posted_as_messages_of_its_samples_with_the_ttl() {
        let items = samples(2, "r-1");
        let posts = output(1200).encode(&items);
        assert_eq!(posts.len(), 1);
        let (body, n) = &posts[0];
        assert_eq!(*n, 2);
        let json: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        let messages = json["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["ttl"], 1200);
        assert_eq!(messages[0]["body"]["resource_id"], "r-1");
        let mut as_dict = Vec::new();
        write_sample_as_dict(&mut as_dict, &items.samples[1]);
        let as_dict: serde_json::Value = serde_json::from_slice(&as_dict).expect("JSON");
        assert_eq!(messages[1]["body"], as_dict);
    }

    #[test]
    fn a_large_flush_is_cut_into_posts_under_zaqars_limit_keeping_every_message_in_order() {
        let items = samples(2000, "first");
        let posts = output(60).encode(&items);
        assert!(posts.len() > 1, "{} posts", posts.len());
        let mut seen = 0;
        for (body, n) in &posts {
            assert!(body.len() <= MAX_POST_BYTES, "{}", body.len());
            let json: serde_json::Value = serde_json::from_slice(body).expect("JSON");
            assert_eq!(json["messages"].as_array().map(Vec::len), Some(*n));
            if seen == 0 {
                assert_eq!(json["messages"][0]["body"]["resource_id"], "first");
            }
            seen += n;
        }
        assert_eq!(seen, 2000);
    }
}
