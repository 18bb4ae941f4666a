//! The wake socket: a socket pair a serving loop polls beside its listener, so that a
//! shutdown, a freed worker or a signal ends its wait at once (no poll interval).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The byte that asks for a shutdown; any other byte only wakes the loop. A byte (not only
/// the flag) carries the request so that a forked child can stop its parent.
const SHUTDOWN: u8 = b'S';
const WAKE: u8 = b'W';

/// A socket pair the serving loop polls beside its listener, so that a shutdown, a freed
/// worker or a signal ends its wait at once (no poll interval).
#[derive(Debug)]
pub(crate) struct WakeSocket {
    reader: UnixStream,
    writer: UnixStream,
}

impl WakeSocket {
    pub(crate) fn new() -> io::Result<WakeSocket> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(WakeSocket { reader, writer })
    }

    /// Makes the loop's poll return. A full socket already guarantees a wake-up, so a failed
    /// write is fine.
    pub(crate) fn wake(&self) {
        let _ = (&self.writer).write(&[WAKE]);
    }

    pub(crate) fn send_shutdown(&self) {
        let _ = (&self.writer).write(&[SHUTDOWN]);
    }

    /// Reads every pending byte; true if one of them asked for a shutdown.
    pub(crate) fn drain(&self) -> bool {
        let mut shutdown = false;
        drain(&self.reader, |bytes| shutdown |= bytes.contains(&SHUTDOWN));
        shutdown
    }

    /// Whether a byte waits to be read.
    pub(crate) fn is_pending(&self) -> bool {
        matches!(
            crate::poll::readable([self.fd()], Some(Duration::ZERO)),
            Ok([true])
        )
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// In a pre-forked worker: a pair of its own under the same descriptors, so that the
    /// worker's own stop does not wake (and stop) its master, nor the master's its workers.
    pub(crate) fn renew_in_child(&self) -> io::Result<()> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        crate::sys::replace_fd(reader, self.reader.as_raw_fd())?;
        crate::sys::replace_fd(writer, self.writer.as_raw_fd())
    }
}

/// Reads every byte pending on the non-blocking `socket`; how many there were (a signal
/// routed there: how many times it came).
pub(crate) fn count(socket: &UnixStream) -> usize {
    let mut total = 0;
    drain(socket, |bytes| total += bytes.len());
    total
}

/// Reads every byte pending on the non-blocking `socket`, handing each chunk to `each`.
pub(crate) fn drain(mut socket: &UnixStream, mut each: impl FnMut(&[u8])) {
    let mut buf = [0u8; 64];
    // A read shorter than the buffer took every pending byte: no second read to meet
    // EAGAIN (one syscall saved per wake-up).
    while let Ok(n @ 1..) = socket.read(&mut buf) {
        each(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
}
