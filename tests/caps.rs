//! Capability metadata (SPEC §3) over real sockets: presence annotation, disco#info
//! answers, unsupported content (annotate and reject), and the provider lookup against
//! a TLS server on loopback.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use interop_proxy::caps::profile::{ver, Identity, CAPS_NS, DISCO_INFO_NS};
use interop_proxy::config::Unsupported;
use interop_proxy::sim::{ClientOptions, SimClient};
use interop_proxy::stanza::{Element, Encoding, Opaque, Stanza};
use support::tls::{Ca, Reply, TlsServer};
use support::*;

/// Runs a test once per stanza encoding: every capability behaviour holds in both.
macro_rules! both_encodings {
    ($name:ident) => {
        mod $name {
            use interop_proxy::stanza::Encoding;
            #[tokio::test]
            async fn binary() {
                super::$name(Encoding::Binary).await
            }
            #[tokio::test]
            async fn xml() {
                super::$name(Encoding::Xml).await
            }
        }
    };
}

const NODE: &str = "https://provider.test/caps";

/// Android ≥ 2.21 gets `full` (text, image); everyone else `default` (text).
const CAPS_FILE: &str = r#"node = "https://provider.test/caps"
[profiles.default]
identity = { category = "client", type = "phone", name = "Test 1.0" }
features = ["http://jabber.org/protocol/caps", "urn:interop:caps:receive:text"]
[profiles.full]
identity = { category = "client", type = "phone", name = "Test 2.0" }
features = ["http://jabber.org/protocol/caps", "urn:interop:caps:receive:text", "urn:interop:caps:receive:image"]
[[rules]]
platform = "ANDROID"
min_version = "2.21.0"
profile = "full"
"#;

/// The `ver` of a profile of [`CAPS_FILE`].
fn profile_ver(name: &str, features: &[&str]) -> String {
    let identity = Identity {
        category: "client".into(),
        kind: "phone".into(),
        name: name.into(),
        lang: None,
    };
    let features: Vec<String> = features.iter().map(|f| f.to_string()).collect();
    ver(&[identity], &features)
}

fn default_ver() -> String {
    profile_ver(
        "Test 1.0",
        &[
            "http://jabber.org/protocol/caps",
            "urn:interop:caps:receive:text",
        ],
    )
}

fn full_ver() -> String {
    profile_ver(
        "Test 2.0",
        &[
            "http://jabber.org/protocol/caps",
            "urn:interop:caps:receive:text",
            "urn:interop:caps:receive:image",
        ],
    )
}

/// Writes [`CAPS_FILE`]; the directory must outlive the deployment.
fn caps_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capabilities.toml");
    std::fs::write(&path, CAPS_FILE).unwrap();
    (dir, path)
}

fn payload(text: &str) -> Opaque {
    Opaque::from_bytes(text.as_bytes().to_vec())
}

/// A message from the server to `to`, with an `<enc>` of `mediatype` (if any).
fn server_message(id: &str, kind: &str, mediatype: Option<&str>, enc: &Opaque) -> Stanza {
    let mut e = Element::new("enc").with_attr("v", "2");
    if let Some(m) = mediatype {
        e = e.with_attr("mediatype", m);
    }
    Stanza::from_element(
        Element::new("message")
            .with_attr("from", "2@s.whatsapp.net")
            .with_attr("id", id)
            .with_attr("type", kind)
            .with_child(Element::new("meta").with_child(e.with_opaque(enc.clone()))),
    )
}

both_encodings!(presence_carries_exactly_one_caps_element_last);
async fn presence_carries_exactly_one_caps_element_last(encoding: Encoding) {
    let (_dir, file) = caps_file();
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
    })
    .await
    .unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let presence = Element::new("presence")
        .with_attr("type", "available")
        .with_child(
            Element::new("c")
                .with_attr("xmlns", CAPS_NS)
                .with_attr("hash", "sha-1")
                .with_attr("node", "https://spoof.example")
                .with_attr("ver", "forged="),
        )
        .with_child(Element::new("status").with_text("hi"))
        .with_child(Element::new("c").with_attr("xmlns", "urn:other"));
    client.send(&Stanza::from_element(presence)).await.unwrap();
    // A presence without any <c> gets one too.
    client
        .send(&Stanza::from_element(
            Element::new("presence").with_attr("id", "second"),
        ))
        .await
        .unwrap();

    let got = server_got(&d, 1, |s| {
        s.node().name() == "presence" && s.node().attr("type").is_some()
    })
    .await;
    let names: Vec<_> = got
        .node()
        .children()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(
        names,
        ["status", "c", "c"],
        "client's caps <c> removed, others kept"
    );
    let caps: Vec<_> = got
        .node()
        .children()
        .filter(|c| c.attr("xmlns").as_deref() == Some(CAPS_NS))
        .collect();
    assert_eq!(caps.len(), 1);
    let c = got.node().children().last().unwrap();
    assert_eq!(c.attr("xmlns").as_deref(), Some(CAPS_NS));
    assert_eq!(c.attr("hash").as_deref(), Some("sha-1"));
    assert_eq!(c.attr("node").as_deref(), Some(NODE));
    assert_eq!(
        c.attr("ver"),
        Some(full_ver().into()),
        "Android 2.24 → full"
    );

    let second = server_got(&d, 1, |s| s.node().attr("id").as_deref() == Some("second")).await;
    let children: Vec<_> = second.node().children().collect();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].attr("ver"), Some(full_ver().into()));
    client.close().await;
}

