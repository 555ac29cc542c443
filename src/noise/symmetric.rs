//! The Noise `SymmetricState` (rev 34 §5.2) with the WhatsApp sharpenings of SPEC §2.4.
//!
//! snow keeps its symmetric state private and cannot express the WhatsApp quirk or the
//! fallback modifier, so the state machine lives here while every primitive (SHA-256,
//! HKDF, AES-256-GCM, X25519) comes from a snow resolver.

use snow::params::{CipherChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, FallbackResolver, RingResolver};
use snow::types::{Cipher, Hash};
use zeroize::{Zeroize, Zeroizing};

use super::error::NoiseError;
use super::keys::Keypair;
use super::x25519;

/// Length of hashes, chaining keys, cipher keys and X25519 values.
pub(crate) const LEN: usize = 32;
/// Length of an AES-GCM tag.
pub(crate) const TAG_LEN: usize = 16;

/// Which snow resolver supplies the primitives.
///
/// A parameter rather than a constant so that a benchmark can compare them on the
/// transport hot path without touching the handshake code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// ring's SHA-256 and AES-GCM, and AWS-LC's X25519 (snow's ring resolver has
    /// none, and ring's own takes only ephemeral keys).
    #[default]
    Ring,
    /// snow's default resolver (RustCrypto, curve25519-dalek) for everything; the tests
    /// cross-check against it and the benchmarks compare with it.
    #[cfg(any(test, feature = "bench"))]
    Snow,
}

impl Backend {
    fn resolver(self) -> Box<dyn CryptoResolver> {
        match self {
            // The fallback only matters for X25519, which ring's resolver lacks.
            Backend::Ring => Box::new(FallbackResolver::new(
                Box::new(RingResolver),
                Box::new(DefaultResolver),
            )),
            #[cfg(any(test, feature = "bench"))]
            Backend::Snow => Box::new(DefaultResolver),
        }
    }

    pub(crate) fn hash(self) -> Result<Box<dyn Hash>, NoiseError> {
        self.resolver()
            .resolve_hash(&HashChoice::SHA256)
            .ok_or(NoiseError::Unsupported("SHA256"))
    }

    pub(crate) fn cipher(self) -> Result<Box<dyn Cipher>, NoiseError> {
        self.resolver()
            .resolve_cipher(&CipherChoice::AESGCM)
            .ok_or(NoiseError::Unsupported("AESGCM"))
    }

    /// X25519 of a local key pair with a remote public key.
    ///
    /// Called directly rather than through snow's `Dh`: its `set` recomputes the public
    /// key on every call, and wiping its copy of the private key afterwards costs a
    /// second such multiplication, which together made up a third of a handshake's CPU.
    ///
    /// An all-zero result means the peer sent a low-order point, which would make every
    /// later key independent of our secret; Noise permits rejecting it, and we do.
    pub(crate) fn dh(
        self,
        local: &Keypair,
        remote: &[u8; LEN],
    ) -> Result<Zeroizing<[u8; LEN]>, NoiseError> {
        let shared = match self {
            Backend::Ring => x25519::dh(local.secret.expose(), remote),
            #[cfg(any(test, feature = "bench"))]
            Backend::Snow => x25519::dalek_dh(local.secret.expose(), remote),
        };
        shared.ok_or(NoiseError::Dh)
    }
}

/// Wipes a snow cipher's key: snow's own cipher objects do not zeroize on drop.
pub(crate) fn wipe_cipher(cipher: &mut dyn Cipher) {
    cipher.set(&[0u8; LEN]);
}

/// `ck`, `h` and the handshake `CipherState`.
pub(crate) struct SymmetricState {
    backend: Backend,
    hasher: Box<dyn Hash>,
    cipher: Box<dyn Cipher>,
    ck: Zeroizing<[u8; LEN]>,
    h: [u8; LEN],
    k: Zeroizing<[u8; LEN]>,
    has_key: bool,
    n: u64,
}

impl SymmetricState {
    /// `InitializeSymmetric(name)` followed by `MixHash(prologue)`.
    ///
    /// Names of at most 32 bytes are zero-padded, longer ones hashed: that is how the
    /// 28-byte XX/IK names and the 36-byte XXfallback name end up as SPEC §2.4 wants.
    pub(crate) fn new(
        backend: Backend,
        protocol_name: &[u8],
        prologue: &[u8],
    ) -> Result<Self, NoiseError> {
        let mut hasher = backend.hash()?;
        let mut h = [0u8; LEN];
        if protocol_name.len() <= LEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            hasher.reset();
            hasher.input(protocol_name);
            hasher.result(&mut h);
        }
        let mut state = Self {
            backend,
            hasher,
            cipher: backend.cipher()?,
            ck: Zeroizing::new(h),
            h,
            k: Zeroizing::new([0u8; LEN]),
            has_key: false,
            n: 0,
        };
        state.mix_hash(prologue);
        Ok(state)
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The handshake hash, for channel binding and tests.
    pub(crate) fn handshake_hash(&self) -> [u8; LEN] {
        self.h
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.hasher.reset();
        self.hasher.input(&self.h);
        self.hasher.input(data);
        self.hasher.result(&mut self.h);
    }

