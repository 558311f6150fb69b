//! Ceilometer's trait plugins (`ceilometer.event.trait_plugin` entry points): `split`,
//! `bitfield` and `timedelta`, configured once from a definition's `plugin:` block and then
//! applied to the values a trait's `fields` found.
//!
//! A plugin sees the non-null matches in order and yields one value or none, as
//! `Definition.parse` does with `trait_values()`: the first non-`None` value wins.
//!
//! Deliberate difference: parameters Python would only trip over per notification (a
//! non-integer `segment`, an empty `separator`, a flag without `bit`) are refused at load time.

use std::borrow::Cow;
use std::sync::Arc;

use simd_json::prelude::*;
use yaml_serde::{Mapping, Value as Yaml};

use crate::jsonpath::JsonPath;
use crate::model::py::datetime;
use crate::model::py::repr::str_of;
use crate::model::py::{int_of_str, py_eq};
use crate::model::{yaml_read, OwnedValue, Value};

/// A configured plugin.
#[derive(Debug)]
pub enum Plugin {
    /// `str(value).split(separator, max_split)[segment]` of each match; the first that has
    /// such a segment wins.
    Split {
        separator: String,
        segment: i64,
        max_split: Option<i64>,
    },
    /// `initial_bitfield` with bit `bit` set for each flag whose `path` is among the matches
    /// (and, when the flag has a `value`, equals it).
    Bitfield { initial: i64, flags: Vec<BitFlag> },
    /// Seconds between exactly two datetime matches, as a float; nothing otherwise.
    Timedelta,
}

#[derive(Debug)]
pub struct BitFlag {
    path: Arc<JsonPath>,
    bit: u32,
    value: Option<OwnedValue>,
}

/// Why a plugin block cannot be configured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin named {0:?} (known: split, bitfield, timedelta)")]
    Unknown(String),
    #[error("plugin {plugin}: parameter {parameter}: {problem}")]
    Parameter {
        plugin: &'static str,
        parameter: String,
        problem: String,
    },
}

impl Plugin {
    /// `plugin_class(**parameters)`. `compile` turns a flag's `path` into a jsonpath.
    pub fn configure(
        name: &str,
        params: &Mapping,
        compile: &mut dyn FnMut(&str) -> Result<Arc<JsonPath>, String>,
    ) -> Result<Plugin, PluginError> {
        match name {
            "split" => {
                let bad = |parameter: &str, problem: &str| PluginError::Parameter {
                    plugin: "split",
                    parameter: parameter.into(),
                    problem: problem.into(),
                };
                let separator = match params.get("separator") {
                    None => ".".to_owned(),
                    Some(Yaml::String(s)) if !s.is_empty() => s.clone(),
                    Some(_) => return Err(bad("separator", "must be a non-empty string")),
                };
                let segment = match params.get("segment") {
                    None => 0,
                    Some(v) => v.as_i64().ok_or_else(|| bad("segment", "must be an integer"))?,
                };
                let max_split = match params.get("max_split") {
                    None | Some(Yaml::Null) => None,
                    Some(v) => Some(
                        v.as_i64()
                            .ok_or_else(|| bad("max_split", "must be an integer or null"))?,
                    ),
                };
                Ok(Plugin::Split {
                    separator,
                    segment,
                    max_split,
                })
            }
            "bitfield" => configure_bitfield(params, compile),
            "timedelta" => Ok(Plugin::Timedelta),
            other => Err(PluginError::Unknown(other.to_owned())),
        }
    }

    /// The plugin's value for a trait, given the non-null `matches` of its fields in `root`.
    pub fn apply<'v, 'a>(
        &self,
        root: &'v Value<'a>,
        matches: &[Cow<'v, Value<'a>>],
    ) -> Option<Cow<'v, Value<'a>>> {
        match self {
            Plugin::Split {
                separator,
                segment,
                max_split,
            } => matches
                .iter()
                .find_map(|m| split_segment(&str_of(&**m), separator, *segment, *max_split))
                .map(|s| Cow::Owned(Value::from(s))),
            Plugin::Bitfield { initial, flags } => {
                let bits = flags.as_slice().iter().fold(*initial, |bits, flag| {
                    if flag.is_set(root, matches) {
                        bits | (1_i64 << flag.bit)
                    } else {
                        bits
                    }
                });
                Some(Cow::Owned(Value::from(bits)))
            }
            Plugin::Timedelta => timedelta_seconds(matches).map(|s| Cow::Owned(Value::from(s))),
        }
    }
}

