//! The few `ClientPayload` fields the proxy reads (SPEC §2.6).
//!
//! The proxy forwards the payload byte for byte, so this is a *view*: it is decoded
//! from the original bytes, which are kept, and never re-encoded.

use bytes::Bytes;
use prost::Message;

/// The fields of `ClientPayload` the proxy uses. Every other field is skipped.
///
/// `Debug` is written by hand: the derived one would print the phone number.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct ClientPayloadFields {
    /// The account's phone number; logged at debug level only.
    #[prost(uint64, optional, tag = "1")]
    pub username: Option<u64>,
    /// Platform and app version, for the capability rules.
    #[prost(message, optional, tag = "5")]
    pub user_agent: Option<UserAgent>,
    /// `INTEROP = 2`, `INTEROP_MSGR = 3`; checked against `auth.products`.
    #[prost(int32, optional, tag = "20")]
    pub product: Option<i32>,
    /// The provider's account id and token.
    #[prost(message, optional, tag = "38")]
    pub interop_data: Option<InteropData>,
}

/// `UserAgent { platform = 1, app_version = 2 }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserAgent {
    /// `UserAgent.Platform` enum value.
    #[prost(int32, optional, tag = "1")]
    pub platform: Option<i32>,
    /// The client's version.
    #[prost(message, optional, tag = "2")]
    pub app_version: Option<AppVersion>,
}

/// `AppVersion { primary..quaternary = 1..4 }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppVersion {
    /// Major.
    #[prost(uint32, optional, tag = "1")]
    pub primary: Option<u32>,
    /// Minor.
    #[prost(uint32, optional, tag = "2")]
    pub secondary: Option<u32>,
    /// Patch.
    #[prost(uint32, optional, tag = "3")]
    pub tertiary: Option<u32>,
    /// Build.
    #[prost(uint32, optional, tag = "4")]
    pub quaternary: Option<u32>,
}

impl AppVersion {
    /// The version as four numbers, missing parts 0, for ordered comparison.
    pub fn parts(&self) -> [u32; 4] {
        [
            self.primary.unwrap_or(0),
            self.secondary.unwrap_or(0),
            self.tertiary.unwrap_or(0),
            self.quaternary.unwrap_or(0),
        ]
    }
}

/// `InteropData { account_id = 1, token = 2, enable_read_receipts = 3 }`.
///
/// `Debug` is written by hand: the derived one would print the token.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct InteropData {
    /// The provider's account id; the JWT's `sub` must equal it in decimal.
    #[prost(uint64, optional, tag = "1")]
    pub account_id: Option<u64>,
    /// The JWT.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub token: Option<Vec<u8>>,
    /// Passed through; the proxy does not act on it.
    #[prost(bool, optional, tag = "3")]
    pub enable_read_receipts: Option<bool>,
}

/// A received `ClientPayload`: its exact bytes and the fields read from them.
#[derive(Clone)]
pub struct ClientPayloadView {
    /// The bytes as the client sent them; these go upstream unchanged.
    raw: Bytes,
    /// What the proxy reads.
    fields: ClientPayloadFields,
}

impl ClientPayloadView {
    /// Decodes the fields the proxy needs; the bytes are kept as they are.
    pub fn parse(raw: Bytes) -> Result<Self, prost::DecodeError> {
        let fields = ClientPayloadFields::decode(raw.as_ref())?;
        Ok(Self { raw, fields })
    }

    /// The payload exactly as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The decoded fields.
    pub fn fields(&self) -> &ClientPayloadFields {
        &self.fields
    }

    /// The provider account id, if the client sent interop data.
    pub fn account_id(&self) -> Option<u64> {
        self.fields.interop_data.as_ref()?.account_id
    }
}

impl std::fmt::Debug for ClientPayloadFields {
    /// Says whether the username is there, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPayloadFields")
            .field("username", &self.username.map(|_| Redacted))
            .field("user_agent", &self.user_agent)
            .field("product", &self.product)
            .field("interop_data", &self.interop_data)
            .finish()
    }
}

impl std::fmt::Debug for InteropData {
    /// The token's length only; the account id is the provider's, not a phone number,
    /// but it names a user too, so it is left out as well.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteropData")
            .field("account_id", &self.account_id.map(|_| Redacted))
            .field("token_len", &self.token.as_ref().map(Vec::len))
            .field("enable_read_receipts", &self.enable_read_receipts)
            .finish()
    }
}

/// Stands for a value that must not reach a log.
struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Debug for ClientPayloadView {
    /// Prints no field: the payload holds the user's phone number and token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPayloadView")
            .field("len", &self.raw.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every handshake type that can carry the payload, formatted with `{:?}` and
    /// `{:#?}`, shows neither the phone number nor the token.
    #[test]
    fn no_handshake_type_prints_the_username_or_the_token() {
        use crate::wa_proto::{ClientFinish, ClientHello, HandshakeMessage};
        let fields = ClientPayloadFields {
            username: Some(4915112345678),
            user_agent: None,
            product: Some(2),
            interop_data: Some(InteropData {
                account_id: Some(90210777),
                token: Some(b"eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln".to_vec()),
                enable_read_receipts: None,
            }),
        };
        let raw = fields.encode_to_vec();
        let view = ClientPayloadView::parse(Bytes::from(raw.clone())).unwrap();
        let message = HandshakeMessage {
            client_hello: Some(ClientHello {
                payload: Some(raw.clone()),
                ..Default::default()
            }),
            client_finish: Some(ClientFinish {
                payload: Some(raw),
                ..Default::default()
            }),
            ..Default::default()
        };
        let shown = [
            format!("{fields:?} {fields:#?}"),
            format!("{:?}", fields.interop_data),
            format!("{view:?} {view:#?} {:?}", view.fields()),
            format!("{message:?} {message:#?}"),
        ];
        for text in shown {
            for secret in ["4915112345678", "90210777", "eyJhbGci", "c2VjcmV0"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        // Raw payload bytes print as numbers: the token's bytes must not spell it out
        // either way (prost prints `Vec<u8>` as a list of numbers).
        assert!(format!("{fields:?}").contains("token_len: Some(34)"));
    }

    #[test]
    fn unknown_fields_are_kept_in_raw_and_ignored_in_view() {
        let fields = ClientPayloadFields {
            username: Some(491234),
            user_agent: Some(UserAgent {
                platform: Some(1),
                app_version: Some(AppVersion {
                    primary: Some(2),
                    secondary: Some(24),
                    ..Default::default()
                }),
            }),
            product: Some(2),
            interop_data: Some(InteropData {
                account_id: Some(77),
                token: Some(b"tok".to_vec()),
                enable_read_receipts: Some(true),
            }),
        };
        let mut raw = fields.encode_to_vec();
        // field 99, varint 5: unknown to us
        raw.extend_from_slice(&[0x98, 0x06, 0x05]);
        let view = ClientPayloadView::parse(Bytes::from(raw.clone())).unwrap();
        assert_eq!(view.raw().as_ref(), &raw[..]);
        assert_eq!(view.fields(), &fields);
        assert_eq!(view.account_id(), Some(77));
        assert_eq!(
            view.fields()
                .user_agent
                .as_ref()
                .unwrap()
                .app_version
                .as_ref()
                .unwrap()
                .parts(),
            [2, 24, 0, 0]
        );
    }
}
