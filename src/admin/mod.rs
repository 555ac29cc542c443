//! The operator endpoint: `GET /metrics`, `GET /live`, `GET /ready`.
//!
//! It shares the process with the proxy, so it is built to stay cheap under abuse: a
//! fixed number of connections, a short deadline for request headers and a maximum
//! connection lifetime, so slow or idle clients cannot hold sockets or tasks that client
//! sessions need.
//!
//! When the bound is reached, the newcomer is served and the oldest connection that has
//! not sent a complete request (else the oldest of all) is closed to make room. Refusing
//! the newcomer instead would let anyone who keeps the bound's worth of idle sockets open
//! fail every liveness probe, and the kubelet would then restart the pod and drop every
//! session; an evicted scraper just reconnects.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::lifecycle::PhaseView;
use crate::transport::accept_loop;

/// Admin connections served at once; a newcomer beyond it evicts an older one.
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client gets to send complete request headers: probes and scrapers send theirs
/// at once, so anything slower is holding a slot.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection is closed this long after accept, whatever it is doing; scrapers reconnect.
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// On shutdown, how long in-flight admin requests may take to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often histogram samples are folded into buckets when nobody scrapes, which bounds
/// the memory they hold.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Serves the admin endpoint on `listener` until `shutdown` completes, then lets in-flight
/// requests finish briefly and returns.
///
/// Also runs the Prometheus recorder's upkeep, since this is the task that owns the handle
/// for the life of the process.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    phase: PhaseView,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, handle, phase, shutdown, Bounds::DEFAULT).await
}

/// The abuse bounds, a value so tests can shrink them instead of waiting half a minute.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    /// Connections served at once.
    max_connections: usize,
    /// Time allowed for complete request headers.
    header_read_timeout: Duration,
    /// Time after accept at which a connection is closed regardless.
    max_lifetime: Duration,
}

impl Bounds {
    const DEFAULT: Bounds = Bounds {
        max_connections: MAX_CONNECTIONS,
        header_read_timeout: HEADER_READ_TIMEOUT,
        max_lifetime: MAX_CONNECTION_LIFETIME,
    };
}

async fn serve_with(
    listener: TcpListener,
    handle: PrometheusHandle,
    phase: PhaseView,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bounds: Bounds,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let slots = Arc::new(Mutex::new(Slots::default()));
    let upkeep = async {
        let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            upkeep.tick().await;
            handle.run_upkeep();
        }
    };
    let accept = accept_loop(&listener, "admin", shutdown, |stream, _peer| {
        while conns.try_join_next().is_some() {}
        let slot = {
            let mut slots = slots.lock().expect("not poisoned");
            if slots.len() >= bounds.max_connections {
                slots.evict_one();
            }
            slots.add()
        };
        conns.spawn(serve_connection(
            stream,
            handle.clone(),
            phase.clone(),
            stop_rx.clone(),
            Booked {
                slot,
                slots: slots.clone(),
            },
            bounds,
        ));
    });
    tokio::select! {
        () = accept => {}
        () = upkeep => {}
    }

    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// The connections being served, oldest first.
#[derive(Default)]
struct Slots {
    next_id: u64,
    open: VecDeque<Slot>,
}

/// What the accept loop keeps of one connection: enough to tell it to go.
struct Slot {
    id: u64,
    /// Set by the connection once a complete request arrived.
    requested: Arc<AtomicBool>,
    /// Tells the connection to close.
    evict: Arc<Notify>,
}

/// The connection's side of its [`Slot`].
struct SlotHandle {
    id: u64,
    requested: Arc<AtomicBool>,
    evict: Arc<Notify>,
}

impl Slots {
    fn len(&self) -> usize {
        self.open.len()
    }

    fn add(&mut self) -> SlotHandle {
        let id = self.next_id;
        self.next_id += 1;
        let slot = Slot {
            id,
            requested: Arc::new(AtomicBool::new(false)),
            evict: Arc::new(Notify::new()),
        };
        let handle = SlotHandle {
            id,
            requested: slot.requested.clone(),
            evict: slot.evict.clone(),
        };
        self.open.push_back(slot);
        handle
    }

    /// Closes the oldest connection that never sent a complete request, else the oldest.
    /// Its slot is freed now; its task ends at its next poll.
    fn evict_one(&mut self) {
        let victim = self
            .open
            .iter()
            .position(|s| !s.requested.load(Ordering::Relaxed))
            .unwrap_or(0);
        if let Some(slot) = self.open.remove(victim) {
            slot.evict.notify_one();
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(at) = self.open.iter().position(|s| s.id == id) {
            self.open.remove(at);
        }
    }
}

/// A connection's slot, given back to the books when the connection ends however it ends.
struct Booked {
    slot: SlotHandle,
    slots: Arc<Mutex<Slots>>,
}

impl Drop for Booked {
    fn drop(&mut self) {
        self.slots
            .lock()
            .expect("not poisoned")
            .remove(self.slot.id);
    }
}

/// Serves one connection.
async fn serve_connection(
    stream: TcpStream,
    handle: PrometheusHandle,
    phase: PhaseView,
    mut stop: watch::Receiver<bool>,
    booked: Booked,
    bounds: Bounds,
) {
    let slot = &booked.slot;
    let requested = slot.requested.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        requested.store(true, Ordering::Relaxed);
        let response = respond(&req, &handle, &phase);
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let lifetime = tokio::time::sleep(bounds.max_lifetime);
    tokio::pin!(lifetime);

    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        }
        // Dropping the connection closes the socket.
        () = &mut lifetime => {}
        () = slot.evict.notified() => {}
        // The borrow `wait_for` returns is not `Send`; drop it inside.
        () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

fn respond(
    req: &Request<Incoming>,
    handle: &PrometheusHandle,
    phase: &PhaseView,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/live" | "/ready") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    match path {
        "/metrics" => {
            let mut resp = Response::new(Full::new(Bytes::from(handle.render())));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        "/live" => text(StatusCode::OK, "live\n"),
        _ if phase.is_ready() => text(StatusCode::OK, "ready\n"),
        _ if phase.is_draining() => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        _ => text(StatusCode::SERVICE_UNAVAILABLE, "starting\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // Probe answers change with state; a cache in between must not replay them.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests;
