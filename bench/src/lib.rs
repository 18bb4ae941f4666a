//! The benchmark suite of `socketserver`: the `server!` echo servers side by side with
//! hand-written `std::net`, Python's `socketserver` and tokio. Never a dependency of the
//! library.
//!
//! Binaries: `servers` (the Rust servers under test), `loadgen` (the load generator) and
//! `bench` (the driver: one command runs every scenario). Python's reference server is
//! `bench/python/echo_server.py`. With the `tls` feature, `tls_servers` (the hand-written
//! and tokio TLS echo servers) and loadgen's `--tls`, for `bench/tls.sh`.

pub mod common;
pub mod driver;
pub mod hand;
pub mod kinds;
pub mod loadgen;
pub mod ours;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio_echo;
