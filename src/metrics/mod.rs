//! Every metric the proxy exports (SPEC §7), described in this one place.
//!
//! Labels come only from the closed enums and constant lists below, never from wire
//! values: a client must not be able to mint new time series (cardinality) or smuggle
//! identifiers into the operator's monitoring.
//!
//! Recording goes through handles resolved once in [`install`] and kept in a table, so the
//! per-stanza path is an array index and an atomic add, with no label set built or hashed.
//! Before [`install`] every recording function is a no-op; that keeps library tests that
//! never install a recorder free of global state, and means no handle can be captured
//! from the no-op recorder and stay dead after installation.

use std::sync::OnceLock;
use std::time::Duration;

use crate::noise::Pattern;
use crate::stanza::Kind;

use ::metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Gauge: sessions currently established or being established.
pub const SESSIONS_ACTIVE: &str = "interop_proxy_sessions_active";
/// Gauge: `limits.max_sessions` as resolved; alerts compare `sessions_active` with it.
pub const SESSIONS_MAX: &str = "interop_proxy_sessions_max";
/// Counter: client TCP connections accepted.
pub const CONNECTIONS_ACCEPTED: &str = "interop_proxy_connections_accepted_total";
/// Counter by `leg`, `pattern`, `result`: Noise handshakes finished.
pub const HANDSHAKES: &str = "interop_proxy_handshakes_total";
/// Histogram by `leg`: duration of successful handshakes.
pub const HANDSHAKE_DURATION: &str = "interop_proxy_handshake_duration_seconds";
/// Counter by `direction`, `kind`: stanzas relayed.
pub const STANZAS: &str = "interop_proxy_stanzas_total";
/// Counter by `direction`: stanza bytes relayed.
pub const STANZA_BYTES: &str = "interop_proxy_stanza_bytes_total";
/// Histogram by `direction`: time from a stanza fully read to fully written.
pub const RELAY_DURATION: &str = "interop_proxy_relay_duration_seconds";
/// Counter by `kind`: stanzas the proxy annotated, answered or refused itself.
pub const ANNOTATIONS: &str = "interop_proxy_annotations_total";
/// Counter by `result`: capability look-ups.
pub const CAPS_LOOKUPS: &str = "interop_proxy_caps_lookups_total";
/// Counter by `reason`: sessions ended.
pub const SESSIONS_CLOSED: &str = "interop_proxy_sessions_closed_total";
/// Gauge = 1 by `version`: lets dashboards show which build runs.
pub const BUILD_INFO: &str = "interop_proxy_build_info";

/// Handshake buckets, in seconds: 0.5 ms to 10 s. The low end resolves the proxy's own
/// crypto (a few Curve25519 operations, well under a millisecond) when the peer is close;
/// the middle covers mobile round trips; the top is the default `limits.handshake_timeout`,
/// beyond which a handshake cannot succeed.
const HANDSHAKE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Relay buckets, in seconds: 10 µs to 1 s. A relay is in-process work (parse, pipeline,
/// encrypt, write), normally tens of microseconds, so the fine low end is where the proxy's
/// own overhead shows; milliseconds and up mean a slow peer pushing back through the
/// socket, and past a second the session is effectively stalled.
const RELAY_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0,
];

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

/// Handles for every labelled series, resolved once against the installed recorder.
/// Arrays are indexed by the enums' discriminants, which follow their `ALL` order.
struct Handles {
    /// [`SESSIONS_ACTIVE`].
    sessions_active: Gauge,
    /// [`CONNECTIONS_ACCEPTED`].
    connections_accepted: Counter,
    /// [`HANDSHAKES`] as `[leg][pattern][ok as usize]`.
    handshakes: [[[Counter; 2]; 3]; 2],
    /// [`HANDSHAKE_DURATION`] by leg.
    handshake_duration: [Histogram; 2],
    /// [`STANZAS`] as `[direction][kind]`.
    stanzas: [[Counter; Kind::ALL.len()]; 2],
    /// [`STANZA_BYTES`] by direction.
    stanza_bytes: [Counter; 2],
    /// [`RELAY_DURATION`] by direction.
    relay_duration: [Histogram; 2],
    /// [`ANNOTATIONS`] by kind.
    annotations: [Counter; 4],
    /// [`CAPS_LOOKUPS`] by result.
    caps_lookups: [Counter; 3],
    /// [`SESSIONS_CLOSED`] by reason.
    sessions_closed: [Counter; 9],
}

