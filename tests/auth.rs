//! Client authentication (SPEC §4) over real sockets: JWTs signed with RS256, ES256 and
//! EdDSA against a JWKS file; every way a token can be wrong is a 401 and the upstream
//! never sees a connection; a product off the allow-list is a 403. Key sets come from a
//! file or from an HTTPS server on loopback with a generated CA.

mod support;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use interop_proxy::config::AuthMode;
use interop_proxy::sim::{SimClient, SimError};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use support::tls::{Ca, Reply, TlsServer};
use support::*;

const RSA: &[u8] = include_bytes!("data/jwt/rsa.pem");
const EC: &[u8] = include_bytes!("data/jwt/ec.pem");
const ED: &[u8] = include_bytes!("data/jwt/ed.pem");
const OTHER_RSA: &[u8] = include_bytes!("data/jwt/other-rsa.pem");

const ISSUER: &str = "https://provider.example";
const AUDIENCE: &str = "interop-proxy";

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA).unwrap()
}
fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(EC).unwrap()
}
fn ed() -> EncodingKey {
    EncodingKey::from_ed_pem(ED).unwrap()
}

/// The JWKS the provider publishes: the three keys, by kid.
fn jwks() -> String {
    let mut keys = Vec::new();
    for (kid, key, alg) in [
        ("rsa-1", rsa(), Algorithm::RS256),
        ("ec-1", ec(), Algorithm::ES256),
        ("ed-1", ed(), Algorithm::EdDSA),
    ] {
        let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        jwk.common.key_id = Some(kid.into());
        keys.push(jwk);
    }
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Standard claims for `account`, valid for an hour.
fn claims(account: u64) -> serde_json::Value {
    json!({"sub": account.to_string(), "iss": ISSUER, "aud": [AUDIENCE, "other"], "exp": now() + 3600, "nbf": now() - 10})
}

fn token(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &serde_json::Value) -> Vec<u8> {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, claims, key).unwrap().into_bytes()
}

async fn deploy() -> Deployment {
    deploy_with(|_| {}).await
}

/// [`deploy`], with `tune` applied to the configuration last.
async fn deploy_with(tune: impl FnOnce(&mut interop_proxy::config::Config)) -> Deployment {
    Deployment::start(|c, _| {
        c.auth.mode = AuthMode::Jwt;
        c.auth.issuer = Some(ISSUER.into());
        c.auth.audience = Some(AUDIENCE.into());
        // The key set lives beside the deployment's key files.
        let dir = c.noise.static_key_file.as_ref().unwrap().parent().unwrap();
        let path = dir.join("jwks.json");
        std::fs::write(&path, jwks()).unwrap();
        c.auth.jwks_file = Some(path);
        tune(c);
    })
    .await
    .unwrap()
}

