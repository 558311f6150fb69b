//! One AMQP body in, the samples and events Ceilometer would produce out.