both_encodings!(disco_info_for_the_session_node_is_answered_by_the_proxy);
async fn disco_info_for_the_session_node_is_answered_by_the_proxy(encoding: Encoding) {
    let (_dir, file) = caps_file();
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
    })
    .await
    .unwrap();
    let mut options = d.client(1);
    options.platform = 1; // IOS → default profile
    let mut client = SimClient::login(d.proxy_addr, &options).await.unwrap();
    let query = |id: &str, node: &str| {
        Stanza::from_element(
            Element::new("iq")
                .with_attr("from", "s.whatsapp.net")
                .with_attr("to", "1@s.whatsapp.net")
                .with_attr("id", id)
                .with_attr("type", "get")
                .with_child(
                    Element::new("query")
                        .with_attr("xmlns", DISCO_INFO_NS)
                        .with_attr("node", node),
                ),
        )
    };
    let ours = format!("{NODE}#{}", default_ver());
    assert!(d.server.push(1, query("d1", &ours)).await);
    // Another node (here: the other profile's) is the client's business.
    let other = format!("{NODE}#{}", full_ver());
    assert!(d.server.push(1, query("d2", &other)).await);

    let answer = server_got(&d, 1, |s| s.node().attr("id").as_deref() == Some("d1")).await;
    let root = answer.node();
    assert_eq!(root.name(), "iq");
    assert_eq!(root.attr("type").as_deref(), Some("result"));
    assert_eq!(root.attr("to").as_deref(), Some("s.whatsapp.net"));
    assert_eq!(root.attr("from").as_deref(), Some("1@s.whatsapp.net"));
    let q = root.find("query").unwrap();
    assert_eq!(q.attr("xmlns").as_deref(), Some(DISCO_INFO_NS));
    assert_eq!(q.attr("node"), Some(ours.clone().into()));
    let identity = q.find("identity").unwrap();
    assert_eq!(identity.attr("category").as_deref(), Some("client"));
    assert_eq!(identity.attr("type").as_deref(), Some("phone"));
    assert_eq!(identity.attr("name").as_deref(), Some("Test 1.0"));
    let features: Vec<_> = q
        .children()
        .filter(|c| c.name() == "feature")
        .map(|f| f.attr("var").unwrap().into_owned())
        .collect();
    assert_eq!(
        features,
        [
            "http://jabber.org/protocol/caps",
            "urn:interop:caps:receive:text"
        ]
    );

    // The client never sees d1: the first thing it gets is d2, untouched.
    let got = recv_skip_acks(&mut client).await.unwrap();
    assert_eq!(got.node().attr("id").as_deref(), Some("d2"));
    assert_eq!(got.node().find("query").unwrap().children().count(), 0);
    assert!(!got.is_modified());
    client.close().await;
}

both_encodings!(unsupported_content_is_annotated_and_payload_untouched);
async fn unsupported_content_is_annotated_and_payload_untouched(encoding: Encoding) {
    let (_dir, file) = caps_file();
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
    })
    .await
    .unwrap();
    let mut options = d.client(1);
    options.platform = 1; // IOS → default profile: text only
    let mut client = SimClient::login(d.proxy_addr, &options).await.unwrap();
    let enc = payload("U2lnbmFsIGNpcGhlcnRleHQ+PCZkYXRhPjw=");

    // mediatype of the first <enc>, at any depth, decides.
    assert!(
        d.server
            .push(1, server_message("m1", "text", Some("video"), &enc))
            .await
    );
    // No mediatype: the message's type decides.
    assert!(
        d.server
            .push(1, server_message("m2", "poll", None, &enc))
            .await
    );
    // Supported: untouched.
    assert!(
        d.server
            .push(1, server_message("m3", "text", None, &enc))
            .await
    );

    for (id, kind) in [("m1", Some("video")), ("m2", Some("poll")), ("m3", None)] {
        let got = recv_skip_acks(&mut client).await.unwrap();
        let root = got.node();
        assert_eq!(root.attr("id").as_deref(), Some(id));
        assert_eq!(root.find("enc").unwrap().opaque(), Some(&enc), "{id}");
        let annotation = root.children().find(|c| c.name() == "unsupported");
        match kind {
            Some(kind) => {
                let a = annotation.expect("annotated");
                assert_eq!(a.attr("xmlns").as_deref(), Some("urn:interop:caps"));
                assert_eq!(a.attr("kind").as_deref(), Some(kind));
                assert_eq!(root.children().last().unwrap().name(), "unsupported");
            }
            None => assert!(annotation.is_none(), "{id}"),
        }
    }
    client.close().await;
}

