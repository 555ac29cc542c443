//! A session from accept to close: set-up under the handshake timeout, then the relay
//! of stanzas both ways until one side ends, then the closing stanzas of SPEC §2.9.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::caps::SessionCaps;
use crate::frame::{FrameReader, FrameWriter};
use crate::metrics::{self, Direction};
use crate::noise::RecvCipher;
use crate::pipeline::{self, SessionInfo, StanzaService};
use crate::stanza::{Element, SessionCodecs, Stanza, StanzaCodec};
use crate::transport::proxy_protocol::{self, Tlv};
use crate::transport::signals::{self, TLV_RTT, TLV_SYN};
use crate::transport::{self, PreambleError};

use super::client::{self, frame_error, ClientLeg};
use super::drain::Drain;
use super::error::{Outcome, SessionError, Side};
use super::sink::{Sink, BATCH_BYTES};
use super::upstream;
use super::{Shared, Signals};

/// How long a closing session may spend, all waits together, on its last writes and on
/// waiting for the peers to close: time for a peer's last stanzas to arrive before the
/// close resets anything, bounded so that a peer that stopped reading or never closes
/// cannot keep the session's memory and sockets.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The same budget once the drain's grace has passed: the process exits within it, so a
/// pod leaves before Kubernetes kills it, whatever its peers do.
const SHUTDOWN_CLOSE: Duration = Duration::from_secs(1);

/// Runs a whole session; returns how it ended.
pub async fn run(shared: &Shared, stream: TcpStream, peer: SocketAddr, drain: &Drain) -> Outcome {
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
    // which for this 400-byte value would be paid by every session for its whole life.
    relay(shared, &mut session, drain).await
}

/// A session with both legs up: what the relay needs, and nothing of set-up (token,
/// preamble, handshake state), so an idle session holds only this.
struct Established {
    client_reader: FrameReader,
    client_recv: RecvCipher,
    client_sink: Mutex<Sink>,
    upstream_reader: FrameReader,
    upstream_recv: RecvCipher,
    upstream_sink: Mutex<Sink>,
    caps: SessionCaps,
    /// Decode what each side sends.
    codecs: SessionCodecs,
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
    .unwrap_or(Err(SessionError::Timeout("handshake")));
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
                &payload,
                shared.limits.max_frame_bytes,
            )
            .await
        };
        tokio::try_join!(upstream, caps)
    })
    .await
    .unwrap_or(Err(SessionError::Timeout("handshake")));
    match stage2 {
        Ok((upstream, caps)) => Ok(Established {
            client_reader: reader,
            client_recv: client_transport.recv,
            client_sink: Mutex::new(client_sink),
            upstream_reader: upstream.reader,
            upstream_recv: upstream.transport.recv,
            upstream_sink: Mutex::new(Sink::new(
                upstream.writer,
                upstream.transport.send,
                codecs.to_server.clone(),
            )),
            caps,
            codecs,
        }),
        Err(e) => {
            tracing::debug!(error = %e, "upstream set-up refused");
            let outcome = e.outcome();
            let failure = Element::new("failure")
                .with_attr("reason", &outcome.code.unwrap_or(500).to_string())
                .with_attr("location", "proxy");
            let _ = client_sink.send(&Stanza::from_element(failure)).await;
            client_sink.shutdown().await;
            let _ = tokio::time::timeout(CLOSE_GRACE, reader.discard_to_end()).await;
            Err(outcome)
        }
    }
}

