//! The writing end of one leg: encodes a stanza, encrypts it, frames it, writes it.
//! Both the proxy's sessions and the reference peers write through it.
//!
//! Frames are queued and written in batches: while the reading side has more whole
//! frames buffered, their stanzas are queued here and go out in one write when the
//! batch ends, which saves a system call per stanza under load and costs nothing when
//! traffic is light (a batch of one is written at once). The queue's memory is given
//! back after each flush, so an idle session holds none.
//!
//! Both relay directions may write to either leg (a disco#info answer goes back the way
//! its query came), so each sink sits behind an async mutex; the lock is uncontended
//! except at those moments.

use std::sync::Arc;

use bytes::{Buf, BytesMut};

use super::cipher::SendCipher;
use super::symmetric::TAG_LEN;
use crate::frame::{put_header, FrameWriter};
use crate::stanza::{Stanza, StanzaCodec, StanzaError};

/// A batch is written once it reaches this size even if more frames are waiting.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Why a stanza could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The codec cannot write it: a modified stanza over the wire format's counts.
    #[error(transparent)]
    Encode(#[from] StanzaError),
    /// The side is gone (an earlier write or encryption failed).
    #[error(transparent)]
    Gone(#[from] std::io::Error),
}

impl From<QueueError> for std::io::Error {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Encode(e) => std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            QueueError::Gone(e) => e,
        }
    }
}

/// One leg's writer and send cipher.
pub struct Sink {
    /// The socket.
    writer: FrameWriter,
    /// Transport send state; its nonce counter advances per frame.
    cipher: SendCipher,
    /// Encodes stanzas for this leg: its encoding, dictionary and direction of travel.
    codec: Arc<dyn StanzaCodec>,
    /// Set once a write failed: nothing more is written to this side.
    failed: bool,
    /// Encrypted frames not yet written.
    pending: BytesMut,
}

impl Sink {
    /// A sink over an established transport.
    pub fn new(writer: FrameWriter, cipher: SendCipher, codec: Arc<dyn StanzaCodec>) -> Self {
        Self {
            writer,
            cipher,
            codec,
            failed: false,
            pending: BytesMut::new(),
        }
    }

    /// Encrypts and writes one stanza now.
    pub async fn send(&mut self, stanza: &Stanza) -> std::io::Result<()> {
        self.queue(stanza)?;
        self.flush().await
    }

    /// Encrypts and writes one already-encoded plaintext (flags byte + body) now; the
    /// reference peers send hostile bodies with it.
    #[cfg(feature = "demo")]
    pub async fn send_plaintext(&mut self, plain: &[u8]) -> std::io::Result<()> {
        self.queue_plaintext(plain)?;
        self.flush().await
    }

    /// Encrypts one stanza into the batch.
    pub fn queue(&mut self, stanza: &Stanza) -> Result<(), QueueError> {
        let mut plain = BytesMut::with_capacity(stanza.wire_len() + 1);
        self.codec.encode(stanza, &mut plain)?;
        Ok(self.queue_plaintext(&plain)?)
    }

    /// Encrypts one plaintext into the batch.
    fn queue_plaintext(&mut self, plain: &[u8]) -> std::io::Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        let result = self.seal_into(plain, &mut pending);
        self.pending = pending;
        result
    }

    /// Encrypts one plaintext into a whole frame (header + ciphertext) without writing
    /// it; the nonce counter advances as if it had been sent.
    #[cfg(feature = "demo")]
    pub fn seal(&mut self, plain: &[u8]) -> std::io::Result<BytesMut> {
        let mut out = BytesMut::new();
        self.seal_into(plain, &mut out)?;
        Ok(out)
    }

    /// Appends the frame for `plain` to `out`.
    fn seal_into(&mut self, plain: &[u8], out: &mut BytesMut) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        out.reserve(3 + plain.len() + TAG_LEN);
        put_header(out, plain.len() + TAG_LEN);
        if let Err(e) = self.cipher.encrypt(plain, out) {
            self.failed = true;
            return Err(std::io::Error::other(e.to_string()));
        }
        Ok(())
    }

    /// Writes bytes as they are, after anything queued: frames already sealed, or
    /// anything at all (hostile-input tests send both).
    #[cfg(feature = "demo")]
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.flush().await?;
        if self.failed {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let result = self.writer.write_raw(bytes).await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Bytes queued and not yet written.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Writes the batch and releases its memory.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let result = self.writer.write_raw(&batch).await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Writes as much of the batch as the socket takes now, without waiting; true once
    /// all of it is written (its memory released), false when the socket is full and
    /// the rest waits for [`Self::flush`].
    pub fn try_flush(&mut self) -> std::io::Result<bool> {
        while !self.pending.is_empty() {
            match self.writer.try_write_raw(&self.pending) {
                Ok(0) => {
                    self.failed = true;
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                Ok(n) => self.pending.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        self.pending = BytesMut::new();
        Ok(true)
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
