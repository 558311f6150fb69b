//! HTTP plumbing shared by ceilo's clients: the outbound client and its TLS roots.

pub mod client;
