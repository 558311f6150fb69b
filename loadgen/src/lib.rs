//! loadgen: drives a Ceilometer-compatible notification agent through RabbitMQ and measures it
//! end to end — throughput, delay, loss and duplicates — the same way for ceilo and Ceilometer.
//!
//! It knows nothing of ceilo's code: it speaks only the wire format. Modules, in the order data
//! flows: `template` → `generate` (+ `key`, `wire`) → `publish` → agent → `collect` → `tally` →
//! `report`; `amqp` declares the topology, `agent` watches the process, `session` runs a
//! measurement and `modes` drive it (`raw_amqp`: the sink's consumer without lapin).

pub mod agent;
pub mod amqp;
pub mod collect;
pub mod generate;
pub mod key;
pub mod modes;
pub mod publish;
pub mod raw_amqp;
pub mod report;
pub mod scan;
pub mod session;
pub mod tally;
pub mod template;
pub mod wire;
