//! Python's twelve concrete server classes, as type aliases.

use crate::mixin::{Forking, Pool, Serial, Threading};
use crate::server::Server;
use crate::transport::{Tcp, Udp, UnixDatagram, UnixStream};

/// Python's `TCPServer`: TCP, one request at a time.
pub type TcpServer<H> = Server<Tcp, Serial, H>;
/// Python's `UDPServer`: UDP, one datagram at a time.
pub type UdpServer<H> = Server<Udp, Serial, H>;
/// Python's `UnixStreamServer`.
pub type UnixStreamServer<H> = Server<UnixStream, Serial, H>;
/// Python's `UnixDatagramServer`.
pub type UnixDatagramServer<H> = Server<UnixDatagram, Serial, H>;
/// Python's `ThreadingTCPServer`: a thread per connection.
pub type ThreadingTcpServer<H> = Server<Tcp, Threading, H>;
/// Python's `ThreadingUDPServer`: a thread per datagram.
pub type ThreadingUdpServer<H> = Server<Udp, Threading, H>;
/// Python's `ThreadingUnixStreamServer`.
pub type ThreadingUnixStreamServer<H> = Server<UnixStream, Threading, H>;
/// Python's `ThreadingUnixDatagramServer`.
pub type ThreadingUnixDatagramServer<H> = Server<UnixDatagram, Threading, H>;
/// Python's `ForkingTCPServer`: a child process per connection.
pub type ForkingTcpServer<H> = Server<Tcp, Forking, H>;
/// Python's `ForkingUDPServer`: a child process per datagram.
pub type ForkingUdpServer<H> = Server<Udp, Forking, H>;
/// Python's `ForkingUnixStreamServer`.
pub type ForkingUnixStreamServer<H> = Server<UnixStream, Forking, H>;
/// Python's `ForkingUnixDatagramServer`.
pub type ForkingUnixDatagramServer<H> = Server<UnixDatagram, Forking, H>;
/// TCP served by a bounded pool of worker threads (no Python counterpart).
pub type PoolTcpServer<H> = Server<Tcp, Pool, H>;
/// UDP served by a bounded pool of worker threads (no Python counterpart).
pub type PoolUdpServer<H> = Server<Udp, Pool, H>;
