//! The operator endpoint: `GET /metrics`, `GET /live`, `GET /ready`.
//!
//! It shares the process with the proxy, so it is built to stay cheap under abuse: a
//! fixed number of connections (extras are closed on accept, not queued), a deadline for
//! request headers and a maximum connection lifetime, so slow or idle clients cannot hold
//! sockets or tasks that client sessions need.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
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
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Admin connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client gets to send complete request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed this long after accept, whatever it is doing; scrapers reconnect.
pub const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// On shutdown, how long in-flight admin requests may take to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often histogram samples are folded into buckets when nobody scrapes, which bounds
/// the memory they hold.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of fds) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

/// The `/ready` latch: starting → ready → draining, never back, so a late `set_ready`
/// cannot re-admit traffic to a draining pod. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    /// One of `STARTING`, `READY`, `DRAINING`.
    state: Arc<AtomicU8>,
}

impl Readiness {
    /// A latch in the starting state (`/ready` answers 503).
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys are loaded and listeners bound: start taking traffic. No effect once draining.
    pub fn set_ready(&self) {
        let _ = self
            .state
            .compare_exchange(STARTING, READY, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Shutdown began: ask the load balancer to stop sending new clients.
    pub fn set_draining(&self) {
        self.state.store(DRAINING, Ordering::Release);
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.state.load(Ordering::Acquire) == READY
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.state.load(Ordering::Acquire) == DRAINING
    }
}

/// Serves the admin endpoint on `listener` until `shutdown` completes, then lets in-flight
/// requests finish briefly and returns.
///
/// Also runs the Prometheus recorder's upkeep, since this is the task that owns the handle
/// for the life of the process.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, handle, readiness, shutdown, Bounds::DEFAULT).await
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
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bounds: Bounds,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(bounds.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
    upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        conns.spawn(serve_connection(
                            stream,
                            handle.clone(),
                            readiness.clone(),
                            stop_rx.clone(),
                            permit,
                            bounds,
                        ));
                    }
                    // Full: closing at once costs nothing; queueing would let a flood grow.
                    Err(_) => drop(stream),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = upkeep.tick() => handle.run_upkeep(),
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }

    drop(listener);
    let _ = stop_tx.send(true);
    while conns.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    handle: PrometheusHandle,
    readiness: Readiness,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    bounds: Bounds,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let response = respond(&req, &handle, &readiness);
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
    readiness: &Readiness,
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
        _ if readiness.is_ready() => text(StatusCode::OK, "ready\n"),
        _ if readiness.is_draining() => text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
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
