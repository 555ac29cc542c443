//! PROXY protocol v2 (HAProxy spec), read on the client leg from a load balancer and
//! written on the upstream leg, so the server keeps the client's address. The format
//! itself is the `ppp` crate's; this module only moves it on and off the socket.
//!
//! TLVs are carried as opaque (type, value) pairs: which types the proxy writes or
//! forwards is the session's business ([`super::signals`]), not the format's.

use std::net::SocketAddr;

use ppp::v2::{Addresses, Builder, Command, Header, Protocol, Version};

use crate::frame::{FrameError, FrameReader};

/// Fixed part of a v2 header: 12-byte signature, version/command, family, 16-bit length.
const FIXED_LEN: usize = 16;

/// Why a PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// Not a valid v2 header.
    #[error("malformed PROXY v2 header: {0}")]
    Malformed(String),
    /// The socket ended or failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A TLV's type byte and 16-bit length.
const TLV_HEAD: usize = 3;

/// The 12-byte signature every v2 header starts with.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// One TLV: its type and value.
pub type Tlv = (u8, Vec<u8>);

/// A received header: the client's source address (as [`read_header`] returns it) and
/// every TLV, in the order sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The client's address; `None` for `LOCAL` and unspecified families.
    pub source: Option<SocketAddr>,
    /// The TLVs after the addresses.
    pub tlvs: Vec<Tlv>,
}

/// Reads a PROXY v2 header; returns the client's source address (None for `LOCAL`
/// commands and unspecified families, as health checks from the balancer send).
pub async fn read_header(reader: &mut FrameReader) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    Ok(read_header_with_tlvs(reader).await?.source)
}

/// Reads a PROXY v2 header with its TLVs.
///
/// The signature and version are checked on the fixed part, before the variable part is
/// read, so a connection that does not start with a PROXY header fails at once instead
/// of waiting for up to 64 KiB that will never come.
pub async fn read_header_with_tlvs(reader: &mut FrameReader) -> Result<Received, ProxyHeaderError> {
    let fixed = reader.read_exact(FIXED_LEN).await?;
    check_fixed(&fixed)?;
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let rest = reader.read_exact(len).await?;
    let mut whole = fixed.to_vec();
    whole.extend_from_slice(&rest);
    parse_header_with_tlvs(&whole)
}

/// Refuses a fixed part whose signature or version is not PROXY v2.
fn check_fixed(fixed: &[u8]) -> Result<(), ProxyHeaderError> {
    if fixed.len() < FIXED_LEN || fixed[..12] != SIGNATURE {
        return Err(ProxyHeaderError::Malformed("no PROXY v2 signature".into()));
    }
    if fixed[12] >> 4 != 2 {
        return Err(ProxyHeaderError::Malformed(format!(
            "PROXY version {}",
            fixed[12] >> 4
        )));
    }
    Ok(())
}

/// Parses one complete PROXY v2 header (fixed part and the length it announces) held
/// in `bytes`; returns the source address as [`read_header`] does.
pub fn parse_header(bytes: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    Ok(parse_header_with_tlvs(bytes)?.source)
}

/// Parses one complete PROXY v2 header with its TLVs. A TLV area that does not divide
/// into whole TLVs makes the header malformed, as HAProxy treats it: what follows the
/// addresses is then not what the balancer meant to say.
pub fn parse_header_with_tlvs(bytes: &[u8]) -> Result<Received, ProxyHeaderError> {
    check_fixed(bytes)?;
    let len = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if bytes.len() != FIXED_LEN + len {
        return Err(ProxyHeaderError::Malformed(format!(
            "header announces {len} bytes after the fixed part, {} given",
            bytes.len() - FIXED_LEN
        )));
    }
    let header = Header::try_from(bytes).map_err(|e| ProxyHeaderError::Malformed(e.to_string()))?;
    let tlvs = header
        .tlvs()
        .map(|tlv| {
            tlv.map(|tlv| (tlv.kind, tlv.value.into_owned()))
                .map_err(|e| ProxyHeaderError::Malformed(format!("TLV: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let source = match (header.command, header.addresses) {
        (Command::Local, _) => None,
        (_, Addresses::IPv4(a)) => Some(SocketAddr::from((a.source_address, a.source_port))),
        (_, Addresses::IPv6(a)) => Some(SocketAddr::from((a.source_address, a.source_port))),
        _ => None,
    };
    Ok(Received { source, tlvs })
}

/// Encodes a PROXY v2 `PROXY` header for a TCP connection from `source` to `destination`.
/// Mixed families (an IPv4 client behind an IPv6 listener) are mapped to IPv6.
pub fn encode_header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    encode_header_with_tlvs(source, destination, &[])
}

/// As [`encode_header`], followed by `tlvs` in order. A TLV that would take the header
/// past the format's 64 KiB is left out, never cut: only forwarded TLVs can be that
/// long, and a truncated one would say something its sender did not.
pub fn encode_header_with_tlvs(
    source: SocketAddr,
    destination: SocketAddr,
    tlvs: &[Tlv],
) -> Vec<u8> {
    let (source, destination) = match (source, destination) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (source, destination)
        }
        _ => (to_v6(source), to_v6(destination)),
    };
    let addresses = Addresses::from((source, destination));
    let mut room = usize::from(u16::MAX) - addresses.len();
    let mut builder =
        Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, addresses);
    for (kind, value) in tlvs {
        let len = TLV_HEAD + value.len();
        if len > room {
            continue;
        }
        room -= len;
        builder = builder
            .write_tlv(*kind, value)
            .expect("a value that fits the header fits a TLV");
    }
    builder
        .build()
        .expect("the addresses and the TLVs were sized to fit")
}

