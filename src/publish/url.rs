//! Publisher URLs as written in pipeline.yaml sinks, parsed once into options.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::py;

/// Why a publisher URL is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UrlError {
    #[error(
        "publisher {0:?} is not supported by ceilo (supported: notifier://, file://, http://, \
         https://, prometheus://, udp://, tcp://, opentelemetryhttp://, gnocchi://, zaqar://)"
    )]
    Unsupported(String),
    #[error("{url}: option {option}: {reason}")]
    Option {
        url: String,
        option: String,
        reason: String,
    },
    #[error("{0}: file:// needs a path")]
    NoPath(String),
    #[error("{0}: the publisher needs a host name")]
    NoHost(String),
    #[error("{url}: port {port:?} is not a number")]
    Port { url: String, port: String },
    #[error("{url}: driver {driver:?}: ceilo publishes to RabbitMQ only (driver rabbit, the default)")]
    Driver { url: String, driver: String },
    #[error("{url}: the broker it names: {reason}")]
    Broker { url: String, reason: String },
}

/// A parsed publisher URL.
#[derive(Debug, Clone, PartialEq)]
pub enum PublisherUrl {
    /// `notifier://[user:password@host:port/vhost][?topic=T][&per_meter_topic=1]`: oslo
    /// notifications on the agent's transport, or on the broker the URL names.
    Notifier {
        /// The URL's non-blank `topic=`s in order, each notification sent to each (oslo's
        /// notifier with several topics); none: the metering (or event) topic.
        topics: Vec<String>,
        /// Route each meter to `<topic>.<meter name>` (samples only).
        per_meter_topic: bool,
        /// The broker the URL names (`rabbit://...`, password included); `None`: the agent's.
        transport_url: Option<String>,
    },
    /// `file:///path[?max_bytes=N&backup_count=N&json&fsync=0]`: a line per sample or event,
    /// rotated like Python's `RotatingFileHandler` when `max_bytes` and `backup_count` are > 0.
    File {
        path: PathBuf,
        max_bytes: u64,
        backup_count: u32,
        fsync: bool,
        /// `json` given (with any value or none): JSON lines instead of Python's dict repr.
        json: bool,
    },
    /// `gnocchi://[?archive_policy=..&timeout=..&enable_filter_project=..]`: measures and
    /// resources in Gnocchi (see [`crate::publish::gnocchi`]); where Gnocchi is comes from
    /// ceilo.yaml's `gnocchi:` section, as it comes from ceilometer.conf in Ceilometer.
    Gnocchi(super::gnocchi::GnocchiOptions),
    /// `http(s)://[user:password@]host[:port]/path[?options&other=params]`: JSON POSTs.
    Http(HttpTarget),
    /// `prometheus://host:port/metrics/job/NAME[/label/value...][?ssl=1&http options]`:
    /// samples pushed to a Pushgateway (see [`crate::publish::prometheus`]).
    Prometheus(HttpTarget),
    /// `udp://host[:port]` (port 4952): one msgpack datagram per sample, at most once.
    Udp(HostPort),
    /// `tcp://host[:port]` (port 4952): length-prefixed msgpack meter messages on one connection.
    Tcp(HostPort),
    /// `opentelemetryhttp://host:port/v1/metrics[?ssl=1&http options]`: samples as OTLP/HTTP
    /// (see [`crate::publish::otlp`]).
    Otlp(HttpTarget),
    /// `zaqar://?queue=NAME[&ttl=SECONDS]`: messages of a Zaqar queue (see
    /// [`crate::publish::zaqar`]).
    Zaqar(ZaqarTarget),
}

/// Ceilometer's `ZaqarPublisher` options: the queue (required) and the messages' time to live.
#[derive(Debug, Clone, PartialEq)]
pub struct ZaqarTarget {
    pub queue: String,
    /// Seconds (`ttl`, default 3600).
    pub ttl: i64,
}

impl ZaqarTarget {
    /// As Ceilometer reads them with `parse_qs` (blank values dropped, the first value kept,
    /// `ttl` by Python's `int()`), and the queue name as zaqarclient checks it before each
    /// post (ASCII letters, digits, `_` and `-`): Ceilometer fails every publish of a URL ceilo
    /// refuses here.
    fn parse(url: &str, options: &[(String, String)]) -> Result<ZaqarTarget, UrlError> {
        let first = |name: &str| {
            options
                .iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.as_str())
        };
        let refused = |option: &str, reason: String| UrlError::Option {
            url: url.to_owned(),
            option: option.to_owned(),
            reason,
        };
        let queue = first("queue")
            .ok_or_else(|| refused("queue", "Must specify a queue in the zaqar publisher".into()))?;
        if !queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(refused(
                "queue",
                format!("{queue:?}: The queue name may only contain ASCII letters, digits, underscores and dashes."),
            ));
        }
        let ttl = match first("ttl") {
            None => 3600,
            Some(v) => py::text::int_of_str(v)
                .and_then(|t| i64::try_from(t).ok())
                .ok_or_else(|| refused("ttl", format!("{v:?} is not an integer")))?,
        };
        Ok(ZaqarTarget {
            queue: queue.to_owned(),
            ttl,
        })
    }
}