/// Relays stanzas both ways until one side ends, then closes as SPEC §2.9 says.
async fn relay(shared: &Shared, s: &mut Established, drain: &Drain) -> Outcome {
    let relay = Relay {
        cause: SyncMutex::new(None),
        stop: watch::channel(false).0,
        base: Instant::now(),
        last_activity_ms: AtomicU64::new(0),
        write_stall: shared.limits.idle_timeout,
    };
    {
        let to_server = relay.direction(
            Direction::ToServer,
            s.codecs.to_server.as_ref(),
            &mut s.client_reader,
            &mut s.client_recv,
            pipeline::build(&SessionInfo {
                direction: Direction::ToServer,
                caps: Some(s.caps.clone()),
            }),
            &s.upstream_sink,
            &s.client_sink,
        );
        let to_client = relay.direction(
            Direction::ToClient,
            s.codecs.to_client.as_ref(),
            &mut s.upstream_reader,
            &mut s.upstream_recv,
            pipeline::build(&SessionInfo {
                direction: Direction::ToClient,
                caps: Some(s.caps.clone()),
            }),
            &s.client_sink,
            &s.upstream_sink,
        );
        let watchdog = relay.watchdog(shared.limits.idle_timeout, drain);
        // Pinned in place and joined by reference: joining by value would store each
        // future twice in the session's state, which is most of an idle session's memory.
        tokio::pin!(to_server, to_client, watchdog);
        let mut stopped = relay.stop.subscribe();
        tokio::select! {
            _ = async { tokio::join!(&mut to_server, &mut to_client, &mut watchdog) } => {}
            _ = async {
                let _ = stopped.wait_for(|s| *s).await;
                tokio::time::sleep_until(relay.close_by()).await;
            } => {}
        }
    }
    // One deadline for every wait of the close, whichever peer stalls.
    let close_by = relay.close_by();

    let cause = relay
        .cause
        .into_inner()
        .expect("not poisoned")
        .map_or(SessionError::Closed(Side::Client), |(cause, _)| cause);
    tracing::debug!(error = %cause, "session closing");
    let outcome = cause.outcome();
    let client_sink = s.client_sink.get_mut();
    let upstream_sink = s.upstream_sink.get_mut();
    // Stanzas read completely are written before the close, unless their side failed.
    for sink in [&mut *client_sink, &mut *upstream_sink] {
        if !sink.has_failed() {
            let _ = tokio::time::timeout_at(close_by, sink.flush()).await;
        }
    }
    if let Some(code) = outcome.code {
        let error = Stanza::from_element(
            Element::new("stream:error")
                .with_attr("code", &code.to_string())
                .with_attr("text", outcome.text),
        );
        for (side, sink) in [
            (Side::Client, &mut *client_sink),
            (Side::Upstream, &mut *upstream_sink),
        ] {
            if outcome.failed != Some(side) && !sink.has_failed() {
                let _ = tokio::time::timeout_at(close_by, sink.send(&error)).await;
            }
        }
    }
    client_sink.shutdown().await;
    upstream_sink.shutdown().await;
    let _ = tokio::time::timeout_at(close_by, async {
        tokio::join!(
            s.client_reader.discard_to_end(),
            s.upstream_reader.discard_to_end()
        )
    })
    .await;
    outcome
}

/// A stanza that could not be queued for `to`: over the wire format's bounds once
/// annotated (the limit is the sender's, `from`), or `to` is gone.
fn queue_error(e: std::io::Error, from: Side, to: Side) -> SessionError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        SessionError::Limit {
            side: from,
            detail: e.to_string(),
        }
    } else {
        SessionError::Closed(to)
    }
}

/// Writes what a sink has queued; a failed write means `side` is gone.
/// Writes what a sink has queued; a failed write means `side` is gone. A side that
/// reads nothing for `stall` (`limits.idle_timeout`) ends the session: it would
/// otherwise hold it, and the other side's reads, for as long as it keeps its socket
/// open, even while its own stanzas keep the session from counting as idle.
async fn flush(sink: &Mutex<Sink>, side: Side, stall: Duration) -> Result<(), SessionError> {
    let mut sink = sink.lock().await;
    if sink.pending_len() == 0 {
        return Ok(());
    }
    match tokio::time::timeout(stall, sink.flush()).await {
        Ok(written) => written.map_err(|_| SessionError::Closed(side)),
        Err(_) => Err(SessionError::Timeout("write")),
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
    let malformed = |detail: String| SessionError::Malformed {
        side: Side::Client,
        detail,
    };
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
                return Err(frame_error(Side::Client, e))
            }
            Err(e) => return Err(malformed(e.to_string())),
        }
    }
    let preamble = match transport::read_preamble(reader, |v| shared.versions.contains(&v)).await {
        Ok(p) => p,
        Err(PreambleError::Frame(e)) => return Err(frame_error(Side::Client, e)),
        Err(e) => return Err(malformed(e.to_string())),
    };
    // Configuration makes every accepted version name a dictionary in binary.
    let codecs = shared
        .codecs(preamble.version)
        .ok_or_else(|| malformed(format!("no dictionary for version {}", preamble.version)))?;
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

/// State the two directions and the watchdog share.
struct Relay {
    /// The first reason to stop, and when it came; later ones are consequences.
    cause: SyncMutex<Option<(SessionError, Instant)>>,
    /// Tells every part to stop reading.
    stop: watch::Sender<bool>,
    /// Origin of `last_activity_ms`.
    base: Instant,
    /// When a frame last arrived from either side, in ms after `base`.
    last_activity_ms: AtomicU64,
    /// Longest a write to a side may wait for it to read.
    write_stall: Duration,
}

