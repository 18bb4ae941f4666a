//! The parser and encoder against the specification's examples, every early rejection,
//! prefixes, and random round trips.

use super::*;

const SIG: [u8; 12] = V2_SIGNATURE;

fn parse(buf: &[u8]) -> Result<Option<(ProxyHeader, usize)>, HeaderError> {
    ProxyHeader::parse(buf)
}

fn parse_whole(buf: &[u8]) -> ProxyHeader {
    match parse(buf) {
        Ok(Some((header, len))) => {
            assert_eq!(
                len,
                buf.len(),
                "header length of {:?}",
                buf.escape_ascii().to_string()
            );
            header
        }
        other => panic!("{:?}: {other:?}", buf.escape_ascii().to_string()),
    }
}

fn err(buf: &[u8]) -> ErrorKind {
    match parse(buf) {
        Err(e) => e.kind,
        other => panic!(
            "{:?} should be rejected: {other:?}",
            buf.escape_ascii().to_string()
        ),
    }
}

fn inet(source: &str, destination: &str) -> ProxiedAddresses {
    ProxiedAddresses::Inet {
        source: source.parse().unwrap(),
        destination: destination.parse().unwrap(),
    }
}

fn v1(addresses: ProxiedAddresses) -> ProxyHeader {
    ProxyHeader {
        version: Version::V1,
        local: false,
        addresses,
        tlvs: vec![],
    }
}

fn unknown_v1() -> ProxyHeader {
    ProxyHeader {
        version: Version::V1,
        local: true,
        addresses: ProxiedAddresses::Unspecified,
        tlvs: vec![],
    }
}

