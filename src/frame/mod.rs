//! 24-bit length-prefixed frames (SPEC §2.2) and the raw reads of the preamble.
//!
//! The reader holds no buffer while a connection is idle: it waits for the socket to
//! become readable first and only then takes memory, and it lets go of the buffer as soon
//! as the bytes in it have been handed out. An idle session therefore costs no buffer
//! memory at all, which is what lets one process hold thousands of idle sessions.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The largest length a 24-bit header can carry.
pub const MAX_FRAME_LIMIT: usize = (1 << 24) - 1;

/// How much to ask the kernel for when a read has no better size hint.
const READ_CHUNK: usize = 4096;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame above `limits.max_frame_bytes`.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured limit.
        max: usize,
    },
    /// The connection ended inside a frame or preamble.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes one frame from the front of `buf`, or says how many more bytes it needs.
///
/// "Need more bytes" is a value, not an error: the caller reads and calls again.
pub fn decode_frame(buf: &mut BytesMut, max: usize) -> Result<Result<BytesMut, usize>, FrameError> {
    if buf.len() < 3 {
        return Ok(Err(3 - buf.len()));
    }
    let len = (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if buf.len() < 3 + len {
        return Ok(Err(3 + len - buf.len()));
    }
    buf.advance(3);
    Ok(Ok(buf.split_to(len)))
}

/// Appends the 24-bit header for a body of `len` bytes.
///
/// Panics if `len` exceeds [`MAX_FRAME_LIMIT`]: callers never build such a frame, since
/// stanzas are bounded by `limits.max_stanza_bytes` long before that.
pub fn put_header(out: &mut BytesMut, len: usize) {
    assert!(len <= MAX_FRAME_LIMIT, "frame body of {len} bytes");
    out.put_u8((len >> 16) as u8);
    out.put_u8((len >> 8) as u8);
    out.put_u8(len as u8);
}

/// Reads frames (and, before them, preamble bytes) from one socket.
pub struct FrameReader {
    /// The socket's read half.
    inner: OwnedReadHalf,
    /// Bytes read but not yet handed out; empty and unallocated between bursts.
    buf: BytesMut,
    /// `limits.max_frame_bytes`.
    max_frame: usize,
}

impl FrameReader {
    /// Wraps a read half; `max_frame` bounds every frame.
    pub fn new(inner: OwnedReadHalf, max_frame: usize) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            max_frame,
        }
    }

    /// The next frame, or `None` on a clean end of stream between frames.
    ///
    /// Written as a poll function: an idle session waits here on both legs, and a
    /// nested `async` state (tokio's readiness future) would cost each of them ~300
    /// bytes for as long as it idles.
    pub async fn next_frame(&mut self) -> Result<Option<BytesMut>, FrameError> {
        std::future::poll_fn(|cx| self.poll_next_frame(cx)).await
    }

    fn poll_next_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<BytesMut>, FrameError>> {
        loop {
            match decode_frame(&mut self.buf, self.max_frame)? {
                Ok(frame) => {
                    self.release_if_empty();
                    return Poll::Ready(Ok(Some(frame)));
                }
                Err(needed) => {
                    if !ready!(self.poll_fill(cx, needed))? {
                        return Poll::Ready(if self.buf.is_empty() {
                            Ok(None)
                        } else {
                            Err(FrameError::Truncated)
                        });
                    }
                }
            }
        }
    }

    /// The socket, for options the kernel keeps on it (the RTT of SPEC §5).
    pub fn socket(&self) -> &tokio::net::TcpStream {
        self.inner.as_ref()
    }

    /// Whether a whole frame is already buffered, so the next [`Self::next_frame`] needs no
    /// read. The relay batches its writes while this holds and flushes when it does not.
    pub fn has_frame_buffered(&self) -> bool {
        if self.buf.len() < 3 {
            return false;
        }
        let len = (usize::from(self.buf[0]) << 16)
            | (usize::from(self.buf[1]) << 8)
            | usize::from(self.buf[2]);
        self.buf.len() >= 3 + len
    }

    /// Exactly `n` raw bytes (preamble parts); end of stream is an error here.
    pub async fn read_exact(&mut self, n: usize) -> Result<BytesMut, FrameError> {
        while self.buf.len() < n {
            let needed = n - self.buf.len();
            if !self.fill(needed).await? {
                return Err(FrameError::Truncated);
            }
        }
        let out = self.buf.split_to(n);
        self.release_if_empty();
        Ok(out)
    }

    /// Looks at the next `n` bytes without consuming them.
    pub async fn peek(&mut self, n: usize) -> Result<&[u8], FrameError> {
        while self.buf.len() < n {
            let needed = n - self.buf.len();
            if !self.fill(needed).await? {
                return Err(FrameError::Truncated);
            }
        }
        Ok(&self.buf[..n])
    }

    /// Reads and discards until the peer closes. Closing a socket with unread bytes makes
    /// the kernel send a reset, and a reset can destroy what the peer has not read yet:
    /// the last stanzas written to it. Reading to the end lets the close be a clean FIN.
    pub async fn discard_to_end(&mut self) {
        self.buf = BytesMut::new();
        loop {
            if self.inner.readable().await.is_err() {
                return;
            }
            // Not held across the await, so it costs no space in the caller's future.
            let mut scratch = [0u8; 1024];
            match self.inner.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
        }
    }

    /// Reads once more from the socket, reserving room for at least `needed` bytes;
    /// false on end of stream.
    async fn fill(&mut self, needed: usize) -> Result<bool, FrameError> {
        std::future::poll_fn(|cx| self.poll_fill(cx, needed)).await
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>, needed: usize) -> Poll<Result<bool, FrameError>> {
        // Wait before allocating, so a quiet connection holds no buffer.
        ready!(self.inner.as_ref().poll_read_ready(cx))?;
        self.buf.reserve(needed.max(READ_CHUNK));
        // Through `AsyncRead` rather than `try_read_buf`: tokio clears the readiness when a
        // read comes back shorter than the room offered (the socket is drained), which
        // saves the `EAGAIN` read that would otherwise follow every burst, a large share
        // of the system calls of a lightly loaded session (strace of the benchmark's
        // latency workload shows it).
        match tokio_util::io::poll_read_buf(Pin::new(&mut self.inner), cx, &mut self.buf) {
            Poll::Ready(Ok(0)) => Poll::Ready(Ok(false)),
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(true)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => {
                // The readiness was stale; give the buffer back while waiting.
                self.release_if_empty();
                Poll::Pending
            }
        }
    }

    /// Drops the buffer's allocation once nothing is left in it.
    fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }
}

