//! Loading meters.yaml files (or a meters.d directory of them) into compiled definitions, in
//! the order Ceilometer applies them, and dispatching an event type to the definitions that
//! match it.
//!
//! Ceilometer reads each file's `metric` list *backwards* and keeps the first definition of a
//! name it meets, so within a file the last definition of a name wins and samples come out in
//! reverse file order; across files (sorted by name) the earlier file wins. A definition that
//! does not compile is returned as a [`Problem`] (`file:line: meter "name": why`; the caller
//! logs or reports it) and skipped; the others still load. A file that cannot be used at all
//! (unreadable, not YAML, no `metric` list) is a `Problem` too, and nothing loads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_serde::Value as Yaml;

use super::definition::{MeterDefinition, NotificationMemo};
use super::dispatch::{DispatchCache, DEFAULT_LIMIT};
use super::{EndpointError, ReservedMetadata};
use crate::model::output_size::OutputBudget;
use crate::model::yaml_outline::Outline;
use crate::model::{Notification, Sample};
use crate::problem::Problem;

/// The `*.yaml` files of a meters.d directory sorted by name, as Ceilometer globs them (no
/// hidden file; a directory that does not exist has none).
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Problem::new(dir, None, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The compiled definitions, in application order.
pub struct MeterDefinitions {
    definitions: Vec<MeterDefinition>,
    dispatch: DispatchCache<Arc<[u32]>>,
    /// Which keys of a `user_metadata` field samples keep.
    reserved: ReservedMetadata,
}

impl MeterDefinitions {
    /// Load a meters.yaml file, or every `*.yaml` file of a meters.d directory.
    pub fn load(path: &Path) -> Result<(MeterDefinitions, Vec<Problem>), Problem> {
        let files = if path.is_dir() {
            yaml_files(path)?
        } else {
            vec![path.to_owned()]
        };
        let mut texts = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| Problem::new(&file, None, e))?;
            texts.push((file, text));
        }
        Self::from_texts(texts.iter().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// Compile definitions from `(path, text)` pairs, in precedence order.
    pub fn from_texts<'t>(
        files: impl IntoIterator<Item = (&'t Path, &'t str)>,
    ) -> Result<(MeterDefinitions, Vec<Problem>), Problem> {
        let mut definitions: Vec<MeterDefinition> = Vec::new();
        // What each kept definition was written as: a duplicate written the same way (the
        // packaged meters.d copied into /etc/ceilometer/meters.d) is not worth a warning.
        let mut kept: std::collections::HashMap<String, Yaml> = std::collections::HashMap::new();
        let mut problems = Vec::new();
        for (path, text) in files {
            let items = metric_items(path, text)?;
            let lines = Outline::of(text).items("metric");
            for (index, cfg) in items.iter().enumerate().rev() {
                let line = lines.get(index).map(|item| item.line);
                let meter = cfg
                    .get("name")
                    .map(super::definition::yaml_text)
                    .unwrap_or_default();
                if let Some(first) = kept.get(&meter) {
                    let duplicate = Problem::new(
                        path,
                        line,
                        format!("skipping duplicate meter definition {meter:?}"),
                    );
                    if first == cfg {
                        tracing::debug!("{duplicate} (the same as the one kept)");
                    } else {
                        tracing::warn!("{duplicate}");
                    }
                    continue;
                }
                match MeterDefinition::compile(cfg) {
                    Ok(d) => {
                        kept.insert(meter, cfg.clone());
                        definitions.push(d)
                    }
                    Err(e) => problems.push(Problem::new(path, line, format!("meter {meter:?}: {}", e.0))),
                }
            }
        }
        // Equal metadata specs become one `Arc` (see `MeterDefinition::to_samples`).
        for i in 1..definitions.len() {
            if let Some(first) = definitions[..i]
                .iter()
                .find(|d| d.metadata_spec == definitions[i].metadata_spec)
            {
                definitions[i].metadata_spec = first.metadata_spec.clone();
            }
        }
        Ok((
            MeterDefinitions {
                definitions,
                dispatch: DispatchCache::new(DEFAULT_LIMIT),
                reserved: ReservedMetadata::default(),
            },
            problems,
        ))
    }

    pub fn len(&self) -> usize {
        self.definitions.len()
    }

    /// Follow these `reserved_metadata_*` options instead of Ceilometer's defaults.
    pub fn with_reserved_metadata(mut self, reserved: ReservedMetadata) -> MeterDefinitions {
        self.reserved = reserved;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// Ceilometer's `ProcessMeterNotifications`: every matching definition's samples, until
    /// `budget` is over (see [`MeterDefinition::to_samples`]).
    pub fn to_samples(
        &self,
        event_type: &str,
        n: &Notification<'_>,
        out: &mut Vec<Sample>,
        budget: &mut OutputBudget,
    ) -> Result<(), EndpointError> {
        // The definitions matching one event type are mostly configured with the same metadata
        // (one YAML anchor) and read the same timestamp: made once per notification.
        let mut memo = NotificationMemo::default();
        for &i in self.matching(event_type).iter() {
            if budget.exceeded() {
                break;
            }
            self.definitions[i as usize].to_samples(n, &mut memo, &self.reserved, out, budget)?;
        }
        Ok(())
    }

    /// Indexes of the definitions whose event_type patterns match, cached per event type:
    /// regexes run once per distinct event type, not once per message.
    fn matching(&self, event_type: &str) -> Arc<[u32]> {
        self.dispatch.get_or_compute(event_type, |event_type| {
            (0..self.definitions.len() as u32)
                .filter(|&i| self.definitions[i as usize].matches(event_type))
                .collect()
        })
    }
}

/// The `metric` list of a file (anchors and `<<` merge keys resolved, as PyYAML does).
fn metric_items(path: &Path, text: &str) -> Result<Vec<Yaml>, Problem> {
    let invalid_yaml = |e: yaml_serde::Error| {
        Problem::new(path, e.location().map(|l| l.line()), format!("invalid YAML: {e}"))
    };
    let mut doc: Yaml = crate::model::yaml_read::from_str(text).map_err(invalid_yaml)?;
    doc.apply_merge().map_err(invalid_yaml)?;
    match doc {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Mapping(mut m) => match m.remove("metric") {
            Some(Yaml::Sequence(items)) => Ok(items),
            Some(Yaml::Null) | None => Err(Problem::new(path, None, "no 'metric' list")),
            Some(_) => Err(Problem::new(path, None, "'metric' is not a list")),
        },
        _ => Err(Problem::new(path, None, "the document is not a mapping")),
    }
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::*;

    const FILE: &str = "---\nmetric:\n  - name: a\n    event_type: x\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: $.payload.id\n  - name: b\n    event_type: ['x', 'y.*']\n    type: bogus\n    unit: B\n    volume: 1\n    resource_id: $.payload.id\n  - name: a\n    event_type: z\n    type: delta\n    unit: B\n    volume: 2\n    resource_id: $.payload.id\n";

    #[test]
    fn later_duplicates_win_and_bad_definitions_are_reported_with_their_line() {
        let (defs, problems) = MeterDefinitions::from_texts([(Path::new("m.yaml"), FILE)]).unwrap();
        assert_eq!(defs.len(), 1);
        assert!(defs.definitions[0].matches("z"), "the last 'a' wins");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(9));
        assert_eq!(
            problems[0].to_string(),
            "m.yaml:9: meter \"b\": Invalid type bogus specified"
        );
    }

    #[test]
    fn earlier_files_win_across_a_directory() {
        let second = FILE.replace("event_type: z", "event_type: w");
        let (defs, _) = MeterDefinitions::from_texts([
            (Path::new("a.yaml"), FILE),
            (Path::new("b.yaml"), second.as_str()),
        ])
        .unwrap();
        assert_eq!(defs.len(), 1);
        assert!(defs.definitions[0].matches("z"));
    }

    #[test]
    fn yaml_errors_name_file_and_line() {
        let err = MeterDefinitions::from_texts([(Path::new("bad.yaml"), "metric:\n  - name: [\n")])
            .err()
            .unwrap();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().starts_with("bad.yaml:3: invalid YAML"), "{err}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let text = "metric:\n  - name: a\n    event_type: x\n    type: gauge\n    unit: B\n    volume: 0\n";
        let (defs, problems) = MeterDefinitions::from_texts([(Path::new("m.yaml"), text)]).unwrap();
        assert!(defs.is_empty());
        assert_eq!(
            problems[0].to_string(),
            "m.yaml:2: meter \"a\": Required fields [\"volume\", \"resource_id\"] not specified"
        );
    }

    #[test]
    fn an_event_type_that_is_not_text_is_named() {
        for event_type in ["['x', 3]", "3", "{a: b}", "[[x]]"] {
            let text = format!(
                "metric:\n  - name: a\n    event_type: {event_type}\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: $.payload.id\n"
            );
            let (defs, problems) =
                MeterDefinitions::from_texts([(Path::new("m.yaml"), text.as_str())]).unwrap();
            assert!(defs.is_empty(), "{event_type}");
            assert_eq!(
                problems[0].to_string(),
                "m.yaml:2: meter \"a\": event_type must be a string or a list of strings",
                "{event_type}"
            );
        }
    }

    #[test]
    fn dispatch_uses_prefix_regex_matching() {
        let (defs, _) = MeterDefinitions::from_texts([(Path::new("m.yaml"), FILE)]).unwrap();
        assert_eq!(
            &*defs.matching("zebra"),
            &[0],
            "re.match anchors at the start only"
        );
        assert!(defs.matching("az").is_empty());
        assert_eq!(&*defs.matching("zebra"), &[0], "cached answer is the same");
    }

    /// The samples the `metric:` entries `items` make from an event_type `x` notification of
    /// 2025-01-01 00:00:00 with this payload.
    fn samples_of(items: &str, payload: &str) -> Vec<Sample> {
        samples_within(items, payload, &mut OutputBudget::new(0))
    }

    /// [`samples_of`], charged to `budget`.
    fn samples_within(items: &str, payload: &str, budget: &mut OutputBudget) -> Vec<Sample> {
        let (defs, problems) =
            MeterDefinitions::from_texts([(Path::new("m.yaml"), format!("metric:\n{items}").as_str())])
                .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let mut body = format!(
            r#"{{"ctxt": {{}}, "publisher_id": "p", "event_type": "x", "metadata": {{"message_id": "i", "timestamp": "2025-01-01 00:00:00"}}, "payload": {payload}}}"#
        )
        .into_bytes();
        let n = Notification {
            priority: crate::model::Priority::Info,
            unique_id: None,
            root: simd_json::to_borrowed_value(&mut body).unwrap(),
        };
        let mut samples = Vec::new();
        defs.to_samples("x", &n, &mut samples, budget).unwrap();
        samples
    }

    #[test]
    fn samples_stop_once_over_the_output_budget_and_each_is_charged_its_message_length() {
        use crate::model::meter_message::message_len;
        use crate::model::output_size::value_len;
        // One sample per list element, each carrying the whole payload as its metadata; and a
        // second definition that would make more.
        let items = concat!(
            "  - name: $.payload.list[*].n\n    event_type: x\n    type: gauge\n    unit: B\n",
            "    lookup: [name, volume]\n    volume: $.payload.list[*].v\n    resource_id: r\n",
            "  - name: b\n    event_type: x\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: r\n",
        );
        let payload = format!(
            r#"{{"list": [{}], "pad": "{}"}}"#,
            vec![r#"{"n": "a", "v": 1}"#; 50].join(", "),
            "p".repeat(1000)
        );
        let all = samples_of(items, &payload);
        assert_eq!(all.len(), 51);
        let one = message_len(&all[0], value_len(&*all[0].resource_metadata));
        assert!(one > 1000, "the payload is in each message: {one}");
        let total: usize = all
            .iter()
            .map(|s| message_len(s, value_len(&*s.resource_metadata)))
            .sum();
        let mut unlimited = OutputBudget::new(0);
        samples_within(items, &payload, &mut unlimited);
        assert_eq!(
            unlimited.used(),
            total,
            "every sample charged once, metadata included"
        );
        let mut budget = OutputBudget::new(10 * one);
        let capped = samples_within(items, &payload, &mut budget);
        assert_eq!(capped.len(), 11, "the sample that goes over is the last one made");
        assert!(budget.exceeded());
        // The samples made are the first eleven of the unlimited run: nothing after them,
        // from this definition or the other, was made.
        let names = |v: &[Sample]| {
            v.iter()
                .map(|s| (s.name.to_string(), s.volume.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&capped), names(&all[..11]));
    }

    #[test]
    fn definitions_configured_alike_share_one_metadata_per_notification() {
        let meter = |name: &str, metadata: &str| {
            format!("  - name: {name}\n    event_type: x\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: $.payload.id\n{metadata}")
        };
        // Applied bottom-up: m5, m4, m3, m2, m1.
        let text = [
            meter("m1", "    metadata: &meta\n      host: $.payload.host\n"),
            meter("m2", "    metadata: *meta\n"),
            meter("m3", "    metadata:\n      host: $.payload.other\n"),
            meter("m4", ""),
            meter("m5", "    metadata: *meta\n"),
        ]
        .concat();
        let samples = samples_of(&text, r#"{"id": "r", "host": "h", "other": "o"}"#);
        let by_name = |name: &str| {
            samples
                .iter()
                .find(|s| &*s.name == name)
                .unwrap()
                .resource_metadata
                .clone()
        };
        let (m1, m2, m3, m4, m5) = (
            by_name("m1"),
            by_name("m2"),
            by_name("m3"),
            by_name("m4"),
            by_name("m5"),
        );
        let host = |h: &str| simd_json::json!({"host": h});
        assert_eq!(
            (&*m1, &*m2, &*m3, &*m5),
            (&host("h"), &host("h"), &host("o"), &host("h"))
        );
        assert_eq!(m4.get_str("event_type"), Some("x"), "no metadata: the payload's");
        assert!(
            Arc::ptr_eq(&m2, &m1),
            "m2 and m1 follow each other with one spec: made once"
        );
        assert!(
            !Arc::ptr_eq(&m5, &m1),
            "m5 is applied before m4 and m3 came between: made again"
        );
    }

    #[test]
    fn definitions_reading_different_timestamps_each_render_their_own() {
        let meter = |name: &str, ts: &str| {
            format!("  - name: {name}\n    event_type: x\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: r\n    timestamp: {ts}\n")
        };
        // Applied bottom-up, so the rendered text alternates: a, b, a, fallback.
        let text = [
            meter("m1", "$.metadata.timestamp"),
            meter("m2", "$.payload.a"),
            meter("m3", "$.payload.b"),
            meter("m4", "$.payload.a"),
        ]
        .concat();
        let samples = samples_of(
            &text,
            r#"{"a": "2025-02-02T02:02:02.5+01:00", "b": "2025-03-03 03:03:03"}"#,
        );
        let mut stamps: Vec<(&str, &str)> = samples
            .iter()
            .map(|s| (&*s.name, s.timestamp.as_str().unwrap()))
            .collect();
        stamps.sort();
        assert_eq!(
            stamps,
            [
                ("m1", "2025-01-01T00:00:00+00:00"),
                ("m2", "2025-02-02T02:02:02.500000+01:00"),
                ("m3", "2025-03-03T03:03:03+00:00"),
                ("m4", "2025-02-02T02:02:02.500000+01:00"),
            ]
        );
    }
}
