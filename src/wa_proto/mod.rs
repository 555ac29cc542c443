//! The protobuf messages of the handshake (SPEC §2.3, §2.5, §2.6).
//!
//! Written with `prost` derives rather than generated from `.proto` files, so the build
//! needs no `protoc`. Unknown fields are skipped by prost's decoder, which is what the
//! SPEC asks for (newer peers add post-quantum fields 4-10).

pub mod client_payload;

pub use client_payload::{AppVersion, ClientPayloadView, InteropData, UserAgent};

/// The envelope of every handshake frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HandshakeMessage {
    /// First message, client to server.
    #[prost(message, optional, tag = "2")]
    pub client_hello: Option<ClientHello>,
    /// Second message, server to client.
    #[prost(message, optional, tag = "3")]
    pub server_hello: Option<ServerHello>,
    /// Third message (XX and XXfallback only), client to server.
    #[prost(message, optional, tag = "4")]
    pub client_finish: Option<ClientFinish>,
}

/// `-> e [, s, payload]`: the initiator's first message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientHello {
    /// The initiator's ephemeral public key, in clear.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ephemeral: Option<Vec<u8>>,
    /// IK only: the initiator's encrypted static key (48 bytes).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub r#static: Option<Vec<u8>>,
    /// IK only: the encrypted `ClientPayload`.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub payload: Option<Vec<u8>>,
}

/// `<- e [, s], payload`: the responder's message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerHello {
    /// The responder's ephemeral public key, in clear.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ephemeral: Option<Vec<u8>>,
    /// XX and XXfallback: the responder's encrypted static key (48 bytes).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub r#static: Option<Vec<u8>>,
    /// The encrypted payload: a `CertChain` in XX and XXfallback, empty in IK.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub payload: Option<Vec<u8>>,
}

/// `-> s, payload`: the initiator's last message in XX and XXfallback.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientFinish {
    /// The initiator's encrypted static key (48 bytes).
    #[prost(bytes = "vec", optional, tag = "1")]
    pub r#static: Option<Vec<u8>>,
    /// The encrypted `ClientPayload`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub payload: Option<Vec<u8>>,
}

/// `CertChain { leaf = 1, intermediate = 2 }` (SPEC §2.5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CertChain {
    /// The certificate of the peer's Noise static key.
    #[prost(message, optional, tag = "1")]
    pub leaf: Option<NoiseCertificate>,
    /// The certificate signed by the root key, whose key signs the leaf.
    #[prost(message, optional, tag = "2")]
    pub intermediate: Option<NoiseCertificate>,
}

/// A signed `Details` encoding.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NoiseCertificate {
    /// The encoded `Details`, kept as bytes because the signature covers exactly them.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub details: Option<Vec<u8>>,
    /// XEdDSA signature (64 bytes) over `details`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub signature: Option<Vec<u8>>,
}

/// What a certificate says about its key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Details {
    /// This certificate's serial number.
    #[prost(uint32, optional, tag = "1")]
    pub serial: Option<u32>,
    /// The issuer's serial; 0 for a certificate signed by the root.
    #[prost(uint32, optional, tag = "2")]
    pub issuer_serial: Option<u32>,
    /// The certified Curve25519 public key (32 bytes).
    #[prost(bytes = "vec", optional, tag = "3")]
    pub key: Option<Vec<u8>>,
    /// Start of validity, Unix seconds.
    #[prost(uint64, optional, tag = "4")]
    pub not_before: Option<u64>,
    /// End of validity, Unix seconds.
    #[prost(uint64, optional, tag = "5")]
    pub not_after: Option<u64>,
}

/// The older single-certificate `Details` that servers of protocol 2.1 still send.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LegacyDetails {
    /// Serial number.
    #[prost(uint32, optional, tag = "1")]
    pub serial: Option<u32>,
    /// Issuer name, e.g. `WhatsAppLongTerm1`.
    #[prost(string, optional, tag = "2")]
    pub issuer: Option<String>,
    /// Expiry, Unix seconds.
    #[prost(uint64, optional, tag = "3")]
    pub expires: Option<u64>,
    /// Subject name.
    #[prost(string, optional, tag = "4")]
    pub subject: Option<String>,
    /// The certified key.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub key: Option<Vec<u8>>,
}