/// Rotates `d`'s key set: it now holds only the other RSA key, under the kid `rsa-2`.
fn rotate_to_other_key(d: &Deployment) -> EncodingKey {
    let other = EncodingKey::from_rsa_pem(OTHER_RSA).unwrap();
    let mut jwk = Jwk::from_encoding_key(&other, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("rsa-2".into());
    std::fs::write(
        d.dir.path().join("jwks.json"),
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    other
}

async fn login(d: &Deployment, account: u64, token: Vec<u8>) -> Result<SimClient, SimError> {
    let mut options = d.client(account);
    options.token = token;
    SimClient::login(d.proxy_addr, &options).await
}

async fn assert_refused(d: &Deployment, account: u64, token: Vec<u8>, code: &str, case: &str) {
    let before = d.server.state().connections.load(Ordering::Relaxed);
    match login(d, account, token).await {
        Err(SimError::Refused(got)) => assert_eq!(got, code, "{case}"),
        Err(e) => panic!("{case}: expected refusal {code}, got error {e}"),
        Ok(_) => panic!("{case}: expected refusal {code}, got a session"),
    }
    let after = d.server.state().connections.load(Ordering::Relaxed);
    assert_eq!(before, after, "{case}: the upstream saw a connection");
}

#[tokio::test]
async fn each_allowed_algorithm_logs_in() {
    let d = deploy().await;
    for (i, (alg, kid, key)) in [
        (Algorithm::RS256, "rsa-1", rsa()),
        (Algorithm::ES256, "ec-1", ec()),
        (Algorithm::EdDSA, "ed-1", ed()),
    ]
    .into_iter()
    .enumerate()
    {
        let account = 10 + i as u64;
        login(&d, account, token(alg, kid, &key, &claims(account)))
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_before_any_upstream_connection() {
    let d = deploy().await;
    let a = 42u64;
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(a);
        f(&mut c);
        c
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no token", Vec::new()),
        ("not a JWT", b"hello".to_vec()),
        (
            "expired",
            token(
                Algorithm::RS256,
                "rsa-1",
                &rsa(),
                &with(&|c| c["exp"] = json!(now() - 3600)),
            ),
        ),
        (
            "not yet valid",
            token(
                Algorithm::RS256,
                "rsa-1",
                &rsa(),
                &with(&|c| c["nbf"] = json!(now() + 3600)),
            ),
        ),
        (
            "no exp",
            token(
                Algorithm::RS256,
                "rsa-1",
                &rsa(),
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        (
            "wrong issuer",
            token(
                Algorithm::RS256,
                "rsa-1",
                &rsa(),
                &with(&|c| c["iss"] = json!("https://evil.example")),
            ),
        ),
        (
            "wrong audience",
            token(
                Algorithm::RS256,
                "rsa-1",
                &rsa(),
                &with(&|c| c["aud"] = json!("someone-else")),
            ),
        ),
        (
            "another account",
            token(
                Algorithm::RS256,
                "rsa-1",
                &rsa(),
                &with(&|c| c["sub"] = json!("43")),
            ),
        ),
        (
            "signed by a key not in the set",
            token(
                Algorithm::RS256,
                "rsa-1",
                &EncodingKey::from_rsa_pem(OTHER_RSA).unwrap(),
                &claims(a),
            ),
        ),
        (
            "unknown kid",
            token(
                Algorithm::RS256,
                "rsa-9",
                &EncodingKey::from_rsa_pem(OTHER_RSA).unwrap(),
                &claims(a),
            ),
        ),
        (
            "algorithm of another key",
            token(Algorithm::ES256, "rsa-1", &ec(), &claims(a)),
        ),
        (
            "HS256 with the RSA public key as secret",
            token(
                Algorithm::HS256,
                "rsa-1",
                &EncodingKey::from_secret(jwks().as_bytes()),
                &claims(a),
            ),
        ),
        ("alg none", {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let head = b64.encode(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
            let body = b64.encode(claims(a).to_string());
            format!("{head}.{body}.").into_bytes()
        }),
        ("tampered claims", {
            let t = String::from_utf8(token(Algorithm::EdDSA, "ed-1", &ed(), &claims(a))).unwrap();
            let mut parts: Vec<&str> = t.split('.').collect();
            use base64::Engine;
            let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                with(&|c| c["sub"] = json!("42"))
                    .to_string()
                    .replace("42", "42 "),
            );
            parts[1] = &forged;
            parts.join(".").into_bytes()
        }),
    ];
    for (case, token) in cases {
        assert_refused(&d, a, token, "401", case).await;
    }
}

#[tokio::test]
async fn leeway_admits_a_token_just_expired() {
    let d = deploy().await;
    let mut c = claims(7);
    c["exp"] = json!(now() - 30); // within the default 60 s leeway
    login(&d, 7, token(Algorithm::RS256, "rsa-1", &rsa(), &c))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_valid_token_for_a_product_off_the_list_is_refused_with_403() {
    let d = deploy().await;
    let mut options = d.client(5);
    options.token = token(Algorithm::RS256, "rsa-1", &rsa(), &claims(5));
    options.product = 3;
    match SimClient::login(d.proxy_addr, &options).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "403"),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_use() {
    let d = deploy().await;
    let other = rotate_to_other_key(&d);
    // The refresh floor (2 s) counts from start-up's fetch.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    login(&d, 8, token(Algorithm::RS256, "rsa-2", &other, &claims(8)))
        .await
        .unwrap();
}

/// A token that passed is kept for the device's next login (by digest), but only as it
/// was checked: for the same account, until it expires, and while the key set is the one
/// it was verified with.
#[tokio::test]
async fn a_kept_token_passes_again_only_as_it_was_checked() {
    let d = deploy().await;
    let (ed_token, rsa_token) = (
        token(Algorithm::EdDSA, "ed-1", &ed(), &claims(20)),
        token(Algorithm::RS256, "rsa-1", &rsa(), &claims(21)),
    );
    for _ in 0..2 {
        login(&d, 20, ed_token.clone()).await.unwrap().close().await;
        login(&d, 21, rsa_token.clone())
            .await
            .unwrap()
            .close()
            .await;
    }
    assert_refused(
        &d,
        22,
        ed_token.clone(),
        "401",
        "a kept token, another account",
    )
    .await;

    // Expires during the test, with the leeway set to 0 below: kept after its first use,
    // refused after its exp.
    let d0 = deploy_with(|c| c.auth.leeway = std::time::Duration::ZERO).await;
    let mut short = claims(23);
    short["exp"] = json!(now() + 2);
    let short = token(Algorithm::EdDSA, "ed-1", &ed(), &short);
    login(&d0, 23, short.clone()).await.unwrap().close().await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_refused(&d0, 23, short, "401", "a kept token past its exp").await;

    // Rotation: the key set loses `ed-1`. The next unknown kid refreshes it (the floor
    // is 2 s from start-up, passed above), after which the kept EdDSA token no longer
    // passes either.
    let other = rotate_to_other_key(&d);
    login(
        &d,
        24,
        token(Algorithm::RS256, "rsa-2", &other, &claims(24)),
    )
    .await
    .unwrap();
    assert_refused(
        &d,
        20,
        ed_token,
        "401",
        "a kept token whose key left the set",
    )
    .await;
}

/// A deployment whose key set is served over HTTPS by `server`, trusted through `ca`.
async fn deploy_with_jwks_url(ca: &Ca, server: &TlsServer) -> Deployment {
    let url = server.url("/.well-known/jwks.json");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let d = Deployment::start(move |c, _| {
        c.auth.mode = AuthMode::Jwt;
        c.auth.issuer = Some(ISSUER.into());
        c.auth.audience = Some(AUDIENCE.into());
        c.auth.jwks_url = Some(url);
        c.tls.ca_file = Some(ca_file);
    })
    .await
    .unwrap();
    drop(dir);
    d
}

#[tokio::test]
async fn keys_fetched_over_https_verify_tokens() {
    let ca = Ca::generate();
    let server = TlsServer::start(&ca, |_| Reply::json(200, &jwks())).await;
    let d = deploy_with_jwks_url(&ca, &server).await;
    login(&d, 21, token(Algorithm::ES256, "ec-1", &ec(), &claims(21)))
        .await
        .unwrap();
    assert_eq!(server.count(), 1, "one fetch at start-up, none per login");
}

#[tokio::test]
async fn a_key_set_unreachable_at_start_up_refuses_with_401_until_it_is_reachable() {
    let ca = Ca::generate();
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let serving = up.clone();
    let server = TlsServer::start(&ca, move |_| {
        if serving.load(Ordering::Relaxed) {
            Reply::json(200, &jwks())
        } else {
            Reply::json(503, "{}")
        }
    })
    .await;
    // The proxy starts although the key set cannot be had.
    let d = deploy_with_jwks_url(&ca, &server).await;
    let t = token(Algorithm::RS256, "rsa-1", &rsa(), &claims(22));
    assert_refused(&d, 22, t.clone(), "401", "key set unavailable").await;
    up.store(true, Ordering::Relaxed);
    // Unknown-kid refreshes are at most every 2 s.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    login(&d, 22, t).await.unwrap();
}

#[tokio::test]
async fn unknown_kids_cannot_flood_the_key_server() {
    let ca = Ca::generate();
    let server = TlsServer::start(&ca, |_| Reply::json(200, &jwks())).await;
    let d = deploy_with_jwks_url(&ca, &server).await;
    let other = EncodingKey::from_rsa_pem(OTHER_RSA).unwrap();
    for i in 0..20 {
        let kid = format!("made-up-{i}");
        assert_refused(
            &d,
            30,
            token(Algorithm::RS256, &kid, &other, &claims(30)),
            "401",
            "unknown kid",
        )
        .await;
    }
    // Start-up's fetch plus at most one refresh per 2 s of the loop above.
    assert!(server.count() <= 3, "{} fetches", server.count());
}
