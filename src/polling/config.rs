//! polling.yaml, as Ceilometer writes it, parsed into typed sources. The polling agent's own
//! settings (ceilo.yaml's `polling:` section) are [`crate::config::PollingOptions`].
//!
//! A source is `name`, `interval` (seconds), `meters` (fnmatch globs, `!` for exclusions) and
//! optionally `resources` (static endpoints) and `discovery` (discoverer names). The meter
//! rules are Ceilometer's (`pipeline/base.py: check_source_filtering`, `is_supported`):
//! included and excluded meters cannot be mixed, `*` cannot be mixed with included meters,
//! exclusions win, and a list of only exclusions allows everything else.
//! This module does not know which pollster serves which meter; see [`super::pollster`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::model::yaml_outline::Outline;
use crate::model::yaml_read::yaml_inline;
use crate::problem::Problem;

/// Why polling.yaml (or a setting) is not usable. Every variant names the file or source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a polling configuration: {source}")]
    Yaml {
        path: PathBuf,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("{}", source_problem(.path, *.line, .source_name, .reason))]
    Source {
        path: PathBuf,
        /// The line of the source's offending key, else of the source (none in flow style).
        line: Option<usize>,
        source_name: String,
        reason: String,
    },
}

impl From<ConfigError> for Problem {
    /// The same words, as the one [`Problem`] `ceilo check` and `ceilo run` print (with the
    /// line, where one is known).
    fn from(e: ConfigError) -> Problem {
        match e {
            ConfigError::Read { path, source } => Problem::new(&path, None, format!("cannot read: {source}")),
            ConfigError::Yaml { path, source } => Problem::new(
                &path,
                source.location().map(|l| l.line()),
                format!("not a polling configuration: {source}"),
            ),
            ConfigError::Source {
                path,
                line,
                source_name,
                reason,
            } => source_problem(&path, line, &source_name, &reason),
        }
    }
}

/// A source's problem, as both the error and the [`Problem`] show it.
fn source_problem(path: &Path, line: Option<usize>, source_name: &str, reason: &str) -> Problem {
    Problem::new(path, line, format!("source {source_name:?}: {reason}"))
}

/// The whole polling.yaml.
#[derive(Debug, Clone)]
pub struct PollingConfig {
    pub sources: Vec<SourceConfig>,
}

/// One polling source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: Arc<str>,
    /// How often the source polls (Ceilometer default 600 s when missing).
    pub interval: Duration,
    pub meters: MeterFilter,
    /// Static resources: when present they are the resources of every pollster of the source.
    pub resources: Vec<String>,
    /// Discoverer names (`local_node`, `fleet`, `fleet:N`, `endpoint:TYPE`, ...). When empty,
    /// each pollster uses its own default discovery.
    pub discovery: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    sources: Option<Vec<RawSource>>,
}

#[derive(Deserialize)]
struct RawSource {
    name: Option<String>,
    interval: Option<yaml_serde::Value>,
    meters: Option<Vec<String>>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    discovery: Vec<String>,
    // Ceilometer ignores the rest of a source (e.g. the old `sinks:`), so does ceilo.
}

/// Ceilometer's default when a source has no `interval`.
const DEFAULT_INTERVAL_SECS: u64 = 600;

impl PollingConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse polling.yaml text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawFile = crate::model::yaml_read::from_str(text).map_err(|source| ConfigError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        let mut sources = Vec::new();
        let mut names = std::collections::HashSet::new();
        let outlines = Outline::of(text).items("sources");
        for (i, raw) in raw.sources.unwrap_or_default().into_iter().enumerate() {
            let outline = outlines.get(i);
            // The problem names the line of `key` in the source, else the source's own.
            let err = |name: &str, key: &str, reason: String| ConfigError::Source {
                path: path.to_owned(),
                line: outline.map(|o| o.key_line(key).unwrap_or(o.line)),
                source_name: name.to_owned(),
                reason,
            };
            let Some(name) = raw.name.filter(|n| !n.is_empty()) else {
                return Err(err(&format!("#{i}"), "name", "a source needs a name".into()));
            };
            if !names.insert(name.clone()) {
                return Err(err(&name, "name", "duplicated source name".into()));
            }
            let interval = match raw.interval {
                None => DEFAULT_INTERVAL_SECS,
                Some(v) => parse_interval(&v).ok_or_else(|| {
                    let reason = format!(
                        "interval must be a whole number of seconds, positive and at most {} (a year), got {}",
                        crate::duration::MAX_SECONDS,
                        yaml_inline(&v)
                    );
                    err(&name, "interval", reason)
                })?,
            };
            let meters =
                MeterFilter::new(raw.meters.unwrap_or_default()).map_err(|r| err(&name, "meters", r))?;
            sources.push(SourceConfig {
                name: name.into(),
                interval: Duration::from_secs(interval),
                meters,
                resources: raw.resources,
                discovery: raw.discovery,
            });
        }
        Ok(Self { sources })
    }
}

