//! One proxied session: the client half (Noise responder), the upstream half (Noise
//! initiator), and the relay that joins them.

mod client;
pub mod drain;
pub mod error;
mod relay;
pub mod sink;
mod upstream;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{info, info_span, warn, Instrument};

use crate::auth::Authenticator;
use crate::caps::Caps;
use crate::metrics::{self, CloseReason};
use crate::noise::{Keypair, SecretKey};
use crate::stanza::{Encoding, Limits as StanzaLimits, SessionCodecs};
use crate::transport::WireVersion;

pub use drain::Drain;
pub use error::{Outcome, SessionError, Side};
pub use sink::Sink;
pub use upstream::unix_now;

/// Everything a session needs that is the same for every session.
pub struct Shared {
    /// The proxy's Noise static key on the client leg.
    pub static_key: Keypair,
    /// The encoded `CertChain` presented to clients.
    pub cert_chain: Bytes,
    /// Versions accepted in the client's intro header.
    pub versions: Vec<WireVersion>,
    /// Whether clients arrive behind a load balancer that sends PROXY v2.
    pub client_proxy_protocol: bool,
    /// How to reach and trust the server.
    pub upstream: UpstreamSettings,
    /// Bounds on sizes and times.
    pub limits: SessionLimits,
    /// `stanza.encoding`, and the limits every stanza is read within.
    pub stanzas: StanzaSettings,
    /// Decides whether a client may pass.
    pub auth: Authenticator,
    /// Capability profiles, rules and the provider lookup.
    pub caps: Arc<Caps>,
}

/// The upstream half's settings.
pub struct UpstreamSettings {
    /// `host:port` of the WhatsApp server.
    pub addr: String,
    /// The key that signs intermediates of the server's chain.
    pub root_key: [u8; 32],
    /// The server's static key for IK: configured, or learnt from the last verified chain.
    pub server_key: RwLock<Option<[u8; 32]>>,
    /// The secret from which per-device upstream static keys are derived.
    pub key_seed: SecretKey,
    /// The version sent upstream; `None` repeats the client's.
    pub version: Option<WireVersion>,
    /// Bound on the TCP connect.
    pub connect_timeout: Duration,
    /// Send a PROXY v2 header with the client's address.
    pub proxy_protocol: bool,
    /// What else that header says about the client's connection.
    pub signals: Signals,
}

/// Where the connection-level signals of the upstream PROXY header come from (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signals {
    /// None are sent: `upstream.connection_signals` or `upstream.proxy_protocol` is off.
    Off,
    /// This proxy's kernel: the client's SYN and its connection's RTT.
    Own,
    /// The load balancer's header: its SYN and RTT TLVs, unchanged. The proxy's own
    /// would describe the balancer's connection, not the client's.
    Forwarded,
}

impl Signals {
    /// The source for a configuration.
    pub fn new(
        proxy_protocol: bool,
        connection_signals: bool,
        client_proxy_protocol: bool,
    ) -> Self {
        match (proxy_protocol && connection_signals, client_proxy_protocol) {
            (false, _) => Signals::Off,
            (true, false) => Signals::Own,
            (true, true) => Signals::Forwarded,
        }
    }
}

/// Bounds that apply to each session.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Largest frame accepted from either side.
    pub max_frame_bytes: usize,
    /// From accept to the start of the relay.
    pub handshake_timeout: Duration,
    /// Longest time with no frame in either direction.
    pub idle_timeout: Duration,
}

/// How stanzas are read and written.
#[derive(Clone, Copy, Debug)]
pub struct StanzaSettings {
    /// What both legs speak.
    pub encoding: Encoding,
    /// Bounds on each stanza.
    pub limits: StanzaLimits,
}

impl Shared {
    /// The codecs of a session whose client sent `version`. Configuration checks that
    /// every accepted version names a dictionary; one that does not is malformed input.
    pub fn codecs(&self, version: WireVersion) -> Option<SessionCodecs> {
        SessionCodecs::new(
            self.stanzas.encoding,
            version.major,
            version.minor,
            self.stanzas.limits,
        )
    }
}

/// Accepts clients until the drain begins; each session runs in its own task.
///
/// A connection beyond `max_sessions` is closed at once, before any handshake: a queue
/// would only hold file descriptors and memory for clients that will time out anyway.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    max_sessions: usize,
    drain: Drain,
) -> tokio::task::JoinSet<()> {
    let permits = Arc::new(Semaphore::new(max_sessions));
    let mut sessions = tokio::task::JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = drain.started() => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished sessions so the set does not grow with history.
        while sessions.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::from_millis(5);
                pair
            }
            Err(e) => {
                // EMFILE and friends: back off rather than spin; the error passes when
                // sessions end.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        metrics::connection_accepted();
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::session_closed(CloseReason::LimitExceeded);
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let drain = drain.clone();
        sessions.spawn(async move {
            run_session(shared, stream, peer, drain).await;
            drop(permit);
        });
    }
    sessions
}

/// Binds the client listener with TCP_NODELAY set, so that each accepted socket starts
/// with it (Linux inherits it) instead of paying a `setsockopt` per session: stanzas are
/// small and latency-bound, and Nagle would hold them back.
///
/// With `save_syns` the kernel keeps each client's SYN for the session to read once
/// ([`Signals::Own`]); a listener whose sessions would not read it does not ask, since
/// the kernel then holds every SYN until its connection closes.
pub fn bind_listener(addr: SocketAddr, save_syns: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    if save_syns {
        crate::transport::signals::save_syns(&socket)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Runs one session to its end and records how it ended.
pub async fn run_session(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, drain: Drain) {
    let id = next_session_id();
    let span = info_span!("session", id, outcome = tracing::field::Empty);
    async move {
        let _active = metrics::ActiveSession::new();
        let started = std::time::Instant::now();
        // Linux copies TCP_NODELAY from the listener to each accepted socket.
        #[cfg(not(target_os = "linux"))]
        let _ = stream.set_nodelay(true);
        let outcome = relay::run(&shared, stream, peer, &drain).await;
        metrics::session_closed(outcome.reason);
        tracing::Span::current().record("outcome", outcome.reason.label());
        // One info line per session: its id, outcome and length, never who it was for
        // (addresses, JIDs and tokens stay at debug).
        info!(
            outcome = outcome.reason.label(),
            duration_ms = started.elapsed().as_millis() as u64,
            "session ended"
        );
    }
    .instrument(span)
    .await
}

/// A process-unique id for log correlation; it says nothing about the client.
fn next_session_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-session `setsockopt` is skipped on the promise that accepted sockets
    /// inherit TCP_NODELAY from the listener.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_sockets_start_with_nodelay() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        assert!(accepted.unwrap().0.nodelay().unwrap());
    }

    #[test]
    fn signals_are_own_forwarded_or_off() {
        assert_eq!(Signals::new(true, true, false), Signals::Own);
        assert_eq!(Signals::new(true, true, true), Signals::Forwarded);
        assert_eq!(Signals::new(true, false, false), Signals::Off);
        assert_eq!(Signals::new(true, false, true), Signals::Off);
        assert_eq!(Signals::new(false, true, false), Signals::Off);
        assert_eq!(Signals::new(false, true, true), Signals::Off);
    }
}