impl Relay {
    /// When the close must be over: one budget from the first reason to stop, less once
    /// the drain's grace has passed.
    fn close_by(&self) -> Instant {
        match &*self.cause.lock().expect("not poisoned") {
            Some((SessionError::Shutdown, at)) => *at + SHUTDOWN_CLOSE,
            Some((_, at)) => *at + CLOSE_GRACE,
            None => Instant::now() + CLOSE_GRACE,
        }
    }

    /// Records why the session ends (first caller wins) and stops every part.
    fn finish(&self, error: SessionError) {
        let mut cause = self.cause.lock().expect("not poisoned");
        if cause.is_none() {
            *cause = Some((error, Instant::now()));
        }
        drop(cause);
        self.stop.send_replace(true);
    }

    /// Relays one direction until the stop signal or an error. Each stanza is written
    /// before the next frame is read, so a side that stops reading stalls the other
    /// side's reads through TCP, never through memory.
    #[allow(clippy::too_many_arguments)]
    async fn direction(
        &self,
        direction: Direction,
        codec: &dyn StanzaCodec,
        reader: &mut FrameReader,
        cipher: &mut RecvCipher,
        mut service: StanzaService,
        forward: &Mutex<Sink>,
        back: &Mutex<Sink>,
    ) {
        let (from, to) = match direction {
            Direction::ToServer => (Side::Client, Side::Upstream),
            Direction::ToClient => (Side::Upstream, Side::Client),
        };
        let mut stop = self.stop.subscribe();
        // Read instants of the stanzas in the current batch, for the relay histogram.
        let mut batch: Vec<Instant> = Vec::new();
        let result: Result<(), SessionError> = async {
            loop {
                let frame = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                    frame = reader.next_frame() => frame,
                };
                let mut frame = frame
                    .map_err(|e| frame_error(from, e))?
                    .ok_or(SessionError::Closed(from))?;
                let read_at = Instant::now();
                self.last_activity_ms.store(
                    read_at.duration_since(self.base).as_millis() as u64,
                    Ordering::Relaxed,
                );
                let len =
                    cipher
                        .decrypt_in_place(&mut frame)
                        .map_err(|_| SessionError::Malformed {
                            side: from,
                            detail: "transport frame failed to decrypt".into(),
                        })?;
                frame.truncate(len);
                let stanza = codec.decode(frame.freeze()).map_err(|e| {
                    if e.code() == 413 {
                        SessionError::Limit {
                            side: from,
                            detail: e.to_string(),
                        }
                    } else {
                        SessionError::Malformed {
                            side: from,
                            detail: e.to_string(),
                        }
                    }
                })?;
                let routed = match service.ready().await {
                    Ok(svc) => svc.call(stanza).await,
                    Err(never) => match never {},
                };
                let routed = routed.unwrap_or_else(|never| match never {});
                if let Some(stanza) = routed.forward {
                    forward
                        .lock()
                        .await
                        .queue(&stanza)
                        .map_err(|e| queue_error(e, from, to))?;
                }
                if let Some(reply) = routed.reply {
                    back.lock()
                        .await
                        .queue(&reply)
                        .map_err(|e| queue_error(e, from, from))?;
                }
                batch.push(read_at);
                // Write when no further frame is already here, or the batch is large.
                let full = forward.lock().await.pending_len() >= BATCH_BYTES;
                if full || !reader.has_frame_buffered() {
                    flush(forward, to, self.write_stall).await?;
                    flush(back, from, self.write_stall).await?;
                    for read_at in batch.drain(..) {
                        metrics::relay_duration(direction, read_at.elapsed());
                    }
                }
            }
        }
        .await;
        match result {
            Ok(()) => {}
            Err(e) => self.finish(e),
        }
    }

    /// Ends the session when no frame arrived for `idle`, or when the drain's grace
    /// passed; returns when anything else stopped the session.
    async fn watchdog(&self, idle: Duration, drain: &Drain) {
        let mut stop = self.stop.subscribe();
        loop {
            let last =
                self.base + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if Instant::now() >= deadline {
                self.finish(SessionError::Timeout("idle"));
                return;
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = drain.grace_expired() => {
                    self.finish(SessionError::Shutdown);
                    return;
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
