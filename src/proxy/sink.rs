//! The writing end of one leg: encodes a stanza, encrypts it, frames it, writes it.
//!
//! Both relay directions may write to either leg (a disco#info answer goes back the way
//! its query came), so each sink sits behind an async mutex; the lock is uncontended
//! except at those moments.

use bytes::BytesMut;

use crate::codec::{put_header, FrameWriter};
use crate::noise::SendCipher;
use crate::stanza::{Stanza, StanzaCodec};

/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// One leg's writer and send cipher.
pub struct Sink {
    /// The socket.
    writer: FrameWriter,
    /// Transport send state; its nonce counter advances per frame.
    cipher: SendCipher,
    /// Set once a write failed: nothing more is written to this side.
    failed: bool,
}

impl Sink {
    /// A sink over an established transport.
    pub fn new(writer: FrameWriter, cipher: SendCipher) -> Self {
        Self {
            writer,
            cipher,
            failed: false,
        }
    }

    /// Encrypts and writes one stanza.
    pub async fn send(&mut self, codec: &dyn StanzaCodec, stanza: &Stanza) -> std::io::Result<()> {
        let mut plain = BytesMut::with_capacity(stanza.wire_len() + 1);
        codec.encode(stanza, &mut plain);
        self.send_plaintext(&plain).await
    }

    /// Encrypts and writes one already-encoded plaintext (flags byte + body).
    pub async fn send_plaintext(&mut self, plain: &[u8]) -> std::io::Result<()> {
        let out = self.seal(plain)?;
        self.write_raw(&out).await
    }

    /// Encrypts one plaintext into a whole frame (header + ciphertext) without writing
    /// it; the nonce counter advances as if it had been sent.
    pub fn seal(&mut self, plain: &[u8]) -> std::io::Result<BytesMut> {
        if self.failed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let mut out = BytesMut::with_capacity(3 + plain.len() + TAG_LEN);
        put_header(&mut out, plain.len() + TAG_LEN);
        if let Err(e) = self.cipher.encrypt(plain, &mut out) {
            self.failed = true;
            return Err(std::io::Error::other(e.to_string()));
        }
        Ok(out)
    }

    /// Writes bytes as they are: frames already sealed, or anything at all.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let result = self.writer.write_raw(bytes).await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Whether a write to this side has failed.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Closes the write direction.
    pub async fn shutdown(&mut self) {
        self.writer.shutdown().await;
    }
}