/// A `host[:port]` / `[v6]:port` netloc, as oslo's `netutils.parse_host_port` splits it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPort {
    /// Without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
}

/// Ceilometer's port for `udp://` and `tcp://`.
const DEFAULT_SAMPLE_PORT: u16 = 4952;

impl HostPort {
    fn parse(url: &str) -> Result<HostPort, UrlError> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
        let netloc = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
        let (host, port) = match netloc.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((host, port)) => (host, port.strip_prefix(':')),
                None => return Err(UrlError::NoHost(url.to_owned())),
            },
            // A bare IPv6 address (more than one `:`) has no port.
            None if netloc.matches(':').count() > 1 => (netloc, None),
            None => match netloc.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (netloc, None),
            },
        };
        if host.is_empty() {
            return Err(UrlError::NoHost(url.to_owned()));
        }
        let port = match port.filter(|p| !p.is_empty()) {
            None => DEFAULT_SAMPLE_PORT,
            Some(p) => p.parse().map_err(|_| UrlError::Port {
                url: url.to_owned(),
                port: p.to_owned(),
            })?,
        };
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

/// Whether and how an HTTPS server's certificate is verified (`verify_ssl`).
#[derive(Debug, Clone, PartialEq)]
pub enum VerifySsl {
    /// Against the system's root certificates (the default).
    System,
    /// Not at all (`verify_ssl=False`).
    No,
    /// Against the CA certificates in this PEM file (`verify_ssl=/path/ca.pem`, as `requests`).
    CaFile(PathBuf),
}

/// Where an HTTP publisher posts and how: Ceilometer's `HttpPublisher` options, taken out of
/// the URL's query; every other query parameter stays in [`HttpTarget::url`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTarget {
    /// What is posted to: `http(s)://host[:port]/path[?other params]`, without the userinfo
    /// and the options, the remaining parameters in Ceilometer's order (`urlencode` of
    /// `parse_qs`: by first appearance of each name, repeated names together, blanks dropped).
    pub url: String,
    /// Per request (`timeout`, seconds, default 5).
    pub timeout: Duration,
    /// `max_retries` (default 2): accepted for Ceilometer's URLs; ceilo retries a failed flush
    /// until it is durable (with backoff), so it is not a limit here.
    pub max_retries: u32,
    /// One POST per flush (`batch`, default true) or one per item.
    pub batch: bool,
    pub verify_ssl: VerifySsl,
    /// `clientcert` (PEM) and `clientkey` (PEM; when absent the key is in `clientcert`).
    pub client_cert: Option<(PathBuf, Option<PathBuf>)>,
    /// Basic auth from the URL's userinfo, as written there.
    pub basic_auth: Option<(String, String)>,
    /// Events: post each event's raw notification payload instead of the event (`raw_only`).
    pub raw_only: bool,
}

pub(crate) fn bool_from_string(s: &str) -> bool {
    // oslo strutils.bool_from_string
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// The URL with its scheme in lower case, as `urlsplit` reads it (Ceilometer picks the
/// publisher by that scheme: `FILE:///x` is a file publisher).
fn lowercase_scheme(url: &str) -> std::borrow::Cow<'_, str> {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if valid && scheme.chars().any(|c| c.is_ascii_uppercase()) {
        format!("{}{}", scheme.to_ascii_lowercase(), &url[scheme.len()..]).into()
    } else {
        url.into()
    }
}

/// The URL before its query, and the query's pairs in order, decoded as `parse_qs` decodes them
/// (`%XX`, `+` for a space); a `#fragment` is cut off first, as `urlsplit` does.
fn query(url: &str) -> (&str, Vec<(String, String)>) {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (base, q) = url.split_once('?').unwrap_or((url, ""));
    (base, pairs(q).collect())
}

/// A query's `name=value` pairs, decoded, blank ones kept (`parse_qsl(keep_blank_values=True)`):
/// split on `&` only, as Python ≥ 3.9.2 splits (no longer on `;`).
fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (unquote_plus(k), unquote_plus(v))
    })
}

