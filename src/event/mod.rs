//! Notification → event: event_definitions.yaml, trait types and trait plugins.
