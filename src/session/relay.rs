//! The relay of an established session: stanzas both ways, each through its
//! direction's pipeline, until one side ends; then the closing stanzas of SPEC §2.9.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::frame::FrameReader;
use crate::lifecycle::PhaseView;
use crate::metrics::{self, Direction};
use crate::noise::leg::{QueueError, Sink, BATCH_BYTES};
use crate::noise::RecvCipher;
use crate::pipeline::Pipeline;
use crate::stanza::{SessionCodecs, StanzaCodec};

use super::close::Outcome;
use super::error::{SessionError, Side, Timeout};
use super::stop::Stop;
use super::SessionLimits;

/// How long a closing session may spend, all waits together, on its last writes and on
/// waiting for the peers to close: time for a peer's last stanzas to arrive before the
/// close resets anything, bounded so that a peer that stopped reading or never closes
/// cannot keep the session's memory and sockets.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The same budget once the drain's grace has passed: the process exits within it, so a
/// pod leaves before Kubernetes kills it, whatever its peers do.
const SHUTDOWN_CLOSE: Duration = Duration::from_secs(1);

/// A session with both legs up: what the relay needs, and nothing of set-up (token,
/// preamble, handshake state), so an idle session holds only this.
pub(super) struct Established {
    pub(super) client_reader: FrameReader,
    pub(super) client_recv: RecvCipher,
    pub(super) client_sink: Mutex<Sink>,
    pub(super) upstream_reader: FrameReader,
    pub(super) upstream_recv: RecvCipher,
    pub(super) upstream_sink: Mutex<Sink>,
    /// Decode what each side sends.
    pub(super) codecs: SessionCodecs,
    /// The steps of each direction.
    pub(super) to_server: Pipeline,
    pub(super) to_client: Pipeline,
}

