//! The datagram transports, `Udp` and `UnixDatagram`: one socket, one datagram per request,
//! replies sent from the same socket.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net as unix_net;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use socket2::{SockRef, Socket, Type};

use super::socket::{self, OwnedSocketFile};
use super::{BindAddress, Transport};
use crate::address::{resolve_inet, resolve_unix, SocketAddress};
use crate::config::ServerConfig;
use crate::request::{
    keep_spare_buffer, keep_spare_reply, take_reply_for_child, take_spare_buffer, DatagramRequest,
    DatagramSocket,
};
use crate::shutdown::ServerHandle;
use crate::sys;

/// The server's datagram socket, shared with the requests that reply from it, and the
/// socket file it created for a unix server.
#[derive(Debug)]
pub struct DatagramListener {
    socket: Arc<DatagramSocket>,
    /// Receive waits for a datagram (the socket itself always blocks, for replies).
    blocking: AtomicBool,
    socket_file: OwnedSocketFile,
}

impl AsRawFd for DatagramListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// A received datagram: its first `max_packet_size` bytes, whether it was longer, and the
/// socket to reply from.
#[derive(Debug)]
pub struct Datagram {
    data: Spare,
    /// The reply's buffer, readied for a forked child (`prepare_child`); otherwise the
    /// request takes the thread's own.
    reply: Option<Spare>,
    truncated: bool,
    socket: Arc<DatagramSocket>,
}

/// A buffer of the thread's spares, and how to keep it. Dropped unused (a rejected
/// datagram, the parent's copy of a forked one), it serves the thread's next datagram.
#[derive(Debug)]
struct Spare(Vec<u8>, fn(Vec<u8>));

impl Spare {
    /// The buffer, taken out without keeping anything: the request that takes it keeps it
    /// when it ends (a forked child's request never ends, and runs none of the spares'
    /// code).
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn into_inner(self) -> Vec<u8> {
        let mut spare = std::mem::ManuallyDrop::new(self);
        std::mem::take(&mut spare.0)
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        (self.1)(std::mem::take(&mut self.0));
    }
}

fn bind(
    address: &SocketAddress,
    config: &ServerConfig,
    wrap: fn(Socket) -> DatagramSocket,
) -> io::Result<DatagramListener> {
    let (socket, socket_file) = socket::bind(address, Type::DGRAM, config)?;
    Ok(DatagramListener {
        socket: Arc::new(wrap(socket)),
        blocking: AtomicBool::new(false),
        socket_file: OwnedSocketFile::new(socket_file),
    })
}

fn adopt(
    fd: std::os::fd::OwnedFd,
    unix: bool,
    wrap: fn(Socket) -> DatagramSocket,
) -> io::Result<DatagramListener> {
    let socket = socket::adopt(fd, Type::DGRAM, unix)?;
    // Blocking, as a bound one: replies wait for room in the socket's send buffer only
    // as `MSG_DONTWAIT` allows (not at all).
    socket.set_nonblocking(false)?;
    Ok(DatagramListener {
        socket: Arc::new(wrap(socket)),
        blocking: AtomicBool::new(false),
        socket_file: OwnedSocketFile::new(None),
    })
}

/// Receives one datagram, without blocking unless the listener is set to (the socket itself
/// stays blocking for replies). `MSG_TRUNC` makes the kernel return the datagram's real
/// length, so truncation is known.
fn receive(
    listener: &DatagramListener,
    config: &ServerConfig,
) -> io::Result<Option<(Datagram, SocketAddress)>> {
    let mut data = take_spare_buffer(config.max_packet_size);
    data.clear();
    let flags = if listener.blocking.load(Ordering::Relaxed) {
        libc::MSG_TRUNC
    } else {
        libc::MSG_DONTWAIT | libc::MSG_TRUNC
    };
    let socket = SockRef::from(&*listener.socket);
    let received = sys::read_into_spare(&mut data, config.max_packet_size, |spare| {
        socket.recv_from_with_flags(spare, flags)
    });
    match received {
        Ok((len, addr)) => {
            let truncated = len > data.len();
            let datagram = Datagram {
                data: Spare(data, keep_spare_buffer),
                reply: None,
                truncated,
                socket: listener.socket.clone(),
            };
            Ok(Some((datagram, SocketAddress::from_sockaddr(addr))))
        }
        Err(e) => {
            keep_spare_buffer(data);
            match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            }
        }
    }
}

