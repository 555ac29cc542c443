//! Accepting and dialling TCP: the one accept loop the proxy's listener and the admin
//! server both run, the client listener's socket options, and the upstream dial.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::resolve::Resolver;

/// The client listener's accept queue: Linux's default `somaxconn`, which also caps it.
/// After a rollout every client of a pod reconnects at once; connections that find the
/// queue full are dropped by the kernel and come back only after the client's SYN
/// retransmit, a second or more later, which is what stretches a reconnect wave.
const ACCEPT_BACKLOG: u32 = 4096;
/// First pause after a failed accept; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause after failed accepts in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts on `listener` until `stop` resolves, handing each connection to `serve`,
/// which must not wait: whatever takes time (a handshake, a request) belongs in a task
/// it spawns, so one slow peer never holds up the next accept.
///
/// A failed accept (EMFILE and friends) is logged and followed by a pause that doubles
/// while failures continue: spinning would burn the core the live sessions need, and the
/// error passes by itself as connections close.
pub async fn accept_loop(
    listener: &TcpListener,
    what: &'static str,
    stop: impl Future<Output = ()>,
    mut serve: impl FnMut(TcpStream, SocketAddr),
) {
    tokio::pin!(stop);
    let mut backoff = MIN_BACKOFF;
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                serve(stream, peer);
            }
            Err(e) => {
                tracing::warn!(listener = what, error = %e, "accept failed");
                tokio::select! {
                    biased;
                    () = &mut stop => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Binds the client listener with TCP_NODELAY set, so that each accepted socket starts
/// with it (Linux inherits it) instead of paying a `setsockopt` per session: stanzas are
/// small and latency-bound, and Nagle would hold them back.
///
/// With `save_syns` the kernel keeps each client's SYN for the session to read once;
/// a listener whose sessions would not read it does not ask, since the kernel then
/// holds every SYN until its connection closes.
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
        super::signals::save_syns(&socket)?;
    }
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Dials `upstream` within `timeout`, each of its addresses in turn, with TCP_NODELAY for
/// the same reason as the listener. A timeout is an error of kind `TimedOut`; a dial that
/// reaches no address makes the resolver look the name up again next time.
pub async fn dial(upstream: &Resolver, timeout: Duration) -> std::io::Result<TcpStream> {
    let attempt = async {
        let mut last = None;
        for addr in upstream.addrs().await?.iter() {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into()))
    };
    let stream = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            upstream.forget();
            return Err(e);
        }
        Err(_) => {
            upstream.forget();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timeout",
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
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

    #[tokio::test]
    async fn the_loop_serves_each_connection_until_stopped() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let mut peers = Vec::new();
            accept_loop(
                &listener,
                "test",
                async {
                    let _ = stop_rx.await;
                },
                |_, peer| peers.push(peer),
            )
            .await;
            peers
        });
        let a = TcpStream::connect(addr).await.unwrap();
        let b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop_tx.send(()).unwrap();
        let peers = served.await.unwrap();
        assert_eq!(
            peers,
            vec![a.local_addr().unwrap(), b.local_addr().unwrap()]
        );
    }
}
