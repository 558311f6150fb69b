//! One file per subcommand; each turns its arguments into calls on the library.

pub mod check;
pub mod config_args;
pub mod convert;
pub mod definitions;
pub mod log_throttle;
pub mod logging;
pub mod run;
pub mod top;
pub mod upgrade;
