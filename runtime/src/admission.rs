//! A request admitted into a server: in its in-flight table from accept to end.

use std::os::fd::RawFd;

use crate::inflight::Id;
use crate::shutdown::ServerHandle;

/// A request admitted into the server: counted from the moment it is accepted (so that
/// `max_connections` holds for a burst, and a graceful close waits for requests still
/// queued for a worker) until it is dropped, when the request has ended or was never run.
/// Dropping it wakes the serving loop if it was held at `max_connections`.
pub(crate) struct Admission {
    server: ServerHandle,
    id: Id,
}

impl Admission {
    /// Admits a new request of `server`.
    pub(crate) fn new(server: ServerHandle) -> Admission {
        let id = server.in_flight().admit();
        Admission { server, id }
    }

    /// Records the request's connection (its descriptor) until the returned guard is
    /// dropped, so that a cut can shut it down; the descriptor must stay open until then.
    /// After a cut, the connection is shut down at once: the server is stopping.
    pub(crate) fn attach(&self, connection: Option<RawFd>) -> Attached<'_> {
        self.server.in_flight().attach(self.id, connection);
        Attached(self)
    }
}

/// A request's connection recorded in the table; dropped (before the connection closes) to
/// forget it, so that a cut never shuts down a descriptor that was closed and reused.
pub(crate) struct Attached<'a>(&'a Admission);

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        let Admission { server, id } = self.0;
        server.in_flight().attach(*id, None);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.server.in_flight().release(self.id, self.server.wake());
    }
}
