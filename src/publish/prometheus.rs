//! `prometheus://host:port/metrics/job/NAME[/label/value...]`: samples pushed to a Prometheus
//! Pushgateway in the text format, as Ceilometer's `PrometheusPublisher` writes them: the
//! metric name with `.` and `-` turned into `_`, `# TYPE` once per name and push (`counter`
//! for cumulative, `gauge` for gauge, none for delta), the labels `resource_id`, `user_id`,
//! `project_id` (Python's `str()` of each), the volume as `str()`, `Content-type: plain/text`
//! (the Pushgateway reads any type but protobuf as text).
//!
//! Without grouping labels in the URL, a flush is one POST per resource, to
//! `<url>/resource_id/<id>`, so that pushing a metric for one resource does not replace it for
//! the others; with grouping labels, one POST. The options and the scheme (`ssl=`) are the
//! `http://` publisher's ([`super::http`]). Samples only: events are not sent (Ceilometer's
//! publisher raises for them).
//!
//! Where Ceilometer's push is refused by a real Pushgateway, ceilo's differs, so that a flush
//! can become durable instead of failing forever:
//! * a resource id holding `/` (or empty) goes in the path base64url-encoded
//!   (`/resource_id@base64/...`, the Pushgateway's syntax): percent-encoded, the gateway
//!   decodes it back into extra path segments and answers 400;
//! * two samples of one metric with the same labels in one push (two polls of a resource in
//!   one flush) are one line with the last value: the gateway refuses duplicate series;
//! * `"`, `\` and newlines in label values are escaped as the text format requires;
//! * the resource's path segment goes before the URL's query, not after it.
//!
//! A flush is durable when every push got a 2xx; a retry resumes at the first push not yet
//! accepted. A push the gateway refuses for good (400: e.g. a metric whose type conflicts with
//! what the group holds) is dead-lettered and counted, not retried ([`super::http::Refusals`]).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;

use super::dead_letter::DeadLetters;
use super::http::{post_all, HttpSender, HttpSetupError, Refusals};
use super::url::HttpTarget;
use super::{Items, Output, PublishError, Write};
use crate::model::py::repr::py_str;
use crate::model::Sample;

/// Ceilometer's content type (not a registered one, but the Pushgateway reads it as text).
const CONTENT_TYPE: &str = "plain/text";

/// One series of a push: its name and labels, and the value it ends with.
struct Line {
    name: String,
    metric_type: Option<&'static str>,
    labels: String,
    value: String,
}

/// The lines of one push, in the order of their first sample.
#[derive(Default)]
struct Push {
    lines: Vec<Line>,
    /// (name, labels) → index in `lines`.
    index: HashMap<(String, String), usize>,
}

impl Push {
    fn add(&mut self, s: &Sample, resource_id: &str) {
        let name = s.name.replace(['.', '-'], "_");
        let metric_type = match &*s.sample_type {
            "cumulative" => Some("counter"),
            "gauge" => Some("gauge"),
            _ => None, // delta: no Prometheus type fits (Ceilometer writes none)
        };
        let mut labels = String::with_capacity(96);
        for (i, (label, value)) in [
            ("resource_id", resource_id.to_owned()),
            ("user_id", text(&s.user_id)),
            ("project_id", text(&s.project_id)),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                labels.push_str(", ");
            }
            labels.push_str(label);
            labels.push_str("=\"");
            escape_label_value(&mut labels, &value);
            labels.push('"');
        }
        let value = text(&s.volume);
        match self.index.get(&(name.clone(), labels.clone())) {
            Some(&i) => self.lines[i].value = value,
            None => {
                self.index
                    .insert((name.clone(), labels.clone()), self.lines.len());
                self.lines.push(Line {
                    name,
                    metric_type,
                    labels,
                    value,
                });
            }
        }
    }

    fn text(&self) -> Bytes {
        let mut out = String::with_capacity(self.lines.len() * 128);
        let mut typed: Vec<&str> = Vec::new();
        for line in &self.lines {
            if let Some(t) = line.metric_type {
                if !typed.contains(&line.name.as_str()) {
                    out.push_str(&format!("# TYPE {} {t}\n", line.name));
                    typed.push(&line.name);
                }
            }
            out.push_str(&format!("{}{{{}}} {}\n", line.name, line.labels, line.value));
        }
        Bytes::from(out)
    }
}

/// Python's `str()` of a value, as `%s` formats it.
fn text(value: &crate::model::OwnedValue) -> String {
    let mut out = Vec::new();
    py_str(&mut out, value);
    String::from_utf8_lossy(&out).into_owned()
}

