//! The stream transports, `Tcp` and `UnixStream`: a listening socket, one connection per
//! request.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net as unix_net;

use socket2::{Socket, Type};

use super::socket::{self, OwnedSocketFile};
use super::{BindAddress, Transport};
use crate::address::{resolve_inet, resolve_unix, SocketAddress};
use crate::config::ServerConfig;
use crate::request::{prepare_spare_buffer, StreamRequest, StreamSocket};
use crate::shutdown::ServerHandle;

/// A listening stream socket (non-blocking, except while a serving loop waits in `accept`),
/// and the socket file it created for a unix server.
#[derive(Debug)]
pub struct StreamListener {
    /// In the table forked children close. First, so dropped first: the descriptor leaves
    /// the table before it closes and its number can be reused (a child must never close
    /// a descriptor that became its own request's).
    registered: std::sync::Mutex<crate::listeners::Registered>,
    socket: Socket,
    socket_file: OwnedSocketFile,
    /// Made by `bind` (ours alone), not adopted (perhaps shared with other processes) nor
    /// shared with pre-forked workers since.
    bound: std::sync::atomic::AtomicBool,
    /// Served by sibling pre-forked workers too: a stop leaves them the queue.
    siblings: std::sync::atomic::AtomicBool,
}

impl StreamListener {
    fn new(socket: Socket, socket_file: Option<socket::SocketFile>, bound: bool) -> StreamListener {
        let registered = crate::listeners::register(socket.as_raw_fd());
        StreamListener {
            socket,
            socket_file: OwnedSocketFile::new(socket_file),
            registered: std::sync::Mutex::new(registered),
            bound: std::sync::atomic::AtomicBool::new(bound),
            siblings: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl AsRawFd for StreamListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

fn bind(address: &SocketAddress, config: &ServerConfig) -> io::Result<StreamListener> {
    let _making = crate::listeners::making();
    let (socket, socket_file) = socket::bind(address, Type::STREAM, config)?;
    socket.set_nonblocking(true)?;
    Ok(StreamListener::new(socket, socket_file, true))
}

fn adopt(fd: std::os::fd::OwnedFd, unix: bool) -> io::Result<StreamListener> {
    let socket = socket::adopt(fd, Type::STREAM, unix)?;
    socket.set_nonblocking(true)?;
    Ok(StreamListener::new(socket, None, false))
}

fn accept(listener: &StreamListener) -> io::Result<Option<(Socket, SocketAddress)>> {
    match listener.socket.accept() {
        Ok((socket, addr)) => Ok(Some((socket, SocketAddress::from_sockaddr(addr)))),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Has a listening socket the server bound start no new handshake, so that the drain that
/// follows takes (nearly) the last connection there will be: a TCP socket drops every SYN
/// from now on (a socket filter), so a client that connects meanwhile sends its SYN again
/// and is refused once the socket stops listening, instead of being queued after the last
/// `accept` and reset. Handshakes already under way complete as before. An adopted socket
/// is left alone (its other holders go on serving it, and this process takes nothing more
/// from it); a unix socket cannot filter its connections.
fn stop_handshakes(listener: &StreamListener) {
    let tcp = listener
        .socket
        .local_addr()
        .is_ok_and(|a| a.as_socket().is_some());
    if listener.bound.load(std::sync::atomic::Ordering::SeqCst) && tcp {
        refuse_handshakes(listener.socket.as_fd());
    }
}

/// Drops every SYN that reaches TCP listening socket `socket` from now on (`DROP_SYNS`), so
/// that it starts no new handshake (see `Transport::stop_handshakes`).
pub(crate) fn refuse_handshakes(socket: std::os::fd::BorrowedFd<'_>) {
    let _ = socket2::SockRef::from(&socket).attach_filter(&DROP_SYNS);
}

/// A classic BPF socket filter for a TCP listener (it sees each segment from its TCP
/// header on): a SYN without ACK is dropped (0 bytes kept), anything else kept whole.
const DROP_SYNS: [libc::sock_filter; 5] = [
    // The flags byte of the TCP header.
    bpf(
        (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16,
        0,
        0,
        13,
    ),
    bpf(
        (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16,
        0,
        0,
        0x12,
    ),
    // SYN set and ACK clear: the next instruction (drop), else skip it (keep).
    bpf(
        (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        0,
        1,
        0x02,
    ),
    bpf((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, 0),
    bpf((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, u32::MAX),
];

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Stops the listening socket (connections still queued would be reset: the caller took
/// them first), so that new clients are refused at once. One the server bound is shut down
/// (whoever else holds a copy: a forked child still starting). One it adopted may be
/// shared (a service manager's, a pre-forked worker's): it is closed for this process only,
/// its descriptor replaced by an inert socket until the server drops, and goes on
/// listening in its other holders. Then the socket file goes.
fn stop_listening(listener: &StreamListener) {
    let fd = listener.socket.as_raw_fd();
    let _ = match listener.bound.load(std::sync::atomic::Ordering::SeqCst) {
        true => crate::sys::shut_down(fd, libc::SHUT_RDWR),
        false => crate::sys::close_in_place(fd),
    };
    crate::lock::lock(&listener.registered).unregister();
    listener.socket_file.remove();
}

/// See [`Transport::share`](super::Transport::share).
fn share(listener: &StreamListener) -> io::Result<()> {
    listener
        .bound
        .store(false, std::sync::atomic::Ordering::SeqCst);
    listener
        .siblings
        .store(true, std::sync::atomic::Ordering::SeqCst);
    listener.socket_file.disown();
    Ok(())
}

/// The `Transport` items of a stream transport whose accepted sockets `wrap` makes into
/// `StreamSocket`s (for `transport!`).
macro_rules! stream_items {
    ($wrap:expr, unix: $unix:literal) => {
        type Request = StreamRequest;
        type Listener = StreamListener;
        type Incoming = StreamSocket;
        const STREAM: bool = true;

        fn bind(address: &SocketAddress, config: &ServerConfig) -> io::Result<StreamListener> {
            bind(address, config)
        }

        fn share(listener: &StreamListener) -> io::Result<()> {
            share(listener)
        }

        fn drains_at_stop(listener: &StreamListener) -> bool {
            !listener.siblings.load(std::sync::atomic::Ordering::SeqCst)
        }

        fn drain_at_stop(listener: &StreamListener) {
            listener
                .siblings
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }

        fn reuse_port_twin(
            listener: &StreamListener,
            config: &ServerConfig,
        ) -> io::Result<std::os::fd::OwnedFd> {
            socket::reuse_port_twin(&listener.socket, config).map(Into::into)
        }

        fn own_socket_file(listener: &StreamListener) -> io::Result<()> {
            let address = SocketAddress::from_sockaddr(listener.socket.local_addr()?);
            match address.as_unix().and_then(|a| a.as_pathname()) {
                Some(path) => listener.socket_file.own(path),
                None => Ok(()),
            }
        }

        fn adopt(socket: std::os::fd::OwnedFd) -> io::Result<StreamListener> {
            adopt(socket, $unix)
        }

        fn local_address(listener: &StreamListener) -> io::Result<SocketAddress> {
            Ok(SocketAddress::from_sockaddr(listener.socket.local_addr()?))
        }

        fn set_blocking(listener: &StreamListener, blocking: bool) -> io::Result<()> {
            // `O_NONBLOCK` belongs to the socket's open file, which sibling workers share: a
            // worker that stops must not make it non-blocking under those still waiting
            // in `accept` (they would spin on `EAGAIN`). It takes nothing off the queue.
            if !blocking && listener.siblings.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            listener.socket.set_nonblocking(!blocking)
        }

        fn accept(
            listener: &StreamListener,
            _config: &ServerConfig,
        ) -> io::Result<Option<(StreamSocket, SocketAddress)>> {
            Ok(accept(listener)?.map(|(s, a)| (($wrap)(s), a)))
        }

        fn prepare_child(_incoming: &mut StreamSocket, config: &ServerConfig) {
            prepare_spare_buffer(config.rbufsize.max(1));
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn open_request(
            incoming: StreamSocket,
            client_address: SocketAddress,
            server: ServerHandle,
            config: &ServerConfig,
        ) -> io::Result<StreamRequest> {
            StreamRequest::new(incoming, client_address, server, config)
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn is_probe(request: &StreamRequest) -> bool {
            request
                .get::<crate::proxy::ProxyHeader>()
                .is_some_and(|header| header.local)
        }

        fn open_layers(
            request: &mut StreamRequest,
            layers: &[std::sync::Arc<dyn crate::request::StreamLayer>],
        ) -> io::Result<()> {
            request.open_layers(layers)
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn connection(request: &StreamRequest) -> Option<std::os::fd::RawFd> {
            Some(request.fd())
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn close_request(request: &mut StreamRequest) -> io::Result<()> {
            request.close();
            Ok(())
        }

        /// Flushed (and a TLS session closed) without the `SHUT_WR`: the child's exit closes
        /// its connection, and the client reads EOF then, as from a hand-written forking
        /// server. (A `SHUT_WR` first cost 4 % more server CPU per connection, measured.)
        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn close_request_before_exit(request: &mut StreamRequest) -> io::Result<()> {
            request.finish_writing();
            Ok(())
        }

        fn stop_handshakes(listener: &StreamListener) {
            stop_handshakes(listener);
        }

        fn stop_listening(listener: &StreamListener) {
            stop_listening(listener);
        }

        fn reject(incoming: StreamSocket) {
            let _ = incoming.shutdown(Shutdown::Write);
        }
    };
}

transport!(
    /// TCP over IPv4 or IPv6 (Python's `TCPServer`); handlers take `&mut StreamRequest`.
    Tcp binds [std::net::ToSocketAddrs, std::fmt::Debug] by resolve_inet,
    stream_items!(|s| StreamSocket::Tcp(std::net::TcpStream::from(s)), unix: false)
);

transport!(
    /// Unix-domain stream sockets (Python's `UnixStreamServer`); binds to a path and removes
    /// the socket file it created on close. Handlers take `&mut StreamRequest`.
    UnixStream binds [AsRef<std::path::Path>] by resolve_unix,
    stream_items!(|s| StreamSocket::Unix(unix_net::UnixStream::from(s)), unix: true)
);