/// `file://[netloc]/path[?options]`, as Ceilometer's `FilePublisher` reads it: the URL's path
/// (a netloc is ignored); `json` present in any form; rotation only when both `max_bytes` and
/// `backup_count` are given, each its first value read by Python's `int()` (zero or less: no
/// rotation). Where Ceilometer's publisher logs an error and then writes nothing (no path,
/// numbers it cannot read), ceilo refuses the URL.
fn file(url: &str, base: &str, options: &[(String, String)]) -> Result<PublisherUrl, UrlError> {
    let rest = base.strip_prefix("file://").unwrap_or("");
    let path = &rest[rest.find('/').unwrap_or(rest.len())..];
    if path.is_empty() {
        return Err(UrlError::NoPath(url.to_owned()));
    }
    let first = |name: &str| options.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (mut max_bytes, mut backup_count) = (0, 0);
    if let (Some(bytes), Some(count)) = (first("max_bytes"), first("backup_count")) {
        let int = |option: &str, v: &str| {
            crate::model::py::text::int_of_str(v).ok_or_else(|| UrlError::Option {
                url: url.to_owned(),
                option: option.to_owned(),
                reason: format!("{v:?} is not an integer (max_bytes and backup_count should be numbers)"),
            })
        };
        max_bytes = int("max_bytes", bytes)?.clamp(0, i128::from(u64::MAX)) as u64;
        backup_count = int("backup_count", count)?.clamp(0, i128::from(u32::MAX)) as u32;
    }
    Ok(PublisherUrl::File {
        path: PathBuf::from(path),
        max_bytes,
        backup_count,
        // ceilo's own option; its last value.
        fsync: options
            .iter()
            .rev()
            .find(|(k, _)| k == "fsync")
            .is_none_or(|(_, v)| bool_from_string(v)),
        json: first("json").is_some(),
    })
}

/// `notifier://[netloc[/vhost]][?options]`, as Ceilometer's `NotifierPublisher` reads it: with a
/// netloc it publishes to that broker, `<driver>://<netloc><path>?<the options but topic and
/// driver>` (driver `rabbit` unless `driver=` says otherwise, and only RabbitMQ is spoken
/// here); without one, on the agent's own transport, whatever `driver` says.
fn notifier(url: &str, base: &str, options: Vec<(String, String)>) -> Result<PublisherUrl, UrlError> {
    let rest = base.strip_prefix("notifier://").unwrap_or("");
    let rest = rest.split('#').next().unwrap_or("");
    let (netloc, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `parse_qs`'s dict, as Ceilometer's `NotifierPublisher` takes it apart: every topic (a
    // blank `topic=` alone leaves the default), the first driver, and what is left goes on to
    // the broker's URL.
    let mut params = gather(options);
    let topics = pop(&mut params, "topic").unwrap_or_default();
    let driver = pop(&mut params, "driver").and_then(|d| d.into_iter().next());
    // `MessagingPublisher` reads the last value of each.
    let last = |name: &str| last_value(&params, name);
    // `bool(int(v))` and `int(v)`: a value Python's `int()` refuses fails Ceilometer's publisher
    // to load, and ceilo refuses it at start.
    let python_int = |option: &str, v: &str| {
        py::text::int_of_str(v).ok_or_else(|| UrlError::Option {
            url: url.to_owned(),
            option: option.to_owned(),
            reason: format!("{v:?} is not an integer"),
        })
    };
    let per_meter_topic = match last("per_meter_topic") {
        Some(v) => python_int("per_meter_topic", v)? != 0,
        None => false,
    };
    for option in ["max_queue_length", "max_retry"] {
        if let Some(v) = last(option) {
            python_int(option, v)?;
        }
    }
    let transport_url = if netloc.is_empty() {
        None
    } else {
        let driver = driver.as_deref().unwrap_or("rabbit");
        if driver != "rabbit" {
            return Err(UrlError::Driver {
                url: crate::transport::mask(url),
                driver: driver.to_owned(),
            });
        }
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", urlencode(&params))
        };
        let transport_url = format!("rabbit://{netloc}{path}{query}");
        crate::transport::url::parse(&transport_url).map_err(|e| UrlError::Broker {
            url: crate::transport::mask(url),
            reason: e.to_string(),
        })?;
        Some(transport_url)
    };
    Ok(PublisherUrl::Notifier {
        topics,
        per_meter_topic,
        transport_url,
    })
}

impl PublisherUrl {
    /// What Ceilometer warns about in `url` and loads all the same: a notifier's unknown
    /// `policy` (its answer to a failed publish: retry, keep a local queue, drop), taken as
    /// `default`. ceilo keeps the deliveries unacked until the broker confirms whatever the
    /// policy says.
    pub fn warnings(url: &str) -> Vec<String> {
        let url_lower = lowercase_scheme(url.trim());
        let (base, options) = query(&url_lower);
        if !base.starts_with("notifier://") {
            return Vec::new();
        }
        match last_value(&gather(options), "policy") {
            Some(policy) if !["default", "queue", "drop"].contains(&policy.as_str()) => {
                vec![format!(
                    "{}: publishing policy {policy:?} is unknown: taken as \"default\", as Ceilometer does",
                    crate::transport::mask(url)
                )]
            }
            _ => Vec::new(),
        }
    }

    /// The scheme (`notifier`, `file`): the `publisher` label of metrics.
    pub fn scheme(&self) -> &'static str {
        match self {
            PublisherUrl::Notifier { .. } => "notifier",
            PublisherUrl::File { .. } => "file",
            PublisherUrl::Gnocchi(_) => "gnocchi",
            PublisherUrl::Http(t) if t.url.starts_with("https:") => "https",
            PublisherUrl::Http(_) => "http",
            PublisherUrl::Prometheus(_) => "prometheus",
            PublisherUrl::Udp(_) => "udp",
            PublisherUrl::Tcp(_) => "tcp",
            PublisherUrl::Otlp(_) => "opentelemetryhttp",
            PublisherUrl::Zaqar(_) => "zaqar",
        }
    }

    /// Whether events sent here are published. Ceilometer's prometheus, udp, tcp and
    /// opentelemetryhttp publishers raise for events (it logs and drops them per batch); ceilo
    /// sends them none and says so once at load ([`crate::pipeline::Pipeline::warnings`]).
    pub fn publishes_events(&self) -> bool {
        !matches!(
            self,
            PublisherUrl::Prometheus(_) | PublisherUrl::Udp(_) | PublisherUrl::Tcp(_) | PublisherUrl::Otlp(_)
        )
    }

    pub fn parse(url: &str) -> Result<PublisherUrl, UrlError> {
        let url = &*lowercase_scheme(url.trim());
        let (base, options) = query(url);
        let scheme = base.split_once("://").map_or(base, |(s, _)| s);
        match scheme {
            "notifier" => notifier(url, base, options),
            "file" => file(url, base, &options),
            "gnocchi" => super::gnocchi::GnocchiOptions::from_query(&options)
                .map(PublisherUrl::Gnocchi)
                .map_err(|(option, reason)| UrlError::Option {
                    url: url.to_owned(),
                    option,
                    reason,
                }),
            "http" | "https" => Ok(PublisherUrl::Http(HttpTarget::parse(url)?)),
            "prometheus" => Ok(PublisherUrl::Prometheus(HttpTarget::parse(url)?)),
            "udp" => Ok(PublisherUrl::Udp(HostPort::parse(url)?)),
            "tcp" => Ok(PublisherUrl::Tcp(HostPort::parse(url)?)),
            "opentelemetryhttp" => Ok(PublisherUrl::Otlp(HttpTarget::parse(url)?)),
            "zaqar" => Ok(PublisherUrl::Zaqar(ZaqarTarget::parse(url, &options)?)),
            other => Err(UrlError::Unsupported(format!("{other}://"))),
        }
    }
}

