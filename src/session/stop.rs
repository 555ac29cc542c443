//! The relay's stop signal. Every part of a relay (both directions, the watchdog, the
//! close timer) is polled by the session's one task, so one flag and one waker are enough:
//! a wait is a reference, where a `watch::Receiver::wait_for` future is 144 bytes, paid
//! by every idle session once per part for as long as it idles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use futures::task::AtomicWaker;

/// Raised once; every wait on it then completes.
#[derive(Default)]
pub(super) struct Stop {
    raised: AtomicBool,
    /// The session task's waker, registered by whichever part waited last.
    waker: AtomicWaker,
}

impl Stop {
    /// Raises the signal and wakes the task.
    pub(super) fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether it has been raised.
    pub(super) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Completes once the signal is raised. Only for futures polled by the task that
    /// polls every other wait: the one waker slot holds the last waiter's waker.
    pub(super) async fn raised(&self) {
        std::future::poll_fn(|cx| {
            if self.is_raised() {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // Raised between the check and the registration: its wake went to the old
            // waker, if any.
            if self.is_raised() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_wait_of_one_task_ends_when_one_part_raises_it() {
        let stop = Stop::default();
        let raiser = async {
            tokio::task::yield_now().await;
            stop.raise();
        };
        // Both waiters are pending before the raise, and registered the same waker.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            tokio::join!(stop.raised(), stop.raised(), raiser)
        })
        .await
        .expect("both waits end");
        assert!(stop.is_raised());
        stop.raised().await;
    }

    #[test]
    fn a_wait_is_small() {
        let stop = Stop::default();
        assert!(std::mem::size_of_val(&stop.raised()) <= 32);
    }
}
