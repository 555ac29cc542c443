//! The process's phase (SPEC §8), held in one place: `/ready`, the accept loop and every
//! session read the same value, so readiness and the drain cannot disagree about where
//! the process is, and a late "ready" cannot re-admit traffic to a draining pod.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Where the process is. It only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Keys are loading, listeners binding: `/ready` answers 503 "starting".
    Starting,
    /// Taking traffic.
    Ready,
    /// Shutdown began: `/ready` answers 503 "draining", the listener is closed, and
    /// sessions still up at `deadline` are told `503 shutdown`.
    Draining {
        /// When the grace ends.
        deadline: Instant,
    },
    /// Every session has ended.
    Stopped,
}

impl Phase {
    /// Position in the order the phases come in; `advance` never goes back.
    fn rank(&self) -> u8 {
        match self {
            Phase::Starting => 0,
            Phase::Ready => 1,
            Phase::Draining { .. } => 2,
            Phase::Stopped => 3,
        }
    }

    /// When the drain's grace ends, once draining began: after `Stopped` every session
    /// has ended, so the grace is over.
    fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Draining { deadline } => Some(*deadline),
            Phase::Stopped => Some(Instant::now()),
            Phase::Starting | Phase::Ready => None,
        }
    }
}

/// The owner's side: the only one that moves the phase.
#[derive(Debug)]
pub struct Lifecycle {
    tx: watch::Sender<Phase>,
}

/// A cheap, cloneable view of the phase, for everything that only reacts to it.
#[derive(Clone, Debug)]
pub struct PhaseView {
    rx: watch::Receiver<Phase>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A process that is starting.
    pub fn new() -> Self {
        Self {
            tx: watch::channel(Phase::Starting).0,
        }
    }

    /// A view that follows this lifecycle.
    pub fn view(&self) -> PhaseView {
        PhaseView {
            rx: self.tx.subscribe(),
        }
    }

    /// Keys are loaded and listeners bound: take traffic. No effect once draining.
    pub fn set_ready(&self) {
        self.advance(Phase::Ready);
    }

    /// Starts draining; sessions get `grace` to end by themselves. A second call keeps
    /// the first deadline.
    pub fn start_drain(&self, grace: Duration) {
        self.advance(Phase::Draining {
            deadline: Instant::now() + grace,
        });
    }

    /// Every session has ended.
    pub fn set_stopped(&self) {
        self.advance(Phase::Stopped);
    }

    /// Moves to `next` if it comes later than the current phase.
    fn advance(&self, next: Phase) {
        self.tx.send_if_modified(|phase| {
            if next.rank() > phase.rank() {
                *phase = next;
                true
            } else {
                false
            }
        });
    }
}

impl PhaseView {
    /// A view of a process that is always ready and never drains, for tools that run
    /// sessions without a server.
    pub fn never_draining() -> Self {
        let lifecycle = Lifecycle::new();
        lifecycle.set_ready();
        // With the sender gone the phase is frozen, and waits for a drain stay pending.
        lifecycle.view()
    }

    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.rx.borrow()
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Ready
    }

    /// True once draining began.
    pub fn is_draining(&self) -> bool {
        matches!(self.phase(), Phase::Draining { .. } | Phase::Stopped)
    }

    /// Resolves once draining began.
    pub async fn drain_started(&self) {
        self.wait_deadline().await;
    }

    /// Resolves once the drain's grace has passed.
    pub async fn grace_expired(&self) {
        let deadline = self.wait_deadline().await;
        tokio::time::sleep_until(deadline).await;
    }

    /// The drain's deadline once draining began, marking the phase seen, so that
    /// [`changed`](Self::changed) waits for the next move. For a waiter that keeps its
    /// own timer: the watchdog of every session folds the grace into its idle timer
    /// rather than holding a second timer and a `wait_for` future for its whole life.
    pub fn seen_deadline(&mut self) -> Option<Instant> {
        self.rx.borrow_and_update().deadline()
    }

    /// Resolves when the phase moved on after the last [`seen_deadline`](Self::seen_deadline);
    /// `false` at once when it never will (the lifecycle is gone).
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// The drain's deadline, waiting for the drain to begin; pending for ever when the
    /// lifecycle is gone without draining.
    async fn wait_deadline(&self) -> Instant {
        let mut rx = self.rx.clone();
        let deadline = match rx.wait_for(|p| p.deadline().is_some()).await {
            Ok(phase) => phase.deadline(),
            Err(_) => None,
        };
        match deadline {
            Some(deadline) => deadline,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn phases_only_move_forward_and_views_agree() {
        let lifecycle = Lifecycle::new();
        let view = lifecycle.view();
        assert_eq!(view.phase(), Phase::Starting);
        assert!(!view.is_ready());
        lifecycle.set_ready();
        assert!(view.is_ready());
        lifecycle.start_drain(Duration::from_secs(10));
        let Phase::Draining { deadline } = view.phase() else {
            panic!("not draining");
        };
        // A late "ready" cannot re-admit traffic, and a second drain keeps the deadline.
        lifecycle.set_ready();
        lifecycle.start_drain(Duration::from_secs(60));
        assert_eq!(view.phase(), Phase::Draining { deadline });
        assert!(view.is_draining() && !view.is_ready());
        lifecycle.set_stopped();
        assert_eq!(view.phase(), Phase::Stopped);
        assert!(view.is_draining());
    }

    #[tokio::test(start_paused = true)]
    async fn grace_expires_at_the_deadline() {
        let lifecycle = Lifecycle::new();
        let view = lifecycle.view();
        let start = Instant::now();
        let waiter = tokio::spawn({
            let view = view.clone();
            async move {
                view.grace_expired().await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        lifecycle.start_drain(Duration::from_secs(5));
        let expired = waiter.await.unwrap();
        assert_eq!(expired - start, Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_seen_phase_waits_for_the_next_move_only() {
        let lifecycle = Lifecycle::new();
        let mut view = lifecycle.view();
        assert_eq!(view.seen_deadline(), None);
        let early = tokio::time::timeout(Duration::from_secs(1), view.changed()).await;
        assert!(early.is_err(), "nothing moved since it was seen");
        lifecycle.start_drain(Duration::from_secs(5));
        // A move made before the wait begins is not missed.
        assert!(view.changed().await);
        let deadline = view.seen_deadline().expect("draining");
        assert_eq!(deadline, Instant::now() + Duration::from_secs(5));
        drop(lifecycle);
        assert!(!view.changed().await, "an owner gone moves nothing more");
    }

    #[tokio::test(start_paused = true)]
    async fn a_view_without_an_owner_never_drains() {
        let view = PhaseView::never_draining();
        assert!(view.is_ready());
        let waited = tokio::time::timeout(Duration::from_secs(3600), view.drain_started()).await;
        assert!(waited.is_err());
    }
}
