//! How a session ends, as the peers and the metrics see it (SPEC §2.9): the one mapping
//! from a [`SessionError`] to its `reason` label, its code and the side that can no
//! longer be written to, and the only builder of `<failure/>` and `<stream:error/>`.

use crate::auth::AuthError;
use crate::metrics::CloseReason;
use crate::stanza::{Element, Stanza};

use super::error::{SessionError, Side};

/// What the peers are told and what the metrics record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The `reason` label.
    pub reason: CloseReason,
    /// The SPEC §2.9 code and text sent to the peers still up, if any.
    pub code: Option<Code>,
    /// A side whose connection can no longer be written to.
    pub failed: Option<Side>,
}

/// A SPEC §2.9 code with the `text` of its `<stream:error>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The number both closing stanzas carry.
    pub number: u16,
    /// The `text` attribute of a `<stream:error>`.
    pub text: &'static str,
}

impl Code {
    const MALFORMED: Code = Code::new(400, "malformed");
    const UNAUTHORIZED: Code = Code::new(401, "unauthorized");
    const FORBIDDEN: Code = Code::new(403, "forbidden");
    const TIMEOUT: Code = Code::new(408, "timeout");
    const LIMIT: Code = Code::new(413, "limit exceeded");
    const UPSTREAM_HANDSHAKE: Code = Code::new(502, "upstream handshake failed");
    const UPSTREAM_UNAVAILABLE: Code = Code::new(503, "upstream unavailable");
    const SHUTDOWN: Code = Code::new(503, "shutdown");

    const fn new(number: u16, text: &'static str) -> Self {
        Code { number, text }
    }
}

impl SessionError {
    /// The one mapping from an ending to its label, code and failed side.
    pub fn outcome(&self) -> Outcome {
        use CloseReason as R;
        let (reason, code, failed) = match self {
            SessionError::Closed(Side::Upstream) => (R::UpstreamClosed, None, Some(Side::Upstream)),
            SessionError::Closed(side) => (R::ClientClosed, None, Some(*side)),
            SessionError::Malformed { .. } => (R::ProtocolError, Some(Code::MALFORMED), None),
            SessionError::Limit { .. } => (R::LimitExceeded, Some(Code::LIMIT), None),
            // No transport to the client exists yet: nothing it could read.
            SessionError::ClientHandshake(_) => (R::HandshakeFailed, None, Some(Side::Client)),
            SessionError::Auth(AuthError::Unauthenticated(_)) => {
                (R::AuthFailed, Some(Code::UNAUTHORIZED), None)
            }
            SessionError::Auth(AuthError::ProductNotAllowed) => {
                (R::AuthFailed, Some(Code::FORBIDDEN), None)
            }
            SessionError::UpstreamUnreachable(_) => (
                R::UpstreamUnavailable,
                Some(Code::UPSTREAM_UNAVAILABLE),
                Some(Side::Upstream),
            ),
            SessionError::UpstreamHandshake(_) => (
                R::HandshakeFailed,
                Some(Code::UPSTREAM_HANDSHAKE),
                Some(Side::Upstream),
            ),
            SessionError::Timeout(_) => (R::Timeout, Some(Code::TIMEOUT), None),
            SessionError::Shutdown => (R::Shutdown, Some(Code::SHUTDOWN), None),
        };
        Outcome {
            reason,
            code,
            failed,
        }
    }

    /// The `<failure/>` a client is refused with before any upstream session exists, or
    /// `None` when its side is already gone and nothing can be said.
    pub fn refusal(&self) -> Option<Stanza> {
        let outcome = self.outcome();
        match outcome.code {
            Some(code) => Some(failure(code.number)),
            // The upstream left mid-handshake: for the client that is a failed upstream
            // handshake, as SPEC §2.9 has no code of its own for it.
            None if outcome.failed == Some(Side::Upstream) => {
                Some(failure(Code::UPSTREAM_HANDSHAKE.number))
            }
            None => None,
        }
    }
}

impl Outcome {
    /// The `<stream:error/>` sent to each side still up once both legs exist; `None`
    /// when the session ended without a proxy-side error (a side closed).
    pub fn stream_error(&self) -> Option<Stanza> {
        self.code.map(|code| {
            Stanza::from_element(
                Element::new("stream:error")
                    .with_attr("code", &code.number.to_string())
                    .with_attr("text", code.text),
            )
        })
    }
}

/// `<failure reason="CODE" location="proxy"/>`.
pub(super) fn failure(code: u16) -> Stanza {
    Stanza::from_element(
        Element::new("failure")
            .with_attr("reason", &code.to_string())
            .with_attr("location", "proxy"),
    )
}
