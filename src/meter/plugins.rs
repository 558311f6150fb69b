//! Value plugins a meter field may name (`plugin: timedelta`), from Ceilometer's
//! `ceilometer.event.trait_plugin` namespace.

use serde_yaml::Value as Yaml;
use simd_json::prelude::*;

use super::field::FieldError;
use crate::model::{timestamp, OwnedValue, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Plugin {
    /// `abs(end - start)` in seconds between exactly two timestamps.
    Timedelta,
}

impl Plugin {
    /// `plugin: name` or `plugin: {name: ..., parameters: {...}}`.
    pub fn from_config(cfg: &Yaml) -> Result<Plugin, FieldError> {
        let name = match cfg {
            Yaml::String(s) => s.as_str(),
            Yaml::Mapping(m) => m
                .get("name")
                .and_then(Yaml::as_str)
                .ok_or_else(|| FieldError("Plugin specified, but no plugin name supplied".into()))?,
            other => return Err(FieldError(format!("bad plugin specification {other:?}"))),
        };
        match name {
            "timedelta" => Ok(Plugin::Timedelta),
            other => Err(FieldError(format!("No plugin named {other}"))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Plugin::Timedelta => "timedelta",
        }
    }

    /// The plugin's value for the non-null matches, or `None` (logged by Ceilometer).
    pub fn apply(&self, values: &[std::borrow::Cow<'_, Value<'_>>]) -> Option<OwnedValue> {
        match self {
            Plugin::Timedelta => {
                let [start, end] = values else { return None };
                let start = timestamp::parse(start.as_str()?).ok()?;
                let end = timestamp::parse(end.as_str()?).ok()?;
                Some(OwnedValue::from(end.seconds_since(&start).abs()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn s(v: &str) -> Cow<'_, Value<'_>> {
        Cow::Owned(Value::from(v))
    }

    #[test]
    fn timedelta_is_absolute_seconds_between_two_timestamps() {
        let p = Plugin::from_config(&Yaml::from("timedelta")).unwrap();
        let got = p.apply(&[s("2025-03-14T08:58:41"), s("2025-03-14 08:58:03+00:00")]);
        assert_eq!(got, Some(OwnedValue::from(38.0)));
    }

    #[test]
    fn timedelta_needs_exactly_two_parsable_timestamps() {
        let p = Plugin::Timedelta;
        assert_eq!(p.apply(&[s("2025-03-14")]), None);
        assert_eq!(p.apply(&[s(""), s("2025-03-14")]), None);
    }

    #[test]
    fn unknown_plugins_are_errors() {
        let err = Plugin::from_config(&Yaml::from("nope")).unwrap_err();
        assert_eq!(err.0, "No plugin named nope");
    }
}
