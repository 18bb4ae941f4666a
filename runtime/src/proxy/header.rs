//! PROXY protocol headers (HAProxy's `doc/proxy-protocol.txt`, versions 1 and 2): parsing the
//! header a load balancer sends before the client's bytes, and encoding one, for proxies and
//! tests.
//!
//! [`ProxyHeader::parse`] is meant for a buffer that grows as bytes arrive: it answers
//! "complete, this long", "valid so far, read more" or "invalid", rejecting a bad header as soon
//! as its bytes show it, and it never looks past the header's end, so the bytes after it stay
//! for the handler. The parser is strict where the specification is strict and never panics.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Longest v1 header, CRLF included.
pub const V1_MAX_LEN: usize = 107;

/// Longest v2 header this parser accepts: the 16-byte fixed part plus at most this many bytes
/// after it (the value of the header's length field).
pub const V2_MAX_PAYLOAD: usize = 4096;

/// Shortest v1 header: `PROXY UNKNOWN\r\n`.
const V1_MIN_LEN: usize = 15;
/// What every v1 header starts with (followed by exactly one space).
const V1_SIGNATURE: &[u8] = b"PROXY";
/// What every v2 header starts with.
const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// Signature, version/command, family/protocol, length.
const V2_FIXED_LEN: usize = 16;
/// Size of each of the two path fields of a v2 AF_UNIX address block.
const UNIX_PATH_LEN: usize = 108;
/// Longest UNIQUE_ID TLV value the specification allows.
const UNIQUE_ID_MAX: usize = 128;
/// Longest textual IPv6 address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
const IPV6_TEXT_MAX: usize = 45;

/// The version of the PROXY protocol a header is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The human-readable text line (`PROXY TCP4 ...\r\n`).
    V1,
    /// The binary format starting with the 12-byte signature.
    V2,
}

/// The original connection's endpoints, as the proxy reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxiedAddresses {
    /// LOCAL (v2) or UNKNOWN (v1) or UNSPEC family: use the connection's real endpoints.
    ///
    /// Also what a v2 PROXY header gives for a transport this stream-only parser does not
    /// take addresses from (DGRAM or UNSPEC protocol), as the specification lets a receiver
    /// fall back to; the address bytes are still checked for length and skipped.
    Unspecified,
    /// TCP over IPv4 or IPv6: both addresses are of the same family (v1 `TCP4`/`TCP6`, v2
    /// `\x11`/`\x21`). Parsed IPv6 addresses have a zero flow info and scope id.
    Inet {
        /// The client, as the proxy saw it.
        source: SocketAddr,
        /// The address the client connected to, on the proxy.
        destination: SocketAddr,
    },
    /// v2 AF_UNIX stream sockets (`\x31`), each path as the bytes of its 108-byte field:
    ///
    /// * a path name (first byte not NUL) is the bytes up to the first NUL, or all 108;
    /// * an abstract name (first byte NUL) keeps that leading NUL and runs to the next NUL;
    /// * an unnamed socket (the field starts with two NULs, e.g. all zeros) is empty.
    ///
    /// So an abstract name that itself holds a NUL, or ends in NULs, is cut there: the
    /// 108-byte field cannot tell its real length. [`ProxyHeader::to_bytes`] rejects a path
    /// that would not read back the same.
    Unix {
        /// The client's socket address.
        source: Vec<u8>,
        /// The socket the client connected to.
        destination: Vec<u8>,
    },
}

/// A v2 type-length-value extension, with its value as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tlv {
    /// The type byte, e.g. [`Tlv::ALPN`].
    pub kind: u8,
    /// The value bytes (at most 65535).
    pub value: Vec<u8>,
}

impl Tlv {
    /// `PP2_TYPE_ALPN`: the application protocol negotiated with the client, e.g. `h2`.
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: a CRC32c of the whole header, 4 bytes big-endian.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of at most 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: TLS details of the client connection (a client byte, a verify word,
    /// then sub-TLVs), kept raw.
    pub const SSL: u8 = 0x20;
    /// `PP2_TYPE_NETNS`: the name of the network namespace the connection came from.
    pub const NETNS: u8 = 0x30;

    /// A TLV of `kind` holding `value`.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Tlv {
        Tlv {
            kind,
            value: value.into(),
        }
    }
}

