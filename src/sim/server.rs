//! The reference WhatsApp-side server: the responder side of the dialect with its own
//! chain, `<success/>` after login, routing of `<message>` stanzas between connected
//! accounts by `to`, and `<ack>` replies.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use prost::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::frame::{FrameReader, FrameWriter, MAX_FRAME_LIMIT};
use crate::noise::Sink;
use crate::noise::{Keypair, Pattern, Responder};
use crate::stanza::{Element, Encoding, Kind, SessionCodecs, Stanza};
use crate::transport::proxy_protocol::{self, Tlv};
use crate::wa_proto::client_payload::ClientPayloadFields;
use crate::wa_proto::HandshakeMessage;

use super::client::send;
use super::source::Source;
use super::SimError;

/// How many stanzas the server remembers per account, for tests to inspect.
const RECEIVED_KEPT: usize = 256;
/// Queue of stanzas routed to one connection; a slow reader slows its senders.
const ROUTE_QUEUE: usize = 64;
/// The PROXY v2 signature, to tell a PROXY header from a preamble.
const PROXY_V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// How the reference server presents itself.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Its Noise static key.
    pub static_key: Keypair,
    /// Its encoded `CertChain`.
    pub cert_chain: Vec<u8>,
}

/// What the server saw, for tests.
#[derive(Default)]
pub struct ServerState {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Logins completed.
    pub logins: AtomicU64,
    /// Stanzas received from clients.
    pub stanzas_in: AtomicU64,
    /// Logged-in connections still open.
    pub active: AtomicU64,
    /// While set, the server stops reading from its connections (a stalled upstream).
    pub stall: AtomicBool,
    /// Whether new connections speak XML instead of binary.
    xml: AtomicBool,
    /// Recent stanzas per account.
    received: Mutex<HashMap<u64, VecDeque<Stanza>>>,
    /// Client addresses from PROXY headers.
    proxy_sources: Mutex<Vec<SocketAddr>>,
    /// The TLVs of each PROXY header, in arrival order (one entry per header, LOCAL too).
    proxy_tlvs: Mutex<Vec<Vec<Tlv>>>,
    /// Handshake pattern of each login, in order.
    patterns: Mutex<Vec<Pattern>>,
    /// The client static key each login showed, in order.
    statics: Mutex<Vec<[u8; 32]>>,
    /// Routing bytes from edge-routing pre-intros.
    routing: Mutex<Vec<Bytes>>,
    /// Where to deliver stanzas for each logged-in account.
    routes: Mutex<HashMap<u64, mpsc::Sender<Stanza>>>,
}

/// A running reference server.
pub struct SimServer {
    /// Where it listens.
    addr: SocketAddr,
    /// Shared observations.
    state: Arc<ServerState>,
    /// The accept loop.
    task: tokio::task::JoinHandle<()>,
    /// Its static public key.
    pub static_public: [u8; 32],
}

impl SimServer {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start(options: ServerOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok(Self::with_listener(listener, options))
    }

