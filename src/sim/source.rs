//! The reading end of a simulated peer: frame, decrypt, decode.

use crate::frame::FrameReader;
use crate::noise::RecvCipher;
use crate::stanza::{Stanza, StanzaCodec};

use super::SimError;

/// Reads stanzas from one connection.
pub struct Source {
    /// The socket.
    pub reader: FrameReader,
    /// Transport receive state.
    pub cipher: RecvCipher,
}

impl Source {
    /// The next stanza; `None` at a clean end of stream.
    pub async fn next(&mut self, codec: &dyn StanzaCodec) -> Result<Option<Stanza>, SimError> {
        let Some(mut frame) = self.reader.next_frame().await? else {
            return Ok(None);
        };
        let len = self.cipher.decrypt_in_place(&mut frame)?;
        frame.truncate(len);
        Ok(Some(codec.decode(frame.freeze())?))
    }
}
