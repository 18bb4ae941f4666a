//! Fuzzes `ProxyHeader::parse` on arbitrary bytes.
//!
//! Checks, besides "never panics": a header's length is within the input and the bytes after
//! it do not matter; every proper prefix of a header, and of a valid beginning, is a valid
//! beginning; a parsed header always encodes, and its encoding parses back to the same header
//! (up to the CRC32C value, which the encoder recomputes) and re-encodes to the same bytes.
//!
//! Run from this directory: `cargo +nightly fuzz run proxy_header corpus/proxy_header seeds`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use socketserver_runtime::proxy::{ProxyHeader, Tlv, V2_MAX_PAYLOAD};

/// The header with CRC32C values cleared: `to_bytes` recomputes them over its own encoding,
/// which differs from the input's when the input was not canonical (NOOPs, LOCAL addresses).
fn without_crc_values(mut header: ProxyHeader) -> ProxyHeader {
    for tlv in &mut header.tlvs {
        if tlv.kind == Tlv::CRC32C {
            tlv.value.clear();
        }
    }
    header
}

fuzz_target!(|data: &[u8]| {
    match ProxyHeader::parse(data) {
        Ok(Some((header, len))) => {
            assert!(
                len <= data.len(),
                "length {len} past the input's {}",
                data.len()
            );
            let bytes = &data[..len];
            assert_eq!(
                ProxyHeader::parse(bytes),
                Ok(Some((header.clone(), len))),
                "the bytes after the header changed the result"
            );
            for end in 0..len {
                assert_eq!(
                    ProxyHeader::parse(&data[..end]),
                    Ok(None),
                    "prefix of {end} bytes"
                );
            }
            assert_eq!(ProxyHeader::bytes_needed(data), 0);

            let encoded = header.to_bytes().expect("a parsed header encodes");
            let (again, again_len) = ProxyHeader::parse(&encoded)
                .expect("the encoding parses")
                .expect("the encoding is complete");
            assert_eq!(again_len, encoded.len());
            assert_eq!(
                without_crc_values(again.clone()),
                without_crc_values(header)
            );
            assert_eq!(
                again.to_bytes().as_deref(),
                Ok(&encoded[..]),
                "encoding not canonical"
            );
        }
        Ok(None) => {
            assert!(data.len() < 16 + V2_MAX_PAYLOAD);
            let needed = ProxyHeader::bytes_needed(data);
            assert!(needed >= 1 && data.len() + needed <= 16 + V2_MAX_PAYLOAD);
            for end in 0..data.len() {
                assert_eq!(
                    ProxyHeader::parse(&data[..end]),
                    Ok(None),
                    "prefix of {end} bytes"
                );
            }
        }
        Err(err) => {
            assert_eq!(ProxyHeader::bytes_needed(data), 0);
            let message = err.to_string();
            assert!(!message.is_empty() && !message.contains('\n'));
        }
    }
});
