//! Notification → samples: meters.yaml definitions and the other sample endpoints
//! (telemetry.polling, HTTP middleware, IPMI sensors) that Ceilometer runs on every message.
