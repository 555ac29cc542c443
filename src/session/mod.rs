//! One proxied session, in the order it runs: accept the client (PROXY header, preamble,
//! Noise responder), authorize it, connect upstream (Noise initiator), relay, close.
//! The set-up runs under the handshake timeout; [`relay`] runs what follows.

mod client;
pub mod close;
mod context;
pub mod devices;
pub mod error;
mod relay;
mod stop;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex, Semaphore};
use tokio::time::Instant;
use tracing::{debug_span, info, Instrument};

use crate::frame::{FrameReader, FrameWriter};
use crate::lifecycle::PhaseView;
use crate::metrics::{self, CloseReason, Direction};
use crate::noise::Sink;
use crate::pipeline::{self, SessionInfo};
use crate::stanza::SessionCodecs;
use crate::transport::proxy_protocol::{self, Tlv};
use crate::transport::signals::{self, TLV_RTT, TLV_SYN};
use crate::transport::{self, accept_loop, PreambleError};

use client::ClientLeg;
use error::{Cause, Timeout};
use relay::{Established, CLOSE_GRACE};

pub use close::Outcome;
pub use context::{SessionLimits, Shared, Signals, StanzaSettings, UpstreamSettings};
pub use error::{SessionError, Side};

/// Accepts clients until the drain begins; each session runs in its own task.
///
/// A connection beyond `max_sessions` is closed at once, before any handshake: a queue
/// would only hold file descriptors and memory for clients that will time out anyway.
/// Each session takes the [`Shared`] in force when it is accepted and keeps it to its
/// end, so a reload changes only the sessions that start after it.
pub async fn serve(
    listener: TcpListener,
    shared: watch::Receiver<Arc<Shared>>,
    max_sessions: usize,
    phase: PhaseView,
) -> tokio::task::JoinSet<()> {
    let permits = Arc::new(Semaphore::new(max_sessions));
    let mut sessions = tokio::task::JoinSet::new();
    let stop = phase.drain_started();
    accept_loop(&listener, "proxy", stop, |stream, peer| {
        // Reap finished sessions so the set does not grow with history.
        while sessions.try_join_next().is_some() {}
        metrics::connection_accepted();
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::session_closed(CloseReason::LimitExceeded);
            drop(stream);
            return;
        };
        let shared = shared.borrow().clone();
        let phase = phase.clone();
        sessions.spawn(async move {
            run_session(shared, stream, peer, phase).await;
            drop(permit);
        });
    })
    .await;
    sessions
}

