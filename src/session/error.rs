//! Every way a session ends, which side caused it, and the one mapping from an ending to
//! the stanza the peers are told (SPEC §2.9) and to the `reason` label.

use crate::metrics::CloseReason;

/// Which side of the proxy an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The provider's client.
    Client,
    /// The WhatsApp server.
    Upstream,
    /// The proxy itself (timeouts, shutdown, limits it enforces).
    Proxy,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A side closed its connection or its socket failed.
    #[error("{0:?} closed the connection")]
    Closed(Side),
    /// A side sent bytes that break the protocol (preamble, frame, Noise, XML).
    #[error("malformed input from {side:?}: {detail}")]
    Malformed {
        /// Who sent it.
        side: Side,
        /// What was wrong, for the debug log.
        detail: String,
    },
    /// A side exceeded a configured limit (frame, stanza, depth, attributes).
    #[error("limit exceeded by {side:?}: {detail}")]
    Limit {
        /// Who sent it.
        side: Side,
        /// Which limit.
        detail: String,
    },
    /// The client's Noise handshake failed.
    #[error("client handshake failed: {0}")]
    ClientHandshake(String),
    /// The client did not prove who it is.
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// The client's product is not on the allow-list.
    #[error("product not allowed")]
    ProductNotAllowed,
    /// The upstream could not be reached.
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(String),
    /// The upstream's handshake or certificate chain failed.
    #[error("upstream handshake failed: {0}")]
    UpstreamHandshake(String),
    /// The handshake or idle timeout passed.
    #[error("timed out ({0})")]
    Timeout(&'static str),
    /// The proxy is shutting down and the grace period passed.
    #[error("shutdown")]
    Shutdown,
}

/// What the peers are told and what the metrics record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The `reason` label.
    pub reason: CloseReason,
    /// The SPEC §2.9 code sent to the peers still up, if any.
    pub code: Option<u16>,
    /// The `text` of a `<stream:error>`.
    pub text: &'static str,
    /// A side whose connection can no longer be written to.
    pub failed: Option<Side>,
}

impl SessionError {
    /// The one mapping from an ending to its code, label and failed side.
    pub fn outcome(&self) -> Outcome {
        let (reason, code, text, failed) = match self {
            SessionError::Closed(Side::Upstream) => {
                (CloseReason::UpstreamClosed, None, "", Some(Side::Upstream))
            }
            SessionError::Closed(side) => (CloseReason::ClientClosed, None, "", Some(*side)),
            SessionError::Malformed { .. } => {
                (CloseReason::ProtocolError, Some(400), "malformed", None)
            }
            SessionError::Limit { .. } => (
                CloseReason::LimitExceeded,
                Some(413),
                "limit exceeded",
                None,
            ),
            SessionError::ClientHandshake(_) => {
                (CloseReason::HandshakeFailed, None, "", Some(Side::Client))
            }
            SessionError::Unauthenticated(_) => {
                (CloseReason::AuthFailed, Some(401), "unauthorized", None)
            }
            SessionError::ProductNotAllowed => {
                (CloseReason::AuthFailed, Some(403), "forbidden", None)
            }
            SessionError::UpstreamUnreachable(_) => (
                CloseReason::UpstreamUnavailable,
                Some(503),
                "upstream unavailable",
                Some(Side::Upstream),
            ),
            SessionError::UpstreamHandshake(_) => (
                CloseReason::HandshakeFailed,
                Some(502),
                "upstream handshake failed",
                Some(Side::Upstream),
            ),
            SessionError::Timeout(_) => (CloseReason::Timeout, Some(408), "timeout", None),
            SessionError::Shutdown => (CloseReason::Shutdown, Some(503), "shutdown", None),
        };
        Outcome {
            reason,
            code,
            text,
            failed,
        }
    }
}