/// A v2 header from its parts, assembled by hand (not by the encoder).
fn v2_raw(version_command: u8, family_protocol: u8, body: &[u8]) -> Vec<u8> {
    let mut out = SIG.to_vec();
    out.push(version_command);
    out.push(family_protocol);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn tlv_raw(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn inet4_block() -> Vec<u8> {
    // 192.0.2.1:56324 -> 198.51.100.11:443
    let mut block = vec![192, 0, 2, 1, 198, 51, 100, 11];
    block.extend_from_slice(&56324u16.to_be_bytes());
    block.extend_from_slice(&443u16.to_be_bytes());
    block
}

// ---- The specification's examples ----

#[test]
fn v1_tcp4_spec_example() {
    let data = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";
    let (header, len) = parse(data).unwrap().unwrap();
    assert_eq!(len, 47);
    assert_eq!(&data[len..len + 3], b"GET");
    assert_eq!(header, v1(inet("192.168.0.1:56324", "192.168.0.11:443")));
    assert!(!header.local);
    assert_eq!(header.to_bytes().unwrap(), &data[..len]);
}

#[test]
fn v1_tcp4_extremes() {
    let line = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    assert_eq!(line.len(), 56);
    assert_eq!(
        parse_whole(line),
        v1(inet("255.255.255.255:65535", "255.255.255.255:65535"))
    );
    assert_eq!(
        parse_whole(b"PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n"),
        v1(inet("0.0.0.0:0", "10.0.0.1:0"))
    );
}

#[test]
fn v1_tcp6() {
    assert_eq!(
        parse_whole(b"PROXY TCP6 2001:db8::1 ::1 65535 80\r\n"),
        v1(inet("[2001:db8::1]:65535", "[::1]:80"))
    );
    let longest = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
    assert_eq!(longest.len(), 104);
    let all = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
    assert_eq!(parse_whole(longest), v1(inet(all, all)));
    // IPv4-mapped addresses are IPv6 addresses.
    assert_eq!(
        parse_whole(b"PROXY TCP6 ::ffff:192.0.2.1 ::ffff:198.51.100.1 1 2\r\n"),
        v1(inet("[::ffff:192.0.2.1]:1", "[::ffff:198.51.100.1]:2"))
    );
    let header = v1(inet("[2001:db8::1]:65535", "[::1]:80"));
    assert_eq!(
        header.to_bytes().unwrap(),
        b"PROXY TCP6 2001:db8::1 ::1 65535 80\r\n"
    );
}

#[test]
fn v1_unknown() {
    assert_eq!(parse_whole(b"PROXY UNKNOWN\r\n"), unknown_v1());
    let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    assert_eq!(worst.len(), V1_MAX_LEN);
    assert_eq!(parse_whole(worst), unknown_v1());
    // Anything before the CRLF is ignored, even what TCP4 would reject.
    assert_eq!(
        parse_whole(b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"),
        unknown_v1()
    );
    assert_eq!(
        parse_whole(b"PROXY UNKNOWN  garbage\x00\xff 99999\r\n"),
        unknown_v1()
    );
    assert_eq!(parse_whole(b"PROXY UNKNOWN \r\n"), unknown_v1());
    assert_eq!(unknown_v1().to_bytes().unwrap(), b"PROXY UNKNOWN\r\n");
    let (header, len) = parse(b"PROXY UNKNOWN\r\n\r\nmore").unwrap().unwrap();
    assert_eq!((header, len), (unknown_v1(), 15));
}

#[test]
fn v2_proxy_inet_with_tlvs() {
    let mut body = inet4_block();
    body.extend(tlv_raw(Tlv::ALPN, b"h2"));
    body.extend(tlv_raw(Tlv::NOOP, b"\0\0\0"));
    body.extend(tlv_raw(Tlv::AUTHORITY, b"example.com"));
    body.extend(tlv_raw(Tlv::UNIQUE_ID, &[7; 128]));
    // SSL: client 0x01, verify 0, sub-TLV SSL_VERSION "TLSv1.3"; kept raw.
    let mut ssl = vec![0x01, 0, 0, 0, 0];
    ssl.extend(tlv_raw(0x21, b"TLSv1.3"));
    body.extend(tlv_raw(Tlv::SSL, &ssl));
    body.extend(tlv_raw(Tlv::NETNS, b"blue"));
    body.extend(tlv_raw(0xE0, b""));
    let data = v2_raw(0x21, 0x11, &body);
    let header = parse_whole(&data);
    assert_eq!(header.version, Version::V2);
    assert!(!header.local);
    assert_eq!(
        header.addresses,
        inet("192.0.2.1:56324", "198.51.100.11:443")
    );
    assert_eq!(header.alpn(), Some(&b"h2"[..]));
    assert_eq!(header.authority(), Some("example.com"));
    assert_eq!(header.unique_id(), Some(&[7u8; 128][..]));
    assert_eq!(header.tlv(Tlv::SSL), Some(&ssl[..]));
    assert_eq!(header.tlv(Tlv::NETNS), Some(&b"blue"[..]));
    assert_eq!(header.tlv(0xE0), Some(&b""[..]));
    assert_eq!(header.tlv(Tlv::NOOP), None);
    let kinds: Vec<u8> = header.tlvs.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [0x01, 0x02, 0x05, 0x20, 0x30, 0xE0]);
    // Re-encoding drops the NOOP only.
    let again = header.to_bytes().unwrap();
    assert_eq!(again.len(), data.len() - 6);
    assert_eq!(parse_whole(&again), header);
}

#[test]
fn v2_proxy_inet6() {
    let source: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let destination: Ipv6Addr = "2001:db8::2:3".parse().unwrap();
    let mut body = source.octets().to_vec();
    body.extend(destination.octets());
    body.extend(1234u16.to_be_bytes());
    body.extend(443u16.to_be_bytes());
    body.extend(tlv_raw(Tlv::AUTHORITY, "bücher.example".as_bytes()));
    let data = v2_raw(0x21, 0x21, &body);
    let header = parse_whole(&data);
    assert_eq!(
        header.addresses,
        inet("[2001:db8::1]:1234", "[2001:db8::2:3]:443")
    );
    assert_eq!(header.authority(), Some("bücher.example"));
    assert_eq!(header.to_bytes().unwrap(), data);
    // Non-UTF-8 authority: the TLV is there, `authority` is None.
    let mut body = body[..36].to_vec();
    body.extend(tlv_raw(Tlv::AUTHORITY, b"\xff"));
    let header = parse_whole(&v2_raw(0x21, 0x21, &body));
    assert_eq!(header.authority(), None);
    assert_eq!(header.tlv(Tlv::AUTHORITY), Some(&b"\xff"[..]));
}

#[test]
fn v2_proxy_unix() {
    let mut block = vec![0u8; 216];
    block[..12].copy_from_slice(b"/run/a.sock\0");
    block[12..20].copy_from_slice(b"garbage!"); // after the NUL: ignored
    block[108..108 + 5].copy_from_slice(b"\0abst");
    let mut body = block.clone();
    body.extend(tlv_raw(Tlv::UNIQUE_ID, b"id-1"));
    let data = v2_raw(0x21, 0x31, &body);
    let header = parse_whole(&data);
    assert_eq!(
        header.addresses,
        ProxiedAddresses::Unix {
            source: b"/run/a.sock".to_vec(),
            destination: b"\0abst".to_vec(),
        }
    );
    assert_eq!(header.unique_id(), Some(&b"id-1"[..]));
    // Unnamed (all zeros) and a full 108-byte path without NUL.
    let mut block = vec![0u8; 108];
    block.extend([b'x'; 108]);
    let header = parse_whole(&v2_raw(0x21, 0x31, &block));
    assert_eq!(
        header.addresses,
        ProxiedAddresses::Unix {
            source: vec![],
            destination: vec![b'x'; 108],
        }
    );
    assert_eq!(parse_whole(&header.to_bytes().unwrap()), header);
}

#[test]
fn v2_local_health_check() {
    // What HAProxy's `send-proxy-v2 check` sends.
    let data = v2_raw(0x20, 0x00, &[]);
    assert_eq!(data.len(), 16);
    let local = ProxyHeader {
        version: Version::V2,
        local: true,
        addresses: ProxiedAddresses::Unspecified,
        tlvs: vec![],
    };
    let mut with_payload = data.clone();
    with_payload.extend_from_slice(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(parse(&with_payload), Ok(Some((local.clone(), 16))));
    assert_eq!(local.to_bytes().unwrap(), data);
    // LOCAL with addresses: they are skipped and ignored.
    assert_eq!(parse_whole(&v2_raw(0x20, 0x11, &inet4_block())), local);
    // LOCAL with TLVs: they are parsed.
    let header = parse_whole(&v2_raw(0x20, 0x00, &tlv_raw(Tlv::UNIQUE_ID, b"u")));
    assert!(header.local);
    assert_eq!(header.unique_id(), Some(&b"u"[..]));
}

#[test]
fn v2_unspec_and_dgram_fall_back_to_real_endpoints() {
    for family_protocol in [0x00, 0x01, 0x02, 0x10, 0x12, 0x20, 0x22, 0x30, 0x32] {
        let block_len = [0, 12, 36, 216][usize::from(family_protocol >> 4)];
        let data = v2_raw(0x21, family_protocol, &vec![0u8; block_len]);
        let header = parse_whole(&data);
        assert!(!header.local, "{family_protocol:#x}");
        assert_eq!(header.addresses, ProxiedAddresses::Unspecified);
    }
    // PROXY with UNSPEC and no bytes at all.
    let header = parse_whole(&v2_raw(0x21, 0x00, &[]));
    assert_eq!(header.to_bytes().unwrap(), v2_raw(0x21, 0x00, &[]));
}

// ---- Early rejection ----

#[test]
fn v2_signature_mismatch_at_each_byte() {
    let mut valid = v2_raw(0x21, 0x11, &inet4_block());
    assert!(parse(&valid).unwrap().is_some());
    for i in 0..12 {
        let original = valid[i];
        valid[i] ^= 0x40;
        // Rejected as soon as the wrong byte is in, and with the whole header too.
        let expected = if i == 0 {
            ErrorKind::NotProxy
        } else {
            ErrorKind::V2Signature(i)
        };
        assert_eq!(err(&valid[..=i]), expected, "byte {i}");
        assert_eq!(err(&valid), expected, "byte {i}");
        valid[i] = original;
        // The right prefix is only incomplete.
        assert_eq!(parse(&valid[..=i]), Ok(None));
    }
    // A first byte that is neither 'P' nor CR.
    for first in [b'G', 0x16, 0, b'p', b'\n'] {
        assert_eq!(err(&[first]), ErrorKind::NotProxy);
    }
}

#[test]
fn v1_signature_mismatch() {
    for i in 1..5 {
        let mut bad = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec();
        bad[i] = b'x';
        assert_eq!(err(&bad[..=i]), ErrorKind::V1Signature(i));
        assert_eq!(err(&bad), ErrorKind::V1Signature(i));
    }
    assert_eq!(err(b"proxy"), ErrorKind::NotProxy);
    assert_eq!(err(b"PROX\r\n"), ErrorKind::V1Signature(4));
    assert_eq!(err(b"POST / HTTP/1.1\r\n"), ErrorKind::V1Signature(1));
    assert!(matches!(err(b"PROXYTCP4"), ErrorKind::V1(_)));
    assert!(matches!(err(b"PROXY  TCP4"), ErrorKind::V1(_)));
    assert!(matches!(err(b"PROXY\tTCP4"), ErrorKind::V1(_)));
    assert!(matches!(err(b"PROXY\r\n"), ErrorKind::V1(_)));
    assert!(matches!(err(b"PROXY \r\n"), ErrorKind::V1(_)));
}

#[test]
fn v1_length_limit() {
    // "PROXY UNKNOWN " then filler: 107 bytes without CRLF is an error, 106 is not yet.
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(106, b'a');
    assert_eq!(parse(&line), Ok(None));
    assert_eq!(ProxyHeader::bytes_needed(&line), 2);
    let mut at_limit = line.clone();
    at_limit.push(b'a');
    assert_eq!(err(&at_limit), ErrorKind::V1TooLong);
    at_limit.push(b'\r');
    at_limit.push(b'\n');
    assert_eq!(err(&at_limit), ErrorKind::V1TooLong); // 109 bytes with CRLF
                                                      // CR as the 107th byte: its LF would be the 108th.
    let mut cr_last = line.clone();
    cr_last.push(b'\r');
    assert_eq!(err(&cr_last), ErrorKind::V1TooLong);
    cr_last.push(b'\n');
    assert_eq!(err(&cr_last), ErrorKind::V1TooLong);
    // 105 bytes and CRLF: exactly 107, accepted.
    let mut exact = line[..105].to_vec();
    exact.extend_from_slice(b"\r\n");
    assert_eq!(parse_whole(&exact), unknown_v1());
    assert_eq!(
        HeaderError::from(ErrorKind::V1TooLong).to_string(),
        "PROXY v1 header longer than 107 bytes without CRLF"
    );
}

#[test]
fn v1_lone_cr_or_lf() {
    assert_eq!(err(b"PROXY UNKNOWN\n"), ErrorKind::V1LoneLf);
    assert_eq!(
        err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
        ErrorKind::V1LoneLf
    );
    assert_eq!(err(b"PROXY UNKNOWN junk\nmore\r\n"), ErrorKind::V1LoneLf);
    assert_eq!(err(b"PROXY\n"), ErrorKind::V1LoneLf);
    assert_eq!(err(b"PROXY UNKNOWN\rX"), ErrorKind::V1LoneCr);
    assert_eq!(err(b"PROXY UNKNOWN\r\r\n"), ErrorKind::V1LoneCr);
    assert_eq!(
        err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r "),
        ErrorKind::V1LoneCr
    );
    // A CR at the end: the LF may still come.
    assert_eq!(parse(b"PROXY UNKNOWN\r"), Ok(None));
    assert_eq!(ProxyHeader::bytes_needed(b"PROXY UNKNOWN\r"), 1);
    // ... but only if the line before it is complete and valid.
    assert!(matches!(err(b"PROXY TCP4 1.2.3.4\r"), ErrorKind::V1(_)));
    assert!(matches!(err(b"PROXY TCP\r"), ErrorKind::V1(_)));
    assert!(matches!(
        err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r"),
        ErrorKind::V1(_)
    ));
}

#[test]
fn v1_bad_protocol_and_addresses() {
    use ErrorKind::{V1Address, V1Port};
    for bad in [
        &b"PROXY TCP5 "[..],
        b"PROXY UDP4",
        b"PROXY TCP44",
        b"PROXY UNKNOWNX",
        b"PROXY tcp4",
        b"PROXY X",
    ] {
        assert!(matches!(err(bad), ErrorKind::V1(_)), "{bad:?}");
    }
    let src4 = V1Address {
        destination: false,
        ipv6: false,
    };
    let dst4 = V1Address {
        destination: true,
        ipv6: false,
    };
    let src6 = V1Address {
        destination: false,
        ipv6: true,
    };
    let dst6 = V1Address {
        destination: true,
        ipv6: true,
    };
    let cases: &[(&[u8], ErrorKind)] = &[
        // Family mismatch, caught on the first wrong character.
        (b"PROXY TCP4 ::1", src4.clone()),
        (b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", dst4.clone()),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", src6.clone()),
        (b"PROXY TCP6 ::1 1.2.3.4 1 2\r\n", dst6.clone()),
        (b"PROXY TCP6 ::1 ::g", dst6.clone()),
        (b"PROXY TCP6 ::1 :::1 1 2\r\n", dst6.clone()),
        (b"PROXY TCP6 1::2::3 ::1 1 2\r\n", src6.clone()),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", src6.clone()),
        (b"PROXY TCP6 12345::1 ::1 1 2\r\n", src6.clone()),
        // Malformed dotted quads.
        (b"PROXY TCP4 01.2.3.4", src4.clone()),
        (b"PROXY TCP4 256", src4.clone()),
        (b"PROXY TCP4 1.2.3.4.", src4.clone()),
        (b"PROXY TCP4 1..", src4.clone()),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", src4.clone()),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n", dst4.clone()),
        (b"PROXY TCP4 1.2.3.4 5.6.7.-8 1 2\r\n", dst4.clone()),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
            ErrorKind::V1("is missing fields (TCP4/TCP6 need source, destination and both ports)"),
        ),
        // Ports.
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            V1Port { destination: false },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536",
            V1Port { destination: false },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            V1Port { destination: true },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999",
            V1Port { destination: true },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000",
            V1Port { destination: true },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 080",
            V1Port { destination: false },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +80",
            V1Port { destination: false },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1",
            V1Port { destination: false },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x1",
            V1Port { destination: true },
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 00",
            V1Port { destination: false },
        ),
    ];
    for (data, expected) in cases {
        assert_eq!(
            &err(data),
            expected,
            "{:?}",
            data.escape_ascii().to_string()
        );
    }
    for bad in [
        &b"PROXY TCP4 1.2.3.4  5.6.7.8"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4\r\n",
        b"PROXY TCP6 ::1 ::1 1\r\n",
    ] {
        assert!(matches!(err(bad), ErrorKind::V1(_)), "{bad:?}");
    }
    assert_eq!(
        parse_whole(b"PROXY TCP4 1.2.3.4 5.6.7.8 65535 0\r\n"),
        v1(inet("1.2.3.4:65535", "5.6.7.8:0"))
    );
}

