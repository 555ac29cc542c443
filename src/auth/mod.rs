//! Client authentication (SPEC §4): who may open an upstream session.

use crate::handshake::ClientPayloadView;
use crate::proxy::SessionError;

/// Decides whether a client's payload lets it through.
pub struct Authenticator {
    /// `auth.products`: the `ClientPayload.product` values allowed.
    pub products: Vec<i32>,
}

impl Authenticator {
    /// Checks the product allow-list. A refused client gets 403.
    pub async fn check(&self, payload: &ClientPayloadView) -> Result<(), SessionError> {
        let product = payload.fields().product.unwrap_or(0);
        if !self.products.contains(&product) {
            return Err(SessionError::ProductNotAllowed);
        }
        Ok(())
    }
}
