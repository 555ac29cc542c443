//! The reference client: the Noise initiator a provider's app would run, then stanzas.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use tokio::net::TcpStream;

use crate::frame::{FrameError, FrameReader, FrameWriter, MAX_FRAME_LIMIT};
use crate::noise::Sink;
use crate::noise::{cert, Initiator, Keypair, NoiseError, Pattern};
use crate::stanza::{
    Element, Encoding, Kind, Opaque, SessionCodecs, Stanza, StanzaCodec, StanzaError,
};
use crate::transport::{proxy_protocol, Preamble, WireVersion};
use crate::wa_proto::client_payload::ClientPayloadFields;
use crate::wa_proto::{AppVersion, HandshakeMessage, InteropData, UserAgent};

use super::source::Source;

/// What can go wrong in the reference client.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Socket trouble.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Framing trouble.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// Noise trouble.
    #[error("noise: {0}")]
    Noise(#[from] NoiseError),
    /// A stanza did not parse.
    #[error("stanza: {0}")]
    Stanza(#[from] StanzaError),
    /// The peer's certificate chain did not verify.
    #[error("certificate: {0}")]
    Cert(#[from] cert::CertError),
    /// The peer broke the protocol or closed early.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The login was refused with `<failure reason=.../>`.
    #[error("login refused with {0}")]
    Refused(String),
}

/// How a reference client connects and who it says it is.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The intro header version.
    pub version: WireVersion,
    /// Edge-routing bytes to send before the intro, if any.
    pub routing: Option<Vec<u8>>,
    /// The client's Noise static key.
    pub static_key: Keypair,
    /// A pinned server key: IK when set, XX otherwise.
    pub server_key: Option<[u8; 32]>,
    /// The root to verify the server's chain with; `None` skips the check.
    pub root_key: Option<[u8; 32]>,
    /// The account (also the username).
    pub account: u64,
    /// The JWT, or empty.
    pub token: Vec<u8>,
    /// `ClientPayload.product`.
    pub product: i32,
    /// `UserAgent.platform`.
    pub platform: i32,
    /// `UserAgent.app_version`, as numbers.
    pub app_version: [u32; 3],
    /// A PROXY v2 header (source, destination) to send first, as a load balancer would.
    pub proxy_header: Option<(SocketAddr, SocketAddr)>,
    /// The stanza encoding; binary uses the dictionary `version` names.
    pub encoding: Encoding,
}

impl ClientOptions {
    /// A client of `account` with a fresh key, version 6.3, product INTEROP, Android 2.24.
    pub fn new(account: u64) -> Self {
        Self {
            version: WireVersion { major: 6, minor: 3 },
            routing: None,
            static_key: Keypair::generate(),
            server_key: None,
            root_key: None,
            account,
            token: Vec::new(),
            product: 2,
            platform: 0,
            app_version: [2, 24, 0],
            proxy_header: None,
            encoding: Encoding::Binary,
        }
    }

    /// The `ClientPayload` bytes this client sends.
    pub fn payload(&self) -> Vec<u8> {
        ClientPayloadFields {
            username: Some(self.account),
            user_agent: Some(UserAgent {
                platform: Some(self.platform),
                app_version: Some(AppVersion {
                    primary: Some(self.app_version[0]),
                    secondary: Some(self.app_version[1]),
                    tertiary: Some(self.app_version[2]),
                    quaternary: None,
                }),
            }),
            product: Some(self.product),
            interop_data: Some(InteropData {
                account_id: Some(self.account),
                token: Some(self.token.clone()),
                enable_read_receipts: Some(true),
            }),
        }
        .encode_to_vec()
    }
}

/// A connected reference client.
pub struct SimClient {
    /// Sends stanzas.
    pub sink: Sink,
    /// Receives stanzas.
    source: Source,
    /// Decodes what the server sends.
    codec: Arc<dyn StanzaCodec>,
    /// The encoding the client speaks.
    encoding: Encoding,
    /// The pattern the handshake ended with.
    pub pattern: Pattern,
    /// The server's static key as the handshake showed it (XX and XXfallback).
    pub server_static: Option<[u8; 32]>,
}

impl SimClient {
    /// Connects and completes the Noise handshake; does not wait for `<success/>`.
    pub async fn connect(addr: SocketAddr, options: &ClientOptions) -> Result<Self, SimError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut reader = FrameReader::new(read, MAX_FRAME_LIMIT);
        let mut writer = FrameWriter::new(write);
        let preamble = Preamble {
            routing: options.routing.clone().map(Bytes::from),
            version: options.version,
        };
        let mut head = Vec::new();
        if let Some((src, dst)) = options.proxy_header {
            head.extend(proxy_protocol::encode_header(src, dst));
        }
        head.extend(preamble.encode());

        let payload = options.payload();
        let mut initiator = Initiator::new(
            preamble.prologue(),
            options.static_key.clone(),
            options.server_key,
        );
        let hello = initiator.client_hello(&payload)?;
        // With the intro header in one write, as WhatsApp's clients send their first frame.
        writer
            .write_message_after(
                &head,
                &HandshakeMessage {
                    client_hello: Some(hello),
                    ..Default::default()
                },
            )
            .await?;
        let frame = reader
            .next_frame()
            .await?
            .ok_or_else(|| SimError::Protocol("closed during handshake".into()))?;
        let server_hello = HandshakeMessage::decode(frame.as_ref())
            .map_err(|e| SimError::Protocol(e.to_string()))?
            .server_hello
            .ok_or_else(|| SimError::Protocol("no ServerHello".into()))?;
        let chain = initiator.read_server_hello(&server_hello)?;
        let server_static = initiator.remote_static();
        if initiator.pattern() != Pattern::Ik {
            if let (Some(root), Some(server)) = (options.root_key, server_static) {
                cert::verify_chain(&chain, &root, &server, crate::noise::cert::unix_now())?;
            }
            let finish = initiator
                .client_finish(&payload)?
                .ok_or_else(|| SimError::Protocol("no ClientFinish".into()))?;
            writer
                .write_message(&HandshakeMessage {
                    client_finish: Some(finish),
                    ..Default::default()
                })
                .await?;
        }
        let pattern = initiator.pattern();
        let transport = initiator.into_transport()?;
        let codecs = SessionCodecs::new(
            options.encoding,
            options.version.major,
            options.version.minor,
            Default::default(),
        )
        .ok_or_else(|| {
            SimError::Protocol(format!("no dictionary for version {}", options.version))
        })?;
        Ok(Self {
            sink: Sink::new(writer, transport.send, codecs.to_server),
            source: Source {
                reader,
                cipher: transport.recv,
            },
            codec: codecs.to_client,
            encoding: options.encoding,
            pattern,
            server_static,
        })
    }

    /// Connects and waits for `<success/>`; a `<failure/>` becomes [`SimError::Refused`].
    pub async fn login(addr: SocketAddr, options: &ClientOptions) -> Result<Self, SimError> {
        let mut client = Self::connect(addr, options).await?;
        match client.recv().await? {
            Some(s) if s.kind() == Kind::Success => Ok(client),
            Some(s) if s.kind() == Kind::Failure => Err(SimError::Refused(
                s.attr("reason").unwrap_or_default().into_owned(),
            )),
            Some(s) => Err(SimError::Protocol(format!(
                "expected <success/>, got <{}>",
                s.node().name()
            ))),
            None => Err(SimError::Protocol("closed before <success/>".into())),
        }
    }

    /// Sends one stanza.
    pub async fn send(&mut self, stanza: &Stanza) -> Result<(), SimError> {
        send(&mut self.sink, self.encoding, stanza).await
    }

    /// Sends one plaintext (flags byte + body) exactly as given, for hostile-input tests.
    pub async fn send_plaintext(&mut self, plaintext: &[u8]) -> Result<(), SimError> {
        Ok(self.sink.send_plaintext(plaintext).await?)
    }

    /// Test support: encrypts `plaintext` (flags byte + body) into a whole frame without
    /// sending it, advancing the send nonce; for tampering and replay tests.
    pub fn seal_frame(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SimError> {
        Ok(self.sink.seal(plaintext)?.to_vec())
    }

    /// Test support: writes `bytes` to the socket exactly as given (already framed, or
    /// not a frame at all), for hostile-input tests.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        Ok(self.sink.write_raw(bytes).await?)
    }

    /// The next stanza; `None` when the peer closed.
    pub async fn recv(&mut self) -> Result<Option<Stanza>, SimError> {
        self.source.next(self.codec.as_ref()).await
    }

    /// The next stanza that is not an `<ack>`.
    pub async fn recv_skip_acks(&mut self) -> Result<Option<Stanza>, SimError> {
        loop {
            match self.recv().await? {
                Some(s) if s.kind() == Kind::Ack => continue,
                other => return Ok(other),
            }
        }
    }

    /// Splits into a sending and a receiving half, for full-duplex load.
    pub fn into_split(self) -> (SimSender, SimReceiver) {
        (
            SimSender {
                sink: self.sink,
                encoding: self.encoding,
            },
            SimReceiver {
                source: self.source,
                codec: self.codec,
            },
        )
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        self.sink.shutdown().await;
    }
}

