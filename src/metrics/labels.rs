//! The label values of every labelled metric: closed enums, so no wire value can
//! become a label. Each enum's `ALL` order is the order its handles are stored in.

/// Which side of the proxy a handshake was with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The provider's client, where the proxy is the responder.
    Client,
    /// The WhatsApp server, where the proxy is the initiator.
    Upstream,
}

impl Leg {
    /// Every value, in label-table order.
    pub const ALL: [Leg; 2] = [Leg::Client, Leg::Upstream];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            Leg::Client => "client",
            Leg::Upstream => "upstream",
        }
    }
}

/// Which way a stanza travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the provider's client to the WhatsApp server.
    ToServer,
    /// From the WhatsApp server to the provider's client.
    ToClient,
}

impl Direction {
    /// Every value, in label-table order.
    pub const ALL: [Direction; 2] = [Direction::ToServer, Direction::ToClient];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            Direction::ToServer => "to_server",
            Direction::ToClient => "to_client",
        }
    }
}

/// Why a session ended; one per session, chosen by whoever tears it down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed or reset its connection.
    ClientClosed,
    /// The server closed or reset its connection.
    UpstreamClosed,
    /// The client's token was missing or refused.
    AuthFailed,
    /// A Noise handshake failed on either leg.
    HandshakeFailed,
    /// The server could not be reached.
    UpstreamUnavailable,
    /// Either side broke framing or stanza rules.
    ProtocolError,
    /// A configured size, depth or session limit was exceeded.
    LimitExceeded,
    /// The handshake or idle timeout fired.
    Timeout,
    /// The proxy drained for shutdown.
    Shutdown,
}

impl CloseReason {
    /// Every value, in label-table order.
    pub const ALL: [CloseReason; 9] = [
        CloseReason::ClientClosed,
        CloseReason::UpstreamClosed,
        CloseReason::AuthFailed,
        CloseReason::HandshakeFailed,
        CloseReason::UpstreamUnavailable,
        CloseReason::ProtocolError,
        CloseReason::LimitExceeded,
        CloseReason::Timeout,
        CloseReason::Shutdown,
    ];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::UpstreamClosed => "upstream_closed",
            CloseReason::AuthFailed => "auth_failed",
            CloseReason::HandshakeFailed => "handshake_failed",
            CloseReason::UpstreamUnavailable => "upstream_unavailable",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::LimitExceeded => "limit_exceeded",
            CloseReason::Timeout => "timeout",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// What the proxy did to a stanza on its own account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnotationKind {
    /// Capabilities added to a presence.
    PresenceCaps,
    /// A disco query answered by the proxy.
    DiscoAnswered,
    /// Unsupported content relayed with an annotation.
    UnsupportedAnnotated,
    /// Unsupported content refused.
    UnsupportedRejected,
}

impl AnnotationKind {
    /// Every value, in label-table order.
    pub const ALL: [AnnotationKind; 4] = [
        AnnotationKind::PresenceCaps,
        AnnotationKind::DiscoAnswered,
        AnnotationKind::UnsupportedAnnotated,
        AnnotationKind::UnsupportedRejected,
    ];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            AnnotationKind::PresenceCaps => "presence_caps",
            AnnotationKind::DiscoAnswered => "disco_answered",
            AnnotationKind::UnsupportedAnnotated => "unsupported_annotated",
            AnnotationKind::UnsupportedRejected => "unsupported_rejected",
        }
    }
}

/// How a capability look-up was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LookupResult {
    /// From the cache.
    Hit,
    /// From the lookup service.
    Fetched,
    /// Not answered (service failed or refused).
    Error,
}

impl LookupResult {
    /// Every value, in label-table order.
    pub const ALL: [LookupResult; 3] = [
        LookupResult::Hit,
        LookupResult::Fetched,
        LookupResult::Error,
    ];

    /// The label value.
    pub const fn label(self) -> &'static str {
        match self {
            LookupResult::Hit => "hit",
            LookupResult::Fetched => "fetched",
            LookupResult::Error => "error",
        }
    }
}
