//! Helpers shared by the integration tests.

pub mod corpus;
pub mod prometheus;
