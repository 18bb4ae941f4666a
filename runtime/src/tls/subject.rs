//! The subject of an X.509 certificate, read from its DER as far as naming it needs (the
//! handler's `TlsInfo::client_subject`); rustls checks certificates but does not name them.

use rustls::pki_types::CertificateDer;

/// The subject's attributes in the certificate's order, `O=Example, CN=alice`; `None` for
/// bytes that are not a certificate.
pub(super) fn of(cert: &CertificateDer<'_>) -> Option<String> {
    let (certificate, _) = element(cert, SEQUENCE)?;
    let (mut tbs, _) = element(certificate, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs, VERSION)?.1;
    }
    // serialNumber, signature, issuer, validity, then the subject.
    for tag in [INTEGER, SEQUENCE, SEQUENCE, SEQUENCE] {
        tbs = element(tbs, tag)?.1;
    }
    let (mut name, _) = element(tbs, SEQUENCE)?;
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (mut set, rest) = element(name, SET)?;
        name = rest;
        while !set.is_empty() {
            let (attribute, rest) = element(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = element(attribute, OID)?;
            let (text, _) = any_string(value)?;
            parts.push(format!("{}={text}", attribute_name(oid)));
        }
    }
    Some(parts.join(", "))
}

const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;

/// The contents of the element with `tag` that `der` starts with, and what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = der.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        short @ 0..=0x7f => (usize::from(short), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let bytes = rest.get(..count)?;
            let len = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
            (len, &rest[count..])
        }
        _ => return None,
    };
    let contents = rest.get(..len)?;
    Some((contents, &rest[len..]))
}

/// A string of any of the types a name's attribute takes, as text.
fn any_string(der: &[u8]) -> Option<(String, &[u8])> {
    let tag = *der.first()?;
    let (bytes, rest) = element(der, tag)?;
    let text = match tag {
        // UTF8String, PrintableString, TeletexString, IA5String
        0x0c | 0x13 | 0x14 | 0x16 => String::from_utf8_lossy(bytes).into_owned(),
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => return None,
    };
    Some((text, rest))
}

/// The short name OpenSSL gives an attribute type, or its dotted OID.
fn attribute_name(oid: &[u8]) -> String {
    let known = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return dotted(oid),
    };
    known.to_owned()
}

/// An OID as `1.2.840.113549`.
fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut arc = 0u64;
    for &b in oid {
        arc = (arc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (arc / 40).min(2);
                arcs.push(first);
                arcs.push(arc - first * 40);
            } else {
                arcs.push(arc);
            }
            arc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name's attribute: type `oid`, UTF8String `value`.
    fn attribute(oid: &[u8], value: &str) -> Vec<u8> {
        let mut inner = der(OID, oid);
        inner.extend(der(0x0c, value.as_bytes()));
        der(SET, &der(SEQUENCE, &inner))
    }

    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            n @ 0..=0x7f => out.push(n as u8),
            n @ 0x80..=0xff => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend(contents);
        out
    }

    /// A certificate's outline: version, serial, algorithm, issuer, validity, `subject`,
    /// then a long public key (so lengths take the long form).
    fn certificate(subject: &[u8]) -> Vec<u8> {
        let mut tbs = der(VERSION, &der(INTEGER, &[2]));
        tbs.extend(der(INTEGER, &[1, 2, 3]));
        tbs.extend(der(SEQUENCE, &der(OID, &[0x2a, 0x03])));
        tbs.extend(der(SEQUENCE, &attribute(&[0x55, 4, 3], "issuer")));
        tbs.extend(der(SEQUENCE, &[]));
        tbs.extend(der(SEQUENCE, subject));
        tbs.extend(der(SEQUENCE, &[0u8; 300]));
        der(SEQUENCE, &der(SEQUENCE, &tbs))
    }

    #[test]
    fn names_the_subject_in_order_with_known_and_unknown_attributes() {
        let mut subject = attribute(&[0x55, 4, 0x0a], "Example");
        subject.extend(attribute(&[0x55, 4, 3], "alice"));
        subject.extend(attribute(&[0x2b, 6, 1, 4, 1, 0x82, 0x37], "x"));
        let cert = CertificateDer::from(certificate(&subject));
        assert_eq!(
            of(&cert).as_deref(),
            Some("O=Example, CN=alice, 1.3.6.1.4.1.311=x")
        );
    }

    #[test]
    fn bytes_that_are_no_certificate_have_no_subject() {
        let cert = certificate(&attribute(&[0x55, 4, 3], "alice"));
        for end in [0, 1, 5, cert.len() / 2, cert.len() - 301] {
            assert_eq!(
                of(&CertificateDer::from(cert[..end].to_vec())),
                None,
                "{end}"
            );
        }
    }
}