#[test]
fn v2_bad_version_command_family_protocol() {
    let block = inet4_block();
    for version in [0x0, 0x1, 0x3, 0xF] {
        let data = v2_raw(version << 4 | 1, 0x11, &block);
        assert_eq!(err(&data[..13]), ErrorKind::V2Version(version));
        assert_eq!(err(&data), ErrorKind::V2Version(version));
    }
    for command in [0x2, 0x3, 0xF] {
        let data = v2_raw(0x20 | command, 0x11, &block);
        assert_eq!(err(&data[..13]), ErrorKind::V2Command(command));
    }
    for family in [0x4, 0x5, 0xF] {
        let data = v2_raw(0x21, family << 4 | 1, &block);
        assert_eq!(err(&data[..14]), ErrorKind::V2Family(family));
        // LOCAL does not excuse a bad family either.
        let data = v2_raw(0x20, family << 4, &[]);
        assert_eq!(err(&data), ErrorKind::V2Family(family));
    }
    for protocol in [0x3, 0xF] {
        let data = v2_raw(0x21, 0x10 | protocol, &block);
        assert_eq!(err(&data[..14]), ErrorKind::V2Protocol(protocol));
    }
}

#[test]
fn v2_length_limits() {
    let mut data = v2_raw(0x21, 0x11, &inet4_block());
    data[14..16].copy_from_slice(&4097u16.to_be_bytes());
    assert_eq!(err(&data[..16]), ErrorKind::V2TooLong(4097));
    data[14..16].copy_from_slice(&5000u16.to_be_bytes());
    assert_eq!(
        parse(&data[..16]).unwrap_err().to_string(),
        "PROXY v2 header length 5000 is over the limit of 4096"
    );
    data[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(err(&data[..16]), ErrorKind::V2TooLong(65535));
    // 4096 exactly is fine: a NOOP filling the rest.
    let mut body = inet4_block();
    body.extend(tlv_raw(Tlv::NOOP, &vec![0; 4096 - 12 - 3]));
    let data = v2_raw(0x21, 0x11, &body);
    assert_eq!(data.len(), 16 + 4096);
    assert_eq!(parse_whole(&data).tlvs, vec![]);
    assert_eq!(parse(&data[..4000]), Ok(None));
    assert_eq!(ProxyHeader::bytes_needed(&data[..4000]), 16 + 4096 - 4000);
    // Too short for the family's address block.
    for (family_protocol, needed, family) in [
        (0x11, 12, "INET"),
        (0x21, 36, "INET6"),
        (0x31, 216, "UNIX"),
        (0x12, 12, "INET"),
    ] {
        let data = v2_raw(0x21, family_protocol, &vec![0; needed - 1]);
        let expected = ErrorKind::V2TooShort {
            len: needed - 1,
            family,
            needed,
        };
        assert_eq!(err(&data[..16]), expected);
        let data = v2_raw(0x20, family_protocol, &[]);
        assert_eq!(
            err(&data),
            ErrorKind::V2TooShort {
                len: 0,
                family,
                needed
            }
        );
    }
}

#[test]
fn v2_malformed_tlvs() {
    let block = inet4_block();
    // A TLV header cut short (1 and 2 bytes), and a value shorter than its length.
    for tail in [&[0x01][..], &[0x01, 0x00], &[0x01, 0x00, 0x05, b'h', b'2']] {
        let mut body = block.clone();
        body.extend_from_slice(tail);
        assert_eq!(
            err(&v2_raw(0x21, 0x11, &body)),
            ErrorKind::V2TlvTruncated(28)
        );
    }
    let mut body = block.clone();
    body.extend(tlv_raw(Tlv::ALPN, b"h2"));
    body.extend([0x02, 0x00]);
    assert_eq!(
        err(&v2_raw(0x21, 0x11, &body)),
        ErrorKind::V2TlvTruncated(33)
    );
    // UNIQUE_ID over 128 bytes.
    let mut body = block.clone();
    body.extend(tlv_raw(Tlv::UNIQUE_ID, &[1; 129]));
    assert_eq!(
        err(&v2_raw(0x21, 0x11, &body)),
        ErrorKind::V2UniqueIdTooLong(129)
    );
    // CRC32C of the wrong size, and twice.
    let mut body = block.clone();
    body.extend(tlv_raw(Tlv::CRC32C, &[0; 3]));
    assert_eq!(err(&v2_raw(0x21, 0x11, &body)), ErrorKind::V2CrcLength(3));
    let header = ProxyHeader {
        version: Version::V2,
        local: false,
        addresses: ProxiedAddresses::Unspecified,
        tlvs: vec![Tlv::new(Tlv::CRC32C, vec![])],
    };
    let mut twice = header.to_bytes().unwrap();
    twice.extend(tlv_raw(Tlv::CRC32C, &[0; 4]));
    twice[15] += 7;
    assert_eq!(err(&twice), ErrorKind::V2CrcDuplicate);
}

// ---- CRC32C ----

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c(&[b"123456789"]), 0xE306_9283);
    assert_eq!(crc32c(&[b"1234", b"", b"56789"]), 0xE306_9283);
    assert_eq!(crc32c(&[b""]), 0);
    // RFC 3720 B.4: 32 bytes of zeros.
    assert_eq!(crc32c(&[&[0; 32]]), 0x8A91_36AA);
}