static HANDLES: OnceLock<Handles> = OnceLock::new();
static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HANDSHAKE_DURATION.into()), HANDSHAKE_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(RELAY_DURATION.into()), RELAY_BUCKETS))
        .expect("bucket lists are non-empty")
}

/// Installs the Prometheus recorder (once per process; later calls return the same handle),
/// describes every metric, creates every labelled counter at zero so dashboards see `0`
/// rather than a missing series, and sets `build_info`.
///
/// The caller must run [`PrometheusHandle::run_upkeep`] periodically (the admin server
/// does) so histogram samples are drained even when nobody scrapes.
pub fn install() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let handle = match builder().install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    // Another recorder owns the process (some test harnesses); keep running
                    // with an unexported one rather than fail start-up over telemetry.
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    builder().build_recorder().handle()
                }
            };
            describe();
            let _ = HANDLES.set(resolve_handles());
            ::metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        SESSIONS_ACTIVE,
        Unit::Count,
        "Client sessions currently open, from accept to close."
    );
    describe_gauge!(
        SESSIONS_MAX,
        Unit::Count,
        "Session cap (limits.max_sessions as resolved); connections beyond it are closed at once."
    );
    describe_counter!(
        CONNECTIONS_ACCEPTED,
        Unit::Count,
        "Client TCP connections accepted."
    );
    describe_counter!(
        HANDSHAKES,
        Unit::Count,
        "Noise handshakes finished, by leg (client, upstream), pattern (xx, ik, xx_fallback) and result (ok, error)."
    );
    describe_histogram!(
        HANDSHAKE_DURATION,
        Unit::Seconds,
        "Duration of successful Noise handshakes, by leg; failures are only counted, as their time is mostly the timeout."
    );
    describe_counter!(
        STANZAS,
        Unit::Count,
        "Stanzas relayed, by direction (to_server, to_client) and kind (element name; other for the rest)."
    );
    describe_counter!(
        STANZA_BYTES,
        Unit::Bytes,
        "Stanza bytes relayed (decrypted frame payload), by direction."
    );
    describe_histogram!(
        RELAY_DURATION,
        Unit::Seconds,
        "Time from a stanza fully read to fully written to the other side, by direction."
    );
    describe_counter!(
        ANNOTATIONS,
        Unit::Count,
        "Stanzas the proxy changed, answered or refused itself, by kind."
    );
    describe_counter!(
        CAPS_LOOKUPS,
        Unit::Count,
        "Capability look-ups, by result (hit, fetched, error)."
    );
    describe_counter!(SESSIONS_CLOSED, Unit::Count, "Sessions ended, by reason.");
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label names the running build."
    );
}

fn resolve_handles() -> Handles {
    use ::metrics::{counter, gauge, histogram};
    let sessions_active = gauge!(SESSIONS_ACTIVE);
    sessions_active.set(0.0);
    let by_dir =
        |name: &'static str| Direction::ALL.map(|d| counter!(name, "direction" => d.label()));
    Handles {
        sessions_active,
        connections_accepted: counter!(CONNECTIONS_ACCEPTED),
        handshakes: Leg::ALL.map(|leg| {
            Pattern::ALL.map(|pattern| {
                ["error", "ok"].map(|result| {
                    counter!(HANDSHAKES, "leg" => leg.label(), "pattern" => pattern.label(), "result" => result)
                })
            })
        }),
        handshake_duration: Leg::ALL.map(|leg| histogram!(HANDSHAKE_DURATION, "leg" => leg.label())),
        stanzas: Direction::ALL.map(|d| {
            Kind::ALL.map(|kind| counter!(STANZAS, "direction" => d.label(), "kind" => kind.label()))
        }),
        stanza_bytes: by_dir(STANZA_BYTES),
        relay_duration: Direction::ALL.map(|d| histogram!(RELAY_DURATION, "direction" => d.label())),
        annotations: AnnotationKind::ALL.map(|k| counter!(ANNOTATIONS, "kind" => k.label())),
        caps_lookups: LookupResult::ALL.map(|r| counter!(CAPS_LOOKUPS, "result" => r.label())),
        sessions_closed: CloseReason::ALL.map(|r| counter!(SESSIONS_CLOSED, "reason" => r.label())),
    }
    // Registering a counter handle is what creates the series; they start at zero.
}

