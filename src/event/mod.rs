//! Notification → event: Ceilometer's event_definitions.yaml compiled once, then applied to
//! each notification as Ceilometer's `NotificationEventsConverter` and `EventEndpoint` do.
//!
//! * [`EventDefinitions::load`] reads the file unchanged (globs with `!` exclusions, traits
//!   with one jsonpath or a list of fallbacks, `type`, trait plugins, the default traits) and
//!   reports bad definitions with file and line.
//! * [`EventDefinitions::to_event`] routes by priority (only `info` and `error` reach the
//!   event endpoint), picks the last matching definition, extracts and coerces the traits.
//!   Where Ceilometer's endpoint raises (an `int` trait given `"2.0"`, an unparsable datetime
//!   or notification timestamp) the event is dropped and the message still acked: that is
//!   [`EventOutcome::Dropped`], which the caller logs and counts.
//! * [`message`] renders an event as Ceilometer's `message_from_event` (signed, for the
//!   `notifier://` publisher and `ceilo convert`).
//!
//! Not here: event_pipeline.yaml, batching and publishing (the pipeline's), logging and metrics
//! (the caller's; this module only returns outcomes, [`DropProblem::kind`] is a ready label).
//!
//! Known differences from Ceilometer, all on inputs the shipped files and the corpus never
//! produce:
//! * plugin parameters of the wrong type (a non-integer `segment`, an empty `separator`, a
//!   bitfield flag without `bit`) are load errors; Python fails on every matching notification;
//! * `bitfield` flags match by node identity, not by comparing path strings (see
//!   [`plugins`]), so a flag path spelled differently from the field still matches;
//! * `int` values beyond `i64` drop the event (Python keeps its big int); a non-string
//!   `message_id` becomes `null`;
//! * YAML is read with YAML 1.2 scalars: PyYAML's 1.1 reads `yes`/`on` as booleans, `017` and
//!   `1_000` as ints, `1e3` and `0o17` as strings (pinned in [`crate::model::yaml_read`]'s tests);
//! * dates go through the shared [`crate::model::py::datetime`] grammar, which refuses a few
//!   forms the `iso8601` regex takes (`2025-03-14T083` as 08:00:03, a trailing newline).

pub mod coerce;
pub mod dispatch;
pub mod glob;
pub mod load;
pub mod message;
pub mod plugins;
pub mod traits;
pub mod yaml;

use std::path::Path;

use simd_json::prelude::*;

pub use load::{DefinitionError, DefinitionFault};

use crate::model::py::datetime;
use crate::model::{Event, Notification, OwnedValue, Priority, Value};
use dispatch::Dispatch;
use load::{EventDefinition, Paths, DEFAULT_TRAITS};
use traits::{Getter, TraitDefinition};

/// Ceilometer's `[event]` options that shape conversion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventOptions {
    /// `store_raw`: priorities whose events keep the whole notification in `raw`.
    pub store_raw: Vec<Priority>,
    /// `drop_unmatched_notifications`: without it (the default), a notification no definition
    /// matches still becomes an event with the default traits.
    pub drop_unmatched_notifications: bool,
}

impl EventOptions {
    /// From the `[event]` section as Ceilometer spells it: `store_raw` level names (any case;
    /// unknown names keep nothing, as they match no priority) and `drop_unmatched_notifications`.
    pub fn from_config<S: AsRef<str>>(store_raw: &[S], drop_unmatched_notifications: bool) -> EventOptions {
        let store_raw = store_raw
            .iter()
            .map(|level| Priority::parse(level.as_ref()))
            .filter(|p| *p != Priority::Unknown)
            .collect();
        EventOptions {
            store_raw,
            drop_unmatched_notifications,
        }
    }
}

/// What one notification gives the event side.
#[derive(Debug, Clone, PartialEq)]
pub enum EventOutcome {
    Event(Event),
    /// The priority is not one the event endpoint listens to (only info and error are).
    NotRouted,
    /// No definition matched and `drop_unmatched_notifications` is set.
    Unmatched,
    /// Ceilometer's endpoint would raise: no event, the message is still acked.
    Dropped(DropReason),
}

/// Why an event was dropped, with what an operator needs to find the notification.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event {event_type} (message {message_id}) dropped: {problem}")]
pub struct DropReason {
    pub event_type: String,
    pub message_id: String,
    pub problem: DropProblem,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DropProblem {
    #[error("event_type is missing or not a string")]
    NoEventType,
    #[error("notification timestamp {0} is not a parsable date")]
    BadTimestamp(String),
    #[error("trait {name}: {error}")]
    Trait { name: String, error: traits::TraitError },
}

impl DropProblem {
    /// A short, fixed label for metrics (`reason="trait"`).
    pub fn kind(&self) -> &'static str {
        match self {
            DropProblem::NoEventType => "event_type",
            DropProblem::BadTimestamp(_) => "timestamp",
            DropProblem::Trait { .. } => "trait",
        }
    }
}

