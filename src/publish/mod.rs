//! Publishers (notifier://, file://, ...) and their batching.
