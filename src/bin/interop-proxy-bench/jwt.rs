//! The provider's side of client authentication for the bench: a signing key made for
//! the run, its JWKS file for the proxy (`auth.mode = "jwt"`, as deployed), and a token
//! per account for the clients. Every path carries the same tokens, so the payloads the
//! direct and relayed paths see are the proxy's too.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::json;

/// `auth.issuer` of the bench's proxy.
pub const ISSUER: &str = "https://provider.example";
/// `auth.audience` of the bench's proxy.
pub const AUDIENCE: &str = "interop-proxy";
const KID: &str = "bench-1";

/// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): what `EncodingKey` reads.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Issues tokens for the run.
pub struct Tokens {
    key: EncodingKey,
    header: Header,
    /// The JWKS file the proxy reads.
    pub jwks_file: PathBuf,
}

impl Tokens {
    /// A fresh Ed25519 key; writes its JWKS to `dir`.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        der.extend_from_slice(&seed);
        let key = EncodingKey::from_ed_der(&der);
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA)?;
        jwk.common.key_id = Some(KID.into());
        let jwks_file = dir.join("jwks.json");
        std::fs::write(&jwks_file, serde_json::to_vec(&JwkSet { keys: vec![jwk] })?)?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(KID.into());
        Ok(Self {
            key,
            header,
            jwks_file,
        })
    }

    /// A token for `account`, valid for a day.
    pub fn token(&self, account: u64) -> Vec<u8> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = json!({
            "sub": account.to_string(),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": now + 86_400,
            "nbf": now.saturating_sub(60),
        });
        encode(&self.header, &claims, &self.key)
            .map(String::into_bytes)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_against_the_jwks() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::new(dir.path()).unwrap();
        let set: JwkSet =
            serde_json::from_slice(&std::fs::read(&tokens.jwks_file).unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let token = String::from_utf8(tokens.token(42)).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "42");
    }
}
