//! Creating a bound socket with the server's options, and the unix socket file it owns.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::address::SocketAddress;
use crate::config::ServerConfig;

/// Creates a socket of `ty` bound to `address` with `config`'s options; listening when it is
/// a stream socket. The error names the address. On error nothing stays open.
pub(super) fn bind(
    address: &SocketAddress,
    ty: Type,
    config: &ServerConfig,
) -> io::Result<(Socket, Option<SocketFile>)> {
    bind_socket(address, ty, config)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {address}: {e}")))
}

fn bind_socket(
    address: &SocketAddress,
    ty: Type,
    config: &ServerConfig,
) -> io::Result<(Socket, Option<SocketFile>)> {
    let addr = address.to_sockaddr();
    if config.workers > 0 && config.workers_reuse_port && addr.domain() == Domain::UNIX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "workers_reuse_port is for TCP, not unix sockets",
        ));
    }
    let socket = Socket::new(addr.domain(), ty, None)?;
    if addr.domain() != Domain::UNIX {
        socket.set_reuse_address(config.allow_reuse_address)?;
        if config.allow_reuse_port || (config.workers > 0 && config.workers_reuse_port) {
            socket.set_reuse_port(true)?;
        }
        if addr.domain() == Domain::IPV6 {
            socket.set_only_v6(!config.dual_stack)?;
        }
    }
    let socket_file = match addr.as_pathname() {
        Some(path) => {
            bind_unix(&socket, &addr, path, ty, config.replace_stale_socket)?;
            Some(SocketFile::new(path)?)
        }
        None => {
            socket.bind(&addr)?;
            None
        }
    };
    if ty == Type::STREAM {
        listen(&socket, addr.domain() != Domain::UNIX, config)?;
    }
    Ok((socket, socket_file))
}

/// Has bound stream socket `socket` listen, with `config`'s backlog and, on an internet
/// socket (`inet`), its `defer_accept`.
fn listen(socket: &Socket, inet: bool, config: &ServerConfig) -> io::Result<()> {
    if let (Some(defer), true) = (config.defer_accept, inet) {
        crate::sys::set_defer_accept(socket, defer)?;
    }
    socket.listen(config.request_queue_size.min(i32::MAX as u32) as i32)
}

/// A new TCP listening socket bound to `listener`'s address with `SO_REUSEPORT`, as
/// `listener` was (`workers_reuse_port`): `config`'s options at bind time, and the
/// listener's `IPV6_V6ONLY`. An error says why it cannot be.
pub(super) fn reuse_port_twin(listener: &Socket, config: &ServerConfig) -> io::Result<Socket> {
    let local = listener.local_addr()?;
    let refuse = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_owned());
    if local.as_socket().is_none() {
        return Err(refuse("workers_reuse_port is for TCP, not unix sockets"));
    }
    if !listener.reuse_port()? {
        return Err(refuse(
            "workers_reuse_port needs SO_REUSEPORT on the listening socket (a socket from \
             a service manager: ReusePort=yes)",
        ));
    }
    let twin = Socket::new(local.domain(), Type::STREAM, None)?;
    twin.set_reuse_address(config.allow_reuse_address)?;
    twin.set_reuse_port(true)?;
    if local.domain() == Domain::IPV6 {
        twin.set_only_v6(listener.only_v6()?)?;
    }
    twin.bind(&local)?;
    listen(&twin, true, config)?;
    twin.set_cloexec(true)?;
    Ok(twin)
}

/// Takes over a socket the program already holds (`fd`: a listener it bound itself, one
/// inherited from a service manager or a predecessor), checked to be what a transport
/// serves: of type `ty` (and listening, for streams), unix or internet as `unix` says. The
/// error says what the socket is instead. Left as it was bound: no option of `config` that
/// applies at bind time (reuse, backlog, `IPV6_V6ONLY`) is set again.
pub(super) fn adopt(fd: std::os::fd::OwnedFd, ty: Type, unix: bool) -> io::Result<Socket> {
    let socket = Socket::from(fd);
    let wanted = describe(ty, unix, ty == Type::STREAM);
    let found_ty = socket.r#type()?;
    let local = socket.local_addr()?;
    let found_unix = local.domain() == Domain::UNIX;
    let wrong = |found: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the socket given is {found}, not {wanted}"),
        )
    };
    let listening = found_ty == Type::STREAM && socket.is_listener()?;
    if found_ty != ty || found_unix != unix {
        return Err(wrong(describe(found_ty, found_unix, listening)));
    }
    if ty == Type::STREAM && !listening {
        return Err(wrong(format!(
            "{} that does not listen",
            describe(ty, unix, false)
        )));
    }
    socket.set_cloexec(true)?;
    Ok(socket)
}

/// "a TCP listening socket", "a unix datagram socket", ...
fn describe(ty: Type, unix: bool, listening: bool) -> String {
    let kind = match (ty, unix) {
        (Type::STREAM, false) => "TCP",
        (Type::DGRAM, false) => "UDP",
        (Type::STREAM, true) => "unix stream",
        (Type::DGRAM, true) => "unix datagram",
        _ => "unusual",
    };
    match listening {
        true => format!("a {kind} listening socket"),
        false => format!("a {kind} socket"),
    }
}

/// Binds a unix socket to `path`. A socket file left by a server that is gone is replaced
/// only when `replace_stale` says so; a file a live server listens on is never touched.
fn bind_unix(
    socket: &Socket,
    addr: &SockAddr,
    path: &Path,
    ty: Type,
    replace_stale: bool,
) -> io::Result<()> {
    match socket.bind(addr) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
        result => return result,
    }
    let is_socket = fs::symlink_metadata(path)?.file_type().is_socket();
    if !is_socket {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "the path exists and is not a socket",
        ));
    }
    let probe = Socket::new(Domain::UNIX, ty, None)?;
    match probe.connect(addr) {
        Ok(()) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another server is listening on this socket file",
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && replace_stale => {
            fs::remove_file(path)?;
            socket.bind(addr)
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a stale socket file is in the way (no server listens on it): remove it, or set replace_stale_socket",
        )),
        Err(e) => Err(e),
    }
}

/// The socket file a unix server created, if any; removed when the server stops listening
/// or closes, unless something else has since replaced it at that path.
#[derive(Debug, Default)]
pub struct OwnedSocketFile(std::sync::Mutex<Option<SocketFile>>);

impl OwnedSocketFile {
    pub(super) fn new(file: Option<SocketFile>) -> OwnedSocketFile {
        OwnedSocketFile(std::sync::Mutex::new(file))
    }

    /// Removes the file now (if it is still ours).
    pub(super) fn remove(&self) {
        drop(crate::lock::lock(&self.0).take());
    }

    /// Takes the file at `path` (the socket's own) as this server's to remove.
    pub(super) fn own(&self, path: &Path) -> io::Result<()> {
        *crate::lock::lock(&self.0) = Some(SocketFile::new(path)?);
        Ok(())
    }

    /// Leaves the file to whoever else serves it (a pre-forked worker's master): never
    /// removed by this process.
    pub(super) fn disown(&self) {
        std::mem::forget(crate::lock::lock(&self.0).take());
    }
}

/// A socket file a unix server created; removed on drop, unless something else has since
/// replaced it at that path.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn new(path: &Path) -> io::Result<SocketFile> {
        let meta = fs::symlink_metadata(path)?;
        // Absolute, so that a later change of directory does not make us remove another file.
        let path = std::env::current_dir()?.join(path);
        Ok(SocketFile {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}