/// The text format's escapes in a label value (none of them occur in ordinary ids).
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `/resource_id/<id>`: percent-encoded as Ceilometer's `quote(id, safe='')`, or in the
/// Pushgateway's base64url form when the id holds a `/` or is empty.
fn resource_path(resource_id: &str) -> String {
    if resource_id.is_empty() || resource_id.contains('/') {
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(resource_id);
        let encoded = if encoded.is_empty() {
            "=".to_owned()
        } else {
            encoded
        };
        return format!("/resource_id@base64/{encoded}");
    }
    let mut out = String::from("/resource_id/");
    for b in resource_id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether the URL's path names grouping labels after the job (`/metrics/job/J/label/value`).
pub fn has_grouping_labels(target_url: &str) -> bool {
    let after_scheme = target_url.split_once("://").map_or(target_url, |(_, r)| r);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.starts_with("/metrics/job/") && path.split('/').filter(|s| !s.is_empty()).count() > 3
}

pub struct PrometheusOutput {
    name: String,
    sender: Arc<HttpSender>,
    grouped: bool,
    refusals: Refusals,
}

impl PrometheusOutput {
    /// `dead_letters`: where pushes the gateway refuses for good (400...) go.
    pub fn new(
        target: &HttpTarget,
        dead_letters: Option<DeadLetters>,
    ) -> Result<PrometheusOutput, HttpSetupError> {
        let sender = HttpSender::new(target, CONTENT_TYPE)?;
        let name = sender.url().to_owned();
        Ok(PrometheusOutput {
            refusals: Refusals {
                name: name.clone(),
                scheme: "prometheus",
                dead_letters,
            },
            name,
            grouped: has_grouping_labels(sender.url()),
            sender: Arc::new(sender),
        })
    }

    /// The pushes of a flush: the URL each goes to (`None`: the target), its body and how many
    /// samples it holds.
    pub fn encode(&self, samples: &[Sample]) -> Vec<(Option<String>, Bytes, usize)> {
        if samples.is_empty() {
            return Vec::new();
        }
        if self.grouped {
            let mut push = Push::default();
            for s in samples {
                push.add(s, &text(&s.resource_id));
            }
            return vec![(None, push.text(), samples.len())];
        }
        let mut pushes: Vec<(String, Push, usize)> = Vec::new();
        let mut by_resource: HashMap<String, usize> = HashMap::new();
        for s in samples {
            let rid = text(&s.resource_id);
            let i = *by_resource.entry(rid.clone()).or_insert_with(|| {
                pushes.push((rid.clone(), Push::default(), 0));
                pushes.len() - 1
            });
            pushes[i].1.add(s, &rid);
            pushes[i].2 += 1;
        }
        let url = self.sender.url();
        let (base, query) = url.find(['?', '#']).map_or((url, ""), |i| url.split_at(i));
        pushes
            .into_iter()
            .map(|(rid, push, n)| {
                let url = format!("{}{}{query}", base.trim_end_matches('/'), resource_path(&rid));
                (Some(url), push.text(), n)
            })
            .collect()
    }
}

impl Output for PrometheusOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let pushes = self.encode(&flush.samples).into();
        Ok(post_all(pushes, self.sender.clone(), self.refusals.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::{fixtures, PublisherUrl};

    fn output(url: &str) -> PrometheusOutput {
        match PublisherUrl::parse(url).unwrap() {
            PublisherUrl::Prometheus(target) => PrometheusOutput::new(&target, None).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn as_recorded(
        pushes: Vec<(Option<String>, Bytes, usize)>,
        out: &PrometheusOutput,
    ) -> Vec<(String, String)> {
        pushes
            .into_iter()
            .map(|(url, body, _)| {
                let url = url.unwrap_or_else(|| out.sender.url().to_owned());
                let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
                (path, String::from_utf8(body.to_vec()).unwrap())
            })
            .collect()
    }

    #[test]
    fn one_push_per_resource_as_ceilometer_pushes_them() {
        let out = output("prometheus://127.0.0.1:1/metrics/job/ceilometer");
        assert_eq!(out.sender.url(), "http://127.0.0.1:1/metrics/job/ceilometer");
        let got = as_recorded(out.encode(&fixtures::samples()), &out);
        let want: Vec<(String, String)> = fixtures::posts("prometheus_per_resource.json")
            .into_iter()
            .map(|(path, content_type, body)| {
                assert_eq!(content_type, CONTENT_TYPE);
                // Ceilometer percent-encodes the `/` of `r-2/vda`, which a real Pushgateway
                // refuses (400: "odd number of components"); ceilo uses its base64 form.
                let path = path.replace("/resource_id/r-2%2Fvda", "/resource_id@base64/ci0yL3ZkYQ==");
                (path, body)
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn grouping_labels_in_the_url_make_one_push() {
        let out = output("prometheus://127.0.0.1:1/metrics/job/ceilometer/zone/a?ssl=false");
        let got = as_recorded(out.encode(&fixtures::samples()), &out);
        let want: Vec<(String, String)> = fixtures::posts("prometheus_grouped.json")
            .into_iter()
            .map(|(path, _, body)| (path, body))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_series_twice_in_one_push_is_one_line_with_the_last_value() {
        let out = output("prometheus://127.0.0.1:1/metrics/job/j");
        let mut samples = fixtures::samples();
        samples.truncate(1);
        let mut later = samples[0].clone();
        later.volume = 7.into();
        samples.push(later);
        let got = as_recorded(out.encode(&samples), &out);
        assert_eq!(
            got,
            vec![(
                "/metrics/job/j/resource_id/r-1".to_owned(),
                "# TYPE cpu counter\ncpu{resource_id=\"r-1\", user_id=\"u-1\", project_id=\"p-1\"} 7\n"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn https_query_and_odd_ids_are_placed_where_the_gateway_reads_them() {
        let out = output("prometheus://gw:9091/metrics/job/j?ssl=true&x=1");
        let mut samples = fixtures::samples();
        samples.truncate(1);
        samples[0].resource_id = "a \"b\"".into();
        let pushes = out.encode(&samples);
        assert_eq!(
            pushes[0].0.as_deref(),
            Some("https://gw:9091/metrics/job/j/resource_id/a%20%22b%22?x=1")
        );
        assert!(std::str::from_utf8(&pushes[0].1)
            .unwrap()
            .contains(r#"resource_id="a \"b\"""#));
        assert_eq!(resource_path(""), "/resource_id@base64/=");
        assert!(has_grouping_labels("http://h/metrics/job/j/a/b"));
        assert!(!has_grouping_labels("http://h/metrics/job/j/"));
        assert!(!has_grouping_labels("http://h/other/job/j/a/b"));
    }
}
