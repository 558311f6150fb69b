//! The polling agent: polling.yaml, scheduler, discovery, pollsters and notify send.
