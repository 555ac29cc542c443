//! The stanza decoder (flags, bounded inflation, XML with limits), and the writer on what
//! it accepted: an accepted stanza must survive re-serialization.
#![no_main]

use bytes::{Bytes, BytesMut};
use interop_proxy::stanza::{Limits, StanzaCodec, XmlCodec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = XmlCodec::new(Limits {
        max_stanza_bytes: 64 * 1024,
        max_depth: 16,
        max_attributes: 16,
    });
    let Ok(mut stanza) = codec.decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    // Unmodified: forwarded with the bytes it arrived with.
    let mut out = BytesMut::new();
    codec
        .encode(&stanza, &mut out)
        .expect("the XML codec writes any stanza");
    assert_eq!(out[0], 0);
    let again = codec.decode(out.freeze()).expect("forwarded bytes parse again");
    assert_eq!(again.root(), stanza.root());
    // Modified: re-serialized from the tree, which must parse to the same tree.
    let _ = stanza.root_mut();
    let mut out = BytesMut::new();
    codec
        .encode(&stanza, &mut out)
        .expect("the XML codec writes any stanza");
    let reparsed = codec
        .decode(out.freeze())
        .expect("a re-serialized stanza parses");
    assert_eq!(reparsed.root(), stanza.root());
});