/// The `Transport` items of a datagram transport whose server socket `wrap` makes into a
/// `DatagramSocket` (for `transport!`).
macro_rules! datagram_items {
    ($wrap:expr, unix: $unix:literal) => {
        type Request = DatagramRequest;
        type Listener = DatagramListener;
        type Incoming = Datagram;
        const STREAM: bool = false;

        fn bind(address: &SocketAddress, config: &ServerConfig) -> io::Result<DatagramListener> {
            bind(address, config, $wrap)
        }

        fn adopt(socket: std::os::fd::OwnedFd) -> io::Result<DatagramListener> {
            adopt(socket, $unix, $wrap)
        }

        fn local_address(listener: &DatagramListener) -> io::Result<SocketAddress> {
            let addr = SockRef::from(&*listener.socket).local_addr()?;
            Ok(SocketAddress::from_sockaddr(addr))
        }

        fn set_blocking(listener: &DatagramListener, blocking: bool) -> io::Result<()> {
            listener.blocking.store(blocking, Ordering::Relaxed);
            Ok(())
        }

        fn accept(
            listener: &DatagramListener,
            config: &ServerConfig,
        ) -> io::Result<Option<(Datagram, SocketAddress)>> {
            receive(listener, config)
        }

        fn prepare_child(incoming: &mut Datagram, _config: &ServerConfig) {
            // The datagram's buffer comes from this thread already; the reply's is taken
            // here, so that the child takes no thread-local.
            incoming.reply = Some(Spare(take_reply_for_child(), keep_spare_reply));
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn open_request(
            incoming: Datagram,
            client_address: SocketAddress,
            server: ServerHandle,
            config: &ServerConfig,
        ) -> io::Result<DatagramRequest> {
            // Moved, not cloned: in a forked child, a clone and a drop would write to
            // the socket's count, a page shared with the parent.
            let Datagram {
                data,
                reply,
                truncated,
                socket,
            } = incoming;
            Ok(DatagramRequest::new(
                data.into_inner(),
                reply.map(Spare::into_inner),
                truncated,
                socket,
                client_address,
                server,
                config.send_empty_reply,
            ))
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn connection(_request: &DatagramRequest) -> Option<std::os::fd::RawFd> {
            None
        }

        #[allow(unsafe_code)]
        #[link_section = "socketserver_request"]
        fn close_request(request: &mut DatagramRequest) -> io::Result<()> {
            request.close()
        }

        fn stop_listening(listener: &DatagramListener) {
            // The socket stays open for the replies of requests in flight.
            listener.socket_file.remove();
        }

        fn reject(_incoming: Datagram) {}
    };
}

transport!(
    /// UDP over IPv4 or IPv6 (Python's `UDPServer`); handlers take `&mut DatagramRequest`.
    Udp binds [std::net::ToSocketAddrs, std::fmt::Debug] by resolve_inet,
    datagram_items!(|s| DatagramSocket::Udp(std::net::UdpSocket::from(s)), unix: false)
);

transport!(
    /// Unix-domain datagram sockets (Python's `UnixDatagramServer`); binds to a path and
    /// removes the socket file it created on close. Handlers take `&mut DatagramRequest`.
    UnixDatagram binds [AsRef<std::path::Path>] by resolve_unix,
    datagram_items!(|s| DatagramSocket::Unix(unix_net::UnixDatagram::from(s)), unix: true)
);