/// Writes frames to one socket.
pub struct FrameWriter {
    /// The socket's write half.
    inner: OwnedWriteHalf,
}

impl FrameWriter {
    /// Wraps a write half.
    pub fn new(inner: OwnedWriteHalf) -> Self {
        Self { inner }
    }

    /// Writes bytes that are already framed (or preamble bytes) in one call.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes).await
    }

    /// Writes what the socket takes now, without waiting; `WouldBlock` when it takes
    /// nothing.
    pub fn try_write_raw(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.inner.try_write(bytes)
    }

    /// Encodes a protobuf message into one frame (handshake messages).
    pub async fn write_message<M: prost::Message>(&mut self, message: &M) -> std::io::Result<()> {
        self.write_message_after(&[], message).await
    }

    /// Writes `head` (a PROXY header, a preamble) and one framed message in one write:
    /// one system call and one segment where two would do the same.
    pub async fn write_message_after<M: prost::Message>(
        &mut self,
        head: &[u8],
        message: &M,
    ) -> std::io::Result<()> {
        let len = message.encoded_len();
        let mut out = BytesMut::with_capacity(head.len() + 3 + len);
        out.extend_from_slice(head);
        put_header(&mut out, len);
        message
            .encode(&mut out)
            .expect("the buffer was sized from encoded_len");
        self.inner.write_all(&out).await
    }

    /// Closes the write direction, so the peer reads end of stream.
    pub async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn needs_more_then_yields_frame() {
        let mut buf = BytesMut::from(&[0u8, 0, 3, b'a'][..]);
        assert_eq!(decode_frame(&mut buf, 10).unwrap().unwrap_err(), 2);
        buf.extend_from_slice(b"bc\x00");
        assert_eq!(&decode_frame(&mut buf, 10).unwrap().unwrap()[..], b"abc");
        assert_eq!(decode_frame(&mut buf, 10).unwrap().unwrap_err(), 2);
    }

    #[test]
    fn too_large_is_refused_before_reading_it() {
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff][..]);
        assert!(matches!(
            decode_frame(&mut buf, 1 << 20),
            Err(FrameError::TooLarge { len: 0xff_ffff, .. })
        ));
    }

    proptest! {
        #[test]
        fn frames_round_trip_in_any_split(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8), cut in 0usize..2000) {
            let mut wire = BytesMut::new();
            for b in &bodies { put_header(&mut wire, b.len()); wire.extend_from_slice(b); }
            let cut = cut.min(wire.len());
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut out = Vec::new();
            let mut rest = &wire[cut..];
            loop {
                match decode_frame(&mut buf, 1000).unwrap() {
                    Ok(f) => out.push(f.to_vec()),
                    Err(_) if rest.is_empty() => break,
                    Err(_) => { buf.extend_from_slice(&rest[..1]); rest = &rest[1..]; }
                }
            }
            prop_assert_eq!(out, bodies);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..100) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Ok(_)) = decode_frame(&mut buf, max) {}
        }
    }
}
