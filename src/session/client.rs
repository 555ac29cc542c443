//! The client half of the handshake: the proxy as Noise responder, presenting the
//! provider-issued certificate chain.

use bytes::{Bytes, BytesMut};
use prost::Message;

use crate::frame::{put_header, FrameReader, FrameWriter};
use crate::metrics::Leg;
use crate::noise::symmetric::TAG_LEN;
use crate::noise::{Pattern, Responder, TransportState};
use crate::stanza::{Stanza, StanzaCodec};
use crate::wa_proto::{ClientPayloadView, HandshakeMessage};

use super::devices::Secret;
use super::error::{Cause, SessionError, Side};
use super::Shared;

/// The client leg once its handshake is done.
pub struct ClientLeg {
    /// The negotiated pattern, for metrics.
    pub pattern: Pattern,
    /// The client's Noise static key; the upstream key is derived from it.
    pub remote_static: [u8; 32],
    /// The client's payload, kept byte for byte.
    pub payload: ClientPayloadView,
    /// IK's static-static DH, for the device's next login.
    pub static_static: Option<Secret>,
    /// The transport ciphers.
    pub transport: TransportState,
}

/// Runs the responder handshake over an already-read preamble.
/// `to_client` writes the `<failure/>` of a refusal in the session's encoding.
pub async fn handshake(
    shared: &Shared,
    prologue: [u8; 4],
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    to_client: &dyn StanzaCodec,
) -> Result<ClientLeg, SessionError> {
    let started = std::time::Instant::now();
    let result = run(shared, prologue, reader, writer, to_client).await;
    let (pattern, ok) = match &result {
        Ok(leg) => (leg.pattern, true),
        Err((pattern, _)) => (*pattern, false),
    };
    crate::metrics::handshake(Leg::Client, pattern, ok, started.elapsed());
    result.map_err(|(_, e)| e)
}

/// The handshake proper; errors carry the pattern reached, for the metric.
async fn run(
    shared: &Shared,
    prologue: [u8; 4],
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    to_client: &dyn StanzaCodec,
) -> Result<ClientLeg, (Pattern, SessionError)> {
    let mut responder = Responder::new(prologue, shared.static_key.clone());
    let fail = |p: Pattern| move |e: SessionError| (p, e);
    let hello = read_message(reader)
        .await
        .map_err(fail(Pattern::Xx))?
        .client_hello
        .ok_or_else(|| {
            (
                Pattern::Xx,
                malformed(Cause::Unexpected("first message is not a ClientHello")),
            )
        })?;
    let ik_payload = responder
        .read_client_hello_with(&hello, &|device| shared.devices.client_ss(device))
        .map_err(|e| (Pattern::Xx, handshake_error(e)))?;
    let pattern = responder.pattern();
    let server_payload: &[u8] = match pattern {
        Pattern::Ik => &[],
        _ => &shared.cert_chain,
    };
    let server_hello = responder
        .server_hello(server_payload)
        .map_err(|e| (pattern, handshake_error(e)))?;
    write_message(
        writer,
        HandshakeMessage {
            server_hello: Some(server_hello),
            ..Default::default()
        },
    )
    .await
    .map_err(fail(pattern))?;
    let payload = match ik_payload {
        Some(payload) => payload,
        None => {
            let finish = read_message(reader)
                .await
                .map_err(fail(pattern))?
                .client_finish
                .ok_or_else(|| {
                    (
                        pattern,
                        malformed(Cause::Unexpected("third message is not a ClientFinish")),
                    )
                })?;
            responder
                .read_client_finish(&finish)
                .map_err(|e| (pattern, handshake_error(e)))?
        }
    };
    let static_static = responder.static_static();
    let remote_static = responder.remote_static().ok_or((
        pattern,
        SessionError::ClientHandshake(Cause::Unexpected("no static key")),
    ))?;
    let mut transport = responder
        .into_transport()
        .map_err(|e| (pattern, handshake_error(e)))?;
    let payload = match ClientPayloadView::parse(Bytes::from(payload)) {
        Ok(payload) => payload,
        Err(source) => {
            let error = malformed(Cause::Protobuf {
                what: "ClientPayload",
                source,
            });
            // The client's transport exists from here on, so a refusal is a <failure/>
            // it can read (SPEC §2.9), not a bare close.
            if let Some(failure) = error.refusal() {
                refuse(to_client, writer, &mut transport, &failure).await;
            }
            return Err((pattern, error));
        }
    };
    Ok(ClientLeg {
        pattern,
        remote_static,
        payload,
        static_static,
        transport,
    })
}

/// Sends the `<failure/>` over the client's new transport; the caller closes
/// afterwards. A failed write changes nothing: the session ends anyway.
async fn refuse(
    codec: &dyn StanzaCodec,
    writer: &mut FrameWriter,
    transport: &mut TransportState,
    failure: &Stanza,
) {
    let mut plain = BytesMut::new();
    if codec.encode(failure, &mut plain).is_err() {
        return;
    }
    let mut frame = BytesMut::with_capacity(3 + plain.len() + TAG_LEN);
    put_header(&mut frame, plain.len() + TAG_LEN);
    if transport.send.encrypt(&plain, &mut frame).is_ok() {
        let _ = writer.write_raw(&frame).await;
    }
}

/// Reads one handshake frame and decodes it.
pub(super) async fn read_message(
    reader: &mut FrameReader,
) -> Result<HandshakeMessage, SessionError> {
    let frame = reader
        .next_frame()
        .await
        .map_err(|e| SessionError::frame(Side::Client, e))?
        .ok_or(SessionError::Closed(Side::Client))?;
    HandshakeMessage::decode(frame.as_ref()).map_err(|source| {
        malformed(Cause::Protobuf {
            what: "HandshakeMessage",
            source,
        })
    })
}

/// Encodes and writes one handshake frame.
pub(super) async fn write_message(
    writer: &mut FrameWriter,
    message: HandshakeMessage,
) -> Result<(), SessionError> {
    writer
        .write_message(&message)
        .await
        .map_err(|_| SessionError::Closed(Side::Client))
}

/// A malformed client handshake message.
fn malformed(cause: Cause) -> SessionError {
    SessionError::malformed(Side::Client, cause)
}

/// A Noise failure on the client leg.
fn handshake_error(e: crate::noise::NoiseError) -> SessionError {
    SessionError::ClientHandshake(e.into())
}