#[inline]
fn handles() -> Option<&'static Handles> {
    HANDLES.get()
}

/// Publishes the session cap.
pub fn set_sessions_max(max: usize) {
    if HANDLES.get().is_some() {
        ::metrics::gauge!(SESSIONS_MAX).set(max as f64);
    }
}

/// Counts an accepted client connection.
pub fn connection_accepted() {
    if let Some(h) = handles() {
        h.connections_accepted.increment(1);
    }
}

/// Records a finished handshake; only successful handshakes enter the duration
/// histogram.
pub fn handshake(leg: Leg, pattern: Pattern, ok: bool, elapsed: Duration) {
    let Some(h) = handles() else { return };
    h.handshakes[leg as usize][pattern as usize][usize::from(ok)].increment(1);
    if ok {
        h.handshake_duration[leg as usize].record(elapsed);
    }
}

/// Counts one relayed stanza of `kind` and its size.
#[inline]
pub fn stanza_relayed(direction: Direction, kind: Kind, bytes: usize) {
    if let Some(h) = handles() {
        let d = direction as usize;
        h.stanzas[d][kind as usize].increment(1);
        h.stanza_bytes[d].increment(bytes as u64);
    }
}

/// Records the time from a stanza fully read to fully written.
#[inline]
pub fn relay_duration(direction: Direction, elapsed: Duration) {
    if let Some(h) = handles() {
        h.relay_duration[direction as usize].record(elapsed);
    }
}

/// Counts something the proxy did to a stanza on its own account.
pub fn annotation(kind: AnnotationKind) {
    if let Some(h) = handles() {
        h.annotations[kind as usize].increment(1);
    }
}

/// Counts a capability look-up.
pub fn caps_lookup(result: LookupResult) {
    if let Some(h) = handles() {
        h.caps_lookups[result as usize].increment(1);
    }
}

/// Counts a session's end; call exactly once per session.
pub fn session_closed(reason: CloseReason) {
    if let Some(h) = handles() {
        h.sessions_closed[reason as usize].increment(1);
    }
}

/// Holds one unit of `sessions_active` for its lifetime, so every exit path of a session,
/// panics included, gives it back.
#[derive(Debug)]
#[must_use = "the session counts as active only while the guard lives"]
pub struct ActiveSession {
    /// The gauge raised at creation; `None` if metrics were not installed then, so a later
    /// install cannot make the drop lower a gauge this guard never raised.
    gauge: Option<&'static Gauge>,
}

impl ActiveSession {
    /// Raises `sessions_active` until the guard is dropped.
    pub fn new() -> Self {
        Self::with_gauge(handles().map(|h| &h.sessions_active))
    }

    fn with_gauge(gauge: Option<&'static Gauge>) -> Self {
        if let Some(g) = gauge {
            g.increment(1.0);
        }
        ActiveSession { gauge }
    }
}

