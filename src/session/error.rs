//! Every way a session ends and which side caused it, with the cause kept as its own
//! type until [`super::close`] turns it into a code, a label and a closing stanza.

use crate::auth::AuthError;
use crate::frame::FrameError;
use crate::noise::cert::CertError;
use crate::noise::NoiseError;
use crate::pipeline::StepError;
use crate::stanza::StanzaError;
use crate::transport::proxy_protocol::ProxyHeaderError;
use crate::transport::PreambleError;

/// Which side of the proxy an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The provider's client.
    Client,
    /// The WhatsApp server.
    Upstream,
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A side closed its connection or its socket failed.
    #[error("{0:?} closed the connection")]
    Closed(Side),
    /// A side sent bytes that break the protocol (preamble, frame, Noise, stanza).
    #[error("malformed input from {side:?}: {cause}")]
    Malformed {
        /// Who sent it.
        side: Side,
        /// What was wrong.
        #[source]
        cause: Cause,
    },
    /// A side exceeded a configured limit (frame, stanza, depth, attributes).
    #[error("limit exceeded by {side:?}: {cause}")]
    Limit {
        /// Who sent it.
        side: Side,
        /// Which limit.
        #[source]
        cause: Cause,
    },
    /// The client's Noise handshake failed.
    #[error("client handshake failed: {0}")]
    ClientHandshake(#[source] Cause),
    /// The client did not prove who it is, or its product is not allowed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The upstream could not be reached (refused, unresolvable, connect timeout).
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(#[source] std::io::Error),
    /// The upstream's handshake or certificate chain failed, or it left mid-handshake.
    #[error("upstream handshake failed: {0}")]
    UpstreamHandshake(#[source] Cause),
    /// A timeout of the proxy's own passed.
    #[error("timed out ({0})")]
    Timeout(Timeout),
    /// The proxy is shutting down and the grace period passed.
    #[error("shutdown")]
    Shutdown,
}

/// Which timeout passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// `limits.handshake_timeout`, from accept to the start of the relay.
    Handshake,
    /// `limits.idle_timeout` with no frame in either direction.
    Idle,
    /// A side read nothing for `limits.idle_timeout` while the proxy had bytes for it.
    Write,
}

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Timeout::Handshake => "handshake",
            Timeout::Idle => "idle",
            Timeout::Write => "write",
        })
    }
}

/// What went wrong beneath a [`SessionError`], as the layer that found it reported it.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The load balancer's PROXY v2 header.
    #[error(transparent)]
    ProxyHeader(#[from] ProxyHeaderError),
    /// The `WA` intro header.
    #[error(transparent)]
    Preamble(#[from] PreambleError),
    /// A 24-bit frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A protobuf `HandshakeMessage` or `ClientPayload`.
    #[error("{what}: {source}")]
    Protobuf {
        /// Which message.
        what: &'static str,
        /// What prost found.
        source: prost::DecodeError,
    },
    /// A Noise handshake or transport step.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// One of the seven checks of the server's certificate chain.
    #[error("certificate chain: {0}")]
    Cert(#[from] CertError),
    /// A stanza that does not decode or does not fit the wire format.
    #[error(transparent)]
    Stanza(#[from] StanzaError),
    /// A pipeline step ended the session.
    #[error(transparent)]
    Step(#[from] StepError),
    /// A socket write.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A message the protocol requires at this point was not the one that came.
    #[error("{0}")]
    Unexpected(&'static str),
}

impl SessionError {
    /// `side` sent bytes that break the protocol.
    pub(crate) fn malformed(side: Side, cause: impl Into<Cause>) -> Self {
        SessionError::Malformed {
            side,
            cause: cause.into(),
        }
    }

    /// A frame read error on `side`: over the limit, or the side is gone.
    pub(crate) fn frame(side: Side, e: FrameError) -> Self {
        match e {
            FrameError::TooLarge { .. } => SessionError::Limit {
                side,
                cause: e.into(),
            },
            FrameError::Truncated | FrameError::Io(_) => SessionError::Closed(side),
        }
    }

    /// A pipeline step ended the session over what `side` sent.
    pub(crate) fn step(side: Side, e: StepError) -> Self {
        match e {
            StepError::Limit(_) => SessionError::Limit {
                side,
                cause: e.into(),
            },
            StepError::Malformed(_) => SessionError::malformed(side, e),
        }
    }

    /// A stanza from `side` the codec refused: malformed, or over a limit.
    pub(crate) fn stanza(side: Side, e: StanzaError) -> Self {
        match e {
            StanzaError::Limit(_) => SessionError::Limit {
                side,
                cause: e.into(),
            },
            StanzaError::Malformed(_) => SessionError::malformed(side, e),
        }
    }
}
