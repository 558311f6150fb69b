//! What a pipeline carries: samples or events. One name for the choice that picks the pipeline
//! file (`pipeline.yaml` or `event_pipeline.yaml`), what a publisher sends, and which counters
//! a publish moves.

/// Samples or events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Payload {
    #[default]
    Samples,
    Events,
}