/// Computed independently with a bitwise Python CRC32C:
/// PROXY TCP4 192.0.2.1:12345 -> 198.51.100.2:443, TLVs CRC32C then ALPN "h2".
const PYTHON_CRC_VECTOR: &str =
    "0d0a0d0a000d0a515549540a21110018c0000201c6336402303901bb030004b25869580100026832";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn crc32c_known_vector_accepted_and_reproduced() {
    let data = unhex(PYTHON_CRC_VECTOR);
    let header = parse_whole(&data);
    assert_eq!(
        header.tlv(Tlv::CRC32C),
        Some(&0xB258_6958u32.to_be_bytes()[..])
    );
    assert_eq!(header.alpn(), Some(&b"h2"[..]));
    assert_eq!(
        header.addresses,
        inet("192.0.2.1:12345", "198.51.100.2:443")
    );
    // Our encoder writes the very same bytes.
    let mut rebuilt = header.clone();
    rebuilt.tlvs[0].value.clear();
    assert_eq!(rebuilt.to_bytes().unwrap(), data);
}

#[test]
fn crc32c_mismatch_rejected() {
    let mut data = unhex(PYTHON_CRC_VECTOR);
    let crc_kind_at = 28;
    assert_eq!(data[crc_kind_at], Tlv::CRC32C);
    // Any one-bit change anywhere (but the CRC TLV's type byte, which makes it another
    // TLV) makes the header invalid or incomplete, never a valid one.
    for i in 0..data.len() {
        if i == crc_kind_at {
            continue;
        }
        for bit in 0..8 {
            data[i] ^= 1 << bit;
            assert!(
                !matches!(parse(&data), Ok(Some(_))),
                "byte {i} bit {bit} went unnoticed"
            );
            data[i] ^= 1 << bit;
        }
    }
    data[38] ^= 1; // the ALPN value
    assert!(matches!(
        err(&data),
        ErrorKind::V2CrcMismatch {
            sent: 0xB258_6958,
            ..
        }
    ));
    // A header built and checksummed by our encoder, then altered.
    let header = ProxyHeader {
        version: Version::V2,
        local: true,
        addresses: ProxiedAddresses::Unspecified,
        tlvs: vec![
            Tlv::new(Tlv::UNIQUE_ID, b"abc".to_vec()),
            Tlv::new(Tlv::CRC32C, vec![]),
        ],
    };
    let mut bytes = header.to_bytes().unwrap();
    assert_eq!(parse_whole(&bytes).unique_id(), Some(&b"abc"[..]));
    bytes[19] = b'x';
    assert!(matches!(err(&bytes), ErrorKind::V2CrcMismatch { .. }));
}

