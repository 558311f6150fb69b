//! Publisher URLs as written in pipeline.yaml sinks, parsed once into options.

use std::path::PathBuf;

/// Why a publisher URL is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UrlError {
    #[error("publisher {0:?} is not supported by ceilo (supported: notifier://, file://, gnocchi://)")]
    Unsupported(String),
    #[error("{url}: option {option}: {reason}")]
    Option {
        url: String,
        option: String,
        reason: String,
    },
    #[error("{0}: file:// needs a path")]
    NoPath(String),
}

/// A parsed publisher URL.
#[derive(Debug, Clone, PartialEq)]
pub enum PublisherUrl {
    /// `notifier://[?topic=T][&per_meter_topic=1]`: oslo notifications on the agent's transport.
    Notifier {
        /// Overrides the metering (or event) topic.
        topic: Option<String>,
        /// Route each meter to `<topic>.<meter name>` (samples only).
        per_meter_topic: bool,
    },
    /// `file:///path[?max_bytes=N&backup_count=N&fsync=0]`: JSON lines, rotated like Python's
    /// `RotatingFileHandler` when `max_bytes` > 0.
    File {
        path: PathBuf,
        max_bytes: u64,
        backup_count: u32,
        fsync: bool,
    },
    /// `gnocchi://[?archive_policy=..&timeout=..&enable_filter_project=..]`: measures and
    /// resources in Gnocchi (see [`crate::publish::gnocchi`]); where Gnocchi is comes from
    /// ceilo.yaml's `gnocchi:` section, as it comes from ceilometer.conf in Ceilometer.
    Gnocchi(super::gnocchi::GnocchiOptions),
}

pub(crate) fn bool_from_string(s: &str) -> bool {
    // oslo strutils.bool_from_string
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

fn query(url: &str) -> (&str, Vec<(String, String)>) {
    let (base, q) = url.split_once('?').unwrap_or((url, ""));
    let pairs = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (base, pairs)
}

impl PublisherUrl {
    /// The scheme (`notifier`, `file`): the `publisher` label of metrics.
    pub fn scheme(&self) -> &'static str {
        match self {
            PublisherUrl::Notifier { .. } => "notifier",
            PublisherUrl::File { .. } => "file",
            PublisherUrl::Gnocchi(_) => "gnocchi",
        }
    }

    pub fn parse(url: &str) -> Result<PublisherUrl, UrlError> {
        let (base, options) = query(url.trim());
        let scheme = base.split_once("://").map_or(base, |(s, _)| s);
        let number = |k: &str, v: &str| {
            v.parse::<u64>().map_err(|e| UrlError::Option {
                url: url.to_owned(),
                option: k.to_owned(),
                reason: e.to_string(),
            })
        };
        match scheme {
            "notifier" => {
                let mut topic = None;
                let mut per_meter_topic = false;
                for (k, v) in options {
                    match k.as_str() {
                        "topic" if !v.is_empty() => topic = Some(v),
                        "per_meter_topic" => per_meter_topic = bool_from_string(&v),
                        _ => {} // policy, max_queue_length, ...: Ceilometer options ceilo does not need
                    }
                }
                Ok(PublisherUrl::Notifier {
                    topic,
                    per_meter_topic,
                })
            }
            "file" => {
                let path = base.strip_prefix("file://").unwrap_or("");
                if path.is_empty() {
                    return Err(UrlError::NoPath(url.to_owned()));
                }
                let (mut max_bytes, mut backup_count, mut fsync) = (0, 0, true);
                for (k, v) in options {
                    match k.as_str() {
                        "max_bytes" => max_bytes = number(&k, &v)?,
                        "backup_count" => backup_count = number(&k, &v)?.min(u32::MAX as u64) as u32,
                        "fsync" => fsync = bool_from_string(&v),
                        _ => {} // `json`: ceilo always writes JSON
                    }
                }
                Ok(PublisherUrl::File {
                    path: PathBuf::from(path),
                    max_bytes,
                    backup_count,
                    fsync,
                })
            }
            "gnocchi" => super::gnocchi::GnocchiOptions::from_query(&options)
                .map(PublisherUrl::Gnocchi)
                .map_err(|(option, reason)| UrlError::Option {
                    url: url.to_owned(),
                    option,
                    reason,
                }),
            other => Err(UrlError::Unsupported(format!("{other}://"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ceilometer_style_urls() {
        assert_eq!(
            PublisherUrl::parse("notifier://?topic=alt&per_meter_topic=True").unwrap(),
            PublisherUrl::Notifier {
                topic: Some("alt".into()),
                per_meter_topic: true
            }
        );
        assert_eq!(
            PublisherUrl::parse("notifier://").unwrap(),
            PublisherUrl::Notifier {
                topic: None,
                per_meter_topic: false
            }
        );
        assert_eq!(
            PublisherUrl::parse("file:///var/log/s.log?max_bytes=10&backup_count=2&json").unwrap(),
            PublisherUrl::File {
                path: "/var/log/s.log".into(),
                max_bytes: 10,
                backup_count: 2,
                fsync: true
            }
        );
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
        assert!(matches!(
            PublisherUrl::parse("prometheus://"),
            Err(UrlError::Unsupported(_))
        ));
        assert!(PublisherUrl::parse("file:///x?max_bytes=abc").is_err());
    }
}