both_encodings!(unsupported_content_is_rejected_with_415);
async fn unsupported_content_is_rejected_with_415(encoding: Encoding) {
    let (_dir, file) = caps_file();
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
        c.caps.unsupported = Unsupported::Reject;
    })
    .await
    .unwrap();
    // Android 2.24 → full: text and image, no video.
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let enc = payload("QUJDREVGRw==");
    assert!(
        d.server
            .push(1, server_message("v1", "media", Some("video"), &enc))
            .await
    );
    assert!(
        d.server
            .push(1, server_message("i1", "media", Some("image"), &enc))
            .await
    );

    let ack = server_got(&d, 1, |s| s.node().name() == "ack").await;
    let root = ack.node();
    assert_eq!(root.attr("class").as_deref(), Some("message"));
    assert_eq!(root.attr("id").as_deref(), Some("v1"));
    assert_eq!(root.attr("to").as_deref(), Some("2@s.whatsapp.net"));
    assert_eq!(root.attr("error").as_deref(), Some("415"));

    // The client never gets v1; i1, which it supports, arrives with its payload.
    let got = recv_skip_acks(&mut client).await.unwrap();
    assert_eq!(got.node().attr("id").as_deref(), Some("i1"));
    assert_eq!(got.node().find("enc").unwrap().opaque(), Some(&enc));
    assert!(got.node().find("unsupported").is_none());
    client.close().await;
}

