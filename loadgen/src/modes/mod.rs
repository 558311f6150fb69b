//! The run modes: `preload`, `steady` and `ramp` measure an agent; `sink` is a stand-in agent
//! (ack-only, republishing, or one meter message per notification) for broker limits and tests.

pub mod preload;
pub mod ramp;
pub mod sink;
pub mod steady;
