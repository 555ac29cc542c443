//! Counts every stanza that enters the pipeline, by direction and kind, before any
//! other layer can withhold it, so the counters show what the peers sent.

use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::metrics::{self, Direction};
use crate::stanza::Stanza;

/// Adds [`Count`] around a service.
#[derive(Clone, Copy, Debug)]
pub struct CountLayer {
    /// The direction counted.
    direction: Direction,
}

impl CountLayer {
    /// Counts stanzas flowing in `direction`.
    pub fn new(direction: Direction) -> Self {
        Self { direction }
    }
}

impl<S> Layer<S> for CountLayer {
    type Service = Count<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Count {
            inner,
            direction: self.direction,
        }
    }
}

/// Records `interop_proxy_stanzas_total` and `interop_proxy_stanza_bytes_total`.
#[derive(Clone, Debug)]
pub struct Count<S> {
    /// The next service.
    inner: S,
    /// The direction counted.
    direction: Direction,
}

impl<S: Service<Stanza>> Service<Stanza> for Count<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, stanza: Stanza) -> Self::Future {
        metrics::stanza_relayed(self.direction, stanza.kind(), stanza.wire_len());
        self.inner.call(stanza)
    }
}