    /// HKDF(ck, ikm) -> ck ‖ k, and the nonce restarts because the key is new.
    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let mut ck = Zeroizing::new([0u8; LEN]);
        let mut unused = [0u8; 0];
        self.hasher.hkdf(
            self.ck.as_ref(),
            ikm,
            2,
            ck.as_mut(),
            self.k.as_mut(),
            &mut unused,
        );
        self.ck.copy_from_slice(ck.as_ref());
        self.cipher.set(&self.k);
        self.has_key = true;
        self.n = 0;
    }

    fn next_nonce(&mut self) -> Result<u64, NoiseError> {
        // Noise reserves 2^64-1; a handshake never gets near it, but the check is free.
        if self.n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let n = self.n;
        self.n += 1;
        Ok(n)
    }

    /// Noise `EncryptAndHash`. Callers implement the WhatsApp quirk by not calling this
    /// for the keyless XX first-message payload.
    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if !self.has_key {
            self.mix_hash(plaintext);
            return Ok(plaintext.to_vec());
        }
        let n = self.next_nonce()?;
        let mut out = vec![0u8; plaintext.len() + TAG_LEN];
        let len = self.cipher.encrypt(n, &self.h, plaintext, &mut out);
        out.truncate(len);
        self.mix_hash(&out);
        Ok(out)
    }

    /// Noise `DecryptAndHash`. On failure the state is left unusable by the callers,
    /// which poison the handshake.
    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if !self.has_key {
            self.mix_hash(ciphertext);
            return Ok(ciphertext.to_vec());
        }
        if ciphertext.len() < TAG_LEN {
            return Err(NoiseError::BadLength {
                what: "ciphertext",
                expected: TAG_LEN,
                got: ciphertext.len(),
            });
        }
        let n = self.next_nonce()?;
        let mut out = vec![0u8; ciphertext.len()];
        let len = self
            .cipher
            .decrypt(n, &self.h, ciphertext, &mut out)
            .map_err(|_| NoiseError::Decrypt)?;
        out.truncate(len);
        self.mix_hash(ciphertext);
        Ok(out)
    }

    /// Noise `Split`: (initiator-to-responder key, responder-to-initiator key).
    pub(crate) fn split(&mut self) -> (Zeroizing<[u8; LEN]>, Zeroizing<[u8; LEN]>) {
        let mut k1 = Zeroizing::new([0u8; LEN]);
        let mut k2 = Zeroizing::new([0u8; LEN]);
        let mut unused = [0u8; 0];
        self.hasher.hkdf(
            self.ck.as_ref(),
            &[],
            2,
            k1.as_mut(),
            k2.as_mut(),
            &mut unused,
        );
        (k1, k2)
    }
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        // ck and k are Zeroizing; the copy of k inside snow's cipher object is not.
        wipe_cipher(self.cipher.as_mut());
        self.h.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_padded_and_long_names_hashed() {
        for backend in [Backend::Ring, Backend::Snow] {
            let s = SymmetricState::new(backend, b"Noise_XX_25519_AESGCM_SHA256", &[]).unwrap();
            // h = MixHash(empty) of the padded name.
            let mut padded = [0u8; 32];
            padded[..28].copy_from_slice(b"Noise_XX_25519_AESGCM_SHA256");
            let mut hasher = backend.hash().unwrap();
            let mut expect = [0u8; 32];
            hasher.reset();
            hasher.input(&padded);
            hasher.result(&mut expect);
            assert_eq!(s.handshake_hash(), expect);

            let name = b"Noise_XXfallback_25519_AESGCM_SHA256";
            assert_eq!(name.len(), 36);
            let s = SymmetricState::new(backend, name, &[]).unwrap();
            let mut named = [0u8; 32];
            hasher.reset();
            hasher.input(name);
            hasher.result(&mut named);
            hasher.reset();
            hasher.input(&named);
            hasher.result(&mut expect);
            assert_eq!(s.handshake_hash(), expect);
        }
    }

    #[test]
    fn backends_agree() {
        let run = |backend| {
            let mut s = SymmetricState::new(backend, b"name", b"WA\x06\x03").unwrap();
            s.mix_key(&[7u8; 32]);
            let ct = s.encrypt_and_hash(b"hello").unwrap();
            let (k1, k2) = s.split();
            (ct, s.handshake_hash(), *k1, *k2)
        };
        assert_eq!(run(Backend::Ring), run(Backend::Snow));
    }

    #[test]
    fn decrypt_rejects_short_and_tampered_ciphertext() {
        let mut a = SymmetricState::new(Backend::Ring, b"name", &[]).unwrap();
        let mut b = SymmetricState::new(Backend::Ring, b"name", &[]).unwrap();
        a.mix_key(&[1u8; 32]);
        b.mix_key(&[1u8; 32]);
        let mut ct = a.encrypt_and_hash(b"x").unwrap();
        assert!(matches!(
            b.decrypt_and_hash(&ct[..15]),
            Err(NoiseError::BadLength { .. })
        ));
        ct[0] ^= 1;
        assert!(matches!(b.decrypt_and_hash(&ct), Err(NoiseError::Decrypt)));
    }
}