/// `%XX` and `+` decoded, as `urllib.parse.parse_qs` does (invalid escapes stay as written).
fn unquote_plus(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `urllib.parse.urlencode(params, doseq=True)`: each key's values in turn, encoded.
fn urlencode(params: &[(String, Vec<String>)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .flat_map(|(k, values)| {
            values
                .iter()
                .map(move |v| format!("{}={}", quote_plus(k), quote_plus(v)))
        })
        .collect();
    pairs.join("&")
}

/// `urllib.parse.quote_plus`: everything but `A-Za-z0-9_.-~` escaped, space as `+`.
fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `parse_qs(query)`: names in order of first appearance, each with all its non-blank values.
fn parse_qs(query: &str) -> Vec<(String, Vec<String>)> {
    gather(pairs(query))
}

/// Decoded pairs gathered as `parse_qs` gathers them: names in order of first appearance, each
/// with all its non-blank values.
fn gather(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(String, Vec<String>)> {
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in pairs.into_iter().filter(|(_, v)| !v.is_empty()) {
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v),
            None => params.push((k, vec![v])),
        }
    }
    params
}

/// `params.pop(name)`: the option's values, taken out of `params`.
fn pop(params: &mut Vec<(String, Vec<String>)>, name: &str) -> Option<Vec<String>> {
    let i = params.iter().position(|(k, _)| k == name)?;
    Some(params.remove(i).1)
}

/// `params.get(name)[-1]`: the option's last value.
fn last_value<'p>(params: &'p [(String, Vec<String>)], name: &str) -> Option<&'p String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, values)| values.last())
}

/// `True`/`False` for oslo's `bool_from_string(strict=True)`, `None` for anything else.
fn strict_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

