//! The agent's own health: metrics, Prometheus exporter, /healthz and /readyz.