// ---- Incremental parsing ----

fn valid_headers() -> Vec<Vec<u8>> {
    let mut with_tlvs = inet4_block();
    with_tlvs.extend(tlv_raw(Tlv::ALPN, b"http/1.1"));
    with_tlvs.extend(tlv_raw(Tlv::NOOP, b""));
    with_tlvs.extend(tlv_raw(Tlv::UNIQUE_ID, &[0xAB; 100]));
    vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
        b"PROXY TCP4 0.0.0.0 1.1.1.1 0 65535\r\n".to_vec(),
        b"PROXY TCP6 ::ffff:1.2.3.4 2001:db8:0:0:1:0:0:1 8080 80\r\n".to_vec(),
        b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY UNKNOWN what ever\r\n".to_vec(),
        v2_raw(0x20, 0x00, &[]),
        v2_raw(0x21, 0x11, &inet4_block()),
        v2_raw(0x21, 0x11, &with_tlvs),
        v2_raw(0x21, 0x21, &[1; 36]),
        v2_raw(0x21, 0x31, &[b'/'; 216]),
        unhex(PYTHON_CRC_VECTOR),
    ]
}

#[test]
fn every_proper_prefix_is_incomplete() {
    let payloads: [&[u8]; 5] = [
        b"",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\n\r\r",
        b"\x16\x03\x01\x02\x00",
        &[0; 5000],
    ];
    for header in valid_headers() {
        let expected = parse_whole(&header);
        for end in 0..header.len() {
            let prefix = &header[..end];
            assert_eq!(parse(prefix), Ok(None), "prefix {end} of {header:?}");
            let needed = ProxyHeader::bytes_needed(prefix);
            assert!(
                needed >= 1 && end + needed <= header.len(),
                "{end} {needed}"
            );
        }
        assert_eq!(ProxyHeader::bytes_needed(&header), 0);
        for payload in payloads {
            let mut data = header.clone();
            data.extend_from_slice(payload);
            assert_eq!(parse(&data), Ok(Some((expected.clone(), header.len()))));
        }
    }
    assert_eq!(ProxyHeader::bytes_needed(b""), 15);
    assert_eq!(ProxyHeader::bytes_needed(b"GET"), 0);
    assert_eq!(ProxyHeader::bytes_needed(&SIG[..3]), 13);
}

