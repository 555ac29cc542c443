//! The upstream half: dial the server, send the preamble, run the Noise initiator
//! (IK when the server key is known, XX otherwise, XXfallback when the server asks),
//! verify the server's certificate chain.

use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpStream;
use zeroize::{Zeroize, Zeroizing};

use crate::frame::{FrameReader, FrameWriter};
use crate::metrics::Leg;
use crate::noise::{cert, Initiator, Keypair, Pattern, SecretKey, TransportState};
use crate::transport::proxy_protocol::{self, Tlv};
use crate::transport::{self, Preamble};
use crate::wa_proto::{ClientPayloadView, HandshakeMessage};

use super::client::write_message;
use super::devices::Device;
use super::error::{Cause, SessionError, Side};
use super::UpstreamSettings;

/// Domain separation for the per-device key derivation.
const DERIVE_LABEL: &[u8] = b"interop-proxy upstream static v1";

/// The upstream leg once its handshake is done.
pub struct UpstreamLeg {
    /// Reads the server's frames.
    pub reader: FrameReader,
    /// Writes to the server.
    pub writer: FrameWriter,
    /// The transport ciphers.
    pub transport: TransportState,
    /// What this device's next login can reuse of this one.
    pub device: Device,
}

/// The upstream static key for one client device: HMAC-SHA256(seed, label ‖ client
/// static). One device always shows the server the same key; no two devices share one;
/// and the seed cannot be recovered from the keys the server sees.
pub fn derive_static(seed: &SecretKey, client_static: &[u8; 32]) -> Keypair {
    let mut mac = Hmac::<Sha256>::new_from_slice(seed.expose()).expect("HMAC takes any key");
    mac.update(DERIVE_LABEL);
    mac.update(client_static);
    let mut out = mac.finalize().into_bytes();
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&out);
    out.as_mut_slice().zeroize();
    Keypair::from_secret(SecretKey::from_bytes(*bytes))
}

/// Dials the server with the connect timeout.
pub async fn dial(settings: &UpstreamSettings) -> Result<TcpStream, SessionError> {
    transport::dial(&settings.addr, settings.connect_timeout)
        .await
        .map_err(SessionError::UpstreamUnreachable)
}

/// Sends the PROXY header (if configured) with the connection-level `signals`, and the
/// preamble, then runs the initiator, reusing what `known` kept of the device's last
/// login where it was computed with the keys in use now. The signals are consumed: once in the header they
/// are the server's, and a SYN kept beyond this point would only be memory held for the
/// life of the session.
#[allow(clippy::too_many_arguments)]
pub async fn handshake(
    settings: &UpstreamSettings,
    stream: TcpStream,
    client_addr: SocketAddr,
    signals: Vec<Tlv>,
    preamble: &Preamble,
    client_static: &[u8; 32],
    known: Option<Device>,
    payload: &ClientPayloadView,
    max_frame: usize,
) -> Result<UpstreamLeg, SessionError> {
    let server_addr = if settings.proxy_protocol {
        Some(
            stream
                .peer_addr()
                .map_err(SessionError::UpstreamUnreachable)?,
        )
    } else {
        None
    };
    let (read, write) = stream.into_split();
    let mut reader = FrameReader::new(read, max_frame);
    let mut writer = FrameWriter::new(write);

    let mut head = Vec::new();
    if let Some(server_addr) = server_addr {
        head.extend(proxy_protocol::encode_header_with_tlvs(
            client_addr,
            server_addr,
            &signals,
        ));
    }
    drop(signals);
    let upstream_preamble = Preamble {
        routing: preamble.routing.clone(),
        version: settings.version.unwrap_or(preamble.version),
    };
    head.extend(upstream_preamble.encode());

    let started = std::time::Instant::now();
    let server_key = *settings.server_key.read().expect("not poisoned");
    let (local, kept_ss) = match known {
        Some(device) => (device.upstream, device.upstream_ss),
        None => (derive_static(&settings.key_seed, client_static), None),
    };
    let mut initiator = Initiator::new(upstream_preamble.prologue(), local.clone(), server_key);
    // Only a result computed with the server key pinned now is the same result.
    if let (Some(pinned), Some((with, ss))) = (server_key, kept_ss) {
        if pinned == with {
            initiator = initiator.with_static_static(ss);
        }
    }
    let result = run(
        settings,
        &mut initiator,
        &head,
        &mut reader,
        &mut writer,
        payload,
    )
    .await;
    let pattern = initiator.pattern();
    crate::metrics::handshake(Leg::Upstream, pattern, result.is_ok(), started.elapsed());
    result?;
    let upstream_ss = server_key.zip(initiator.static_static());
    let transport = initiator.into_transport().map_err(noise_error)?;
    Ok(UpstreamLeg {
        reader,
        writer,
        transport,
        device: Device {
            upstream: local,
            upstream_ss,
            client_ss: None,
        },
    })
}

