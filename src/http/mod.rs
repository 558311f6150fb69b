//! HTTP plumbing shared by ceilo's clients and servers: the outbound client and its TLS roots
//! ([`client`]), and the one hyper server loop that both of ceilo's listeners (the telemetry
//! endpoint, the polled-samples exporter) run ([`server`]).

pub mod client;
pub mod server;
