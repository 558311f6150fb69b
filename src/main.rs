//! The `ceilo` command line.
fn main() {}