/// The message exchange and the chain check; `head` (PROXY header, preamble) goes out
/// with the ClientHello.
async fn run(
    settings: &UpstreamSettings,
    initiator: &mut Initiator,
    head: &[u8],
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    payload: &ClientPayloadView,
) -> Result<(), SessionError> {
    let hello = initiator.client_hello(payload.raw()).map_err(noise_error)?;
    let hello = HandshakeMessage {
        client_hello: Some(hello),
        ..Default::default()
    };
    writer
        .write_message_after(head, &hello)
        .await
        .map_err(failed)?;

    let frame = reader
        .next_frame()
        .await
        .map_err(|e| match SessionError::frame(Side::Upstream, e) {
            // A server that leaves mid-handshake failed its handshake (SPEC §2.9: 502).
            SessionError::Closed(_) => closed(),
            other => other,
        })?
        .ok_or_else(closed)?;
    let message =
        <HandshakeMessage as prost::Message>::decode(frame.as_ref()).map_err(|source| {
            SessionError::UpstreamHandshake(Cause::Protobuf {
                what: "HandshakeMessage",
                source,
            })
        })?;
    let server_hello = message
        .server_hello
        .ok_or_else(|| unexpected("no ServerHello"))?;
    let chain = initiator
        .read_server_hello(&server_hello)
        .map_err(noise_error)?;
    if initiator.pattern() == Pattern::Ik {
        return Ok(());
    }
    let server_static = initiator
        .remote_static()
        .ok_or_else(|| unexpected("no server static key"))?;
    cert::verify_chain(&chain, &settings.root_key, &server_static, cert::unix_now())
        .map_err(|e| SessionError::UpstreamHandshake(e.into()))?;
    // The verified key lets the next session use IK and save a round trip.
    *settings.server_key.write().expect("not poisoned") = Some(server_static);
    let finish = initiator
        .client_finish(payload.raw())
        .map_err(noise_error)?
        .ok_or_else(|| unexpected("no ClientFinish to send"))?;
    write_message(
        writer,
        HandshakeMessage {
            client_finish: Some(finish),
            ..Default::default()
        },
    )
    .await
    .map_err(|_| closed())
}

/// The server went away during the handshake.
fn closed() -> SessionError {
    unexpected("server closed the connection")
}

/// A write to the server failed during the handshake.
fn failed(e: std::io::Error) -> SessionError {
    SessionError::UpstreamHandshake(e.into())
}

/// The server's handshake lacks what the pattern requires.
fn unexpected(what: &'static str) -> SessionError {
    SessionError::UpstreamHandshake(Cause::Unexpected(what))
}

/// A Noise failure on the upstream leg.
fn noise_error(e: crate::noise::NoiseError) -> SessionError {
    SessionError::UpstreamHandshake(e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_stable_per_device_and_distinct_across_devices() {
        let seed = SecretKey::from_bytes([7; 32]);
        let a1 = derive_static(&seed, &[1; 32]);
        let a2 = derive_static(&seed, &[1; 32]);
        let b = derive_static(&seed, &[2; 32]);
        let other_seed = derive_static(&SecretKey::from_bytes([8; 32]), &[1; 32]);
        assert_eq!(a1.public, a2.public);
        assert_ne!(a1.public, b.public);
        assert_ne!(a1.public, other_seed.public);
    }
}
