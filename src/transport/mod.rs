//! What precedes the Noise handshake on a connection (SPEC §2.1): the optional PROXY v2
//! header, the optional edge-routing pre-intro, and the `WA` intro header, whose four
//! bytes are the Noise prologue.

mod accept;
pub mod proxy_protocol;
pub mod resolve;
pub mod signals;

pub use accept::{accept_loop, bind_listener, dial};

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::{FrameError, FrameReader};

/// The edge-routing pre-intro magic.
const EDGE_ROUTING: [u8; 4] = [0x45, 0x44, 0x00, 0x01];
/// The intro magic, "WA".
const INTRO: [u8; 2] = [0x57, 0x41];
/// The SPEC's bound on routing bytes.
pub const MAX_ROUTING_BYTES: usize = 4096;

/// A protocol version from the intro header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
}

impl std::fmt::Display for WireVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The preamble as read from a client, to be replayed (adjusted) upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// The edge-routing bytes, if the client sent a pre-intro.
    pub routing: Option<Bytes>,
    /// The version the client announced.
    pub version: WireVersion,
}

impl Preamble {
    /// The Noise prologue: the four intro bytes.
    pub fn prologue(&self) -> [u8; 4] {
        prologue(self.version)
    }

    /// The bytes a connecting side sends: pre-intro (if any), then the intro header.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        if let Some(routing) = &self.routing {
            out.extend_from_slice(&EDGE_ROUTING);
            out.put_uint(routing.len() as u64, 3);
            out.extend_from_slice(routing);
        }
        out.extend_from_slice(&prologue(self.version));
        out.to_vec()
    }
}

/// The four intro bytes for a version.
pub fn prologue(version: WireVersion) -> [u8; 4] {
    [INTRO[0], INTRO[1], version.major, version.minor]
}

/// Why a preamble was refused.
#[derive(Debug, thiserror::Error)]
pub enum PreambleError {
    /// Neither the pre-intro nor the intro magic.
    #[error("not a WA intro header")]
    BadMagic,
    /// Routing bytes over the bound.
    #[error("edge routing of {0} bytes exceeds {MAX_ROUTING_BYTES}")]
    RoutingTooLong(usize),
    /// A version outside `client.versions`.
    #[error("version {0} is not accepted")]
    Version(WireVersion),
    /// The socket ended or failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Reads the pre-intro (optional) and intro header, accepting only `accepted` versions.
pub async fn read_preamble(
    reader: &mut FrameReader,
    accepted: impl Fn(WireVersion) -> bool,
) -> Result<Preamble, PreambleError> {
    let mut head = reader.read_exact(4).await?;
    let mut routing = None;
    if head[..] == EDGE_ROUTING {
        let len = reader.read_exact(3).await?;
        let len = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
        if len > MAX_ROUTING_BYTES {
            return Err(PreambleError::RoutingTooLong(len));
        }
        routing = Some(reader.read_exact(len).await?.freeze());
        head = reader.read_exact(4).await?;
    }
    if head[..2] != INTRO {
        return Err(PreambleError::BadMagic);
    }
    let version = WireVersion {
        major: head[2],
        minor: head[3],
    };
    if !accepted(version) {
        return Err(PreambleError::Version(version));
    }
    Ok(Preamble { routing, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_pre_intro_then_intro() {
        let p = Preamble {
            routing: Some(Bytes::from_static(b"xyz")),
            version: WireVersion { major: 6, minor: 3 },
        };
        assert_eq!(
            p.encode(),
            [0x45, 0x44, 0, 1, 0, 0, 3, b'x', b'y', b'z', 0x57, 0x41, 6, 3]
        );
        assert_eq!(p.prologue(), [0x57, 0x41, 6, 3]);
    }
}
