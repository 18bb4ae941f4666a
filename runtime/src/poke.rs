//! Waking a serving thread that waits in `accept` or `recv` itself: a connection or an empty
//! datagram of our own, sent to the server's socket and recognised by its source address.
//!
//! Waiting in the blocking call saves the `poll` a serving loop would otherwise make per
//! request. A shutdown then has to end the call from outside: it sends the server's socket a
//! *poke* (connects to it, or sends it an empty datagram) from a socket bound to a known
//! address. The serving thread takes it like a request, sees the address in the list of
//! pokes sent, and drops it instead of serving it. A poke that arrives after the thread
//! stopped waiting (a race with a real request) stays queued and is dropped whenever it is
//! taken, by this `serve_forever` or the next one.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use socket2::{SockAddr, SockRef, Socket, Type};

use crate::address::SocketAddress;
use crate::lock;

/// Sends pokes to one server's socket and recognises them when they come back.
#[derive(Debug)]
pub(crate) struct Poker {
    target: SockAddr,
    ty: Type,
    /// The datagram transports send every poke from this one socket.
    datagram_socket: Option<(Socket, SocketAddress)>,
    /// The stream transports connect from a new socket each time: the next one, made
    /// beforehand so that a shutdown needs no descriptor (the table may be full).
    spare: Mutex<Option<Socket>>,
    /// The source addresses of the pokes sent and not yet taken, with the connecting socket
    /// of a stream poke (kept open until the poke is taken, so the connection completes).
    sent: Mutex<Vec<(SocketAddress, Option<Socket>)>>,
    /// `sent.len()`, read without the lock on every request.
    unclaimed: AtomicUsize,
    /// How many threads are in (or about to enter) a blocking `accept` or `recv`.
    waiting: AtomicUsize,
}