    /// Serves on an existing listener.
    pub fn with_listener(listener: TcpListener, options: ServerOptions) -> Self {
        let addr = listener.local_addr().expect("bound");
        let state = Arc::new(ServerState::default());
        let static_public = options.static_key.public;
        let options = Arc::new(options);
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    state.connections.fetch_add(1, Ordering::Relaxed);
                    let state = state.clone();
                    let options = options.clone();
                    tokio::spawn(async move {
                        let _ = serve_connection(stream, &options, &state).await;
                    });
                }
            }
        });
        Self {
            addr,
            state,
            task,
            static_public,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The encoding connections accepted from now on speak (binary to start with, as
    /// WhatsApp's server); binary uses the dictionary each client's version names.
    pub fn set_encoding(&self, encoding: Encoding) {
        self.state
            .xml
            .store(encoding == Encoding::Xml, Ordering::Relaxed);
    }

    /// The shared observations.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Stanzas received from `account`, oldest first (the last few hundred).
    pub fn received(&self, account: u64) -> Vec<Stanza> {
        self.state
            .received
            .lock()
            .expect("not poisoned")
            .get(&account)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Client addresses seen in PROXY headers.
    pub fn proxy_sources(&self) -> Vec<SocketAddr> {
        self.state
            .proxy_sources
            .lock()
            .expect("not poisoned")
            .clone()
    }

    /// The TLVs of each PROXY header received so far, one list per header: what the
    /// connection-level signals of SPEC §5 look like to the server.
    pub fn proxy_tlvs(&self) -> Vec<Vec<Tlv>> {
        self.state.proxy_tlvs.lock().expect("not poisoned").clone()
    }

    /// Patterns of the logins so far.
    pub fn patterns(&self) -> Vec<Pattern> {
        self.state.patterns.lock().expect("not poisoned").clone()
    }

    /// The client static keys of the logins so far.
    pub fn client_statics(&self) -> Vec<[u8; 32]> {
        self.state.statics.lock().expect("not poisoned").clone()
    }

    /// Routing bytes of the pre-intros so far.
    pub fn routing(&self) -> Vec<Bytes> {
        self.state.routing.lock().expect("not poisoned").clone()
    }

    /// Sends a stanza to a logged-in account, as if the server originated it.
    pub async fn push(&self, account: u64, stanza: Stanza) -> bool {
        let route = self
            .state
            .routes
            .lock()
            .expect("not poisoned")
            .get(&account)
            .cloned();
        match route {
            Some(tx) => tx.send(stanza).await.is_ok(),
            None => false,
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection, from preamble to close.
async fn serve_connection(
    stream: TcpStream,
    options: &ServerOptions,
    state: &ServerState,
) -> Result<(), SimError> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut reader = FrameReader::new(read, MAX_FRAME_LIMIT);
    let mut writer = FrameWriter::new(write);

    if reader.peek(12).await? == PROXY_V2_SIGNATURE {
        let received = proxy_protocol::read_header_with_tlvs(&mut reader)
            .await
            .map_err(|e| SimError::Protocol(e.to_string()))?;
        state
            .proxy_tlvs
            .lock()
            .expect("not poisoned")
            .push(received.tlvs);
        if let Some(source) = received.source {
            state
                .proxy_sources
                .lock()
                .expect("not poisoned")
                .push(source);
        }
    }
    let preamble = crate::transport::read_preamble(&mut reader, |_| true)
        .await
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    if let Some(routing) = &preamble.routing {
        state
            .routing
            .lock()
            .expect("not poisoned")
            .push(routing.clone());
    }

    let mut responder = Responder::new(preamble.prologue(), options.static_key.clone());
    let hello = read_handshake(&mut reader)
        .await?
        .client_hello
        .ok_or_else(|| SimError::Protocol("no ClientHello".into()))?;
    let ik_payload = responder.read_client_hello(&hello)?;
    let chain: &[u8] = if responder.pattern() == Pattern::Ik {
        &[]
    } else {
        &options.cert_chain
    };
    let server_hello = responder.server_hello(chain)?;
    writer
        .write_message(&HandshakeMessage {
            server_hello: Some(server_hello),
            ..Default::default()
        })
        .await?;
    let payload = match ik_payload {
        Some(p) => p,
        None => {
            let finish = read_handshake(&mut reader)
                .await?
                .client_finish
                .ok_or_else(|| SimError::Protocol("no ClientFinish".into()))?;
            responder.read_client_finish(&finish)?
        }
    };
    state
        .patterns
        .lock()
        .expect("not poisoned")
        .push(responder.pattern());
    if let Some(key) = responder.remote_static() {
        state.statics.lock().expect("not poisoned").push(key);
    }
    let transport = responder.into_transport()?;
    let fields = ClientPayloadFields::decode(payload.as_slice())
        .map_err(|e| SimError::Protocol(e.to_string()))?;
    let account = fields
        .interop_data
        .as_ref()
        .and_then(|d| d.account_id)
        .or(fields.username)
        .ok_or_else(|| SimError::Protocol("no account".into()))?;

    let encoding = if state.xml.load(Ordering::Relaxed) {
        Encoding::Xml
    } else {
        Encoding::Binary
    };
    let codecs = SessionCodecs::new(
        encoding,
        preamble.version.major,
        preamble.version.minor,
        Default::default(),
    )
    .ok_or_else(|| SimError::Protocol(format!("no dictionary for {}", preamble.version)))?;
    let codec = codecs.to_server;
    let mut sink = Sink::new(writer, transport.send, codecs.to_client);
    let mut source = Source {
        reader,
        cipher: transport.recv,
    };
    let (tx, mut rx) = mpsc::channel(ROUTE_QUEUE);
    state
        .routes
        .lock()
        .expect("not poisoned")
        .insert(account, tx.clone());
    state.logins.fetch_add(1, Ordering::Relaxed);
    state.active.fetch_add(1, Ordering::Relaxed);
    send(
        &mut sink,
        encoding,
        &Stanza::from_element(Element::new("success")),
    )
    .await?;

    let result = async {
        loop {
            if state.stall.load(Ordering::Relaxed) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
            tokio::select! {
                incoming = source.next(codec.as_ref()) => {
                    let Some(stanza) = incoming? else { return Ok(()) };
                    if !handle(stanza, account, encoding, &mut sink, state).await? {
                        return Ok(());
                    }
                }
                Some(outgoing) = rx.recv() => send(&mut sink, encoding, &outgoing).await?,
            }
        }
    }
    .await;
    state.active.fetch_sub(1, Ordering::Relaxed);
    let mut routes = state.routes.lock().expect("not poisoned");
    if routes.get(&account).is_some_and(|r| r.same_channel(&tx)) {
        routes.remove(&account);
    }
    result
}

/// Acts on one stanza from a client; false ends the connection.
async fn handle(
    stanza: Stanza,
    account: u64,
    encoding: Encoding,
    sink: &mut Sink,
    state: &ServerState,
) -> Result<bool, SimError> {
    state.stanzas_in.fetch_add(1, Ordering::Relaxed);
    {
        let mut received = state.received.lock().expect("not poisoned");
        let queue = received.entry(account).or_default();
        if queue.len() == RECEIVED_KEPT {
            queue.pop_front();
        }
        queue.push_back(stanza.clone());
    }
    let root = stanza.node();
    match stanza.kind() {
        Kind::XmlStreamEnd => return Ok(false),
        Kind::Message => {
            let id = root.attr("id").unwrap_or_default().into_owned();
            let to = root.attr("to").unwrap_or_default().into_owned();
            let routed = routed(&stanza, account);
            let route = super::account_of(&to)
                .and_then(|a| state.routes.lock().expect("not poisoned").get(&a).cloned());
            let mut ack = Element::new("ack")
                .with_attr("class", "message")
                .with_attr("id", &id)
                .with_attr("from", &to);
            match route {
                Some(tx) => {
                    let _ = tx.send(routed).await;
                }
                None => ack = ack.with_attr("error", "404"),
            }
            send(sink, encoding, &Stanza::from_element(ack)).await?;
        }
        // Keepalive pings (`xmlns="w:p"`) and every other query get a result, as the
        // WhatsApp server answers them.
        Kind::Iq if root.attr_is("type", "get") => {
            let id = root.attr("id").unwrap_or_default().into_owned();
            let result = Element::new("iq")
                .with_attr("type", "result")
                .with_attr("id", &id)
                .with_attr("from", "s.whatsapp.net");
            send(sink, encoding, &Stanza::from_element(result)).await?;
        }
        _ => {}
    }
    Ok(true)
}

/// The message as it is delivered: `from` the sender, without `to`. The rest, `<enc>`
/// included, is carried as it came. A binary message is written afresh, as the server
/// does: the recipient's session may use another dictionary than the sender's.
fn routed(stanza: &Stanza, account: u64) -> Stanza {
    let mut e = match stanza.binary() {
        Some(node) => node.to_element(),
        None => stanza.root().clone(),
    };
    e.set_attr("from", &super::jid(account));
    e.remove_attr("to");
    Stanza::from_element(e)
}

/// Reads one handshake frame.
async fn read_handshake(reader: &mut FrameReader) -> Result<HandshakeMessage, SimError> {
    let frame = reader
        .next_frame()
        .await?
        .ok_or_else(|| SimError::Protocol("closed during handshake".into()))?;
    HandshakeMessage::decode(frame.as_ref()).map_err(|e| SimError::Protocol(e.to_string()))
}
