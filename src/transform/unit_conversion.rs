//! `unit_conversion` (Ceilometer's `ScalingTransformer`), and the `source`/`target`
//! conversion it shares with `rate_of_change`, `delta` and `aggregator`.
//!
//! A sample whose unit matches `source.unit` (or any sample, without one) leaves with the
//! target's name, unit and type, its volume scaled by `target.scale` (a number multiplies the
//! volume; a string is an expression over the sample, e.g. `volume * 1.0 / 1024`) and capped
//! by `target.max`. `source.map_from`/`target.map_to` rename with a regex substitution, as
//! Python's `re.sub` did. Stateless: it never holds a sample.

use std::collections::HashMap;
use std::sync::Arc;

use fancy_regex::Regex;
use serde::Deserialize;

use super::expr::{Dialect, EvalError, Expr};
use super::{Stats, TransformError, Transformer};
use crate::model::py::Num;
use crate::model::{OwnedValue, Sample};
use simd_json::prelude::*;

/// `source:` of a conversion.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceParams {
    /// Only samples in this unit are converted (unit_conversion); others pass unchanged.
    pub unit: Option<String>,
    /// Regexes whose matches `target.map_to` rewrites.
    pub map_from: Option<MapParams>,
}

/// `map_from:` / `map_to:`: a regex (from) or a replacement with `\1` groups (to).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapParams {
    pub name: Option<String>,
    pub unit: Option<String>,
}

/// `target:` of a conversion; a missing value means "unchanged".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetParams {
    pub name: Option<String>,
    pub unit: Option<String>,
    #[serde(rename = "type")]
    pub sample_type: Option<String>,
    /// A number (volume × scale) or a string expression over the sample.
    pub scale: Option<yaml_serde::Value>,
    /// Upper bound of the new volume (ignored when 0, as Ceilometer's `if self.max` did).
    pub max: Option<yaml_serde::Value>,
    pub map_to: Option<MapParams>,
    /// arithmetic only.
    pub expr: Option<String>,
}

/// `unit_conversion` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub source: SourceParams,
    #[serde(default)]
    pub target: TargetParams,
}

/// How the volume is scaled.
#[derive(Debug)]
pub enum Scale {
    /// No `scale`: the volume is kept.
    Keep,
    /// A number: volume × factor.
    Factor(Num),
    /// A string: evaluated against the sample.
    Expr(Expr),
}

/// A compiled `re.sub(pattern, repl, value)`, memoized per input (there are few meter names).
#[derive(Debug)]
struct Mapping {
    pattern: Regex,
    replacement: String,
    memo: HashMap<Arc<str>, Option<Arc<str>>>,
}

impl Mapping {
    fn new(from: &str, to: &str, what: &str) -> Result<Mapping, TransformError> {
        let pattern =
            Regex::new(from).map_err(|e| TransformError::param(&format!("source.map_from.{what}"), e))?;
        let replacement =
            python_replacement(to).map_err(|e| TransformError::param(&format!("target.map_to.{what}"), e))?;
        Ok(Mapping {
            pattern,
            replacement,
            memo: HashMap::new(),
        })
    }

    /// `re.sub(...) or None`: an empty result (or a regex failure) falls back to the target.
    fn apply(&mut self, value: &Arc<str>) -> Option<Arc<str>> {
        if let Some(hit) = self.memo.get(value) {
            return hit.clone();
        }
        let mapped = match self.pattern.try_replacen(value, 0, self.replacement.as_str()) {
            Ok(s) if !s.is_empty() => Some(Arc::from(s.as_ref())),
            _ => None,
        };
        // The memo is bounded by the distinct names a sink sees; cap it anyway.
        if self.memo.len() < 4096 {
            self.memo.insert(value.clone(), mapped.clone());
        }
        mapped
    }
}

