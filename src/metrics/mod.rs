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

mod labels;

pub use labels::Leg;
pub use labels::{AnnotationKind, CloseReason, Direction, LookupResult};
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
/// Counter by `result`: reloads of the key, chain and file material (SPEC §9).
pub const RELOADS: &str = "interop_proxy_reloads_total";
/// Counter by `result`: logins of devices whose earlier login's results were kept (hit)
/// or not (miss).
pub const RETURNING_DEVICES: &str = "interop_proxy_returning_devices_total";
/// Gauge: when the proxy's certificate chain in force stops being valid, Unix seconds.
pub const CERT_CHAIN_NOT_AFTER: &str = "interop_proxy_cert_chain_not_after_seconds";
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
    /// [`RELOADS`] as `[ok as usize]`.
    reloads: [Counter; 2],
    /// [`RETURNING_DEVICES`] as `[hit as usize]`.
    returning_devices: [Counter; 2],
    /// [`CERT_CHAIN_NOT_AFTER`].
    cert_chain_not_after: Gauge,
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
    describe_counter!(
        RELOADS,
        Unit::Count,
        "Reloads of the key, chain and file material on SIGHUP or a change on disk, by result (ok, error); an error leaves the old material in force."
    );
    describe_counter!(
        RETURNING_DEVICES,
        Unit::Count,
        "Logins that reused what the device's earlier login computed (hit: its derived upstream key and static-static DH results) or computed it all (miss)."
    );
    describe_gauge!(
        CERT_CHAIN_NOT_AFTER,
        Unit::Seconds,
        "When the certificate chain presented to clients expires (the earlier not_after of leaf and intermediate), in Unix seconds."
    );
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
        reloads: ["error", "ok"].map(|result| counter!(RELOADS, "result" => result)),
        returning_devices: ["miss", "hit"]
            .map(|result| counter!(RETURNING_DEVICES, "result" => result)),
        cert_chain_not_after: gauge!(CERT_CHAIN_NOT_AFTER),
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

/// Counts a reload of the file material, successful or not.
pub fn reload(ok: bool) {
    if let Some(h) = handles() {
        h.reloads[usize::from(ok)].increment(1);
    }
}

/// Counts a login by whether the device's kept results were found.
pub fn returning_device(hit: bool) {
    if let Some(h) = handles() {
        h.returning_devices[usize::from(hit)].increment(1);
    }
}

/// Publishes when the chain in force expires.
pub fn set_cert_chain_not_after(unix: u64) {
    if let Some(h) = handles() {
        h.cert_chain_not_after.set(unix as f64);
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
mod tests;