// ---- Encoding ----

#[test]
fn encoding_errors() {
    let tcp = inet("1.2.3.4:1", "5.6.7.8:2");
    let unix = ProxiedAddresses::Unix {
        source: b"/a".to_vec(),
        destination: vec![],
    };
    let mut header = v1(tcp.clone());
    header.tlvs.push(Tlv::new(Tlv::ALPN, &b"h2"[..]));
    assert!(header.to_bytes().is_err());
    assert!(v1(unix.clone()).to_bytes().is_err());
    assert!(v1(ProxiedAddresses::Unspecified).to_bytes().is_err());
    let mixed = inet("1.2.3.4:1", "[::1]:2");
    assert_eq!(
        v1(mixed.clone()).to_bytes().unwrap_err().kind,
        ErrorKind::MixedFamilies
    );
    let mut header = v1(mixed);
    header.version = Version::V2;
    assert_eq!(
        header.to_bytes().unwrap_err().kind,
        ErrorKind::MixedFamilies
    );
    // v1 UNKNOWN with addresses writes them (a receiver ignores them).
    let mut header = v1(tcp);
    header.local = true;
    assert_eq!(
        header.to_bytes().unwrap(),
        b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"
    );

    let v2 = |addresses, tlvs| ProxyHeader {
        version: Version::V2,
        local: false,
        addresses,
        tlvs,
    };
    assert!(v2(unix, vec![]).to_bytes().is_ok());
    for (source, ok) in [
        (vec![b'a'; 108], true),
        (vec![b'a'; 109], false),
        (b"\0abstract".to_vec(), true),
        (b"\0".to_vec(), false),
        (b"a\0b".to_vec(), false),
        (b"\0a\0".to_vec(), false),
        (vec![], true),
    ] {
        let header = v2(
            ProxiedAddresses::Unix {
                source: source.clone(),
                destination: vec![],
            },
            vec![],
        );
        assert_eq!(header.to_bytes().is_ok(), ok, "{source:?}");
        if ok {
            assert_eq!(parse_whole(&header.to_bytes().unwrap()), header);
        }
    }
    let unspecified = ProxiedAddresses::Unspecified;
    let big = |kind, n| vec![Tlv::new(kind, vec![0; n])];
    assert_eq!(
        v2(unspecified.clone(), big(0xE0, 65536))
            .to_bytes()
            .unwrap_err()
            .kind,
        ErrorKind::EncodeTlvTooLong(65536)
    );
    assert_eq!(
        v2(unspecified.clone(), big(0xE0, 4094))
            .to_bytes()
            .unwrap_err()
            .kind,
        ErrorKind::V2TooLong(4097)
    );
    assert!(v2(unspecified.clone(), big(0xE0, 4093)).to_bytes().is_ok());
    assert_eq!(
        v2(unspecified.clone(), big(Tlv::UNIQUE_ID, 129))
            .to_bytes()
            .unwrap_err()
            .kind,
        ErrorKind::V2UniqueIdTooLong(129)
    );
    let two_crcs = vec![Tlv::new(Tlv::CRC32C, vec![]), Tlv::new(Tlv::CRC32C, vec![])];
    assert_eq!(
        v2(unspecified, two_crcs).to_bytes().unwrap_err().kind,
        ErrorKind::V2CrcDuplicate
    );
}