/// Runs one session to its end and records how it ended.
pub async fn run_session(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    phase: PhaseView,
) {
    let id = next_session_id();
    // A debug span: at `info` the one line below carries the id itself, and an enabled
    // span is a registry entry and formatted fields (about 385 bytes) that every idle
    // session would hold for its whole life. At `debug` every line of the session is
    // under it.
    let span = debug_span!("session", id, outcome = tracing::field::Empty);
    async move {
        let _active = metrics::ActiveSession::new();
        let started = std::time::Instant::now();
        // Linux copies TCP_NODELAY from the listener to each accepted socket.
        #[cfg(not(target_os = "linux"))]
        let _ = stream.set_nodelay(true);
        let outcome = run(&shared, stream, peer, &phase).await;
        metrics::session_closed(outcome.reason);
        tracing::Span::current().record("outcome", outcome.reason.label());
        // One info line per session: its id, outcome and length, never who it was for
        // (addresses, JIDs and tokens stay at debug).
        info!(
            session = id,
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

/// Runs a whole session; returns how it ended.
pub async fn run(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    drain: &PhaseView,
) -> Outcome {
    // Set-up is boxed: its futures are large (handshakes, HTTPS lookup), and inline they
    // would size the state of every session for its whole life.
    // A session still setting up when the drain's grace passes ends then too, so that
    // the handshake timeout cannot hold the exit.
    let set_up = Box::pin(set_up(shared, stream, peer));
    let mut session = tokio::select! {
        set_up = set_up => match set_up {
            Ok(session) => session,
            Err(outcome) => return outcome,
        },
        () = drain.grace_expired() => return SessionError::Shutdown.outcome(),
    };
    // By reference: an `async fn` keeps its arguments and their moved-in copies apart,
    // and for a value this large the copy would be paid by every session for its whole
    // life.
    relay::relay(&shared.limits, &mut session, drain).await
}

/// Preamble, client handshake, authentication and the upstream session, under the
/// handshake timeout. A failure is answered (a `<failure/>` once the client's transport
/// is up) and the connection closed.
async fn set_up(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
) -> Result<Established, Outcome> {
    let deadline = Instant::now() + shared.limits.handshake_timeout;
    // Once, right after accept: the read is what frees the kernel's copy.
    let own_syn = match shared.upstream.signals {
        Signals::Own => signals::take_saved_syn(&stream),
        Signals::Off | Signals::Forwarded => None,
    };
    let (read, write) = stream.into_split();
    let mut reader = FrameReader::new(read, shared.limits.max_frame_bytes);
    let mut writer = FrameWriter::new(write);

    // Stage 1: preamble and client handshake. No cipher yet: a failure just closes.
    let stage1 = tokio::time::timeout_at(
        deadline,
        accept_client(shared, &mut reader, &mut writer, peer),
    )
    .await
    .unwrap_or(Err(SessionError::Timeout(Timeout::Handshake)));
    let (origin, preamble, codecs, client) = match stage1 {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::debug!(error = %e, "client set-up failed");
            writer.shutdown().await;
            let _ = tokio::time::timeout(CLOSE_GRACE, reader.discard_to_end()).await;
            return Err(e.outcome());
        }
    };
    let ClientLeg {
        transport: client_transport,
        payload,
        remote_static,
        static_static: client_ss,
        ..
    } = client;
    let mut client_sink = Sink::new(writer, client_transport.send, codecs.to_client.clone());

    // Stage 2: authentication and the upstream session. A refusal is a <failure/>.
    // The capability lookup (bounded by its own timeout) runs while the upstream session
    // is set up, so it adds no latency unless it is the slower of the two.
    let stage2 = tokio::time::timeout_at(deadline, async {
        shared.auth.check(&payload).await?;
        let caps = async { Ok(shared.caps.session(&payload).await) };
        let upstream = async {
            let stream = upstream::dial(&shared.upstream).await?;
            let signals = match shared.upstream.signals {
                Signals::Off => Vec::new(),
                Signals::Own => own_signals(own_syn, reader.socket()),
                Signals::Forwarded => origin.forwarded,
            };
            upstream::handshake(
                &shared.upstream,
                stream,
                origin.addr,
                signals,
                &preamble,
                &remote_static,
                shared.devices.get(&remote_static),
                &payload,
                shared.limits.max_frame_bytes,
            )
            .await
        };
        tokio::try_join!(upstream, caps)
    })
    .await
    .unwrap_or(Err(SessionError::Timeout(Timeout::Handshake)));
    match stage2 {
        Ok((upstream, caps)) => {
            let upstream::UpstreamLeg {
                reader: upstream_reader,
                writer: upstream_writer,
                transport: upstream_transport,
                mut device,
            } = upstream;
            // Authenticated and through both handshakes: only such a device is kept.
            device.client_ss = client_ss;
            shared.devices.remember(remote_static, device);
            Ok(Established {
                client_reader: reader,
                client_recv: client_transport.recv,
                client_sink: Mutex::new(client_sink),
                upstream_reader,
                upstream_recv: upstream_transport.recv,
                upstream_sink: Mutex::new(Sink::new(
                    upstream_writer,
                    upstream_transport.send,
                    codecs.to_server.clone(),
                )),
                to_server: pipeline::build(&SessionInfo {
                    direction: Direction::ToServer,
                    caps: caps.clone(),
                }),
                to_client: pipeline::build(&SessionInfo {
                    direction: Direction::ToClient,
                    caps,
                }),
                codecs,
            })
        }
        Err(e) => {
            tracing::debug!(error = %e, "upstream set-up refused");
            if let Some(failure) = e.refusal() {
                let _ = client_sink.send(&failure).await;
            }
            client_sink.shutdown().await;
            let _ = tokio::time::timeout(CLOSE_GRACE, reader.discard_to_end()).await;
            Err(e.outcome())
        }
    }
}

/// The SYN TLV (when the kernel gave one) and the RTT TLV (when it has a sample), read
/// from the client's own socket.
fn own_signals(syn: Option<Vec<u8>>, client: &TcpStream) -> Vec<Tlv> {
    let mut tlvs = Vec::with_capacity(2);
    if let Some(syn) = syn {
        tlvs.push((TLV_SYN, syn));
    }
    if let Some(rtt) = signals::rtt(client) {
        tlvs.push((TLV_RTT, rtt.to_tlv_value().to_vec()));
    }
    tlvs
}

/// Who the client is, as the upstream PROXY header will say.
struct Origin {
    /// Its address: the TCP peer, or the source of the balancer's PROXY header.
    addr: SocketAddr,
    /// The balancer's SYN and RTT TLVs, for [`Signals::Forwarded`].
    forwarded: Vec<Tlv>,
}

/// Reads the PROXY header (if configured), the preamble, and runs the client handshake.
async fn accept_client(
    shared: &Shared,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    peer: SocketAddr,
) -> Result<(Origin, transport::Preamble, SessionCodecs, ClientLeg), SessionError> {
    let mut origin = Origin {
        addr: peer,
        forwarded: Vec::new(),
    };
    if shared.client_proxy_protocol {
        match proxy_protocol::read_header_with_tlvs(reader).await {
            Ok(received) => {
                origin.addr = received.source.unwrap_or(peer);
                if shared.upstream.signals == Signals::Forwarded {
                    origin.forwarded = received
                        .tlvs
                        .into_iter()
                        .filter(|(kind, _)| matches!(*kind, TLV_SYN | TLV_RTT))
                        .collect();
                }
            }
            Err(proxy_protocol::ProxyHeaderError::Frame(e)) => {
                return Err(SessionError::frame(Side::Client, e))
            }
            Err(e) => return Err(SessionError::malformed(Side::Client, e)),
        }
    }
    let preamble = match transport::read_preamble(reader, |v| shared.versions.contains(&v)).await {
        Ok(p) => p,
        Err(PreambleError::Frame(e)) => return Err(SessionError::frame(Side::Client, e)),
        Err(e) => return Err(SessionError::malformed(Side::Client, e)),
    };
    // Configuration makes every accepted version name a dictionary in binary.
    let codecs = shared.codecs(preamble.version).ok_or_else(|| {
        SessionError::malformed(
            Side::Client,
            Cause::Unexpected("no dictionary for the client's version"),
        )
    })?;
    let leg = client::handshake(
        shared,
        preamble.prologue(),
        reader,
        writer,
        codecs.to_client.as_ref(),
    )
    .await?;
    Ok((origin, preamble, codecs, leg))
}

#[cfg(test)]
mod tests;