/// The compiled event definitions of one file, plus the `[event]` options.
#[derive(Debug)]
pub struct EventDefinitions {
    definitions: Vec<EventDefinition>,
    /// The catch-all Ceilometer adds when nothing matches: default traits only.
    default_traits: Vec<TraitDefinition>,
    dispatch: Dispatch,
    options: EventOptions,
}

impl EventDefinitions {
    /// Load an event_definitions.yaml with the default options.
    pub fn load(path: impl AsRef<Path>) -> Result<EventDefinitions, DefinitionError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
            path: path.to_owned(),
            source,
        })?;
        EventDefinitions::parse(&text, path)
    }

    /// Compile definitions from text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<EventDefinitions, DefinitionError> {
        let (definitions, mut paths) = load::compile_document(text, origin.as_ref())?;
        let default_traits = default_traits(&mut paths).map_err(|fault| DefinitionError::Invalid {
            path: origin.as_ref().to_owned(),
            line: 1,
            context: "default traits".into(),
            fault,
        })?;
        let dispatch = Dispatch::new(definitions.iter().map(|d| d.filter.clone()).collect());
        Ok(EventDefinitions {
            definitions,
            default_traits,
            dispatch,
            options: EventOptions::default(),
        })
    }

    /// Apply Ceilometer's `[event]` options.
    pub fn with_options(mut self, options: EventOptions) -> EventDefinitions {
        self.options = options;
        self
    }

    pub fn options(&self) -> &EventOptions {
        &self.options
    }

    /// How many definitions the file had.
    pub fn len(&self) -> usize {
        self.definitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// The 1-based line of the definition that would handle `event_type` (`None` for the
    /// implicit catch-all or no match), for `ceilo check` and debugging.
    pub fn definition_line_for(&self, event_type: &str) -> Option<usize> {
        self.dispatch.lookup(event_type).map(|i| self.definitions[i].line)
    }

    /// Ceilometer's `EventEndpoint` + `NotificationEventsConverter.to_event` for one
    /// notification.
    pub fn to_event(&self, n: &Notification<'_>) -> EventOutcome {
        if !matches!(n.priority, Priority::Info | Priority::Error) {
            return EventOutcome::NotRouted;
        }
        let message_id = n.message_id();
        let drop = |event_type: &str, problem| {
            EventOutcome::Dropped(DropReason {
                event_type: event_type.to_owned(),
                message_id: message_id.unwrap_or("None").to_owned(),
                problem,
            })
        };
        // fnmatch raises on anything but a string.
        let Some(event_type) = n.event_type() else {
            return drop("None", DropProblem::NoEventType);
        };
        let traits = match self.dispatch.lookup(event_type) {
            Some(i) => &self.definitions[i].traits,
            None if self.options.drop_unmatched_notifications => return EventOutcome::Unmatched,
            None => &self.default_traits,
        };
        let timestamp = n.timestamp();
        let Some(generated) = timestamp
            .and_then(Value::as_str)
            .and_then(datetime::parse_isotime_utc)
        else {
            let shown = timestamp.map_or_else(|| "None".to_owned(), |t| t.encode());
            return drop(event_type, DropProblem::BadTimestamp(shown));
        };
        let mut out = Vec::with_capacity(traits.len());
        for definition in traits {
            match definition.to_trait(&n.root) {
                Ok(Some(t)) => out.push(t),
                Ok(None) => {}
                Err(error) => {
                    return drop(
                        event_type,
                        DropProblem::Trait {
                            name: definition.name().to_owned(),
                            error,
                        },
                    );
                }
            }
        }
        let raw = if self.options.store_raw.contains(&n.priority) {
            crate::model::to_owned(&n.root)
        } else {
            OwnedValue::object()
        };
        EventOutcome::Event(Event {
            message_id: message_id.map(str::to_owned),
            event_type: event_type.to_owned(),
            generated,
            traits: out,
            raw,
        })
    }
}

fn default_traits(paths: &mut Paths) -> Result<Vec<TraitDefinition>, DefinitionFault> {
    DEFAULT_TRAITS
        .iter()
        .map(|(name, fields)| {
            Ok(TraitDefinition {
                name: (*name).into(),
                ty: coerce::TraitType::Text,
                getter: Getter::Path(paths.compile_list(fields)?),
                plugin: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
