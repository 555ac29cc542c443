//! WhatsApp's binary stanzas (SPEC §2.10) over real sockets, checked at byte level: real
//! server stanzas relayed as they came, annotations that change only what they add and
//! the counts around it, disco#info answers and 415 acks whose JIDs keep their received
//! forms (INTEROP_JID on each leg in its own form), closing stanzas in binary, and
//! sessions on each dictionary.

mod support;

use bytes::{Bytes, BytesMut};
use interop_proxy::config::Unsupported;
use interop_proxy::sim::{self, SimClient, SimError};
use interop_proxy::stanza::binary::{BinaryCodec, Jid, Leg, Node, Str, Value};
use interop_proxy::stanza::{Kind, Limits, Stanza, StanzaCodec};
use interop_proxy::transport::WireVersion;
use support::*;
use wacore_binary::node::Attrs;

const VECTORS: &str = include_str!("data/wa-binary-vectors.json");

fn codec(dictionary: u8, leg: Leg) -> BinaryCodec {
    BinaryCodec::new(dictionary, leg, Limits::default()).unwrap()
}

/// The plaintext (flags byte + body) of the `i`th recorded server stanza.
fn capture(i: usize) -> (u8, Vec<u8>) {
    let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let c = &all["captures"][i];
    let plain = match c.get("plaintext_hex") {
        Some(h) => hex::decode(h.as_str().unwrap()).unwrap(),
        None => [
            vec![0],
            hex::decode(c["node_hex"].as_str().unwrap()).unwrap(),
        ]
        .concat(),
    };
    (c["dictionary"].as_u64().unwrap() as u8, plain)
}

/// The bytes `codec` writes for `stanza`: for an unmodified one in its encoding, the
/// bytes it arrived with.
fn bytes_of(codec: &BinaryCodec, stanza: &Stanza) -> Vec<u8> {
    let mut out = BytesMut::new();
    codec.encode(stanza, &mut out).unwrap();
    out.to_vec()
}

/// The bytes the independent implementation writes for a node of plain strings (flags
/// byte included), to check the forms the proxy chose for what it created.
fn oracle(tag: &str, attrs: &[(&str, &str)]) -> Vec<u8> {
    let mut a = Attrs::new();
    for (k, v) in attrs {
        a.push(k.to_string(), *v);
    }
    wacore_binary::marshal::marshal(&wacore_binary::Node::new(tag.to_string(), a, None)).unwrap()
}

fn attrs_of(stanza: &Stanza) -> Vec<(String, String)> {
    stanza
        .node()
        .attrs()
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn real_server_stanzas_reach_clients_byte_for_byte_on_each_dictionary() {
    let d = Deployment::start(|c, _| {
        c.client.versions = vec!["6.3".parse().unwrap(), "6.2".parse().unwrap()];
    })
    .await
    .unwrap();
    for i in 0..2 {
        let (dictionary, plain) = capture(i);
        let mut options = d.client(1 + i as u64);
        options.version = WireVersion {
            major: 6,
            minor: dictionary,
        };
        let mut client = SimClient::login(d.proxy_addr, &options).await.unwrap();
        let to_client = codec(dictionary, Leg::ToClient);
        let stanza = to_client.decode(Bytes::from(plain.clone())).unwrap();
        assert!(d.server.push(1 + i as u64, stanza).await);
        let got = recv(&mut client).await.unwrap();
        assert_eq!(bytes_of(&to_client, &got), plain, "capture {i}");
        if i == 0 {
            assert_eq!(got.kind(), Kind::Success);
            assert_eq!(attr(&got, "lid").as_deref(), Some("100000000000001:42@lid"));
        } else {
            let dirty = got.node().find("dirty").unwrap();
            assert_eq!(dirty.attr("type").as_deref(), Some("account_sync"));
        }
    }
}

#[tokio::test]
async fn an_annotated_presence_is_its_received_bytes_with_the_counts_and_the_c_node() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    // <presence name="Alice"/>: a three-item list, the name as 8-bit raw bytes.
    let sent = hex::decode("00f8031f89fc05416c696365").unwrap();
    client.send_plaintext(&sent).await.unwrap();
    let got = server_got(&d, 1, |s| s.kind() == Kind::Presence).await;
    let wire = bytes_of(&codec(3, Leg::ToServer), &got);
    let c = got.node().find("c").unwrap();
    let c_attrs: Vec<(String, String)> = c
        .attrs()
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let keys: Vec<&str> = c_attrs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["xmlns", "hash", "node", "ver"]);
    let pairs: Vec<(&str, &str)> = c_attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut want = hex::decode("00f8041f89fc05416c696365f801").unwrap();
    want.extend_from_slice(&oracle("c", &pairs)[1..]);
    assert_eq!(hex::encode(wire), hex::encode(want));
}

/// Logs in account 1 and returns its session's caps `NODE#VER`, read from its presence.
async fn node_ver(d: &Deployment, client: &mut SimClient) -> String {
    client
        .send(&Stanza::from_node(Node::new("presence")))
        .await
        .unwrap();
    let presence = server_got(d, 1, |s| s.kind() == Kind::Presence).await;
    let c = presence.node().find("c").unwrap();
    format!("{}#{}", c.attr("node").unwrap(), c.attr("ver").unwrap())
}

