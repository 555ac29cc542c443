//! The transport phase (SPEC §2.4): one AES-256-GCM ciphertext per frame, empty
//! associated data, a 64-bit counter per direction.
//!
//! The two directions are separate values so that the proxy's reader and writer tasks
//! can each own one without a lock.

use bytes::BytesMut;
use snow::types::Cipher;
use zeroize::Zeroizing;

use super::error::NoiseError;
use super::symmetric::{wipe_cipher, Backend, LEN, TAG_LEN};

/// Both directions of an established session.
pub struct TransportState {
    /// Our outgoing direction.
    pub send: SendCipher,
    /// Our incoming direction.
    pub recv: RecvCipher,
}

impl TransportState {
    pub(crate) fn new(
        backend: Backend,
        send_key: Zeroizing<[u8; LEN]>,
        recv_key: Zeroizing<[u8; LEN]>,
    ) -> Result<Self, NoiseError> {
        let mut send = backend.cipher()?;
        send.set(&send_key);
        let mut recv = backend.cipher()?;
        recv.set(&recv_key);
        Ok(Self {
            send: SendCipher { cipher: send, n: 0 },
            recv: RecvCipher {
                cipher: recv,
                n: 0,
                failed: false,
            },
        })
    }
}

impl std::fmt::Debug for TransportState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportState")
            .field("send", &self.send)
            .field("recv", &self.recv)
            .finish()
    }
}

/// The outgoing half.
pub struct SendCipher {
    cipher: Box<dyn Cipher>,
    n: u64,
}

impl SendCipher {
    /// Appends ciphertext||tag (plaintext.len()+16 bytes) to `out`.
    ///
    /// Writing into the caller's buffer lets the frame header and ciphertext share one
    /// allocation; nothing is allocated here when `out` has the capacity.
    pub fn encrypt(&mut self, plaintext: &[u8], out: &mut BytesMut) -> Result<(), NoiseError> {
        // 2^64-1 is reserved by Noise; reusing a nonce would void AES-GCM entirely.
        if self.n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let start = out.len();
        out.resize(start + plaintext.len() + TAG_LEN, 0);
        self.cipher
            .encrypt(self.n, &[], plaintext, &mut out[start..]);
        self.n += 1;
        Ok(())
    }

    /// How many frames have been sent.
    pub fn counter(&self) -> u64 {
        self.n
    }
}

impl Drop for SendCipher {
    fn drop(&mut self) {
        wipe_cipher(self.cipher.as_mut());
    }
}

impl std::fmt::Debug for SendCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendCipher").field("n", &self.n).finish()
    }
}

/// The incoming half.
pub struct RecvCipher {
    cipher: Box<dyn Cipher>,
    n: u64,
    /// Set by the first bad frame: the session is over, and refusing everything after it
    /// leaves an attacker no decryption oracle to probe.
    failed: bool,
}

impl RecvCipher {
    /// Decrypts in place; returns the plaintext length (ciphertext.len() - 16). Error on bad tag / short input.
    pub fn decrypt_in_place(&mut self, buf: &mut [u8]) -> Result<usize, NoiseError> {
        if self.failed {
            return Err(NoiseError::WrongState("transport failed earlier"));
        }
        if buf.len() < TAG_LEN {
            self.failed = true;
            return Err(NoiseError::BadLength {
                what: "frame",
                expected: TAG_LEN,
                got: buf.len(),
            });
        }
        if self.n == u64::MAX {
            self.failed = true;
            return Err(NoiseError::NonceExhausted);
        }
        // snow's cipher cannot decrypt in place; a short-lived copy of the ciphertext
        // keeps no buffer alive between frames, so an idle session holds none.
        let ciphertext = buf.to_vec();
        let result = self.cipher.decrypt(self.n, &[], &ciphertext, buf);
        match result {
            Ok(len) => {
                self.n += 1;
                Ok(len)
            }
            Err(_) => {
                self.failed = true;
                Err(NoiseError::Decrypt)
            }
        }
    }

    /// How many frames have been received.
    pub fn counter(&self) -> u64 {
        self.n
    }
}

impl Drop for RecvCipher {
    fn drop(&mut self) {
        wipe_cipher(self.cipher.as_mut());
    }
}

impl std::fmt::Debug for RecvCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvCipher")
            .field("n", &self.n)
            .field("failed", &self.failed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(backend: Backend) -> (TransportState, TransportState) {
        let k1 = Zeroizing::new([1u8; 32]);
        let k2 = Zeroizing::new([2u8; 32]);
        (
            TransportState::new(backend, k1.clone(), k2.clone()).unwrap(),
            TransportState::new(backend, k2, k1).unwrap(),
        )
    }

    #[test]
    fn halves_can_move_to_separate_tasks() {
        fn assert_send_static<T: Send + 'static>() {}
        assert_send_static::<SendCipher>();
        assert_send_static::<RecvCipher>();
        assert_send_static::<TransportState>();
    }

    #[test]
    fn round_trip_appends_and_counts() {
        for backend in [Backend::Ring, Backend::Snow] {
            let (mut a, mut b) = pair(backend);
            let mut out = BytesMut::from(&b"hdr"[..]);
            a.send.encrypt(b"stanza", &mut out).unwrap();
            assert_eq!(out.len(), 3 + 6 + 16);
            assert_eq!(&out[..3], b"hdr");
            let mut frame = out[3..].to_vec();
            let n = b.recv.decrypt_in_place(&mut frame).unwrap();
            assert_eq!(&frame[..n], b"stanza");
            assert_eq!((a.send.counter(), b.recv.counter()), (1, 1));
        }
    }

    #[test]
    fn backends_produce_the_same_ciphertext() {
        let (mut a, _) = pair(Backend::Ring);
        let (mut b, _) = pair(Backend::Snow);
        let (mut x, mut y) = (BytesMut::new(), BytesMut::new());
        a.send.encrypt(b"same", &mut x).unwrap();
        b.send.encrypt(b"same", &mut y).unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn short_frames_fail_and_poison() {
        let (mut a, mut b) = pair(Backend::Ring);
        assert!(matches!(
            b.recv.decrypt_in_place(&mut [0u8; 15]),
            Err(NoiseError::BadLength { .. })
        ));
        let mut out = BytesMut::new();
        a.send.encrypt(b"", &mut out).unwrap();
        assert!(b.recv.decrypt_in_place(&mut out).is_err());
    }

    #[test]
    fn frames_of_any_size_decrypt_in_place() {
        let (mut a, mut b) = pair(Backend::Ring);
        for len in [1000, 200_000, 10] {
            let mut out = BytesMut::new();
            a.send.encrypt(&vec![7u8; len], &mut out).unwrap();
            assert_eq!(b.recv.decrypt_in_place(&mut out).unwrap(), len);
            assert!(out[..len].iter().all(|&x| x == 7));
        }
    }

    #[test]
    fn empty_plaintext_is_a_bare_tag() {
        let (mut a, mut b) = pair(Backend::Snow);
        let mut out = BytesMut::new();
        a.send.encrypt(b"", &mut out).unwrap();
        assert_eq!(out.len(), 16);
        assert_eq!(b.recv.decrypt_in_place(&mut out).unwrap(), 0);
    }
}
