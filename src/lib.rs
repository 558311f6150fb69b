//! ceilo: a Ceilometer-compatible telemetry agent.
//!
//! Reading order for the hot path: [`model::envelope`] decodes an AMQP body into a
//! [`model::Notification`]; [`convert::Converter`] runs it through the compiled meter
//! definitions ([`meter`]) and event definitions ([`event`]); [`model::meter_message`]
//! serializes and signs the resulting [`model::Sample`]s. Everything in those modules is plain
//! synchronous Rust; the actors in [`agent`] only move batches between them.
//!
//! The map around it (each module's one job, which module may use which, where new code goes)
//! is `docs/architecture.md`.

pub mod agent;
pub mod config;
pub mod convert;
pub mod coordination;
pub mod duration;
pub mod event;
pub mod http;
pub mod jsonpath;
pub mod keystone;
pub mod meter;
pub mod model;
pub mod pipeline;
pub mod polling;
pub mod problem;
pub mod publish;
#[doc(hidden)]
pub mod reference;
pub mod telemetry;
pub mod tls;
pub mod transform;
pub mod transport;
