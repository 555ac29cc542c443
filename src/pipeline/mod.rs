//! The tower pipeline every stanza passes, one service per direction.
//!
//! The order of the layers, outermost first, is the order of [`build`]:
//!
//! To server (client → WhatsApp):
//! 1. [`count::CountLayer`]: stanza and byte counters per direction and kind, before
//!    any layer changes or withholds a stanza, so they show what the client sent.
//! 2. [`presence_caps::PresenceCapsLayer`]: the session's XEP-0115 `<c>` in every
//!    `<presence>` (SPEC §3.1).
//! 3. the terminal [`Forward`] service: sends the stanza on.
//!
//! To client (WhatsApp → client):
//! 1. [`count::CountLayer`].
//! 2. [`disco::DiscoLayer`]: answers disco#info for the session's `NODE#VER` itself
//!    (SPEC §3.2).
//! 3. [`unsupported::UnsupportedLayer`]: annotates or refuses messages whose content
//!    kind the client cannot receive (SPEC §3.3).
//! 4. [`Forward`].
//!
//! The capability layers are left out when the session has no [`SessionCaps`] (only
//! benchmarks and tests build such pipelines). Each layer tests the stanza's kind first,
//! so the stanzas it does not concern pass without allocation.
//!
//! A layer may change the stanza (it then re-serializes), withhold it, or answer the
//! side it came from; that is what [`Routed`] carries.

pub mod count;
pub mod disco;
pub mod presence_caps;
pub mod unsupported;

use std::convert::Infallible;
use std::task::{Context, Poll};

use tower::util::BoxService;
use tower::{Layer, Service, ServiceBuilder};

use crate::caps::SessionCaps;
use crate::metrics::Direction;
use crate::stanza::Stanza;

/// What became of one stanza.
#[derive(Debug, Default)]
pub struct Routed {
    /// Sent on in the stanza's direction.
    pub forward: Option<Stanza>,
    /// Sent back to the side the stanza came from (e.g. an answered disco query).
    /// Boxed because replies are rare: it halves the size of every `Routed`, which each
    /// layer's future carries.
    pub reply: Option<Box<Stanza>>,
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
    /// The session's capability profile; `None` leaves the capability layers out.
    pub caps: Option<SessionCaps>,
}

/// Builds the pipeline of one direction of one session.
pub fn build(info: &SessionInfo) -> StanzaService {
    let count = count::CountLayer::new(info.direction);
    match (&info.caps, info.direction) {
        (None, _) => BoxService::new(count.layer(Forward)),
        (Some(caps), Direction::ToServer) => BoxService::new(
            ServiceBuilder::new()
                .layer(count)
                .layer(presence_caps::PresenceCapsLayer::new(caps.profile.clone()))
                .service(Forward),
        ),
        (Some(caps), Direction::ToClient) => BoxService::new(
            ServiceBuilder::new()
                .layer(count)
                .layer(disco::DiscoLayer::new(caps.profile.clone()))
                .layer(unsupported::UnsupportedLayer::new(
                    caps.profile.clone(),
                    caps.unsupported,
                ))
                .service(Forward),
        ),
    }
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
