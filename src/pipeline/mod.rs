//! pipeline.yaml and event_pipeline.yaml: sources (meter/event filters), sinks and transformers.
