//! Message templates: real notifications from the Ceilometer reference corpus, with placeholders
//! where loadgen puts per-message values, and what Ceilometer's default pipelines make of each.
//!
//! The built-in set is `data/templates.jsonl`, made by `data/make_templates.py` from the corpus;
//! `--templates FILE` loads another file of the same form. This module parses; it does not
//! pick or fill (see `generate`).

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The templates compiled into loadgen.
pub const BUILTIN: &str = include_str!("../data/templates.jsonl");

/// One piece of a template's inner message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text copied as is.
    Lit(String),
    /// The run key (message_id and resource ids).
    Key,
    /// `_unique_id`: 32 hex characters.
    Unique,
    /// A fresh UUID4 (request id, sample message ids).
    Uuid,
    /// The notification timestamp.
    Timestamp,
    /// Where padding goes (`, "notes": "..."` or nothing).
    Pad,
}

/// A notification shape and its expected output.
#[derive(Debug, Clone)]
pub struct Template {
    /// Corpus case name, e.g. `nova-create-end`.
    pub name: String,
    /// Family used by `--mix`: the service exchange, or `polling` for telemetry.polling.
    pub family: String,
    /// Exchange the service publishes to.
    pub exchange: String,
    /// Lower-case priority; the routing key is `notifications.<priority>`.
    pub priority: String,
    /// Meter names of the samples Ceilometer's default pipeline makes, with repetitions.
    pub samples: Vec<String>,
    /// Number of events the default event pipeline makes.
    pub events: u32,
    /// The inner oslo message text, cut at its placeholders.
    pub segments: Vec<Segment>,
}

impl Template {
    /// Routing key as oslo.messaging builds it: `<topic>.<priority>`.
    pub fn routing_key(&self) -> String {
        format!("notifications.{}", self.priority)
    }
}

#[derive(Deserialize)]
struct Raw {
    name: String,
    family: String,
    exchange: String,
    priority: String,
    samples: Vec<String>,
    events: u32,
    inner: String,
}

const PLACEHOLDERS: &[(&str, Segment)] = &[
    ("@@KEY@@", Segment::Key),
    ("@@UNIQUE@@", Segment::Unique),
    ("@@REQ@@", Segment::Uuid),
    ("@@UUID@@", Segment::Uuid),
    ("@@TS@@", Segment::Timestamp),
    ("@@PAD@@", Segment::Pad),
];

fn split(inner: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = inner;
    loop {
        let next = PLACEHOLDERS
            .iter()
            .filter_map(|(p, seg)| rest.find(p).map(|i| (i, p.len(), seg)))
            .min_by_key(|(i, _, _)| *i);
        match next {
            Some((i, len, seg)) => {
                if i > 0 {
                    out.push(Segment::Lit(rest[..i].to_owned()));
                }
                out.push(seg.clone());
                rest = &rest[i + len..];
            }
            None => {
                if !rest.is_empty() {
                    out.push(Segment::Lit(rest.to_owned()));
                }
                return out;
            }
        }
    }
}

/// Parses a templates file (one JSON object a line).
pub fn parse(text: &str, origin: &str) -> Result<Vec<Template>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let raw: Raw =
            serde_json::from_str(line).with_context(|| format!("{origin}:{}: bad template", n + 1))?;
        let segments = split(&raw.inner);
        if !segments.contains(&Segment::Key) {
            bail!("{origin}:{}: template {} has no @@KEY@@", n + 1, raw.name);
        }
        out.push(Template {
            name: raw.name,
            family: raw.family,
            exchange: raw.exchange,
            priority: raw.priority,
            samples: raw.samples,
            events: raw.events,
            segments,
        });
    }
    if out.is_empty() {
        bail!("{origin}: no templates");
    }
    Ok(out)
}

/// The built-in templates.
pub fn builtin() -> Result<Vec<Template>> {
    parse(BUILTIN, "builtin templates")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse_and_cover_the_main_services() {
        let t = builtin().expect("builtin");
        for fam in [
            "nova", "cinder", "neutron", "glance", "heat", "keystone", "polling",
        ] {
            assert!(t.iter().any(|t| t.family == fam), "no {fam} template");
        }
        assert!(t.iter().all(|t| !t.samples.is_empty() || t.events > 0));
    }

    #[test]
    fn split_cuts_at_every_placeholder() {
        let s = split(r#"{"a": "@@KEY@@", "b": "x@@TS@@"@@PAD@@}"#);
        assert_eq!(
            s,
            vec![
                Segment::Lit(r#"{"a": ""#.into()),
                Segment::Key,
                Segment::Lit(r#"", "b": "x"#.into()),
                Segment::Timestamp,
                Segment::Lit("\"".into()),
                Segment::Pad,
                Segment::Lit("}".into()),
            ]
        );
    }
}