#[test]
fn errors_are_one_line_and_invalid_data() {
    let e = parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 65536").unwrap_err();
    assert_eq!(
        e.to_string(),
        "PROXY v1 header's source port is not a decimal number from 0 to 65535 without leading zeros"
    );
    let io: io::Error = e.clone().into();
    assert_eq!(io.kind(), io::ErrorKind::InvalidData);
    assert_eq!(io.to_string(), e.to_string());
    let data = v2_raw(0x21, 0x11, &inet4_block());
    let mut bad = data.clone();
    bad[12] = 0x11;
    assert_eq!(
        parse(&bad).unwrap_err().to_string(),
        "PROXY v2 header has version 1, expected 2"
    );
    // Every message is a single line.
    let all = [
        ErrorKind::NotProxy,
        ErrorKind::V1Signature(3),
        ErrorKind::V1TooLong,
        ErrorKind::V1LoneLf,
        ErrorKind::V1LoneCr,
        ErrorKind::V1("x"),
        ErrorKind::V1Address {
            destination: true,
            ipv6: true,
        },
        ErrorKind::V1Port { destination: true },
        ErrorKind::V2Signature(4),
        ErrorKind::V2Version(3),
        ErrorKind::V2Command(2),
        ErrorKind::V2Family(4),
        ErrorKind::V2Protocol(3),
        ErrorKind::V2TooLong(5000),
        ErrorKind::V2TooShort {
            len: 1,
            family: "INET",
            needed: 12,
        },
        ErrorKind::V2TlvTruncated(28),
        ErrorKind::V2UniqueIdTooLong(129),
        ErrorKind::V2CrcLength(3),
        ErrorKind::V2CrcDuplicate,
        ErrorKind::V2CrcMismatch {
            sent: 1,
            computed: 2,
        },
        ErrorKind::Encode("x"),
        ErrorKind::MixedFamilies,
        ErrorKind::EncodeTlvTooLong(70000),
        ErrorKind::EncodeUnixPathTooLong(200),
        ErrorKind::EncodeUnixPathNul,
    ];
    for kind in all {
        let message = HeaderError::from(kind).to_string();
        assert!(!message.contains('\n') && !message.is_empty(), "{message}");
    }
}

// ---- Properties, with a small deterministic PRNG ----

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Up to `max` random bytes.
    fn noise(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        self.bytes(n)
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn inet_pair(&mut self) -> (SocketAddr, SocketAddr) {
        let v6 = self.chance(2);
        let mut one = || -> SocketAddr {
            let port = if self.chance(8) {
                [0, 65535][self.below(2)]
            } else {
                self.next() as u16
            };
            if v6 {
                // Some with runs of zeros, to exercise `::`.
                let mut octets: [u8; 16] = self.bytes(16).try_into().unwrap();
                if self.chance(2) {
                    let from = self.below(16);
                    let to = from + self.below(17 - from);
                    octets[from..to].fill(0);
                }
                SocketAddr::new(Ipv6Addr::from(octets).into(), port)
            } else {
                let octets: [u8; 4] = self.bytes(4).try_into().unwrap();
                SocketAddr::new(Ipv4Addr::from(octets).into(), port)
            }
        };
        (one(), one())
    }

    fn unix_path(&mut self) -> Vec<u8> {
        match self.below(4) {
            0 => vec![],
            1 => {
                let mut path = vec![0];
                let n = 1 + self.below(107);
                path.extend((0..n).map(|_| 1 + self.below(255) as u8));
                path
            }
            _ => {
                let n = 1 + self.below(108);
                (0..n).map(|_| 1 + self.below(255) as u8).collect()
            }
        }
    }

    fn header(&mut self) -> ProxyHeader {
        let version = if self.chance(2) {
            Version::V1
        } else {
            Version::V2
        };
        let local = self.chance(4);
        let addresses = match (version, self.below(5)) {
            (Version::V1, _) if !local => {
                let (source, destination) = self.inet_pair();
                ProxiedAddresses::Inet {
                    source,
                    destination,
                }
            }
            (Version::V1, 0) => ProxiedAddresses::Unspecified,
            (Version::V1, _) => {
                let (source, destination) = self.inet_pair();
                ProxiedAddresses::Inet {
                    source,
                    destination,
                }
            }
            (Version::V2, 0) => ProxiedAddresses::Unspecified,
            (Version::V2, 1) => ProxiedAddresses::Unix {
                source: self.unix_path(),
                destination: self.unix_path(),
            },
            (Version::V2, _) => {
                let (source, destination) = self.inet_pair();
                ProxiedAddresses::Inet {
                    source,
                    destination,
                }
            }
        };
        let mut tlvs = vec![];
        if version == Version::V2 {
            let mut room = 1000;
            for _ in 0..self.below(8) {
                let kind = match self.below(6) {
                    0 => Tlv::NOOP,
                    1 => [
                        Tlv::ALPN,
                        Tlv::AUTHORITY,
                        Tlv::UNIQUE_ID,
                        Tlv::SSL,
                        Tlv::NETNS,
                    ][self.below(5)],
                    _ => loop {
                        let kind = self.next() as u8;
                        if kind != Tlv::CRC32C {
                            break kind;
                        }
                    },
                };
                let max = room.min(if kind == Tlv::UNIQUE_ID { 128 } else { 300 });
                let len = self.below(max + 1);
                room -= len;
                tlvs.push(Tlv::new(kind, self.bytes(len)));
            }
            if self.chance(3) {
                let at = self.below(tlvs.len() + 1);
                tlvs.insert(at, Tlv::new(Tlv::CRC32C, self.noise(4)));
            }
        }
        ProxyHeader {
            version,
            local,
            addresses,
            tlvs,
        }
    }
}