/// The `ver` the server saw in the first presence of a session of `options`.
async fn advertised_ver(d: &Deployment, options: &ClientOptions) -> String {
    let mut client = SimClient::login(d.proxy_addr, options).await.unwrap();
    let id = format!("p{}", rand_id());
    client
        .send(&Stanza::from_element(
            Element::new("presence").with_attr("id", &id),
        ))
        .await
        .unwrap();
    let got = server_got(d, options.account, |s| {
        s.node().attr("id").as_deref() == Some(id.as_str())
    })
    .await;
    client.close().await;
    got.node()
        .find("c")
        .and_then(|c| c.attr("ver"))
        .unwrap()
        .into_owned()
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `interop_proxy_caps_lookups_total{result=…}` now.
fn lookups(result: &str) -> f64 {
    let text = interop_proxy::metrics::install().render();
    let series = format!("interop_proxy_caps_lookups_total{{result=\"{result}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// The lookup service of these tests, by account.
fn lookup_service(target: &str) -> Reply {
    let account = target
        .split("account=")
        .nth(1)
        .and_then(|a| a.parse::<u64>().ok());
    match account {
        Some(10) => Reply::json(200, r#"{"profile": "full"}"#),
        Some(11) => Reply::json(
            200,
            r#"{"identity": {"category": "client", "type": "phone", "name": "Looked up"},
                "features": ["urn:interop:caps:receive:text", "urn:interop:caps:receive:sticker"]}"#,
        ),
        Some(12) => Reply::json(404, ""),
        Some(13) => Reply::json(200, r#"{"profile": "full"}"#).after(Duration::from_secs(4)),
        Some(14) => Reply::json(500, "oops"),
        Some(15) => Reply::json(200, "{not json"),
        Some(16) => Reply::json(200, r#"{"profile": "nonexistent"}"#),
        Some(20) => Reply::json(200, r#"{"profile": "full"}"#).after(Duration::from_millis(300)),
        _ => Reply::json(404, ""),
    }
}

both_encodings!(lookup_over_https_with_fallback_to_the_rules);
async fn lookup_over_https_with_fallback_to_the_rules(encoding: Encoding) {
    let (dir, file) = caps_file();
    let ca = Ca::generate();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let service = TlsServer::start(&ca, lookup_service).await;
    let url = service.url("/caps/v1?tenant=t");
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
        c.caps.lookup_url = Some(url.clone());
        c.tls.ca_file = Some(ca_file.clone());
    })
    .await
    .unwrap();
    // IOS clients: the rules give `default`.
    let ios = |account| {
        let mut o = d.client(account);
        o.platform = 1;
        o
    };

    let fetched = lookups("fetched");
    assert_eq!(advertised_ver(&d, &ios(10)).await, full_ver(), "named");
    let whole = profile_ver(
        "Looked up",
        &[
            "urn:interop:caps:receive:text",
            "urn:interop:caps:receive:sticker",
        ],
    );
    assert_eq!(advertised_ver(&d, &ios(11)).await, whole, "whole profile");
    assert_eq!(advertised_ver(&d, &ios(12)).await, default_ver(), "404");
    assert!(lookups("fetched") - fetched >= 3.0);
    assert!(service
        .targets
        .lock()
        .unwrap()
        .contains(&"/caps/v1?tenant=t&account=10".to_string()));

    let errors = lookups("error");
    for account in [14, 15, 16] {
        assert_eq!(
            advertised_ver(&d, &ios(account)).await,
            default_ver(),
            "account {account}"
        );
    }
    // Slow: the lookup gives up (after about 2 s) and the rules decide.
    let started = std::time::Instant::now();
    assert_eq!(advertised_ver(&d, &ios(13)).await, default_ver(), "slow");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_millis(3900),
        "{waited:?}"
    );
    assert!(lookups("error") - errors >= 4.0);

    // A whole profile looked up is cached with its ver: the next session of the account
    // gets it without a request.
    let before = service.count();
    let hits = lookups("hit");
    assert_eq!(advertised_ver(&d, &ios(11)).await, whole, "cached");
    assert_eq!(
        advertised_ver(&d, &ios(12)).await,
        default_ver(),
        "404 cached"
    );
    assert_eq!(service.count(), before);
    assert!(lookups("hit") - hits >= 2.0);
    // Failures are not cached: the next session asks again.
    assert_eq!(advertised_ver(&d, &ios(14)).await, default_ver());
    assert_eq!(service.count(), before + 1);
}

both_encodings!(concurrent_sessions_of_one_account_share_one_request);
async fn concurrent_sessions_of_one_account_share_one_request(encoding: Encoding) {
    let (dir, file) = caps_file();
    let ca = Ca::generate();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    let service = TlsServer::start(&ca, lookup_service).await;
    let url = service.url("/caps");
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
        c.caps.lookup_url = Some(url.clone());
        c.tls.ca_file = Some(ca_file.clone());
    })
    .await
    .unwrap();
    let mut options = d.client(20);
    options.platform = 1;
    let logins = (0..6).map(|_| {
        let mut o = options.clone();
        o.static_key = interop_proxy::noise::Keypair::generate();
        let addr = d.proxy_addr;
        async move { SimClient::login(addr, &o).await.unwrap() }
    });
    let clients = futures::future::join_all(logins).await;
    assert_eq!(clients.len(), 6);
    assert_eq!(service.count(), 1, "one request for six sessions");
    for c in clients {
        c.close().await;
    }
    // And the answer is used: a later session is served from the cache.
    assert_eq!(advertised_ver(&d, &options).await, full_ver());
    assert_eq!(service.count(), 1);
}

both_encodings!(an_untrusted_lookup_certificate_falls_back_to_the_rules);
async fn an_untrusted_lookup_certificate_falls_back_to_the_rules(encoding: Encoding) {
    let (dir, file) = caps_file();
    let server_ca = Ca::generate();
    let trusted = Ca::generate();
    let ca_file = trusted.write_pem(dir.path(), "trusted.pem");
    let service = TlsServer::start(&server_ca, lookup_service).await;
    let url = service.url("/caps");
    let d = Deployment::start(|c, _| {
        c.stanza.encoding = encoding;
        c.caps.file = file.clone();
        c.caps.lookup_url = Some(url.clone());
        c.tls.ca_file = Some(ca_file.clone());
    })
    .await
    .unwrap();
    let errors = lookups("error");
    let mut options = d.client(10);
    options.platform = 1;
    assert_eq!(advertised_ver(&d, &options).await, default_ver());
    assert_eq!(service.count(), 0, "no request got through TLS");
    assert!(lookups("error") - errors >= 1.0);
}

#[tokio::test]
async fn a_bad_caps_file_stops_the_proxy_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("caps.toml");
    std::fs::write(
        &path,
        CAPS_FILE.replace("platform = \"ANDROID\"", "platform = \"PALM\""),
    )
    .unwrap();
    let e = match Deployment::start(|c, _| c.caps.file = path.clone()).await {
        Ok(_) => panic!("started with a bad capability file"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("caps.file: "), "{e}");
    assert!(e.contains("caps.toml:9:12: "), "{e}");
    assert!(e.contains("PALM"), "{e}");
}