/// Python's `int()` accepts an int or a numeric string; the interval must be > 0.
fn parse_interval(v: &yaml_serde::Value) -> Option<u64> {
    let n = match v {
        yaml_serde::Value::Number(n) => n.as_u64()?,
        yaml_serde::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    crate::duration::whole_seconds(n).map(|_| n)
}

/// A source's `meters` list, compiled.
#[derive(Debug, Clone)]
pub struct MeterFilter {
    included: Vec<String>,
    excluded: Vec<String>,
}

impl MeterFilter {
    /// Validate the list with Ceilometer's rules; the error is the reason text.
    pub fn new(meters: Vec<String>) -> Result<Self, String> {
        if meters.is_empty() {
            return Err("no meters specified".into());
        }
        let has_plain = meters.iter().any(|m| !m.starts_with(['!', '*']));
        let has_excluded = meters.iter().any(|m| m.starts_with('!'));
        if has_plain && has_excluded {
            return Err("both included and excluded meters specified".into());
        }
        if has_plain && meters.iter().any(|m| m == "*") {
            return Err("included meters specified with wildcard".into());
        }
        let (excluded, included) = meters.into_iter().partition::<Vec<_>, _>(|m| m.starts_with('!'));
        Ok(Self {
            included,
            excluded: excluded.into_iter().map(|m| m[1..].to_owned()).collect(),
        })
    }

    /// The included patterns (no exclusions), for reports such as `ceilo check`.
    pub fn plain_names(&self) -> impl Iterator<Item = &str> {
        self.included.iter().map(String::as_str)
    }

    /// Does the source poll this meter? Exclusions first, then inclusions; only exclusions
    /// means "everything else".
    pub fn accepts(&self, meter: &str) -> bool {
        if self.excluded.iter().any(|p| fnmatch(p, meter)) {
            return false;
        }
        if self.included.iter().any(|p| fnmatch(p, meter)) {
            return true;
        }
        self.included.is_empty()
    }
}

/// Python's `fnmatch.fnmatch` on POSIX (case-sensitive): `*`, `?`, `[seq]`, `[!seq]`.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fnmatch_at(&p, &n)
}

