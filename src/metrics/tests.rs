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