/// Relays stanzas both ways until one side ends, then closes as SPEC §2.9 says.
pub(super) async fn relay(
    limits: &SessionLimits,
    s: &mut Established,
    drain: &PhaseView,
) -> Outcome {
    let relay = Relay {
        cause: SyncMutex::new(None),
        stop: Stop::default(),
        base: Instant::now(),
        last_activity_ms: AtomicU64::new(0),
        write_stall: limits.idle_timeout,
    };
    {
        let to_server = relay.direction(
            Direction::ToServer,
            s.codecs.to_server.as_ref(),
            &mut s.client_reader,
            &mut s.client_recv,
            &mut s.to_server,
            &s.upstream_sink,
            &s.client_sink,
        );
        let to_client = relay.direction(
            Direction::ToClient,
            s.codecs.to_client.as_ref(),
            &mut s.upstream_reader,
            &mut s.upstream_recv,
            &mut s.to_client,
            &s.client_sink,
            &s.upstream_sink,
        );
        let watchdog = relay.watchdog(limits.idle_timeout, drain);
        // Pinned in place and joined by reference: joining by value would store each
        // future twice in the session's state, which is most of an idle session's memory.
        tokio::pin!(to_server, to_client, watchdog);
        tokio::select! {
            _ = async { tokio::join!(&mut to_server, &mut to_client, &mut watchdog) } => {}
            _ = async {
                relay.stop.raised().await;
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
    if let Some(error) = outcome.stream_error() {
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
fn queue_error(e: QueueError, from: Side, to: Side) -> SessionError {
    match e {
        QueueError::Encode(e) => SessionError::Limit {
            side: from,
            cause: e.into(),
        },
        QueueError::Gone(_) => SessionError::Closed(to),
    }
}

/// Writes what a sink has queued; a failed write means `side` is gone. A side that
/// reads nothing for `stall` (`limits.idle_timeout`) ends the session: it would
/// otherwise hold it, and the other side's reads, for as long as it keeps its socket
/// open, even while its own stanzas keep the session from counting as idle.
///
/// Most flushes find the lock free and the socket's buffer with room, and end in one
/// `write` without awaiting; only the rest wait, boxed, so that the waiting (the lock,
/// the write timeout) is not part of every direction's state, which an idle session
/// keeps for its whole life.
async fn flush(sink: &Mutex<Sink>, side: Side, stall: Duration) -> Result<(), SessionError> {
    if let Ok(mut now) = sink.try_lock() {
        match now.try_flush() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_) => return Err(SessionError::Closed(side)),
        }
    }
    Box::pin(flush_waiting(sink, side, stall)).await
}

/// [`flush`] once the lock is taken or the socket is full.
async fn flush_waiting(
    sink: &Mutex<Sink>,
    side: Side,
    stall: Duration,
) -> Result<(), SessionError> {
    let mut sink = sink.lock().await;
    if sink.pending_len() == 0 {
        return Ok(());
    }
    match tokio::time::timeout(stall, sink.flush()).await {
        Ok(written) => written.map_err(|_| SessionError::Closed(side)),
        Err(_) => Err(SessionError::Timeout(Timeout::Write)),
    }
}

/// Whether every step can take the next stanza now. Asking registers the task to be
/// woken when that changes.
async fn pipeline_ready(pipeline: &mut Pipeline) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(pipeline.poll_ready(cx).is_ready())).await
}

/// State the two directions and the watchdog share.
struct Relay {
    /// The first reason to stop, and when it came; later ones are consequences.
    cause: SyncMutex<Option<(SessionError, Instant)>>,
    /// Tells every part to stop reading.
    stop: Stop,
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
        self.stop.raise();
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
        pipeline: &mut Pipeline,
        forward: &Mutex<Sink>,
        back: &Mutex<Sink>,
    ) {
        let (from, to) = match direction {
            Direction::ToServer => (Side::Client, Side::Upstream),
            Direction::ToClient => (Side::Upstream, Side::Client),
        };
        // Read instants of the stanzas in the current batch, for the relay histogram.
        let mut batch: Vec<Instant> = Vec::new();
        // Whether the batch put anything into either sink, so that a flush, and the lock
        // it takes, happens only where there is something to write.
        let (mut forwarded, mut replied) = (false, false);
        let result: Result<(), SessionError> = async {
            loop {
                // Nothing more is read from this side until every step can take it.
                if !pipeline_ready(pipeline).await {
                    if std::mem::take(&mut forwarded) {
                        flush(forward, to, self.write_stall).await?;
                    }
                    if std::mem::take(&mut replied) {
                        flush(back, from, self.write_stall).await?;
                    }
                    tokio::select! {
                        biased;
                        () = self.stop.raised() => return Ok(()),
                        () = pipeline.ready() => {}
                    }
                }
                let frame = tokio::select! {
                    biased;
                    () = self.stop.raised() => return Ok(()),
                    frame = reader.next_frame() => frame,
                };
                let mut frame = frame
                    .map_err(|e| SessionError::frame(from, e))?
                    .ok_or(SessionError::Closed(from))?;
                let read_at = Instant::now();
                self.last_activity_ms.store(
                    read_at.duration_since(self.base).as_millis() as u64,
                    Ordering::Relaxed,
                );
                let len = cipher
                    .decrypt_in_place(&mut frame)
                    .map_err(|e| SessionError::malformed(from, e))?;
                frame.truncate(len);
                let stanza = codec
                    .decode(frame.freeze())
                    .map_err(|e| SessionError::stanza(from, e))?;
                let routed = pipeline
                    .handle(stanza)
                    .map_err(|e| SessionError::step(from, e))?;
                let mut full = false;
                if let Some(stanza) = routed.forward {
                    let mut sink = forward.lock().await;
                    sink.queue(&stanza).map_err(|e| queue_error(e, from, to))?;
                    full = sink.pending_len() >= BATCH_BYTES;
                    forwarded = true;
                }
                if let Some(reply) = routed.reply {
                    back.lock()
                        .await
                        .queue(&reply)
                        .map_err(|e| queue_error(e, from, from))?;
                    replied = true;
                }
                batch.push(read_at);
                // Write when no further frame is already here, or the batch is large.
                if full || !reader.has_frame_buffered() {
                    if std::mem::take(&mut forwarded) {
                        flush(forward, to, self.write_stall).await?;
                    }
                    if std::mem::take(&mut replied) {
                        flush(back, from, self.write_stall).await?;
                    }
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
    /// passed; returns when anything else stopped the session. One timer serves both
    /// deadlines, and the drain is watched through the phase's change alone: this wait
    /// is part of every idle session's memory for as long as it idles.
    async fn watchdog(&self, idle: Duration, drain: &PhaseView) {
        let mut phase = drain.clone();
        // Whether the phase can still move; once it cannot, only the timer is waited on.
        let mut moving = true;
        loop {
            let grace = phase.seen_deadline();
            let now = Instant::now();
            if grace.is_some_and(|grace| now >= grace) {
                self.finish(SessionError::Shutdown);
                return;
            }
            let last =
                self.base + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed));
            let deadline = last + idle;
            if now >= deadline {
                self.finish(SessionError::Timeout(Timeout::Idle));
                return;
            }
            let wake = grace.map_or(deadline, |grace| grace.min(deadline));
            tokio::select! {
                () = self.stop.raised() => return,
                still = phase.changed(), if moving && grace.is_none() => moving = still,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}
