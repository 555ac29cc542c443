//! The outbound HTTPS client against a real TLS server on loopback: trust, status and
//! body, timeout, size bound, connect failure.

mod support;

use std::time::Duration;

use interop_proxy::https::{HttpsClient, HttpsError, MAX_BODY_BYTES};
use support::free_port;
use support::tls::{Ca, Reply, TlsServer};

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn fetches_from_a_server_signed_by_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::generate();
    let server = TlsServer::start(&ca, |target| {
        if target == "/ok?x=1" {
            Reply::json(200, "{\"a\":1}")
        } else {
            Reply::json(404, "")
        }
    })
    .await;
    let client = HttpsClient::new(Some(&ca.write_pem(dir.path(), "ca.pem"))).unwrap();
    let (status, body) = client.get(&server.url("/ok?x=1"), T).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"{\"a\":1}");
    let (status, _) = client.get(&server.url("/missing"), T).await.unwrap();
    assert_eq!(status, 404);
    assert!(matches!(
        client.get_ok(&server.url("/missing"), T).await,
        Err(HttpsError::Status(404))
    ));
    assert_eq!(
        &client.get_ok(&server.url("/ok?x=1"), T).await.unwrap()[..],
        b"{\"a\":1}"
    );
    // Clones share the client.
    let clone = client.clone();
    assert_eq!(clone.get(&server.url("/ok?x=1"), T).await.unwrap().0, 200);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_a_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::generate();
    let other_ca = Ca::generate();
    let server = TlsServer::start(&server_ca, |_| Reply::json(200, "{}")).await;
    let client = HttpsClient::new(Some(&other_ca.write_pem(dir.path(), "other.pem"))).unwrap();
    let e = client.get(&server.url("/"), T).await.unwrap_err();
    assert!(matches!(e, HttpsError::Tls(_)), "{e:?}");
    // The system roots do not know a freshly generated CA either.
    if let Ok(system) = HttpsClient::new(None) {
        let e = system.get(&server.url("/"), T).await.unwrap_err();
        assert!(matches!(e, HttpsError::Tls(_)), "{e:?}");
    }
}

#[tokio::test]
async fn slow_server_times_out_and_large_body_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::generate();
    let server = TlsServer::start(&ca, |target| match target {
        "/slow" => Reply::json(200, "{}").after(Duration::from_secs(3)),
        "/large" => Reply::json(200, &"x".repeat(MAX_BODY_BYTES + 1)),
        _ => Reply::json(200, &"x".repeat(MAX_BODY_BYTES)),
    })
    .await;
    let client = HttpsClient::new(Some(&ca.write_pem(dir.path(), "ca.pem"))).unwrap();
    let started = std::time::Instant::now();
    let e = client
        .get(&server.url("/slow"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, HttpsError::Timeout(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let e = client.get(&server.url("/large"), T).await.unwrap_err();
    assert!(matches!(e, HttpsError::BodyTooLarge), "{e:?}");
    let (_, body) = client.get(&server.url("/exact"), T).await.unwrap();
    assert_eq!(body.len(), MAX_BODY_BYTES);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::generate();
    let client = HttpsClient::new(Some(&ca.write_pem(dir.path(), "ca.pem"))).unwrap();
    // Bind and drop to find a port that refuses.
    let port = free_port().port();
    let e = client
        .get(&format!("https://127.0.0.1:{port}/"), T)
        .await
        .unwrap_err();
    assert!(matches!(e, HttpsError::Connect(_)), "{e:?}");
}
