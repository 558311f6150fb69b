//! The agent's own health: metrics, Prometheus exporter, /healthz and /readyz.
//!
//! * [`metrics`]: the catalogue, the one place metric names are spelled.
//! * [`handles`]: pre-registered handles per component; hot code calls them once per batch.
//!
//! It does not decide what the agent does when unhealthy: it only reports.

pub mod handles;
pub mod metrics;