fn configure_bitfield(
    params: &Mapping,
    compile: &mut dyn FnMut(&str) -> Result<Arc<JsonPath>, String>,
) -> Result<Plugin, PluginError> {
    let bad = |parameter: &str, problem: String| PluginError::Parameter {
        plugin: "bitfield",
        parameter: parameter.into(),
        problem,
    };
    let initial = match params.get("initial_bitfield") {
        None => 0,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| bad("initial_bitfield", "must be an integer".into()))?,
    };
    let flag_cfgs = match params.get("flags") {
        None | Some(Yaml::Null) => &[][..],
        Some(Yaml::Sequence(seq)) => seq.as_slice(),
        Some(_) => {
            return Err(bad(
                "flags",
                "must be a list of {path, bit, value} mappings".into(),
            ))
        }
    };
    let mut flags = Vec::with_capacity(flag_cfgs.len());
    for (i, cfg) in flag_cfgs.iter().enumerate() {
        let at = |key: &str| format!("flags[{i}].{key}");
        let Yaml::Mapping(cfg) = cfg else {
            return Err(bad(&format!("flags[{i}]"), "must be a mapping".into()));
        };
        let path = match cfg.get("path") {
            Some(Yaml::String(p)) => compile(p).map_err(|e| bad(&at("path"), e))?,
            _ => {
                return Err(bad(
                    &at("path"),
                    "is required and must be a jsonpath string".into(),
                ))
            }
        };
        // `2 ** int(bit)`: an integer or a numeric string.
        let bit = match cfg.get("bit") {
            Some(Yaml::Number(n)) => n.as_i64(),
            Some(Yaml::String(s)) => int_of_str(s).and_then(|b| i64::try_from(b).ok()),
            _ => None,
        };
        let bit = bit
            .and_then(|b| u32::try_from(b).ok())
            .filter(|b| *b < 63)
            .ok_or_else(|| bad(&at("bit"), "is required and must be an integer in 0..=62".into()))?;
        let value = cfg.get("value").map(yaml_read::to_json);
        flags.push(BitFlag { path, bit, value });
    }
    Ok(Plugin::Bitfield { initial, flags })
}

impl BitFlag {
    /// Ceilometer compares the flag's path with each match's full path. Here the flag's path
    /// is evaluated and its nodes compared by identity with the matched nodes, which is the
    /// same test for the paths definitions write.
    fn is_set<'v, 'a>(&self, root: &'v Value<'a>, matches: &[Cow<'v, Value<'a>>]) -> bool {
        let found = self.path.find(root);
        let hit = found.as_slice().iter().rev().find_map(|node| match node {
            Cow::Borrowed(node) => matches.iter().find_map(|m| match m {
                Cow::Borrowed(m) if std::ptr::eq(*m, *node) => Some(*m),
                _ => None,
            }),
            Cow::Owned(_) => None,
        });
        match (hit, &self.value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(node), Some(expected)) => py_eq(node, expected),
        }
    }
}

/// Python's `str.split(sep, maxsplit)[segment]`, negative segments counting from the end.
fn split_segment(value: &str, separator: &str, segment: i64, max_split: Option<i64>) -> Option<String> {
    let parts: Vec<&str> = match max_split {
        Some(n) if n >= 0 => value
            .splitn(usize::try_from(n).ok()?.saturating_add(1), separator)
            .collect(),
        _ => value.split(separator).collect(),
    };
    let len = i64::try_from(parts.len()).ok()?;
    let index = if segment < 0 { len + segment } else { segment };
    usize::try_from(index)
        .ok()
        .and_then(|i| parts.get(i))
        .map(|s| (*s).to_owned())
}

