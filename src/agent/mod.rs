//! The actors and the supervision tree: the shell that moves batches between the pure modules.
//!
//! ```text
//! Listener (per queue × URL) ──DeliveryBatch──► ConverterPool (worker threads)
//!   pump task on the main runtime                      │ ConvertedBatch
//!                                                      ▼
//!                       PipelineActor ──PublishBatch──► PublisherActor (per publisher URL)
//!                                     └──────────────► PublisherActor (dead letters)
//! ```
//! Every arrow is a bounded queue whose sender waits while it is full, and which keeps its
//! `ceilo_actor_mailbox_depth` ([`mailbox`]).
//! Every long-lived actor runs under `actix::Supervisor` and catches panics at its handler
//! boundary, so a failure restarts that actor, not the process. [`Agent`] is the root.
//!
//! Reading order: [`config`] is what the agent is given ([`AgentConfig`], loaded and validated
//! before anything starts); [`builder`] starts the tree from it, one stage per method, each after
//! what it sends to; [`mod@run`] is `ceilo run` from start to graceful shutdown; [`reload`] swaps
//! the definitions at SIGHUP; [`polling`] wires the polling agent's sender. The actors themselves
//! are one module each.
//!
//! What this module does not do: conversion ([`crate::convert`]), routing ([`crate::pipeline`]),
//! encoding ([`crate::publish`]).

pub mod ack;
pub mod builder;
pub mod config;
pub mod converter;
pub mod duplicates;
pub mod encoders;
pub mod listener;
pub mod mailbox;
pub mod outage;
pub mod partitions;
pub mod pipeline;
pub mod polling;
pub mod publisher;
pub mod publishers;
pub mod reload;
pub mod run;
pub mod summary;
pub mod window;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::config::ConfigError;
use crate::problem::Problem;
use crate::telemetry::Readiness;
use crate::transport::TransportError;
use publisher::PublisherActor;

pub use builder::AgentBuilder;
pub use config::{
    listener_budget, load_converter, load_pipelines, notification_queues, remember_brokers_passwords,
    topologies, AgentConfig,
};
pub use converter::Convert;
pub use listener::ListenerStatus;
pub use run::{run, Stopped, EXIT_SHUTDOWN_TIMED_OUT};

/// Why the agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Config files that do not compile: each problem as `ceilo check` prints it.
    #[error("{}", .0.iter().map(Problem::to_string).collect::<Vec<_>>().join("; "))]
    Problems(Vec<Problem>),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Runtime(String),
    #[error("polling: {0}")]
    Polling(#[from] crate::polling::StartError),
    #[error("publisher {url}: {reason}")]
    Publisher { url: String, reason: String },
}

/// The running agent (the root of the supervision tree). [`AgentBuilder`] starts it, stage by
/// stage; [`Agent::shutdown`] (in [`mod@run`]) stops it; [`reload`] swaps its definitions.
pub struct Agent {
    shutdown: watch::Sender<bool>,
    listeners: Vec<Arc<ListenerStatus>>,
    /// The dead-letter and partition publishers (the sinks' are in `sinks`).
    publishers: Vec<Addr<PublisherActor>>,
    /// Starts the publishers a reload adds.
    factory: publishers::Factory,
    sinks: publishers::Sinks,
    pipeline: Addr<pipeline::PipelineActor>,
    /// What the converter workers convert with (a reload replaces it).
    converter: Arc<reload::Current<dyn Convert>>,
    readiness: Readiness,
}

impl Agent {
    /// Build and start the actor tree. Call from inside an `actix::System` whose tokio runtime is
    /// `runtime` (multi-threaded; see [`run()`]). The polling side, if any, is started by
    /// [`run()`] (see [`polling::start_polling_agent`]).
    pub fn start(
        config: AgentConfig,
        runtime: tokio::runtime::Handle,
        readiness: Readiness,
    ) -> Result<Agent, AgentError> {
        let AgentConfig {
            settings,
            samples,
            events,
            converter,
            config_dir,
            ..
        } = config;
        AgentBuilder::new(settings, &config_dir, runtime, readiness)?.build(samples, events, converter)
    }

    /// Every listener is consuming.
    pub fn is_ready(&self) -> bool {
        self.listeners.iter().all(|l| l.connected.load(Ordering::SeqCst))
    }

    /// The pipeline actor (tests inject failures through it).
    #[doc(hidden)]
    pub fn pipeline(&self) -> &Addr<pipeline::PipelineActor> {
        &self.pipeline
    }
}