fn fnmatch_at(p: &[char], n: &[char]) -> bool {
    // Iterative matcher with single-star backtracking.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(&p[pi..], n[ni]) {
                        if matched {
                            pi += next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        // An unclosed '[' is a literal, as in Python.
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `[...]` at the start of `p`: `Some((matches, length of the class))`, `None` if unclosed.
fn match_class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PollingConfig, ConfigError> {
        PollingConfig::parse(text, Path::new("polling.yaml"))
    }

    #[test]
    fn parses_ceilometers_default_polling_yaml() {
        let c = parse(include_str!("../../config/polling.yaml")).unwrap();
        assert!(!c.sources.is_empty());
        for s in &c.sources {
            assert!(s.interval.as_secs() > 0);
        }
    }

    #[test]
    fn parses_sources_with_resources_and_discovery() {
        let c = parse(
            "sources:\n  - name: a\n    interval: '30'\n    meters: ['cpu', 'disk.*']\n    resources: ['http://x/']\n    discovery: ['fleet:10']\n  - name: b\n    meters: ['!disk.*']\n",
        )
        .unwrap();
        assert_eq!(c.sources[0].interval, Duration::from_secs(30));
        assert_eq!(c.sources[0].resources, ["http://x/"]);
        assert_eq!(c.sources[0].discovery, ["fleet:10"]);
        assert_eq!(c.sources[1].interval, Duration::from_secs(600));
        assert!(c.sources[0].meters.accepts("disk.device.read.bytes"));
        assert!(!c.sources[0].meters.accepts("memory.usage"));
        assert!(c.sources[1].meters.accepts("memory.usage"));
        assert!(!c.sources[1].meters.accepts("disk.device.read.bytes"));
    }

    #[test]
    fn rejects_what_ceilometer_rejects_naming_the_line() {
        let other = "  - name: ok\n    meters: [a]\n";
        for (source, shown) in [
            (
                "  - interval: 3\n    meters: [a]\n",
                "polling.yaml:4: source \"#1\": a source needs a name",
            ),
            (
                "  - name: a\n    interval: 0\n    meters: [a]\n",
                "polling.yaml:5: source \"a\": interval must be a whole number of seconds, positive and at most 31536000 (a year), got 0",
            ),
            (
                "  - name: a\n    interval: -5\n    meters: [a]\n",
                "polling.yaml:5: source \"a\": interval must be a whole number of seconds, positive and at most 31536000 (a year), got -5",
            ),
            (
                "  - name: a\n    interval: x\n    meters: [a]\n",
                "polling.yaml:5: source \"a\": interval must be a whole number of seconds, positive and at most 31536000 (a year), got x",
            ),
            (
                "  - name: a\n    meters: []\n",
                "polling.yaml:5: source \"a\": no meters specified",
            ),
            (
                "  - name: a\n    meters: [a, '!b']\n",
                "polling.yaml:5: source \"a\": both included and excluded meters specified",
            ),
            (
                "  - name: a\n    meters: ['*', b]\n",
                "polling.yaml:5: source \"a\": included meters specified with wildcard",
            ),
            (
                "  - name: ok\n    meters: [b]\n",
                "polling.yaml:4: source \"ok\": duplicated source name",
            ),
            // Flow style has no lines of its own: the source's line is the list's.
            (
                "  - {name: a, meters: []}\n",
                "polling.yaml:4: source \"a\": no meters specified",
            ),
        ] {
            let yaml = format!("sources:\n{other}{source}");
            let e = parse(&yaml).unwrap_err();
            assert_eq!(e.to_string(), shown, "{yaml}");
            assert_eq!(Problem::from(e).to_string(), shown, "{yaml}");
        }
        let e = parse("sources: [{name: a, meters: []}]\n").unwrap_err();
        assert_eq!(e.to_string(), "polling.yaml: source \"a\": no meters specified");
        assert!(matches!(parse("sources: 3"), Err(ConfigError::Yaml { .. })));
    }

    #[test]
    fn a_yaml_error_is_a_problem_in_the_same_words_naming_its_line() {
        let e = parse("sources:\n  - name: a\n    meters: [a\n").unwrap_err();
        let shown = e.to_string();
        let problem = Problem::from(e);
        assert_eq!(problem.line, Some(4), "{problem}");
        assert_eq!(
            problem.to_string(),
            shown.replacen("polling.yaml: ", "polling.yaml:4: ", 1)
        );
    }

    #[test]
    fn wildcard_with_exclusions_excludes() {
        let f = MeterFilter::new(vec!["*".into(), "!cpu".into()]).unwrap();
        assert!(f.accepts("memory.usage"));
        assert!(!f.accepts("cpu"));
    }

    #[test]
    fn fnmatch_behaves_like_python() {
        assert!(fnmatch("*", ""));
        assert!(fnmatch("disk.*", "disk.device.read.bytes"));
        assert!(fnmatch("*.bytes", "network.incoming.bytes"));
        assert!(!fnmatch("disk.*", "network.disk.x"));
        assert!(fnmatch("cpu?", "cpu1"));
        assert!(!fnmatch("cpu?", "cpu"));
        assert!(fnmatch("netw[o0]rk", "network"));
        assert!(fnmatch("netw[o0]rk", "netw0rk"));
        assert!(fnmatch("a[!b]c", "axc"));
        assert!(!fnmatch("a[!b]c", "abc"));
        assert!(fnmatch("a[0-9]", "a7"));
        assert!(fnmatch("a[", "a["));
        assert!(fnmatch("*a*b*c", "xxaxxbxxc"));
        assert!(!fnmatch("*a*b*c", "xxaxxbxx"));
    }
}
