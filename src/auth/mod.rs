//! Client authentication (SPEC §4): who may open an upstream session.
//!
//! A client proves itself with a JWT in `interop_data.token`; its `sub` must be the
//! `account_id` it claims. The product allow-list is checked after the token, so a
//! client learns "forbidden" only once it is known who it is.

mod jwks;
mod verified;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Validation};
use serde::Deserialize;

use crate::wa_proto::ClientPayloadView;

pub use jwks::{KeySet, KeySource};
pub use verified::Verified;

/// Why a client may not pass. The session maps it to 401 or 403; the detail goes to
/// the debug log only, and never the token itself.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is absent or does not verify.
    #[error("authentication failed: {0}")]
    Unauthenticated(#[source] TokenError),
    /// The client's product is not on the allow-list.
    #[error("product not allowed")]
    ProductNotAllowed,
}

/// What is wrong with a client's token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The payload has no `interop_data`.
    #[error("no interop_data")]
    NoInteropData,
    /// `interop_data` has no `account_id`.
    #[error("no account_id")]
    NoAccountId,
    /// `interop_data` has no token, or an empty one.
    #[error("no token")]
    NoToken,
    /// The token's bytes are not UTF-8.
    #[error("token is not UTF-8")]
    NotUtf8,
    /// The JOSE header does not decode (this covers `alg: none` and unknown algorithms).
    #[error("header: {0}")]
    Header(#[source] jsonwebtoken::errors::Error),
    /// No key of the key set has the token's `kid`.
    #[error("unknown key id")]
    UnknownKey,
    /// The header's `alg` is not the key's.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature, a time claim, `iss`, `aud` or `sub` does not verify.
    #[error("{0}")]
    Claims(#[source] jsonwebtoken::errors::Error),
}

/// Decides whether a client's payload lets it through.
pub struct Authenticator {
    /// `auth.products`: the `ClientPayload.product` values allowed.
    pub products: Vec<i32>,
    /// `None` for `auth.mode = "none"`.
    pub jwt: Option<JwtVerifier>,
}

/// Verifies tokens against a key set and the configured claims.
pub struct JwtVerifier {
    /// The provider's public keys.
    pub keys: Arc<KeySet>,
    /// Required `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Tokens that passed, so their next use skips the signature.
    pub verified: Verified,
}

/// The claims the proxy reads; the signature covers them all.
#[derive(Deserialize)]
struct Claims {
    /// Must equal the decimal account id.
    #[allow(dead_code)]
    sub: String,
    /// Expiry, Unix seconds: how long a verified token may be kept.
    exp: u64,
}

impl Authenticator {
    /// Checks the token (if required) and then the product allow-list.
    pub async fn check(&self, payload: &ClientPayloadView) -> Result<(), AuthError> {
        if let Some(jwt) = &self.jwt {
            jwt.verify(payload)
                .await
                .map_err(AuthError::Unauthenticated)?;
        }
        let product = payload.fields().product.unwrap_or(0);
        if !self.products.contains(&product) {
            return Err(AuthError::ProductNotAllowed);
        }
        Ok(())
    }
}

impl JwtVerifier {
    /// Verifies the token in the payload.
    pub async fn verify(&self, payload: &ClientPayloadView) -> Result<(), TokenError> {
        let interop = payload
            .fields()
            .interop_data
            .as_ref()
            .ok_or(TokenError::NoInteropData)?;
        let account = interop.account_id.ok_or(TokenError::NoAccountId)?;
        let token = interop
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::NoToken)?;
        let token = std::str::from_utf8(token).map_err(|_| TokenError::NotUtf8)?;
        let digest = Verified::digest(token);
        let generation = self.keys.generation();
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.leeway.as_secs();
        if self
            .verified
            .passes(&digest, account, generation, now, leeway)
        {
            return Ok(());
        }
        // `alg: none` and unknown algorithms fail here: jsonwebtoken has no such variant.
        let header = decode_header(token).map_err(TokenError::Header)?;
        let kid = header.kid.as_deref().unwrap_or("");
        let key = self.keys.get(kid).await.ok_or(TokenError::UnknownKey)?;
        // The key decides the algorithm, never the token: this is what stops algorithm
        // confusion (an RSA public key used as an HMAC secret, say).
        if header.alg != key.algorithm {
            return Err(TokenError::AlgorithmMismatch);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.algorithms = vec![key.algorithm];
        validation.leeway = leeway;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.sub = Some(account.to_string());
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(TokenError::Claims)?
            .claims;
        self.verified
            .remember(digest, account, claims.exp, generation);
        Ok(())
    }
}
