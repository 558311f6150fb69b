//! The actors and the supervision tree: the shell that moves batches between the pure modules.