/// Python's `re.sub` replacement syntax (`\1`, `\g<1>`, `\g<name>`) in fancy-regex's (`${1}`).
fn python_replacement(repl: &str) -> Result<String, String> {
    let mut out = String::with_capacity(repl.len() + 8);
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = d.to_string();
                    if let Some(e) = chars.peek().copied().filter(char::is_ascii_digit) {
                        group.push(e);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    if chars.next() != Some('<') {
                        return Err("missing < after \\g".into());
                    }
                    let group: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    if group.is_empty() {
                        return Err("empty group name in \\g<>".into());
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) if other.is_ascii_alphabetic() => return Err(format!("bad escape \\{other}")),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("bad escape (end of pattern)".into()),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The compiled `source`/`target` pair.
#[derive(Debug)]
pub struct Conversion {
    source_unit: Option<Arc<str>>,
    name: Option<Arc<str>>,
    unit: Option<Arc<str>>,
    sample_type: Option<Arc<str>>,
    map_name: Option<Mapping>,
    map_unit: Option<Mapping>,
    pub scale: Scale,
    max: Option<Num>,
}

pub const SAMPLE_TYPES: [&str; 3] = ["gauge", "delta", "cumulative"];

/// A YAML number (a bool is refused here, though Python would multiply by it).
fn yaml_num(v: &yaml_serde::Value) -> Option<Num> {
    match v {
        yaml_serde::Value::Number(_) => Num::of_owned(&crate::model::yaml_read::to_json(v)),
        _ => None,
    }
}

impl Conversion {
    pub fn new(source: &SourceParams, target: &TargetParams) -> Result<Conversion, TransformError> {
        if let Some(t) = &target.sample_type {
            if !SAMPLE_TYPES.contains(&t.as_str()) {
                return Err(TransformError::param(
                    "target.type",
                    format!("{t:?} is not one of gauge, delta, cumulative"),
                ));
            }
        }
        let scale = match &target.scale {
            None | Some(yaml_serde::Value::Null) => Scale::Keep,
            Some(yaml_serde::Value::String(s)) if s.is_empty() => Scale::Keep,
            Some(yaml_serde::Value::String(s)) => Scale::Expr(
                Expr::compile(s, Dialect::Scale).map_err(|e| TransformError::param("target.scale", e))?,
            ),
            Some(v) => match yaml_num(v) {
                // Python's `if scale` treats 0 as "no scale".
                Some(n) if !n.truthy() => Scale::Keep,
                Some(n) => Scale::Factor(n),
                None => {
                    return Err(TransformError::param(
                        "target.scale",
                        "must be a number or an expression string",
                    ))
                }
            },
        };
        let max = match &target.max {
            None | Some(yaml_serde::Value::Null) => None,
            Some(v) => match yaml_num(v) {
                Some(n) if !n.truthy() => None,
                Some(n) => Some(n),
                None => return Err(TransformError::param("target.max", "must be a number")),
            },
        };
        let from = source.map_from.as_ref();
        let to = target.map_to.as_ref();
        let mapping = |f: Option<&String>, t: Option<&String>, what| match (f, t) {
            (Some(f), Some(t)) if !f.is_empty() && !t.is_empty() => Mapping::new(f, t, what).map(Some),
            _ => Ok(None),
        };
        let map_name = mapping(
            from.and_then(|m| m.name.as_ref()),
            to.and_then(|m| m.name.as_ref()),
            "name",
        )?;
        let map_unit = mapping(
            from.and_then(|m| m.unit.as_ref()),
            to.and_then(|m| m.unit.as_ref()),
            "unit",
        )?;
        Ok(Conversion {
            source_unit: source.unit.as_deref().map(Arc::from),
            name: target.name.as_deref().map(Arc::from),
            unit: target.unit.as_deref().map(Arc::from),
            sample_type: target.sample_type.as_deref().map(Arc::from),
            map_name,
            map_unit,
            scale,
            max,
        })
    }

    /// Whether `source.unit` lets this sample through to conversion.
    pub fn accepts(&self, s: &Sample) -> bool {
        self.source_unit.as_ref().is_none_or(|u| *u == s.unit)
    }

    /// `_scale(s)`: the scaled volume as a number.
    pub fn scaled(&self, s: &Sample) -> Result<Num, EvalError> {
        match &self.scale {
            Scale::Keep => volume(s),
            Scale::Factor(f) => Ok(volume(s)? * *f),
            Scale::Expr(e) => e.eval_num(&[s]),
        }
    }

    /// `_map(s, 'name')`.
    pub fn name(&mut self, s: &Sample) -> Arc<str> {
        mapped(&mut self.map_name, &self.name, &s.name)
    }

    /// `_map(s, 'unit')`.
    pub fn unit(&mut self, s: &Sample) -> Arc<str> {
        mapped(&mut self.map_unit, &self.unit, &s.unit)
    }

    pub fn sample_type(&self, s: &Sample) -> Arc<str> {
        self.sample_type.clone().unwrap_or_else(|| s.sample_type.clone())
    }

    /// `min(volume, max)` when a max is set (Python keeps `max`'s own type when it wins).
    pub fn capped(&self, v: Num) -> Num {
        match self.max {
            Some(m) if m.py_lt(v) => m,
            _ => v,
        }
    }

    /// `_convert(s, growth)`, in place: the sample becomes a new sample (fresh id, no
    /// monotonic time, as Ceilometer's `Sample(...)` constructor left them).
    pub fn convert(&mut self, mut s: Sample, growth: Option<Num>) -> Result<Sample, EvalError> {
        let volume = match (&self.scale, growth, self.max) {
            // Nothing numeric to do: Python's `volume * 1` keeps any volume as it is.
            (Scale::Keep, None, None) => None,
            _ => {
                let mut v = self.scaled(&s)?;
                if let Some(g) = growth {
                    v = v * g;
                }
                Some(self.capped(v).to_owned_value())
            }
        };
        if let Some(v) = volume {
            s.volume = v;
        }
        s.name = self.name(&s);
        s.unit = self.unit(&s);
        s.sample_type = self.sample_type(&s);
        s.id = crate::meter::new_sample_id();
        s.monotonic_time = OwnedValue::null();
        Ok(s)
    }
}

fn mapped(map: &mut Option<Mapping>, target: &Option<Arc<str>>, current: &Arc<str>) -> Arc<str> {
    if let Some(m) = map {
        if let Some(v) = m.apply(current) {
            return v;
        }
    }
    target.clone().unwrap_or_else(|| current.clone())
}

/// The sample's volume as a Python number (a string volume cannot take part in arithmetic).
pub fn volume(s: &Sample) -> Result<Num, EvalError> {
    Num::of_owned(&s.volume).ok_or_else(|| EvalError(format!("volume {} is not a number", s.volume)))
}

/// The `unit_conversion` transformer.
pub struct UnitConversion {
    conv: Conversion,
    stats: Stats,
}

impl UnitConversion {
    pub fn new(params: Params) -> Result<UnitConversion, TransformError> {
        Ok(UnitConversion {
            conv: Conversion::new(&params.source, &params.target)?,
            stats: Stats::default(),
        })
    }
}

impl Transformer for UnitConversion {
    fn kind(&self) -> &'static str {
        "unit_conversion"
    }

    fn handle_batch(&mut self, batch: Vec<Sample>) -> Vec<Sample> {
        let conv = &mut self.conv;
        // Samples of other units pass unchanged.
        let (out, errors) = super::each_sample(batch, "unit_conversion", |s| {
            if conv.accepts(&s) {
                conv.convert(s, None).map(Some)
            } else {
                Ok(Some(s))
            }
        });
        self.stats.errors += errors;
        out
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_replacements_become_fancy_regex_ones() {
        assert_eq!(
            python_replacement(r"\1.\2.\3.rate").unwrap(),
            "${1}.${2}.${3}.rate"
        );
        assert_eq!(python_replacement(r"\g<x>/s $").unwrap(), "${x}/s $$");
        assert!(python_replacement(r"\q").is_err());
    }
}
