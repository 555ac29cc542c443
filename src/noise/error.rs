//! Why a Noise step failed: shared by the handshake, the symmetric state and the transport
//! cipher, so none of them depends on another for its error type.

/// Why a handshake or transport step failed. Carries no key material.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// A protobuf field the pattern needs is absent.
    #[error("handshake message lacks field `{0}`")]
    MissingField(&'static str),
    /// A key, ciphertext or frame has the wrong size.
    #[error("{what}: expected {expected} bytes, got {got}")]
    BadLength {
        /// Which value.
        what: &'static str,
        /// The required length (a minimum for ciphertexts and frames).
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// An AEAD tag did not verify.
    #[error("decryption failed")]
    Decrypt,
    /// X25519 failed or produced the all-zero value (a low-order peer key).
    #[error("Diffie-Hellman failed")]
    Dh,
    /// A method was called out of order, or after an earlier error.
    #[error("wrong handshake state: {0}")]
    WrongState(&'static str),
    /// The 64-bit nonce counter ran out.
    #[error("nonce counter exhausted")]
    NonceExhausted,
    /// The crypto backend lacks a primitive.
    #[error("crypto backend lacks {0}")]
    Unsupported(&'static str),
}
