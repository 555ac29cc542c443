//! Curve25519 key material and its file format (SPEC §6).
//!
//! Private keys live in [`SecretKey`], whose `Debug` prints nothing and whose bytes are
//! wiped on drop, so a key cannot leak through a log line or a stale heap page.

use std::path::Path;

use base64::Engine;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 32-byte secret: a Curve25519 private key or a derivation seed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random secret from the OS generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The raw bytes, for the crypto primitives only.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads a key file: standard base64 of 32 raw bytes, optional trailing newline.
    pub fn read_file(path: &Path) -> Result<Self, KeyFileError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| KeyFileError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?);
        Self::from_base64(text.trim_end_matches(['\n', '\r'])).map_err(|reason| KeyFileError {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("not base64: {e}"))?,
        );
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| format!("expected 32 bytes, found {}", raw.len()))?;
        Ok(Self(bytes))
    }

    /// The key file text: base64 and a newline.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        ))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A key file that could not be read, named by path, without its content.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct KeyFileError {
    /// The file.
    pub path: String,
    /// What was wrong with it.
    pub reason: String,
}

/// A Curve25519 key pair.
#[derive(Clone, Debug)]
pub struct Keypair {
    /// The private scalar (clamped when used).
    pub secret: SecretKey,
    /// `X25519(secret, 9)`.
    pub public: [u8; 32],
}

impl Keypair {
    /// Derives the public key from a private key.
    pub fn from_secret(secret: SecretKey) -> Self {
        let public = super::x25519::public_key(secret.expose());
        Self { secret, public }
    }

    /// A new random key pair.
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::generate())
    }

    /// A handshake's ephemeral key pair. Drawn from the thread's CSPRNG (ChaCha12, seeded
    /// and periodically reseeded from the OS) rather than the OS directly: every session
    /// draws two, and a `getrandom` system call for each is a measurable share of a
    /// login's cost.
    pub fn ephemeral() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(&mut *bytes);
        Self::from_secret(SecretKey::from_bytes(*bytes))
    }

    /// Reads the private key file and derives the public key.
    pub fn read_file(path: &Path) -> Result<Self, KeyFileError> {
        SecretKey::read_file(path).map(Self::from_secret)
    }
}

/// Parses a base64 public key (config values `upstream.root_key`, `upstream.server_key`).
pub fn public_key_from_base64(text: &str) -> Result<[u8; 32], String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| format!("expected 32 bytes, found {}", raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_debug_hides_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let kp = Keypair::generate();
        std::fs::write(&path, kp.secret.to_file_text().as_bytes()).unwrap();
        let back = Keypair::read_file(&path).unwrap();
        assert_eq!(back.public, kp.public);
        assert_eq!(format!("{:?}", back.secret), "SecretKey(..)");
        assert!(!format!("{back:?}").contains(&hex::encode(kp.secret.expose())));
    }

    #[test]
    fn key_file_errors_name_the_problem() {
        assert!(SecretKey::from_base64("AAAA")
            .unwrap_err()
            .contains("32 bytes"));
        assert!(SecretKey::from_base64("!!").unwrap_err().contains("base64"));
    }
}
