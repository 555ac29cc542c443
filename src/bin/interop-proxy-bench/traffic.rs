//! What the bench's sessions send, in WhatsApp's binary encoding as a phone would:
//! messages of a spread of sizes (some in compressed frames), a receipt for every
//! message received, presence now and then, and keepalive pings on idle sessions.
//!
//! The stanzas are built as binary nodes with JID values, as the reference peers write
//! them, so the proxy reads and forwards them as it would a real client's.

use rand::RngCore;

use interop_proxy::stanza::binary::{BinaryCodec, BytesWidth, Content, Jid, Leg, Node, Str, Value};
use interop_proxy::stanza::{compress_frame, Limits, Opaque, Stanza};

/// The token dictionary of the clients' default version (WA 6.3).
const DICTIONARY: u8 = 3;

/// Body sizes of the messages, in bytes, sent in turn: the range a chat message with its
/// Signal envelope takes.
pub const SIZES: [usize; 8] = [100, 170, 240, 310, 380, 450, 530, 600];

/// Every this many messages, one goes in a zlib-compressed frame.
pub const COMPRESSED_EVERY: u64 = 4;

/// Every this many messages, the session also announces its presence.
pub const PRESENCE_EVERY: u64 = 8;

/// Messages at least this large are first messages to a device (`pkmsg`), which carry
/// the sender's device identity.
const PKMSG_FROM: usize = 450;

/// Keepalive interval of an idle session, in seconds: each session draws its next ping
/// from this range, as WhatsApp clients do.
pub const KEEPALIVE_SECS: std::ops::Range<f64> = 15.0..30.0;

/// One stanza ready to send: built (the client's sink encodes it) or a whole plaintext
/// frame (flags byte and compressed body).
pub enum Outgoing {
    /// A stanza the sink writes uncompressed.
    Stanza(Stanza),
    /// A compressed frame, sent as it is.
    Frame(Vec<u8>),
}

/// The sizes and payloads every session draws its stanzas from.
pub struct Traffic {
    /// Writes the compressed frames' bodies, as the client's own sink would.
    codec: BinaryCodec,
    /// Per entry of [`SIZES`], the `<enc>` payload that makes the message that long.
    payloads: Vec<Opaque>,
    /// The `<device-identity>` of first messages.
    identity: Opaque,
}

impl Traffic {
    /// Random payloads sized so that every message body has its size in [`SIZES`].
    pub fn new() -> Self {
        let codec = BinaryCodec::new(DICTIONARY, Leg::ToServer, Limits::default())
            .expect("the clients' version has a dictionary");
        let mut traffic = Self {
            codec,
            payloads: Vec::new(),
            identity: random(60),
        };
        for &size in &SIZES {
            // Only the payload's length prefix depends on its length, so a few rounds
            // settle it.
            let mut len = size / 2;
            for _ in 0..4 {
                let probe = Opaque::from_bytes(vec![0u8; len]);
                let got =
                    traffic.body_len(&traffic.message_with(1_000_000, u64::MAX, size, &probe));
                len = (len + size).saturating_sub(got).max(1);
            }
            traffic.payloads.push(random(len));
        }
        traffic
    }

    /// The body length of `node` in this encoding.
    fn body_len(&self, node: &Node) -> usize {
        self.codec.encode_node(node).map_or(0, |b| b.len())
    }

    /// Body sizes of the messages as sent, in the order of [`SIZES`].
    pub fn message_sizes(&self) -> Vec<usize> {
        (0..SIZES.len())
            .map(|slot| self.body_len(&self.message(1_000_000, u64::MAX, slot as u64)))
            .collect()
    }

    /// The `seq`-th message of a session, from `account` to `to`, with `id` (the send
    /// time, which comes back in the echo).
    pub fn outgoing_message(&self, to: u64, id: u64, seq: u64) -> Outgoing {
        let node = self.message(to, id, seq);
        if seq % COMPRESSED_EVERY == COMPRESSED_EVERY - 1 {
            match self.codec.encode_node(&node) {
                Ok(body) => return Outgoing::Frame(compress_frame(&body)),
                Err(_) => return Outgoing::Stanza(Stanza::from_node(node)),
            }
        }
        Outgoing::Stanza(Stanza::from_node(node))
    }

