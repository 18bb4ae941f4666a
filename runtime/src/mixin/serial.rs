//! `Serial`: each request runs in the serving thread, one at a time (Python's plain
//! `TCPServer` / `UDPServer`; `mixin: Sync` in `server!`).

use std::io;

use super::{Job, Mixin, Waker};
use crate::config::ServerConfig;

/// Runs each request in the serving thread, one after the other: the next client waits in
/// the kernel's backlog. Python's default for `TCPServer` and `UDPServer`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serial;

impl Mixin for Serial {
    fn new(_config: &ServerConfig, _waker: Waker) -> io::Result<Self> {
        Ok(Serial)
    }

    fn process<J: Job>(&self, job: J) -> io::Result<()> {
        job.run();
        Ok(())
    }
}
