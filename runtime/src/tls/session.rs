//! A TLS connection after its handshake, as the `Session` rfile and wfile read and write
//! through: rustls's state behind a lock held only while it decrypts or encrypts, never
//! across a read or write of the socket, so a handler reading in one thread and writing in
//! another never waits on the other's I/O.

use std::io::{self, Read, Write};
use std::sync::{Mutex, MutexGuard, TryLockError};

use rustls::ServerConnection;

use crate::lock::lock;
use crate::request::{Session, StreamSocket};

/// Ciphertext read at once: a whole TLS record and its header.
const READ_SIZE: usize = 16 * 1024 + 512;

/// A TLS session over one connection. Locks are taken in one order (`incoming` or
/// `outgoing`, then `state`), and only `incoming` and `outgoing` are held across the
/// socket's I/O: they keep one reader and one writer at a time, and records in order.
pub(crate) struct TlsSession {
    state: Mutex<ServerConnection>,
    /// Ciphertext read from the socket and not yet given to rustls.
    incoming: Mutex<Incoming>,
    /// Records encrypted and not yet written to the socket.
    outgoing: Mutex<Vec<u8>>,
}

/// Ciphertext read: `buf[start..end]` is still to be given to rustls.
struct Incoming {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl TlsSession {
    /// The session of `tls`, handshake done; `left` is ciphertext read past it, `unsent`
    /// records of it not yet written.
    pub(crate) fn new(tls: ServerConnection, left: Vec<u8>, unsent: Vec<u8>) -> TlsSession {
        TlsSession {
            state: Mutex::new(tls),
            incoming: Mutex::new(Incoming {
                end: left.len(),
                buf: left,
                start: 0,
                eof: false,
            }),
            outgoing: Mutex::new(unsent),
        }
    }

    fn state(&self) -> MutexGuard<'_, ServerConnection> {
        lock(&self.state)
    }

    /// Moves what rustls has to send into `out`, then writes `out` to the socket.
    fn send(&self, socket: &StreamSocket, out: &mut Vec<u8>) -> io::Result<()> {
        take_records(&mut self.state(), out)?;
        write_out(socket, out)
    }

    /// Sends what rustls wants to send (a key update's answer) unless a writer is at it
    /// (it will send it with its own records).
    fn send_if_idle(&self, socket: &StreamSocket) -> io::Result<()> {
        match self.outgoing.try_lock() {
            Ok(mut out) => self.send(socket, &mut out),
            Err(TryLockError::Poisoned(p)) => self.send(socket, &mut p.into_inner()),
            Err(TryLockError::WouldBlock) => Ok(()),
        }
    }

    /// Reads ciphertext (unless some is left) and gives rustls one batch of it.
    fn receive(&self, socket: &StreamSocket) -> io::Result<()> {
        let mut incoming = lock(&self.incoming);
        let incoming = &mut *incoming;
        if incoming.start == incoming.end && !incoming.eof {
            // Zeroed once: the buffer keeps its length from then on.
            incoming.buf.resize(READ_SIZE, 0);
            (incoming.start, incoming.end) = (0, 0);
            incoming.end = retry(|| (&*socket).read(&mut incoming.buf))?;
            incoming.eof = incoming.end == 0;
        }
        let processed = {
            let mut tls = self.state();
            let mut rest = &incoming.buf[incoming.start..incoming.end];
            let taken = tls.read_tls(&mut rest)?;
            incoming.start += taken;
            tls.process_new_packets()
                .map(|s| s.tls_bytes_to_write() > 0)
        };
        match processed {
            Ok(false) => Ok(()),
            Ok(true) => self.send_if_idle(socket),
            Err(e) => {
                // The alert rustls queued tells the client why.
                let _ = self.send_if_idle(socket);
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }
}

impl Session for TlsSession {
    fn read(&self, socket: &StreamSocket, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without close_notify: an end, as Python's ssl module
                // reads it (`suppress_ragged_eofs`).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.receive(socket)?;
        }
    }

    fn write(&self, socket: &StreamSocket, buf: &[u8]) -> io::Result<usize> {
        let mut out = lock(&self.outgoing);
        let n = self.state().writer().write(buf)?;
        self.send(socket, &mut out)?;
        Ok(n)
    }

    fn flush(&self, socket: &StreamSocket) -> io::Result<()> {
        self.send(socket, &mut lock(&self.outgoing))
    }

    fn close(&self, socket: &StreamSocket) -> io::Result<()> {
        let mut out = lock(&self.outgoing);
        self.state().send_close_notify();
        self.send(socket, &mut out)
    }
}

/// Moves the records rustls has to send to the end of `out`.
pub(super) fn take_records(tls: &mut ServerConnection, out: &mut Vec<u8>) -> io::Result<()> {
    while tls.wants_write() {
        tls.write_tls(out)?;
    }
    Ok(())
}

/// Writes all of `out` to the socket and empties it; on an error, what was not written
/// stays for the next write.
pub(super) fn write_out(socket: &StreamSocket, out: &mut Vec<u8>) -> io::Result<()> {
    let mut sent = 0;
    let result = loop {
        if sent == out.len() {
            break Ok(());
        }
        match retry(|| (&*socket).write(&out[sent..])) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) => break Err(e),
        }
    };
    out.drain(..sent);
    result
}

/// `io` again while it is interrupted by a signal.
pub(super) fn retry<T>(mut io: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match io() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}
