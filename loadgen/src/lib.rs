//! loadgen: drives a Ceilometer-compatible notification agent through RabbitMQ and measures it
//! end to end — throughput, delay, loss and duplicates — the same way for ceilo and Ceilometer.
//!
//! It knows nothing of ceilo's code: it speaks only the wire format.

pub mod amqp;
pub mod collect;
pub mod generate;
pub mod key;
pub mod publish;
pub mod tally;
pub mod template;
pub mod wire;
