//! Helpers shared by the integration tests.

pub mod ceilometer;
pub mod corpus;
pub mod prometheus;
