//! Transports behind one trait: amqp:// (lapin) and memory:// (in-process).