/// An address as IPv6 (IPv4-mapped where it was IPv4).
fn to_v6(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) => SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port())),
        v6 => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_header_parses_back() {
        let src: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:5222".parse().unwrap();
        let bytes = encode_header(src, dst);
        let header = Header::try_from(bytes.as_slice()).unwrap();
        assert_eq!(header.addresses, Addresses::from((src, dst)));
        assert_eq!(parse_header(&bytes).unwrap(), Some(src));
    }

    #[test]
    fn tlvs_are_written_in_order_and_read_back() {
        let src: SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
        let dst: SocketAddr = "[::1]:5222".parse().unwrap();
        let tlvs = vec![
            (0xE0, vec![0x60, 0, 0, 0]),
            (0x01, vec![]),
            (0xE1, vec![9; 8]),
        ];
        let bytes = encode_header_with_tlvs(src, dst, &tlvs);
        let header = Header::try_from(bytes.as_slice()).unwrap();
        assert_eq!(header.addresses, Addresses::from((src, dst)));
        assert_eq!(
            parse_header_with_tlvs(&bytes).unwrap(),
            Received {
                source: Some(src),
                tlvs
            }
        );
    }

    #[test]
    fn tlvs_that_do_not_fit_are_left_out_whole() {
        let src: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let dst: SocketAddr = "[::1]:5222".parse().unwrap();
        let big = (0xE0, vec![7; 40_000]);
        let small = (0xE1, vec![1; 8]);
        let tlvs = [big.clone(), big.clone(), small.clone()];
        let bytes = encode_header_with_tlvs(src, dst, &tlvs);
        assert_eq!(
            parse_header_with_tlvs(&bytes).unwrap().tlvs,
            vec![big, small]
        );
        // Exactly full: 36 bytes of IPv6 addresses, one TLV of the rest.
        let full = (0xE0, vec![0; usize::from(u16::MAX) - 36 - 3]);
        let bytes = encode_header_with_tlvs(src, dst, std::slice::from_ref(&full));
        assert_eq!(bytes.len(), 16 + usize::from(u16::MAX));
        assert_eq!(parse_header_with_tlvs(&bytes).unwrap().tlvs, vec![full]);
    }

    #[test]
    fn a_torn_tlv_makes_the_header_malformed() {
        let src: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:5222".parse().unwrap();
        let mut bytes = encode_header_with_tlvs(src, dst, &[(0xE1, vec![1; 8])]);
        // Announce one byte fewer: the TLV's value is cut short.
        bytes.pop();
        let len = u16::from_be_bytes([bytes[14], bytes[15]]) - 1;
        bytes[14..16].copy_from_slice(&len.to_be_bytes());
        assert!(parse_header_with_tlvs(&bytes).is_err());
    }

    #[test]
    fn bad_signature_version_and_length_are_refused() {
        let src: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:5222".parse().unwrap();
        let good = encode_header(src, dst);
        let mut bad_sig = good.clone();
        bad_sig[0] = b'X';
        assert!(parse_header(&bad_sig).is_err());
        let mut v1 = good.clone();
        v1[12] = 0x11;
        assert!(parse_header(&v1).is_err());
        assert!(parse_header(&good[..good.len() - 1]).is_err());
        assert!(parse_header(&good[..5]).is_err());
        let mut long = good.clone();
        long.push(0);
        assert!(parse_header(&long).is_err());
    }
}
