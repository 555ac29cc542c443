//! Shared helpers for the behaviour tests: a deployment on loopback and small waits.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub use interop_proxy::demo::Deployment;
use interop_proxy::sim::{SimClient, SimError};
use interop_proxy::stanza::Stanza;

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Receives the next stanza or fails the test after [`WAIT`].
pub async fn recv(client: &mut SimClient) -> Option<Stanza> {
    tokio::time::timeout(WAIT, client.recv())
        .await
        .expect("timed out waiting for a stanza")
        .expect("receive failed")
}

/// Receives the next stanza that is not an `<ack>`.
pub async fn recv_skip_acks(client: &mut SimClient) -> Option<Stanza> {
    tokio::time::timeout(WAIT, client.recv_skip_acks())
        .await
        .expect("timed out waiting for a stanza")
        .expect("receive failed")
}

/// Waits until the connection ends; returns every stanza that came before it.
pub async fn drain_until_closed(client: &mut SimClient) -> Vec<Stanza> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, client.recv()).await {
            Ok(Ok(Some(s))) => seen.push(s),
            Ok(Ok(None)) | Ok(Err(SimError::Frame(_))) | Ok(Err(SimError::Io(_))) => return seen,
            Ok(Err(e)) => panic!("unexpected error: {e}"),
            Err(_) => panic!("connection did not close"),
        }
    }
}

/// Polls `f` until it holds or [`WAIT`] passes.
pub async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The attributes of a stanza's root, for assertions.
pub fn attr(stanza: &Stanza, name: &str) -> Option<String> {
    stanza.root().attr(name).map(|v| v.into_owned())
}
pub mod tls;
