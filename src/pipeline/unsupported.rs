//! From server: a `<message>` whose content kind the profile cannot receive is
//! annotated or refused (SPEC §3.3).
//!
//! The kind is the `mediatype` of the message's first `<enc>` (at any depth), else the
//! message's `type`. Supported means the profile has `urn:interop:caps:receive:KIND`.
//! With `annotate`, `<unsupported xmlns="urn:interop:caps" kind="KIND"/>` is appended
//! (replacing one already there); with `reject`, the message is withheld and the server
//! gets `<ack class="message" id="ID" to="FROM" error="415"/>`. The `<enc>` payload is
//! an [`crate::stanza::Opaque`] and is carried as it came either way.

use std::sync::Arc;

use crate::caps::Profile;
use crate::config::Unsupported as Mode;
use crate::metrics::{self, AnnotationKind};
use crate::stanza::{Element, Kind, NodeRef, ReplyValue, Stanza};

use super::{Step, Verdict};

/// `xmlns` of the `<unsupported>` annotation.
pub const UNSUPPORTED_NS: &str = "urn:interop:caps";

/// Annotates or refuses messages the client cannot receive.
#[derive(Clone, Debug)]
pub struct Unsupported {
    /// The session's profile.
    profile: Arc<Profile>,
    /// `caps.unsupported`.
    mode: Mode,
}

impl Unsupported {
    /// Checks messages against `profile`, acting per `mode`.
    pub fn new(profile: Arc<Profile>, mode: Mode) -> Self {
        Self { profile, mode }
    }
}

impl Step for Unsupported {
    #[inline]
    fn handle(&mut self, mut stanza: Stanza) -> Verdict {
        if stanza.kind() == Kind::Message {
            if let Some(kind) = unsupported_kind(stanza.node(), &self.profile) {
                match self.mode {
                    Mode::Annotate => {
                        annotate(&mut stanza, &kind);
                        metrics::annotation(AnnotationKind::UnsupportedAnnotated);
                    }
                    Mode::Reject => {
                        metrics::annotation(AnnotationKind::UnsupportedRejected);
                        return Verdict::Answer(reject_ack(&stanza));
                    }
                }
            }
        }
        Verdict::Pass(stanza)
    }
}

/// The message's content kind, if there is one and the profile cannot receive it.
pub fn unsupported_kind(message: NodeRef<'_>, profile: &Profile) -> Option<String> {
    let kind = message
        .find("enc")
        .and_then(|enc| enc.attr("mediatype"))
        .or_else(|| message.attr("type"))?;
    if kind.is_empty() || profile.can_receive(&kind) {
        None
    } else {
        Some(kind.into_owned())
    }
}

/// Appends `<unsupported xmlns="urn:interop:caps" kind=KIND/>`, replacing any the
/// message already had, so the client sees only the proxy's.
pub fn annotate(stanza: &mut Stanza, kind: &str) {
    stanza.retain_children(|c| !(c.is_named("unsupported") && c.attr_is("xmlns", UNSUPPORTED_NS)));
    stanza.push_child(
        &Element::new("unsupported")
            .with_attr("xmlns", UNSUPPORTED_NS)
            .with_attr("kind", kind)
            .into(),
    );
}

/// `<ack class="message" id=ID to=FROM error="415"/>` for a refused message, its `to`
/// in the form the message's `from` came in.
pub fn reject_ack(message: &Stanza) -> Stanza {
    message.reply(
        "ack",
        &[
            ("class", ReplyValue::Lit("message")),
            ("id", ReplyValue::From("id")),
            ("to", ReplyValue::From("from")),
            ("error", ReplyValue::Lit("415")),
        ],
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Identity;
    use crate::stanza::Opaque;

    fn profile() -> Profile {
        let identity = Identity {
            category: "client".into(),
            kind: "phone".into(),
            name: "T".into(),
            lang: None,
        };
        let features = vec![
            "urn:interop:caps:receive:text".into(),
            "urn:interop:caps:receive:image".into(),
        ];
        Profile::new("n", None, identity, features).unwrap()
    }

    fn enc(mediatype: Option<&str>) -> Element {
        let e = Element::new("enc");
        let e = match mediatype {
            Some(m) => e.with_attr("mediatype", m),
            None => e,
        };
        e.with_opaque(Opaque::from_bytes("QUJD"))
    }

    #[test]
    fn kind_is_first_enc_mediatype_else_type() {
        let p = profile();
        let kind = |m: &Element| unsupported_kind(NodeRef::Xml(m), &p);
        let msg = |t: &str| Element::new("message").with_attr("type", t);
        assert_eq!(kind(&msg("text")), None);
        assert_eq!(kind(&msg("poll")).as_deref(), Some("poll"));
        assert_eq!(
            kind(&msg("text").with_child(enc(Some("video")))).as_deref(),
            Some("video")
        );
        assert_eq!(kind(&msg("media").with_child(enc(Some("image")))), None);
        // The first <enc> decides, even without a mediatype: then the type does.
        let m = msg("text")
            .with_child(enc(None))
            .with_child(enc(Some("video")));
        assert_eq!(kind(&m), None);
        let nested = msg("text").with_child(Element::new("a").with_child(enc(Some("ptt"))));
        assert_eq!(kind(&nested).as_deref(), Some("ptt"));
        assert_eq!(kind(&Element::new("message")), None, "no kind at all");
    }

    #[test]
    fn annotation_replaces_a_forged_one_and_ack_omits_what_is_missing() {
        let mut s = Stanza::from_element(
            Element::new("message")
                .with_child(enc(Some("video")))
                .with_child(
                    Element::new("unsupported")
                        .with_attr("xmlns", UNSUPPORTED_NS)
                        .with_attr("kind", "forged"),
                ),
        );
        annotate(&mut s, "video");
        let notes: Vec<_> = s
            .root()
            .children()
            .filter(|c| c.is_named("unsupported"))
            .collect();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].attr("kind").as_deref(), Some("video"));
        assert_eq!(
            s.root().find("enc").unwrap().opaque(),
            Some(&Opaque::from_bytes("QUJD"))
        );
        let ack = reject_ack(&Stanza::from_element(Element::new("message")));
        assert_eq!(
            String::from_utf8(ack.to_body()).unwrap(),
            r#"<ack class="message" error="415"/>"#
        );
    }
}