/// A PROXY protocol header, v1 or v2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The version the header was (or is to be) written in.
    pub version: Version,
    /// True for v2 LOCAL (a proxy's own connection, e.g. a health check) and v1 UNKNOWN: the
    /// receiver uses the connection's real endpoints. A parsed local header's `addresses` are
    /// always [`ProxiedAddresses::Unspecified`].
    pub local: bool,
    /// The original connection's endpoints.
    pub addresses: ProxiedAddresses,
    /// v2 TLVs in order, NOOP ones left out; CRC32C kept (already verified). Always empty
    /// for v1.
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// Parses a header at the start of `buf`.
    ///
    /// * `Ok(Some((header, len)))`: a complete valid header of `len` bytes; the bytes after
    ///   it are not looked at.
    /// * `Ok(None)`: what `buf` holds is a valid beginning of a header: read more and call
    ///   again (with the bytes read so far and the new ones).
    /// * `Err`: not a valid header, decided as early as the bytes show it: a first byte that
    ///   starts neither signature, a v1 line past 107 bytes without CRLF or with a malformed
    ///   field, a bad v2 version, command, family or protocol, a v2 length over
    ///   [`V2_MAX_PAYLOAD`] or shorter than the address block, malformed TLVs, a CRC32C
    ///   mismatch.
    ///
    /// v1 must be exactly `PROXY TCP4|TCP6 src dst sport dport\r\n` (single spaces, IPv4
    /// dotted quads without leading zeros for TCP4, IPv6 for TCP6, decimal ports 0-65535
    /// without sign or leading zeros), or `PROXY UNKNOWN` followed by anything (ignored) up
    /// to the CRLF; a lone CR or LF is an error. v2 TLVs must fill the length exactly; a
    /// UNIQUE_ID is at most 128 bytes; at most one CRC32C, of 4 bytes, which must match.
    /// TLVs are parsed, and a CRC32C checked, for LOCAL headers too.
    pub fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, HeaderError> {
        match buf.first() {
            None => Ok(None),
            Some(&b) if b == V1_SIGNATURE[0] => parse_v1(buf),
            Some(&b) if b == V2_SIGNATURE[0] => parse_v2(buf),
            Some(_) => Err(ErrorKind::NotProxy.into()),
        }
    }

    /// How many more bytes the header starting in `buf` has at least, for a caller sizing its
    /// next read: 0 when [`parse`](Self::parse) already decides (a header or an error),
    /// otherwise at least 1, and reading exactly that many never reads past the end of a
    /// valid header. Exact for v2 once the 16-byte fixed part is in; for v1 it is only the
    /// least that could finish the line (e.g. 1 after a CR).
    pub fn bytes_needed(buf: &[u8]) -> usize {
        if !matches!(Self::parse(buf), Ok(None)) {
            return 0;
        }
        match buf.first() {
            // Either version: the shortest v1 header is shorter than any v2 one.
            None => V1_MIN_LEN,
            Some(&b) if b == V1_SIGNATURE[0] => {
                let crlf = if buf.last() == Some(&b'\r') { 1 } else { 2 };
                V1_MIN_LEN.saturating_sub(buf.len()).max(crlf)
            }
            Some(_) => {
                let total = match (buf.get(14), buf.get(15)) {
                    (Some(&hi), Some(&lo)) => {
                        V2_FIXED_LEN + usize::from(u16::from_be_bytes([hi, lo]))
                    }
                    _ => V2_FIXED_LEN,
                };
                total.saturating_sub(buf.len()).max(1)
            }
        }
    }

    /// The value of the first TLV of type `kind`, if any.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|tlv| tlv.kind == kind)
            .map(|tlv| tlv.value.as_slice())
    }

    /// The ALPN TLV: the application protocol negotiated with the client, e.g. `b"h2"`.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(Tlv::ALPN)
    }

    /// The AUTHORITY TLV: the host name the client asked for; `None` if absent or not UTF-8.
    pub fn authority(&self) -> Option<&str> {
        std::str::from_utf8(self.tlv(Tlv::AUTHORITY)?).ok()
    }

    /// The UNIQUE_ID TLV: the proxy's opaque id for the connection.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(Tlv::UNIQUE_ID)
    }

    /// Encodes the header (v1 text or v2 binary per `version`), for proxies and tests.
    ///
    /// v1: `PROXY TCP4|TCP6 ...` from [`ProxiedAddresses::Inet`], or `PROXY UNKNOWN` when
    /// `local` (followed by the addresses, which a receiver ignores, if there are any). v2:
    /// command LOCAL or PROXY per `local`, family and addresses per `addresses` (written for
    /// LOCAL too), then the TLVs in order, NOOP ones included; a CRC32C TLV's stored value is
    /// ignored and replaced by the checksum of the encoded header.
    ///
    /// Errors rather than writing what [`parse`](Self::parse) would reject or read back
    /// differently: TLVs or unix addresses in v1, v1 non-local without addresses, source and
    /// destination of different families, a unix path over 108 bytes or holding a NUL (but
    /// for an abstract name's leading one), a TLV value over 65535 bytes, a UNIQUE_ID over
    /// 128, two CRC32C TLVs, a v2 length over [`V2_MAX_PAYLOAD`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, HeaderError> {
        match self.version {
            Version::V1 => self.v1_bytes(),
            Version::V2 => self.v2_bytes(),
        }
    }

    fn v1_bytes(&self) -> Result<Vec<u8>, HeaderError> {
        if !self.tlvs.is_empty() {
            return Err(ErrorKind::Encode("v1 cannot carry TLVs").into());
        }
        let line = match &self.addresses {
            ProxiedAddresses::Unix { .. } => {
                return Err(ErrorKind::Encode("v1 cannot carry unix addresses").into())
            }
            ProxiedAddresses::Unspecified if self.local => "PROXY UNKNOWN\r\n".to_string(),
            ProxiedAddresses::Unspecified => {
                return Err(ErrorKind::Encode("v1 PROXY (not local) needs addresses").into())
            }
            ProxiedAddresses::Inet {
                source,
                destination,
            } => {
                let protocol = match (source, destination) {
                    (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
                    (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
                    _ => return Err(ErrorKind::MixedFamilies.into()),
                };
                let protocol = if self.local { "UNKNOWN" } else { protocol };
                format!(
                    "PROXY {protocol} {} {} {} {}\r\n",
                    source.ip(),
                    destination.ip(),
                    source.port(),
                    destination.port()
                )
            }
        };
        Ok(line.into_bytes())
    }

    fn v2_bytes(&self) -> Result<Vec<u8>, HeaderError> {
        // The part after the fixed 16 bytes: addresses, then TLVs.
        let mut body = Vec::new();
        let family_protocol = match &self.addresses {
            ProxiedAddresses::Unspecified => 0x00,
            ProxiedAddresses::Inet {
                source: SocketAddr::V4(source),
                destination: SocketAddr::V4(destination),
            } => {
                body.extend_from_slice(&source.ip().octets());
                body.extend_from_slice(&destination.ip().octets());
                body.extend_from_slice(&source.port().to_be_bytes());
                body.extend_from_slice(&destination.port().to_be_bytes());
                0x11
            }
            ProxiedAddresses::Inet {
                source: SocketAddr::V6(source),
                destination: SocketAddr::V6(destination),
            } => {
                body.extend_from_slice(&source.ip().octets());
                body.extend_from_slice(&destination.ip().octets());
                body.extend_from_slice(&source.port().to_be_bytes());
                body.extend_from_slice(&destination.port().to_be_bytes());
                0x21
            }
            ProxiedAddresses::Inet { .. } => return Err(ErrorKind::MixedFamilies.into()),
            ProxiedAddresses::Unix {
                source,
                destination,
            } => {
                for path in [source, destination] {
                    check_unix_path(path)?;
                    body.extend_from_slice(path);
                    body.resize(body.len() + (UNIX_PATH_LEN - path.len()), 0);
                }
                0x31
            }
        };
        let mut crc_at = None;
        for tlv in &self.tlvs {
            let value: &[u8] = match tlv.kind {
                Tlv::CRC32C if crc_at.is_some() => {
                    return Err(ErrorKind::V2CrcDuplicate.into());
                }
                Tlv::CRC32C => {
                    crc_at = Some(V2_FIXED_LEN + body.len() + 3);
                    &[0; 4]
                }
                Tlv::UNIQUE_ID if tlv.value.len() > UNIQUE_ID_MAX => {
                    return Err(ErrorKind::V2UniqueIdTooLong(tlv.value.len()).into());
                }
                _ => &tlv.value,
            };
            let len =
                u16::try_from(value.len()).map_err(|_| ErrorKind::EncodeTlvTooLong(value.len()))?;
            body.push(tlv.kind);
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(value);
        }
        let len = match u16::try_from(body.len()) {
            Ok(len) if body.len() <= V2_MAX_PAYLOAD => len,
            _ => return Err(ErrorKind::V2TooLong(body.len()).into()),
        };
        let command = if self.local { 0x20 } else { 0x21 };
        let mut out = Vec::with_capacity(V2_FIXED_LEN + body.len());
        out.extend_from_slice(&V2_SIGNATURE);
        out.push(command);
        out.push(family_protocol);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        if let Some(at) = crc_at {
            // The field is still zero: the checksum covers the header as it is.
            let crc = crc32c(&[&out]);
            if let Some(field) = out.get_mut(at..at + 4) {
                field.copy_from_slice(&crc.to_be_bytes());
            }
        }
        Ok(out)
    }
}

/// Why a PROXY protocol header is invalid, or cannot be encoded.
///
/// Its [`Display`](fmt::Display) is one line naming what is wrong, e.g. "PROXY v1 header
/// longer than 107 bytes without CRLF". It converts into an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderError {
    kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ErrorKind {
    /// The first byte starts neither signature.
    NotProxy,
    /// Byte `offset` differs from `PROXY`.
    V1Signature(usize),
    V1TooLong,
    V1LoneLf,
    V1LoneCr,
    /// What is wrong with the line.
    V1(&'static str),
    V1Address {
        destination: bool,
        ipv6: bool,
    },
    V1Port {
        destination: bool,
    },
    /// Byte `offset` differs from the v2 signature.
    V2Signature(usize),
    V2Version(u8),
    V2Command(u8),
    V2Family(u8),
    V2Protocol(u8),
    V2TooLong(usize),
    V2TooShort {
        len: usize,
        family: &'static str,
        needed: usize,
    },
    /// The TLV starting at this offset of the header runs past its end.
    V2TlvTruncated(usize),
    V2UniqueIdTooLong(usize),
    V2CrcLength(usize),
    V2CrcDuplicate,
    V2CrcMismatch {
        sent: u32,
        computed: u32,
    },
    /// Encoding: what the header holds that its version cannot carry.
    Encode(&'static str),
    MixedFamilies,
    EncodeTlvTooLong(usize),
    EncodeUnixPathTooLong(usize),
    EncodeUnixPathNul,
}

impl From<ErrorKind> for HeaderError {
    fn from(kind: ErrorKind) -> HeaderError {
        HeaderError { kind }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |destination: bool| if destination { "destination" } else { "source" };
        match &self.kind {
            ErrorKind::NotProxy => f.write_str(
                "not a PROXY protocol header: the first byte starts neither the v1 nor the v2 signature",
            ),
            ErrorKind::V1Signature(offset) => write!(
                f,
                "not a PROXY protocol header: byte {offset} does not match \"PROXY\""
            ),
            ErrorKind::V1TooLong => write!(
                f,
                "PROXY v1 header longer than {V1_MAX_LEN} bytes without CRLF"
            ),
            ErrorKind::V1LoneLf => f.write_str("PROXY v1 header has a LF without a CR before it"),
            ErrorKind::V1LoneCr => f.write_str("PROXY v1 header has a CR without a LF after it"),
            ErrorKind::V1(what) => write!(f, "PROXY v1 header {what}"),
            ErrorKind::V1Address { destination, ipv6 } => write!(
                f,
                "PROXY v1 header's {} address is not a valid {} address",
                side(*destination),
                if *ipv6 { "IPv6" } else { "IPv4" }
            ),
            ErrorKind::V1Port { destination } => write!(
                f,
                "PROXY v1 header's {} port is not a decimal number from 0 to 65535 without leading zeros",
                side(*destination)
            ),
            ErrorKind::V2Signature(offset) => write!(
                f,
                "not a PROXY protocol header: byte {offset} does not match the v2 signature"
            ),
            ErrorKind::V2Version(version) => write!(
                f,
                "PROXY v2 header has version {version}, expected 2"
            ),
            ErrorKind::V2Command(command) => write!(
                f,
                "PROXY v2 header has unknown command {command:#x} (expected 0 LOCAL or 1 PROXY)"
            ),
            ErrorKind::V2Family(family) => write!(
                f,
                "PROXY v2 header has unknown address family {family:#x}"
            ),
            ErrorKind::V2Protocol(protocol) => write!(
                f,
                "PROXY v2 header has unknown transport protocol {protocol:#x}"
            ),
            ErrorKind::V2TooLong(len) => write!(
                f,
                "PROXY v2 header length {len} is over the limit of {V2_MAX_PAYLOAD}"
            ),
            ErrorKind::V2TooShort {
                len,
                family,
                needed,
            } => write!(
                f,
                "PROXY v2 header length {len} is shorter than the {needed}-byte {family} address block"
            ),
            ErrorKind::V2TlvTruncated(offset) => write!(
                f,
                "PROXY v2 header's TLV at byte {offset} runs past the header's end"
            ),
            ErrorKind::V2UniqueIdTooLong(len) => write!(
                f,
                "PROXY v2 UNIQUE_ID TLV is {len} bytes, over the limit of {UNIQUE_ID_MAX}"
            ),
            ErrorKind::V2CrcLength(len) => write!(
                f,
                "PROXY v2 CRC32C TLV is {len} bytes, expected 4"
            ),
            ErrorKind::V2CrcDuplicate => f.write_str("PROXY v2 header has more than one CRC32C TLV"),
            ErrorKind::V2CrcMismatch { sent, computed } => write!(
                f,
                "PROXY v2 header's CRC32C {sent:#010x} does not match its checksum {computed:#010x}"
            ),
            ErrorKind::Encode(what) => write!(f, "cannot encode PROXY header: {what}"),
            ErrorKind::MixedFamilies => f.write_str(
                "cannot encode PROXY header: source and destination are of different address families",
            ),
            ErrorKind::EncodeTlvTooLong(len) => write!(
                f,
                "cannot encode PROXY header: TLV value of {len} bytes is over 65535"
            ),
            ErrorKind::EncodeUnixPathTooLong(len) => write!(
                f,
                "cannot encode PROXY header: unix path of {len} bytes is over {UNIX_PATH_LEN}"
            ),
            ErrorKind::EncodeUnixPathNul => f.write_str(
                "cannot encode PROXY header: unix path holds a NUL byte (other than an abstract name's first)",
            ),
        }
    }
}

impl Error for HeaderError {}

impl From<HeaderError> for io::Error {
    fn from(err: HeaderError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// The first offset where `a` and `b` differ, comparing as many bytes as both have.
fn mismatch(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, HeaderError> {
    if let Some(offset) = mismatch(buf, V1_SIGNATURE) {
        return Err(ErrorKind::V1Signature(offset).into());
    }
    let window = buf.get(..V1_MAX_LEN).unwrap_or(buf);
    // Find the CRLF, stopping there: nothing after it is looked at.
    let mut line_end = None;
    for (i, &byte) in window.iter().enumerate() {
        match byte {
            b'\n' => return Err(ErrorKind::V1LoneLf.into()),
            b'\r' => match window.get(i + 1) {
                Some(b'\n') => {
                    line_end = Some(i);
                    break;
                }
                Some(_) => return Err(ErrorKind::V1LoneCr.into()),
                // The window's last byte: the LF may be next.
                None => {}
            },
            _ => {}
        }
    }
    match line_end {
        Some(end) => {
            let line = window.get(..end).unwrap_or_default();
            match v1_line(line, true)? {
                Some(header) => Ok(Some((header, end + 2))),
                None => Err(ErrorKind::V1("is missing fields").into()),
            }
        }
        None => {
            // A trailing CR ends the line's content: only its LF may follow.
            let (line, complete) = match window.strip_suffix(b"\r") {
                Some(line) => (line, true),
                None => (window, false),
            };
            v1_line(line, complete)?;
            if buf.len() >= V1_MAX_LEN {
                return Err(ErrorKind::V1TooLong.into());
            }
            Ok(None)
        }
    }
}

/// Checks a v1 line (without its CRLF, starting with as much of "PROXY" as it has). With
/// `complete`, the whole line is there: a header or an error. Without, the line's end is not
/// in yet: `Ok(None)` if it can still become a valid header, else an error.
fn v1_line(line: &[u8], complete: bool) -> Result<Option<ProxyHeader>, HeaderError> {
    let missing = |what: &'static str| {
        if complete {
            Err(HeaderError::from(ErrorKind::V1(what)))
        } else {
            Ok(None)
        }
    };
    let rest = match line.get(V1_SIGNATURE.len()..) {
        Some(rest) if !rest.is_empty() => rest,
        _ => return missing("is missing the protocol"),
    };
    let Some(rest) = rest.strip_prefix(b" ") else {
        return Err(ErrorKind::V1("needs a single space after \"PROXY\"").into());
    };
    let fields: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
    let protocol = fields.first().copied().unwrap_or_default();
    if !complete && fields.len() == 1 {
        // The protocol itself may be incomplete.
        let known = [&b"TCP4"[..], b"TCP6", b"UNKNOWN"];
        return if known.iter().any(|name| name.starts_with(protocol)) {
            Ok(None)
        } else {
            Err(ErrorKind::V1("protocol is not TCP4, TCP6 or UNKNOWN").into())
        };
    }
    let ipv6 = match protocol {
        // Anything may follow UNKNOWN before the CRLF; it is ignored.
        b"UNKNOWN" if complete => {
            return Ok(Some(ProxyHeader {
                version: Version::V1,
                local: true,
                addresses: ProxiedAddresses::Unspecified,
                tlvs: Vec::new(),
            }))
        }
        b"UNKNOWN" => return Ok(None),
        b"TCP4" => false,
        b"TCP6" => true,
        _ => return Err(ErrorKind::V1("protocol is not TCP4, TCP6 or UNKNOWN").into()),
    };
    if fields.len() > 5 {
        return Err(ErrorKind::V1("has more than 4 fields after the protocol").into());
    }
    let mut ips = [None, None];
    let mut ports = [None, None];
    let last = fields.len().saturating_sub(1);
    for (index, &field) in fields.iter().enumerate().skip(1) {
        let partial = !complete && index == last;
        if field.is_empty() {
            if partial {
                break;
            }
            return Err(ErrorKind::V1(
                "has an empty field (two spaces in a row, or a space at the end)",
            )
            .into());
        }
        match index {
            1 | 2 => {
                let destination = index == 2;
                let bad = ErrorKind::V1Address { destination, ipv6 };
                if partial {
                    let ok = if ipv6 {
                        ipv6_prefix_ok(field)
                    } else {
                        ipv4_prefix_ok(field)
                    };
                    if !ok {
                        return Err(bad.into());
                    }
                } else {
                    let ip = if ipv6 {
                        parse_ipv6(field).map(std::net::IpAddr::V6)
                    } else {
                        parse_ipv4(field).map(std::net::IpAddr::V4)
                    };
                    let slot = if destination {
                        &mut ips[1]
                    } else {
                        &mut ips[0]
                    };
                    *slot = Some(ip.ok_or(bad)?);
                }
            }
            _ => {
                let destination = index == 4;
                let bad = ErrorKind::V1Port { destination };
                if partial {
                    if decimal(field, 65535).is_none() {
                        return Err(bad.into());
                    }
                } else {
                    let port = decimal(field, 65535).and_then(|port| u16::try_from(port).ok());
                    let slot = if destination {
                        &mut ports[1]
                    } else {
                        &mut ports[0]
                    };
                    *slot = Some(port.ok_or(bad)?);
                }
            }
        }
    }
    if !complete {
        return Ok(None);
    }
    match (ips, ports) {
        ([Some(source_ip), Some(destination_ip)], [Some(source_port), Some(destination_port)]) => {
            Ok(Some(ProxyHeader {
                version: Version::V1,
                local: false,
                addresses: ProxiedAddresses::Inet {
                    source: SocketAddr::new(source_ip, source_port),
                    destination: SocketAddr::new(destination_ip, destination_port),
                },
                tlvs: Vec::new(),
            }))
        }
        _ => missing("is missing fields (TCP4/TCP6 need source, destination and both ports)"),
    }
}

/// A decimal number without sign or leading zeros, at most `max`.
fn decimal(digits: &[u8], max: u32) -> Option<u32> {
    if digits.is_empty() || digits.len() > 5 || (digits.len() > 1 && digits.starts_with(b"0")) {
        return None;
    }
    let mut value: u32 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(digit - b'0');
    }
    (value <= max).then_some(value)
}

/// Whether `text` can begin a dotted quad: up to 4 parts, each a valid octet but the last,
/// which may also be empty.
fn ipv4_prefix_ok(text: &[u8]) -> bool {
    let parts: Vec<&[u8]> = text.split(|&b| b == b'.').collect();
    let last = parts.len().saturating_sub(1);
    parts.len() <= 4
        && parts
            .iter()
            .enumerate()
            .all(|(i, part)| (i == last && part.is_empty()) || decimal(part, 255).is_some())
}

/// A dotted quad of octets 0-255 without leading zeros.
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        *octet = u8::try_from(decimal(parts.next()?, 255)?).ok()?;
    }
    match parts.next() {
        None => Some(Ipv4Addr::from(octets)),
        Some(_) => None,
    }
}

/// Whether `text` can begin an IPv6 address (a cheap check; the whole address is parsed once
/// complete).
fn ipv6_prefix_ok(text: &[u8]) -> bool {
    text.len() <= IPV6_TEXT_MAX
        && text
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    if text.len() > IPV6_TEXT_MAX {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, HeaderError> {
    if let Some(offset) = mismatch(buf, &V2_SIGNATURE) {
        return Err(ErrorKind::V2Signature(offset).into());
    }
    let Some(&version_command) = buf.get(12) else {
        return Ok(None);
    };
    let version = version_command >> 4;
    if version != 2 {
        return Err(ErrorKind::V2Version(version).into());
    }
    let command = version_command & 0x0F;
    let local = match command {
        0 => true,
        1 => false,
        _ => return Err(ErrorKind::V2Command(command).into()),
    };
    let Some(&family_protocol) = buf.get(13) else {
        return Ok(None);
    };
    let family = family_protocol >> 4;
    let (family_name, block_len) = match family {
        0 => ("UNSPEC", 0),
        1 => ("INET", 12),
        2 => ("INET6", 36),
        3 => ("UNIX", 2 * UNIX_PATH_LEN),
        _ => return Err(ErrorKind::V2Family(family).into()),
    };
    let protocol = family_protocol & 0x0F;
    if protocol > 2 {
        return Err(ErrorKind::V2Protocol(protocol).into());
    }
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len > V2_MAX_PAYLOAD {
        return Err(ErrorKind::V2TooLong(len).into());
    }
    if len < block_len {
        return Err(ErrorKind::V2TooShort {
            len,
            family: family_name,
            needed: block_len,
        }
        .into());
    }
    let total = V2_FIXED_LEN + len;
    let Some(header) = buf.get(..total) else {
        return Ok(None);
    };
    let block = header
        .get(V2_FIXED_LEN..V2_FIXED_LEN + block_len)
        .unwrap_or_default();
    // Addresses only for PROXY over a stream protocol (1); LOCAL ignores them, and for UNSPEC
    // or DGRAM a stream server falls back to the real endpoints.
    let addresses = if local || protocol != 1 {
        ProxiedAddresses::Unspecified
    } else {
        v2_addresses(family, block).unwrap_or(ProxiedAddresses::Unspecified)
    };
    let tlvs = parse_tlvs(header, V2_FIXED_LEN + block_len)?;
    Ok(Some((
        ProxyHeader {
            version: Version::V2,
            local,
            addresses,
            tlvs,
        },
        total,
    )))
}

/// A cursor over bytes that hands out pieces without ever indexing out of bounds.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.array().map(|[byte]: [u8; 1]| byte)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }
}

/// The addresses of a PROXY STREAM address block of `family` (whose length was checked).
fn v2_addresses(family: u8, block: &[u8]) -> Option<ProxiedAddresses> {
    let mut r = Reader { bytes: block };
    match family {
        1 => {
            let (source, destination) = (r.array::<4>()?, r.array::<4>()?);
            let (source_port, destination_port) = (r.u16()?, r.u16()?);
            Some(ProxiedAddresses::Inet {
                source: SocketAddrV4::new(source.into(), source_port).into(),
                destination: SocketAddrV4::new(destination.into(), destination_port).into(),
            })
        }
        2 => {
            let (source, destination) = (r.array::<16>()?, r.array::<16>()?);
            let (source_port, destination_port) = (r.u16()?, r.u16()?);
            Some(ProxiedAddresses::Inet {
                source: SocketAddrV6::new(source.into(), source_port, 0, 0).into(),
                destination: SocketAddrV6::new(destination.into(), destination_port, 0, 0).into(),
            })
        }
        3 => Some(ProxiedAddresses::Unix {
            source: unix_path(r.take(UNIX_PATH_LEN)?),
            destination: unix_path(r.take(UNIX_PATH_LEN)?),
        }),
        _ => Some(ProxiedAddresses::Unspecified),
    }
}

/// A unix address from its NUL-padded field (see [`ProxiedAddresses::Unix`]).
fn unix_path(field: &[u8]) -> Vec<u8> {
    let (lead, name) = match field.split_first() {
        Some((0, name)) => (1, name),
        _ => (0, field),
    };
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    if end == 0 {
        return Vec::new();
    }
    field.get(..lead + end).unwrap_or_default().to_vec()
}

/// Checks that a unix address encodes to a field that reads back the same.
fn check_unix_path(path: &[u8]) -> Result<(), HeaderError> {
    if path.len() > UNIX_PATH_LEN {
        return Err(ErrorKind::EncodeUnixPathTooLong(path.len()).into());
    }
    let name = match path.split_first() {
        Some((0, [])) => return Err(ErrorKind::EncodeUnixPathNul.into()),
        Some((0, name)) => name,
        _ => path,
    };
    if name.contains(&0) {
        return Err(ErrorKind::EncodeUnixPathNul.into());
    }
    Ok(())
}

/// Parses the TLVs from `start` to the end of `header`, verifying a CRC32C over `header`.
fn parse_tlvs(header: &[u8], start: usize) -> Result<Vec<Tlv>, HeaderError> {
    let mut tlvs = Vec::new();
    let mut crc: Option<(usize, u32)> = None;
    let mut offset = start;
    loop {
        let mut r = Reader {
            bytes: header.get(offset..).unwrap_or_default(),
        };
        if r.bytes.is_empty() {
            break;
        }
        let truncated = || ErrorKind::V2TlvTruncated(offset);
        let kind = r.u8().ok_or_else(truncated)?;
        let len = usize::from(r.u16().ok_or_else(truncated)?);
        let value = r.take(len).ok_or_else(truncated)?;
        match kind {
            Tlv::NOOP => {}
            Tlv::CRC32C => {
                let sent: [u8; 4] = value.try_into().map_err(|_| ErrorKind::V2CrcLength(len))?;
                if crc.is_some() {
                    return Err(ErrorKind::V2CrcDuplicate.into());
                }
                crc = Some((offset + 3, u32::from_be_bytes(sent)));
            }
            Tlv::UNIQUE_ID if len > UNIQUE_ID_MAX => {
                return Err(ErrorKind::V2UniqueIdTooLong(len).into());
            }
            _ => {}
        }
        if kind != Tlv::NOOP {
            tlvs.push(Tlv::new(kind, value));
        }
        offset += 3 + len;
    }
    if let Some((at, sent)) = crc {
        let before = header.get(..at).unwrap_or_default();
        let after = header.get(at + 4..).unwrap_or_default();
        let computed = crc32c(&[before, &[0; 4], after]);
        if computed != sent {
            return Err(ErrorKind::V2CrcMismatch { sent, computed }.into());
        }
    }
    Ok(tlvs)
}

/// CRC32c (Castagnoli, reflected polynomial 0x82F63B78) lookup table.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC32c of the concatenation of `parts` (RFC 4960 appendix B, as PROXY v2 uses it).
fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for &part in parts {
        for &byte in part {
            // The index is masked to 0..=255: never out of bounds.
            crc = CRC32C_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

#[cfg(test)]
mod tests;