impl HttpTarget {
    /// Parse an `http://`-style publisher URL the way Ceilometer's `HttpPublisher.__init__`
    /// does, except that an option with a bad value is refused (Ceilometer silently uses the
    /// default) so that `ceilo check` names it.
    pub fn parse(url: &str) -> Result<HttpTarget, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (rest, fragment) = rest.split_once('#').map_or((rest, None), |(r, f)| (r, Some(f)));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (netloc, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (userinfo, hostport) = netloc
            .rsplit_once('@')
            .map_or((None, netloc), |(u, h)| (Some(u), h));
        let host_end = if hostport.starts_with('[') {
            hostport.find(']').map_or(hostport.len(), |i| i + 1)
        } else {
            hostport.rfind(':').unwrap_or(hostport.len())
        };
        let (host, port) = hostport.split_at(host_end);
        if host.is_empty() || host == "[]" {
            return Err(UrlError::NoHost(url.to_owned()));
        }
        if let Some(port) = port.strip_prefix(':').filter(|p| !p.is_empty()) {
            if port.parse::<u16>().is_err() {
                return Err(UrlError::Port {
                    url: url.to_owned(),
                    port: port.to_owned(),
                });
            }
        }
        let mut params = parse_qs(query);
        // `_get_param`: the option's last value, and the option leaves the target's query.
        let mut take = |name: &str| pop(&mut params, name).and_then(|mut values| values.pop());
        let bad = |option: &str, reason: &str| UrlError::Option {
            url: url.to_owned(),
            option: option.to_owned(),
            reason: reason.to_owned(),
        };
        let number = |option: &str, v: Option<String>, default: u64| match v {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| bad(option, "not a whole number")),
        };
        let timeout = crate::duration::whole_seconds(number("timeout", take("timeout"), 5)?)
            .ok_or_else(|| bad("timeout", &format!("must be {}", crate::duration::EXPECTED)))?;
        let max_retries = number("max_retries", take("max_retries"), 2)?.min(u32::MAX as u64) as u32;
        let batch = take("batch").is_none_or(|v| bool_from_string(&v));
        let verify_ssl = match take("verify_ssl") {
            None => VerifySsl::System,
            Some(v) => match strict_bool(&v) {
                Some(true) => VerifySsl::System,
                Some(false) => VerifySsl::No,
                None => VerifySsl::CaFile(PathBuf::from(v)),
            },
        };
        let client_cert = match (take("clientcert"), take("clientkey")) {
            (Some(cert), key) => Some((PathBuf::from(cert), key.map(PathBuf::from))),
            (None, Some(_)) => return Err(bad("clientkey", "needs clientcert")),
            (None, None) => None,
        };
        let raw_only = take("raw_only").is_some_and(|v| bool_from_string(&v));
        let scheme = match scheme {
            "http" | "https" => scheme,
            // prometheus://, opentelemetryhttp://: `ssl=` says which.
            _ => match take("ssl") {
                Some(v) if strict_bool(&v) != Some(false) => "https",
                _ => "http",
            },
        };
        let basic_auth = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            (user.to_owned(), password.to_owned())
        });
        let mut target = format!("{scheme}://{hostport}{path}");
        if !params.is_empty() {
            target.push('?');
            target.push_str(&urlencode(&params));
        }
        if let Some(f) = fragment.filter(|f| !f.is_empty()) {
            target.push('#');
            target.push_str(f);
        }
        Ok(HttpTarget {
            url: target,
            timeout,
            max_retries,
            batch,
            verify_ssl,
            client_cert,
            basic_auth,
            raw_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifier_options_are_read_as_ceilometer_reads_them() {
        let plain = PublisherUrl::Notifier {
            topics: Vec::new(),
            per_meter_topic: false,
            transport_url: None,
        };
        for ok in [
            "notifier://?policy=drop",
            "notifier://?policy=queue&max_queue_length=2048",
            "notifier://?policy=default&max_retry=10",
            // What Ceilometer 27 loads too: an unknown policy (forced to `default`, with a
            // warning), `int()`'s grammar, the last value of each, and blank values as if
            // absent (`parse_qs`).
            "notifier://?policy=sometimes",
            "notifier://?max_retry=-1",
            "notifier://?max_retry=lots&max_retry=3",
            "notifier://?max_queue_length=-5",
            "notifier://?max_queue_length=1_024",
            "notifier://?max_queue_length=lots&max_queue_length=5",
            "notifier://?max_queue_length=&policy=&per_meter_topic=",
            "notifier://?per_meter_topic=1&per_meter_topic=0",
            // Without a host Ceilometer publishes on its own transport whatever the driver.
            "notifier://?driver=kafka",
        ] {
            assert_eq!(PublisherUrl::parse(ok).as_ref(), Ok(&plain), "{ok}");
        }
        assert_eq!(
            PublisherUrl::warnings("notifier://u:secret@h/?policy=sometimes"),
            [
                "notifier://u:***@h/?policy=sometimes: publishing policy \"sometimes\" is unknown: \
              taken as \"default\", as Ceilometer does"
            ]
        );
        for quiet in [
            "notifier://?policy=drop",
            "notifier://?policy=sometimes&policy=queue",
            "notifier://?policy=",
            "file:///x?policy=sometimes",
        ] {
            assert!(PublisherUrl::warnings(quiet).is_empty(), "{quiet}");
        }
        for on in ["2", "-1", " 1 ", "0&per_meter_topic=1"] {
            let url = format!("notifier://?per_meter_topic={on}");
            assert!(
                matches!(
                    PublisherUrl::parse(&url),
                    Ok(PublisherUrl::Notifier {
                        per_meter_topic: true,
                        ..
                    })
                ),
                "{url}"
            );
        }
        // `int(v)` raises, so Ceilometer's publisher does not load.
        for (bad, option) in [
            ("notifier://?max_queue_length=lots", "max_queue_length"),
            (
                "notifier://?max_queue_length=5&max_queue_length=1.5",
                "max_queue_length",
            ),
            ("notifier://?max_retry=-1&max_retry=lots", "max_retry"),
            ("notifier://?per_meter_topic=True", "per_meter_topic"),
            ("notifier://?per_meter_topic=yes", "per_meter_topic"),
        ] {
            match PublisherUrl::parse(bad) {
                Err(UrlError::Option { option: named, .. }) => assert_eq!(named, option, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_notifier_naming_a_broker_publishes_there_as_ceilometer_builds_its_url() {
        let elsewhere = |url: &str| match PublisherUrl::parse(url) {
            Ok(PublisherUrl::Notifier {
                topics,
                transport_url,
                ..
            }) => (topics, transport_url),
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(
            elsewhere(
                "notifier://u:p@broker2:5672/telemetry?topic=alt&driver=rabbit&policy=drop&max_retry=3"
            ),
            (
                vec!["alt".into()],
                Some("rabbit://u:p@broker2:5672/telemetry?policy=drop&max_retry=3".into())
            )
        );
        assert_eq!(
            elsewhere("notifier://broker2"),
            (vec![], Some("rabbit://broker2".into()))
        );
        // Decoded as `parse_qs` decodes, and the options passed on encoded again by
        // `urlencode` (what Ceilometer 27 made of this URL).
        assert_eq!(
            elsewhere("notifier://u:p@h:5672/v?topic=a%2Eb+c&ssl_ca_file=/etc/a%20b.pem&x=1&y=&x=2&driver=&driver=rabbit"),
            (
                vec!["a.b c".into()],
                Some("rabbit://u:p@h:5672/v?ssl_ca_file=%2Fetc%2Fa+b.pem&x=1&x=2".into())
            )
        );
        // oslo's several nodes of one cluster.
        assert_eq!(
            elsewhere("notifier://u:p@h1:5672,u:p@h2:5672/?topic=t").1,
            Some("rabbit://u:p@h1:5672,u:p@h2:5672/".into())
        );
        let e = PublisherUrl::parse("notifier://u:secret@broker2/?driver=kafka&driver=rabbit").unwrap_err();
        assert_eq!(
            e.to_string(),
            "notifier://u:***@broker2/?driver=kafka&driver=rabbit: driver \"kafka\": ceilo publishes to \
             RabbitMQ only (driver rabbit, the default)"
        );
        let e = PublisherUrl::parse("notifier://u:secret@broker2:port/").unwrap_err();
        assert!(matches!(e, UrlError::Broker { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("notifier://u:***@broker2:port/: the broker it names: "),
            "{e}"
        );
    }

    #[test]
    fn parses_ceilometer_style_urls() {
        assert_eq!(
            PublisherUrl::parse("notifier://?topic=alt&per_meter_topic=1").unwrap(),
            PublisherUrl::Notifier {
                topics: vec!["alt".into()],
                per_meter_topic: true,
                transport_url: None,
            }
        );
        // Each notification goes to every topic, in the URL's order, blank ones left out.
        assert_eq!(
            PublisherUrl::parse("notifier://?topic=b&topic=&topic=a&topic=b").unwrap(),
            PublisherUrl::Notifier {
                topics: vec!["b".into(), "a".into(), "b".into()],
                per_meter_topic: false,
                transport_url: None,
            }
        );
        assert_eq!(
            PublisherUrl::parse("notifier://").unwrap(),
            PublisherUrl::Notifier {
                topics: Vec::new(),
                per_meter_topic: false,
                transport_url: None,
            }
        );
        assert_eq!(
            PublisherUrl::parse("file:///var/log/s.log?max_bytes=10&backup_count=2&json").unwrap(),
            PublisherUrl::File {
                path: "/var/log/s.log".into(),
                max_bytes: 10,
                backup_count: 2,
                fsync: true,
                json: true,
            }
        );
        match PublisherUrl::parse("gnocchi://?filter_project=ops+team&filter_domain=a%2Db") {
            Ok(PublisherUrl::Gnocchi(o)) => {
                assert_eq!(
                    (&*o.filter_project, &*o.filter_domain),
                    ("ops team", "a-b"),
                    "decoded"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            PublisherUrl::parse("gnocchi://?archive_policy=ceilometer-high").unwrap(),
            PublisherUrl::Gnocchi(crate::publish::gnocchi::GnocchiOptions {
                archive_policy: Some("ceilometer-high".into()),
                ..Default::default()
            })
        );
        assert!(matches!(
            PublisherUrl::parse("gnocchi://?timeout=x"),
            Err(UrlError::Option { .. })
        ));
        assert_eq!(
            PublisherUrl::parse("zaqar://?queue=&queue=metering-q&ttl=1200&ttl=5"),
            Ok(PublisherUrl::Zaqar(ZaqarTarget {
                queue: "metering-q".into(),
                ttl: 1200
            }))
        );
        assert_eq!(
            PublisherUrl::parse("zaqar://any.host/?queue=q_1"),
            Ok(PublisherUrl::Zaqar(ZaqarTarget {
                queue: "q_1".into(),
                ttl: 3600
            }))
        );
        for (bad, option) in [
            ("zaqar://", "queue"),
            ("zaqar://?queue=", "queue"),
            ("zaqar://?queue=a.b", "queue"),
            ("zaqar://?queue=q&ttl=1h", "ttl"),
        ] {
            assert!(
                matches!(PublisherUrl::parse(bad), Err(UrlError::Option { option: o, .. }) if o == option),
                "{bad}"
            );
        }
        assert!(matches!(
            PublisherUrl::parse("prometheus://"),
            Err(UrlError::NoHost(_))
        ));
    }

    /// Each URL as Ceilometer 27's `FilePublisher` took it (its handler's `baseFilename`,
    /// `maxBytes`, `backupCount` and `output_json`, printed in /opt/ceilometer-venv), and the
    /// URLs on which it logs an error and writes nothing, which ceilo refuses.
    #[test]
    fn file_options_are_read_as_ceilometer_reads_them() {
        let loads = [
            ("file:///tmp/a", "/tmp/a", 0, 0, false),
            ("file://host/tmp/b", "/tmp/b", 0, 0, false),
            ("file:///tmp/c?json", "/tmp/c", 0, 0, true),
            ("file:///tmp/d?json=0", "/tmp/d", 0, 0, true),
            ("file:///tmp/e?%6Ason", "/tmp/e", 0, 0, true),
            ("file:///tmp/f?max_bytes=10", "/tmp/f", 0, 0, false),
            ("file:///tmp/g?max_bytes=abc", "/tmp/g", 0, 0, false),
            (
                "file:///tmp/h?max_bytes=10&backup_count=2",
                "/tmp/h",
                10,
                2,
                false,
            ),
            (
                "file:///tmp/i?max_bytes=10&backup_count=2&max_bytes=99",
                "/tmp/i",
                10,
                2,
                false,
            ),
            (
                "file:///tmp/k?max_bytes=+1_0&backup_count=%202%20",
                "/tmp/k",
                10,
                2,
                false,
            ),
            // Zero or less never rotates in RotatingFileHandler.
            (
                "file:///tmp/l?max_bytes=-5&backup_count=-1",
                "/tmp/l",
                0,
                0,
                false,
            ),
            ("file:///tmp/n#frag?json", "/tmp/n", 0, 0, false),
            ("file:///tmp/o?json#x", "/tmp/o", 0, 0, true),
            (
                "file:///tmp/p?max_bytes=99999999999999999999999&backup_count=5",
                "/tmp/p",
                u64::MAX,
                5,
                false,
            ),
        ];
        for (url, path, max_bytes, backup_count, json) in loads {
            assert_eq!(
                PublisherUrl::parse(url),
                Ok(PublisherUrl::File {
                    path: path.into(),
                    max_bytes,
                    backup_count,
                    fsync: true,
                    json,
                }),
                "{url}"
            );
        }
        assert!(matches!(
            PublisherUrl::parse("File:///tmp/q"),
            Ok(PublisherUrl::File { .. })
        ));
        for url in [
            "file://host",
            "file:///tmp/j?max_bytes=&backup_count=2",
            "file:///tmp/m?max_bytes=1.5&backup_count=2",
        ] {
            assert!(PublisherUrl::parse(url).is_err(), "{url} should be refused");
        }
    }

    fn http(url: &str) -> HttpTarget {
        match PublisherUrl::parse(url) {
            Ok(PublisherUrl::Http(t)) => t,
            other => panic!("{url}: {other:?}"),
        }
    }

    /// The targets and options are what Ceilometer 27's `HttpPublisher.__init__` makes of the
    /// same URLs (run in its venv).
    #[test]
    fn http_options_leave_the_target_as_ceilometer_does() {
        let t = http(
            "https://user:pa%20ss@example.com:8443/path?verify_ssl=False&q=foo+bar&timeout=3&b=2\
             &q=baz&empty=&raw_only=1&batch=false#frag",
        );
        assert_eq!(t.url, "https://example.com:8443/path?q=foo+bar&q=baz&b=2#frag");
        assert_eq!(t.timeout, Duration::from_secs(3));
        assert_eq!(t.max_retries, 2);
        assert!(!t.batch);
        assert_eq!(t.verify_ssl, VerifySsl::No);
        assert_eq!(t.basic_auth, Some(("user".into(), "pa%20ss".into())));
        assert_eq!(t.client_cert, None);
        assert!(t.raw_only);

        let t = http(
            "http://localhost:8080/p?max_retries=5&clientcert=/c.pem&clientkey=/k.pem&z=%2F%C3%A9&x=a%20b",
        );
        assert_eq!(t.url, "http://localhost:8080/p?z=%2F%C3%A9&x=a+b");
        assert_eq!(t.max_retries, 5);
        assert!(t.batch);
        assert_eq!(t.verify_ssl, VerifySsl::System);
        assert_eq!(t.client_cert, Some(("/c.pem".into(), Some("/k.pem".into()))));
        assert_eq!(t.basic_auth, None);

        assert_eq!(http("http://127.0.0.1/").url, "http://127.0.0.1/");
        let t = http("https://h/p?verify_ssl=/etc/ca.pem&ssl=1");
        assert_eq!(t.url, "https://h/p?ssl=1");
        assert_eq!(t.verify_ssl, VerifySsl::CaFile("/etc/ca.pem".into()));
        assert_eq!(PublisherUrl::parse("https://h/").unwrap().scheme(), "https");

        assert_eq!(
            http("HTTPS://H/p").url,
            "https://H/p",
            "the scheme in lower case, as urlsplit"
        );

        // Python ≥ 3.9.2's parse_qs splits on `&` only: a `;` is part of the value.
        let t = http("http://h:80/p?x=1;y=2&timeout=7");
        assert_eq!(
            (t.url.as_str(), t.timeout),
            ("http://h:80/p?x=1%3By%3D2", Duration::from_secs(7))
        );
        assert_eq!(
            http("http://h:80/p?a=1&a=2;b=3").url,
            "http://h:80/p?a=1&a=2%3Bb%3D3"
        );
    }

    #[test]
    fn bad_http_options_are_named() {
        let err = |url: &str| PublisherUrl::parse(url).unwrap_err().to_string();
        assert!(err("http://h/?timeout=soon").contains("option timeout: not a whole number"));
        // requests refuses a timeout of 0 when it posts, which would fail every flush forever.
        for t in ["0", "31536001", "18446744073709551615"] {
            let e = err(&format!("http://h/?timeout={t}"));
            assert!(
                e.contains("option timeout: must be a positive number of seconds, at most 31536000"),
                "{e}"
            );
        }
        assert!(err("http://h/?max_retries=-1").contains("option max_retries"));
        assert!(err("http://h/?clientkey=/k.pem").contains("option clientkey: needs clientcert"));
        assert!(err("http:///path").contains("needs a host name"));
        assert!(err("http://h:80x/").contains("port \"80x\" is not a number"));
        assert!(err("zaqar://q").contains("option queue: Must specify a queue"));
        assert!(err("kafka://q").contains("not supported"));
    }

    #[test]
    fn udp_and_tcp_take_host_and_port_as_oslo_does() {
        let hp = |host: &str, port| HostPort {
            host: host.into(),
            port,
        };
        assert_eq!(
            PublisherUrl::parse("udp://collector").unwrap(),
            PublisherUrl::Udp(hp("collector", 4952))
        );
        assert_eq!(
            PublisherUrl::parse("tcp://10.0.0.1:9000/").unwrap(),
            PublisherUrl::Tcp(hp("10.0.0.1", 9000))
        );
        assert_eq!(
            PublisherUrl::parse("udp://[::1]:4000").unwrap(),
            PublisherUrl::Udp(hp("::1", 4000))
        );
        assert_eq!(
            PublisherUrl::parse("udp://[::1]").unwrap(),
            PublisherUrl::Udp(hp("::1", 4952))
        );
        assert!(matches!(PublisherUrl::parse("udp://"), Err(UrlError::NoHost(_))));
        assert!(matches!(
            PublisherUrl::parse("tcp://h:port"),
            Err(UrlError::Port { .. })
        ));
    }
}
