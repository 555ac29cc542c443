//! PROXY protocol v2 (HAProxy spec), read on the client leg from a load balancer and
//! written on the upstream leg, so the server keeps the client's address. The format
//! itself is the `ppp` crate's; this module only moves it on and off the socket.

use std::net::SocketAddr;

use ppp::v2::{Addresses, Builder, Command, Header, Protocol, Version};

use crate::codec::{FrameError, FrameReader};

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

/// The 12-byte signature every v2 header starts with.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Reads a PROXY v2 header; returns the client's source address (None for `LOCAL`
/// commands and unspecified families, as health checks from the balancer send).
///
/// The signature and version are checked on the fixed part, before the variable part is
/// read, so a connection that does not start with a PROXY header fails at once instead
/// of waiting for up to 64 KiB that will never come.
pub async fn read_header(reader: &mut FrameReader) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let fixed = reader.read_exact(FIXED_LEN).await?;
    check_fixed(&fixed)?;
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let rest = reader.read_exact(len).await?;
    let mut whole = fixed.to_vec();
    whole.extend_from_slice(&rest);
    parse_header(&whole)
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
    check_fixed(bytes)?;
    let len = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if bytes.len() != FIXED_LEN + len {
        return Err(ProxyHeaderError::Malformed(format!(
            "header announces {len} bytes after the fixed part, {} given",
            bytes.len() - FIXED_LEN
        )));
    }
    let header = Header::try_from(bytes).map_err(|e| ProxyHeaderError::Malformed(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(None);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        _ => None,
    })
}

/// Encodes a PROXY v2 `PROXY` header for a TCP connection from `source` to `destination`.
/// Mixed families (an IPv4 client behind an IPv6 listener) are mapped to IPv6.
pub fn encode_header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (source, destination) = match (source, destination) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (source, destination)
        }
        _ => (to_v6(source), to_v6(destination)),
    };
    Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (source, destination),
    )
    .build()
    .expect("a header with two addresses and no TLVs always fits")
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
