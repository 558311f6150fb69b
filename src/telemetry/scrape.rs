//! Reading a ceilo endpoint from outside: a small HTTP/1.1 GET client and a parser for the
//! Prometheus text format.
//!
//! Used by `ceilo top` and by the health tests (which also read Prometheus' HTTP API with
//! it). It reads only what ceilo itself writes (plain text, `http://`), not every exposition
//! variant: no protobuf, no OpenMetrics exemplars, no TLS.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper_util::rt::TokioIo;

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("{url}: not an http:// URL with a host")]
    BadUrl { url: String },
    #[error("{url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("{url}: {source}")]
    Http { url: String, source: hyper::Error },
    #[error("{url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: the body is not UTF-8")]
    NotUtf8 { url: String },
    #[error("line {line}: {reason}: {text}")]
    Parse {
        line: usize,
        reason: &'static str,
        text: String,
    },
}

/// A status and a body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// GET `url` (http only), the whole exchange bounded by `timeout`.
pub async fn get(url: &str, timeout: Duration) -> Result<HttpResponse, ScrapeError> {
    match tokio::time::timeout(timeout, get_unbounded(url)).await {
        Ok(result) => result,
        Err(_) => Err(ScrapeError::Timeout {
            url: url.to_owned(),
            timeout,
        }),
    }
}

/// [`get`] for callers without a runtime (CLI, tests): runs on a throwaway current-thread one.
pub fn get_blocking(url: &str, timeout: Duration) -> Result<HttpResponse, ScrapeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ScrapeError::Io {
            url: url.to_owned(),
            source,
        })?;
    runtime.block_on(get(url, timeout))
}

async fn get_unbounded(url: &str) -> Result<HttpResponse, ScrapeError> {
    let bad_url = || ScrapeError::BadUrl { url: url.to_owned() };
    let uri: Uri = url.parse().map_err(|_| bad_url())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad_url());
    }
    let authority = uri.authority().ok_or_else(bad_url)?.clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(80);
    let io_err = |source| ScrapeError::Io {
        url: url.to_owned(),
        source,
    };
    let http_err = |source| ScrapeError::Http {
        url: url.to_owned(),
        source,
    };

    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(io_err)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_err)?;
    // The connection future drives the socket; it ends when the response is read.
    tokio::spawn(conn);

    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority.as_str())
        .header(
            hyper::header::USER_AGENT,
            concat!("ceilo/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|_| bad_url())?;
    let response = sender.send_request(request).await.map_err(http_err)?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(http_err)?.to_bytes();
    let body = String::from_utf8(body.to_vec()).map_err(|_| ScrapeError::NotUtf8 { url: url.to_owned() })?;
    Ok(HttpResponse { status, body })
}

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Sorted by label name.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape, with the `# TYPE` of each metric family.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Sum of the samples named `name` whose labels contain every pair of `matching`.
    pub fn sum(&self, name: &str, matching: &[(&str, &str)]) -> f64 {
        self.matching(name, matching).map(|s| s.value).sum()
    }

    /// The samples named `name` whose labels contain every pair of `matching`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        matching: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && matching
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
    }
}

/// Parses Prometheus text format 0.0.4.
pub fn parse(text: &str) -> Result<Exposition, ScrapeError> {
    let mut exposition = Exposition::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    exposition.types.insert(name.to_owned(), kind.to_owned());
                }
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|reason| ScrapeError::Parse {
            line: index + 1,
            reason,
            text: line.to_owned(),
        })?;
        exposition.samples.push(sample);
    }
    Ok(exposition)
}

fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() {
        return Err("no metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let key = rest[..eq].trim().to_owned();
            rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated escape"),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value"),
                }
            };
            rest = &rest[end + 1..];
            labels.insert(key, value);
        }
    }
    // The value, then an optional timestamp.
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().map_err(|_| "value is not a number")?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_and_special_values() {
        let text = "# HELP x_total help\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"uo\\\\te\"} 42\n\
                    y_bucket{le=\"+Inf\"} 3 1700000000\nz NaN\n";
        let exposition = parse(text).expect("parses");
        assert_eq!(
            exposition.types.get("x_total").map(String::as_str),
            Some("counter")
        );
        assert_eq!(
            exposition.samples[0].labels.get("b").map(String::as_str),
            Some("q\"uo\\te")
        );
        assert_eq!(exposition.sum("x_total", &[("a", "1")]), 42.0);
        assert_eq!(
            exposition.samples[1].labels.get("le").map(String::as_str),
            Some("+Inf")
        );
        assert!(exposition.samples[2].value.is_nan());
    }

    #[test]
    fn rejects_garbage_with_its_line() {
        let err = parse("ok 1\nbroken{a=1} 2\n").expect_err("must fail");
        assert!(matches!(err, ScrapeError::Parse { line: 2, .. }), "{err}");
    }
}
