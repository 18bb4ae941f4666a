//! Addresses: what a server is bound to and where a request came from.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use socket2::SockAddr;

/// The address of a server or of a client: an internet address or a unix socket address.
///
/// This is Python's `server_address` / `client_address`, as one type for every transport.
///
/// ```
/// use socketserver::SocketAddress;
///
/// let addr = SocketAddress::from("127.0.0.1:80".parse::<std::net::SocketAddr>().unwrap());
/// assert_eq!(addr.to_string(), "127.0.0.1:80");
/// assert_eq!(addr.port(), Some(80));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SocketAddress {
    /// An IPv4 or IPv6 address and port (TCP and UDP).
    Inet(SocketAddr),
    /// A unix-domain socket address (a path, unnamed, or Linux's abstract namespace).
    Unix(UnixAddress),
}

impl SocketAddress {
    /// The internet address, for TCP and UDP.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            SocketAddress::Inet(addr) => Some(*addr),
            SocketAddress::Unix(_) => None,
        }
    }

    /// The port, for TCP and UDP: `server.server_address().port()` is the port a server
    /// bound to port 0 got.
    pub fn port(&self) -> Option<u16> {
        self.as_inet().map(|addr| addr.port())
    }

    /// The unix socket address, for the unix transports.
    pub fn as_unix(&self) -> Option<&UnixAddress> {
        match self {
            SocketAddress::Inet(_) => None,
            SocketAddress::Unix(addr) => Some(addr),
        }
    }

    pub(crate) fn from_sockaddr(addr: SockAddr) -> SocketAddress {
        match addr.as_socket() {
            Some(inet) => SocketAddress::Inet(inet),
            None => SocketAddress::Unix(UnixAddress(addr)),
        }
    }

    /// A unix socket address from a name's bytes as a PROXY v2 header carries them: a path,
    /// or an abstract name after a NUL byte; `None` when empty or too long.
    pub(crate) fn unix_from_bytes(name: &[u8]) -> Option<SocketAddress> {
        use std::os::unix::ffi::OsStrExt;
        if name.is_empty() {
            return None;
        }
        let path = Path::new(std::ffi::OsStr::from_bytes(name));
        let addr = SockAddr::unix(path).ok()?;
        Some(SocketAddress::Unix(UnixAddress(addr)))
    }

    pub(crate) fn to_sockaddr(&self) -> SockAddr {
        match self {
            SocketAddress::Inet(addr) => SockAddr::from(*addr),
            SocketAddress::Unix(addr) => addr.0.clone(),
        }
    }

    /// Calls `f` with the address as the kernel takes it (`sendto`'s): what `to_sockaddr`
    /// gives, made by the request's code without a copy of a whole `sockaddr_storage`
    /// (in a forked child, socket2's conversions are a window of code of their own).
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn with_raw<R>(
        &self,
        f: impl FnOnce(*const libc::sockaddr, libc::socklen_t) -> R,
    ) -> R {
        fn raw<A>(addr: &A) -> (*const libc::sockaddr, libc::socklen_t) {
            let ptr: *const A = addr;
            (ptr.cast(), std::mem::size_of::<A>() as libc::socklen_t)
        }
        match self {
            SocketAddress::Inet(SocketAddr::V4(v4)) => {
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                let (ptr, len) = raw(&addr);
                f(ptr, len)
            }
            SocketAddress::Inet(SocketAddr::V6(v6)) => {
                let addr = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                let (ptr, len) = raw(&addr);
                f(ptr, len)
            }
            SocketAddress::Unix(addr) => f(addr.0.as_ptr().cast(), addr.0.len()),
        }
    }
}

impl From<SocketAddr> for SocketAddress {
    fn from(addr: SocketAddr) -> Self {
        SocketAddress::Inet(addr)
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Inet(addr) => addr.fmt(f),
            SocketAddress::Unix(addr) => addr.fmt(f),
        }
    }
}

impl fmt::Debug for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A unix-domain socket address: a filesystem path, an unnamed socket, or (Linux) a name in
/// the abstract namespace.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixAddress(SockAddr);

impl UnixAddress {
    /// The filesystem path, when the socket is bound to one.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.0.as_pathname()
    }

    /// True for a socket bound to no name (a client that never called `bind`).
    pub fn is_unnamed(&self) -> bool {
        self.0.is_unnamed()
    }
}

impl fmt::Display for UnixAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.as_pathname() {
            path.display().fmt(f)
        } else if let Some(name) = self.0.as_abstract_namespace() {
            write!(f, "@{}", String::from_utf8_lossy(name))
        } else {
            f.write_str("(unnamed)")
        }
    }
}

impl fmt::Debug for UnixAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Resolves what a user passed to `bind` for an internet transport, in the order to try. The
/// error names the address.
pub(crate) fn resolve_inet<A: ToSocketAddrs + fmt::Debug + ?Sized>(
    addr: &A,
) -> io::Result<Vec<SocketAddress>> {
    let resolved = addr.to_socket_addrs().map_err(|e| {
        let written = format!("{addr:?}");
        let host = written.trim_matches('"');
        // An address without a port (`::1`, `localhost`) fails to resolve with the
        // resolver's words ("failed to lookup address information"): say what is missing.
        if host.parse::<std::net::IpAddr>().is_ok() || !host.contains(':') {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot bind {written}: missing port (write host:port, [::1]:port for IPv6)"
                ),
            )
        } else {
            io::Error::new(e.kind(), format!("cannot resolve {written}: {e}"))
        }
    })?;
    let addrs: Vec<SocketAddress> = resolved.map(SocketAddress::Inet).collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} resolved to no address"),
        ));
    }
    Ok(addrs)
}

/// Turns a socket file path into the one address a unix transport binds to.
pub(crate) fn resolve_unix<P: AsRef<Path> + ?Sized>(path: &P) -> io::Result<Vec<SocketAddress>> {
    let path = path.as_ref();
    let addr = SockAddr::unix(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("bad unix socket path {}: {e}", path.display()),
        )
    })?;
    Ok(vec![SocketAddress::Unix(UnixAddress(addr))])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `with_raw` passes to the kernel.
    fn raw_bytes(address: &SocketAddress) -> Vec<u8> {
        address.with_raw(|ptr, len| {
            // SAFETY: `with_raw` passes an address of `len` bytes, alive during the call.
            #[allow(unsafe_code)]
            unsafe {
                std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize).to_vec()
            }
        })
    }

    #[test]
    fn the_raw_address_is_the_one_socket2_makes() {
        let unix = SockAddr::unix("/tmp/socketserver-raw.sock").unwrap();
        for address in [
            SocketAddress::Inet("192.0.2.7:5353".parse().unwrap()),
            SocketAddress::Inet("[2001:db8::1%3]:443".parse().unwrap()),
            SocketAddress::Inet(SocketAddr::V6(std::net::SocketAddrV6::new(
                "fe80::1".parse().unwrap(),
                9,
                0x12345,
                2,
            ))),
            SocketAddress::Unix(UnixAddress(unix)),
        ] {
            let made = address.to_sockaddr();
            // SAFETY: a `SockAddr` holds `len()` bytes of address.
            #[allow(unsafe_code)]
            let expected = unsafe {
                std::slice::from_raw_parts(made.as_ptr().cast::<u8>(), made.len() as usize)
            };
            assert_eq!(raw_bytes(&address), expected, "{address}");
        }
    }
}
