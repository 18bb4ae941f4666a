//! The `server!` echo types of `examples/echo.rs` (the same source), for the measurements
//! made in process (shutdown latency, idle connections). The driver measures the example
//! binary itself for everything else.

#[path = "../../examples/common/echo.rs"]
mod echo;

pub use echo::*;
