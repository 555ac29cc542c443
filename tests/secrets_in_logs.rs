//! Secrets stay out of the logs and the metrics: with every log line captured down to
//! debug, a full session (login with a token, a message each way, close) and a refused
//! one leave in the logs neither the token nor any private key, and no line at info or
//! above names the account or its JID. No metric label carries any of them either.

mod support;

use base64::Engine;
use interop_proxy::sim::{self, SimClient, SimError};
use support::logs::Captured;
use support::*;

/// A phone-number-like account, distinctive enough that a match is no accident.
const ACCOUNT: u64 = 4_915_112_345_678;
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2VuLXBheWxvYWQ.U0lHTkFUVVJFLXNlY3JldA";

/// Every spelling of a key file's secret that could end up in a line: the file text,
/// and the raw bytes as hex (both cases) and as base64 (standard and URL-safe).
fn spellings_of_key_file(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    assert_eq!(raw.len(), 32);
    vec![
        text.trim().to_string(),
        hex::encode(&raw),
        hex::encode_upper(&raw),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&raw),
        format!("{:?}", raw),
    ]
}

#[tokio::test]
async fn no_secret_token_or_account_in_logs_or_metric_labels() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let d = Deployment::start(|c, _| speak_xml(c)).await.unwrap();
    let mut options = d.client(ACCOUNT);
    options.token = TOKEN.as_bytes().to_vec();
    let mut c = SimClient::login(d.proxy_addr, &options).await.unwrap();
    echo(&mut c, ACCOUNT, "m1").await;
    // A message the server pushes to the client.
    assert!(
        d.server
            .push(
                ACCOUNT,
                sim::message(
                    ACCOUNT,
                    "pushed",
                    interop_proxy::stanza::Opaque::from_bytes("aGk=")
                )
            )
            .await
    );
    let pushed = recv_skip_acks(&mut c).await.unwrap();
    assert_eq!(attr(&pushed, "id").as_deref(), Some("pushed"));
    c.close().await;

    // A refused login carries the same token and account.
    let mut refused = d.client(ACCOUNT);
    refused.token = TOKEN.as_bytes().to_vec();
    refused.product = 99;
    match SimClient::login(d.proxy_addr, &refused).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "403"),
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
    // And a session that ends in a stream error.
    let mut bad = SimClient::login(d.proxy_addr, &options).await.unwrap();
    bad.send_plaintext(b"\x00<iq><unclosed></iq>")
        .await
        .unwrap();
    drain_until_closed(&mut bad).await;
    drop(bad);
    eventually(|| metric_value("interop_proxy_sessions_active") == 0).await;

    let text = logs.text();
    assert!(
        text.contains("session ended"),
        "debug lines are captured:\n{text}"
    );

    let mut secrets = vec![TOKEN.to_string()];
    // The signature part alone is enough to replay nothing, but the token must not leak
    // in pieces either.
    secrets.extend(TOKEN.split('.').map(str::to_string));
    for file in ["static.key", "seed.key"] {
        secrets.extend(spellings_of_key_file(&d.dir.path().join(file)));
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) is in the logs",
            &secret[..8.min(secret.len())]
        );
    }

    let account = ACCOUNT.to_string();
    let jid = sim::jid(ACCOUNT);
    for line in text.lines() {
        let level = line.split_whitespace().next().unwrap_or("");
        if matches!(level, "INFO" | "WARN" | "ERROR") {
            assert!(
                !line.contains(&account) && !line.contains(&jid),
                "an identifier at {level}: {line}"
            );
        }
    }

    let metrics = interop_proxy::metrics::install().render();
    for needle in secrets.iter().chain([&account, &jid]) {
        assert!(
            !metrics.contains(needle.as_str()),
            "a secret or identifier is in the metrics"
        );
    }
}

#[test]
fn key_types_print_nothing_of_the_secret() {
    use interop_proxy::noise::{Keypair, SecretKey};
    let secret = SecretKey::from_bytes([0xab; 32]);
    let pair = Keypair::from_secret(secret.clone());
    let printed = format!("{secret:?} {pair:?} {pair:#?}");
    assert!(printed.contains("SecretKey(..)"), "{printed}");
    for needle in [
        "171".to_string(),
        "ab".repeat(4),
        "AB".repeat(4),
        base64::engine::general_purpose::STANDARD.encode([0xab; 32])[..8].to_string(),
    ] {
        assert!(!printed.contains(&needle), "{printed}");
    }
}