impl Poker {
    /// A poker for the server socket `listener`, bound to `server`.
    pub(crate) fn new(server: &SocketAddress, listener: BorrowedFd<'_>) -> io::Result<Poker> {
        let ty = SockRef::from(&listener).r#type()?;
        let target = match server {
            SocketAddress::Inet(addr) => SockAddr::from(reachable(*addr)),
            SocketAddress::Unix(_) => server.to_sockaddr(),
        };
        let socket = source_socket(&target, ty)?;
        let (datagram_socket, spare) = if ty == Type::DGRAM {
            let address = SocketAddress::from_sockaddr(socket.local_addr()?);
            (Some((socket, address)), None)
        } else {
            (None, Some(socket))
        };
        Ok(Poker {
            target,
            ty,
            datagram_socket,
            spare: Mutex::new(spare),
            sent: Mutex::new(Vec::new()),
            unclaimed: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Counts the calling thread as waiting in a blocking call until the guard is dropped.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(&self.waiting)
    }

    /// Pokes the server's socket once for every thread waiting in a blocking call (each
    /// poke ends one wait).
    pub(crate) fn poke_if_waiting(&self) {
        for _ in 0..self.waiting.load(Ordering::SeqCst) {
            if let Err(e) = self.poke() {
                crate::report::error(format_args!(
                    "cannot wake a serving thread for a shutdown: {e}"
                ));
                return;
            }
        }
    }

    /// Waits until no thread is in a blocking call (after a shutdown poked them all). Pokes
    /// again every 100 ms meanwhile, in case a poke was lost (it could not be sent, or a
    /// thread took a client instead and another thread started waiting).
    pub(crate) fn wait_until_none_waits(&self) {
        for turn in 1.. {
            if self.waiting.load(Ordering::SeqCst) == 0 {
                return;
            }
            if turn % 2000 == 0 {
                self.poke_if_waiting();
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    fn poke(&self) -> io::Result<()> {
        // Held throughout, so that the serving thread, which counts the poke as soon as it
        // is sent, looks it up only once it is listed.
        let mut sent = lock(&self.sent);
        let (address, socket) = match &self.datagram_socket {
            Some((socket, address)) => {
                self.unclaimed.fetch_add(1, Ordering::SeqCst);
                (
                    address.clone(),
                    socket.send_to(&[], &self.target).map(|_| None),
                )
            }
            None => {
                let spare = lock(&self.spare).take();
                let socket = match spare {
                    Some(socket) => socket,
                    None => source_socket(&self.target, self.ty)?,
                };
                // For the next shutdown; if this fails, it tries again then.
                *lock(&self.spare) = source_socket(&self.target, self.ty).ok();
                let address = SocketAddress::from_sockaddr(socket.local_addr()?);
                self.unclaimed.fetch_add(1, Ordering::SeqCst);
                match socket.connect(&self.target) {
                    Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => (address, Err(e)),
                    // Kept open until the poke is taken, so that the connection completes.
                    _ => (address, Ok(Some(socket))),
                }
            }
        };
        match socket {
            Ok(socket) => sent.push((address, socket)),
            Err(e) => {
                self.unclaimed.fetch_sub(1, Ordering::SeqCst);
                return Err(e);
            }
        }
        Ok(())
    }

    /// True when what came from `source` is a poke (which is then forgotten): the caller
    /// drops it instead of serving it.
    pub(crate) fn is_poke(&self, source: &SocketAddress) -> bool {
        if self.unclaimed.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let mut sent = lock(&self.sent);
        match sent.iter().position(|(address, _)| address == source) {
            Some(index) => {
                sent.swap_remove(index);
                self.unclaimed.fetch_sub(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

/// A thread counted as waiting in a blocking call, until dropped.
pub(crate) struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The address to reach a server bound to `addr` from this host: the loopback address for a
/// server bound to every address.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// A non-blocking socket of `ty` bound to an address of its own, from which pokes to
/// `target` come: for internet sockets the target's address with a free port, for unix
/// sockets a name the kernel picks in the abstract namespace (autobind).
fn source_socket(target: &SockAddr, ty: Type) -> io::Result<Socket> {
    let socket = Socket::new(target.domain(), ty, None)?;
    socket.set_nonblocking(true)?;
    match target.as_socket() {
        Some(addr) => socket.bind(&SockAddr::from(SocketAddr::new(addr.ip(), 0)))?,
        None => socket.bind(&autobind_address())?,
    }
    Ok(socket)
}

/// A unix address of the family alone: binding to it makes the kernel pick a unique name.
fn autobind_address() -> SockAddr {
    // SAFETY: a zeroed sockaddr_storage is valid; the length covers only the family field.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        SockAddr::new(
            storage,
            std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::os::fd::AsFd;
    use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
    use std::time::Duration;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A poker for `listener`, with one thread counted as waiting (for the test's life).
    fn poker(listener: &impl AsFd) -> Poker {
        let local = SockRef::from(listener).local_addr().unwrap();
        let poker = Poker::new(&SocketAddress::from_sockaddr(local), listener.as_fd()).unwrap();
        std::mem::forget(poker.waiting());
        poker
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("poke-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    /// Two pokes queued, and a real client between them: each poke is recognised when it is
    /// taken, once; the client is not.
    #[test]
    fn queued_tcp_pokes_are_recognised_and_clients_are_not() {
        let listener = TcpListener::bind("0.0.0.0:0").unwrap();
        let poker = poker(&listener);
        poker.poke_if_waiting();
        let port = listener.local_addr().unwrap().port();
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        poker.poke_if_waiting();
        let taken: Vec<bool> = (0..3)
            .map(|_| {
                let (_, from) = listener.accept().unwrap();
                poker.is_poke(&SocketAddress::from(from))
            })
            .collect();
        assert_eq!(taken, [true, false, true]);
        assert_eq!(poker.unclaimed.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn queued_unix_stream_pokes_are_recognised_and_clients_are_not() {
        let path = temp_path("stream.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let poker = poker(&listener);
        poker.poke_if_waiting();
        let _client = UnixStream::connect(&path).unwrap();
        poker.poke_if_waiting();
        let taken: Vec<bool> = (0..3)
            .map(|_| {
                let (socket, _) = listener.accept().unwrap();
                let from = SockRef::from(&socket).peer_addr().unwrap();
                poker.is_poke(&SocketAddress::from_sockaddr(from))
            })
            .collect();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(taken, [true, false, true]);
    }

    #[test]
    fn queued_datagram_pokes_are_empty_and_recognised() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(TIMEOUT)).unwrap();
        let poker = poker(&server);
        poker.poke_if_waiting();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"x", server.local_addr().unwrap()).unwrap();
        poker.poke_if_waiting();
        let mut buf = [0u8; 8];
        let taken: Vec<(usize, bool)> = (0..3)
            .map(|_| {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                (n, poker.is_poke(&SocketAddress::from(from)))
            })
            .collect();
        assert_eq!(taken, [(0, true), (1, false), (0, true)]);
    }

    #[test]
    fn unix_datagram_pokes_come_from_a_name_of_their_own() {
        let path = temp_path("dgram.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_read_timeout(Some(TIMEOUT)).unwrap();
        let poker = poker(&server);
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"x", &path).unwrap();
        poker.poke_if_waiting();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8];
        let taken: Vec<bool> = (0..2)
            .map(|_| {
                let (_, from) = SockRef::from(&server).recv_from(&mut buf).unwrap();
                poker.is_poke(&SocketAddress::from_sockaddr(from))
            })
            .collect();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(taken, [false, true]);
    }

    #[test]
    fn no_poke_while_the_serving_thread_is_not_waiting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let local = SockRef::from(&listener).local_addr().unwrap();
        let poker = Poker::new(&SocketAddress::from_sockaddr(local), listener.as_fd()).unwrap();
        poker.poke_if_waiting();
        assert_eq!(poker.unclaimed.load(Ordering::SeqCst), 0);
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn unspecified_addresses_are_reached_through_loopback() {
        let any4: SocketAddr = "0.0.0.0:80".parse().unwrap();
        let any6: SocketAddr = "[::]:80".parse().unwrap();
        let specific: SocketAddr = "192.0.2.1:80".parse().unwrap();
        assert_eq!(reachable(any4), "127.0.0.1:80".parse().unwrap());
        assert_eq!(reachable(any6), "[::1]:80".parse().unwrap());
        assert_eq!(reachable(specific), specific);
    }
}
