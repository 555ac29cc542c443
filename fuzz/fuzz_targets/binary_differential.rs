//! Our binary stanza reader (dictionary 3, to-client leg) against wacore-binary 0.7, an
//! independent reader that agrees byte for byte with WhatsApp Web. Where both accept a
//! body, they must read the same tree.
//!
//! Input: a decrypted frame (flags byte + body), as our codec takes it; only flags 00
//! frames are compared. The oracle reads the body when we accept it.
//!
//! The oracle departs from SPEC §2.10 in known places; where the two trees differ only
//! there, the input is skipped (or the known mapping is applied), not asserted:
//! - INTEROP_JID (`F5`): it reads the trailing server string on every leg and requires
//!   it to be `interop`; skipped wherever one occurs.
//! - FB_JID (`F6`) with a server other than `msgr`, FD lengths with their top bits
//!   set, raw non-UTF-8 strings (outside bytes content): one side refuses them, so they
//!   never reach the comparison.
//! - AD_JID domain bytes: it maps them to servers of its own; only domains 0
//!   (`s.whatsapp.net`) and 1 (`lid`) are compared, the rest skipped.
//! - `00` content: it reads it as no content; ours keeps it as LIST_EMPTY. Compared as
//!   equal.
//! - A JID as string content: it renders it as text in its own way (no `@` for an empty
//!   user, no `:0` for device 0); ours is rendered from its parts the same way.
//! - NIBBLE_8 nibble 15 before the last character: it writes a NUL there, where SPEC
//!   (and ours) read padding. A string that matches only with its NULs removed skips
//!   the input.
#![no_main]

use bytes::{Bytes, BytesMut};
use interop_proxy::stanza::binary::{BinaryCodec, Content, Jid, Leg, Node, Str, Value};
use interop_proxy::stanza::{Limits, Opaque, StanzaCodec};
use libfuzzer_sys::fuzz_target;
use wacore_binary::marshal::unmarshal_ref;
use wacore_binary::node::{NodeContentRef, NodeRef, ValueRef};
use wacore_binary::JidRef;

fuzz_target!(|data: &[u8]| {
    // Uncompressed frames only (inflation is the binary_stanza target's), and only what
    // we accept goes to the oracle: the coverage then steers towards inputs that reach
    // the comparison, not towards zlib's or the oracle's own error paths.
    if data.first() != Some(&0) {
        return;
    }
    // The proxy's default limits, so that what is compared is what it would accept.
    let codec = BinaryCodec::new(3, Leg::ToClient, Limits::default()).expect("dictionary 3 exists");
    let Ok(stanza) = codec.decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut out = BytesMut::new();
    codec
        .encode(&stanza, &mut out)
        .expect("an unmodified stanza is forwarded");
    let body = &out[1..];
    let ours = stanza.binary().expect("a binary stanza");
    let Ok(theirs) = unmarshal_ref(body) else {
        return;
    };
    // A skip ends the comparison; a disagreement panics inside.
    let _ = compare(ours, &theirs);
});

/// The input holds one of the forms the oracle reads differently from SPEC §2.10.
struct Skip;

/// Compares our tree with the oracle's, panicking on a difference that is not one of
/// the known ones.
fn compare(ours: &Node, theirs: &NodeRef<'_>) -> Result<(), Skip> {
    same_str("tag", ours.tag.as_bytes(), &theirs.tag)?;
    let attrs = theirs.attrs.as_slice();
    assert_eq!(
        ours.attrs.len(),
        attrs.len(),
        "attribute count of <{:?}>",
        ours.tag
    );
    for (attr, (key, value)) in ours.attrs.iter().zip(attrs) {
        same_str("attribute key", attr.key.as_bytes(), key)?;
        match (&attr.value, value) {
            (Value::Str(s), ValueRef::String(t)) => same_str("attribute value", s.as_bytes(), t)?,
            (Value::Jid(j), ValueRef::Jid(k)) => same_jid(j, k)?,
            (v, w) => panic!("attribute {:?}: ours {v:?}, the oracle's {w:?}", attr.key),
        }
    }
    match (&ours.content, &theirs.content) {
        (Content::None | Content::ListEmpty, None) => {}
        (Content::Children { nodes, .. }, Some(NodeContentRef::Nodes(theirs))) => {
            assert_eq!(nodes.len(), theirs.len(), "child count of <{:?}>", ours.tag);
            for (o, t) in nodes.iter().zip(theirs.iter()) {
                compare(o, t)?;
            }
        }
        (Content::Text(Value::Str(s)), Some(NodeContentRef::String(t))) => {
            same_str("string content", s.as_bytes(), t)?
        }
        (Content::Text(Value::Jid(j)), Some(NodeContentRef::String(t))) => {
            let rendered = oracle_text(j)?;
            same_str("JID content", &rendered, t)?
        }
        (Content::Bytes { payload, .. }, Some(NodeContentRef::Bytes(b))) => assert!(
            *payload == Opaque::from_bytes(b.to_vec()),
            "bytes content of <{:?}>",
            ours.tag
        ),
        (c, d) => panic!(
            "content of <{:?}>: ours {c:?}, the oracle's {d:?}",
            ours.tag
        ),
    }
    Ok(())
}

/// Equal strings; or a skip when the oracle's differs only by NULs (its reading of a
/// NIBBLE_8 nibble 15, which ours drops as padding).
fn same_str(what: &str, ours: &[u8], theirs: &str) -> Result<(), Skip> {
    if ours == theirs.as_bytes() {
        return Ok(());
    }
    if theirs.contains('\0') && theirs.replace('\0', "").as_bytes() == ours {
        return Err(Skip);
    }
    panic!(
        "{what}: ours {:?}, the oracle's {theirs:?}",
        String::from_utf8_lossy(ours)
    );
}

/// Our JID as user, server and device, with the AD_JID servers named as the oracle
/// names them; a skip for the forms it reads differently.
fn parts(j: &Jid) -> Result<(&[u8], &[u8], u16), Skip> {
    Ok(match j {
        Jid::Pair { user, server } => (
            user.as_ref().map_or(&b""[..], Str::as_bytes),
            server.as_bytes(),
            0,
        ),
        Jid::Ad {
            domain,
            device,
            user,
        } => {
            let server: &[u8] = match domain {
                0 => b"s.whatsapp.net",
                1 => b"lid",
                _ => return Err(Skip),
            };
            (user.as_bytes(), server, u16::from(*device))
        }
        Jid::Fb {
            user,
            device,
            server,
        } => (user.as_bytes(), server.as_bytes(), *device),
        Jid::Interop { .. } => return Err(Skip),
    })
}

fn same_jid(ours: &Jid, theirs: &JidRef<'_>) -> Result<(), Skip> {
    let (user, server, device) = parts(ours)?;
    same_str("JID user", user, &theirs.user)?;
    same_str("JID server", server, theirs.server.as_str())?;
    assert_eq!(device, theirs.device, "JID device of {ours:?}");
    assert_eq!(theirs.integrator, 0, "JID integrator of {ours:?}");
    Ok(())
}

/// Our JID rendered as the oracle renders a JID read as string content:
/// `user[:device]@server`, or the server alone for an empty user.
fn oracle_text(j: &Jid) -> Result<Vec<u8>, Skip> {
    let (user, server, device) = parts(j)?;
    if user.is_empty() {
        return Ok(server.to_vec());
    }
    let device = if device > 0 {
        format!(":{device}")
    } else {
        String::new()
    };
    Ok([user, device.as_bytes(), b"@", server].concat())
}
