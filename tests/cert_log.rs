//! Which certificate check refused the server's chain reaches the debug log, so an
//! operator can tell a wrong root from an expired or mismatched chain without a capture.

mod support;

use interop_proxy::noise::Keypair;
use interop_proxy::sim::{SimClient, SimError};
use support::logs::Captured;
use support::*;

#[tokio::test]
async fn the_failed_certificate_check_is_named_at_debug_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A root the server's chain was not issued by: the intermediate's signature fails.
    let d = Deployment::start(|c, _| c.upstream.root_key = Keypair::generate().public)
        .await
        .unwrap();
    match SimClient::login(d.proxy_addr, &d.client(1)).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "502"),
        other => panic!("expected a 502 failure, got {:?}", other.map(|_| ())),
    }
    let log = captured.text();
    assert!(
        log.contains("intermediate certificate is not signed by the root key (check 2)"),
        "{log}"
    );
}