/// The sending half of a [`SimClient`].
pub struct SimSender {
    /// Writer.
    sink: Sink,
    /// The encoding the client speaks.
    encoding: Encoding,
}

impl SimSender {
    /// Sends one stanza.
    pub async fn send(&mut self, stanza: &Stanza) -> Result<(), SimError> {
        send(&mut self.sink, self.encoding, stanza).await
    }

    /// Closes the write direction.
    pub async fn close(mut self) {
        self.sink.shutdown().await;
    }
}

/// The receiving half of a [`SimClient`].
pub struct SimReceiver {
    /// Reader.
    source: Source,
    /// Codec.
    codec: Arc<dyn StanzaCodec>,
}

impl SimReceiver {
    /// The next stanza; `None` when the peer closed.
    pub async fn recv(&mut self) -> Result<Option<Stanza>, SimError> {
        self.source.next(self.codec.as_ref()).await
    }
}

/// Sends a stanza a peer built, in the peer's encoding.
pub(super) async fn send(
    sink: &mut Sink,
    encoding: Encoding,
    stanza: &Stanza,
) -> Result<(), SimError> {
    match super::wire::for_encoding(stanza, encoding) {
        Some(converted) => sink.send(&converted).await?,
        None => sink.send(stanza).await?,
    }
    Ok(())
}

/// A keepalive ping, as real clients send one every 15-30 s per session.
pub fn ping(id: &str) -> Stanza {
    Stanza::from_element(
        Element::new("iq")
            .with_attr("id", id)
            .with_attr("to", "@s.whatsapp.net")
            .with_attr("type", "get")
            .with_attr("xmlns", "w:p")
            .with_child(Element::new("ping")),
    )
}

/// A `<message>` to `to` carrying `payload` in an `<enc>`.
pub fn message(to: u64, id: &str, payload: Opaque) -> Stanza {
    Stanza::from_element(
        Element::new("message")
            .with_attr("to", &super::jid(to))
            .with_attr("id", id)
            .with_attr("type", "text")
            .with_child(
                Element::new("enc")
                    .with_attr("v", "2")
                    .with_attr("type", "msg")
                    .with_opaque(payload),
            ),
    )
}
