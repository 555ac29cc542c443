//! How the reference peers put their stanzas on the wire: in their session's encoding,
//! and in binary with JIDs in JID form, as WhatsApp's own clients and server write them.

use crate::stanza::binary::{Jid, Node, Str, Value};
use crate::stanza::{Element, Encoding, Stanza};

/// `stanza` ready for a peer speaking `encoding`: an element tree built by a peer
/// becomes a binary node whose JID-like values are JIDs.
pub(super) fn for_encoding(stanza: &Stanza, encoding: Encoding) -> Option<Stanza> {
    match (encoding, stanza.xml()) {
        (Encoding::Binary, Some(e)) if !stanza.is_modified() => {
            Some(Stanza::from_node(with_jids(e)))
        }
        _ => None,
    }
}

fn with_jids(e: &Element) -> Node {
    let mut node = Node::from_element(e);
    for a in &mut node.attrs {
        if let Some(jid) = parse_jid(&a.value.as_text()) {
            a.value = Value::Jid(jid);
        }
    }
    if let crate::stanza::binary::Content::Children { nodes, .. } = &mut node.content {
        for (child, source) in nodes.iter_mut().zip(e.children()) {
            *child = with_jids(source);
        }
    }
    node
}

/// `user@server`, or `user:device@s.whatsapp.net` / `@lid` in the AD form.
pub(crate) fn parse_jid(s: &str) -> Option<Jid> {
    let (user, server) = s.split_once('@')?;
    if server.is_empty() || server.contains('@') {
        return None;
    }
    if let Some((user, device)) = user.split_once(':') {
        let domain = match server {
            "s.whatsapp.net" => 0,
            "lid" => 1,
            _ => return None,
        };
        return Some(Jid::Ad {
            domain,
            device: device.parse().ok()?,
            user: Str::new(user),
        });
    }
    Some(Jid::Pair {
        user: (!user.is_empty()).then(|| Str::new(user)),
        server: Str::new(server),
    })
}