#[tokio::test]
async fn a_disco_answer_swaps_to_and_from_in_the_forms_they_came_in() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let node = node_ver(&d, &mut client).await;
    let device = Jid::Ad {
        domain: 0,
        device: 33,
        user: Str::new("551199887766"),
    };
    let server = Jid::Pair {
        user: None,
        server: Str::new("s.whatsapp.net"),
    };
    let query = Node::new("iq")
        .with_attr("from", Value::Jid(server.clone()))
        .with_attr("to", Value::Jid(device.clone()))
        .with_str_attr("id", "d1")
        .with_str_attr("type", "get")
        .with_child(
            Node::new("query")
                .with_str_attr("xmlns", "http://jabber.org/protocol/disco#info")
                .with_str_attr("node", &node),
        );
    assert!(d.server.push(1, Stanza::from_node(query)).await);
    let answer = server_got(&d, 1, |s| s.attr("id").as_deref() == Some("d1")).await;
    let root = answer.binary().unwrap();
    let jid = |key| match root.attr(key) {
        Some(Value::Jid(j)) => j.to_text(),
        other => panic!("{key} is not a JID: {other:?}"),
    };
    assert_eq!(jid("from"), device.to_text());
    assert_eq!(jid("to"), server.to_text());
    let wire = hex::encode(bytes_of(&codec(3, Leg::ToServer), &answer));
    // AD_JID domain 0 device 33, user nibble-packed; JID_PAIR with an empty user.
    assert!(wire.contains("f70021ff06551199887766"), "{wire}");
    assert!(wire.contains("fa0003"), "{wire}");
    let keys: Vec<String> = attrs_of(&answer).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["from", "to", "id", "type"]);
    assert_eq!(attr(&answer, "type").as_deref(), Some("result"));
    assert!(answer.node().find("identity").is_some());
    // The query was answered, not forwarded.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), client.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_415_ack_writes_an_interop_jid_in_the_to_server_form() {
    let d = Deployment::start(|c, _| c.caps.unsupported = Unsupported::Reject)
        .await
        .unwrap();
    let _client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let sender = Jid::Interop {
        user: Str::new("5511"),
        device: 0,
        integrator: 7,
        server: Some(Str::new("interop")),
    };
    let poll = Node::new("message")
        .with_attr("from", Value::Jid(sender))
        .with_str_attr("id", "m415")
        // Not among the shipped `full` profile's kinds.
        .with_str_attr("type", "location");
    // Written towards the client: the INTEROP_JID carries its server string.
    let towards_client = hex::encode(bytes_of(
        &codec(3, Leg::ToClient),
        &Stanza::from_node(poll.clone()),
    ));
    assert!(
        towards_client.contains("f5ff02551100000007"),
        "{towards_client}"
    );
    assert!(d.server.push(1, Stanza::from_node(poll)).await);
    let ack = server_got(&d, 1, |s| s.kind() == Kind::Ack).await;
    assert_eq!(
        attrs_of(&ack),
        [
            ("class".to_string(), "message".to_string()),
            ("id".into(), "m415".into()),
            ("to".into(), "7-5511:0@interop".into()),
            ("error".into(), "415".into()),
        ]
    );
    // Towards the server it has none: the ack's next item is the `error` key.
    let wire = bytes_of(&codec(3, Leg::ToServer), &ack);
    let at = hex::encode(&wire).find("f5ff02551100000007").unwrap() / 2 + 9;
    // `<error/>` is flags, a one-item list header, then the string `error`.
    let error_key = &oracle("error", &[])[3..];
    assert!(wire[at..].starts_with(error_key), "{}", hex::encode(&wire));
}

#[tokio::test]
async fn closing_stanzas_are_binary_and_in_the_ladder_forms() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    // A list of no items where the root node belongs.
    client.send_plaintext(&[0x00, 0xf8, 0x00]).await.unwrap();
    let seen = drain_until_closed(&mut client).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let error = &seen[0];
    assert_eq!(error.kind(), Kind::StreamError);
    let pairs = attrs_of(error);
    assert_eq!(pairs[0], ("code".to_string(), "400".to_string()));
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        bytes_of(&codec(3, Leg::ToClient), error),
        oracle("stream:error", &pairs)
    );

    // Before the upstream exists: a <failure/>, in binary too.
    let mut refused = d.client(2);
    refused.product = 99;
    match SimClient::login(d.proxy_addr, &refused).await {
        Err(SimError::Refused(code)) => assert_eq!(code, "403"),
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn keepalive_pings_are_answered_through_the_proxy() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let mut client = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    for id in ["p1", "p2", "p3"] {
        client.send(&sim::ping(id)).await.unwrap();
        let pong = recv(&mut client).await.unwrap();
        assert_eq!(pong.kind(), Kind::Iq);
        assert_eq!(attr(&pong, "type").as_deref(), Some("result"));
        assert_eq!(attr(&pong, "id").as_deref(), Some(id));
    }
    // The ping went up in its binary form: `to` a JID with no user.
    let ping = server_got(&d, 1, |s| s.attr("id").as_deref() == Some("p1")).await;
    assert!(matches!(
        ping.binary().unwrap().attr("to"),
        Some(Value::Jid(Jid::Pair { user: None, .. }))
    ));
}