/// `abs((end - start).total_seconds())` for exactly two parsable datetimes, subtracted as the
/// aware datetimes `parse_isotime` gives (`9999-12-31T23:59:59-01:00` is an instant after
/// year 9999 in UTC, and still a datetime to subtract).
fn timedelta_seconds(matches: &[Cow<'_, Value<'_>>]) -> Option<f64> {
    let [start, end] = matches else {
        return None;
    };
    let start = datetime::parse(start.as_str()?).ok()?;
    let end = datetime::parse(end.as_str()?).ok()?;
    Some(end.seconds_since(&start).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_paths(_: &str) -> Result<Arc<JsonPath>, String> {
        Err("no jsonpath in this test".into())
    }

    fn params(yaml: &str) -> Mapping {
        yaml_serde::from_str(yaml).unwrap_or_default()
    }

    fn s(text: &str) -> Cow<'static, Value<'static>> {
        Cow::Owned(Value::from(text.to_owned()))
    }

    #[test]
    fn split_takes_segment_with_python_semantics() {
        assert_eq!(
            split_segment("compute.host-1.example.org", ".", 0, None).as_deref(),
            Some("compute")
        );
        assert_eq!(
            split_segment("compute.host-1.example.org", ".", 1, Some(1)).as_deref(),
            Some("host-1.example.org")
        );
        assert_eq!(
            split_segment("compute.host-1.example.org", ".", -1, None).as_deref(),
            Some("org")
        );
        assert_eq!(
            split_segment("compute.host-1.example.org", ".", -1, Some(1)).as_deref(),
            Some("host-1.example.org")
        );
        assert_eq!(split_segment("a.b", ".", 0, Some(0)).as_deref(), Some("a.b"));
        assert_eq!(split_segment("a.b", ".", 0, Some(-1)).as_deref(), Some("a"));
        assert_eq!(split_segment("a.b", ".", 2, None), None);
        assert_eq!(split_segment("a.b", ".", -3, None), None);
        assert_eq!(
            split_segment("pool#backend", "#", 1, None).as_deref(),
            Some("backend")
        );
    }

    #[test]
    fn split_plugin_uses_first_match_that_has_the_segment() {
        let plugin = Plugin::configure("split", &params("{separator: '-', segment: 1}"), &mut no_paths)
            .unwrap_or_else(|e| panic!("{e}"));
        let root = Value::Static(StaticNode::Null);
        let matches = [s("nodash"), s("a-b"), s("c-d")];
        let got = plugin.apply(&root, &matches);
        assert_eq!(got.as_deref().and_then(|v| v.as_str()), Some("b"));
        assert!(plugin.apply(&root, &[]).is_none());
        // Non-strings go through str() first.
        let number = [Cow::Owned(Value::from(12.5_f64))];
        let by_dot =
            Plugin::configure("split", &Mapping::new(), &mut no_paths).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            by_dot.apply(&root, &number).as_deref().and_then(|v| v.as_str()),
            Some("12")
        );
    }

    #[test]
    fn split_parameters_are_checked_at_load() {
        for bad in [
            "{segment: one}",
            "{separator: ''}",
            "{max_split: x}",
            "{separator: 1}",
        ] {
            assert!(
                matches!(
                    Plugin::configure("split", &params(bad), &mut no_paths),
                    Err(PluginError::Parameter { plugin: "split", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn timedelta_needs_exactly_two_datetimes() {
        let root = Value::Static(StaticNode::Null);
        let plugin = Plugin::Timedelta;
        let two = [s("2025-03-14 08:58:03+00:00"), s("2025-03-14T08:58:41.000000")];
        assert_eq!(plugin.apply(&root, &two).and_then(|v| v.as_f64()), Some(38.0));
        let reversed = [s("2025-03-14T08:58:41.5"), s("2025-03-14 08:58:03")];
        assert_eq!(
            plugin.apply(&root, &reversed).and_then(|v| v.as_f64()),
            Some(38.5)
        );
        assert!(plugin.apply(&root, &two[..1]).is_none());
        assert!(plugin.apply(&root, &[s("2025-03-14"), s("soon")]).is_none());
        assert!(plugin.apply(&root, &[s("a"), s("b"), s("c")]).is_none());
        // Python: abs((parse_isotime(b) - parse_isotime(a)).total_seconds()) == 3600.0
        let past_9999 = [s("9999-12-31T23:59:59+00:00"), s("9999-12-31T23:59:59-01:00")];
        assert_eq!(
            plugin.apply(&root, &past_9999).and_then(|v| v.as_f64()),
            Some(3600.0)
        );
    }

    #[test]
    fn unknown_plugin_is_refused() {
        assert_eq!(
            Plugin::configure("splitter", &Mapping::new(), &mut no_paths).err(),
            Some(PluginError::Unknown("splitter".into()))
        );
    }

    #[test]
    fn bitfield_parameters_are_checked_at_load() {
        assert!(Plugin::configure("bitfield", &params("{flags: [{bit: 1}]}"), &mut no_paths).is_err());
        let no_flags = Plugin::configure("bitfield", &params("{initial_bitfield: 5}"), &mut no_paths);
        let root = Value::Static(StaticNode::Null);
        let got = no_flags.map(|p| p.apply(&root, &[]).and_then(|v| v.as_i64()));
        assert_eq!(got, Ok(Some(5)));
    }

    #[test]
    fn python_equality_between_json_values() {
        assert!(py_eq(&Value::from(1_i64), &Value::from(1.0_f64)));
        assert!(py_eq(&Value::from(true), &Value::from(1_i64)));
        assert!(!py_eq(&Value::from("1"), &Value::from(1_i64)));
        assert!(py_eq(
            &yaml_read::to_json(&yaml_serde::from_str("[1, a]").unwrap_or_default()),
            &{ Value::from(vec![Value::from(1.0_f64), Value::from("a")]) }
        ));
    }
}