impl Default for ActiveSession {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        if let Some(g) = self.gauge {
            g.decrement(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one exact series line, e.g. `name{a="b"}`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    #[test]
    fn install_is_idempotent_and_describes_everything() {
        let a = install();
        let b = install();
        let text = b.render();
        drop(a);
        for name in [
            SESSIONS_ACTIVE,
            CONNECTIONS_ACCEPTED,
            HANDSHAKES,
            STANZAS,
            STANZA_BYTES,
            ANNOTATIONS,
            CAPS_LOOKUPS,
            SESSIONS_CLOSED,
            BUILD_INFO,
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}"
            );
        }
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            value(&text, &format!("{BUILD_INFO}{{version=\"{version}\"}}")),
            Some(1.0)
        );
    }

    #[test]
    fn labelled_counters_start_at_zero() {
        let text = install().render();
        // Present before anything was recorded; the value is zero unless another test
        // in this process happened to count one.
        for series in [
            format!("{SESSIONS_CLOSED}{{reason=\"upstream_unavailable\"}}"),
            format!("{ANNOTATIONS}{{kind=\"unsupported_rejected\"}}"),
            format!("{STANZAS}{{direction=\"to_client\",kind=\"call\"}}"),
            format!("{HANDSHAKES}{{leg=\"upstream\",pattern=\"xx_fallback\",result=\"error\"}}"),
        ] {
            assert!(value(&text, &series).is_some(), "{series} missing\n{text}");
        }
        let closed = text
            .lines()
            .filter(|l| l.starts_with(SESSIONS_CLOSED))
            .count();
        assert_eq!(closed, CloseReason::ALL.len());
    }

    #[test]
    fn recording_shows_in_render() {
        let handle = install();
        let series = format!("{STANZAS}{{direction=\"to_server\",kind=\"receipt\"}}");
        let bytes = format!("{STANZA_BYTES}{{direction=\"to_server\"}}");
        let before = handle.render();
        stanza_relayed(Direction::ToServer, Kind::Receipt, 100);
        stanza_relayed(Direction::ToServer, Kind::from_root_name("receipt"), 20);
        relay_duration(Direction::ToServer, Duration::from_micros(30));
        handshake(Leg::Client, Pattern::Ik, true, Duration::from_millis(3));
        caps_lookup(LookupResult::Fetched);
        let after = handle.render();
        assert!(value(&after, &series).unwrap() - value(&before, &series).unwrap() >= 2.0);
        assert!(value(&after, &bytes).unwrap() - value(&before, &bytes).unwrap() >= 120.0);
        let ok = format!("{HANDSHAKES}{{leg=\"client\",pattern=\"ik\",result=\"ok\"}}");
        assert!(value(&after, &ok).unwrap() >= 1.0);
        // Histograms, not summaries: bucket lines with the configured bounds.
        assert!(
            after.contains(&format!(
                "{RELAY_DURATION}_bucket{{direction=\"to_server\",le=\"0.00001\"}}"
            )),
            "{after}"
        );
        assert!(
            after.contains(&format!(
                "{HANDSHAKE_DURATION}_bucket{{leg=\"client\",le=\"10\"}}"
            )),
            "{after}"
        );
    }

    #[test]
    fn stanza_kinds_are_closed() {
        let label = |name| Kind::from_root_name(name).label();
        assert_eq!(label("message"), "message");
        assert_eq!(label("stream:error"), "stream_error");
        assert_eq!(label("<script>"), "other");
        assert_eq!(label("made-up"), "other");
        // The series arrays are indexed by discriminant, in `ALL` order.
        assert!(Kind::ALL.iter().enumerate().all(|(i, k)| *k as usize == i));
        assert!(Pattern::ALL
            .iter()
            .enumerate()
            .all(|(i, p)| *p as usize == i));
    }

    #[test]
    fn active_session_guard_balances() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        // A private gauge, so sessions opened by other tests in this process cannot interfere.
        let cell = Arc::new(AtomicU64::new(0f64.to_bits()));
        let gauge: &'static Gauge = Box::leak(Box::new(Gauge::from_arc(cell.clone())));
        let read = || f64::from_bits(cell.load(Ordering::Relaxed));
        let a = ActiveSession::with_gauge(Some(gauge));
        let b = ActiveSession::with_gauge(Some(gauge));
        assert_eq!(read(), 2.0);
        drop(a);
        assert_eq!(read(), 1.0);
        drop(b);
        assert_eq!(read(), 0.0);
        // Created before install: holds nothing, releases nothing.
        drop(ActiveSession::with_gauge(None));
        assert_eq!(read(), 0.0);
    }

    #[test]
    fn active_session_uses_the_installed_gauge() {
        install();
        let guard = ActiveSession::new();
        assert!(guard.gauge.is_some());
    }
}
