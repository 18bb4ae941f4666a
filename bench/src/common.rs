//! What every binary of the suite shares: transports, addresses, scenarios, statistics.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// The four transports a server can be benchmarked over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP on 127.0.0.1.
    Tcp,
    /// Unix-domain stream sockets.
    Unix,
    /// UDP on 127.0.0.1.
    Udp,
    /// Unix-domain datagram sockets.
    UnixDgram,
}

impl Transport {
    /// Every transport, streams first.
    pub const ALL: [Transport; 4] = [
        Transport::Tcp,
        Transport::Unix,
        Transport::Udp,
        Transport::UnixDgram,
    ];

    /// The name used on command lines and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
            Transport::Udp => "udp",
            Transport::UnixDgram => "unix-dgram",
        }
    }

    /// The name `examples/echo --transport` takes.
    pub fn example_name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix-stream",
            Transport::Udp => "udp",
            Transport::UnixDgram => "unix-datagram",
        }
    }

    /// True for the stream transports (TCP, unix stream).
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Unix)
    }

    /// True for the unix-domain transports (bound to a path).
    pub fn is_unix(self) -> bool {
        matches!(self, Transport::Unix | Transport::UnixDgram)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown transport `{s}` (tcp, unix, udp, unix-dgram)"))
    }
}

/// Where a server listens: an internet address or a unix socket path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// An internet address and port.
    Inet(SocketAddr),
    /// A unix socket file.
    Unix(PathBuf),
}

impl Addr {
    /// Parses what a server prints after `listening on `: a path if it starts with `/`.
    pub fn parse(s: &str) -> Result<Addr, String> {
        let s = s.trim();
        if s.starts_with('/') {
            Ok(Addr::Unix(PathBuf::from(s)))
        } else {
            s.parse()
                .map(Addr::Inet)
                .map_err(|e| format!("bad address `{s}`: {e}"))
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => a.fmt(f),
            Addr::Unix(p) => p.display().fmt(f),
        }
    }
}

/// The load a client generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// N open connections, each sending an S-byte message and reading its echo in turn.
    PingPong,
    /// Connect, send S bytes, read the echo, close; again.
    Churn,
    /// One datagram out, its echo back.
    Datagram,
    /// Bulk bytes both ways on one connection (a writer and a reader thread).
    Stream,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 4] = [
        Scenario::PingPong,
        Scenario::Churn,
        Scenario::Datagram,
        Scenario::Stream,
    ];

    /// The name used on command lines and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PingPong => "pingpong",
            Scenario::Churn => "churn",
            Scenario::Datagram => "datagram",
            Scenario::Stream => "stream",
        }
    }

    /// What one operation is, plural.
    pub fn unit(self) -> &'static str {
        match self {
            Scenario::PingPong => "round trips",
            Scenario::Churn => "connections",
            Scenario::Datagram => "datagrams",
            Scenario::Stream => "chunks",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown scenario `{s}` (pingpong, churn, datagram, stream)"))
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` when
/// empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// The `p`-th percentile (0..=100, nearest rank) of sorted `values`.
pub fn percentile_sorted<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[path = "../../examples/common/flags.rs"]
mod flags;

pub use flags::Flags;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile_sorted(&v, 50.0), Some(50));
        assert_eq!(percentile_sorted(&v, 99.0), Some(99));
        assert_eq!(percentile_sorted(&v, 100.0), Some(100));
    }

    #[test]
    fn flags() {
        let f = Flags::parse(["--a", "1", "--quick", "--b", "x"].map(String::from)).unwrap();
        assert_eq!(f.value("a"), Some("1"));
        assert!(f.has("quick"));
        assert_eq!(f.value("quick"), None);
        assert_eq!(f.get("a", 0u32), Ok(1));
        assert!(f.check(&["a", "b"]).is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            Addr::parse("/tmp/x.sock"),
            Ok(Addr::Unix("/tmp/x.sock".into()))
        );
        assert!(matches!(Addr::parse("127.0.0.1:80"), Ok(Addr::Inet(_))));
    }
}
