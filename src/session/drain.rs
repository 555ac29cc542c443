//! The drain signal (SPEC §8): once it starts, the listener closes; once the grace
//! passes, live sessions end with `<stream:error code="503" text="shutdown"/>`.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A cheap, cloneable view of the drain state.
#[derive(Clone, Debug)]
pub struct Drain {
    /// `Some(deadline)` once draining began.
    rx: watch::Receiver<Option<Instant>>,
}

/// The side that starts the drain.
#[derive(Debug)]
pub struct DrainHandle {
    /// Sends the deadline.
    tx: watch::Sender<Option<Instant>>,
}

/// A new drain signal, not yet started.
pub fn channel() -> (DrainHandle, Drain) {
    let (tx, rx) = watch::channel(None);
    (DrainHandle { tx }, Drain { rx })
}

impl DrainHandle {
    /// Starts draining; sessions get `grace` to end by themselves.
    pub fn start(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.tx.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
    }
}

impl Drain {
    /// A drain that never starts, for tools that run sessions without a server.
    pub fn never() -> Self {
        // With the sender gone, `started` stays pending for ever.
        channel().1
    }

    /// Resolves once draining began.
    pub async fn started(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once the grace period has passed.
    pub async fn grace_expired(&self) {
        self.started().await;
        let deadline = self.rx.borrow().expect("started");
        tokio::time::sleep_until(deadline).await;
    }

    /// True once draining began.
    pub fn is_draining(&self) -> bool {
        self.rx.borrow().is_some()
    }
}
