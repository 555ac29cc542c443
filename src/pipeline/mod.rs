//! The tower pipeline every stanza passes, one service per direction.
//!
//! The order of the layers, outermost first, is the order of [`build`]:
//!
//! 1. [`count::CountLayer`]: stanza and byte counters per direction and kind.
//! 2. the terminal [`Forward`] service: sends the stanza on unchanged.
//!
//! A layer may change the stanza (it then re-serializes), withhold it, or answer the
//! side it came from; that is what [`Routed`] carries.

pub mod count;

use std::convert::Infallible;
use std::task::{Context, Poll};

use tower::util::BoxService;
use tower::{Layer, Service};

use crate::metrics::Direction;
use crate::stanza::Stanza;

/// What became of one stanza.
#[derive(Debug, Default)]
pub struct Routed {
    /// Sent on in the stanza's direction.
    pub forward: Option<Stanza>,
    /// Sent back to the side the stanza came from (e.g. an answered disco query).
    pub reply: Option<Stanza>,
}

impl Routed {
    /// The stanza goes on, nothing comes back.
    pub fn forward(stanza: Stanza) -> Self {
        Self {
            forward: Some(stanza),
            reply: None,
        }
    }
}

/// One direction's pipeline, boxed so a session holds a single concrete type.
pub type StanzaService = BoxService<Stanza, Routed, Infallible>;

/// What the pipeline knows of a session when it is built.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Which way the service's stanzas flow.
    pub direction: Direction,
}

/// Builds the pipeline of one direction of one session.
pub fn build(info: &SessionInfo) -> StanzaService {
    let svc = count::CountLayer::new(info.direction).layer(Forward);
    BoxService::new(svc)
}

/// The innermost service: every stanza that reaches it goes on unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forward;

impl Service<Stanza> for Forward {
    type Response = Routed;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Routed, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stanza: Stanza) -> Self::Future {
        std::future::ready(Ok(Routed::forward(stanza)))
    }
}
