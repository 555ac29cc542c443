//! To server: every `<presence>` carries exactly one XEP-0115 `<c>`, the session's, as
//! its last child (SPEC §3.1). A `<c>` with the caps namespace the client sent is
//! removed; other children are kept in order.
//!
//! Other stanzas pass with one comparison of their kind and no allocation.

use std::sync::Arc;

use crate::caps::profile::CAPS_NS;
use crate::caps::Profile;
use crate::metrics::{self, AnnotationKind};
use crate::stanza::{Kind, NodeRef, Stanza};

use super::{Step, Verdict};

/// Puts the session's `<c>` into presences.
#[derive(Clone, Debug)]
pub struct PresenceCaps {
    /// The session's profile.
    profile: Arc<Profile>,
}

impl PresenceCaps {
    /// Advertises `profile` in presences.
    pub fn new(profile: Arc<Profile>) -> Self {
        Self { profile }
    }
}

impl Step for PresenceCaps {
    #[inline]
    fn handle(&mut self, mut stanza: Stanza) -> Verdict {
        if stanza.kind() == Kind::Presence && annotate(&mut stanza, &self.profile) {
            metrics::annotation(AnnotationKind::PresenceCaps);
        }
        Verdict::Pass(stanza)
    }
}

/// Whether `n` is an entity-capabilities `<c>`.
fn is_caps(n: NodeRef<'_>) -> bool {
    n.is_named("c") && n.attr_is("xmlns", CAPS_NS)
}

/// Makes the profile's `<c>` the presence's only caps element and its last child.
/// Returns false when the presence already was exactly so (it then keeps its bytes).
pub fn annotate(stanza: &mut Stanza, profile: &Profile) -> bool {
    let root = stanza.node();
    let already = root
        .children()
        .last()
        .is_some_and(|c| c.same_as(profile.caps_element.element()))
        && root.children().filter(|c| is_caps(*c)).count() == 1;
    if already {
        return false;
    }
    stanza.retain_children(|c| !is_caps(c));
    stanza.push_child(&profile.caps_element);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Identity;
    use crate::stanza::{StanzaCodec, XmlCodec};
    use bytes::Bytes;

    fn profile() -> Profile {
        let identity = Identity {
            category: "client".into(),
            kind: "phone".into(),
            name: "T".into(),
            lang: None,
        };
        Profile::new("https://n.example", None, identity, vec![]).unwrap()
    }

    fn decode(xml: &str) -> Stanza {
        let mut frame = vec![0u8];
        frame.extend_from_slice(xml.as_bytes());
        XmlCodec::default().decode(Bytes::from(frame)).unwrap()
    }

    #[test]
    fn replaces_client_caps_and_appends_last() {
        let p = profile();
        let mut s = decode(&format!(
            "<presence><c xmlns='{CAPS_NS}' ver='x'/> <show>away</show><c xmlns='urn:o'/></presence>"
        ));
        assert!(annotate(&mut s, &p));
        let body = String::from_utf8(s.to_body()).unwrap();
        assert_eq!(
            body,
            format!(
                "<presence> <show>away</show><c xmlns='urn:o'/><c xmlns=\"{CAPS_NS}\" hash=\"sha-1\" node=\"https://n.example\" ver=\"{}\"/></presence>",
                p.ver
            )
        );
    }

    #[test]
    fn a_presence_already_right_keeps_its_bytes() {
        let p = profile();
        let xml = format!(
            "<presence type=\"available\"><c xmlns=\"{CAPS_NS}\" hash=\"sha-1\" node=\"https://n.example\" ver=\"{}\"/></presence>",
            p.ver
        );
        let mut s = decode(&xml);
        assert!(!annotate(&mut s, &p));
        assert!(!s.is_modified());
        // Two copies are one too many.
        let twice = xml.replace("</presence>", "") + &xml["<presence type=\"available\">".len()..];
        let mut s = decode(&twice);
        assert!(annotate(&mut s, &p));
        assert_eq!(s.root().children().count(), 1);
    }
}