    fn message(&self, to: u64, id: u64, seq: u64) -> Node {
        let slot = (seq % SIZES.len() as u64) as usize;
        let payload = self
            .payloads
            .get(slot)
            .cloned()
            .unwrap_or_else(|| random(1));
        self.message_with(to, id, SIZES[slot], &payload)
    }

    fn message_with(&self, to: u64, id: u64, size: usize, payload: &Opaque) -> Node {
        let first = size >= PKMSG_FROM;
        let enc = Node::new("enc")
            .with_str_attr("v", "2")
            .with_str_attr("type", if first { "pkmsg" } else { "msg" });
        let mut message = Node::new("message")
            .with_attr("to", user_jid(to))
            .with_attr("id", Value::Str(Str::new(&message_id(id))))
            .with_str_attr("type", "text")
            .with_str_attr("t", "1718000000")
            .with_child(bytes(enc, payload));
        if first {
            message.push_child(bytes(Node::new("device-identity"), &self.identity));
        }
        message
    }

    /// A delivery (or read) receipt for message `id` from `from`.
    pub fn receipt(&self, from: u64, id: &str, read: bool) -> Stanza {
        let mut node = Node::new("receipt")
            .with_attr("to", user_jid(from))
            .with_attr("id", Value::Str(Str::new(id)));
        if read {
            node = node.with_str_attr("type", "read");
        }
        Stanza::from_node(node.with_str_attr("t", "1718000000"))
    }

    /// The session's presence, alternately available and unavailable.
    pub fn presence(&self, seq: u64) -> Stanza {
        let kind = if (seq / PRESENCE_EVERY).is_multiple_of(2) {
            "available"
        } else {
            "unavailable"
        };
        Stanza::from_node(Node::new("presence").with_str_attr("type", kind))
    }

    /// A keepalive ping, as an idle client sends one.
    pub fn ping(&self, id: u64) -> Stanza {
        Stanza::from_node(
            Node::new("iq")
                .with_attr("id", Value::Str(Str::new(&message_id(id))))
                .with_attr(
                    "to",
                    Value::Jid(Jid::Pair {
                        user: None,
                        server: Str::new("s.whatsapp.net"),
                    }),
                )
                .with_str_attr("type", "get")
                .with_str_attr("xmlns", "w:p")
                .with_child(Node::new("ping")),
        )
    }
}

/// A message id in WhatsApp's form (upper-case hex), carrying `id`.
pub fn message_id(id: u64) -> String {
    format!("{id:016X}")
}

/// The number a [`message_id`] carries.
pub fn parse_message_id(id: &str) -> Option<u64> {
    u64::from_str_radix(id, 16).ok()
}

fn user_jid(account: u64) -> Value {
    Value::Jid(Jid::Pair {
        user: Some(Str::new(&account.to_string())),
        server: Str::new("s.whatsapp.net"),
    })
}

fn bytes(mut node: Node, payload: &Opaque) -> Node {
    node.content = Content::Bytes {
        width: BytesWidth::for_len(payload.len()),
        payload: payload.clone(),
    };
    node
}

fn random(len: usize) -> Opaque {
    let mut raw = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut raw);
    Opaque::from_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use interop_proxy::stanza::StanzaCodec;

    #[test]
    fn messages_have_the_sizes_and_compressed_frames_decode() {
        let traffic = Traffic::new();
        for (got, want) in traffic.message_sizes().into_iter().zip(SIZES) {
            assert!(
                got.abs_diff(want) <= 2,
                "message of {got} bytes, wanted {want}"
            );
        }
        let codec = BinaryCodec::new(DICTIONARY, Leg::ToServer, Limits::default()).unwrap();
        let Outgoing::Frame(frame) = traffic.outgoing_message(7, 42, COMPRESSED_EVERY - 1) else {
            panic!("not compressed")
        };
        assert_eq!(frame[0], 0x02);
        let stanza = codec.decode(bytes::Bytes::from(frame)).unwrap();
        let id = stanza.node().attr("id").unwrap();
        assert_eq!(parse_message_id(&id), Some(42));
    }
}
