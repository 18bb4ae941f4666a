//! Which peers may send a PROXY protocol header: networks (CIDR) and unix-socket peers.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::address::SocketAddress;

/// A peer trusted to speak for its clients with a PROXY protocol header
/// ([`ServerConfig::trusted_proxies`](crate::ServerConfig::trusted_proxies)): a network, or
/// every unix-socket peer.
///
/// Parsed from `"10.0.0.0/8"`, `"2001:db8::/32"`, a single address (`"127.0.0.1"`, a whole
/// /32 or /128), or `"unix"`. An IPv4 peer reaching a dual-stack socket as `::ffff:a.b.c.d`
/// matches the IPv4 networks.
///
/// ```
/// use socketserver::proxy::TrustedProxy;
/// use socketserver::SocketAddress;
///
/// let lan: TrustedProxy = "10.0.0.0/8".parse()?;
/// let peer = SocketAddress::from("10.1.2.3:4000".parse::<std::net::SocketAddr>()?);
/// assert!(lan.contains(&peer));
/// assert_eq!(lan.to_string(), "10.0.0.0/8");
/// assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrustedProxy {
    /// The addresses whose first `prefix` bits are those of `network`.
    Network {
        /// The network's address (bits past the prefix are ignored).
        network: IpAddr,
        /// The prefix length: up to 32 for IPv4, 128 for IPv6.
        prefix: u8,
    },
    /// Every peer of a unix stream socket.
    Unix,
}

impl TrustedProxy {
    /// Whether `peer` (a connection's own peer address) is trusted.
    pub fn contains(&self, peer: &SocketAddress) -> bool {
        match (self, peer) {
            (TrustedProxy::Unix, SocketAddress::Unix(_)) => true,
            (TrustedProxy::Network { network, prefix }, SocketAddress::Inet(peer)) => {
                in_network(canonical(peer.ip()), *network, *prefix)
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (ip, network, bits) = match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => (u32::from(ip) as u128, u32::from(net) as u128, 32),
        (IpAddr::V6(ip), IpAddr::V6(net)) => (u128::from(ip), u128::from(net), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
    (ip ^ network) & mask == 0
}

/// Why a trusted proxy could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxyError(String);

impl fmt::Display for TrustedProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrustedProxyError {}

impl FromStr for TrustedProxy {
    type Err = TrustedProxyError;

    fn from_str(s: &str) -> Result<TrustedProxy, TrustedProxyError> {
        if s == "unix" {
            return Ok(TrustedProxy::Unix);
        }
        let invalid = || {
            TrustedProxyError(format!(
                "invalid trusted proxy `{s}`: expected a network (`10.0.0.0/8`, `::1/128`), an address, or `unix`"
            ))
        };
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= bits).ok_or_else(|| {
                    TrustedProxyError(format!(
                        "invalid trusted proxy `{s}`: the prefix length is at most {bits}"
                    ))
                })?
            }
            Some(_) => return Err(invalid()),
        };
        Ok(TrustedProxy::Network { network, prefix })
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustedProxy::Unix => f.write_str("unix"),
            TrustedProxy::Network { network, prefix } => write!(f, "{network}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(s: &str) -> SocketAddress {
        SocketAddress::Inet(s.parse().unwrap())
    }

    #[test]
    fn networks_contain_their_addresses_and_no_others() {
        let lan: TrustedProxy = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains(&inet("10.255.0.1:1")));
        assert!(!lan.contains(&inet("11.0.0.1:1")));
        assert!(lan.contains(&inet("[::ffff:10.0.0.9]:1")), "IPv4-mapped");
        assert!(!lan.contains(&inet("[::1]:1")));
        let one: TrustedProxy = "::1".parse().unwrap();
        assert!(one.contains(&inet("[::1]:80")) && !one.contains(&inet("[::2]:80")));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(&inet("1.2.3.4:5")) && !all.contains(&inet("[::1]:5")));
        let odd: TrustedProxy = "192.168.1.128/25".parse().unwrap();
        assert!(odd.contains(&inet("192.168.1.200:1")));
        assert!(!odd.contains(&inet("192.168.1.127:1")));
    }

    #[test]
    fn unix_trusts_unix_peers_only() {
        let unix: TrustedProxy = "unix".parse().unwrap();
        assert!(!unix.contains(&inet("127.0.0.1:1")));
        let lo: TrustedProxy = "127.0.0.0/8".parse().unwrap();
        assert_ne!(unix, lo);
    }

    #[test]
    fn bad_networks_are_refused_with_the_text() {
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "1.2.3.4/+1",
        ] {
            let e = bad.parse::<TrustedProxy>().unwrap_err();
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
        for good in ["10.0.0.0/8", "::1/128", "unix", "127.0.0.1/32"] {
            assert_eq!(good.parse::<TrustedProxy>().unwrap().to_string(), good);
        }
    }
}