/// What parsing `header.to_bytes()` gives: LOCAL/UNKNOWN without addresses, no NOOPs, the
/// CRC32C value the encoder computed (taken from `parsed`, whose parse verified it).
fn expected_after_round_trip(header: &ProxyHeader, parsed: &ProxyHeader) -> ProxyHeader {
    let mut expected = header.clone();
    if expected.local {
        expected.addresses = ProxiedAddresses::Unspecified;
    }
    expected.tlvs.retain(|tlv| tlv.kind != Tlv::NOOP);
    for tlv in &mut expected.tlvs {
        if tlv.kind == Tlv::CRC32C {
            tlv.value = parsed.tlv(Tlv::CRC32C).unwrap().to_vec();
        }
    }
    expected
}

/// Invariants for any input: no panic; a header's length is within the input and its
/// prefixes are incomplete; a valid beginning's prefixes are valid beginnings; a parsed
/// header encodes to bytes that parse back to it.
fn check_invariants(data: &[u8]) {
    match parse(data) {
        Ok(Some((header, len))) => {
            assert!(len <= data.len());
            assert_eq!(parse(&data[..len]), Ok(Some((header.clone(), len))));
            assert_eq!(parse(&data[..len - 1]), Ok(None));
            let bytes = header.to_bytes().expect("a parsed header encodes");
            let again = parse_whole(&bytes);
            assert_eq!(expected_after_round_trip(&header, &again), again);
            assert_eq!(again.to_bytes().unwrap(), bytes);
        }
        Ok(None) => {
            assert!(data.len() < V2_FIXED_LEN + V2_MAX_PAYLOAD);
            let needed = ProxyHeader::bytes_needed(data);
            assert!(needed >= 1 && data.len() + needed <= V2_FIXED_LEN + V2_MAX_PAYLOAD);
            if let Some(shorter) = data.len().checked_sub(1) {
                assert_eq!(parse(&data[..shorter]), Ok(None));
            }
        }
        Err(_) => assert_eq!(ProxyHeader::bytes_needed(data), 0),
    }
}

#[test]
fn random_headers_round_trip() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut counts = [0usize; 4];
    for i in 0..20_000 {
        let header = rng.header();
        let bytes = header
            .to_bytes()
            .unwrap_or_else(|e| panic!("#{i} {header:?}: {e}"));
        let parsed = parse_whole(&bytes);
        assert_eq!(parsed, expected_after_round_trip(&header, &parsed), "#{i}");
        counts[(header.version == Version::V2) as usize * 2 + header.local as usize] += 1;
        // Payload after it changes nothing.
        let mut data = bytes.clone();
        data.extend(rng.noise(20));
        assert_eq!(parse(&data), Ok(Some((parsed.clone(), bytes.len()))));
        // A random prefix is incomplete.
        let end = rng.below(bytes.len());
        assert_eq!(parse(&bytes[..end]), Ok(None), "#{i} prefix {end}");
        if i % 4 == 0 {
            check_invariants(&data);
        }
    }
    assert!(counts.iter().all(|&n| n > 1000), "{counts:?}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    let seeds = valid_headers();
    for _ in 0..30_000 {
        let mut data = match rng.below(4) {
            // Pure noise, mostly rejected at once.
            0 => rng.noise(300),
            // A signature, then noise.
            1 => {
                let mut data = if rng.chance(2) {
                    SIG.to_vec()
                } else {
                    b"PROXY ".to_vec()
                };
                data.extend(rng.noise(300));
                data
            }
            // A valid header with a few bytes changed, cut or extended.
            _ => seeds[rng.below(seeds.len())].clone(),
        };
        for _ in 0..rng.below(4) {
            if !data.is_empty() {
                let at = rng.below(data.len());
                data[at] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => {
                        const PICKS: &[u8] = b" .:\r\n0123456789abcdef";
                        PICKS[rng.below(PICKS.len())]
                    }
                    _ => data[at] ^ (1 << rng.below(8)),
                };
            }
        }
        if rng.chance(3) {
            data.truncate(rng.below(data.len() + 1));
        }
        check_invariants(&data);
    }
}
