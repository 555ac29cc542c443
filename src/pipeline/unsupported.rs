//! From server: a `<message>` whose content kind the profile cannot receive is
//! annotated or refused (SPEC §3.3).
//!
//! The kind is the `mediatype` of the message's first `<enc>` (at any depth), else the
//! message's `type`. Supported means the profile has `urn:interop:caps:receive:KIND`.
//! With `annotate`, `<unsupported xmlns="urn:interop:caps" kind="KIND"/>` is appended
//! (replacing one already there); with `reject`, the message is withheld and the server
//! gets `<ack class="message" id="ID" to="FROM" error="415"/>`. The `<enc>` payload is
//! an [`crate::stanza::Opaque`] and is carried as it came either way.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::Either;
use tower::{Layer, Service};

use crate::caps::Profile;
use crate::config::Unsupported as Mode;
use crate::metrics::{self, AnnotationKind};
use crate::stanza::{Element, Kind, Stanza};

use super::Routed;

/// `xmlns` of the `<unsupported>` annotation.
pub const UNSUPPORTED_NS: &str = "urn:interop:caps";

/// Adds [`Unsupported`] around a service.
#[derive(Clone, Debug)]
pub struct UnsupportedLayer {
    /// The session's profile.
    profile: Arc<Profile>,
    /// `caps.unsupported`.
    mode: Mode,
}

impl UnsupportedLayer {
    /// Checks messages against `profile`, acting per `mode`.
    pub fn new(profile: Arc<Profile>, mode: Mode) -> Self {
        Self { profile, mode }
    }
}

impl<S> Layer<S> for UnsupportedLayer {
    type Service = Unsupported<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Unsupported {
            inner,
            profile: self.profile.clone(),
            mode: self.mode,
        }
    }
}

/// Annotates or refuses messages the client cannot receive.
#[derive(Clone, Debug)]
pub struct Unsupported<S> {
    /// The next service.
    inner: S,
    /// The session's profile.
    profile: Arc<Profile>,
    /// `caps.unsupported`.
    mode: Mode,
}

impl<S> Service<Stanza> for Unsupported<S>
where
    S: Service<Stanza, Response = Routed>,
{
    type Response = Routed;
    type Error = S::Error;
    type Future = Either<std::future::Ready<Result<Routed, S::Error>>, S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut stanza: Stanza) -> Self::Future {
        if stanza.kind() == Kind::Message {
            if let Some(kind) = unsupported_kind(stanza.root(), &self.profile) {
                match self.mode {
                    Mode::Annotate => {
                        annotate(&mut stanza, &kind);
                        metrics::annotation(AnnotationKind::UnsupportedAnnotated);
                    }
                    Mode::Reject => {
                        metrics::annotation(AnnotationKind::UnsupportedRejected);
                        return Either::Left(std::future::ready(Ok(Routed {
                            forward: None,
                            reply: Some(reject_ack(stanza.root())),
                        })));
                    }
                }
            }
        }
        Either::Right(self.inner.call(stanza))
    }
}

/// The message's content kind, if there is one and the profile cannot receive it.
pub fn unsupported_kind(message: &Element, profile: &Profile) -> Option<String> {
    let kind = message
        .find("enc")
        .and_then(|enc| enc.attr("mediatype"))
        .or_else(|| message.attr("type"))?;
    if kind.is_empty() || profile.can_receive(&kind) {
        None
    } else {
        Some(kind.into_owned())
    }
}

/// Appends `<unsupported xmlns="urn:interop:caps" kind=KIND/>`, replacing any the
/// message already had, so the client sees only the proxy's.
pub fn annotate(stanza: &mut Stanza, kind: &str) {
    let root = stanza.root_mut();
    root.retain_children(|c| {
        !(c.name() == "unsupported" && c.attr("xmlns").as_deref() == Some(UNSUPPORTED_NS))
    });
    root.push_child(
        Element::new("unsupported")
            .with_attr("xmlns", UNSUPPORTED_NS)
            .with_attr("kind", kind),
    );
}

/// `<ack class="message" id=ID to=FROM error="415"/>` for a refused message.
pub fn reject_ack(message: &Element) -> Stanza {
    let mut ack = Element::new("ack").with_attr("class", "message");
    if let Some(id) = message.attr("id") {
        ack.set_attr("id", &id);
    }
    if let Some(from) = message.attr("from") {
        ack.set_attr("to", &from);
    }
    ack.set_attr("error", "415");
    Stanza::from_element(ack)
}
