//! A notification as oslo.messaging hands it to Ceilometer's endpoints.
//!
//! The endpoints see `{ctxt, publisher_id, event_type, payload, metadata: {message_id,
//! timestamp}}` and the priority separately; [`Notification`] keeps exactly that dict as its
//! `root`, because meter and event definitions address it with jsonpaths such as
//! `$.payload.id`, `$.ctxt.user` or `$.metadata.timestamp`.

use simd_json::prelude::*;

use super::Value;

/// The notifier level, which picks the endpoint method (`info()`, `sample()`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    Audit,
    Critical,
    Debug,
    Error,
    Info,
    Sample,
    Warn,
    /// Anything else: oslo logs it and calls no endpoint.
    Unknown,
}

impl Priority {
    /// Case-insensitive, as oslo lower-cases the wire value (`"INFO"` → info).
    pub fn parse(s: &str) -> Priority {
        const NAMES: [(&str, Priority); 8] = [
            ("info", Priority::Info),
            ("sample", Priority::Sample),
            ("error", Priority::Error),
            ("warn", Priority::Warn),
            ("warning", Priority::Warn),
            ("audit", Priority::Audit),
            ("debug", Priority::Debug),
            ("critical", Priority::Critical),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or(Priority::Unknown, |(_, p)| *p)
    }

    /// The lower-case name used in routing keys (`notifications.<priority>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Audit => "audit",
            Priority::Critical => "critical",
            Priority::Debug => "debug",
            Priority::Error => "error",
            Priority::Info => "info",
            Priority::Sample => "sample",
            Priority::Warn => "warn",
            Priority::Unknown => "unknown",
        }
    }

    /// The upper-case name oslo puts on the wire.
    pub fn wire_name(self) -> &'static str {
        match self {
            Priority::Audit => "AUDIT",
            Priority::Critical => "CRITICAL",
            Priority::Debug => "DEBUG",
            Priority::Error => "ERROR",
            Priority::Info => "INFO",
            Priority::Sample => "SAMPLE",
            Priority::Warn => "WARN",
            Priority::Unknown => "UNKNOWN",
        }
    }
}

/// A decoded notification, borrowing from the message buffer.
#[derive(Debug)]
pub struct Notification<'a> {
    pub priority: Priority,
    /// oslo's `_unique_id`, used by listeners to drop redelivered duplicates.
    pub unique_id: Option<String>,
    /// `{ctxt, publisher_id, event_type, payload, metadata: {message_id, timestamp}}`.
    pub root: Value<'a>,
}

impl<'a> Notification<'a> {
    pub fn event_type(&self) -> Option<&str> {
        self.root.get_str("event_type")
    }

    pub fn publisher_id(&self) -> Option<&str> {
        self.root.get_str("publisher_id")
    }

    pub fn payload(&self) -> Option<&Value<'a>> {
        self.root.get("payload")
    }

    pub fn ctxt(&self) -> Option<&Value<'a>> {
        self.root.get("ctxt")
    }

    pub fn message_id(&self) -> Option<&str> {
        self.metadata("message_id").and_then(|v| v.as_str())
    }

    /// The notification's timestamp as sent (oslo: `str()` of a naive UTC datetime).
    pub fn timestamp(&self) -> Option<&Value<'a>> {
        self.metadata("timestamp")
    }

    fn metadata(&self, key: &str) -> Option<&Value<'a>> {
        self.root.get("metadata").and_then(|m| m.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_parses_any_case_and_maps_warning_to_warn() {
        assert_eq!(Priority::parse("INFO"), Priority::Info);
        assert_eq!(Priority::parse("sample"), Priority::Sample);
        assert_eq!(Priority::parse("Warning"), Priority::Warn);
        assert_eq!(Priority::parse("bogus"), Priority::Unknown);
        assert_eq!(Priority::parse(""), Priority::Unknown);
    }
}
